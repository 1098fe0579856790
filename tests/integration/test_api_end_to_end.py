"""Part 2 end to end on the local cloud: deploy the backend, then call the API over HTTP.

What a new user does: `mlpipe deploy --part backend` (no Part 1: a model is trained and
promoted by the deploy), then POST to `mlpipe outputs`' api_url with the api_key.
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import api, buckets, clients, deploy, functions, registry
from mlpipe.config import load_settings
from mlpipe.names import names_for
from mlpipe.stack import Stack
from model_code import artifacts, dataset, schema, train

pytestmark = pytest.mark.integration

STACK = "apie2e"
REFRESH_SECONDS = 2
EVENTS = os.path.join(os.path.dirname(functions.source_dir("predict") / "handler.py"), "events")
CORPUS = json.load(open(os.path.join(EVENTS, "malformed_bodies.json"), encoding="utf-8"))


def _settings(endpoint: str, **env):
    base = {"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint, "MLPIPE_STACK": STACK,
            "MLPIPE_MODEL_REFRESH_SECONDS": str(REFRESH_SECONDS),
            # generous limits for the functional tests; test_burst tightens them
            "MLPIPE_THROTTLE_RATE": "1000", "MLPIPE_THROTTLE_BURST": "1000", "MLPIPE_QUOTA_LIMIT": "100000"}
    base.update(env)
    return load_settings(base)


def deploy_part_two(settings):
    """`mlpipe deploy --part backend`, as the CLI runs it, on top of the two buckets.

    The buckets come first: the packages layer is over 50 MB zipped, so mlpipe.layers
    publishes it through the input bucket.
    """
    buckets.ensure(Stack.load(settings))
    return deploy.deploy(settings, part="backend", progress=lambda m: None)


@pytest.fixture(scope="module")
def backend(local_cloud):  # noqa: F811
    settings = _settings(local_cloud.endpoint_url)
    clients.clear_cache()
    names = names_for(settings)
    reports = deploy_part_two(settings)
    skipped = [str(r) for r in reports if r.action == "skipped"]
    assert not skipped, skipped
    out = api.backend_outputs(Stack(settings, names))
    assert out["api_url"] and out["api_key"], out
    yield settings, names, out


def post(url, body, key=None, timeout=60):
    data = body if isinstance(body, bytes) else (b"" if body is None else body.encode("utf-8"))
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    if key is not None:
        req.add_header("x-api-key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, {"raw": raw.decode("utf-8", "replace")}


@pytest.fixture(scope="module")
def holdout():
    return dataset.make_split().holdout


def body_for(X):
    return json.dumps({"instances": [dict(zip(schema.FEATURE_NAMES, r.tolist())) for r in X]})


def test_predict_with_the_key(backend, holdout):
    settings, names, out = backend
    status, body = post(out["api_url"], body_for(holdout.X[:10]), out["api_key"])
    assert status == 200, body
    assert len(body["predictions"]) == 10 and len(body["probabilities"]) == 10
    assert set(body["predictions"]) <= {0, 1}
    assert all(0.0 <= p <= 1.0 for p in body["probabilities"])
    # labels a person reads, one probability per class (the dataset file's classes)
    labels = {0: "malignant", 1: "benign"}
    assert body["labels"] == [labels[p] for p in body["predictions"]]
    assert all(abs(c["benign"] - p) < 1e-12 and abs(c["malignant"] + c["benign"] - 1) < 1e-9
               for c, p in zip(body["class_probabilities"], body["probabilities"]))
    pointer = registry.latest_pointer(Stack(settings, names))
    assert body["model_version"] == pointer["version"]
    # the seeded model is a real one: the holdout is mostly right
    assert np.mean(np.array(body["predictions"]) == holdout.y[:10]) >= 0.8


def test_no_key_or_a_wrong_key_is_403(backend, holdout):
    _, _, out = backend
    status, body = post(out["api_url"], body_for(holdout.X[:1]))
    assert status == 403 and body["message"]
    status, body = post(out["api_url"], body_for(holdout.X[:1]), "not-the-key")
    assert status == 403 and body["message"]


@pytest.mark.parametrize("case", [c for c in CORPUS["cases"] if c["via_api"]], ids=lambda c: c["name"])
def test_malformed_bodies_are_4xx_with_a_message(backend, case):
    _, _, out = backend
    status, body = post(out["api_url"], case["body"], out["api_key"])
    assert 400 <= status < 500, (case["name"], status, body)
    message = body.get("message") if isinstance(body, dict) else None
    assert message, (case["name"], body)
    if not message.startswith("Invalid request body"):  # not stopped by the gateway's validator:
        assert case["expect"].lower() in message.lower(), (case["name"], message)  # the function's words


def test_too_many_rows_is_4xx(backend):
    _, _, out = backend
    many = json.dumps({"instances": [CORPUS["good_row"]] * (schema.MAX_ROWS_PER_REQUEST + 1)})
    status, body = post(out["api_url"], many, out["api_key"])
    assert status == 400 and body["message"]


def test_non_finite_numbers_reach_the_function_and_are_named(backend):
    # JSON has no NaN; the gateway's validator lets Python-style NaN through, the function does not
    _, _, out = backend
    (case,) = [c for c in CORPUS["cases"] if c["name"] == "nan"]
    status, body = post(out["api_url"], case["body"], out["api_key"])
    assert status == 400 and "NaN" in body["message"]


def test_a_newly_promoted_model_is_served_within_the_refresh_interval(backend, holdout, tmp_path):
    settings, names, out = backend
    request = body_for(holdout.X[:5])
    status, before = post(out["api_url"], request, out["api_key"])
    assert status == 200
    # Part 1's promotion, as the training run does it: artifacts, then the pointer last.
    split = dataset.make_split()
    fitted = train.train(np.vstack([b.X for b in split.batches]), np.concatenate([b.y for b in split.batches]), C=0.01)
    version = f"v{int(before['model_version'][1:]) + 1:03d}"
    promote(settings, names, fitted, version, tmp_path, holdout)
    promoted = time.monotonic()
    while True:
        status, body = post(out["api_url"], request, out["api_key"])
        assert status == 200, body
        if body["model_version"] == version:
            break
        assert time.monotonic() - promoted < REFRESH_SECONDS + 10, "the new model was not served in time"
        time.sleep(0.2)
    waited = time.monotonic() - promoted
    assert waited <= REFRESH_SECONDS + 5  # the interval plus one model load
    assert np.allclose(body["probabilities"], fitted.predict_proba(holdout.X[:5])[:, 1])


def promote(settings, names, fitted, version, tmp_path, holdout):
    """Part 1's promotion, as the training run does it: artifacts and export, the pointer last."""
    paths = artifacts.save(fitted, tmp_path / version, version=version, metrics={"accuracy": 0.0},
                           holdout_X=holdout.X)
    s3 = clients.client("s3", settings)
    prefix = f"models/{version}/"
    for p in paths.values():
        s3.upload_file(p, names.output_bucket, prefix + os.path.basename(p))
    s3.put_object(Bucket=names.output_bucket, Key=names.latest_key, Body=json.dumps(
        {"version": version, "model_key": prefix + "model.joblib", "metrics": {}, "promoted_at": "now",
         **artifacts.pointer_fields(paths, prefix)}).encode())


def _served(out, request, version, deadline):
    while True:
        status, body = post(out["api_url"], request, out["api_key"])
        assert status == 200, body
        if body["model_version"] == version:
            return body
        assert time.monotonic() < deadline, f"{version} was not served in time"
        time.sleep(0.2)


@pytest.mark.parametrize("kind", ["forest", "logreg"])
def test_predictions_through_the_api_equal_scikit_learn_on_the_holdout(backend, holdout, tmp_path, kind):
    settings, names, out = backend
    split = dataset.make_split()
    X, y = np.vstack([b.X for b in split.batches]), np.concatenate([b.y for b in split.batches])
    fitted = train.train(X, y, model=kind)
    status, before = post(out["api_url"], body_for(holdout.X[:1]), out["api_key"])
    assert status == 200
    version = f"v{int(before['model_version'][1:]) + 1:03d}"
    promote(settings, names, fitted, version, tmp_path, holdout)
    body = _served(out, body_for(holdout.X), version, time.monotonic() + REFRESH_SECONDS + 15)
    assert body["predictions"] == fitted.predict(holdout.X).tolist()
    assert np.max(np.abs(np.array(body["probabilities"]) - fitted.predict_proba(holdout.X)[:, 1])) <= 1e-9


def test_a_deleted_pointer_is_a_503_within_the_interval_and_a_promotion_serves_at_once(backend, holdout):
    settings, names, out = backend
    s3 = clients.client("s3", settings)
    saved = s3.get_object(Bucket=names.output_bucket, Key=names.latest_key)["Body"].read()
    request = body_for(holdout.X[:1])
    assert post(out["api_url"], request, out["api_key"])[0] == 200
    s3.delete_object(Bucket=names.output_bucket, Key=names.latest_key)
    deadline = time.monotonic() + REFRESH_SECONDS + 10
    while True:
        status, body = post(out["api_url"], request, out["api_key"])
        if status == 503:
            break
        assert status == 200 and time.monotonic() < deadline, "the old model was still served"
        time.sleep(0.2)
    assert "no model is promoted" in body["message"] and body["model_version"] is None
    s3.put_object(Bucket=names.output_bucket, Key=names.latest_key, Body=saved)
    status, body = post(out["api_url"], request, out["api_key"])  # nothing served: re-read at once
    assert status == 200 and body["model_version"] == json.loads(saved)["version"]


def test_every_error_response_names_the_model_version(backend):
    _, _, out = backend
    (case,) = [c for c in CORPUS["cases"] if c["name"] == "nan"]  # passes the gateway, not the function
    status, body = post(out["api_url"], case["body"], out["api_key"])
    assert status == 400 and body["model_version"].startswith("v")


def test_burst_past_the_usage_plan_is_429(backend, holdout):
    settings, names, out = backend
    tight = settings.with_(throttle_rate_limit=2.0, throttle_burst_limit=5)
    reports = {r.kind: r for r in deploy.deploy_backend(Stack(tight, names))}
    assert reports["usage plan"].action == "updated"
    statuses = [post(out["api_url"], body_for(holdout.X[:1]), out["api_key"])[0] for _ in range(25)]
    assert 429 in statuses, statuses
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 429}
    deploy.deploy_backend(Stack(settings, names))  # back to the generous limits
