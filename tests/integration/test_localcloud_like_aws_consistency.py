"""AWS's consistency under `--like-aws` (issue 18, item 5), against a real local cloud: a
deleted bucket still listed for a while and its name refused with `409 OperationAborted`; a
deleted queue's name refused with `QueueDeletedRecently`; API Gateway's control-plane quotas
answered `429 TooManyRequestsException` with `Retry-After`. Each test switches the session
cloud's profile to short windows and back; the default profile has none of it."""
import dataclasses
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.core.profile import AWS, Profile
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

REGION = "us-east-1"
WINDOW = 3.0  # seconds; long enough for a loaded machine to make the refused calls


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    # no retries: the refusals themselves are under test (boto3 would retry a 429)
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION,
              config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    return {n: boto3.client(n, **kw) for n in ("s3", "sqs", "apigateway")}


@pytest.fixture
def profile(local_cloud):  # noqa: F811
    saved = local_cloud.profile

    def use(**fields):
        local_cloud.profile = dataclasses.replace(saved, **fields)
        return local_cloud.profile
    yield use
    local_cloud.profile = saved


def _code(err) -> str:
    return err.value.response["Error"]["Code"]


def test_the_aws_profile_turns_all_three_on_and_the_default_none():
    assert AWS.s3_deleted_bucket_seconds > 0
    assert AWS.sqs_queue_deleted_recently_seconds == 60
    assert AWS.apigateway_control_rate_scale == 1
    default = Profile()
    assert (default.s3_deleted_bucket_seconds, default.sqs_queue_deleted_recently_seconds,
            default.apigateway_control_rate_scale) == (0, 0, 0)


def test_a_deleted_bucket_is_listed_for_a_while_and_its_name_refused(aws, profile):
    profile(s3_deleted_bucket_seconds=WINDOW)
    s3 = aws["s3"]
    name = f"lc-gone-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # still listed
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=name)  # but gone for everything else
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=name)
    assert _code(err) == "OperationAborted"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "conflicting conditional operation" in err.value.response["Error"]["Message"]
    time.sleep(WINDOW + 0.2)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.create_bucket(Bucket=name)  # settled: the name is free
    s3.delete_bucket(Bucket=name)


def test_default_profile_forgets_a_deleted_bucket_at_once(aws, profile):
    profile(s3_deleted_bucket_seconds=0)
    s3 = aws["s3"]
    name = f"lc-gone-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)


def test_a_deleted_queue_name_is_refused_with_queue_deleted_recently(aws, profile):
    profile(sqs_queue_deleted_recently_seconds=WINDOW)
    sqs = aws["sqs"]
    name = f"lc-q-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    other = sqs.create_queue(QueueName=name + "-other")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as err:
        sqs.create_queue(QueueName=name)
    assert _code(err) in ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "wait 60 seconds" in err.value.response["Error"]["Message"]
    assert isinstance(err.value, sqs.exceptions.QueueDeletedRecently)
    sqs.get_queue_attributes(QueueUrl=other)  # other queues are untouched
    time.sleep(WINDOW + 0.2)
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=other)


def test_api_gateway_control_plane_quotas_answer_429_with_retry_after(aws, profile):
    apigw = aws["apigateway"]
    profile(apigateway_control_rate_scale=1.0)
    # CreateRestApi: 1 every 3 s -- a second at once is refused
    time.sleep(3.1)  # whatever an earlier test used has refilled
    first = apigw.create_rest_api(name=f"lc-rl-{uuid.uuid4().hex[:6]}")["id"]
    with pytest.raises(ClientError) as err:
        apigw.create_rest_api(name=f"lc-rl-{uuid.uuid4().hex[:6]}")
    assert _code(err) == "TooManyRequestsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    retry_after = int(err.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"])
    assert 1 <= retry_after <= 3
    # CreateDeployment: 1 every 5 s
    root = apigw.get_resources(restApiId=first)["items"][0]["id"]
    apigw.put_method(restApiId=first, resourceId=root, httpMethod="GET",
                     authorizationType="NONE")
    apigw.put_integration(restApiId=first, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=first, stageName="s1")
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=first, stageName="s2")
    assert _code(err) == "TooManyRequestsException"
    # UpdateUsagePlan: 1 every 20 s
    plan = apigw.create_usage_plan(name=f"lc-rl-{uuid.uuid4().hex[:6]}")["id"]
    ops = [{"op": "replace", "path": "/description", "value": "x"}]
    apigw.update_usage_plan(usagePlanId=plan, patchOperations=ops)
    with pytest.raises(ClientError) as err:
        apigw.update_usage_plan(usagePlanId=plan, patchOperations=ops)
    assert _code(err) == "TooManyRequestsException"
    assert int(err.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) > 3
    # DeleteRestApi: 1 every 30 s
    second_api_time = time.monotonic()
    apigw.delete_rest_api(restApiId=first)
    with pytest.raises(ClientError) as err:
        apigw.delete_rest_api(restApiId=first)
    assert _code(err) == "TooManyRequestsException"
    # reads without a quota of their own are not refused
    apigw.get_rest_apis()
    apigw.delete_usage_plan(usagePlanId=plan)
    assert time.monotonic() - second_api_time < 30


def test_the_scale_multiplies_the_rates_and_zero_is_off(aws, profile):
    apigw = aws["apigateway"]
    profile(apigateway_control_rate_scale=0)
    ids = [apigw.create_rest_api(name=f"lc-rl-{i}")["id"] for i in range(3)]
    for api in ids:
        apigw.delete_rest_api(restApiId=api)  # off: never refused
    # 30x: CreateRestApi 10 per second -- the next is allowed 0.1 s later
    profile(apigateway_control_rate_scale=30)
    time.sleep(0.2)
    a = apigw.create_rest_api(name="lc-rl-scaled")["id"]
    time.sleep(0.15)
    b = apigw.create_rest_api(name="lc-rl-scaled2")["id"]
    profile(apigateway_control_rate_scale=0)
    apigw.delete_rest_api(restApiId=a)
    apigw.delete_rest_api(restApiId=b)
