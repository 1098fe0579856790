"""Issue 20's figures: per bundled dataset, a stack of its own on the local cloud.

For each of breast_cancer, wine, diabetes, apartments: deploy (``MLPIPE_DATASET``), upload
the arrival batches as one file and time upload -> promoted model; then the promoted
model's export difference (the card's ``max_abs_diff`` against scikit-learn on the holdout),
the predict function's cold first request through the API (a configuration change forces a
new environment) and the warm p50 through the API; then destroy. Plus one scale row: a
synthetic CSV (``mlpipe dataset init``) whose upload is 100,000 rows x 30 features (its 20% holdout
split off first), upload -> promoted model and
the training process's peak memory on the instance (the run record's ``peak_rss_mb``).
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import statistics
import tempfile
import time
import uuid
from urllib.parse import urlparse

from ._timing import pct

DATASETS = ("breast_cancer", "wine", "diabetes", "apartments")
SCALE_UPLOAD_ROWS, SCALE_FEATURES = 100_000, 30
SCALE_ROWS = SCALE_UPLOAD_ROWS * 5 // 4  # the dataset file's 20% holdout comes off first
RUN_TIMEOUT_S = 900


def _row(name, value, unit="s", goal=""):
    return {"name": name, "value": round(value, 4) if isinstance(value, float) else value, "unit": unit,
            "goal": goal}


def _arrivals(files: dict, out: str) -> str:
    with open(out, "w", newline="") as fh:
        for i, p in enumerate(files["batches"]):
            lines = open(p, newline="").read().splitlines(keepends=True)
            fh.writelines(lines if i == 0 else lines[1:])
    return out


def _scale_csv(path: str, rows: int = SCALE_ROWS, features: int = SCALE_FEATURES, seed: int = 0) -> str:
    """Synthetic binary data (a linear rule plus noise), 6 significant digits per cell."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    w = rng.normal(size=features)
    y = (X @ w + rng.normal(scale=2.0, size=rows) > 0).astype(int)
    with open(path, "w", newline="") as fh:
        w_ = csv.writer(fh)
        w_.writerow([f"x{i:02d}" for i in range(features)] + ["label"])
        for xs, t in zip(X.tolist(), y.tolist()):
            w_.writerow([f"{v:.6g}" for v in xs] + [t])
    return path


def _upload_until_promoted(settings, path: str) -> tuple:
    from mlpipe import watch
    from mlpipe.stack import Stack

    t0 = time.monotonic()
    record = watch.upload_and_wait(Stack.load(settings), [path], timeout=RUN_TIMEOUT_S, progress=lambda m: None)
    took = time.monotonic() - t0
    if record["status"] != "succeeded" or not record.get("promoted"):
        raise RuntimeError(f"{path}: run {record['run_id']} ended {record['status']}: {record.get('error')}")
    return took, record


def _one_dataset(cloud, dataset: str, label: str, tmp: str, n_api: int) -> list:
    from mlpipe import api, clients, datasets, deploy, teardown
    from mlpipe.config import load_settings
    from mlpipe.names import names_for
    from mlpipe.stack import Stack

    settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": cloud.endpoint_url,
                              "MLPIPE_STACK": f"bds{abs(hash(label)) % 10000}", "MLPIPE_DATASET": dataset,
                              "MLPIPE_THROTTLE_RATE": "100000", "MLPIPE_THROTTLE_BURST": "100000",
                              "MLPIPE_QUOTA_LIMIT": "10000000", "MLPIPE_COMMAND_TIMEOUT": "1800"})
    clients.clear_cache()
    names = names_for(settings)
    spec = datasets.spec_of(settings)
    rows = []
    try:
        deploy.deploy(settings, part="all", progress=lambda m: None)
        files = datasets.write_split(spec, os.path.join(tmp, label), 5)
        promoted_s, record = _upload_until_promoted(settings, _arrivals(files, os.path.join(tmp, f"{label}.csv")))
        s3 = clients.client("s3", settings)
        card = json.loads(s3.get_object(Bucket=names.output_bucket,
                                        Key=f"models/{record['model_version']}/model_card.json")["Body"].read())
        out = api.backend_outputs(Stack(settings, names))
        instances, _ = datasets.request_rows(spec, files["holdout"])
        one = json.dumps({"instances": instances[:1]})
        u = urlparse(out["api_url"])
        headers = {"x-api-key": out["api_key"], "Content-Type": "application/json"}
        lam = clients.client("lambda", settings)
        env = lam.get_function_configuration(FunctionName=names.predict_function)["Environment"]["Variables"]

        def via_api(conn):
            conn.request("POST", u.path, body=one, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"API answered {r.status}: {data[:200]!r}")
            return json.loads(data)

        colds = []
        for _ in range(3):
            lam.update_function_configuration(FunctionName=names.predict_function,
                                              Environment={"Variables": {**env, "BENCH_NONCE": uuid.uuid4().hex}})
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
            t0 = time.perf_counter()
            got = via_api(conn)
            colds.append(time.perf_counter() - t0)
            if got["model_version"] != record["model_version"]:
                raise RuntimeError(f"cold request served {got['model_version']}, not {record['model_version']}")
        for _ in range(30):
            via_api(conn)
        warm = []
        for _ in range(n_api):
            t0 = time.perf_counter()
            via_api(conn)
            warm.append((time.perf_counter() - t0) * 1000)
        conn.close()
        k = f"[{label}, {spec.task}, {record['model_kind']}] "
        rows += [
            _row(k + "upload -> promoted model", promoted_s, "s"),
            _row(k + "export vs scikit-learn on the holdout, max |difference|", card["export"]["max_abs_diff"], "",
                 "<= 1e-9"),
            _row(k + "predict cold first request via API, median of 3", statistics.median(colds), "s", "<= 0.3 s"),
            _row(k + "predict warm via API p50", pct(warm, 0.5), "ms", "<= 2 ms"),
        ]
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    return rows


def _scale(cloud, tmp: str) -> list:
    from mlpipe import clients, datasets, deploy, teardown
    from mlpipe.config import load_settings

    csv_path = _scale_csv(os.path.join(tmp, "scale.csv"))
    path, _, _ = datasets.init(csv_path, "label", os.path.join(tmp, "scale.toml"), force=True)
    settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": cloud.endpoint_url,
                              "MLPIPE_STACK": "bdscale", "MLPIPE_DATASET": path, "MLPIPE_COMMAND_TIMEOUT": "1800"})
    clients.clear_cache()
    spec = datasets.spec_of(settings)
    try:
        deploy.deploy(settings, part="glue", progress=lambda m: None)
        files = datasets.write_split(spec, os.path.join(tmp, "scale-split"), 1)
        promoted_s, record = _upload_until_promoted(settings, files["batches"][0])
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    n = record.get("n_train_rows")
    return [
        _row(f"[scale] {n:,} training rows x {SCALE_FEATURES} features: upload -> promoted model", promoted_s, "s"),
        _row("[scale]   of which training on the instance (fit + evaluate)", float(record["timings"]["train_s"]), "s"),
        _row("[scale]   instance training process peak memory (ru_maxrss)",
             float(record["timings"].get("peak_rss_mb") or float("nan")), "MiB"),
    ]


def run(n_api: int = 200) -> list:
    from localcloud import LocalCloud, active_cloud

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(k, v)
    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
            for name in DATASETS:
                rows += _one_dataset(cloud, name, name, tmp, n_api)
            rows += _scale(cloud, tmp)
    finally:
        if own:
            cloud.stop()
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
