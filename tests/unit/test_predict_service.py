"""The predict service against moto's S3 and a real model trained with model_code."""
from __future__ import annotations

import base64
import json
import logging
import os

import boto3
import numpy as np
import pytest
from moto import mock_aws

from lambda_code.predict import service
from model_code import artifacts, dataset, schema, train

BUCKET = "test-output-bucket"
EVENTS = os.path.join(os.path.dirname(service.__file__), "events")
CORPUS = json.load(open(os.path.join(EVENTS, "malformed_bodies.json"), encoding="utf-8"))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def split():
    return dataset.make_split()


@pytest.fixture(scope="module")
def model_dirs(split, tmp_path_factory):
    """Two different real models saved as artifacts (v001: logreg C=1, v002: logreg C=0.01)."""
    X = np.vstack([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    out = {}
    for version, params in (("v001", {}), ("v002", {"C": 0.01})):
        fitted = train.train(X, y, **params)
        d = tmp_path_factory.mktemp(version)
        artifacts.save(fitted, d, version=version, metrics={"accuracy": 1.0})
        out[version] = (str(d), fitted)
    return out


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def promote(s3, version, model_dir, card_edit=None):
    prefix = f"models/{version}/"
    s3.put_object(Bucket=BUCKET, Key=prefix + "model.joblib", Body=open(os.path.join(model_dir, "model.joblib"), "rb").read())
    card = json.load(open(os.path.join(model_dir, "model_card.json")))
    if card_edit:
        card_edit(card)
    s3.put_object(Bucket=BUCKET, Key=prefix + "model_card.json", Body=json.dumps(card).encode())
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=json.dumps(
        {"version": version, "model_key": prefix + "model.joblib", "metrics": {}, "promoted_at": "2025-01-01T00:00:00Z"}
    ).encode())


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def svc(s3, clock, tmp_path):
    store = service.ModelStore(lambda: s3, BUCKET, refresh_seconds=30, clock=clock, cache_dir=str(tmp_path / "cache"))
    return service.PredictService(store)


def event(body, b64=False):
    return {"httpMethod": "POST", "path": "/predict", "body": body, "isBase64Encoded": b64,
            "requestContext": {"requestId": "req-1", "stage": "production"}}


def rows(split, n):
    return [dict(zip(schema.FEATURE_NAMES, r.tolist())) for r in split.holdout.X[:n]]


def call(svc, body, b64=False):
    resp = svc.handle(event(body, b64))
    assert resp["headers"]["Content-Type"] == "application/json"
    return resp["statusCode"], json.loads(resp["body"])


# --------------------------------------------------------------------------- happy path


def test_predicts_with_the_promoted_model(svc, s3, split, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    status, body = call(svc, json.dumps({"instances": rows(split, 5)}))
    assert status == 200, body
    fitted = model_dirs["v001"][1]
    assert body["model_version"] == "v001"
    assert body["predictions"] == fitted.predict(split.holdout.X[:5]).tolist()
    assert np.allclose(body["probabilities"], fitted.predict_proba(split.holdout.X[:5])[:, 1])
    assert all(isinstance(p, int) for p in body["predictions"])


def test_model_is_loaded_once_and_cached(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    for _ in range(5):
        clock.now += 1
        assert call(svc, json.dumps({"instances": rows(split, 1)}))[0] == 200
    assert svc.store.loads == 1
    # the temp copy is removed once the model is in memory
    assert not os.listdir(svc.store.cache_dir)


def test_base64_encoded_body(svc, s3, split, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    raw = json.dumps({"instances": rows(split, 2)}).encode()
    status, body = call(svc, base64.b64encode(raw).decode(), b64=True)
    assert status == 200 and len(body["predictions"]) == 2


def test_max_rows_accepted(svc, s3, split, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    many = (rows(split, 100) * 10)[: schema.MAX_ROWS_PER_REQUEST]
    status, body = call(svc, json.dumps({"instances": many}))
    assert status == 200 and len(body["probabilities"]) == schema.MAX_ROWS_PER_REQUEST


# --------------------------------------------------------------------------- no model / refresh


def test_503_while_no_model_is_promoted(svc, split):
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503
    assert "no model has been promoted yet" in body["message"]
    assert "models/latest.json" in body["message"]


def test_first_promotion_is_served_at_once(svc, s3, split, model_dirs):
    assert call(svc, json.dumps({"instances": rows(split, 1)}))[0] == 503
    promote(s3, "v001", model_dirs["v001"][0])  # no clock advance needed
    assert call(svc, json.dumps({"instances": rows(split, 1)}))[1]["model_version"] == "v001"


def test_refresh_picks_up_a_new_version_after_the_interval(svc, s3, split, model_dirs, clock):
    body = json.dumps({"instances": rows(split, 20)})
    promote(s3, "v001", model_dirs["v001"][0])
    first = call(svc, body)[1]
    assert first["model_version"] == "v001"
    promote(s3, "v002", model_dirs["v002"][0])
    clock.now += 29.9
    assert call(svc, body)[1]["model_version"] == "v001"  # within the interval: no re-read
    clock.now += 0.2
    second = call(svc, body)[1]
    assert second["model_version"] == "v002"
    assert second["probabilities"] != first["probabilities"]  # really the other model
    assert np.allclose(second["probabilities"], model_dirs["v002"][1].predict_proba(split.holdout.X[:20])[:, 1])
    assert svc.store.loads == 2


def test_pointer_read_at_most_once_per_interval(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    gets = []
    real = s3.get_object
    svc.store._s3 = type("Counting", (), {"get_object": lambda self, **kw: (gets.append(kw["Key"]), real(**kw))[1]})()
    for _ in range(10):
        clock.now += 2.0
        call(svc, json.dumps({"instances": rows(split, 1)}))
    # first call loads (pointer + model + card); then one pointer read after 30 s have passed
    assert gets.count("models/latest.json") == 1 + 0  # 10 calls x 2 s = 20 s < 30 s
    clock.now += 15
    call(svc, json.dumps({"instances": rows(split, 1)}))
    assert gets.count("models/latest.json") == 2
    assert gets.count("models/v001/model.joblib") == 1


def test_old_model_kept_when_pointer_disappears_or_breaks(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    body = json.dumps({"instances": rows(split, 1)})
    assert call(svc, body)[0] == 200
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=b"{broken")
    clock.now += 31
    status, out = call(svc, body)
    assert status == 200 and out["model_version"] == "v001"


def test_incompatible_model_is_refused_with_503(svc, s3, split, model_dirs):
    def older(card):
        card["libraries"]["scikit-learn"] = "1.2.2"

    promote(s3, "v009", model_dirs["v001"][0], card_edit=older)
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503
    assert "v009" in body["message"] and "1.2.2" in body["message"]
    assert "scikit-learn" in body["message"]


def test_incompatible_new_version_keeps_serving_the_old_one(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    body = json.dumps({"instances": rows(split, 1)})
    assert call(svc, body)[1]["model_version"] == "v001"
    promote(s3, "v002", model_dirs["v002"][0], card_edit=lambda c: c["libraries"].update({"scikit-learn": "0.24.2"}))
    clock.now += 31
    status, out = call(svc, body)
    assert status == 200 and out["model_version"] == "v001"
    loads = svc.store.loads
    clock.now += 31
    call(svc, body)
    assert svc.store.loads == loads  # the refused version is not downloaded again


def test_corrupt_model_is_a_503_not_a_crash(svc, s3, split):
    s3.put_object(Bucket=BUCKET, Key="models/v001/model.joblib", Body=b"not a pickle")
    s3.put_object(Bucket=BUCKET, Key="models/latest.json",
                  Body=json.dumps({"version": "v001", "model_key": "models/v001/model.joblib"}).encode())
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and "v001 could not be loaded" in body["message"]


def test_pointer_without_model_key_is_a_503(svc, s3, split):
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=b'{"version": "v001"}')
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and "not a valid pointer" in body["message"]


# --------------------------------------------------------------------------- bad input


def _corpus_ids():
    return [c["name"] for c in CORPUS["cases"]]


@pytest.mark.parametrize("case", CORPUS["cases"], ids=_corpus_ids())
def test_malformed_body_is_a_400_with_a_message(svc, s3, model_dirs, case):
    promote(s3, "v001", model_dirs["v001"][0])
    status, body = call(svc, case["body"], b64=case["isBase64Encoded"])
    assert status == 400, (case["name"], body)
    assert case["expect"].lower() in body["message"].lower(), (case["name"], body["message"])


def test_too_many_rows_is_a_400_naming_the_limit(svc, s3, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    many = [CORPUS["good_row"]] * (schema.MAX_ROWS_PER_REQUEST + 1)
    status, body = call(svc, json.dumps({"instances": many}))
    assert status == 400
    assert f"at most {schema.MAX_ROWS_PER_REQUEST}" in body["message"]


def test_bad_input_is_400_even_without_a_model(svc):
    status, body = call(svc, "{not json")
    assert status == 400 and "not valid JSON" in body["message"]


def test_the_corpus_good_row_is_valid(svc, s3, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    assert call(svc, json.dumps({"instances": [CORPUS["good_row"]]}))[0] == 200


def test_max_rows_is_configurable(s3, clock, model_dirs, tmp_path):
    promote(s3, "v001", model_dirs["v001"][0])
    store = service.ModelStore(lambda: s3, BUCKET, clock=clock, cache_dir=str(tmp_path))
    small = service.PredictService(store, max_rows=2)
    status, body = call(small, json.dumps({"instances": [CORPUS["good_row"]] * 3}))
    assert status == 400 and "at most 2" in body["message"]


# --------------------------------------------------------------------------- logs


def test_one_structured_log_line_per_request(svc, s3, split, model_dirs, caplog):
    promote(s3, "v001", model_dirs["v001"][0])
    with caplog.at_level(logging.INFO, logger="mlpipe.predict"):
        svc.handle(event(json.dumps({"instances": rows(split, 3)})), type("Ctx", (), {"aws_request_id": "abc-123"})())
        svc.handle(event("{bad"), None)
    lines = [json.loads(r.getMessage()) for r in caplog.records if '"predict"' in r.getMessage()]
    ok, bad = lines
    assert ok["request_id"] == "abc-123" and ok["model_version"] == "v001" and ok["n_rows"] == 3
    assert ok["status"] == 200 and isinstance(ok["latency_ms"], float)
    assert bad["request_id"] == "req-1" and bad["status"] == 400 and "not valid JSON" in bad["message"]


# --------------------------------------------------------------------------- pure parts


def test_parse_body_returns_the_feature_matrix_in_schema_order(split):
    X = service.parse_body(event(json.dumps({"instances": rows(split, 3)})))
    assert X.shape == (3, 30) and np.array_equal(X, split.holdout.X[:3])


def test_response_is_strict_json():
    with pytest.raises(ValueError):
        service.respond(200, {"x": float("nan")})
