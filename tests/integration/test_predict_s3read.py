"""The predict Lambda's S3 reader (botocore's SigV4 signer over plain HTTP) against a real
local cloud: what boto3 would get, conditional GETs, S3's error codes, a reused connection."""
from __future__ import annotations

import boto3
import pytest

from lambda_code.predict import s3read
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

BUCKET = "s3read-test-bucket"


@pytest.fixture(scope="module")
def s3(local_cloud):  # noqa: F811
    client = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="models/latest.json", Body=b'{"version": "v001"}')
    client.put_object(Bucket=BUCKET, Key="models/v 001/ümlaut+export.json", Body=b"x" * 70000)
    return client


@pytest.fixture
def reader(local_cloud):  # noqa: F811
    r = s3read.SignedS3Reader(region="us-east-1", endpoint=local_cloud.endpoint_url)
    yield r
    r.close()


def test_get_returns_what_boto3_gets(s3, reader):
    for key in ("models/latest.json", "models/v 001/ümlaut+export.json"):
        got = reader.get(BUCKET, key)
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        assert got.status == 200 and got.body == obj["Body"].read() and got.etag == obj["ETag"]


def test_if_none_match_is_a_304_without_a_body_until_the_object_changes(s3, reader):
    first = reader.get(BUCKET, "models/latest.json")
    again = reader.get(BUCKET, "models/latest.json", first.etag)
    assert again.status == 304 and again.body == b""
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=b'{"version": "v002"}')
    changed = reader.get(BUCKET, "models/latest.json", first.etag)
    assert changed.status == 200 and b"v002" in changed.body


def test_errors_carry_s3s_code(reader):
    with pytest.raises(s3read.S3ReadError) as missing:
        reader.get(BUCKET, "models/none.json")
    assert missing.value.code == "NoSuchKey" and missing.value.status == 404 and missing.value.missing
    with pytest.raises(s3read.S3ReadError) as no_bucket:
        reader.get("s3read-no-such-bucket", "x")
    assert no_bucket.value.code == "NoSuchBucket" and no_bucket.value.missing


def test_one_connection_is_reused_and_a_closed_one_reopened(s3, reader):
    reader.get(BUCKET, "models/latest.json")
    conn = reader._conn
    reader.get(BUCKET, "models/latest.json")
    assert reader._conn is conn
    conn.sock.close()  # the server (or an idle timeout) closed it meanwhile
    assert reader.get(BUCKET, "models/latest.json").status == 200


def test_the_boto3_reader_answers_the_same(s3, reader):
    b3 = s3read.Boto3Reader(s3)
    etag = reader.get(BUCKET, "models/latest.json").etag
    assert b3.get(BUCKET, "models/latest.json", etag).status == 304
    with pytest.raises(s3read.S3ReadError) as missing:
        b3.get(BUCKET, "models/none.json")
    assert missing.value.code == "NoSuchKey" and missing.value.missing


def test_urls_for_aws_are_virtual_hosted_and_quoted():
    assert s3read.object_url("b-1", "models/v 1/x.json", "eu-west-1") == \
        "https://b-1.s3.eu-west-1.amazonaws.com/models/v%201/x.json"
    assert s3read.object_url("a.b", "k", "us-east-1") == "https://s3.us-east-1.amazonaws.com/a.b/k"
    assert s3read.object_url("b", "k", "cn-north-1").endswith(".amazonaws.com.cn/k")
    assert s3read.object_url("b", "k", "us-east-1", "http://127.0.0.1:9/") == "http://127.0.0.1:9/b/k"
