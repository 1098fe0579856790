"""S3 answers as AWS recorded them, where moto answered otherwise (or with a 500): byte
ranges, notification key filters, bucket-configuration statuses."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clients(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name="us-east-1",
              config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    return boto3.client("s3", **kw), boto3.client("sqs", **kw)


@pytest.fixture
def bucket(clients):
    name = f"ans-{uuid.uuid4().hex[:12]}"
    clients[0].create_bucket(Bucket=name)
    return name


def _error(call, **kw):
    with pytest.raises(ClientError) as exc:
        call(**kw)
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]


@pytest.mark.parametrize("header,body,content_range", [
    ("bytes=0-8", b"012345678", "bytes 0-8/10"),
    ("bytes=-2", b"89", "bytes 8-9/10"),
    ("bytes=0-100", b"0123456789", "bytes 0-9/10"),
    ("bytes=1-0", b"0123456789", None),           # not a valid range: ignored
    ("bytes=0-1,3-4", b"0123456789", None),
    ("0-9", b"0123456789", None),
])
def test_ranges(clients, bucket, header, body, content_range):
    s3 = clients[0]
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["Body"].read() == body
    assert got.get("ContentRange") == content_range


@pytest.mark.parametrize("header", ["bytes=100-200", "bytes=-0"])
def test_unsatisfiable_ranges(clients, bucket, header):
    s3 = clients[0]
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    status, err = _error(s3.get_object, Bucket=bucket, Key="r", Range=header)
    assert (status, err["Code"], err["ActualObjectSize"], err["RangeRequested"]) == \
        (416, "InvalidRange", "10", header)


@pytest.mark.parametrize("rule,code", [({}, "MalformedXML"), ({"Name": "prefix"}, "MalformedXML"),
                                       ({"Name": "INVALID", "Value": "x"}, "InvalidArgument")])
def test_notification_filter_rules(clients, bucket, rule, code):
    s3, sqs = clients
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    status, err = _error(s3.put_bucket_notification_configuration, Bucket=bucket,
                         NotificationConfiguration={"QueueConfigurations": [{
                             "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                             "Filter": {"Key": {"FilterRules": [rule]}}}]})
    assert (status, err["Code"]) == (400, code)
