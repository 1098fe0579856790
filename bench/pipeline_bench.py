"""Benchmarks of the continuous-training chain (issue 4) on the local cloud.

Deploys the glue (stack ``benchpipe``) on the LocalCloud running in this process, else
starts one (and stops it after); uploads N batches one by one and, for each, watches from
outside (instance state and ``models/latest.json``, polled every 0.1 s):

- upload -> new model promoted: until ``latest.json`` names the run's new version (goal <= 10 s);
- instance running minus training: seconds the instance was ``running`` (from the first
  poll that sees it running to the first that sees it stopping) minus the run's
  ``timings.train_s`` (fit + evaluate, including importing scikit-learn), goal <= 5 s;
- context: training seconds, upload -> instance stopping, deploy glue first time and again
  (idempotent: nothing changes).

Medians over N runs. The stack is destroyed at the end.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time

STACK = "benchpipe"
POLL_S = 0.1
RUN_TIMEOUT_S = 180


def _row(name: str, value: float, unit: str = "s", goal: str = "") -> dict:
    return {"name": name, "value": round(value, 2), "unit": unit, "goal": goal}


def _latest_version(s3, bucket: str, key: str) -> str | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).get("version")
    except s3.exceptions.NoSuchKey:
        return None


def watch_one_run(stack, path: str) -> dict:
    """Upload ``path`` and time the chain from outside until the instance is stopped again."""
    from mlpipe import buckets, instance, watch

    names = stack.names
    s3, ec2 = stack.client("s3"), stack.client("ec2")
    iid = instance.find_instance(stack)["InstanceId"]
    before = _latest_version(s3, names.output_bucket, names.latest_key)
    since = watch.utcnow()
    t0 = time.monotonic()
    keys = buckets.upload_data(stack, [path])
    seen: dict = {}
    while True:
        now = time.monotonic() - t0
        state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
        if state == "running":
            seen.setdefault("running", now)
        elif state in ("stopping", "stopped") and "running" in seen:
            seen.setdefault("stopping", now)
        if "promoted" not in seen and _latest_version(s3, names.output_bucket, names.latest_key) != before:
            seen["promoted"] = now
        if state == "stopped" and "stopping" in seen:
            break
        if now > RUN_TIMEOUT_S:
            raise RuntimeError(f"run for {keys} did not end in {RUN_TIMEOUT_S} s (instance {state})")
        time.sleep(POLL_S)
    record = watch.wait_for_run(stack, since, expect_inputs=keys, timeout=30, progress=lambda m: None)
    if record["status"] != "succeeded" or "promoted" not in seen:
        raise RuntimeError(f"run {record['run_id']} ended {record['status']}: {record.get('error')}")
    train_s = float(record["timings"]["train_s"])
    return {"promoted_s": seen["promoted"], "stopping_s": seen["stopping"],
            "running_s": seen["stopping"] - seen["running"], "train_s": train_s,
            "overhead_s": seen["stopping"] - seen["running"] - train_s,
            "timeline": watch.run_timeline(stack, record)}


def run(n: int = 3) -> list[dict]:
    from localcloud import LocalCloud, active_cloud
    from mlpipe import clients, deploy, teardown
    from mlpipe.config import load_settings
    from mlpipe.names import names_for
    from mlpipe.stack import Stack
    from model_code.dataset import write_split

    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    from localcloud.testing import use_cloud
    use_cloud(cloud)  # plain boto3 here signs with the cloud's operator key
    settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": cloud.endpoint_url,
                              "MLPIPE_STACK": STACK})
    clients.clear_cache()
    names = names_for(settings)
    try:
        t0 = time.monotonic()
        deploy.deploy(settings, part="glue", progress=lambda m: None)
        deploy_s = time.monotonic() - t0
        t0 = time.monotonic()
        again = deploy.deploy(settings, part="glue", progress=lambda m: None)
        again_s = time.monotonic() - t0
        if any(r.action != "found" for r in again):
            raise RuntimeError(f"re-deploy changed something: {[str(r) for r in again if r.action != 'found']}")
        with tempfile.TemporaryDirectory() as tmp:
            split = write_split(tmp, n_batches=max(n, 2))
            runs = [watch_one_run(Stack(settings, names), split["batches"][i]) for i in range(n)]
        for i, r in enumerate(runs, 1):
            print(f"  pipeline run {i}: promoted {r['promoted_s']:.2f} s, stopping {r['stopping_s']:.2f} s, "
                  f"running {r['running_s']:.2f} s, train {r['train_s']:.2f} s; timeline {r['timeline']}")

        def med(key):
            return statistics.median(r[key] for r in runs)

        return [
            _row(f"pipeline: upload -> new model promoted, local (median of {n})", med("promoted_s"),
                 goal="<= 10 s"),
            _row(f"pipeline: instance running minus training, per run (median of {n})", med("overhead_s"),
                 goal="<= 5 s"),
            _row("pipeline: training (fit + evaluate, incl. importing scikit-learn)", med("train_s")),
            _row("pipeline: instance running per run", med("running_s")),
            _row("pipeline: upload -> instance stopping", med("stopping_s")),
            _row("pipeline: deploy glue, first time", deploy_s),
            _row("pipeline: deploy glue again (nothing changes)", again_s),
        ]
    finally:
        try:
            teardown.destroy(settings, progress=lambda m: None)
        finally:
            if own:
                cloud.stop()


if __name__ == "__main__":
    for row in run():
        print(row)
