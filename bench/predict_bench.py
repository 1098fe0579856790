"""The predict path, layer by layer, side by side in one run (`make bench`).

run() -> [{"name", "value", "unit", "goal"}]:
- cold first request through the API: a fresh execution environment (the function's
  configuration is touched, so the local cloud starts a new worker): interpreter start,
  imports from the layers, model download + load, one prediction;
- warm p50/p99 through the API (keep-alive HTTP, x-api-key, usage plan, validator,
  AWS_PROXY, the Lambda relay, the handler) and sequential requests per second;
- the same request as an in-process handler call (parse, validate, predict, log line);
- the same row as a bare ``model.predict`` (the floor).
Deploys the backend (stack ``bench``) on the LocalCloud running in this process, else
starts one. Not part of the tests.
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import time
import uuid
from urllib.parse import urlparse

STACK = "bench"


def _pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _time_ms(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


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
        deploy.deploy(settings, part="backend", progress=lambda m: None)
        out = api.backend_outputs(settings, names)

        row = dataset.make_split().holdout.X[:1]
        body = json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, row[0].tolist()))]})
        u = urlparse(out["api_url"])
        headers = {"x-api-key": out["api_key"], "Content-Type": "application/json", "Connection": "keep-alive"}
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

        def via_api():
            conn.request("POST", u.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"API answered {r.status}: {data[:200]!r}")

        # Cold: a configuration change makes the next request start a new environment.
        lam = clients.client("lambda", settings)
        env = lam.get_function_configuration(FunctionName=names.predict_function)["Environment"]["Variables"]
        lam.update_function_configuration(FunctionName=names.predict_function,
                                          Environment={"Variables": {**env, "BENCH_NONCE": uuid.uuid4().hex}})
        t0 = time.perf_counter()
        via_api()
        cold_s = time.perf_counter() - t0

        for _ in range(20):
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
        return [
            {"name": "predict: cold first request via API (new environment, imports, model load)",
             "value": round(cold_s, 3), "unit": "s", "goal": "<= 1.0 s"},
            {"name": "predict: warm via API p50", "value": round(_pct(api_ms, 0.5), 3), "unit": "ms", "goal": "<= 3 ms"},
            {"name": "predict: warm via API p99", "value": round(_pct(api_ms, 0.99), 3), "unit": "ms", "goal": ""},
            {"name": "predict: requests/s via API (sequential, keep-alive)", "value": round(rps, 1), "unit": "req/s",
             "goal": ""},
            {"name": "predict: in-process handler p50 (1 row)", "value": round(statistics.median(handler_ms), 4),
             "unit": "ms", "goal": "~0.15 ms"},
            {"name": "predict: bare model.predict_proba p50 (1 row)", "value": round(statistics.median(proba_ms), 4),
             "unit": "ms", "goal": ""},
            {"name": "predict: bare model.predict p50 (1 row)", "value": round(statistics.median(predict_ms), 4),
             "unit": "ms", "goal": ""},
        ]
    finally:
        if own:
            cloud.stop()


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']:<80} {r['value']:>10} {r['unit']:<6} {r['goal']}")
