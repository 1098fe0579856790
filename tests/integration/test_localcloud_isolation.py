"""Function code cannot reach the operator's credentials: the cloud is started (as
`localcloud up --detach`) from a shell holding real-looking AWS keys and a profile; a
function then reads the cloud process's /proc/<pid>/environ, its own environment, the
operator's ~/.aws and the host's /tmp, and finds none of it (the last two where user
namespaces are available, as here; the README says what holds elsewhere)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import boto3
import pytest

from localcloud.core import sandbox
from localcloud.core.cloud import free_port, health
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

OPERATOR_KEY = "AKIAOPERATOR" + uuid.uuid4().hex[:8].upper()
OPERATOR_SECRET = "operator-secret-" + uuid.uuid4().hex
SNOOP = """
import os
def handler(event, context):
    out = {"own_env": dict(os.environ)}
    try:
        out["cloud_environ"] = open(f"/proc/{event['pid']}/environ", "rb").read().decode("latin-1")
    except OSError as exc:
        out["cloud_environ"] = f"unreadable: {exc}"
    try:
        out["aws_credentials"] = open(event["credentials"]).read()
    except OSError as exc:
        out["aws_credentials"] = f"unreadable: {type(exc).__name__}"
    out["tmp"] = sorted(os.listdir("/tmp"))
    return out
"""


def test_a_function_finds_no_operator_credentials():
    home = tempfile.mkdtemp(prefix="lc-operator-home-")
    os.makedirs(os.path.join(home, ".aws"))
    creds = os.path.join(home, ".aws", "credentials")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {OPERATOR_KEY}\n"
                f"aws_secret_access_key = {OPERATOR_SECRET}\n")
    marker = f"/tmp/operator-marker-{uuid.uuid4().hex}"
    open(marker, "w").close()
    port = free_port()
    env = {**os.environ, "HOME": home, "LOCALCLOUD_HOME": os.path.join(home, ".cache", "lc"),
           "AWS_ACCESS_KEY_ID": OPERATOR_KEY, "AWS_SECRET_ACCESS_KEY": OPERATOR_SECRET,
           "AWS_PROFILE": "default", "AWS_SESSION_TOKEN": "operator-token"}
    cli = [sys.executable, "-m", "localcloud.cli"]
    subprocess.run([*cli, "up", "--detach", "--port", str(port)], env=env, check=True,
                   capture_output=True, timeout=120)
    saved_home = os.environ.get("LOCALCLOUD_HOME")
    os.environ["LOCALCLOUD_HOME"] = env["LOCALCLOUD_HOME"]  # health() reads the key there
    try:
        from localcloud.core.operator import for_port
        endpoint = f"http://127.0.0.1:{port}"
        doc = health(endpoint)
        key = for_port(port)
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_session_token=None,
                  aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key)
        lam, iam = boto3.client("lambda", **kw), boto3.client("iam", **kw)
        lam.create_function(FunctionName="snoop", Runtime="python3.11", Role=lambda_role(iam),
                            Handler="h.handler", Code={"ZipFile": zip_bytes({"h.py": SNOOP})},
                            Timeout=30)
        resp = lam.invoke(FunctionName="snoop", Payload=json.dumps(
            {"pid": doc["pid"], "credentials": creds}).encode())
        out = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, out
        blob = json.dumps(out)
        assert OPERATOR_KEY not in blob and OPERATOR_SECRET not in blob
        assert "operator-token" not in blob
        assert "AWS_PROFILE" not in out["own_env"] and "AWS_PROFILE=" not in out["cloud_environ"]
        assert out["own_env"]["AWS_ACCESS_KEY_ID"] != OPERATOR_KEY
        if sandbox.available():
            assert out["aws_credentials"].startswith("unreadable"), out["aws_credentials"]
            assert os.path.basename(marker) not in out["tmp"], out["tmp"]
            assert doc["isolation"]["contained"] is True
    finally:
        subprocess.run([*cli, "down", "--port", str(port)], env=env, capture_output=True,
                       timeout=60)
        os.unlink(marker)
        if saved_home is None:
            os.environ.pop("LOCALCLOUD_HOME", None)
        else:
            os.environ["LOCALCLOUD_HOME"] = saved_home
