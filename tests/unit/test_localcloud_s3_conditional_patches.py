"""Tripwires for the moto attributes localcloud.s3.conditional hooks, and its bookkeeping."""
import importlib
import inspect

import pytest

from localcloud.s3 import conditional


@pytest.mark.parametrize("module,owner,attr", conditional.PATCH_POINTS, ids=str)
def test_tripwire_moto_patch_point_exists(module, owner, attr):
    cls = getattr(importlib.import_module(module), owner, None)
    assert cls is not None, f"{module}.{owner} moved"
    assert callable(getattr(cls, attr, None)), f"{module}.{owner}.{attr} moved"


def test_tripwire_signatures_and_upload_id():
    from moto.s3.models import FakeMultipart, S3Backend

    assert list(inspect.signature(S3Backend.put_object).parameters)[1:3] == \
        ["bucket_name", "key_name"], "moto.s3.models.S3Backend.put_object signature changed"
    assert list(inspect.signature(S3Backend.delete_object).parameters)[1:3] == \
        ["bucket_name", "key_name"], "moto.s3.models.S3Backend.delete_object signature changed"
    mp = FakeMultipart("k", {}, account_id="123456789012", region_name="us-east-1")
    assert isinstance(mp.id, str), "moto.s3.models.FakeMultipart.id moved"


def test_writes_after_an_upload_began():
    w = conditional.Writes()
    w.wrote("b", "k")
    w.began("u1")
    assert not w.written_since("b", "k", "u1")
    w.wrote("b", "k")
    assert w.written_since("b", "k", "u1")
    assert not w.written_since("b", "other", "u1")
    assert not w.written_since("b", "k", "unknown-upload")


@pytest.mark.parametrize("environ,expected", [
    ({"RAW_URI": "/bkt/a%20b/c", "HTTP_HOST": "127.0.0.1:4566"}, ("bkt", "a b/c")),
    ({"RAW_URI": "/a/b", "HTTP_HOST": "bkt.s3.localhost.localstack.cloud"}, ("bkt", "a/b")),
    ({"RAW_URI": "/k", "HTTP_HOST": "bkt.localhost:4566"}, ("bkt", "k")),
    ({"PATH_INFO": "/bkt/\u00c3\u00a9", "HTTP_HOST": "h"}, ("bkt", "\u00e9")),
])
def test_bucket_and_key(environ, expected):
    assert conditional.bucket_and_key(environ) == expected
