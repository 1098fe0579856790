"""Lambda functions: deterministic zips, create/find/update, permissions, the schedule."""
import io
import json
import zipfile

import boto3
import pytest

from mlpipe import functions, iam, schedule
from mlpipe.config import MlpipeError

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
    return iam.ensure_roles(settings, names, keys=("trigger",))[0].arn


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
    rep = functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, env, names=names)
    assert rep.action == "created"
    lam = boto3.client("lambda", region_name="us-east-1")
    cfg = lam.get_function_configuration(FunctionName="mlpipe-trigger")
    assert cfg["Environment"]["Variables"] == env and cfg["Runtime"] == "python3.12"
    assert cfg["Handler"] == "handler.handler" and cfg["Timeout"] == 60 and cfg["MemorySize"] == 256
    assert lam.list_tags(Resource=cfg["FunctionArn"])["Tags"] == {"stack": "mlpipe"}

    assert functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, env, names=names).action == "found"

    rep = functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, {**env, "INSTANCE_ID": "i-2"},
                                    timeout=30, names=names)
    assert rep.action == "updated" and set(rep.details["changes"]) == {"timeout", "environment"}
    assert lam.get_function_configuration(FunctionName="mlpipe-trigger")["Environment"]["Variables"]["INSTANCE_ID"] == "i-2"

    (fn_dir / "logic.py").write_text("X = 3\n")
    rep = functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, {**env, "INSTANCE_ID": "i-2"},
                                    timeout=30, names=names)
    assert rep.action == "updated" and rep.details["changes"] == ["code"]
    assert lam.get_function_configuration(FunctionName="mlpipe-trigger")["CodeSha256"] == rep.details["code_sha256"]


def test_role_propagation_is_retried(aws, role, fn_dir, monkeypatch):
    from botocore.exceptions import ClientError

    settings, names = aws
    lam = functions.client("lambda", settings)
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
    assert functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, {}, names=names).action == "created"
    assert len(calls) == 2


def test_s3_permission_is_scoped_and_idempotent(aws, role, fn_dir):
    settings, names = aws
    functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, {}, names=names)
    first = functions.ensure_s3_permission(settings, names, "mlpipe-trigger", names.input_bucket)
    second = functions.ensure_s3_permission(settings, names, "mlpipe-trigger", names.input_bucket)
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
        schedule.ensure_schedule(settings, names)
    r = iam.ensure_roles(settings, names, keys=("reaper",))[0].arn
    functions.ensure_function(settings, names.reaper_function, fn_dir, r, {}, names=names)
    reps = schedule.ensure_schedule(settings, names)
    assert [x.action for x in reps] == ["created", "created"]
    assert [x.action for x in schedule.ensure_schedule(settings, names)] == ["found", "found"]
    events = boto3.client("events", region_name="us-east-1")
    rule = events.describe_rule(Name="mlpipe-reaper-schedule")
    assert rule["ScheduleExpression"] == "rate(1 minute)" and rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule="mlpipe-reaper-schedule")["Targets"]
    assert target["Arn"].endswith(":function:mlpipe-reaper")
    assert schedule.delete_schedule(settings, names).action == "deleted"
    assert schedule.delete_schedule(settings, names).action == "absent"


def test_delete_function_and_absent(aws, role, fn_dir):
    settings, names = aws
    functions.ensure_function(settings, "mlpipe-trigger", fn_dir, role, {}, names=names)
    assert functions.stack_functions(settings, names) == ["mlpipe-trigger"]
    assert functions.delete_function(settings, "mlpipe-trigger").action == "deleted"
    assert functions.delete_function(settings, "mlpipe-trigger").action == "absent"
