"""S3 tagging answered as S3 answers it: AWS's tag grammar (InvalidTag naming the key),
an empty or absent TagSet removes the tags, empty values kept, a delete marker's tags are
405 MethodNotAllowed, a missing key NoSuchKey (never a 500), the tagged version named."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import client_error as _error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(local_cloud):  # noqa: F811
    return boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, parameter_validation=False))


@pytest.fixture
def bucket(s3):
    name = f"tag-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_tag_grammar(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    for tags, code, message in (
            ([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "1"}], "InvalidTag",
             "Cannot provide multiple Tags with the same key"),
            ([{"Key": "a,b", "Value": "1"}], "InvalidTag", "The TagKey you have provided is invalid"),
            ([{"Key": "a", "Value": "1,2"}], "InvalidTag", "The TagValue you have provided is invalid"),
            ([{"Key": "a"}], "MalformedXML", None)):
        for call, kw in ((s3.put_bucket_tagging, {}), (s3.put_object_tagging, {"Key": "o"})):
            status, err = _error(call, Bucket=bucket, Tagging={"TagSet": tags}, **kw)
            assert (status, err["Code"]) == (400, code)
            assert message is None or err["Message"] == message
    status, err = _error(s3.put_bucket_tagging, Bucket=bucket,
                         Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
    assert err["Message"] == "System tags cannot be added/updated by requester"
    status, err = _error(s3.put_object, Bucket=bucket, Key="p", Body=b"x", Tagging="a=1&a=2")
    assert (status, err["Code"], err["ArgumentName"]) == (400, "InvalidArgument", "x-amz-tagging")


def test_empty_values_and_empty_tag_sets(s3, bucket):
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": ""}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "a", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": None})  # no TagSet: no tags
    status, err = _error(s3.get_bucket_tagging, Bucket=bucket)
    assert (status, err["Code"]) == (404, "NoSuchTagSet")
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", Tagging="k=v")
    s3.put_object_tagging(Bucket=bucket, Key="o", Tagging={"TagSet": []})
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == []


def test_tagging_missing_keys_and_delete_markers(s3, bucket):
    status, err = _error(s3.delete_object_tagging, Bucket=bucket, Key="nope")
    assert (status, err["Code"], err["Key"]) == (404, "NoSuchKey", "nope")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"x")["VersionId"]
    tagged = s3.put_object_tagging(Bucket=bucket, Key="v",
                                   Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert tagged["VersionId"] == v1
    s3.delete_object(Bucket=bucket, Key="v")
    for call in (s3.get_object_tagging, s3.delete_object_tagging):
        status, err = _error(call, Bucket=bucket, Key="v")
        assert (status, err["Code"]) == (405, "MethodNotAllowed")


def test_create_bucket_with_tags(s3):
    name = f"tagc-{uuid.uuid4().hex[:12]}"
    made = s3.create_bucket(Bucket=name,
                            CreateBucketConfiguration={"Tags": [{"Key": "k", "Value": "v"}]})
    assert made["BucketArn"] == f"arn:aws:s3:::{name}"
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "k", "Value": "v"}]
    status, err = _error(s3.create_bucket, Bucket=name,
                         CreateBucketConfiguration={"Tags": [{"Key": "k2", "Value": "v"}]})
    assert (status, err["Code"]) == (409, "BucketAlreadyOwnedByYou")
    s3.create_bucket(Bucket=name)  # us-east-1: owned again without tags succeeds
    assert s3.get_bucket_tagging(Bucket=name)["TagSet"] == [{"Key": "k", "Value": "v"}]
    status, err = _error(s3.create_bucket, Bucket=f"tagx-{uuid.uuid4().hex[:12]}",
                         CreateBucketConfiguration={"Tags": [{"Key": "aws:x", "Value": "v"}]})
    assert (status, err["Code"]) == (400, "InvalidTag")
