"""Bursts held as AWS holds them: reserved concurrency (PutFunctionConcurrency) and the
account limit give Invoke's 429 TooManyRequestsException with AWS's Reason; init is bounded
apart from the function's timeout; 50 and 200 concurrent API requests give 200s, never a
5xx."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"
SLEEPER = """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""
# A cold start that costs CPU (as importing numpy/sklearn does), then a fast handler.
HEAVY_INIT = """
import json, time
_t = time.process_time()
while time.process_time() - _t < 0.15:
    pass
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"ok": True})}
"""
SLOW_INIT = """
import time
time.sleep(1.5)
def handler(event, context):
    return "ready"
"""


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION,
              config=Config(retries={"max_attempts": 1, "mode": "standard"},
                            max_pool_connections=64, read_timeout=120))
    return {n: boto3.client(n, **kw) for n in ("lambda", "iam", "apigateway")}


def deploy(aws, code, timeout=30):
    name = f"conc-{uuid.uuid4().hex[:8]}"
    aws["lambda"].create_function(FunctionName=name, Runtime="python3.11",
                                  Role=lambda_role(aws["iam"]), Handler="h.handler",
                                  Code={"ZipFile": zip_bytes({"h.py": code})}, Timeout=timeout)
    return name


def invoke(aws, name, event):
    lam = aws["lambda"]
    try:
        resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        return resp["StatusCode"], json.loads(resp["Payload"].read())
    except lam.exceptions.TooManyRequestsException as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response


def burst(n, fn):
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_reserved_concurrency_throttles_with_awss_answer(aws):
    name = deploy(aws, SLEEPER)
    aws["lambda"].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    assert invoke(aws, name, {})[0] == 200  # warm one environment first
    results = burst(3, lambda i: invoke(aws, name, {"sleep": 1.0}))
    ok = [r for r in results if r[0] == 200]
    throttled = [r for r in results if r[0] == 429]
    assert len(ok) == 1 and len(throttled) == 2, results
    err = throttled[0][1]
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["Error"]["Message"] == "Rate Exceeded."
    # reserved 0: every invoke is throttled; deleting the reservation lifts it
    aws["lambda"].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert invoke(aws, name, {})[0] == 429
    aws["lambda"].delete_function_concurrency(FunctionName=name)
    assert invoke(aws, name, {})[0] == 200


def test_account_limit_throttles_invoke_beyond_it(aws, local_cloud):  # noqa: F811
    limit = local_cloud.runtime.concurrency.account_limit
    name = deploy(aws, SLEEPER)
    results = burst(limit + 3, lambda i: invoke(aws, name, {"sleep": 2.0}))
    ok = [r for r in results if r[0] == 200]
    throttled = [r for r in results if r[0] == 429]
    assert len(ok) <= limit and len(throttled) >= 3, (limit, [r[0] for r in results])
    assert all(r[1]["Reason"] == "ConcurrentInvocationLimitExceeded" for r in throttled)
    assert len(ok) + len(throttled) == limit + 3


def test_init_is_bounded_apart_from_the_function_timeout(aws):
    name = deploy(aws, SLOW_INIT, timeout=1)  # init 1.5 s > timeout 1 s: fine on AWS
    status, payload = invoke(aws, name, {})
    assert status == 200 and payload == "ready", payload


def _api(aws, local_cloud, name):  # noqa: F811
    lam, apigw = aws["lambda"], aws["apigateway"]
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
    api = apigw.create_rest_api(name=f"api-{name}")["id"]
    root = [r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="predict")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="NONE",
                     apiKeyRequired=True)
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    apigw.create_deployment(restApiId=api, stageName="production")
    # as on AWS, API Gateway may invoke the function only with its permission
    lam.add_permission(FunctionName=name, StatementId="apigateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{arn.split(':')[4]}:{api}/*")
    key = apigw.create_api_key(name=f"key-{name}", enabled=True)
    plan = apigw.create_usage_plan(name=f"plan-{name}",  # no throttle: only Lambda's limits
                                   apiStages=[{"apiId": api, "stage": "production"}])["id"]
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    return f"{local_cloud.endpoint_url}/restapis/{api}/production/_user_request_/predict", key["value"]


def _post(url, key):
    req = urllib.request.Request(url, data=b'{"instances": []}', method="POST",
                                 headers={"Content-Type": "application/json", "x-api-key": key})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("n", [50, 200])
def test_api_bursts_get_200_never_a_5xx(aws, local_cloud, n):  # noqa: F811
    name = deploy(aws, HEAVY_INIT, timeout=30)
    url, key = _api(aws, local_cloud, name)
    statuses = burst(n, lambda i: _post(url, key))
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert counts == {200: n}, counts
    assert local_cloud.runtime.concurrency.peak <= local_cloud.runtime.concurrency.account_limit
