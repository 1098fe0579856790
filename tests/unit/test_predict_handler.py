"""The Lambda entry point as the runtime calls it: environment in, sample events in."""
from __future__ import annotations

import glob
import importlib
import json
import os
import subprocess
import sys

import boto3
import numpy as np
import pytest
from moto import mock_aws

from lambda_code.predict import handler, s3read, service
from model_code import artifacts, dataset, train

BUCKET = "handler-test-output"
HERE = os.path.dirname(handler.__file__)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    split = dataset.make_split()
    fitted = train.train(np.vstack([b.X for b in split.batches]), np.concatenate([b.y for b in split.batches]))
    d = tmp_path_factory.mktemp("model")
    artifacts.save(fitted, d, version="v001", metrics={}, holdout_X=split.holdout.X)
    return str(d)


@pytest.fixture
def lambda_env(aws_credentials, monkeypatch, tmp_path):
    monkeypatch.setenv("OUTPUT_BUCKET", BUCKET)
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "30")
    monkeypatch.setenv("MAX_ROWS", "1000")
    monkeypatch.setattr(service, "_service", None)  # a fresh execution environment
    # moto patches botocore, not plain HTTP: the signed reader is tested against a real local
    # cloud (tests/integration/test_predict_s3read.py); here the same get() through boto3.
    monkeypatch.setattr(service, "_s3_reader", lambda: s3read.Boto3Reader(boto3.client("s3", region_name="us-east-1")))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3
    service._service = None


def _promote(s3, model_dir):
    for name in os.listdir(model_dir):
        s3.upload_file(os.path.join(model_dir, name), BUCKET, f"models/v001/{name}")
    paths = {"card": os.path.join(model_dir, "model_card.json"), "export": os.path.join(model_dir, "model_export.json")}
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=json.dumps(
        {"version": "v001", "model_key": "models/v001/model.joblib",
         **artifacts.pointer_fields(paths, "models/v001/")}).encode())


def _load(name):
    with open(os.path.join(HERE, "events", name), encoding="utf-8") as fh:
        return json.load(fh)


def test_sample_events(lambda_env, model_dir):
    _promote(lambda_env, model_dir)
    ok = handler.handler(_load("predict_one_row.json"), None)
    assert ok["statusCode"] == 200, ok
    body = json.loads(ok["body"])
    assert body["model_version"] == "v001" and body["predictions"] in ([0], [1])
    assert 0.0 <= body["probabilities"][0] <= 1.0
    assert handler.handler(_load("predict_base64.json"), None)["body"] == ok["body"]
    bad = handler.handler(_load("predict_bad_feature.json"), None)
    assert bad["statusCode"] == 400 and "'mean radius'" in json.loads(bad["body"])["message"]
    assert handler.handler(_load("predict_not_json.json"), None)["statusCode"] == 400


def test_every_sample_event_is_a_proxy_event():
    for path in glob.glob(os.path.join(HERE, "events", "predict_*.json")):
        ev = json.load(open(path))
        assert ev["httpMethod"] == "POST" and ev["resource"] == "/predict", path
        assert isinstance(ev["body"], str) and "requestId" in ev["requestContext"], path


def test_service_is_built_once_per_environment(lambda_env, model_dir):
    _promote(lambda_env, model_dir)
    handler.handler(_load("predict_one_row.json"), None)
    first = service._service
    handler.handler(_load("predict_one_row.json"), None)
    assert service._service is first and first.store.loads == 1


def test_missing_output_bucket_is_a_503_with_the_reason(lambda_env, monkeypatch):
    monkeypatch.delenv("OUTPUT_BUCKET")
    resp = handler.handler(_load("predict_one_row.json"), None)
    assert resp["statusCode"] == 503
    assert "OUTPUT_BUCKET" in json.loads(resp["body"])["message"]


def test_bad_refresh_setting_is_named(lambda_env, monkeypatch):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "soon")
    resp = handler.handler(_load("predict_one_row.json"), None)
    assert resp["statusCode"] == 503 and "MODEL_REFRESH_SECONDS" in resp["body"]


def test_no_client_is_created_at_import():
    # importing the handler must not touch AWS or build a boto3 client
    code = (
        "import sys, boto3; boto3.client = boto3.session.Session.client = None; "
        "sys.path.insert(0, sys.argv[1]); import handler; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code, HERE], capture_output=True, text=True, cwd=HERE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_handler_imports_as_a_top_level_module_as_in_lambda():
    # In Lambda the zip root is on sys.path: `handler` imports `service` without a package.
    code = "import handler, service; assert handler.service is service; print(handler.handler.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "handler"


def test_no_scikit_learn_scipy_or_joblib_on_any_path(tmp_path):
    """A fresh interpreter runs the handler through every path (a 200 for each model kind,
    the bad-input corpus, 503 without a model, a failed load) and never imports them."""
    script = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
os.environ["OUTPUT_BUCKET"] = "bucket"
import handler, service, s3read
heavy = lambda: sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "joblib"})
assert heavy() == [], heavy()
store = {}
class Reader:
    def get(self, bucket, key, etag=None):
        if key not in store:
            raise s3read.S3ReadError("NoSuchKey", 404, "")
        return s3read.Fetched(200, store[key], None)
service._s3_reader = Reader
row = json.load(open(os.path.join(sys.argv[1], "events", "predict_one_row.json")))
statuses = [handler.handler(row, None)["statusCode"]]           # no model: 503
for kind in ("logreg", "forest"):
    for name in os.listdir(sys.argv[2] + "/" + kind):
        store[f"models/{kind}/{name}"] = open(os.path.join(sys.argv[2], kind, name), "rb").read()
    store["models/latest.json"] = open(os.path.join(sys.argv[2], kind, "pointer.json"), "rb").read()
    service._service = None
    statuses.append(handler.handler(row, None)["statusCode"])
corpus = json.load(open(os.path.join(sys.argv[1], "events", "malformed_bodies.json")))
for case in corpus["cases"]:
    statuses.append(handler.handler({"body": case["body"], "isBase64Encoded": case["isBase64Encoded"]}, None)["statusCode"])
del store["models/forest/model_export.npz"]
service._service = None
statuses.append(handler.handler(row, None)["statusCode"])       # failed load: 503
print(json.dumps({"statuses": statuses, "heavy": heavy(), "numpy": "numpy" in sys.modules}))
"""
    split = dataset.make_split()
    X, y = np.vstack([b.X for b in split.batches]), np.concatenate([b.y for b in split.batches])
    for kind in ("logreg", "forest"):
        d = tmp_path / kind
        paths = artifacts.save(train.train(X, y, model=kind, n_estimators=20) if kind == "forest"
                               else train.train(X, y), d, version=kind, metrics={}, holdout_X=split.holdout.X)
        pointer = {"version": kind, "model_key": f"models/{kind}/model.joblib",
                   **artifacts.pointer_fields(paths, f"models/{kind}/")}
        (d / "pointer.json").write_text(json.dumps(pointer))
    out = subprocess.run([sys.executable, "-c", script, HERE, str(tmp_path)], capture_output=True, text=True,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [] and got["numpy"]
    assert got["statuses"][:3] == [503, 200, 200] and got["statuses"][-1] == 503
    assert set(got["statuses"][3:-1]) == {400}


def test_blas_runs_one_thread():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import handler, threadpoolctl; "
            "print(sorted({p['num_threads'] for p in threadpoolctl.threadpool_info()}))")
    out = subprocess.run([sys.executable, "-c", code, HERE], capture_output=True, text=True, cwd=HERE,
                         env={k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"
