"""The predict service against moto's S3 and real models (logreg and forest) trained with
model_code and served from their numpy exports."""
from __future__ import annotations

import base64
import json
import logging
import os

import boto3
import numpy as np
import pytest
from moto import mock_aws

from lambda_code.predict import s3read, service
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
    """Real models saved as artifacts with their verified exports (v001: logreg C=1,
    v002: logreg C=0.01, f001: a forest): {version: (dir, fitted, paths)}."""
    X = np.vstack([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    out = {}
    for version, kind, params in (("v001", "logreg", {}), ("v002", "logreg", {"C": 0.01}),
                                  ("f001", "forest", {"n_estimators": 50})):
        fitted = train.train(X, y, model=kind, **params)
        d = tmp_path_factory.mktemp(version)
        paths = artifacts.save(fitted, d, version=version, metrics={"accuracy": 1.0}, holdout_X=split.holdout.X)
        out[version] = (str(d), fitted, paths)
    return out


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def pointer_for(version, paths, inline=True):
    prefix = f"models/{version}/"
    pointer = {"version": version, "model_key": prefix + "model.joblib", "metrics": {},
               "promoted_at": "2025-01-01T00:00:00Z", **artifacts.pointer_fields(paths, prefix)}
    if not inline:
        pointer.pop("export_inline", None)
    return pointer


def promote(s3, version, model_dir, *, inline=True, upload=True, pointer_edit=None):
    """What a training run does: the artifacts, then the pointer last."""
    prefix = f"models/{version}/"
    names = [n for n in os.listdir(model_dir) if not n.startswith(".")]
    if upload:
        for name in names:
            s3.put_object(Bucket=BUCKET, Key=prefix + name, Body=open(os.path.join(model_dir, name), "rb").read())
    files = {"card": os.path.join(model_dir, "model_card.json")}
    export_file = [n for n in names if n.startswith("model_export.")]
    if export_file:
        files["export"] = os.path.join(model_dir, export_file[0])
    pointer = pointer_for(version, files, inline=inline)
    if pointer_edit:
        pointer_edit(pointer)
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=json.dumps(pointer).encode())
    return pointer


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def svc(s3, clock):
    store = service.ModelStore(lambda: s3read.Boto3Reader(s3), BUCKET, refresh_seconds=30, clock=clock)
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


@pytest.mark.parametrize("version", ["v001", "f001"])
@pytest.mark.parametrize("inline", [True, False])
def test_predicts_the_holdout_as_scikit_learn_does(svc, s3, split, model_dirs, version, inline):
    promote(s3, version, model_dirs[version][0], inline=inline)
    status, body = call(svc, json.dumps({"instances": rows(split, len(split.holdout.X))}))
    assert status == 200, body
    fitted = model_dirs[version][1]
    assert body["model_version"] == version
    assert body["predictions"] == fitted.predict(split.holdout.X).tolist()
    assert np.max(np.abs(np.array(body["probabilities"]) - fitted.predict_proba(split.holdout.X)[:, 1])) <= 1e-9
    assert all(isinstance(p, int) for p in body["predictions"])


def test_a_small_linear_export_rides_inline_and_costs_one_read(svc, s3, split, model_dirs):
    pointer = promote(s3, "v001", model_dirs["v001"][0])
    assert pointer["export_inline"]["kind"] == "logreg" and pointer["export"]["key"] == "models/v001/model_export.json"
    s3.delete_object(Bucket=BUCKET, Key="models/v001/model_export.json")  # not needed: it is inline
    assert call(svc, json.dumps({"instances": rows(split, 1)}))[0] == 200
    assert svc.store.pointer_reads == 1


def test_the_forest_export_is_read_from_s3_and_checked_against_its_sha256(svc, s3, split, model_dirs):
    pointer = promote(s3, "f001", model_dirs["f001"][0])
    assert "export_inline" not in pointer and pointer["export"]["key"].endswith(".npz")
    s3.put_object(Bucket=BUCKET, Key=pointer["export"]["key"], Body=b"PK replaced")
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and "sha256" in body["message"] and body["model_version"] is None


def test_model_is_loaded_once_and_cached(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    for _ in range(5):
        clock.now += 1
        assert call(svc, json.dumps({"instances": rows(split, 1)}))[0] == 200
    assert svc.store.loads == 1


def test_base64_encoded_body(svc, s3, split, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0])
    raw = json.dumps({"instances": rows(split, 2)}).encode()
    status, body = call(svc, base64.b64encode(raw).decode(), b64=True)
    assert status == 200 and len(body["predictions"]) == 2


def test_max_rows_accepted(svc, s3, split, model_dirs):
    promote(s3, "f001", model_dirs["f001"][0])
    many = (rows(split, 100) * 10)[: schema.MAX_ROWS_PER_REQUEST]
    status, body = call(svc, json.dumps({"instances": many}))
    assert status == 200 and len(body["probabilities"]) == schema.MAX_ROWS_PER_REQUEST


# --------------------------------------------------------------------------- one model at a time


def test_503_while_no_model_is_promoted(svc, split):
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and body["model_version"] is None
    assert "no model is promoted" in body["message"]
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


def test_switching_model_kind_is_a_promotion_like_any_other(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    assert call(svc, json.dumps({"instances": rows(split, 3)}))[1]["model_version"] == "v001"
    promote(s3, "f001", model_dirs["f001"][0])
    clock.now += 30
    status, body = call(svc, json.dumps({"instances": rows(split, 3)}))
    assert status == 200 and body["model_version"] == "f001"
    assert body["probabilities"] == model_dirs["f001"][1].predict_proba(split.holdout.X[:3])[:, 1].tolist()


def test_pointer_read_at_most_once_per_interval(svc, s3, split, model_dirs, clock):
    promote(s3, "f001", model_dirs["f001"][0])
    gets = []
    real = s3read.Boto3Reader(s3)
    svc.store._reader = type("Counting", (), {"get": lambda self, b, k, e=None: (gets.append((k, e)), real.get(b, k, e))[1]})()
    for _ in range(10):
        clock.now += 2.0
        call(svc, json.dumps({"instances": rows(split, 1)}))
    assert [k for k, _ in gets].count("models/latest.json") == 1  # 10 calls x 2 s = 20 s < 30 s
    clock.now += 15
    call(svc, json.dumps({"instances": rows(split, 1)}))
    pointer_gets = [e for k, e in gets if k == "models/latest.json"]
    assert len(pointer_gets) == 2 and pointer_gets[1]  # the re-read is conditional (If-None-Match)
    assert [k for k, _ in gets].count("models/f001/model_export.npz") == 1


def test_a_deleted_pointer_means_no_model_everywhere_within_the_interval(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    body = json.dumps({"instances": rows(split, 1)})
    assert call(svc, body)[0] == 200
    s3.delete_object(Bucket=BUCKET, Key="models/latest.json")
    clock.now += 29
    assert call(svc, body)[1]["model_version"] == "v001"  # not re-read yet
    clock.now += 1
    status, out = call(svc, body)
    assert status == 503 and "no model is promoted" in out["message"] and out["model_version"] is None
    promote(s3, "v002", model_dirs["v002"][0], upload=True)
    assert call(svc, body)[1]["model_version"] == "v002"  # nothing served: re-read at once


def test_a_broken_pointer_is_no_model_not_the_old_one(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    body = json.dumps({"instances": rows(split, 1)})
    assert call(svc, body)[0] == 200
    s3.put_object(Bucket=BUCKET, Key="models/latest.json", Body=b"{broken")
    clock.now += 31
    status, out = call(svc, body)
    assert status == 503 and "not a valid pointer" in out["message"]


def test_an_unreadable_pointer_keeps_the_confirmed_version_and_retries(svc, s3, split, model_dirs, clock):
    promote(s3, "v001", model_dirs["v001"][0])
    body = json.dumps({"instances": rows(split, 1)})
    assert call(svc, body)[0] == 200
    real = svc.store.reader

    class Down:
        def get(self, *a):
            raise s3read.S3ReadError("SlowDown", 503, "Please reduce your request rate.")

    svc.store._reader = Down()
    clock.now += 31
    assert call(svc, body)[1]["model_version"] == "v001"
    svc.store._reader = real
    promote(s3, "v002", model_dirs["v002"][0])
    clock.now += 1.1  # the first retry comes after 1 s, not a whole interval
    assert call(svc, body)[1]["model_version"] == "v002"


def test_a_version_that_failed_to_load_is_retried_with_backoff_never_refused_for_good(svc, s3, split, model_dirs, clock):
    body = json.dumps({"instances": rows(split, 1)})
    promote(s3, "f001", model_dirs["f001"][0], upload=False)  # pointer first, export not there yet
    status, out = call(svc, body)
    assert status == 503 and "f001" in out["message"] and "attempt 1" in out["message"]
    clock.now += 0.5
    assert call(svc, body)[0] == 503 and svc.store.loads == 0  # backing off: no reload yet
    for name in os.listdir(model_dirs["f001"][0]):
        s3.put_object(Bucket=BUCKET, Key=f"models/f001/{name}",
                      Body=open(os.path.join(model_dirs["f001"][0], name), "rb").read())
    clock.now += 0.6
    status, out = call(svc, body)
    assert status == 200 and out["model_version"] == "f001"


def test_backoff_doubles_up_to_the_refresh_interval(svc, s3, split, model_dirs, clock):
    promote(s3, "f001", model_dirs["f001"][0], upload=False)
    body = json.dumps({"instances": rows(split, 1)})
    waits = []
    for _ in range(8):
        call(svc, body)
        waits.append(round(svc.store._pending.next_retry - clock.now, 3))
        clock.now = svc.store._pending.next_retry
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    assert svc.store._pending.attempts == 8


def test_a_new_version_that_fails_keeps_the_old_one_only_for_one_interval(svc, s3, split, model_dirs, clock):
    body = json.dumps({"instances": rows(split, 1)})
    promote(s3, "v001", model_dirs["v001"][0])
    assert call(svc, body)[1]["model_version"] == "v001"
    promote(s3, "f001", model_dirs["f001"][0], upload=False)
    clock.now += 30
    assert call(svc, body)[1]["model_version"] == "v001"  # f001 failed: v001 while it is retried
    clock.now += 29.9
    assert call(svc, body)[1]["model_version"] == "v001"
    clock.now += 0.2
    status, out = call(svc, body)  # never the old one next to the new one indefinitely
    assert status == 503 and "f001" in out["message"] and out["model_version"] == "v001"


def test_a_pointer_without_an_export_is_a_503_naming_why(svc, s3, split, model_dirs):
    promote(s3, "v001", model_dirs["v001"][0],
            pointer_edit=lambda p: (p.pop("export"), p.pop("export_inline")))
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and "no serving export" in body["message"]


def test_corrupt_export_is_a_503_not_a_crash(svc, s3, split, model_dirs):
    promote(s3, "f001", model_dirs["f001"][0], pointer_edit=lambda p: p["export"].pop("sha256"))
    s3.put_object(Bucket=BUCKET, Key="models/f001/model_export.npz", Body=b"not an export")
    status, body = call(svc, json.dumps({"instances": rows(split, 1)}))
    assert status == 503 and "f001 could not be loaded" in body["message"]


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
    assert body["model_version"] == "v001"
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
    store = service.ModelStore(lambda: s3read.Boto3Reader(s3), BUCKET, clock=clock)
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
    from model_code.encode import Encoder
    from model_code.schema import FEATURE_NAMES

    X = Encoder.plain(FEATURE_NAMES).transform(service.parse_body(event(json.dumps({"instances": rows(split, 3)}))))
    assert X.shape == (3, 30) and np.array_equal(X, split.holdout.X[:3])


def test_response_is_strict_json():
    with pytest.raises(ValueError):
        service.respond(200, {"x": float("nan")})
