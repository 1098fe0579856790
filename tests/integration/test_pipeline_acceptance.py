"""Issue 4's acceptance, tried as a new user would, on the local cloud (one stack for the module).

Deploy the glue, deploy it again (nothing created), then upload through the whole chain
(trigger -> worker -> SSM -> ec2_scripts -> stop_ec2, the reaper as the safety net):
a good batch, a batch with a wrong column, five uploads within two seconds, a training
step that raises, a training step that hangs past COMMAND_TIMEOUT. Each must end with
a run record that says what happened and the instance stopped. Finally destroy leaves
nothing, also after a deploy interrupted halfway.

The tests run in file order and share the stack (deploying once keeps the module short).
"""
from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import buckets, clients, deploy, iam, instance, teardown, watch
from mlpipe.config import load_settings
from mlpipe.demo import make_bad_batch
from mlpipe.names import names_for
from mlpipe.stack import Stack
from model_code.dataset import write_split

pytestmark = pytest.mark.integration

STACK = "itaccept"
HALF_STACK = "itaccepthalf"
RUN_TIMEOUT = 90  # s: one run takes ~5-15 s here; generous for a loaded machine
ACTIVE = ("Pending", "InProgress", "Delayed", "Cancelling")


def _settings(endpoint: str, stack: str = STACK):
    return load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint, "MLPIPE_STACK": stack,
                          "MLPIPE_READY_TIMEOUT": "60", "MLPIPE_IDLE_GRACE_SECONDS": "90",
                          "MLPIPE_COMMAND_TIMEOUT": "120"})


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split"), n_batches=8)


@pytest.fixture(scope="module")
def stack(local_cloud):  # noqa: F811
    settings = _settings(local_cloud.endpoint_url)
    clients.clear_cache()
    names = names_for(settings)
    t0 = time.monotonic()
    reports = deploy.deploy(settings, part="glue", progress=quiet)
    first_s = time.monotonic() - t0
    try:
        yield {"settings": settings, "names": names, "first_reports": reports, "first_s": first_s}
    finally:
        teardown.destroy(settings, progress=quiet)  # also when a test failed


def s3(st):
    return clients.client("s3", st["settings"])


def state(st) -> str:
    inst = instance.find_instance(Stack(st["settings"], st["names"]))
    return inst["State"]["Name"] if inst else "absent"


def active_commands(st) -> list:
    ssm = clients.client("ssm", st["settings"])
    inst = instance.find_instance(Stack(st["settings"], st["names"]))
    cmds = ssm.list_commands(InstanceId=inst["InstanceId"]).get("Commands", [])
    return [c for c in cmds if (c.get("Comment") or "").startswith("mlpipe training") and c["Status"] in ACTIVE]


def settle(st, quiet_s: float = 2.0, timeout: float = 60) -> None:
    """Wait until the chain is idle: instance stopped and no pipeline command active, for
    ``quiet_s`` in a row (a late S3 event could still start it again)."""
    deadline = time.monotonic() + timeout
    calm_since = None
    while time.monotonic() < deadline:
        if state(st) == "stopped" and not active_commands(st):
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet_s:
                return
        else:
            calm_since = None
        time.sleep(0.25)
    raise AssertionError(f"the chain did not settle in {timeout} s: instance {state(st)}, "
                         f"active commands {active_commands(st)}")


def sent_since(st, since) -> list:
    """Pipeline commands sent to the instance at or after ``since``."""
    ssm = clients.client("ssm", st["settings"])
    inst = instance.find_instance(Stack(st["settings"], st["names"]))
    cmds = ssm.list_commands(InstanceId=inst["InstanceId"]).get("Commands", [])
    return [c for c in cmds if (c.get("Comment") or "").startswith("mlpipe training")
            and c["RequestedDateTime"] >= since.replace(microsecond=0)]


def latest(st) -> bytes | None:
    try:
        return s3(st).get_object(Bucket=st["names"].output_bucket, Key=st["names"].latest_key)["Body"].read()
    except s3(st).exceptions.NoSuchKey:
        return None


def code_archive_variant(patch_from: str, patch_to: str) -> bytes:
    """The deployed code archive with one edit in model_code/tabular.py (a training step that
    raises or hangs), as a user who ships broken training code would."""
    src = zipfile.ZipFile(io.BytesIO(buckets.build_code_archive()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "model_code/tabular.py":
                text = data.decode()
                assert patch_from in text, f"model_code/tabular.py no longer contains {patch_from!r}"
                data = text.replace(patch_from, patch_to, 1).encode()
            dst.writestr(info, data)
    return out.getvalue()


def put_code(st, data: bytes) -> None:
    s3(st).put_object(Bucket=st["names"].input_bucket, Key=st["names"].code_key, Body=data)


# --- deploy -----------------------------------------------------------------------------------

def test_first_deploy_creates_the_glue_and_leaves_the_instance_stopped(stack):
    created = {(r.kind, r.name) for r in stack["first_reports"] if r.action == "created"}
    names = stack["names"]
    for fn in ("trigger", "worker", "stop_ec2", "reaper"):
        assert ("lambda function", names.function(fn)) in created
    assert any(kind == "ec2 instance" for kind, _ in created)
    assert state(stack) == "stopped"
    # the worker records its own failures: its async invokes are not retried
    lam = clients.client("lambda", stack["settings"])
    cfg = lam.get_function_event_invoke_config(FunctionName=names.worker_function)
    assert cfg["MaximumRetryAttempts"] == 0


def test_second_deploy_creates_nothing_and_says_so(stack):
    lines: list = []
    t0 = time.monotonic()
    reports = deploy.deploy(stack["settings"], part="glue", progress=lines.append)
    again_s = time.monotonic() - t0
    changed = [str(r) for r in reports if r.action != "found"]
    assert changed == []
    assert lines[-1].startswith("nothing changed"), lines[-3:]
    print(f"deploy glue: first {stack['first_s']:.1f} s, again {again_s:.1f} s")


# --- the chain --------------------------------------------------------------------------------

def test_an_upload_trains_promotes_and_stops_the_instance(stack, split):
    settle(stack)
    t0 = time.monotonic()
    record = watch.upload_and_wait(Stack.load(stack["settings"], progress=quiet), [split["batches"][0]], timeout=RUN_TIMEOUT)
    took = time.monotonic() - t0
    assert record["status"] == "succeeded", record
    assert record["model_version"] and record["inputs"] == ["data/batch_01.csv"]
    assert set(record["metrics"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert record["metrics"]["roc_auc"] > 0.9
    pointer = json.loads(latest(stack))
    assert pointer["version"] == record["model_version"]
    assert pointer["model_key"] == f"models/{record['model_version']}/model.joblib"
    assert state(stack) == "stopped"
    timeline = dict(watch.run_timeline(Stack.load(stack["settings"]), record))
    print(f"upload -> instance stopped {took:.1f} s; timeline {timeline}")


def test_a_csv_with_a_wrong_column_fails_its_run_and_is_set_aside(stack, split, tmp_path):
    settle(stack)
    before = latest(stack)
    assert before is not None  # the previous test promoted a model
    bad = make_bad_batch(split["batches"][1], tmp_path / "batch_bad.csv", "wrong_column")
    record = watch.upload_and_wait(Stack.load(stack["settings"], progress=quiet), [bad], force=True, timeout=RUN_TIMEOUT)
    assert record["status"] == "failed" and record["model_version"] is None
    assert "data/batch_bad.csv" in record["error"] and "mean radius" in record["error"]
    assert "rejected/batch_bad.csv" in record["error"]  # where the file went, for the person
    assert state(stack) == "stopped"
    assert latest(stack) == before
    inp = stack["names"].input_bucket
    keys = [o["Key"] for o in s3(stack).list_objects_v2(Bucket=inp).get("Contents", [])]
    assert "rejected/batch_bad.csv" in keys and "data/batch_bad.csv" not in keys
    from mlpipe.runs import list_rejected
    assert any("batch_bad" in json.dumps(r, default=str) for r in list_rejected(Stack.load(stack["settings"])))


def test_five_uploads_within_two_seconds_are_all_trained_on(stack, split):
    settle(stack)
    names = stack["names"]
    since = watch.utcnow()
    t0 = time.monotonic()
    keys = []
    for path in split["batches"][2:7]:
        keys += buckets.upload_data(Stack(stack["settings"], names), [path])
    assert time.monotonic() - t0 < 2.0 and len(keys) == 5
    record = watch.wait_for_run(Stack.load(stack["settings"], progress=quiet), since, expect_inputs=keys, timeout=RUN_TIMEOUT * 2)
    assert set(keys) <= set(record["inputs"])
    assert record["status"] in ("succeeded", "rejected"), record
    settle(stack)
    runs = watch.runs_since(Stack.load(stack["settings"]), since)
    assert 1 <= len(runs) <= 5, [r["run_id"] for r in runs]
    assert all(r["status"] in ("succeeded", "rejected") for r in runs), runs


def test_a_training_error_fails_the_run_and_stops_the_instance(stack, split):
    settle(stack)
    before = latest(stack)
    put_code(stack, code_archive_variant("    pipe.fit(X, y)\n",
                                         "    raise RuntimeError('injected: the solver blew up')\n"))
    try:
        record = watch.upload_and_wait(Stack.load(stack["settings"], progress=quiet), [split["batches"][7]], timeout=RUN_TIMEOUT)
    finally:
        buckets.upload_code_archive(Stack(stack["settings"], stack["names"]))
    assert record["status"] == "failed" and record["model_version"] is None
    assert "RuntimeError" in record["error"] and "the solver blew up" in record["error"]
    assert state(stack) == "stopped"
    assert latest(stack) == before


def test_a_hung_command_is_timed_out_recorded_and_stopped(stack, split, tmp_path):
    """COMMAND_TIMEOUT 3 s, a training step that sleeps: SSM kills the command (no record is
    written: the kill takes the shell's trap too), and the reaper, on its next tick, records
    the time-out and stops the instance. The reaper's grace is cut to 1 s and its minute tick
    is played by invoking it every second, so the bound is COMMAND_TIMEOUT + grace + tick."""
    settle(stack)
    settings, names = stack["settings"], stack["names"]
    lam = clients.client("lambda", settings)

    def set_env(fn, **changes):
        env = lam.get_function_configuration(FunctionName=names.function(fn))["Environment"]["Variables"]
        lam.update_function_configuration(FunctionName=names.function(fn),
                                          Environment={"Variables": {**env, **changes}})

    set_env("worker", COMMAND_TIMEOUT="3")
    set_env("reaper", IDLE_GRACE_SECONDS="1")
    put_code(stack, code_archive_variant("    pipe.fit(X, y)\n", "    import time; time.sleep(600)\n"))
    path = tmp_path / "batch_hang.csv"
    path.write_bytes(open(split["batches"][0], "rb").read())
    since = watch.utcnow()
    t0 = time.monotonic()
    try:
        buckets.upload_data(Stack(settings, names), [path])
        record = None
        while time.monotonic() - t0 < RUN_TIMEOUT:
            found = [r for r in watch.runs_since(Stack.load(settings), since) if r["status"] == "failed"]
            if found:
                record = found[-1]
                break
            if sent_since(stack, since):  # the schedule's tick, played every second once the
                lam.invoke(FunctionName=names.reaper_function, Payload=b"{}")  # command was sent
            time.sleep(1.0)
        assert record is not None, f"no failed record {RUN_TIMEOUT} s after the upload"
        recorded_s = time.monotonic() - t0
        assert record["source"] == "reaper" and "timed out after 3 s" in record["error"], record
        # the reaper hands a lost run's data to the worker once: the retry hangs too, is
        # recorded (retry_of), not retried again, and the instance ends stopped
        retry = None
        while time.monotonic() - t0 < RUN_TIMEOUT and (retry is None or state(stack) != "stopped"):
            lam.invoke(FunctionName=names.reaper_function, Payload=b"{}")
            retry = next((r for r in watch.runs_since(Stack.load(settings), since) if r.get("retry_of") == record["run_id"]),
                         None)
            time.sleep(1.0)
        stopped_s = time.monotonic() - t0
        assert retry is not None and retry["source"] == "reaper" and "timed out after 3 s" in retry["error"]
        assert state(stack) == "stopped"
        # bound: twice (3 s timeout + 1 s grace + 1 s tick) + the chain's own starts (~1-5 s each)
        assert stopped_s < 45, f"stopped {stopped_s:.1f} s after the upload"
        print(f"hung command: recorded after {recorded_s:.1f} s, instance stopped after {stopped_s:.1f} s")
    finally:
        buckets.upload_code_archive(Stack(settings, names))
        deploy.deploy(settings, part="glue", progress=quiet)  # puts the configured env back
    settle(stack)


def test_a_worker_failure_is_recorded_once_not_retried(stack):
    """MaximumRetryAttempts=0: a worker that fails writes one failed record, and the local
    cloud does not invoke it again (with Lambda's default, 2 retries, there would be 3)."""
    settle(stack)
    settings, names = stack["settings"], stack["names"]
    since = watch.utcnow()
    payload = {"instance_id": "i-0000000000000dead", "trigger_keys": ["data/retry-probe.csv"],
               "requested_at": "2024-05-01T12:00:00Z"}
    clients.client("lambda", settings).invoke(FunctionName=names.worker_function, InvocationType="Event",
                                              Payload=json.dumps(payload).encode())
    deadline = time.monotonic() + 30
    mine = []
    while time.monotonic() < deadline and not mine:
        mine = [r for r in watch.runs_since(Stack.load(settings), since) if r.get("trigger_keys") == ["data/retry-probe.csv"]]
        time.sleep(0.5)
    assert mine and mine[0]["source"] == "worker" and mine[0]["status"] == "failed"
    time.sleep(3)  # the test cloud retries after 0.2 s and 0.4 s: long past
    mine = [r for r in watch.runs_since(Stack.load(settings), since) if r.get("trigger_keys") == ["data/retry-probe.csv"]]
    assert len(mine) == 1, [r["run_id"] for r in mine]
    settle(stack)


# --- destroy ----------------------------------------------------------------------------------

def _assert_nothing_left(settings) -> None:
    assert teardown.verify_destroyed(settings) == []
    names = names_for(settings)
    ec2 = clients.client("ec2", settings)
    res = ec2.describe_instances(Filters=[{"Name": "tag:stack", "Values": [names.stack]}])["Reservations"]
    states = {i["State"]["Name"] for r in res for i in r["Instances"]}
    assert states <= {"terminated", "shutting-down"}, states


def test_destroy_after_a_deploy_interrupted_halfway_leaves_nothing(local_cloud):  # noqa: F811
    settings = _settings(local_cloud.endpoint_url, HALF_STACK)
    names = names_for(settings)
    # the first half of deploy_glue: buckets, the instance's role and profile, the instance
    buckets.ensure(Stack(settings, names))
    iam.ensure_roles(Stack(settings, names), keys=("ec2",))
    iam.ensure_instance_profile(Stack(settings, names))
    instance.ensure(Stack(settings, names, quiet))[-1]
    assert teardown.verify_destroyed(settings)  # something to destroy
    teardown.destroy(settings, progress=quiet)
    _assert_nothing_left(settings)


def test_destroy_leaves_nothing_of_the_stack(stack):
    teardown.destroy(stack["settings"], progress=quiet)
    _assert_nothing_left(stack["settings"])
    # the instance is gone, not just stopped
    assert instance.find_instances(Stack(stack["settings"], stack["names"])) == []
