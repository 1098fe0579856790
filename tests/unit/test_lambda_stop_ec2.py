"""Stop-EC2 Lambda: keep running for other runs or leftover data, else stop."""
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from glue_fakes import AMI, FakeLambda, set_command_status
from glue_contract import aws as glue_aws
from lambda_code.stop_ec2 import handler as stop

EVENTS = Path(stop.__file__).parent / "events"
EVENT = json.loads((EVENTS / "s3_run_record.json").read_text())
OUT = EVENT["Records"][0]["s3"]["bucket"]["name"]
KEY = EVENT["Records"][0]["s3"]["object"]["key"]
RUN_ID = KEY[len("runs/"):-len(".json")]
IN = "mlpipe-input-123456789012-us-east-1"


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=IN)
        s3.create_bucket(Bucket=OUT)
        ssm = boto3.client("ssm", region_name="us-east-1")
        yield {"ec2": ec2, "s3": s3, "ssm": ssm, "iid": iid, "lam": FakeLambda()}


def put_data(s3, key, body=b"x"):
    s3.put_object(Bucket=IN, Key=key, Body=body)
    return s3.head_object(Bucket=IN, Key=key)["ETag"].strip('"')


def put_record(s3, **fields):
    record = {"run_id": RUN_ID, "status": "succeeded", "started_at": "2024-05-01T12:00:00Z",
              "finished_at": "2024-05-01T12:01:00Z", "inputs": [], "model_version": "v001", "metrics": {},
              "error": None, "source": "training", **fields}
    s3.put_object(Bucket=OUT, Key=KEY, Body=json.dumps(record).encode())
    return record


def send(aws, comment, status):
    c = aws["ssm"].send_command(InstanceIds=[aws["iid"]], DocumentName="AWS-RunShellScript", Comment=comment,
                                Parameters={"commands": ["true"]})["Command"]["CommandId"]
    set_command_status(c, status)
    return c


def handle(aws, **kw):
    return stop.handle(EVENT, s3=aws["s3"], ec2=aws["ec2"], ssm=aws["ssm"], lam=aws["lam"],
                       instance_id=aws["iid"], input_bucket=IN, worker_function="mlpipe-worker",
                       own_wait_s=kw.pop("own_wait_s", 0), sleep=lambda s: None, **kw)


def state(aws):
    return glue_aws.instance_state(aws["ec2"], aws["iid"])


def test_stops_when_nothing_else_is_pending(aws):
    etag = put_data(aws["s3"], "data/a.csv")
    put_record(aws["s3"], inputs=["data/a.csv"], input_etags={"data/a.csv": etag})
    send(aws, f"mlpipe training {RUN_ID}: data/a.csv", "Success")
    [d] = handle(aws)["decisions"]
    assert d["action"] == "stop" and d["stopped"] is True and state(aws) == "stopped"
    assert aws["lam"].calls == []


def test_another_run_in_progress_keeps_the_instance(aws):
    put_record(aws["s3"], inputs=["data/a.csv"])
    other = send(aws, "mlpipe training run-20240501T120100Z-ffffffff: data/b.csv", "Pending")
    [d] = handle(aws)["decisions"]
    assert d["action"] == "keep_running" and d["commands"] == [other]
    assert state(aws) == "running" and aws["lam"].calls == []


def test_the_runs_own_command_still_reporting_does_not_keep_it_running(aws):
    put_record(aws["s3"], inputs=["data/a.csv"])
    own = send(aws, f"mlpipe training {RUN_ID}: data/a.csv", "InProgress")
    send(aws, "not ours", "InProgress")
    slept = []
    [d] = stop.handle(EVENT, s3=aws["s3"], ec2=aws["ec2"], ssm=aws["ssm"], lam=aws["lam"], instance_id=aws["iid"],
                      input_bucket=IN, worker_function="w", own_wait_s=3,
                      sleep=lambda s: (slept.append(s), set_command_status(own, "Success")))["decisions"]
    assert slept == [stop.OWN_POLL_FIRST_S]  # waited (briefly) for its own command to finish
    assert d["action"] == "stop" and state(aws) == "stopped"


def test_data_that_arrived_during_the_run_is_handed_to_the_worker(aws):
    etag = put_data(aws["s3"], "data/a.csv")
    put_data(aws["s3"], "data/late.csv")
    put_record(aws["s3"], inputs=["data/a.csv"], input_etags={"data/a.csv": etag})
    [d] = handle(aws)["decisions"]
    assert d["action"] == "rerun" and d["leftovers"] == ["data/late.csv"] and state(aws) == "running"
    [call] = aws["lam"].calls
    assert call["FunctionName"] == "mlpipe-worker" and call["InvocationType"] == "Event"
    payload = json.loads(call["Payload"])
    assert payload["trigger_keys"] == ["data/late.csv"] and payload["instance_id"] == aws["iid"]


def test_a_file_overwritten_during_the_run_is_a_leftover(aws):
    put_data(aws["s3"], "data/a.csv", b"new content")
    put_record(aws["s3"], inputs=["data/a.csv"], input_etags={"data/a.csv": "etag-of-the-old-content"})
    assert handle(aws)["decisions"][0]["leftovers"] == ["data/a.csv"]


def test_after_a_bad_file_was_set_aside_the_good_ones_are_trained_by_a_rerun(aws):
    """A burst with one poison file: its run fails and sets it aside; the good files it listed
    were not trained, so they go back to the worker (the bad one is not a leftover)."""
    put_data(aws["s3"], "data/a.csv")
    aws["s3"].put_object(Bucket=IN, Key="rejected/bad.csv", Body=b"x")
    put_record(aws["s3"], status="failed", model_version=None, inputs=["data/a.csv", "data/bad.csv"],
               rejected_files=[{"key": "data/bad.csv", "moved_to": "rejected/bad.csv", "problem": "..."}])
    [d] = handle(aws)["decisions"]
    assert d["action"] == "rerun" and d["leftovers"] == ["data/a.csv"] and state(aws) == "running"


def test_after_a_bad_file_was_set_aside_files_the_last_model_has_are_not_rerun(aws):
    """No duplicate run: data/a.csv (this version) is what the last model trained on."""
    etag = put_data(aws["s3"], "data/a.csv")
    aws["s3"].put_object(Bucket=OUT, Key="runs/run-20240501T115900Z-00000000.json", Body=json.dumps({
        "run_id": "run-20240501T115900Z-00000000", "status": "succeeded", "source": "training",
        "inputs": ["data/a.csv"], "input_etags": {"data/a.csv": etag}}).encode())
    put_record(aws["s3"], status="failed", model_version=None, inputs=["data/a.csv", "data/bad.csv"],
               rejected_files=[{"key": "data/bad.csv", "moved_to": "rejected/bad.csv", "problem": "..."}])
    assert handle(aws)["decisions"][0]["action"] == "stop" and aws["lam"].calls == []


def test_a_poison_file_alone_is_set_aside_and_the_instance_stopped(aws):
    aws["s3"].put_object(Bucket=IN, Key="rejected/bad.csv", Body=b"x")
    put_record(aws["s3"], status="failed", model_version=None, inputs=["data/bad.csv"],
               rejected_files=[{"key": "data/bad.csv", "moved_to": "rejected/bad.csv", "problem": "..."}])
    assert handle(aws)["decisions"][0]["action"] == "stop" and state(aws) == "stopped"


@pytest.mark.parametrize("source", ["worker", "reaper", "run_training.sh"])
def test_records_without_inputs_never_loop_back_to_the_worker(aws, source):
    put_data(aws["s3"], "data/a.csv")
    put_record(aws["s3"], status="failed", model_version=None, inputs=[], source=source)
    assert handle(aws)["decisions"][0]["action"] == "stop" and aws["lam"].calls == []


@pytest.mark.parametrize("before,note", [("stopped", "already stopped"), ("pending", "starting for new data")])
def test_not_running_is_left_alone(aws, before, note):
    put_record(aws["s3"], inputs=[])
    if before == "stopped":
        aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])
    else:
        from moto.ec2.models import ec2_backends

        inst = ec2_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_instance(aws["iid"])
        inst._state.name, inst._state.code = "pending", 0
    [d] = handle(aws)["decisions"]
    assert d["action"] == "stop" and d["stopped"] is False and d["note"].startswith(note)
    assert state(aws) == before


@pytest.mark.parametrize("commands,current,action", [
    ([], {}, "stop"),
    ([{"CommandId": "c1", "Status": "InProgress", "Comment": "mlpipe training run-other"}], {}, "keep_running"),
    ([{"CommandId": "c1", "Status": "InProgress", "Comment": f"mlpipe training {RUN_ID}"}], {}, "stop"),
    ([{"CommandId": "c1", "Status": "Success", "Comment": "mlpipe training run-other"}], {"data/a.csv": "e"}, "stop"),
    ([], {"data/a.csv": "e", "data/b.csv": "f"}, "rerun"),
])
def test_decide(commands, current, action):
    record = {"run_id": RUN_ID, "status": "succeeded", "inputs": ["data/a.csv"], "input_etags": {"data/a.csv": "e"}}
    assert stop.decide(record, commands=commands, current_data=current)[0] == action


def test_handler_reads_its_environment(aws, monkeypatch):
    put_record(aws["s3"], inputs=[])
    monkeypatch.setattr(glue_aws, "_CLIENTS", {"lambda": aws["lam"]})
    monkeypatch.setenv("INSTANCE_ID", aws["iid"])
    monkeypatch.setenv("INPUT_BUCKET", IN)
    monkeypatch.setenv("WORKER_FUNCTION", "w")
    out = stop.handler(EVENT, None)
    assert out["decisions"][0]["action"] == "stop" and state(aws) == "stopped"


def test_a_training_step_killed_by_a_signal_is_re_run_once_like_a_hand_stop(aws):
    """Issue 19: `kill -9` of the training process made the exit trap record `failed` (exit
    137) and nothing re-ran its data; a hand stop (the reaper) re-runs it once. Now the same:
    the worker gets the run's keys with ``retry_of``; a killed retry is not re-run again."""
    put_data(aws["s3"], "data/a.csv")
    put_record(aws["s3"], status="failed", model_version=None, inputs=[], source="run_training.sh",
               exit_code=137, trigger_keys=["data/a.csv"])
    d = handle(aws)["decisions"][0]
    assert d["action"] == "rerun" and "killed (exit 137)" in d["reason"]
    [call] = aws["lam"].calls
    payload = call["payload"] if "payload" in call else json.loads(call["Payload"])
    assert payload["trigger_keys"] == ["data/a.csv"] and payload["retry_of"] == RUN_ID
    put_record(aws["s3"], status="failed", model_version=None, inputs=[], source="run_training.sh",
               exit_code=137, trigger_keys=["data/a.csv"], retry_of="run-20240501T115900Z-00000000")
    d = handle(aws)["decisions"][0]
    assert d["action"] == "stop" and "already the retry" in d["reason"] and len(aws["lam"].calls) == 1


def test_a_crash_with_an_exit_code_is_not_re_run(aws):
    put_data(aws["s3"], "data/a.csv")
    put_record(aws["s3"], status="failed", model_version=None, inputs=[], source="run_training.sh",
               exit_code=1, trigger_keys=["data/a.csv"])
    assert handle(aws)["decisions"][0]["action"] == "stop" and aws["lam"].calls == []
