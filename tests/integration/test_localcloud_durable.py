"""Nothing acknowledged is lost, as a careless user meets it: `kill -9` of a subprocess cloud
right after (or in the middle of) a burst of acknowledged writes -- new objects, overwrites,
deletes, an IAM role, an SQS queue -- and every one is there after `up`, with the same ids;
a missing or damaged blob loses that object only, named in the output, the status and the log;
`up --detach` says on the terminal when it set a saved state aside."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from botocore.exceptions import ClientError

from localcloud.core import free_port, health
from mlpipe import clients
from mlpipe.config import load_settings

pytestmark = pytest.mark.integration

BUCKET = "durable-test"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


class Cloud:
    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="lc-durable-test-")
        # this process (mlpipe's clients, health()) reads the cloud's operator key there;
        # _restore_home puts the previous value back after each test
        os.environ["LOCALCLOUD_HOME"] = self.home
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "LOCALCLOUD_HOME": self.home, "LOCALCLOUD_PORT": str(self.port)}
        proc = subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=env,
                              capture_output=True, text=True, timeout=180)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def up(self) -> str:
        """`up --detach`; returns what it printed on the terminal (stdout only)."""
        out = self.cli("up", "--detach").stdout
        clients.clear_cache()
        return out

    def client(self, name: str):
        settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": self.endpoint,
                                  "MLPIPE_STACK": "durable"})
        return clients.client(name, settings)

    def kill9(self) -> None:
        os.kill(int(health(self.endpoint)["pid"]), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while health(self.endpoint, timeout=0.3) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert health(self.endpoint) is None

    def saved(self) -> str:
        return os.path.join(self.home, str(self.port), "state", "saved")

    def log(self) -> str:
        """The cloud's own log (state/localcloud.log)."""
        path = os.path.join(self.home, str(self.port), "state", "localcloud.log")
        return open(path, encoding="utf-8").read() if os.path.exists(path) else ""


@pytest.fixture(autouse=True)
def _restore_home():
    before = os.environ.get("LOCALCLOUD_HOME")
    yield
    if before is None:
        os.environ.pop("LOCALCLOUD_HOME", None)
    else:
        os.environ["LOCALCLOUD_HOME"] = before


@pytest.fixture()
def cloud():
    c = Cloud()
    c.up()
    try:
        yield c
    finally:
        c.cli("down", check=False)


def _body(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_kill_9_right_after_a_burst_loses_no_acknowledged_write(cloud):
    s3, iam, sqs = cloud.client("s3"), cloud.client("iam"), cloud.client("sqs")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for key in ("old-a", "old-b", "old-c"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"before " + key.encode())
    time.sleep(2.5)  # a snapshot holds these; the burst below is only in the journal

    large = os.urandom(300_000)  # stored as a blob, not inside the snapshot
    acked: dict[str, bytes] = {}
    versions = {}
    for i in range(5):
        body = f"new object {i}".encode()
        versions[f"new-{i}"] = s3.put_object(Bucket=BUCKET, Key=f"new-{i}", Body=body)["VersionId"]
        acked[f"new-{i}"] = body
    s3.put_object(Bucket=BUCKET, Key="large", Body=large)
    acked["large"] = large
    s3.put_object(Bucket=BUCKET, Key="old-a", Body=b"overwritten")
    acked["old-a"] = b"overwritten"
    s3.delete_object(Bucket=BUCKET, Key="old-b")
    role = iam.create_role(RoleName="durable-role", AssumeRolePolicyDocument=TRUST)["Role"]
    queue_url = sqs.create_queue(QueueName="durable-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url,
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="kept")
    cloud.kill9()  # at once: well inside one snapshot interval

    cloud.up()
    s3, iam, sqs = cloud.client("s3"), cloud.client("iam"), cloud.client("sqs")
    for key, body in acked.items():
        assert _body(s3, key) == body, key
    assert _body(s3, "old-c") == b"before old-c"
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key="old-b")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    listed = {v["Key"]: v["VersionId"] for v in
              s3.list_object_versions(Bucket=BUCKET)["Versions"] if v["IsLatest"]}
    for key, vid in versions.items():
        assert listed[key] == vid, key  # the same version ids, not new ones
    got = iam.get_role(RoleName="durable-role")["Role"]
    assert (got["Arn"], got["RoleId"]) == (role["Arn"], role["RoleId"])
    assert abs((got["CreateDate"] - role["CreateDate"]).total_seconds()) < 2
    assert sqs.get_queue_url(QueueName="durable-queue")["QueueUrl"] == queue_url
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"] == queue_arn
    msgs = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in msgs] == ["kept"]
    status = cloud.cli("status").stdout
    assert "acknowledged requests from its journal" in status, status


def test_kill_9_at_random_moments_during_a_burst(cloud):
    """A writer keeps writing; the cloud is killed at a random moment (seeded: a failure
    names its seed); everything acknowledged before the kill is there after `up`."""
    seed = int(os.environ.get("DURABLE_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for round_no in range(2):
        acked: dict[str, bytes] = {}
        deleted: set[str] = set()
        inflight: list = [None]   # the key of the request the kill may cut (either answer)
        stop, started = threading.Event(), threading.Event()
        errors: list = []

        def writer() -> None:
            i = 0
            c = cloud.client("s3")
            while not stop.is_set():
                key = f"r{round_no}-{i % 7}"
                inflight[0] = key
                try:
                    if i % 5 == 4:
                        c.delete_object(Bucket=BUCKET, Key=key)
                        acked.pop(key, None)
                        deleted.add(key)
                    else:
                        body = f"{round_no}:{i}".encode() * (1 + i % 3)
                        c.put_object(Bucket=BUCKET, Key=key, Body=body)
                        acked[key] = body
                        deleted.discard(key)
                except Exception as exc:  # noqa: BLE001 - the kill: not acknowledged
                    errors.append(exc)
                    return
                i += 1
                started.set()

        t = threading.Thread(target=writer)
        t.start()
        assert started.wait(60), errors
        time.sleep(rnd.uniform(0.0, 2.5))
        cloud.kill9()
        stop.set()
        t.join(timeout=30)
        cloud.up()
        s3 = cloud.client("s3")
        assert acked or deleted, "nothing was acknowledged before the kill"
        for key, body in acked.items():
            if key != inflight[0]:
                assert _body(s3, key) == body, (seed, round_no, key)
        for key in deleted - {inflight[0]}:
            with pytest.raises(ClientError):
                s3.get_object(Bucket=BUCKET, Key=key)


def test_a_missing_blob_and_a_flipped_byte_lose_only_their_objects():
    cloud = Cloud()
    cloud.up()
    try:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        bodies = {k: os.urandom(100_000) for k in ("gone", "flipped", "intact")}
        for key, body in bodies.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        s3.put_object(Bucket=BUCKET, Key="small", Body=b"small")
        cloud.cli("down")  # a clean stop: everything in the snapshot, blobs written
        import hashlib

        blobs = os.path.join(cloud.saved(), "blobs")
        os.unlink(os.path.join(blobs, hashlib.sha256(bodies["gone"]).hexdigest()))
        flipped = os.path.join(blobs, hashlib.sha256(bodies["flipped"]).hexdigest())
        data = bytearray(open(flipped, "rb").read())
        data[5000] ^= 0x01
        open(flipped, "wb").write(bytes(data))

        out = cloud.up()
        assert "lost s3://durable-test/gone" in out and "missing" in out, out
        s3 = cloud.client("s3")
        assert _body(s3, "intact") == bodies["intact"]
        assert _body(s3, "small") == b"small"
        for key in ("gone", "flipped"):  # never served, never under the original ETag
            with pytest.raises(ClientError) as err:
                s3.get_object(Bucket=BUCKET, Key=key)
            assert err.value.response["Error"]["Code"] == "NoSuchKey", key
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        assert keys == ["intact", "small"]
        status = cloud.cli("status").stdout
        assert "LOST s3://durable-test/gone" in status and \
            "LOST s3://durable-test/flipped" in status and "does not match" in status, status
        assert "LOST s3://durable-test/flipped" in cloud.log()
        # the rest is kept across the next restart too
        time.sleep(2.5)
        cloud.cli("down")
        cloud.up()
        s3 = cloud.client("s3")
        assert _body(s3, "intact") == bodies["intact"]
    finally:
        cloud.cli("down", check=False)


def test_up_detach_says_when_it_sets_a_saved_state_aside():
    cloud = Cloud()
    cloud.up()
    try:
        cloud.client("s3").create_bucket(Bucket=BUCKET)
        cloud.cli("down")
        meta_path = os.path.join(cloud.saved(), "meta.json")
        meta = json.load(open(meta_path))
        meta["format"] = 999
        json.dump(meta, open(meta_path, "w"))
        out = cloud.up()
        assert "saved state NOT loaded" in out and "format" in out and \
            "incompatible" in out, out
        # an unreadable snapshot is said too
        cloud.client("s3").create_bucket(Bucket=BUCKET)
        cloud.cli("down")
        with open(os.path.join(cloud.saved(), "snapshot.pickle"), "r+b") as f:
            f.seek(10)
            f.write(b"\xff" * 8)
        out = cloud.up()
        assert "saved state NOT loaded" in out and "could not be read" in out, out
    finally:
        cloud.cli("down", check=False)
