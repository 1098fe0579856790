"""Durable state, as a student meets it: deploy the real stack (`mlpipe deploy`), train a
model through the pipeline, then `localcloud down`/`up` and `kill -9`/`up` a subprocess cloud
and find the same ids, ARNs, keys, timestamps, objects and model, and predict through the
API without re-running anything. `up --fresh` and `reset` start empty; a state of another
version is moved aside with a message, never loaded or dropped."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from localcloud.core import free_port, health
from mlpipe import api, clients, deploy, watch
from mlpipe.config import load_settings
from mlpipe.names import names_for
from mlpipe.stack import Stack
from model_code import dataset, schema

pytestmark = pytest.mark.integration

STACK = "itstate"


class SubprocessCloud:
    def __init__(self, home: str):
        self.home = home
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "LOCALCLOUD_HOME": self.home, "LOCALCLOUD_PORT": str(self.port)}
        proc = subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def up(self, *extra: str) -> str:
        out = self.cli("up", "--detach", *extra).stdout
        clients.clear_cache()
        return out + self.log()

    def log(self) -> str:
        path = os.path.join(self.home, str(self.port), "localcloud.log")
        return open(path, encoding="utf-8").read() if os.path.exists(path) else ""

    def pid(self) -> int:
        return int(health(self.endpoint)["pid"])

    def kill9(self) -> None:
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while health(self.endpoint, timeout=0.3) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert health(self.endpoint) is None

    def saved(self) -> str:
        return os.path.join(self.home, str(self.port), "state", "saved")


def _settings(endpoint: str):
    return load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint,
                          "MLPIPE_STACK": STACK, "MLPIPE_READY_TIMEOUT": "60",
                          "MLPIPE_IDLE_GRACE_SECONDS": "90", "MLPIPE_COMMAND_TIMEOUT": "120",
                          "MLPIPE_MODEL_REFRESH_SECONDS": "2", "MLPIPE_THROTTLE_RATE": "1000",
                          "MLPIPE_THROTTLE_BURST": "1000", "MLPIPE_QUOTA_LIMIT": "100000"})


def _c(settings, name):
    return clients.client(name, settings)


def fingerprint(settings) -> dict:
    """What must come back unchanged: ids, ARNs, keys, timestamps, objects and versions."""
    names = names_for(settings)
    lam, s3, ec2, iam, apigw, logs, events = (_c(settings, n) for n in (
        "lambda", "s3", "ec2", "iam", "apigateway", "logs", "events"))
    doc: dict = {}
    doc["functions"] = sorted(
        (f["FunctionArn"], f["CodeSha256"], f["LastModified"], tuple(l["Arn"] for l in f.get("Layers", [])))
        for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(STACK))
    doc["layers"] = sorted((l["LayerArn"], l["LatestMatchingVersion"]["LayerVersionArn"],
                            l["LatestMatchingVersion"]["CreatedDate"])
                           for l in lam.list_layers()["Layers"])
    doc["objects"] = {}
    for bucket in (names.input_bucket, names.output_bucket):
        vs = s3.list_object_versions(Bucket=bucket).get("Versions", [])
        doc["objects"][bucket] = sorted((v["Key"], v["VersionId"], v["ETag"], v["Size"],
                                         v["LastModified"].isoformat()) for v in vs)
    doc["instances"] = sorted((i["InstanceId"], i["LaunchTime"].isoformat(), i["ImageId"])
                              for r in ec2.describe_instances()["Reservations"] for i in r["Instances"])
    doc["roles"] = sorted((r["Arn"], r["RoleId"], r["CreateDate"].isoformat())
                          for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(STACK))
    doc["apis"] = sorted((a["id"], a["createdDate"].isoformat()) for a in apigw.get_rest_apis()["items"])
    doc["keys"] = sorted((k["id"], k["value"]) for k in apigw.get_api_keys(includeValues=True)["items"])
    doc["plans"] = sorted(p["id"] for p in apigw.get_usage_plans()["items"])
    doc["rules"] = sorted(r["Arn"] for r in events.list_rules()["Rules"])
    doc["log_groups"] = sorted(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"])
    return doc


def predict(settings) -> tuple[int, dict]:
    names = names_for(settings)
    out = api.backend_outputs(Stack(settings, names))
    X = dataset.make_split().holdout.X[:3]
    body = json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, r.tolist())) for r in X]}).encode()
    req = urllib.request.Request(out["api_url"], data=body, method="POST", headers={
        "Content-Type": "application/json", "x-api-key": out["api_key"]})
    try:
        with urllib.request.urlopen(req, timeout=90) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, {"raw": err.read().decode("utf-8", "replace")}


def latest_model(settings) -> dict:
    names = names_for(settings)
    obj = _c(settings, "s3").get_object(Bucket=names.output_bucket, Key="models/latest.json")
    return json.loads(obj["Body"].read())


@pytest.fixture(scope="module")
def cloud():
    home = tempfile.mkdtemp(prefix="lc-state-test-")
    c = SubprocessCloud(home)
    saved_home = os.environ.get("LOCALCLOUD_HOME")
    os.environ["LOCALCLOUD_HOME"] = home  # mlpipe and health() read the cloud's key there
    c.up()
    try:
        yield c
    finally:
        c.cli("down", check=False)
        if saved_home is None:
            os.environ.pop("LOCALCLOUD_HOME", None)
        else:
            os.environ["LOCALCLOUD_HOME"] = saved_home


def test_walkthrough_state_survives_down_up_and_kill_9(cloud):
    settings = _settings(cloud.endpoint)
    clients.clear_cache()
    deploy.deploy(settings, part="all", progress=lambda m: None)
    split = dataset.write_split(tempfile.mkdtemp(), n_batches=8)
    record = watch.upload_and_wait(Stack.load(settings, progress=lambda m: None), [split["batches"][0]], timeout=180)
    assert record["status"] in ("succeeded", "rejected"), record
    model = latest_model(settings)
    status, body = predict(settings)
    assert status == 200 and body["model_version"] == model["version"], body
    before = fingerprint(settings)
    assert before["functions"] and before["instances"] and before["keys"]
    iid = before["instances"][0][0]
    host = os.path.join(cloud.home, str(cloud.port), "state", "instances", iid)
    assert os.path.isdir(host)
    host_files = sorted(os.listdir(host))

    # 1. down / up
    cloud.cli("down")
    out = cloud.up()
    assert "restored the state" in out, out
    settings = _settings(cloud.endpoint)
    assert fingerprint(settings) == before
    assert latest_model(settings) == model
    assert sorted(os.listdir(host)) == host_files  # the stopped instance keeps its host dir
    status, body = predict(settings)
    assert status == 200 and body["model_version"] == model["version"], body
    status_out = cloud.cli("status").stdout
    assert cloud.saved() in status_out and "lambda functions" in status_out, status_out

    # 2. a change, then kill -9: at most the last second is lost
    names = names_for(settings)
    _c(settings, "s3").put_object(Bucket=names.output_bucket, Key="notes/after-restart.txt",
                                  Body=b"kept")
    time.sleep(2.5)  # > one snapshot interval
    expected = fingerprint(settings)
    cloud.kill9()
    cloud.up()
    settings = _settings(cloud.endpoint)
    assert fingerprint(settings) == expected
    got = _c(settings, "s3").get_object(Bucket=names.output_bucket, Key="notes/after-restart.txt")
    assert got["Body"].read() == b"kept"
    status, body = predict(settings)
    assert status == 200 and body["model_version"] == model["version"], body

    # 3. usage-plan counters survived too
    apigw = _c(settings, "apigateway")
    plan = apigw.get_usage_plans()["items"][0]["id"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    usage = apigw.get_usage(usagePlanId=plan, startDate=today, endDate=today)["items"]
    assert sum(day[0] for rows in usage.values() for day in rows) >= 3, usage


def test_fresh_and_reset_start_empty_and_another_version_is_moved_aside(cloud):
    settings = _settings(cloud.endpoint)
    assert fingerprint(settings)["functions"]  # what the first test left
    cloud.cli("down")
    # a state written by another moto version: refused, moved aside, kept
    meta_path = os.path.join(cloud.saved(), "meta.json")
    meta = json.load(open(meta_path))
    meta["moto"] = "0.0.1"
    json.dump(meta, open(meta_path, "w"))
    out = cloud.up()
    assert "NOT loaded" in out and "moto" in out and "incompatible" in out, out
    parent = os.path.dirname(cloud.saved())
    aside = [d for d in os.listdir(parent) if d.startswith("saved.incompatible-")]
    assert aside and os.path.exists(os.path.join(parent, aside[0], "snapshot.pickle"))
    settings = _settings(cloud.endpoint)
    assert _c(settings, "lambda").list_functions()["Functions"] == []
    assert _c(settings, "s3").list_buckets()["Buckets"] == []
    # put something, then reset: empty, and nothing comes back after a restart
    s3 = _c(settings, "s3")
    s3.create_bucket(Bucket="itstate-scratch")
    cloud.cli("reset")
    time.sleep(1.5)
    cloud.cli("down")
    cloud.up()
    assert _c(_settings(cloud.endpoint), "s3").list_buckets()["Buckets"] == []
    # --fresh on a cloud that saved something
    _c(_settings(cloud.endpoint), "s3").create_bucket(Bucket="itstate-scratch2")
    cloud.cli("down")
    out = cloud.up("--fresh")
    assert _c(_settings(cloud.endpoint), "s3").list_buckets()["Buckets"] == []


def test_every_version_of_an_object_survives_a_restart(cloud):
    """moto's key store yields only each key's latest version when iterated: the snapshot must
    keep the older ones too (a versioned input bucket is how a bad overwrite is undone)."""
    import boto3

    from localcloud.core.operator import for_port
    key = for_port(cloud.port)
    s3 = boto3.client("s3", endpoint_url=cloud.endpoint, region_name="us-east-1",
                      aws_access_key_id=key.access_key_id,
                      aws_secret_access_key=key.secret_access_key, aws_session_token=None)
    s3.create_bucket(Bucket="versions-survive")
    s3.put_bucket_versioning(Bucket="versions-survive",
                             VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="versions-survive", Key="data/a.csv", Body=b"good")
    s3.put_object(Bucket="versions-survive", Key="data/a.csv", Body=b"bad", IfMatch=first["ETag"])

    def versions():
        return sorted((v["Key"], v["VersionId"], v["ETag"])
                      for v in s3.list_object_versions(Bucket="versions-survive")["Versions"])

    before = versions()
    assert len(before) == 2
    cloud.cli("down")
    cloud.up()
    assert versions() == before
    old = s3.get_object(Bucket="versions-survive", Key="data/a.csv", VersionId=first["VersionId"])
    assert old["Body"].read() == b"good"
