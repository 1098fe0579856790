"""An instance host (an SSM command on an EC2 instance of the local cloud) is contained as a
function is, tried as a hostile command would: it runs the hosts' own Python (the training
stack and boto3, never the operator's venv: no moto, no mlpipe, nothing it can write), sees
no operator file or cloud state, writes only its host dir and its /tmp, is killed over its
instance type's memory (reported as the instance's OOM killer's SIGKILL: exit 137), cannot
fork past its bound, and leaves no process behind its timeout (a `setsid` grandchild too).

Where user namespaces are refused these fail by name (the README says what then holds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from localcloud.core import sandbox
from localcloud.ec2 import runtime as instance_runtime
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
AMI = "ami-12c6146b"
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    clients = {n: boto3.client(n, **kw) for n in ("ec2", "ssm", "iam")}
    name = f"lc-host-{uuid.uuid4().hex[:6]}"
    clients["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    clients["iam"].create_instance_profile(InstanceProfileName=name)
    clients["iam"].add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    clients["profile"] = name
    return clients


def launch(aws, instance_type: str = "t3.small") -> str:
    iid = aws["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=instance_type,
                                   IamInstanceProfile={"Name": aws["profile"]}
                                   )["Instances"][0]["InstanceId"]
    deadline = time.monotonic() + 20
    while True:
        info = aws["ssm"].describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]
        if info and info[0]["PingStatus"] == "Online":
            return iid
        assert time.monotonic() < deadline, f"{iid} never came online"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def host(aws):
    iid = launch(aws)
    yield iid
    aws["ec2"].terminate_instances(InstanceIds=[iid])


def run(aws, iid, commands, timeout_s: int | None = None, wait: float = 90):
    params = {"commands": commands}
    if timeout_s is not None:
        params["executionTimeout"] = [str(timeout_s)]
    cid = aws["ssm"].send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                  Parameters=params)["Command"]["CommandId"]
    deadline = time.monotonic() + wait
    while True:
        inv = aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=iid)
        if inv["Status"] in TERMINAL:
            return inv
        assert time.monotonic() < deadline, f"command still {inv['Status']}"
        time.sleep(0.1)


def test_hosts_are_contained_here(local_cloud):  # noqa: F811
    assert local_cloud.ec2_hosts.isolate, f"no containment here: {sandbox.describe().get('why')}"


PROBE = r'''
import json, os, sys
out = {"exe": sys.executable, "path": sys.path, "uid": os.getuid()}
def tries(name, fn):
    try:
        fn(); out[name] = "ok"
    except Exception as exc:
        out[name] = type(exc).__name__
import importlib
for mod in ("sklearn", "numpy", "scipy", "joblib", "boto3", "moto", "mlpipe", "localcloud", "IPython"):
    tries("import " + mod, lambda m=mod: importlib.import_module(m))
for p in json.loads(os.environ["PROBE_PATHS"]):
    out["exists " + p] = os.path.exists(p)
def write(p):
    with open(p, "w") as f:
        f.write("x")
for p in json.loads(os.environ["PROBE_WRITES"]):
    tries("write " + p, lambda p=p: write(p))
print(json.dumps(out))
'''


def test_a_host_runs_its_own_runtime_and_sees_nothing_of_the_operator(aws, host, local_cloud):  # noqa: F811
    rt = instance_runtime.runtime_dir()
    site = instance_runtime.site_packages(rt)
    venv = sys.prefix
    marker = os.path.join(os.path.expanduser("~"), f".lc-host-marker-{uuid.uuid4().hex[:8]}")
    open(marker, "w").close()  # the operator's home: only the empty dirs leading to a mount
    # the cloud's state dir: only the way to its own host dir (instances/<id>) exists
    state = [str(p) for p in local_cloud.state_dir.iterdir() if p.name != "instances"]
    others = [str(p) for p in (local_cloud.state_dir / "instances").iterdir() if p.name != host]
    assert state
    hidden = [venv, marker, *state, *others, str(local_cloud.operator_key_path), str(REPO / "pyproject.toml"), str(REPO / ".git"),
              "/var/log", "/run"]
    writes = [f"{site}/evil.pth", f"{rt}/bin/python3-evil", "/usr/evil", "/etc/evil",
              f"{venv}/lib/evil.pth", "/tmp/ok-here", "own-dir-ok"]
    probe = "PROBE_PATHS='" + json.dumps(hidden) + "' PROBE_WRITES='" + json.dumps(writes) + \
        "' python3 - <<'EOF'\n" + PROBE + "\nEOF"
    inv = run(aws, host, [probe])
    assert inv["Status"] == "Success", inv["StandardErrorContent"]
    out = json.loads(inv["StandardOutputContent"].strip().splitlines()[-1])
    assert out["exe"] == str(instance_runtime.python())
    assert not any(p.startswith(venv) for p in out["path"])
    for mod in ("sklearn", "numpy", "scipy", "joblib", "boto3"):
        assert out["import " + mod] == "ok", mod
    for mod in ("moto", "mlpipe", "localcloud", "IPython"):  # the operator's venv: not there
        assert out["import " + mod] == "ModuleNotFoundError", mod
    for p in hidden:
        assert out["exists " + p] is False, p
    for p in writes[:5]:
        assert out["write " + p] in ("OSError", "PermissionError", "FileNotFoundError"), p
    assert out["write /tmp/ok-here"] == "ok" and out["write own-dir-ok"] == "ok"
    assert (local_cloud.ec2_hosts.host_dir(host) / "own-dir-ok").read_text() == "x"
    assert not (site / "evil.pth").exists() and not os.path.exists(f"{venv}/lib/evil.pth")
    os.unlink(marker)
    assert not os.path.exists("/tmp/ok-here")  # its /tmp is its own


def test_a_host_over_its_instance_types_memory_is_killed_as_the_oom_killer_would(aws):
    iid = launch(aws, "t2.nano")  # 512 MiB
    try:
        inv = run(aws, iid, ["python3 -c 'b = bytearray(1024 << 20); import time; "
                             "time.sleep(5); print(\"survived\")'"])
    finally:
        aws["ec2"].terminate_instances(InstanceIds=[iid])
    assert inv["Status"] == "Failed" and inv["ResponseCode"] == 137
    assert "survived" not in inv["StandardOutputContent"]
    assert "out of memory" in inv["StandardErrorContent"] and "512 MiB (t2.nano)" in \
        inv["StandardErrorContent"]


def test_a_host_command_is_bounded_in_processes(aws, host):
    fork = ("python3 -c 'import os, time\nn = 0\ntry:\n    while n < 6000:\n"
            "        if os.fork() == 0:\n            time.sleep(2); os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print(\"EAGAIN at\", n, e.errno)\n'")
    inv = run(aws, host, [fork])
    out = inv["StandardOutputContent"]
    assert "EAGAIN at" in out, out
    assert int(out.split("EAGAIN at")[1].split()[0]) < sandbox.HOST_NPROC


def _alive(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_a_timeout_ends_the_whole_process_tree(aws, host):
    marker = f"{5000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    inv = run(aws, host, [f"setsid sleep {marker} </dev/null >/dev/null 2>&1 &",
                          f"(sleep {marker} &) ; sleep {marker}"], timeout_s=2)
    assert inv["Status"] == "TimedOut"
    deadline = time.monotonic() + 5
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(marker)


def test_stopping_the_instance_ends_the_whole_process_tree(aws):
    iid = launch(aws)
    marker = f"{6000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    cid = aws["ssm"].send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": [
                                      f"setsid sleep {marker} </dev/null >/dev/null 2>&1 &",
                                      f"sleep {marker}"]})["Command"]["CommandId"]
    deadline = time.monotonic() + 20
    while not _alive(marker):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    aws["ec2"].stop_instances(InstanceIds=[iid])
    deadline = time.monotonic() + 10
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(marker)
    inv = aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=iid)
    assert inv["Status"] == "Failed"
    aws["ec2"].terminate_instances(InstanceIds=[iid])
