"""S3 answers as AWS recorded them, where moto answered otherwise (or with a 500): byte
ranges, notification key filters, bucket-configuration statuses."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import client_error as _error

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


def test_object_lock_and_versioning_states(clients):
    s3 = clients[0]
    name = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    status, err = _error(s3.put_object_lock_configuration, Bucket=name,
                         ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    assert (status, err["Code"]) == (409, "InvalidBucketState")
    status, err = _error(s3.get_object_lock_configuration, Bucket=name)
    assert (status, err["Code"], err["BucketName"]) == \
        (404, "ObjectLockConfigurationNotFoundError", name)
    status, err = _error(s3.delete_object, Bucket=name, Key="k", BypassGovernanceRetention=True)
    assert (status, err["Code"], err["ArgumentName"]) == \
        (400, "InvalidArgument", "x-amz-bypass-governance-retention")
    for status_value, code in (("enabled", "MalformedXML"), ("Disabled", "MalformedXML")):
        status, err = _error(s3.put_bucket_versioning, Bucket=name,
                             VersioningConfiguration={"Status": status_value})
        assert (status, err["Code"]) == (400, code)
    status, err = _error(s3.put_bucket_versioning, Bucket=name, VersioningConfiguration={})
    assert err["Code"] == "IllegalVersioningConfigurationException"

    locked = f"lock-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    for rule in ({}, {"DefaultRetention": {"Mode": "GOVERNANCE"}},
                 {"DefaultRetention": {"Mode": "BAD", "Days": 1}},
                 {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}):
        status, err = _error(s3.put_object_lock_configuration, Bucket=locked,
                             ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                                      "Rule": rule})
        assert (status, err["Code"]) == (400, "MalformedXML")
    s3.put_object_lock_configuration(Bucket=locked, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    got = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]
    assert got["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    status, err = _error(s3.put_bucket_versioning, Bucket=locked,
                         VersioningConfiguration={"Status": "Suspended"})
    assert (status, err["Code"]) == (409, "InvalidBucketState")


def test_policy_put_is_204_and_accelerate_refuses_dots(clients, bucket):
    import json

    s3 = clients[0]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    put = s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    dotted = f"a.{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=dotted)
    status, err = _error(s3.put_bucket_accelerate_configuration, Bucket=dotted,
                         AccelerateConfiguration={"Status": "Enabled"})
    assert (status, err["Code"]) == (400, "InvalidRequest")


def test_notification_filter_names_any_case_and_empty_values(clients, bucket):
    s3, sqs = clients
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [
                                     {"Name": "PREFIX", "Value": "in/"},
                                     {"Name": "suffix", "Value": ""}]}}}]})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"][0]
    assert sorted((r["Name"], r["Value"]) for r in got["Filter"]["Key"]["FilterRules"]) == \
        [("Prefix", "in/"), ("Suffix", "")]
    s3.put_object(Bucket=bucket, Key="out/x", Body=b"x")  # filtered out
    s3.put_object(Bucket=bucket, Key="in/x", Body=b"x")
    import json
    import time

    keys = []
    deadline = time.time() + 10
    while time.time() < deadline and "in/x" not in keys:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(m["Body"])
            keys += [r["s3"]["object"]["key"] for r in body.get("Records", [])]
    assert keys == ["in/x"]  # URL-encoded, "/" left as is


def test_event_names_the_presigned_caller(clients, bucket, local_cloud):  # noqa: F811
    """A presigned PUT's and a form POST's event name the signer (userIdentity), not the
    bucket's owner."""
    import json
    import time

    s3, sqs = clients
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"})
    import requests

    assert requests.put(put_url, data=b"x", timeout=30).status_code == 200
    post = s3.generate_presigned_post(Bucket=bucket, Key="f")
    assert requests.post(post["url"], data=post["fields"], files={"file": b"x"},
                         timeout=30).status_code in (200, 204)
    s3.put_object(Bucket=bucket, Key="h", Body=b"x")
    records = []
    deadline = time.time() + 10
    while time.time() < deadline and len(records) < 3:
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            records += json.loads(m["Body"]).get("Records", [])
    by_key = {r["s3"]["object"]["key"]: r for r in records}
    owner = by_key["h"]["s3"]["bucket"]["ownerIdentity"]["principalId"]
    for key in ("p", "f"):  # the same signer as the header-signed PUT, not the owner
        assert by_key[key]["userIdentity"] == by_key["h"]["userIdentity"], key
        assert owner not in by_key[key]["userIdentity"]["principalId"], key
