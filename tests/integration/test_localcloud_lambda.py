"""Lambda execution in the local cloud, tried with plain boto3 as an AWS user would."""
import base64
import json
import threading
import time
import uuid

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"

COUNTER = """
import os, time, uuid
N = 0
ENV = uuid.uuid4().hex  # one per execution environment (its pid is 1 in its own namespace)
def handler(event, context):
    global N
    N += 1
    time.sleep(event.get("sleep", 0))
    print("event", event)
    return {"n": N, "pid": ENV, "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
            "color": os.environ.get("COLOR"), "request_id": context.aws_request_id,
            "function_name": context.function_name, "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn, "remaining": context.get_remaining_time_in_millis(),
            "log_group": context.log_group_name, "log_stream": context.log_stream_name}
"""


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {name: boto3.client(name, **kw) for name in ("lambda", "iam", "logs", "s3")}


def deploy(aws, code, *, handler="handler.handler", timeout=3, env=None, layers=None, files=None,
           role=None):
    name = f"fn-{uuid.uuid4().hex[:8]}"
    package = {"handler.py": code, **(files or {})}
    aws["lambda"].create_function(
        FunctionName=name, Runtime="python3.11", Role=role or lambda_role(aws["iam"]), Handler=handler,
        Code={"ZipFile": zip_bytes(package)}, Timeout=timeout,
        Environment={"Variables": env or {}}, Layers=layers or [])
    return name


def invoke(aws, name, event=None, **kw):
    resp = aws["lambda"].invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kw)
    body = resp["Payload"].read()
    return resp, (json.loads(body) if body else None)


def test_invoke_runs_the_handler_with_context_and_cloud_env(aws, local_cloud):  # noqa: F811
    name = deploy(aws, COUNTER, env={"COLOR": "blue"})
    resp, out = invoke(aws, name, {"x": 1})
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert out["endpoint"] == local_cloud.endpoint_url
    assert out["color"] == "blue"
    assert out["function_name"] == name and out["memory"] == "128"
    assert out["arn"].endswith(f":function:{name}")
    assert 0 < out["remaining"] <= 3000
    assert out["log_group"] == f"/aws/lambda/{name}"
    uuid.UUID(out["request_id"])


def test_unhandled_error_is_reported_as_aws_does(aws):
    name = deploy(aws, "def handler(event, context):\n    raise ValueError('bad input: 42')\n")
    resp, out = invoke(aws, name)
    assert resp["StatusCode"] == 200
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ValueError"
    assert out["errorMessage"] == "bad input: 42"
    assert any("raise ValueError" in line for line in out["stackTrace"])


def test_package_missing_from_function_and_layers_fails_as_on_aws(aws):
    # scikit-learn and numpy are installed in the host venv; the Lambda must not see them.
    name = deploy(aws, "import sklearn\ndef handler(event, context):\n    return 1\n")
    resp, out = invoke(aws, name)
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert out["errorMessage"] == "Unable to import module 'handler': No module named 'sklearn'"

    name = deploy(aws, "def handler(event, context):\n    import numpy\n    return 1\n")
    resp, out = invoke(aws, name)
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ModuleNotFoundError"
    assert out["errorMessage"] == "No module named 'numpy'"


def test_boto3_is_provided_by_the_runtime(aws):
    code = ("import boto3, botocore, sys\n"
            "def handler(event, context):\n"
            "    s3 = boto3.client('s3')\n"
            "    return {'buckets': len(s3.list_buckets()['Buckets']),\n"
            "            'site': [p for p in sys.path if 'site-packages' in p and 'python/lib' not in p]}\n")
    role = lambda_role(aws["iam"], "test-list-buckets", [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}])
    resp, out = invoke(aws, deploy(aws, code, role=role))
    assert "FunctionError" not in resp, out
    assert out["buckets"] >= 0
    assert out["site"] == []  # the host's site-packages are not on the path


def test_a_layer_provides_a_module(aws):
    layer = aws["lambda"].publish_layer_version(
        LayerName=f"lib-{uuid.uuid4().hex[:6]}", CompatibleRuntimes=["python3.11"],
        Content={"ZipFile": zip_bytes({"python/mylib/__init__.py": "ANSWER = 42\n"})})
    code = "import mylib\ndef handler(event, context):\n    return mylib.ANSWER\n"
    resp, out = invoke(aws, deploy(aws, code, layers=[layer["LayerVersionArn"]]))
    assert "FunctionError" not in resp, out
    assert out == 42
    # and without the layer, the same code fails to import it
    resp, out = invoke(aws, deploy(aws, code))
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'mylib'" in out["errorMessage"]


def test_timeout_kills_the_worker_and_reports_as_aws(aws):
    name = deploy(aws, COUNTER, timeout=1)
    t0 = time.monotonic()
    resp, out = invoke(aws, name, {"sleep": 30})
    elapsed = time.monotonic() - t0
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert 1.0 <= elapsed < 5.0
    resp, out = invoke(aws, name)  # a fresh environment: the counter starts again
    assert "FunctionError" not in resp and out["n"] == 1


def test_warm_reuse_same_worker_then_cold_after_configuration_update(aws):
    name = deploy(aws, COUNTER)
    _, first = invoke(aws, name)
    _, second = invoke(aws, name)
    assert second["pid"] == first["pid"]
    assert (first["n"], second["n"]) == (1, 2)

    aws["lambda"].update_function_configuration(FunctionName=name,
                                                Environment={"Variables": {"COLOR": "red"}})
    _, third = invoke(aws, name)
    assert third["pid"] != first["pid"] and third["n"] == 1 and third["color"] == "red"

    aws["lambda"].update_function_code(FunctionName=name, ZipFile=zip_bytes(
        {"handler.py": "def handler(event, context):\n    return 'v2'\n"}))
    _, fourth = invoke(aws, name)
    assert fourth == "v2"


def test_concurrent_invokes_get_separate_workers(aws):
    name = deploy(aws, COUNTER)
    results = []
    threads = [threading.Thread(target=lambda: results.append(invoke(aws, name, {"sleep": 0.5})[1]))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["pid"] for r in results}) == 2


def test_event_invoke_returns_202_at_once_and_runs(aws):
    bucket = f"evt-{uuid.uuid4().hex[:8]}"
    aws["s3"].create_bucket(Bucket=bucket)
    code = ("import boto3, json, time\n"
            "def handler(event, context):\n"
            "    time.sleep(1)\n"
            "    boto3.client('s3').put_object(Bucket=event['bucket'], Key='done', Body=b'1')\n")
    role = lambda_role(aws["iam"], "test-evt-writer", [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::evt-*/done"}])
    name = deploy(aws, code, role=role)
    t0 = time.monotonic()
    resp = aws["lambda"].invoke(FunctionName=name, InvocationType="Event",
                                Payload=json.dumps({"bucket": bucket}).encode())
    assert time.monotonic() - t0 < 0.5
    assert resp["StatusCode"] == 202
    assert resp["Payload"].read() == b""
    assert wait_for(lambda: aws["s3"].list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 1)


def test_logs_go_to_cloudwatch_with_start_end_report(aws):
    name = deploy(aws, COUNTER)
    resp, out = invoke(aws, name, {"hello": "world"}, LogType="Tail")
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert f"START RequestId: {out['request_id']}" in tail
    assert "Init Duration:" in tail  # a cold start
    invoke(aws, name)
    events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    messages = [e["message"] for e in events]
    assert sum(m.startswith("START RequestId:") for m in messages) == 2
    assert sum(m.startswith("END RequestId:") for m in messages) == 2
    reports = [m for m in messages if m.startswith("REPORT RequestId:")]
    assert len(reports) == 2
    assert all("Duration:" in r and "Billed Duration:" in r and "Memory Size: 128 MB" in r
               for r in reports)
    assert "Init Duration" in reports[0] and "Init Duration" not in reports[1]
    assert "event {'hello': 'world'}" in messages


def test_in_process_invoke_function(aws, local_cloud):  # noqa: F811
    name = deploy(aws, COUNTER)
    res = local_cloud.invoke_function(name, b'{"a": 1}')
    assert res.status_code == 200 and res.function_error is None
    assert res.json()["n"] == 1 and "REPORT RequestId" in res.log_tail
    missing = local_cloud.invoke_function("no-such-function", b"{}")
    assert missing.status_code == 404


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


LOGGER = """
import logging
logging.getLogger().setLevel(logging.INFO)
def handler(event, context):
    print("first line")
    logging.info("from logging")
    logging.warning("second record")
    print("last line")
    buf = bytearray(event.get("alloc_mb", 0) << 20)
    return len(buf)
"""


def _report(tail: str) -> str:
    return [line for line in tail.splitlines() if line.startswith("REPORT ")][0]


def test_report_shows_the_configured_memory_and_the_functions_own_peak(aws):
    name = deploy(aws, LOGGER)
    aws["lambda"].update_function_configuration(FunctionName=name, MemorySize=160)
    aws["lambda"].get_waiter("function_updated").wait(FunctionName=name)
    resp, _ = invoke(aws, name, {"alloc_mb": 40}, LogType="Tail")
    report = _report(base64.b64decode(resp["LogResult"]).decode())
    assert "\tMemory Size: 160 MB\t" in report
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 40 <= used < 160, report  # the worker's own peak, not the local cloud's
    aws["lambda"].update_function_configuration(FunctionName=name, MemorySize=1024)
    aws["lambda"].get_waiter("function_updated").wait(FunctionName=name)
    resp, _ = invoke(aws, name, LogType="Tail")
    assert "\tMemory Size: 1024 MB\t" in _report(base64.b64decode(resp["LogResult"]).decode())


def test_log_lines_have_no_blank_lines_between_them(aws):
    name = deploy(aws, LOGGER)
    resp, _ = invoke(aws, name, LogType="Tail")
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "\n\n" not in tail
    deadline = time.monotonic() + 5
    messages = []
    while time.monotonic() < deadline and not any(m.startswith("REPORT") for m in messages):
        events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        messages = [e["message"] for e in events]
        time.sleep(0.05)
    body = [m for m in messages if not m.startswith(("START ", "END ", "REPORT "))]
    assert "" not in messages
    assert body[0] == "first line" and body[-1] == "last line"
    assert body[1].startswith("[INFO]\t") and body[1].endswith("\tfrom logging")
    assert body[2].startswith("[WARNING]\t") and body[2].endswith("\tsecond record")
    assert len(body) == 4
