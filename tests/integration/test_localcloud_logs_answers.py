"""CloudWatch Logs on the local cloud answers as AWS does (recorded AWS answers), via boto3."""
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def logs(local_cloud):  # noqa: F811
    return boto3.client("logs", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")


def error(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_log_groups_as_aws_answers(logs):
    tag = uuid.uuid4().hex[:8]
    logs.create_log_group(logGroupName=f"grp-{tag}-std")
    logs.create_log_group(logGroupName=f"grp-{tag}-ia", logGroupClass="INFREQUENT_ACCESS")
    described = logs.describe_log_groups(logGroupNamePrefix=f"grp-{tag}")["logGroups"]
    assert [(g["logGroupClass"], g["deletionProtectionEnabled"]) for g in described] == [
        ("INFREQUENT_ACCESS", False), ("STANDARD", False)]
    found = logs.describe_log_groups(logGroupNamePattern=f"{tag}-st")["logGroups"]
    assert [g["logGroupName"] for g in found] == [f"grp-{tag}-std"]
    listed = logs.list_log_groups(logGroupNamePattern=tag)["logGroups"]
    assert {g["logGroupName"]: g["logGroupClass"] for g in listed} == {
        f"grp-{tag}-std": "STANDARD", f"grp-{tag}-ia": "INFREQUENT_ACCESS"}
    assert logs.list_log_groups(logGroupNamePattern="no-such-" + tag)["logGroups"] == []
    assert error(logs.describe_log_groups, logGroupNamePattern=tag, logGroupNamePrefix="grp") == (
        "InvalidParameterException",
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    assert error(logs.create_log_group, logGroupName="a" * 513) == (
        "InvalidParameterException",
        "Invalid LogGroup or LogStream, both must have length less than or equal to 512.")


def test_log_streams_named_as_streams(logs):
    name = f"grp-{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=name)
    assert error(logs.get_log_events, logGroupName=name, logStreamName="nope") == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    assert error(logs.create_log_stream, logGroupName=name, logStreamName="s") == (
        "ResourceAlreadyExistsException", "The specified log stream already exists")
    assert error(logs.describe_log_streams, logGroupName=name, logGroupIdentifier=name) == (
        "ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
