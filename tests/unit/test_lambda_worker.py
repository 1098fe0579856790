"""Worker Lambda: waits for the instance, coalesces, sends the SSM command; records failures.
The last test runs the command it sends with bash against a moto server: a real training run."""
import datetime as dt
import io
import itertools
import time
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from glue_fakes import AMI, FakeTime, commands_stay_pending, set_command_status, set_state
from glue_contract import aws as glue_aws
from glue_contract import keys, lock, poll, runs, times
from lambda_code.worker import handler as worker

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(worker.__file__).parent / "events"
IN, OUT = "mlpipe-input-t", "mlpipe-output-t"


class FlakySSM:
    """Answers InvalidInstanceId (agent not registered yet) ``failures`` times, then delegates."""

    def __init__(self, real, failures):
        self.real, self.failures, self.sends = real, failures, 0

    def send_command(self, **kw):
        self.sends += 1
        if self.sends <= self.failures:
            raise ClientError({"Error": {"Code": "InvalidInstanceId", "Message": "Instances not in a valid state"}},
                              "SendCommand")
        return self.real.send_command(**kw)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=OUT)
        ssm = boto3.client("ssm", region_name="us-east-1")
        config = worker.config_from_env({
            "INSTANCE_ID": iid, "INPUT_BUCKET": IN, "OUTPUT_BUCKET": OUT, "CODE_KEY": "code/mlpipe-code.zip",
            "COMMAND_TIMEOUT": "900", "READY_TIMEOUT": "60", "PROMOTION_TOLERANCE": "0.01", "MODEL_KIND": "logreg",
        })
        yield {"ec2": ec2, "ssm": ssm, "s3": s3, "iid": iid, "config": config}


def sample_event():
    return json.loads((EVENTS / "from_trigger.json").read_text())


def run(aws, ev=None, ssm=None, fake=None, **kw):
    fake = fake or FakeTime()
    ev = ev or {**sample_event(), "instance_id": aws["iid"], "requested_at": times.iso()}
    return worker.handle(ev, ec2=aws["ec2"], ssm=ssm or aws["ssm"], s3=aws["s3"], config=aws["config"],
                         deadline=fake.clock() + aws["config"]["ready_timeout"], sleep=fake.sleep,
                         clock=fake.clock, **kw)


def records(s3):
    return [json.loads(s3.get_object(Bucket=OUT, Key=o["Key"])["Body"].read())
            for o in s3.list_objects_v2(Bucket=OUT, Prefix="runs/").get("Contents", [])]


def test_sends_the_training_command(aws):
    out = run(aws)
    assert out["action"] == "sent" and out["run_id"].startswith("run-")
    [cmd] = aws["ssm"].list_commands(InstanceId=aws["iid"])["Commands"]
    assert cmd["CommandId"] == out["command_id"] and cmd["DocumentName"] == "AWS-RunShellScript"
    assert cmd["Comment"].startswith(f"mlpipe training {out['run_id']}: data/batch_01.csv")
    assert len(cmd["Comment"]) <= 100
    assert cmd["Parameters"]["executionTimeout"] == ["900"]
    assert worker.config_from_env({"INSTANCE_ID": "i", "INPUT_BUCKET": "a", "OUTPUT_BUCKET": "b"})[
        "command_timeout"] == 900  # the contract's default (Settings reads the same one)
    script = "\n".join(cmd["Parameters"]["commands"])
    assert script.startswith("set -euo pipefail")
    for needle in (f"MLPIPE_RUN_ID={out['run_id']}", f"MLPIPE_INPUT_BUCKET={IN}", f"MLPIPE_OUTPUT_BUCKET={OUT}",
                   "MLPIPE_PROMOTION_TOLERANCE=0.01", "MLPIPE_MODEL_KIND=logreg", f"MLPIPE_INSTANCE_ID={aws['iid']}",
                   "zipfile.ZipFile(", "extractall(", "bash ec2_scripts/run_training.sh",
                   "/opt/mlpipe/venv/bin"):
        assert needle in script
    assert "aws s3" not in script and "ssh" not in script
    assert records(aws["s3"]) == []


def test_long_trigger_key_lists_are_cut_in_the_comment(aws):
    ev = {**sample_event(), "instance_id": aws["iid"], "trigger_keys": [f"data/batch_{i:03d}.csv" for i in range(20)]}
    out = run(aws, ev)
    [cmd] = aws["ssm"].list_commands(InstanceId=aws["iid"])["Commands"]
    assert len(cmd["Comment"]) == 100 and cmd["Comment"].endswith("...") and out["run_id"] in cmd["Comment"]


def test_a_stopped_instance_is_started_and_waited_for(aws):
    aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])
    out = run(aws)
    assert out["action"] == "sent"
    assert glue_aws.instance_state(aws["ec2"], aws["iid"]) == "running"


def test_waits_through_pending_then_sends(aws):
    set_state(aws["iid"], "pending", 0)
    fake = FakeTime(on_sleep=lambda t: t >= 9 and set_state(aws["iid"], "running", 16))
    out = run(aws, fake=fake)
    assert out["action"] == "sent" and fake.t >= 9


def test_polls_start_short_and_back_off_to_the_cap():
    assert list(itertools.islice(poll.delays(worker.FIRST_POLL_S, worker.POLL_S), 7)) == [
        0.25, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert list(itertools.islice(poll.delays(worker.FIRST_POLL_S, 0.1), 3)) == [0.1, 0.1, 0.1]


def test_waits_for_pending_with_short_first_polls(aws):
    set_state(aws["iid"], "pending", 0)
    fake = FakeTime(on_sleep=lambda t: t >= 0.7 and set_state(aws["iid"], "running", 16))
    out = run(aws, fake=fake)
    assert out["action"] == "sent" and fake.t == pytest.approx(0.75)  # 0.25 + 0.5, not one 3 s pause


def test_retries_send_while_ssm_says_invalid_instance_id(aws):
    flaky = FlakySSM(aws["ssm"], failures=3)
    fake = FakeTime()
    out = run(aws, ssm=flaky, fake=fake)
    assert out["action"] == "sent" and flaky.sends == 4 and fake.t == pytest.approx(sum(itertools.islice(poll.delays(worker.FIRST_POLL_S, worker.POLL_S), 3)))


def test_an_instance_stopped_while_waiting_for_ssm_is_started_again(aws):
    class StoppedUnderneath(FlakySSM):
        def send_command(self, **kw):
            if self.sends == 0:  # a racing stop: the instance goes away before the agent answers
                aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])
            return super().send_command(**kw)

    flaky = StoppedUnderneath(aws["ssm"], failures=1)
    out = run(aws, ssm=flaky)
    assert out["action"] == "sent" and flaky.sends == 2
    assert glue_aws.instance_state(aws["ec2"], aws["iid"]) == "running"


def test_ssm_never_ready_records_a_failed_run_and_reraises(aws):
    flaky = FlakySSM(aws["ssm"], failures=10**6)
    fake = FakeTime()
    with pytest.raises(TimeoutError, match="SSM did not accept commands"):
        run(aws, ssm=flaky, fake=fake)
    assert fake.t <= aws["config"]["ready_timeout"] + worker.POLL_S
    [rec] = records(aws["s3"])
    assert rec["status"] == "failed" and rec["source"] == "worker" and rec["model_version"] is None
    assert "SSM did not accept commands" in rec["error"] and rec["trigger_keys"] == ["data/batch_01.csv"]
    assert {"run_id", "status", "started_at", "finished_at", "inputs", "model_version", "metrics", "error"} <= set(rec)


def test_instance_that_never_runs_records_a_failed_run(aws):
    set_state(aws["iid"], "pending", 0)
    with pytest.raises(TimeoutError, match="not running"):
        run(aws)
    assert records(aws["s3"])[0]["status"] == "failed"


def test_any_other_error_is_recorded_too(aws):
    aws["ec2"].terminate_instances(InstanceIds=[aws["iid"]])
    with pytest.raises(RuntimeError, match="terminated"):
        run(aws)
    assert "terminated" in records(aws["s3"])[0]["error"]


def test_coalesces_when_two_runs_are_already_pending_or_in_progress(aws):
    first, second = run(aws), run(aws)
    set_command_status(first["command_id"], "InProgress")
    set_command_status(second["command_id"], "Pending")
    out = run(aws)
    assert out["action"] == "coalesced" and set(out["active"]) == {first["command_id"], second["command_id"]}
    assert len(aws["ssm"].list_commands(InstanceId=aws["iid"])["Commands"]) == 2


def test_a_command_requested_after_the_keys_arrived_trains_them(aws):
    ev = {**sample_event(), "instance_id": aws["iid"], "requested_at": times.iso()}
    time.sleep(0.01)
    first = run(aws)  # requested after ev's keys were in the bucket
    set_command_status(first["command_id"], "InProgress")
    out = run(aws, ev)
    assert out["action"] == "coalesced" and "was requested after these keys arrived" in out["reason"]
    assert len(aws["ssm"].list_commands(InstanceId=aws["iid"])["Commands"]) == 1


@pytest.fixture
def atomic_conditional_puts(monkeypatch):
    """S3 makes a conditional PutObject atomic (one of racing If-None-Match writers wins);
    moto 5.2 checks and then stores without a lock, so racing threads could all "win", and an
    overwrite closes the old object's buffer while another thread may still be reading it
    ("I/O operation on closed file"). Give moto's object requests AWS's guarantee (one at a
    time per request, as the local cloud's request gate does) for the tests that race."""
    import threading

    from moto.s3.responses import S3Response

    real, guard = S3Response.key_response, threading.Lock()

    def key_response(self, *args, **kwargs):
        with guard:
            return real(self, *args, **kwargs)

    monkeypatch.setattr(S3Response, "key_response", key_response)


def test_ten_workers_at_once_send_one_command(aws, atomic_conditional_puts, monkeypatch):
    """Fault 13: the check "is a run already queued?" and the send are one step under the S3
    lock, so ten concurrent workers for uploads that all arrived before any command send one."""
    import threading

    commands_stay_pending(monkeypatch)
    requested_at = times.iso()
    time.sleep(0.01)
    barrier = threading.Barrier(10)
    results, errors = [], []

    def one(i):
        ec2 = boto3.client("ec2", region_name="us-east-1")
        ssm = boto3.client("ssm", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        ev = {"instance_id": aws["iid"], "trigger_keys": [f"data/burst_{i}.csv"], "requested_at": requested_at}
        barrier.wait()
        try:
            results.append(worker.handle(ev, ec2=ec2, ssm=ssm, s3=s3, config=aws["config"]))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(r["action"] for r in results) == ["coalesced"] * 9 + ["sent"]
    assert len(aws["ssm"].list_commands(InstanceId=aws["iid"])["Commands"]) == 1
    assert records(aws["s3"]) == []


def test_the_send_lock_is_exclusive_expires_and_is_released(aws):
    s3, key = aws["s3"], keys.SEND_LOCK_KEY
    now = times.utcnow()
    a = lock.try_acquire(s3, OUT, key, "a", ttl_s=60, now=now)
    assert a and lock.try_acquire(s3, OUT, key, "b", ttl_s=60, now=now) is None  # held
    later = now + dt.timedelta(seconds=61)
    b = lock.try_acquire(s3, OUT, key, "b", ttl_s=60, now=later)  # expired: taken over (If-Match)
    assert b and b != a
    assert lock.release(s3, OUT, key, "a", a) is False  # a no longer holds it: b's lock stays
    assert lock.try_acquire(s3, OUT, key, "c", ttl_s=60, now=later) is None
    assert lock.release(s3, OUT, key, "b", b) is True
    assert lock.try_acquire(s3, OUT, key, "c", ttl_s=60, now=later)


def test_a_held_lock_makes_the_worker_wait_then_fail_at_its_deadline(aws):
    assert lock.try_acquire(aws["s3"], OUT, keys.SEND_LOCK_KEY, "someone", ttl_s=3600)
    with pytest.raises(TimeoutError, match="held by another invocation"):
        run(aws)
    assert records(aws["s3"])[0]["status"] == "failed"


def test_one_run_in_progress_still_queues_the_next(aws):
    first = run(aws)
    set_command_status(first["command_id"], "InProgress")
    time.sleep(0.01)
    assert run(aws)["action"] == "sent"
    # commands that are not the pipeline's do not count
    for _ in range(2):
        c = aws["ssm"].send_command(InstanceIds=[aws["iid"]], DocumentName="AWS-RunShellScript",
                                    Comment="someone else", Parameters={"commands": ["true"]})
        set_command_status(c["Command"]["CommandId"], "InProgress")
    assert len([c for c in runs.pipeline_commands(aws["ssm"], aws["iid"]) if runs.is_active(c)]) == 1


def test_config_says_what_is_missing():
    with pytest.raises(RuntimeError, match="INPUT_BUCKET, OUTPUT_BUCKET"):
        worker.config_from_env({"INSTANCE_ID": "i-1"})


# ---- the command itself, run as the instance host runs it --------------------------------------

def test_the_command_runs_a_real_training_run(aws_credentials, tmp_path):
    from moto.server import ThreadedMotoServer

    from model_code.dataset import write_split

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        s3.create_bucket(Bucket=IN)
        s3.create_bucket(Bucket=OUT)
        split = write_split(tmp_path / "split", n_batches=3)
        s3.upload_file(split["holdout"], IN, "holdout/holdout.csv")
        s3.upload_file(split["batches"][0], IN, "data/batch_1.csv")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:  # the code archive: model_code/ + ec2_scripts/ at the root
            for pkg in ("model_code", "ec2_scripts", "glue_contract"):
                for p in (ROOT / pkg).rglob("*"):
                    if p.is_file() and "__pycache__" not in p.parts:
                        z.write(p, p.relative_to(ROOT).as_posix())
        s3.put_object(Bucket=IN, Key="code/mlpipe-code.zip", Body=buf.getvalue())

        commands = worker.build_commands(
            run_id="run-20240501T120000Z-abcdef01", input_bucket=IN, output_bucket=OUT,
            code_key="code/mlpipe-code.zip", tolerance=0.0, model_kind="logreg", instance_id="i-host",
            trigger_keys=["data/batch_1.csv"], region="us-east-1")
        home = tmp_path / "host"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLPIPE_") and k != "PYTHONPATH"}
        env.update(HOME=str(home), AWS_ENDPOINT_URL=endpoint,
                   PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}")
        p = subprocess.run(["bash", "-c", "\n".join(commands)], cwd=home, env=env, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        rec = json.loads(s3.get_object(Bucket=OUT, Key="runs/run-20240501T120000Z-abcdef01.json")["Body"].read())
        assert rec["status"] == "succeeded" and rec["model_version"] == "v001", rec["error"]
        assert rec["inputs"] == ["data/batch_1.csv"] and rec["trigger_keys"] == ["data/batch_1.csv"]
        assert rec["instance_id"] == "i-host"
        assert json.loads(s3.get_object(Bucket=OUT, Key="models/latest.json")["Body"].read())["version"] == "v001"
        assert (home / "mlpipe" / "runs" / "run-20240501T120000Z-abcdef01" / "ec2_scripts").is_dir()

        # With the archive's ETag, the first run caches the unpacked code; the next run of the
        # same code copies it (works even with the archive gone from S3).
        etag = worker.code_etag(s3, IN, "code/mlpipe-code.zip")
        assert etag and worker.code_etag(s3, IN, "code/missing.zip") == ""
        for run_id in ("run-20240501T120100Z-abcdef02", "run-20240501T120200Z-abcdef03"):
            commands = worker.build_commands(
                run_id=run_id, input_bucket=IN, output_bucket=OUT, code_key="code/mlpipe-code.zip",
                tolerance=0.0, model_kind="logreg", instance_id="i-host", trigger_keys=["data/batch_1.csv"],
                region="us-east-1", code_etag=etag)
            p = subprocess.run(["bash", "-c", "\n".join(commands)], cwd=home, env=env, capture_output=True,
                               text=True, timeout=300)
            assert p.returncode == 0, p.stderr[-3000:]
            assert (home / "mlpipe" / "code" / etag / "ec2_scripts" / "run_training.sh").is_file()
            s3.delete_object(Bucket=IN, Key="code/mlpipe-code.zip")  # the 2nd run must use the cache
        rec = json.loads(s3.get_object(Bucket=OUT, Key=f"runs/{run_id}.json")["Body"].read())
        assert rec["status"] in ("succeeded", "rejected"), rec["error"]
        with pytest.raises(ValueError, match="not an S3 ETag"):
            worker.build_commands(run_id="r", input_bucket=IN, output_bucket=OUT, code_key="k", tolerance=0,
                                  model_kind="logreg", instance_id="i", trigger_keys=[], region="us-east-1",
                                  code_etag="../../etc")
    finally:
        server.stop()


def test_a_run_that_already_ended_after_the_keys_arrived_trained_them():
    """Workers that arrive late (a burst while the instance was stopping): the run requested
    after their keys were in the bucket has ended already; they send nothing."""
    base = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    done = {"CommandId": "c1", "Status": "Success", "Comment": "mlpipe training run-20240501T120005Z-00000001: x",
            "RequestedDateTime": base + dt.timedelta(seconds=5)}
    assert "was requested after these keys arrived" in worker.coalesce_reason([done], times.iso(base))
    assert worker.coalesce_reason([done], times.iso(base + dt.timedelta(seconds=6))) is None
    assert worker.coalesce_reason([done], None) is None


def test_a_late_worker_whose_keys_were_trained_does_not_start_the_stopped_instance(aws):
    requested_at = times.iso()
    time.sleep(0.01)
    first = run(aws)  # the run that lists the keys
    aws["ec2"].stop_instances(InstanceIds=[aws["iid"]])  # it ended; Stop-EC2 stopped the instance
    out = run(aws, {"instance_id": aws["iid"], "trigger_keys": ["data/late.csv"], "requested_at": requested_at})
    assert out["action"] == "coalesced" and first["command_id"] in out["reason"]
    assert glue_aws.instance_state(aws["ec2"], aws["iid"]) == "stopped"
