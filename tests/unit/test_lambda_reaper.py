"""Reaper Lambda: stops an idle running instance, recording failures nobody recorded."""
import datetime as dt
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from glue_fakes import AMI, backend_command
from lambda_code.reaper import handler as reaper

OUT = "mlpipe-output-t"
GRACE = 120
UTC = dt.timezone.utc


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        launch = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
        ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_instance(iid).launch_time = launch.replace(tzinfo=None)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=OUT)
        yield {"ec2": ec2, "ssm": boto3.client("ssm", region_name="us-east-1"), "s3": s3, "iid": iid,
               "launch": launch}


def command(aws, run_id, status, *, requested, ended=None, stderr="", timeout="900", response_code=0):
    """A pipeline command with the given status and times (moto's backend, edited)."""
    cid = aws["ssm"].send_command(
        InstanceIds=[aws["iid"]], DocumentName="AWS-RunShellScript", Comment=f"mlpipe training {run_id}: data/a.csv",
        Parameters={"commands": ["true"], "executionTimeout": [timeout]})["Command"]["CommandId"]
    c = backend_command(cid)
    c.status = status
    c.requested_date_time = requested.replace(tzinfo=None)
    inv = c.invocations[0]
    inv.update(Status=status, ExecutionStartDateTime=requested.isoformat(), ResponseCode=response_code,
               ExecutionEndDateTime=ended.isoformat() if ended else "", StandardErrorContent=stderr)
    return cid


def handle(aws, now):
    return reaper.handle(ec2=aws["ec2"], ssm=aws["ssm"], s3=aws["s3"], instance_id=aws["iid"],
                         output_bucket=OUT, grace_s=GRACE, now=now)


def state(aws):
    return reaper.describe_instance(aws["ec2"], aws["iid"])["state"]


def records(aws):
    return {o["Key"]: json.loads(aws["s3"].get_object(Bucket=OUT, Key=o["Key"])["Body"].read())
            for o in aws["s3"].list_objects_v2(Bucket=OUT, Prefix="runs/").get("Contents", [])}


def at(aws, seconds):
    return aws["launch"] + dt.timedelta(seconds=seconds)


def test_a_hung_command_that_timed_out_is_recorded_and_the_instance_stopped(aws):
    run_id = "run-20240501T120010Z-0000aaaa"
    command(aws, run_id, "TimedOut", requested=at(aws, 10), ended=at(aws, 910), timeout="900",
            stderr="epoch 1\nstill training")
    assert handle(aws, at(aws, 910 + GRACE - 5))["action"] == "wait"
    assert state(aws) == "running"
    out = handle(aws, at(aws, 910 + GRACE + 5))
    assert out["action"] == "stop" and state(aws) == "stopped"
    rec = records(aws)[f"runs/{run_id}.json"]
    assert rec["status"] == "failed" and rec["source"] == "reaper"
    assert rec["error"].startswith("command timed out after 900 s") and "still training" in rec["error"]
    assert {"run_id", "status", "started_at", "finished_at", "inputs", "model_version", "metrics", "error"} <= set(rec)


def test_a_failed_command_that_wrote_a_record_gets_no_second_one(aws):
    run_id = "run-20240501T120010Z-0000bbbb"
    aws["s3"].put_object(Bucket=OUT, Key=f"runs/{run_id}.json", Body=b'{"status": "failed"}')
    command(aws, run_id, "Failed", requested=at(aws, 10), ended=at(aws, 30), response_code=3)
    out = handle(aws, at(aws, 30 + GRACE + 1))
    assert out["action"] == "stop" and "record" not in out and state(aws) == "stopped"
    assert list(records(aws)) == [f"runs/{run_id}.json"]


def test_a_failed_command_without_a_record_is_recorded_with_its_exit_code(aws):
    run_id = "run-20240501T120010Z-0000cccc"
    command(aws, run_id, "Failed", requested=at(aws, 10), ended=at(aws, 30), response_code=2,
            stderr="python3: command not found")
    handle(aws, at(aws, 30 + GRACE + 1))
    rec = records(aws)[f"runs/{run_id}.json"]
    assert "exit code 2" in rec["error"] and "command not found" in rec["error"]


def test_a_succeeded_run_whose_stop_was_missed_is_stopped_without_a_new_record(aws):
    run_id = "run-20240501T120010Z-0000dddd"
    aws["s3"].put_object(Bucket=OUT, Key=f"runs/{run_id}.json", Body=b'{"status": "succeeded"}')
    command(aws, run_id, "Success", requested=at(aws, 10), ended=at(aws, 20))
    assert handle(aws, at(aws, 20 + GRACE + 1))["action"] == "stop"
    assert list(records(aws)) == [f"runs/{run_id}.json"]


def test_a_crashed_worker_no_command_since_launch(aws):
    # an old command from before this start does not count
    command(aws, "run-20240430T100000Z-00000000", "Success",
            requested=at(aws, -86400), ended=at(aws, -86000))
    assert handle(aws, at(aws, GRACE - 1))["action"] == "wait" and state(aws) == "running"
    out = handle(aws, at(aws, GRACE + 1))
    assert out["action"] == "stop" and state(aws) == "stopped"
    [rec] = [r for k, r in records(aws).items() if k == out["record"]]
    assert rec["status"] == "failed" and "no training command was sent" in rec["error"]
    assert rec["run_id"].startswith("run-") and rec["started_at"] == "2024-05-01T12:00:00.000Z"


def test_busy_or_stopped_instances_are_left_alone(aws):
    command(aws, "run-20240501T120010Z-0000eeee", "InProgress", requested=at(aws, 10))
    out = handle(aws, at(aws, 100000))
    assert out["action"] == "none" and "in progress" in out["reason"] and state(aws) == "running"
    aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])
    assert handle(aws, at(aws, 100000))["action"] == "none"
    assert records(aws) == {}


@pytest.mark.parametrize("status,end_s,now_s,action", [
    ("Success", 100, 100 + GRACE - 1, "wait"),
    ("Success", 100, 100 + GRACE + 1, "stop"),
    ("InProgress", None, 10**6, "none"),
    ("Pending", None, 10**6, "none"),
    ("TimedOut", 1000, 1000 + GRACE + 1, "stop"),
])
def test_decide(status, end_s, now_s, action):
    launch = dt.datetime(2024, 5, 1, tzinfo=UTC)
    cmd = {"CommandId": "c1", "Status": status, "RequestedDateTime": launch + dt.timedelta(seconds=5)}
    end = {"c1": launch + dt.timedelta(seconds=end_s)} if end_s else {}
    got = reaper.decide(state="running", launch_time=launch, commands=[cmd], end_times=end,
                        now=launch + dt.timedelta(seconds=now_s), grace_s=GRACE)
    assert got[0] == action


def test_parses_ssm_times():
    from glue_contract import times

    assert times.parse("2024-05-01T12:00:03.597Z") == dt.datetime(2024, 5, 1, 12, 0, 3, 597000, tzinfo=UTC)
    assert times.parse("") is None and times.parse("garbage") is None


def test_handler_uses_the_environment(aws, monkeypatch):
    from glue_contract import aws as glue_aws

    monkeypatch.setattr(glue_aws, "_CLIENTS", {})
    monkeypatch.delenv("WORKER_FUNCTION", raising=False)
    monkeypatch.setenv("INSTANCE_ID", aws["iid"])
    monkeypatch.setenv("OUTPUT_BUCKET", OUT)
    monkeypatch.setenv("IDLE_GRACE_SECONDS", "60")
    event = json.loads((Path(reaper.__file__).parent / "events" / "scheduled.json").read_text())
    out = reaper.handler(event, None)  # launched in 2024: long idle, no command
    assert out["action"] == "stop" and state(aws) == "stopped"


def test_a_run_whose_instance_was_stopped_under_it_is_recorded_and_retried_once(aws):
    """Fault 11: stopped by hand mid-run (the command never ends, no record): recorded failed
    once the grace has passed, and its keys go back to the Worker (once: a lost retry is not
    retried again)."""
    from glue_fakes import FakeLambda

    run_id = "run-20240501T120010Z-0000f0f0"
    cid = command(aws, run_id, "InProgress", requested=at(aws, 10))
    backend_command(cid).parameters["commands"] = ["export MLPIPE_TRIGGER_KEYS='data/a.csv data/b.csv'"]
    aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])
    lam = FakeLambda()

    def tick(seconds):
        return reaper.handle(ec2=aws["ec2"], ssm=aws["ssm"], s3=aws["s3"], lam=lam, instance_id=aws["iid"],
                             output_bucket=OUT, worker_function="mlpipe-worker", grace_s=GRACE,
                             now=at(aws, seconds))

    assert "lost_runs" not in tick(10 + GRACE - 1) and records(aws) == {}  # within the grace
    out = tick(10 + GRACE + 1)
    [lost] = out["lost_runs"]
    rec = records(aws)[f"runs/{run_id}.json"]
    assert rec["status"] == "failed" and rec["source"] == "reaper" and "stopped under run" in rec["error"]
    assert rec["trigger_keys"] == ["data/a.csv", "data/b.csv"] and rec["started_at"].endswith("Z")
    [call] = lam.calls
    payload = json.loads(call["Payload"])
    assert call["FunctionName"] == "mlpipe-worker" and payload["retry_of"] == run_id
    assert payload["trigger_keys"] == ["data/a.csv", "data/b.csv"]
    tick(10 + GRACE + 61)  # the next tick: recorded already, nothing again
    assert len(lam.calls) == 1 and len(records(aws)) == 1

    retry = "run-20240501T120500Z-0000f0f1"
    cid = command(aws, retry, "Failed", requested=at(aws, 300), ended=at(aws, 310))
    backend_command(cid).parameters["commands"] = [f"export MLPIPE_RETRY_OF={run_id}"]
    out = tick(400)
    assert records(aws)[f"runs/{retry}.json"]["retry_of"] == run_id
    assert "not_retried" in out["lost_runs"][0] and len(lam.calls) == 1


def test_a_command_that_ended_without_a_record_before_a_restart_is_recorded(aws):
    """The instance stopped and started again (a new upload) since a run that left no record."""
    run_id = "run-20240501T115900Z-0000abab"
    command(aws, run_id, "Failed", requested=at(aws, -60), ended=at(aws, -30), response_code=143)
    out = handle(aws, at(aws, 5))  # just after the launch: the instance itself is not idle yet
    assert out["action"] == "wait" and out["lost_runs"][0]["record"] == f"runs/{run_id}.json"
    assert "exit code 143" in records(aws)[f"runs/{run_id}.json"]["error"]


def test_default_grace_comes_from_the_contract():
    import inspect

    from glue_contract import defaults
    from mlpipe.config import Settings

    assert inspect.signature(reaper.handle).parameters["grace_s"].default == defaults.IDLE_GRACE_S == 420
    assert Settings().idle_grace_seconds == 420 and Settings().command_timeout_seconds == 900


def test_the_stderr_tail_comes_from_ssms_full_copy_in_s3_not_the_8000_char_cut(aws):
    """Issue 19: GetCommandInvocation returns the first 8,000 characters of stderr, so its
    "last lines" of a long failing run are from the middle. The worker has SSM write the
    whole output to ssm-output/ (OutputS3BucketName); the reaper reads the tail there."""
    from glue_contract import keys
    run_id = "run-20240501T120010Z-0000ffff"
    full = "\n".join(f"warning line {i}" for i in range(2000)) + "\nMemoryError: the real cause"
    cid = command(aws, run_id, "Failed", requested=at(aws, 10), ended=at(aws, 30), response_code=1,
                  stderr=full[:8000])
    aws["s3"].put_object(Bucket=OUT, Key=keys.ssm_stderr_key(cid, aws["iid"]), Body=full.encode())
    handle(aws, at(aws, 30 + GRACE + 1))
    err = records(aws)[f"runs/{run_id}.json"]["error"]
    assert "MemoryError: the real cause" in err and "warning line 1999" in err
