"""Issue 19: the promotion gate remembers the seeded first model. A stack seeded before
seeds wrote ``models/v001/promoted.json`` had only the pointer; once v002 was promoted the
gate forgot v001, and a model 0.0106 below it was promoted. Now the seed writes the marker
(mlpipe.registry; tests/unit/test_mlpipe_api.py checks its keys) and a promotion keeps the marker of the model it replaces."""
import json

import boto3
import pytest
from moto import mock_aws

from ec2_scripts import train_run

OUT = "mlpipe-output-gate"


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=OUT)
        yield client


def _put(s3, key, doc):
    s3.put_object(Bucket=OUT, Key=key, Body=json.dumps(doc).encode())


def test_a_seeded_model_without_marker_still_bars_a_worse_one_after_the_next_promotion(s3):
    v1 = {"version": "v001", "model_key": "models/v001/model.joblib", "metrics": {"roc_auc": 0.9950}}
    _put(s3, "models/v001/metrics.json", v1["metrics"])
    _put(s3, "models/latest.json", v1)              # a legacy seed: pointer, no promoted.json
    v2 = {"version": "v002", "model_key": "models/v002/model.joblib", "metrics": {"roc_auc": 0.9900}}
    _put(s3, "models/v002/metrics.json", v2["metrics"])
    assert train_run.gate(v2["metrics"], train_run.best_promoted(s3, OUT), 0.01)[0]
    train_run.promote_model(s3, OUT, v2, train_run.read_latest(s3, OUT))
    assert train_run.read_latest(s3, OUT)["version"] == "v002"
    best = train_run.best_promoted(s3, OUT)
    assert best["version"] == "v001"                 # not forgotten
    v3 = {"roc_auc": 0.9844}                          # 0.0106 below v001, within 0.01 of v002
    promote, reason = train_run.gate(v3, best, 0.01)
    assert not promote and "v001" in reason



def test_a_file_under_a_non_ascii_key_is_set_aside_with_its_key_percent_encoded(s3):
    """Issue 19: S3 user metadata must be ASCII (botocore refuses it before sending), so the
    poison file data/плохой.csv could never be set aside and failed every later run."""
    from glue_contract import keys
    s3.create_bucket(Bucket="mlpipe-input-gate")
    key = "data/плохой.csv"
    s3.put_object(Bucket="mlpipe-input-gate", Key=key, Body=b"mean radius\n1e308\n")
    target = train_run.reject_file(s3, "mlpipe-input-gate", key, "r1")
    assert target == "rejected/плохой.csv"
    assert "Contents" not in s3.list_objects_v2(Bucket="mlpipe-input-gate", Prefix="data/")
    meta = s3.head_object(Bucket="mlpipe-input-gate", Key=target)["Metadata"]
    assert meta["mlpipe-source-key"].isascii() and keys.from_metadata(meta["mlpipe-source-key"]) == key


def test_the_exit_trap_record_carries_retry_of_from_the_command(s3, monkeypatch):
    """The worker passes MLPIPE_RETRY_OF to the command; the trap's record keeps it, so a
    killed retry is not re-run again (lambda_code/stop_ec2)."""
    from ec2_scripts import record
    monkeypatch.setenv("MLPIPE_RETRY_OF", "run-20240501T115900Z-00000000")
    assert record.main(["ensure", "--output-bucket", OUT, "--run-id", "run-20240501T120000Z-0000000a",
                        "--exit-code", "137", "--trigger-keys", "data/a.csv"]) == 0
    rec = json.loads(s3.get_object(Bucket=OUT, Key="runs/run-20240501T120000Z-0000000a.json")["Body"].read())
    assert rec["retry_of"] == "run-20240501T115900Z-00000000" and rec["exit_code"] == 137
    assert "killed by signal 9" in rec["error"]
