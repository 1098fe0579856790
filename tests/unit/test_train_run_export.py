"""The EC2 training run and the serving export: a model is promoted only with a verified
export, which models/latest.json names (inline for the small linear model)."""
import json

import boto3
import numpy as np
import pytest
from moto import mock_aws

from ec2_scripts import train_run
from model_code import export
from model_code.dataset import write_split

IN, OUT = "mlpipe-input-exp", "mlpipe-output-exp"


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split"), n_batches=3, seed=0)


@pytest.fixture
def s3(aws_credentials, split):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=IN)
        client.create_bucket(Bucket=OUT)
        client.upload_file(split["holdout"], IN, "holdout/holdout.csv")
        for p in split["batches"]:
            client.upload_file(p, IN, f"data/{p.rsplit('/', 1)[-1]}")
        yield client


def _json(s3, key):
    return json.loads(s3.get_object(Bucket=OUT, Key=key)["Body"].read())


@pytest.mark.parametrize("kind, file", [("logreg", "model_export.json"), ("forest", "model_export.npz")])
def test_each_kind_is_exported_verified_and_named_by_the_pointer(s3, tmp_path, kind, file):
    record = train_run.run(s3, input_bucket=IN, output_bucket=OUT, run_id="run-1", work_dir=str(tmp_path),
                           model_kind=kind)
    assert record["status"] == "succeeded", record["error"]
    card = _json(s3, "models/v001/model_card.json")
    assert card["export"]["file"] == file and card["export"]["kind"] == kind
    assert card["export"]["max_abs_diff"] <= 1e-9 and card["export"]["verified_rows"] > 100
    latest = _json(s3, "models/latest.json")
    assert latest["export"]["key"] == f"models/v001/{file}"
    assert latest["export"]["sha256"] == card["export"]["sha256"]
    assert ("export_inline" in latest) == (kind == "logreg")
    data = s3.get_object(Bucket=OUT, Key=latest["export"]["key"])["Body"].read()
    assert export.from_bytes(data).kind == kind


def test_a_model_whose_export_does_not_verify_is_rejected_with_the_reason(s3, tmp_path, monkeypatch):
    real = export.max_difference
    monkeypatch.setattr(export, "max_difference", lambda e, m, X, rows=None: real(e, m, X, rows) + 1e-6)  # an approximation
    record = train_run.run(s3, input_bucket=IN, output_bucket=OUT, run_id="run-2", work_dir=str(tmp_path))
    assert record["status"] == "rejected" and record["promoted"] is False
    assert "no verified serving export" in record["error"] and "tolerance" in record["error"]
    assert "not promoted" in record["gate"]["reason"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=OUT, Prefix="models/").get("Contents", [])]
    assert "models/latest.json" not in keys and "models/v001/model.joblib" in keys
    assert not any("model_export" in k for k in keys)  # nothing unverified is written
    assert "error" in _json(s3, "models/v001/model_card.json")["export"]


def test_a_model_that_cannot_be_exported_is_rejected(s3, tmp_path, monkeypatch):
    def refuse(model, names, **kw):
        raise export.ExportError("no serving export for SVC")

    monkeypatch.setattr(export, "export_model", refuse)
    record = train_run.run(s3, input_bucket=IN, output_bucket=OUT, run_id="run-3", work_dir=str(tmp_path))
    assert record["status"] == "rejected" and "no serving export for SVC" in record["error"]
