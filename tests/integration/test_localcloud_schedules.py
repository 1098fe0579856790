"""EventBridge schedules in the local cloud fire their Lambda targets (on a scaled clock)."""
import json
import time
import uuid

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"

RECORDER = """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("lambda", "iam", "events", "logs")}


@pytest.fixture
def fast_clock(local_cloud):  # noqa: F811
    """LOCAL-ONLY: the schedule clock runs 120x (rate(1 minute) fires every 0.5 s)."""
    old = local_cloud.options.get("schedule_time_scale")
    local_cloud.options["schedule_time_scale"] = 120.0
    yield
    if old is None:
        local_cloud.options.pop("schedule_time_scale", None)
    else:
        local_cloud.options["schedule_time_scale"] = old


def recorder(aws):
    name = f"rec-{uuid.uuid4().hex[:8]}"
    arn = aws["lambda"].create_function(
        FunctionName=name, Runtime="python3.11", Role=lambda_role(aws["iam"]),
        Handler="handler.handler", Code={"ZipFile": zip_bytes({"handler.py": RECORDER})},
        Timeout=5)["FunctionArn"]
    # EventBridge may invoke it only with its permission (any of this test's rules for it).
    aws["lambda"].add_permission(
        FunctionName=name, StatementId="events", Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=f"arn:aws:events:{REGION}:123456789012:rule/*{name}")
    return name, arn


def received(aws, name):
    try:
        events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    except aws["logs"].exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"].split("EVENT ", 1)[1]) for e in events
            if e["message"].startswith("EVENT ")]


def wait_for(fn, n, timeout=15):
    deadline = time.monotonic() + timeout
    got = fn()
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(0.2)
        got = fn()
    return got


def test_rate_rule_fires_its_lambda_with_the_scheduled_event(aws, fast_clock):
    name, arn = recorder(aws)
    rule = f"every-minute-{name}"
    rule_arn = aws["events"].put_rule(Name=rule, ScheduleExpression="rate(1 minute)",
                                      State="ENABLED")["RuleArn"]
    aws["events"].put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": arn}])
    try:
        got = wait_for(lambda: received(aws, name), 2)
    finally:
        aws["events"].disable_rule(Name=rule)
    assert len(got) >= 2
    ev = got[0]
    assert ev["detail-type"] == "Scheduled Event" and ev["source"] == "aws.events"
    assert ev["resources"] == [rule_arn] and ev["detail"] == {}
    assert ev["account"] == "123456789012" and ev["region"] == REGION and ev["version"] == "0"
    assert ev["time"].endswith("Z") and ev["id"] != got[1]["id"]


def test_cron_rule_with_constant_input(aws, fast_clock):
    name, arn = recorder(aws)
    rule = f"cron-{name}"
    aws["events"].put_rule(Name=rule, ScheduleExpression="cron(* * * * ? *)", State="ENABLED")
    aws["events"].put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": arn,
                                                   "Input": json.dumps({"job": "reap"})}])
    try:
        got = wait_for(lambda: received(aws, name), 1)
    finally:
        aws["events"].disable_rule(Name=rule)
    assert got and got[0] == {"job": "reap"}


def test_disabled_rule_never_fires(aws, fast_clock):
    name, arn = recorder(aws)
    rule = f"off-{name}"
    aws["events"].put_rule(Name=rule, ScheduleExpression="rate(1 minute)", State="DISABLED")
    aws["events"].put_targets(Rule=rule, Targets=[{"Id": "t1", "Arn": arn}])
    time.sleep(2.0)  # four periods on the scaled clock
    assert received(aws, name) == []
    aws["events"].enable_rule(Name=rule)
    try:
        assert wait_for(lambda: received(aws, name), 1)
    finally:
        aws["events"].disable_rule(Name=rule)
