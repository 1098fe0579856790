"""The notebooks' first-cell checks and re-run helpers: one line naming the notebooks to run,
what a re-run finds, tables that read well."""
import json

import pytest

from mlpipe import api, buckets, notebook, serving
from mlpipe.clients import client
from mlpipe.config import load_settings
from mlpipe.names import Names
from mlpipe.report import Report
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def _data_dir(tmp_path):
    (tmp_path / "holdout.csv").write_text("x")
    (tmp_path / "batch_01.csv").write_text("x")
    return tmp_path


def test_require_names_the_notebooks_to_run_first_in_one_line(aws, tmp_path):
    settings, names = aws
    with pytest.raises(notebook.NotReady) as err:
        notebook.require(settings, "cloud", "data", "buckets", "api", data_dir=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.endswith("run notebooks 01, 02, 03, 05 first (in order), then this one")
    assert "the REST API" in msg and "the input and output buckets" in msg
    # Jupyter shows the one line, not a traceback
    assert err.value._render_traceback_() == [f"NotReady: {msg}"]

    buckets.ensure(Stack(settings, names))
    line = notebook.require(settings, "cloud", "data", "buckets", data_dir=_data_dir(tmp_path))
    assert line.startswith("ready: stack mlpipe on the aws cloud answers and has the data files")
    with pytest.raises(notebook.NotReady, match="lacks the published layers: run notebook 03 first"):
        notebook.require(settings, "buckets", "layers", data_dir=tmp_path)


def test_on_an_empty_cloud_every_notebook_to_run_is_named(aws, tmp_path):
    settings, names = aws
    with pytest.raises(notebook.NotReady) as err:
        notebook.require(settings, "cloud", "api", "model", data_dir=_data_dir(tmp_path))
    assert str(err.value) == (
        "stack mlpipe on the aws cloud lacks the REST API, a promoted model, the input and output buckets "
        "and the published layers: run notebooks 02, 03, 05 first (in order), then this one")


def test_require_says_when_the_cloud_does_not_answer(monkeypatch):
    from mlpipe import clients

    settings = load_settings({"LOCALCLOUD_PORT": "9"})  # nothing listens on port 9
    clients.clear_cache()
    with pytest.raises(notebook.NotReady, match=r"not reachable .*notebook 00 starts or finds the cloud"):
        notebook.require(settings, "cloud", "api")
    assert notebook.cloud_answers(settings) is False
    clients.clear_cache()


def test_a_rerun_finds_the_data_and_the_runs_that_trained_on_it(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3 = client("s3", settings)
    assert notebook.data_keys(Stack(settings, names)) == []
    s3.put_object(Bucket=names.input_bucket, Key="data/batch_01.csv", Body=b"x")
    assert notebook.data_keys(Stack(settings, names)) == ["data/batch_01.csv"]
    for i, (status, inputs) in enumerate([("succeeded", ["data/batch_01.csv"]),
                                         ("failed", ["data/batch_01.csv", "data/batch_02.csv"]),
                                         ("succeeded", ["data/batch_01.csv", "data/batch_02.csv"])]):
        record = {"run_id": f"run-2026010{i}T000000Z-0000000{i}", "status": status, "inputs": inputs,
                  "started_at": f"2026-01-0{i + 1}T00:00:00Z", "finished_at": f"2026-01-0{i + 1}T00:00:01Z",
                  "model_version": None if status == "failed" else f"v00{i + 1}", "metrics": {}, "error": None}
        s3.put_object(Bucket=names.output_bucket, Key=f"runs/{record['run_id']}.json", Body=json.dumps(record))
    assert notebook.trained_on(Stack(settings, names), "data/batch_01.csv")["model_version"] == "v001"
    assert notebook.trained_on(Stack(settings, names), "data/batch_01.csv", first=False)["model_version"] == "v003"
    assert notebook.trained_on(Stack(settings, names), "data/batch_02.csv")["model_version"] == "v003"  # the failed run is no training
    assert notebook.trained_on(Stack(settings, names), "data/batch_03.csv") is None
    inv = notebook.inventory(Stack(settings, names))
    assert (inv["buckets"], inv["data files"], inv["runs"], inv["api"]) == (2, 1, 3, False)
    assert notebook.describe_inventory(inv, "mlpipe").startswith("it holds stack mlpipe: 2 buckets, 1 data files")


def test_an_empty_cloud_is_said_to_be_empty():
    inv = {"buckets": 0, "data files": 0, "functions": 0, "instance": None, "api": False, "runs": 0,
           "model": None, "buckets of any stack": 0}
    assert notebook.describe_inventory(inv, "mlpipe") == "it holds nothing of stack mlpipe: start with notebook 01"


def test_a_policy_reads_as_one_row_per_statement():
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Logs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "arn:aws:logs:us-east-1:1:log-group:/aws/lambda/x:*"},
        {"Sid": "Run", "Effect": "Allow", "Action": "ssm:SendCommand", "Resource": ["arn:a", "arn:b"],
         "Condition": {"StringEquals": {"aws:ResourceTag/stack": "mlpipe"}}}]}
    table = notebook.policy_table(doc)
    assert list(table.columns) == ["Sid", "Effect", "Actions", "Resources", "Condition"]
    assert table.loc[0, "Actions"] == "logs:CreateLogStream, logs:PutLogEvents"
    assert table.loc[1, "Resources"] == "arn:a, arn:b" and "aws:ResourceTag/stack" in table.loc[1, "Condition"]


def test_the_teardown_summary_counts_each_resource_once():
    reports = [Report("deleted", "rest api", "mlpipe-api"), Report("absent", "rest api", "mlpipe-api"),
               Report("deleted", "usage plan", "p"), Report("absent", "lambda layer", "l")]
    table = notebook.destroy_summary(reports).reset_index()
    rows = {(r.action, r.kind): r["count"] for _, r in table.iterrows()}
    assert rows == {("deleted", "rest api"): 1, ("deleted", "usage plan"): 1, ("absent", "lambda layer"): 1}


def test_an_exchange_shows_the_request_and_the_prediction_as_a_label():
    reply = serving.Reply(200, {"predictions": [0, 1], "probabilities": [0.1, 0.8], "model_version": "v003"}, 0.01)
    ex = serving.Exchange("http://h/predict", "abcdefghijklmnopqrstuvwxyz", [{"mean radius": 17.99}, {"mean radius": 9.0}],
                          reply, json.dumps(reply.body), [0, 0])
    assert ex.labels == [("malignant", pytest.approx(0.9)), ("benign", 0.8)]
    text = str(ex)
    assert text.startswith("POST http://h/predict\nContent-Type: application/json\nx-api-key: abcd****")
    assert "abcdefghijklmnopqrstuvwxyz" not in text and '"mean radius": 17.99' in text
    assert "prediction: malignant (probability 0.900) by model v003; true label: malignant (right)" in text
    assert "prediction: benign (probability 0.800) by model v003; true label: malignant (wrong)" in text


def test_the_usage_plan_is_read_as_deployed_not_from_the_settings(aws):
    settings, names = aws
    with pytest.raises(LookupError, match="run notebook 05 first"):
        api.deployed_throttle(Stack(settings, names))
    client("apigateway", settings).create_usage_plan(
        name=names.usage_plan, throttle={"rateLimit": 1.0, "burstLimit": 3},
        quota={"limit": 100, "period": "DAY"}, tags={"stack": names.stack})
    assert settings.throttle_burst_limit != 3
    assert api.deployed_throttle(Stack(settings, names)) == {"rate": 1.0, "burst": 3, "quota": 100, "period": "DAY"}
