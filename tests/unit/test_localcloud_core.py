"""localcloud core: CLI lifecycle (up --detach, status, reset, down), ensure_running,
the resource-policy check and event shape of S3 delivery, the Lambda runtime dir."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from localcloud import core
from localcloud.awslambda import runtime_sdk
from localcloud.s3.notifications import complete_event_shape, s3_may_invoke


class _Policy:
    def __init__(self, statements):
        self.statements = statements


class _Fn:
    def __init__(self, statements):
        self.policy = _Policy(statements)


def _stmt(**over):
    st = {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
          "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:...:function:f"}
    st.update(over)
    return st


@pytest.mark.parametrize("statements, allowed", [
    ([], False),
    ([_stmt()], True),
    ([_stmt(Principal={"Service": "sns.amazonaws.com"})], False),
    ([_stmt(Effect="Deny")], False),
    ([_stmt(Action="lambda:GetFunction")], False),
    ([_stmt(Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::in"}})], True),
    ([_stmt(Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::other"}})], False),
    ([_stmt(Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::i*"}})], True),
    ([_stmt(Condition={"StringEquals": {"AWS:SourceAccount": "999999999999"}})], False),
])
def test_s3_permission_check(statements, allowed):
    assert s3_may_invoke(_Fn(statements), "arn:aws:s3:::in", "123456789012") is allowed


def test_event_shape_completed_as_aws_sends_it():
    fresh = lambda: {"Records": [{"eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": "b", "arn": "arn:aws:s3:::b"},
                                "object": {"key": "data%2Fmy+file.csv", "size": 1, "eTag": "e"}}}]}  # noqa: E731
    rec = complete_event_shape(fresh(), "123456789012")["Records"][0]
    assert rec["s3"]["object"]["key"] == "data/my+file.csv"
    assert len(rec["s3"]["object"]["sequencer"]) >= 16
    assert rec["userIdentity"]["principalId"]
    other = complete_event_shape(fresh(), "123456789012")["Records"][0]
    assert other["s3"]["object"]["sequencer"] > rec["s3"]["object"]["sequencer"]


def test_the_runtime_sdk_is_its_own_install_of_the_pinned_sdk_alone():
    """make setup installs boto3/botocore at the runtime's versions into build/lambda-runtime:
    their own files (no link into the operator's venv), and nothing else of the venv."""
    d = runtime_sdk.require()
    assert runtime_sdk.installed(d) == runtime_sdk.LAMBDA_SDK
    names = {p.name for p in d.iterdir()}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"} <= names
    assert not names & {"moto", "numpy", "sklearn", "localcloud", "mlpipe", "werkzeug"}
    assert not any(p.is_symlink() for p in d.iterdir())
    for pkg in ("boto3", "botocore"):
        assert f"{pkg}-{runtime_sdk.LAMBDA_SDK[pkg]}.dist-info" in names


def test_default_port_reads_env(monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_PORT", raising=False)
    assert core.default_port() == 4566
    monkeypatch.setenv("LOCALCLOUD_PORT", "5001")
    assert core.default_port() == 5001
    monkeypatch.setenv("LOCALCLOUD_PORT", "abc")
    with pytest.raises(ValueError, match="LOCALCLOUD_PORT"):
        core.default_port()


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_detached_lifecycle(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_HOME", str(tmp_path))  # where this process finds the key
    port = core.free_port()
    env = {**os.environ, "LOCALCLOUD_HOME": str(tmp_path), "LOCALCLOUD_PORT": str(port)}
    endpoint = f"http://127.0.0.1:{port}"
    assert _cli("status", env=env).returncode == 1
    up = _cli("up", "--detach", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert f"export AWS_ENDPOINT_URL={endpoint}" in up.stdout
        pid = int((tmp_path / str(port) / "pid").read_text())
        status = _cli("status", env=env)
        assert status.returncode == 0 and str(pid) in status.stdout

        # ensure_running reuses the one that answers
        from localcloud import ensure_running
        assert ensure_running(port) == endpoint
        assert int((tmp_path / str(port) / "pid").read_text()) == pid

        from localcloud.core.operator import for_port
        key = for_port(port)
        assert key is not None and f"operator key in {tmp_path / str(port) / 'credentials'}" \
            in up.stdout
        env_out = _cli("env", env=env).stdout
        assert f"export AWS_ACCESS_KEY_ID={key.access_key_id}" in env_out
        assert f"export AWS_ENDPOINT_URL={endpoint}" in env_out
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=key.access_key_id,
                          aws_secret_access_key=key.secret_access_key, aws_session_token=None)
        s3.create_bucket(Bucket="kept-until-reset")
        reset = _cli("reset", env=env)
        assert reset.returncode == 0, reset.stderr
        assert s3.list_buckets()["Buckets"] == []
    finally:
        down = _cli("down", env=env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert core.health(endpoint) is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"server process {pid} still alive after down")
    log = (tmp_path / str(port) / "localcloud.log").read_text()
    assert "GET /" not in log and "POST /" not in log  # no per-request lines
    assert "docker" not in log.lower()


def test_context_manager_serves_and_stops():
    with core.LocalCloud() as cloud:
        assert core.health(cloud.endpoint_url)["port"] == cloud.port
        state = cloud.state_dir
        assert state.is_dir()
        env = cloud.env_for_compute()
        assert env["AWS_ENDPOINT_URL"] == cloud.endpoint_url and env["AWS_REGION"] == "us-east-1"
        with pytest.raises(RuntimeError, match="already running"):
            core.LocalCloud().start()
    assert core.health(f"http://127.0.0.1:{cloud.port}") is None
    assert not Path(state).exists()


def test_a_runtime_exit_is_worded_as_aws_words_it():
    from localcloud.awslambda.runtime import _exit_reason
    from localcloud.core._contain import MEMORY_EXIT

    assert _exit_reason(MEMORY_EXIT) == "signal: killed"  # killed over MemorySize
    assert _exit_reason(128 + 9) == "signal: killed"      # a contained environment, SIGKILL
    assert _exit_reason(-9) == "signal: killed"           # an uncontained worker, SIGKILL
    assert _exit_reason(128 + 11) == "signal: segmentation fault"
    assert _exit_reason(3) == "exit status 3"


def test_memory_counts_shared_pages_once():
    """The supervisor's measure: proportional set size, so a forked child's shared pages are
    not counted twice (a tree of forks is not 'over memory' by sharing)."""
    import os
    import time

    from localcloud.core._contain import memory_bytes

    block = b"\x01" * (64 << 20)  # noqa: F841 - resident in this process
    alone = memory_bytes(os.getpid())
    pid = os.fork()
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    try:
        time.sleep(0.2)
        both = memory_bytes(os.getpid())
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert alone > 64 << 20
    assert both < alone + (32 << 20)  # the child's copy of the 64 MB is shared, not doubled
