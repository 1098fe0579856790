"""The S3 send lock (glue_contract.lock) with an SDK that predates PutObject's IfNoneMatch/
IfMatch parameters, as a Lambda runtime's bundled boto3 may: the client's model is stripped
of them here (what botocore before late 2024 has), so the lock must send the HTTP headers
itself; moto enforces them as S3 does (412 PreconditionFailed)."""
import copy

import boto3
import pytest
from moto import mock_aws

from glue_contract import lock

BUCKET = "mlpipe-output-lock"
KEY = "locks/worker-send.json"


def _old_sdk_client():
    s3 = boto3.client("s3", region_name="us-east-1")
    op = s3.meta.service_model.operation_model("PutObject")
    members = op.input_shape.members
    for name in ("IfNoneMatch", "IfMatch"):
        members.pop(name, None)  # botocore caches the shape: restored in the fixture
    return s3


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        members = client.meta.service_model.operation_model("PutObject").input_shape.members
        saved = copy.copy(members)
        try:
            old = _old_sdk_client()
            old.create_bucket(Bucket=BUCKET)
            yield old
        finally:
            members.clear()
            members.update(saved)


def test_without_the_parameters_in_the_sdk_the_lock_still_excludes(s3):
    assert not lock.supports(s3, ("IfNoneMatch",))
    with pytest.raises(Exception) as err:  # what the old SDK does with the parameter itself
        s3.put_object(Bucket=BUCKET, Key="x", Body=b"", IfNoneMatch="*")
    assert "IfNoneMatch" in str(err.value)
    first = lock.try_acquire(s3, BUCKET, KEY, "run-a", ttl_s=60)
    assert first
    assert lock.try_acquire(s3, BUCKET, KEY, "run-b", ttl_s=60) is None  # If-None-Match: * sent as a header
    assert lock.release(s3, BUCKET, KEY, "run-a", first)                 # If-Match with its own ETag
    assert lock.release(s3, BUCKET, KEY, "run-a", first) is False          # not its version any more
    assert lock.try_acquire(s3, BUCKET, KEY, "run-b", ttl_s=60)            # the expired lock taken over
