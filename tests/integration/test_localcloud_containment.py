"""A function is contained like a Lambda execution environment, tried as a hostile function
would: it cannot write outside its /tmp (not its code, its layers, its runtime or the
system), cannot see the operator's venv, home, repository or the cloud's state directory,
imports the runtime's own boto3 (never the operator's), cannot leave a process behind its
timeout (a `setsid` grandchild included), is killed over its MemorySize and reported as AWS
reports it, gets ENOSPC past its EphemeralStorage, and cannot fork more than 1,024 processes.

These run where Linux lets an unprivileged user create user namespaces (this machine, CI);
the first test fails, by name, where it cannot (the README says what then holds)."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from localcloud.awslambda import runtime_sdk
from localcloud.core import sandbox
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration
REGION = "us-east-1"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {name: boto3.client(name, **kw) for name in ("lambda", "iam")}


def deploy(aws, code: str, *, memory: int = 128, timeout: int = 30, layers=(), **extra) -> str:
    name = f"contain-{uuid.uuid4().hex[:8]}"
    aws["lambda"].create_function(FunctionName=name, Runtime="python3.12",
                                  Role=lambda_role(aws["iam"]), Handler="h.handler",
                                  Code={"ZipFile": zip_bytes({"h.py": code})},
                                  MemorySize=memory, Timeout=timeout, Layers=list(layers),
                                  **extra)
    return name


def invoke(aws, name: str, event: dict | None = None):
    resp = aws["lambda"].invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(),
                                LogType="Tail")
    log = base64.b64decode(resp.get("LogResult", "")).decode()
    return resp, json.loads(resp["Payload"].read()), log


def test_functions_are_contained_here(local_cloud):  # noqa: F811
    doc = sandbox.describe()
    assert local_cloud.runtime.isolate, f"no containment on this machine: {doc.get('why')}"
    assert local_cloud.health_doc()["isolation"]["contained"] is True


PROBE = r'''
import errno, os, sys
def try_write(path):
    try:
        with open(os.path.join(path, "planted.pth"), "w") as f:
            f.write("import os\n")
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
def handler(event, context):
    import boto3, botocore
    layer_dir = next(p for p in sys.path if p.endswith("/python") and os.path.isdir(p))
    out = {"writes": {name: try_write(path) for name, path in {
               "code": os.environ["LAMBDA_TASK_ROOT"], "layer": layer_dir,
               "sdk": os.path.dirname(os.path.dirname(boto3.__file__)),
               "stdlib": os.path.dirname(os.__file__), "usr": "/usr", "etc": "/etc",
               "root": "/", "tmp": "/tmp"}.items()},
           "exists": {p: os.path.exists(p) for p in event["paths"]},
           "code_siblings": os.listdir(os.path.dirname(os.environ["LAMBDA_TASK_ROOT"])),
           "boto3": boto3.__version__, "botocore": botocore.__version__,
           "boto3_file": boto3.__file__, "task_root": os.environ["LAMBDA_TASK_ROOT"], "uid": os.getuid(), "pid": os.getpid(),
           "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
    for mod in ("moto", "numpy", "mlpipe", "localcloud"):
        try:
            __import__(mod)
            out[mod] = "imported"
        except ImportError:
            out[mod] = "absent"
    return out
'''


def test_a_function_writes_only_its_tmp_and_sees_nothing_of_the_operator(aws, local_cloud):  # noqa: F811
    layer = aws["lambda"].publish_layer_version(
        LayerName=f"contain-{uuid.uuid4().hex[:6]}",
        Content={"ZipFile": zip_bytes({"python/layer_mod.py": "X = 1\n"})})
    name = deploy(aws, PROBE, layers=[layer["LayerVersionArn"]])
    state = Path(local_cloud.state_dir)
    # files of the operator, the repository, its venv and the cloud's state (the directories
    # leading to the code, layers and runtime it runs from exist, empty but for that path)
    paths = [str(Path(sys.prefix) / "pyvenv.cfg"), str(REPO / "pyproject.toml"),
             str(REPO / ".venv"), str(REPO / "localcloud"), str(REPO / "lambda_code"),
             str(state), str(Path.home() / ".aws"), str(Path.home() / ".bash_history"),
             "/var", "/run", "/home"]
    paths = [p for p in paths if os.path.exists(p)]  # what the operator has here
    assert len(paths) >= 6
    resp, out, log = invoke(aws, name, {"paths": paths})
    assert "FunctionError" not in resp, out
    writes = out["writes"]
    assert writes.pop("tmp") == "written"
    # read-only (EROFS) or not ours to write (EACCES): never written
    assert all(v in ("EROFS", "EACCES") for v in writes.values()), writes
    assert not any(out["exists"].values()), out["exists"]
    # other functions' code in the cache is not there either: only its own
    assert len(os.listdir(Path(local_cloud.runtime.code_cache) / "code")) > 1
    assert out["code_siblings"] == [os.path.basename(out["task_root"])]
    # the runtime's own SDK, at AWS's python3.12 version, not the operator's
    assert out["boto3"] == runtime_sdk.LAMBDA_SDK["boto3"]
    assert out["botocore"] == runtime_sdk.LAMBDA_SDK["botocore"]
    assert out["boto3_file"].startswith(str(runtime_sdk.sdk_dir()))
    assert out["moto"] == out["numpy"] == out["mlpipe"] == out["localcloud"] == "absent"
    # its own pid namespace: it is pid 1 and sees no process of the host
    assert out["pid"] == 1 and max(out["procs"]) < 100, out["procs"]
    if os.getuid() == 0:
        assert out["uid"] == 65534  # nobody, as Lambda runs functions as a non-root user


LEAVER = r'''
import os, subprocess, sys, time
def handler(event, context):
    # a setsid grandchild (double fork) and a plain child, both meant to outlive the invoke
    subprocess.Popen(["/bin/sh", "-c", "setsid /bin/sleep %s & sleep %s" % (event["m"], event["m"])],
                     start_new_session=True)
    time.sleep(60)
'''


def _alive(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", f"sleep {marker}"], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def test_a_timeout_leaves_no_process_behind(aws):
    marker = f"{4000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6}"
    name = deploy(aws, LEAVER, timeout=3)
    resp, out, log = invoke(aws, name, {"m": marker})
    assert resp["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Sandbox.Timedout" and "Task timed out after 3.00 seconds" in \
        out["errorMessage"]
    deadline = time.monotonic() + 5
    while _alive(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(marker)


HOG = r'''
def handler(event, context):
    block = b"\x01" * (event["mb"] << 20)   # every page written
    return len(block)
'''


def test_a_128_mb_function_allocating_1_gb_is_killed_as_aws_reports_it(aws):
    name = deploy(aws, HOG, memory=128)
    resp, out, log = invoke(aws, name, {"mb": 1024})
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    report = next(line for line in log.splitlines() if line.startswith("REPORT RequestId: "))
    request_id = report.split()[2]
    assert out == {"errorType": "Runtime.OutOfMemory",
                   "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                   "signal: killed"}
    assert "\tMemory Size: 128 MB\tMax Memory Used: 128 MB" in report
    assert report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    # a new environment serves the next invoke, within its memory
    resp, out, _ = invoke(aws, name, {"mb": 16})
    assert "FunctionError" not in resp and out == 16 << 20


FILLER = r'''
import errno, os
def handler(event, context):
    written = 0
    chunk = b"\0" * (1 << 20)
    try:
        with open("/tmp/fill", "wb") as f:
            for _ in range(event["mb"]):
                f.write(chunk)
                f.flush()
                written += 1
        return {"written_mb": written, "error": None}
    except OSError as exc:
        return {"written_mb": written, "error": errno.errorcode[exc.errno]}
    finally:
        os.unlink("/tmp/fill")
'''


def test_tmp_beyond_ephemeral_storage_is_enospc(aws):
    name = deploy(aws, FILLER, memory=256, EphemeralStorage={"Size": 512})
    resp, out, _ = invoke(aws, name, {"mb": 600})
    assert "FunctionError" not in resp, out
    assert out["error"] == "ENOSPC" and 500 <= out["written_mb"] <= 512, out


FORKER = r'''
import errno, os, signal
def handler(event, context):
    pids, error = [], None
    try:
        while len(pids) < event["n"]:
            pid = os.fork()
            if pid == 0:
                os.execv("/bin/sleep", ["sleep", "60"])
            pids.append(pid)
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return {"forked": len(pids), "error": error}
'''


def test_a_fork_bomb_is_bounded_at_1024_processes(aws):
    name = deploy(aws, FORKER, memory=2048, timeout=300)
    resp, out, _ = invoke(aws, name, {"n": 3000})
    assert "FunctionError" not in resp, out
    assert out["error"] == "EAGAIN" and 1000 <= out["forked"] < 1024, out
