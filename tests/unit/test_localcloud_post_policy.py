"""S3 POST policies judged as S3 judges them (localcloud.iam.post_policy)."""
import base64
import datetime as dt
import json

import pytest

from localcloud.iam import post_policy as pp

NOW = dt.datetime(2026, 1, 1, 12, 0, 0)


def doc(*conditions, expiration="2026-01-01T13:00:00.000Z"):
    return {"expiration": expiration, "conditions": list(conditions)}


def form(size=5, name="a.csv", **fields):
    return pp.Form({k.lower(): v for k, v in fields.items()}, name, size)


def refused(d, f, bucket="b"):
    with pytest.raises(pp.PolicyError) as exc:
        pp.check(d, f, bucket, NOW)
    return exc.value


def test_conditions_hold():
    d = doc({"bucket": "b"}, ["starts-with", "$key", "up/"], {"acl": "private"},
            ["eq", "$Content-Type", "text/csv"], ["content-length-range", 1, 10],
            ["starts-with", "$x-amz-meta-tag", ""])
    pp.check(d, form(key="up/x", acl="private", **{"content-type": "text/csv",
                                                    "x-amz-meta-tag": "t", "policy": "p",
                                                    "x-amz-signature": "s", "x-ignore-me": "1"}),
             "b", NOW)


def test_each_refusal_in_s3s_words():
    assert refused(doc(expiration="2026-01-01T11:59:59Z"), form()).message == \
        "Invalid according to Policy: Policy expired."
    e = refused(doc({"bucket": "b"}, ["starts-with", "$key", "up/"]), form(key="down/x"))
    assert e.kind == "policy" and e.message.endswith('["starts-with", "$key", "up/"]')
    assert refused(doc({"bucket": "other"}), form()).kind == "policy"
    assert refused(doc({"bucket": "b"}), form(key="k")).message == \
        "Invalid according to Policy: Extra input fields: key"
    assert refused(doc(["content-length-range", 1, 4]), form(size=5)).kind == "too-large"
    assert refused(doc(["content-length-range", 6, 9]), form(size=5)).kind == "too-small"
    assert refused(doc(["eq", "$key"]), form()).kind == "malformed"
    with pytest.raises(pp.PolicyError) as exc:
        pp.decode(base64.b64encode(b"not json").decode())
    assert exc.value.kind == "malformed"
    with pytest.raises(pp.PolicyError):
        pp.decode(base64.b64encode(json.dumps({"conditions": []}).encode()).decode())


def test_object_key_takes_the_files_name():
    assert pp.object_key(form(key="up/${filename}")) == "up/a.csv"
    assert pp.object_key(form()) is None
