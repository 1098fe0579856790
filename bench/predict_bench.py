"""The predict path side by side in one run, for both model kinds (`make bench`).

run() -> [{"name", "value", "unit", "goal"}]. Deploys the backend (stack ``bench``) on the
LocalCloud running in this process (else starts one), then for each model kind (``logreg``,
``forest``) promotes a model trained here with its verified numpy export (as a training run
does) and measures:
- cold first request through the API in a new execution environment (the function's
  configuration is touched, so the local cloud starts a new worker): median of 3, with the
  REPORT line's Init Duration (process start + handler import: numpy) and the first
  invoke's own work (pointer read, export load, one prediction);
- warm POST p50/p99 through the API (keep-alive HTTP, x-api-key, usage plan, validator,
  AWS_PROXY, the Lambda relay, the handler), a 1000-row request through the API (p50);
- the in-process handler p50 for one row and for 1000 rows (parse, validate, predict, log);
- peak memory of the warm predict environment: VmHWM of its worker process after the warm
  and 1000-row requests (the REPORT line's Max Memory Used is ru_maxrss, which Linux
  carries over from the parent process across exec, so it is not used here);
- once: S3 reads at a cold start, each in fresh interpreters against the same cloud, median
  of 5: boto3 (import, client, GET) vs. botocore's signer over plain HTTP (the predict path).
Not part of the tests.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from bench._timing import pct as _pct, time_ms as _time_ms

STACK = "bench"
P = "predict: "
KINDS = ("logreg", "forest")
REPO = Path(__file__).resolve().parents[1]

S3_READ_SCRIPTS = {
    "boto3": r"""
import sys, time
t0 = time.perf_counter()
import boto3
c = boto3.client("s3")
c.get_object(Bucket=sys.argv[1], Key="models/latest.json")["Body"].read()
print(time.perf_counter() - t0)
""",
    "signer": r"""
import sys, time
sys.path.insert(0, sys.argv[2])
t0 = time.perf_counter()
import s3read
s3read.SignedS3Reader().get(sys.argv[1], "models/latest.json")
print(time.perf_counter() - t0)
""",
}


def _row(name, value, unit="ms", goal=""):
    return {"name": P + name, "value": round(value, 4 if unit == "ms" and value < 1 else 3),
            "unit": unit, "goal": goal}


def _report_of(logs_client, group: str, since_ms: int) -> dict:
    """Durations and memory of the latest REPORT line in a log group (written since since_ms)."""
    events = logs_client.filter_log_events(logGroupName=group, startTime=since_ms)["events"]
    reports = [e["message"] for e in events if e["message"].startswith("REPORT ")]
    out = {}
    if reports:
        for key, pat in (("duration_ms", r"\tDuration: ([\d.]+) ms"), ("init_ms", r"Init Duration: ([\d.]+) ms"),
                         ("max_mb", r"Max Memory Used: (\d+) MB")):
            m = re.search(pat, reports[-1])
            if m:
                out[key] = float(m.group(1))
    return out


def _environment_pid(pid: int) -> int:
    """The process that runs the function: the worker itself, or, when contained, the first
    child of its supervisor (core/_contain.py)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if children else pid


def _peak_rss_mb(runtime, function_name: str) -> float:
    """VmHWM (peak resident set) of the function's live worker processes, max over them, in MB.
    Read from /proc: the REPORT line's ru_maxrss carries the parent's peak across exec."""
    peak = 0.0
    for pid in runtime.worker_pids():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode() not in environ:
                continue
            pid = _environment_pid(pid)
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return peak or float("nan")


def _s3_read_seconds(bucket: str, endpoint: str, runs: int = 5) -> dict:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}
    code_dir = str(REPO / "lambda_code" / "predict")
    out = {}
    for name, script in S3_READ_SCRIPTS.items():
        times = []
        for _ in range(runs):
            proc = subprocess.run([sys.executable, "-c", script, bucket, code_dir], capture_output=True,
                                  text=True, env=env, timeout=120)
            if proc.returncode != 0:
                raise RuntimeError(f"S3 read ({name}) failed: {proc.stderr[-1000:]}")
            times.append(float(proc.stdout.strip().splitlines()[-1]))
        out[name] = statistics.median(times)
    return out


def _promote(s3, bucket: str, fitted, version: str, holdout_X) -> None:
    from model_code import artifacts

    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        paths = artifacts.save(fitted, tmp, version=version, metrics={}, holdout_X=holdout_X)
        prefix = f"models/{version}/"
        for p in paths.values():
            s3.upload_file(p, bucket, prefix + os.path.basename(p))
        pointer = {"version": version, "model_key": prefix + "model.joblib", "metrics": {},
                   "promoted_at": "bench", **artifacts.pointer_fields(paths, prefix)}
    s3.put_object(Bucket=bucket, Key="models/latest.json", Body=json.dumps(pointer).encode())


def run(n_api: int = 300, n_local: int = 2000) -> list[dict]:
    import numpy as np

    from localcloud import LocalCloud, active_cloud
    from mlpipe import api, buckets, clients, deploy
    from mlpipe.config import load_settings
    from mlpipe.names import names_for
    from mlpipe.stack import Stack
    from model_code import dataset, schema, train

    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    from localcloud.testing import use_cloud
    use_cloud(cloud)  # plain boto3 here signs with the cloud's operator key
    rows = []
    try:
        settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": cloud.endpoint_url,
                                  "MLPIPE_STACK": STACK, "MLPIPE_THROTTLE_RATE": "100000",
                                  "MLPIPE_THROTTLE_BURST": "100000", "MLPIPE_QUOTA_LIMIT": "10000000"})
        clients.clear_cache()
        names = names_for(settings)
        stack = Stack(settings, names)
        buckets.ensure(stack)
        t0 = time.perf_counter()
        deploy.deploy(settings, part="backend", progress=lambda m: None)
        rows.append(_row("deploy of the backend (layers, function, API)", time.perf_counter() - t0, "s"))
        out = api.backend_outputs(stack)
        lam = clients.client("lambda", settings)
        logs = clients.client("logs", settings)
        s3 = clients.client("s3", settings)
        group = f"/aws/lambda/{names.predict_function}"
        split = dataset.make_split()
        X = np.vstack([b.X for b in split.batches])
        y = np.concatenate([b.y for b in split.batches])
        holdout = split.holdout.X
        one = json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, holdout[0].tolist()))]})
        big_rows = np.resize(holdout, (schema.MAX_ROWS_PER_REQUEST, holdout.shape[1]))
        big = json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, r)) for r in big_rows.tolist()]})
        u = urlparse(out["api_url"])
        headers = {"x-api-key": out["api_key"], "Content-Type": "application/json"}
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)

        def via_api(body=one):
            conn.request("POST", u.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"API answered {r.status}: {data[:200]!r}")
            return json.loads(data)

        env = lam.get_function_configuration(FunctionName=names.predict_function)["Environment"]["Variables"]
        for i, kind in enumerate(KINDS, start=1):
            fitted = train.train(X, y, model=kind)
            version = f"b{i:03d}{kind}"
            _promote(s3, names.output_bucket, fitted, version, holdout)
            # Cold: a configuration change makes the next request start a new environment.
            colds, inits, firsts = [], [], []
            for _ in range(3):
                lam.update_function_configuration(FunctionName=names.predict_function,
                                                  Environment={"Variables": {**env, "BENCH_NONCE": uuid.uuid4().hex}})
                since = int(time.time() * 1000) - 1
                t0 = time.perf_counter()
                got = via_api()
                colds.append(time.perf_counter() - t0)
                if got["model_version"] != version:
                    raise RuntimeError(f"cold request served {got['model_version']}, not {version}")
                rep = _report_of(logs, group, since)
                inits.append(rep.get("init_ms", float("nan")) / 1000)
                firsts.append(rep.get("duration_ms", float("nan")) / 1000)
            for _ in range(30):
                via_api()
            api_ms = _time_ms(via_api, n_api)
            big_ms = _time_ms(lambda: via_api(big), 15)
            mem = _peak_rss_mb(cloud.runtime, names.predict_function)

            from lambda_code.predict import s3read, service

            store = service.ModelStore(lambda: s3read.SignedS3Reader(endpoint=cloud.endpoint_url),
                                       names.output_bucket)
            svc = service.PredictService(store)
            event = {"body": one, "requestContext": {"requestId": "bench"}}
            if svc.handle(event)["statusCode"] != 200:
                raise RuntimeError("in-process handler did not answer 200")
            import logging

            saved = service.log.handlers[:], service.log.propagate
            service.log.handlers, service.log.propagate = [logging.NullHandler()], False
            try:
                for _ in range(200):
                    svc.handle(event)
                handler_ms = _time_ms(lambda: svc.handle(event), n_local)
                big_event = {"body": big, "requestContext": {"requestId": "bench"}}
                handler_big_ms = _time_ms(lambda: svc.handle(big_event), 30)
            finally:
                service.log.handlers, service.log.propagate = saved
            med = statistics.median
            k = f"[{kind}] "
            contained = "contained" if cloud.runtime.isolate else "NOT contained"
            rows += [
                _row(k + f"cold first request via API, median of 3 (new environment, {contained})", med(colds), "s", "<= 0.2 s"),
                _row(k + "  of which Init Duration (process start + handler import: numpy)", med(inits), "s"),
                _row(k + "  of which first invoke (pointer, export load, predict)", med(firsts), "s"),
                _row(k + f"warm via API p50 ({contained})", _pct(api_ms, 0.5), goal="<= 1.0 ms"),
                _row(k + "warm via API p99", _pct(api_ms, 0.99)),
                _row(k + "1000-row request via API p50 (incl. the gateway's JSON-schema validation)", med(big_ms)),
                _row(k + "in-process handler p50 (1 row)", med(handler_ms), goal="<= 0.2 ms"),
                _row(k + "in-process handler p50 (1000 rows)", med(handler_big_ms), goal="<= 40 ms"),
                _row(k + "peak memory of the warm environment (VmHWM)", mem, "MiB"),
            ]
        conn.close()
        reads = _s3_read_seconds(names.output_bucket, cloud.endpoint_url)
        rows += [
            _row("cold S3 read of latest.json: boto3 (import + client + GET), median of 5", reads["boto3"], "s"),
            _row("cold S3 read of latest.json: botocore signer + plain HTTP (used), median of 5", reads["signer"], "s"),
        ]
        api.delete(stack)
        return rows
    finally:
        if own:
            cloud.stop()


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<100} {r['value']:>10} {r['unit']:<6} {r['goal']}")
