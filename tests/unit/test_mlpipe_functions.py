"""Lambda functions: deterministic zips, create/find/update, permissions, the schedule."""
import io
import json
import zipfile

import boto3
import pytest

from mlpipe import functions, iam, schedule
from mlpipe.clients import client
from mlpipe.config import MlpipeError
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


@pytest.fixture
def fn_dir(tmp_path):
    d = tmp_path / "myfn"
    (d / "events").mkdir(parents=True)
    (d / "__pycache__").mkdir()
    (d / "handler.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    (d / "logic.py").write_text("X = 1\n")
    (d / "events" / "s3.json").write_text("{}")
    (d / "test_handler.py").write_text("")
    (d / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"junk")
    return d


@pytest.fixture
def role(aws):
    settings, names = aws
    return iam.ensure_roles(Stack(settings, names), keys=("trigger",))[0].arn


def test_zip_is_deterministic_and_excludes_events_tests_caches(fn_dir):
    a, b = functions.build_zip(fn_dir), functions.build_zip(fn_dir)
    assert a == b
    assert zipfile.ZipFile(io.BytesIO(a)).namelist() == ["handler.py", "logic.py"]
    (fn_dir / "logic.py").write_text("X = 2\n")
    assert functions.code_sha256(functions.build_zip(fn_dir)) != functions.code_sha256(a)


def test_zip_without_handler_is_refused(tmp_path):
    with pytest.raises(MlpipeError, match="no handler.py"):
        functions.build_zip(tmp_path)


def test_create_find_update(aws, role, fn_dir):
    settings, names = aws
    env = {"INSTANCE_ID": "i-1", "WORKER_FUNCTION": "mlpipe-worker"}
    rep = functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, env)
    assert rep.action == "created"
    lam = boto3.client("lambda", region_name="us-east-1")
    cfg = lam.get_function_configuration(FunctionName="mlpipe-trigger")
    assert cfg["Environment"]["Variables"] == env and cfg["Runtime"] == "python3.12"
    assert cfg["Handler"] == "handler.handler" and cfg["Timeout"] == 60 and cfg["MemorySize"] == 256
    assert lam.list_tags(Resource=cfg["FunctionArn"])["Tags"] == {"stack": "mlpipe"}

    assert functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, env).action == "found"

    rep = functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, {**env, "INSTANCE_ID": "i-2"}, timeout=30)
    assert rep.action == "updated" and set(rep.details["changes"]) == {"timeout", "environment"}
    assert lam.get_function_configuration(FunctionName="mlpipe-trigger")["Environment"]["Variables"]["INSTANCE_ID"] == "i-2"

    (fn_dir / "logic.py").write_text("X = 3\n")
    rep = functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, {**env, "INSTANCE_ID": "i-2"}, timeout=30)
    assert rep.action == "updated" and rep.details["changes"] == ["code"]
    assert lam.get_function_configuration(FunctionName="mlpipe-trigger")["CodeSha256"] == rep.details["code_sha256"]


def test_role_propagation_is_retried(aws, role, fn_dir, monkeypatch):
    from botocore.exceptions import ClientError

    settings, names = aws
    lam = client("lambda", settings)
    real, calls = lam.create_function, []

    def flaky(**kw):
        calls.append(1)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "InvalidParameterValueException",
                                         "Message": "The role defined for the function cannot be assumed by Lambda."}},
                              "CreateFunction")
        return real(**kw)
    monkeypatch.setattr(lam, "create_function", flaky)
    monkeypatch.setattr(functions.time, "sleep", lambda s: None)
    assert functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, {}).action == "created"
    assert len(calls) == 2


def test_s3_permission_is_scoped_and_idempotent(aws, role, fn_dir):
    settings, names = aws
    functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, {})
    stack = Stack(settings, names)
    first = functions.ensure_s3_permission(stack, "mlpipe-trigger", names.input_bucket)
    second = functions.ensure_s3_permission(stack, "mlpipe-trigger", names.input_bucket)
    assert (first.action, second.action) == ("created", "found")
    policy = json.loads(boto3.client("lambda", region_name="us-east-1").get_policy(
        FunctionName="mlpipe-trigger")["Policy"])
    [stmt] = policy["Statement"]
    assert stmt["Principal"] == {"Service": "s3.amazonaws.com"}
    cond = json.dumps(stmt["Condition"])
    assert names.bucket_arn(names.input_bucket) in cond and "123456789012" in cond


def test_schedule_rule_targets_the_reaper(aws, fn_dir):
    settings, names = aws
    with pytest.raises(MlpipeError, match="deploy the functions first"):
        schedule.ensure(Stack(settings, names))
    r = iam.ensure_roles(Stack(settings, names), keys=("reaper",))[0].arn
    functions.ensure_function(Stack(settings, names), names.reaper_function, fn_dir, r, {})
    reps = schedule.ensure(Stack(settings, names))
    assert [x.action for x in reps] == ["created", "created"]
    assert [x.action for x in schedule.ensure(Stack(settings, names))] == ["found", "found"]
    events = boto3.client("events", region_name="us-east-1")
    rule = events.describe_rule(Name="mlpipe-reaper-schedule")
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule="mlpipe-reaper-schedule")["Targets"]
    assert target["Arn"].endswith(":function:mlpipe-reaper")
    assert schedule.delete_rule(Stack(settings, names), names.reaper_rule).action == "deleted"
    assert schedule.delete_rule(Stack(settings, names), names.reaper_rule).action == "absent"


def test_delete_function_and_absent(aws, role, fn_dir):
    settings, names = aws
    functions.ensure_function(Stack(settings, names), "mlpipe-trigger", fn_dir, role, {})
    assert functions.find_functions(Stack(settings, names)) == ["mlpipe-trigger"]
    assert functions.delete_function(Stack(settings, names), "mlpipe-trigger").action == "deleted"
    assert functions.delete_function(Stack(settings, names), "mlpipe-trigger").action == "absent"


def _unvalidated():
    from botocore.exceptions import ClientError

    # AWS's answer while the new invoke permission is not yet visible to S3.
    return ClientError({"Error": {"Code": "InvalidArgument",
                                  "Message": "Unable to validate the following destination configurations",
                                  "ArgumentName1": "arn:aws:lambda:us-east-1:123456789012:function:mlpipe-trigger",
                                  "ArgumentValue1": "Not authorized to invoke function"}},
                       "PutBucketNotificationConfiguration")


def _wired(aws, role, fn_dir):
    from mlpipe import buckets

    settings, names = aws
    stack = Stack(settings, names)
    buckets.ensure(stack)
    functions.ensure_function(stack, names.trigger_function, fn_dir, role, {})
    return stack


def test_notification_right_after_add_permission_is_retried(aws, role, fn_dir, monkeypatch):
    from mlpipe import notifications

    stack = _wired(aws, role, fn_dir)
    s3 = client("s3", stack.settings)
    real, calls, slept = s3.put_bucket_notification_configuration, [], []

    def flaky(**kw):
        calls.append(1)
        if len(calls) <= 2:
            raise _unvalidated()
        return real(**kw)
    monkeypatch.setattr(s3, "put_bucket_notification_configuration", flaky)
    monkeypatch.setattr(notifications.time, "sleep", slept.append)
    msgs = []
    reps = notifications.ensure_notification(stack.with_progress(msgs.append), stack.names.input_bucket, "trigger")
    assert reps[-1].action == "created" and reps[-1].details["attempts"] == 3
    assert slept == [1, 2]  # exponential backoff (aws)
    assert any("cannot validate the destination" in m for m in msgs)
    [cfg] = s3.get_bucket_notification_configuration(Bucket=stack.names.input_bucket)["LambdaFunctionConfigurations"]
    assert cfg["LambdaFunctionArn"].endswith(":function:mlpipe-trigger")


def test_notification_retry_is_bounded_and_other_errors_are_not_retried(aws, role, fn_dir, monkeypatch):
    from botocore.exceptions import ClientError

    from mlpipe import notifications

    stack = _wired(aws, role, fn_dir)
    s3 = client("s3", stack.settings)
    calls, slept = [], []
    monkeypatch.setattr(notifications.time, "sleep", slept.append)

    def always(**kw):
        calls.append(1)
        raise _unvalidated()
    monkeypatch.setattr(s3, "put_bucket_notification_configuration", always)
    with pytest.raises(ClientError, match="Unable to validate"):
        notifications.ensure_notification(stack, stack.names.input_bucket, "trigger")
    assert len(calls) == len(notifications.RETRY_DELAYS) + 1 and sum(slept) <= 90

    calls.clear()

    def other(**kw):
        calls.append(1)
        raise ClientError({"Error": {"Code": "InvalidArgument", "Message": "Configuration is ambiguously defined"}},
                          "PutBucketNotificationConfiguration")
    monkeypatch.setattr(s3, "put_bucket_notification_configuration", other)
    with pytest.raises(ClientError, match="ambiguously"):
        notifications.ensure_notification(stack, stack.names.input_bucket, "trigger")
    assert len(calls) == 1
