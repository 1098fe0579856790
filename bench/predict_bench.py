"""The predict path, layer by layer, side by side in one run (`make bench`).

run() -> [{"name", "value", "unit", "goal"}]:
- deploy-time: extracting the python-packages layer (done once per layer content when it is
  published, kept in the local cloud's code cache across restarts; timed here into a fresh
  directory so the figure is real even when the cache already has it);
- cold first request through the API: a fresh execution environment (the function's
  configuration is touched, so the local cloud starts a new worker): interpreter start and
  the handler's imports (the REPORT line's Init Duration), then the first request's own work
  (boto3 client, reading models/latest.json, downloading and loading the model, which
  imports scikit-learn/scipy), one prediction;
- warm p50/p99 through the API (keep-alive HTTP, x-api-key, usage plan, validator,
  AWS_PROXY, the Lambda relay, the handler) and sequential requests per second;
- the same request as an in-process handler call (parse, validate, predict, log line);
- the same row as a bare ``model.predict`` / ``predict_proba`` (the floor).
Deploys the backend (stack ``bench``) on the LocalCloud running in this process, else
starts one. Not part of the tests.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from bench._timing import pct as _pct, time_ms as _time_ms

STACK = "bench"
P = "predict: "


def _row(name, value, unit="ms", goal=""):
    return {"name": P + name, "value": round(value, 4 if unit == "ms" and value < 1 else 3),
            "unit": unit, "goal": goal}


def _report_of(logs_client, group: str, since_ms: int) -> dict:
    """Durations of the latest REPORT line in a log group (written since since_ms)."""
    events = logs_client.filter_log_events(logGroupName=group, startTime=since_ms)["events"]
    reports = [e["message"] for e in events if e["message"].startswith("REPORT ")]
    loads = [e["message"] for e in events if '"model_loaded"' in e["message"]]
    out = {}
    if reports:
        for key, pat in (("duration_ms", r"\tDuration: ([\d.]+) ms"),
                         ("init_ms", r"Init Duration: ([\d.]+) ms")):
            m = re.search(pat, reports[-1])
            if m:
                out[key] = float(m.group(1))
    if loads:
        try:
            out["load_ms"] = float(json.loads(loads[-1])["load_ms"])
        except (ValueError, KeyError):
            pass
    return out


def _layer_extraction_s(lam, layer_name: str) -> tuple[float, int]:
    """Seconds to extract the latest version of a layer into a fresh dir, and its size."""
    from localcloud.awslambda.runtime import _extract_zip
    from moto.awslambda.utils import get_backend

    arn = lam.list_layer_versions(LayerName=layer_name)["LayerVersions"][0]["LayerVersionArn"]
    lv = get_backend("123456789012", "us-east-1").layers_versions_by_arn(arn)
    data = lv.code_bytes
    d = Path(tempfile.mkdtemp(prefix="bench-layer-"))
    try:
        t0 = time.perf_counter()
        _extract_zip(data, d / "x")
        return time.perf_counter() - t0, len(data)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(n_api: int = 300, n_local: int = 2000) -> list[dict]:
    import numpy as np

    from localcloud import LocalCloud, active_cloud
    from mlpipe import api, buckets, clients, deploy
    from mlpipe.config import load_settings
    from mlpipe.names import names_for
    from model_code import dataset, schema

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(k, v)
    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    try:
        settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": cloud.endpoint_url,
                                  "MLPIPE_STACK": STACK, "MLPIPE_THROTTLE_RATE": "100000",
                                  "MLPIPE_THROTTLE_BURST": "100000", "MLPIPE_QUOTA_LIMIT": "10000000"})
        clients.clear_cache()
        names = names_for(settings)
        buckets.ensure_buckets(settings, names)
        t0 = time.perf_counter()
        deploy.deploy(settings, part="backend", progress=lambda m: None)
        deploy_s = time.perf_counter() - t0
        out = api.backend_outputs(settings, names)
        lam = clients.client("lambda", settings)
        logs = clients.client("logs", settings)
        group = f"/aws/lambda/{names.predict_function}"

        row = dataset.make_split().holdout.X[:1]
        body = json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, row[0].tolist()))]})
        u = urlparse(out["api_url"])
        headers = {"x-api-key": out["api_key"], "Content-Type": "application/json"}
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)

        def via_api():
            conn.request("POST", u.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"API answered {r.status}: {data[:200]!r}")

        # First request after the deploy: waits for the layers' extraction if still running.
        t0 = time.perf_counter()
        via_api()
        first_s = time.perf_counter() - t0
        extract_s, layer_zip = _layer_extraction_s(lam, names.layers[0])

        # Cold: a configuration change makes the next request start a new environment.
        env = lam.get_function_configuration(FunctionName=names.predict_function)["Environment"]["Variables"]
        colds, inits, firsts, loads = [], [], [], []
        for _ in range(3):
            lam.update_function_configuration(FunctionName=names.predict_function,
                                              Environment={"Variables": {**env, "BENCH_NONCE": uuid.uuid4().hex}})
            since = int(time.time() * 1000) - 1
            t0 = time.perf_counter()
            via_api()
            colds.append(time.perf_counter() - t0)
            rep = _report_of(logs, group, since)
            inits.append(rep.get("init_ms", float("nan")) / 1000)
            firsts.append(rep.get("duration_ms", float("nan")) / 1000)
            loads.append(rep.get("load_ms", float("nan")) / 1000)

        for _ in range(30):
            via_api()
        t0 = time.perf_counter()
        api_ms = _time_ms(via_api, n_api)
        rps = n_api / (time.perf_counter() - t0)
        conn.close()

        # In-process: the same service the function runs, with the model from the same bucket.
        from lambda_code.predict import service

        store = service.ModelStore(lambda: clients.client("s3", settings), names.output_bucket)
        svc = service.PredictService(store)
        event = {"body": body, "requestContext": {"requestId": "bench"}}
        if svc.handle(event)["statusCode"] != 200:
            raise RuntimeError("in-process handler did not answer 200")
        service.log.setLevel("INFO")
        import logging

        null = logging.NullHandler()
        saved = service.log.handlers[:], service.log.propagate
        service.log.handlers, service.log.propagate = [null], False  # keep the line's cost, not the terminal's
        try:
            for _ in range(200):
                svc.handle(event)
            handler_ms = _time_ms(lambda: svc.handle(event), n_local)
        finally:
            service.log.handlers, service.log.propagate = saved
        model = store.get().model
        X = np.asarray(row)
        for _ in range(200):
            model.predict(X)
        predict_ms = _time_ms(lambda: model.predict(X), n_local)
        proba_ms = _time_ms(lambda: model.predict_proba(X), n_local)

        api.delete_backend(settings, names)
        med = statistics.median
        return [
            _row("deploy of the backend (layers, function, API)", deploy_s, "s"),
            _row(f"layer extraction, python-packages ({layer_zip / 1e6:.0f} MB zip; deploy-time, "
                 "once per content, cached across restarts)", extract_s, "s"),
            _row("first request after deploy (waits for extraction unless cached)", first_s, "s"),
            _row("cold first request via API, median of 3 (new environment: imports + model load)",
                 med(colds), "s", "<= 1.0 s"),
            _row("  of which Init Duration (process start + handler import)", med(inits), "s"),
            _row("  of which first invoke (boto3 client, latest.json, download, model load)",
                 med(firsts), "s"),
            _row("    of which model download + joblib load (sklearn/scipy imports)", med(loads), "s"),
            _row("warm via API p50", _pct(api_ms, 0.5), goal="<= 3 ms"),
            _row("warm via API p99", _pct(api_ms, 0.99)),
            _row("requests/s via API (sequential, keep-alive)", rps, "req/s"),
            _row("in-process handler p50 (1 row)", med(handler_ms), goal="~0.15 ms"),
            _row("bare model.predict_proba p50 (1 row)", med(proba_ms)),
            _row("bare model.predict p50 (1 row)", med(predict_ms)),
        ]
    finally:
        if own:
            cloud.stop()


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<100} {r['value']:>10} {r['unit']:<6} {r['goal']}")
