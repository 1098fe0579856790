"""Trigger Lambda: starts the instance (any state) and invokes the Worker asynchronously."""
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from glue_fakes import AMI, FakeLambda, FakeTime, set_state
from glue_contract import aws as glue_aws
from lambda_code.trigger import handler as trigger

EVENTS = Path(trigger.__file__).parent / "events"


def event(name):
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def ec2(aws_credentials):
    with mock_aws():
        client = boto3.client("ec2", region_name="us-east-1")
        iid = client.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        client.stop_instances(InstanceIds=[iid])
        yield client, iid


def state(ec2, iid):
    return glue_aws.instance_state(ec2, iid)


def test_sample_event_starts_a_stopped_instance_and_invokes_the_worker(ec2):
    client, iid = ec2
    lam = FakeLambda()
    out = trigger.handle(event("s3_put.json"), ec2=client, lam=lam, instance_id=iid, worker_function="mlpipe-worker")
    assert out["started"] is True and state(client, iid) == "running"
    assert len(lam.calls) == 1
    call = lam.calls[0]
    assert call["FunctionName"] == "mlpipe-worker" and call["InvocationType"] == "Event"
    payload = json.loads(call["Payload"])
    assert payload["instance_id"] == iid and payload["trigger_keys"] == ["data/batch_01.csv"]
    # when the key was in the bucket: the event's eventTime (S3 finished the PUT), in ms
    assert payload["requested_at"] == "2024-05-01T12:00:00.000Z"


def test_running_instance_is_fine(ec2):
    client, iid = ec2
    client.start_instances(InstanceIds=[iid])
    lam = FakeLambda()
    out = trigger.handle(event("s3_put.json"), ec2=client, lam=lam, instance_id=iid, worker_function="w")
    assert out["started"] is False and out["instance"]["before"] == "running"
    assert len(lam.calls) == 1


def test_keys_are_url_decoded_and_all_records_go_in_one_invoke(ec2):
    client, iid = ec2
    lam = FakeLambda()
    trigger.handle(event("s3_put_two_records.json"), ec2=client, lam=lam, instance_id=iid, worker_function="w")
    assert json.loads(lam.calls[0]["Payload"])["trigger_keys"] == ["data/batch_01.csv", "data/new batch (2).csv"]


def test_stopping_instance_waits_until_stopped_then_starts(ec2):
    client, iid = ec2
    client.start_instances(InstanceIds=[iid])
    set_state(iid, "stopping", 64)
    fake = FakeTime(on_sleep=lambda t: t >= 6 and set_state(iid, "stopped", 80))
    lam = FakeLambda()
    out = trigger.handle(event("s3_put.json"), ec2=client, lam=lam, instance_id=iid, worker_function="w",
                         sleep=fake.sleep, clock=fake.clock)
    assert out["instance"]["before"] == "stopping" and out["instance"]["action"] == "started"
    assert out["instance"]["waited_s"] == 6.0
    assert state(client, iid) == "running" and len(lam.calls) == 1


def test_stopping_wait_is_bounded_and_the_worker_still_gets_the_keys(ec2):
    client, iid = ec2
    set_state(iid, "stopping", 64)
    fake = FakeTime()
    lam = FakeLambda()
    out = trigger.handle(event("s3_put.json"), ec2=client, lam=lam, instance_id=iid, worker_function="w",
                         max_wait_s=30, sleep=fake.sleep, clock=fake.clock)
    assert out["instance"]["action"] == "gave_up" and 30 <= fake.t <= 32
    assert len(lam.calls) == 1  # the Worker repeats the start while it waits


def test_terminated_instance_is_an_error_that_says_what_to_do(ec2):
    client, iid = ec2
    client.terminate_instances(InstanceIds=[iid])
    with pytest.raises(RuntimeError, match="terminated.*mlpipe deploy"):
        trigger.handle(event("s3_put.json"), ec2=client, lam=FakeLambda(), instance_id=iid, worker_function="w")


def test_non_data_keys_do_nothing(ec2):
    client, iid = ec2
    ev = event("s3_put.json")
    ev["Records"][0]["s3"]["object"]["key"] = "holdout/holdout.csv"
    lam = FakeLambda()
    out = trigger.handle(ev, ec2=client, lam=lam, instance_id=iid, worker_function="w")
    assert out["invoked"] is False and lam.calls == [] and state(client, iid) == "stopped"


def test_handler_builds_clients_lazily_from_the_environment(ec2, monkeypatch):
    client, iid = ec2
    monkeypatch.setattr(glue_aws, "_CLIENTS", {})
    lam = FakeLambda()
    monkeypatch.setenv("INSTANCE_ID", iid)
    monkeypatch.setenv("WORKER_FUNCTION", "mlpipe-worker")
    glue_aws._CLIENTS["lambda"] = lam  # the rest (ec2) is built on first use, inside mock_aws

    class Ctx:
        def get_remaining_time_in_millis(self):
            return 60_000

    out = trigger.handler(event("s3_put.json"), Ctx())
    assert out["invoked"] and set(glue_aws._CLIENTS) == {"ec2", "lambda"}
    assert state(client, iid) == "running" and len(lam.calls) == 1


@pytest.mark.parametrize("fn", ["trigger", "worker", "stop_ec2", "reaper"])
def test_glue_handlers_import_from_their_deployed_zip_in_an_isolated_interpreter(fn, tmp_path):
    """As Lambda (and localcloud's `python -I`) loads them: the deployed zip on its own (the
    handler and glue_contract at its root), nothing else of ours, and not even boto3 at import
    time (clients are built lazily, on first use)."""
    import io
    import subprocess
    import sys
    import zipfile

    from mlpipe.functions import build_zip, source_dir

    zipfile.ZipFile(io.BytesIO(build_zip(source_dir(fn)))).extractall(tmp_path)
    assert (tmp_path / "glue_contract" / "runs.py").is_file()
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import handler; assert callable(handler.handler); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('boto3', 'botocore', 'model_code', 'mlpipe', 'lambda_code')))")
    p = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


@pytest.mark.parametrize("package", ["glue_contract", "lambda_code/trigger", "lambda_code/worker",
                                     "lambda_code/stop_ec2", "lambda_code/reaper"])
def test_glue_code_imports_only_stdlib_boto3_and_the_contract(package):
    import ast
    import sys

    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "glue_contract"}
    for path in (Path(trigger.__file__).parents[2] / package).glob("*.py"):
        tree = ast.parse(path.read_text())
        mods = {n.names[0].name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert mods <= allowed, (path, mods - allowed)


def test_requested_at_is_the_latest_event_time_or_now():
    ev = event("s3_put_two_records.json")
    ev["Records"][1]["eventTime"] = "2024-05-01T12:00:02.5Z"
    assert trigger.keys_in_bucket_at(ev) == "2024-05-01T12:00:02.500Z"
    for r in ev["Records"]:
        del r["eventTime"]
    assert trigger.keys_in_bucket_at(ev)[:4] >= "2025"
