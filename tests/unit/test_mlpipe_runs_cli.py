"""Run records, status, outputs and the CLI (aws target in mock_aws)."""
import json

import boto3
import pytest

from mlpipe import api, buckets, cli, runs, status
from mlpipe import deploy as deploy_mod
from mlpipe.stack import Stack

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)


def _record(run_id, started, finished, status_="succeeded", **extra):
    return {"run_id": run_id, "status": status_, "started_at": started, "finished_at": finished,
            "inputs": ["data/batch_01.csv"], "model_version": "v001" if status_ == "succeeded" else None,
            "metrics": {"accuracy": 0.95, "f1": 0.96, "roc_auc": 0.99} if status_ == "succeeded" else {},
            "error": None if status_ == "succeeded" else "data/bad.csv: row 1, column 'x': 'abc' is not a number",
            **extra}


@pytest.fixture
def with_runs(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3 = boto3.client("s3", region_name="us-east-1")
    recs = [
        _record("run-20260101T000200Z-bbbbbbbb", "2026-01-01T00:02:00Z", "2026-01-01T00:03:00Z", "failed"),
        _record("run-20260101T000000Z-aaaaaaaa", "2026-01-01T00:00:00Z", "2026-01-01T00:00:36Z"),
        _record("run-20260101T000400Z-cccccccc", "2026-01-01T00:04:00+00:00", "2026-01-01T00:04:30+00:00",
                instance_seconds=7200),
    ]
    for r in recs:
        s3.put_object(Bucket=names.output_bucket, Key=f"runs/{r['run_id']}.json", Body=json.dumps(r))
    s3.put_object(Bucket=names.output_bucket, Key="runs/broken.json", Body=b"{not json")
    s3.put_object(Bucket=names.output_bucket, Key="models/latest.json", Body=json.dumps(
        {"version": "v001", "model_key": "models/v001/model.joblib",
         "metrics": {"accuracy": 0.95, "f1": 0.96, "roc_auc": 0.99}, "promoted_at": "2026-01-01T00:00:36Z"}))
    s3.put_object(Bucket=names.input_bucket, Key="rejected/bad.csv", Body=b"a,b\n1,2\n")
    return settings, names


def test_runs_sorted_with_duration_and_cost(with_runs):
    settings, names = with_runs
    rs = runs.list_runs(Stack(settings, names))
    assert [r["run_id"] for r in rs] == ["broken", "run-20260101T000000Z-aaaaaaaa",
                                         "run-20260101T000200Z-bbbbbbbb", "run-20260101T000400Z-cccccccc"]
    broken, first, failed, third = rs
    assert broken["status"] == "unreadable" and "not a JSON run record" in broken["error"]
    assert first["duration_seconds"] == 36.0
    assert first["cost_usd"] == pytest.approx(36 * 0.0208 / 3600)
    assert failed["duration_seconds"] == 60.0
    assert third["cost_usd"] == pytest.approx(2 * 0.0208)  # instance_seconds wins over the duration
    table = runs.format_runs(rs)
    assert "run-20260101T000000Z-aaaaaaaa" in table and "0.960" in table and "not a number" in table


def test_rejected_files_are_listed(with_runs):
    settings, names = with_runs
    [rej] = runs.list_rejected(Stack(settings, names))
    assert rej["key"] == "rejected/bad.csv" and rej["size"] == 8


def test_status_shows_model_runs_rejected(with_runs):
    settings, names = with_runs
    st = status.status(Stack(settings, names), last=2)
    assert st["instance"] is None and st["runs_total"] == 4 and len(st["last_runs"]) == 2
    assert st["current_model"]["version"] == "v001"
    text = status.format_status(st)
    assert "current model: v001" in text and "rejected/bad.csv" in text


def test_runs_of_a_missing_stack_is_empty(aws):
    settings, names = aws
    assert runs.list_runs(Stack(settings, names)) == [] and runs.list_rejected(Stack(settings, names)) == []
    assert "no runs yet" in runs.format_runs([])


def test_outputs_keys_and_api_urls(aws):
    settings, names = aws
    out = status.outputs(Stack(settings, names))
    for key in ("target", "region", "stack", "input_bucket", "output_bucket", "instance_id",
                "functions", "api_id", "api_url", "api_key"):
        assert key in out
    assert set(out["functions"]) >= {"trigger", "worker", "stop_ec2", "predict"}
    assert out["api_id"] is None and out["api_url"] is None and out["api_key"] is None
    apigw = boto3.client("apigateway", region_name="us-east-1")
    api_id = apigw.create_rest_api(name="mlpipe-api", tags={"stack": "mlpipe"})["id"]
    apigw.create_api_key(name="mlpipe-key", enabled=True, value="abcdefghijklmnopqrstuvwxyz0123",
                         tags={"stack": "mlpipe"})
    out = status.outputs(Stack(settings, names))
    assert out["api_url"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com/production/predict"
    assert out["api_key"] == "abcdefghijklmnopqrstuvwxyz0123"
    local = settings.__class__(target="local", endpoint_url="http://127.0.0.1:4566")
    assert api.invoke_url(local, "abc123") == \
        "http://127.0.0.1:4566/restapis/abc123/production/_user_request_/predict"
    assert status.mask("abcdefghijkl") == "abcd********"


@pytest.fixture
def cli_env(aws, monkeypatch):
    monkeypatch.setenv("MLPIPE_TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return aws


def test_cli_outputs_json_and_table_masks_the_key(cli_env, capsys):
    apigw = boto3.client("apigateway", region_name="us-east-1")
    apigw.create_rest_api(name="mlpipe-api", tags={"stack": "mlpipe"})
    apigw.create_api_key(name="mlpipe-key", enabled=True, value="secretvalue1234567890",
                         tags={"stack": "mlpipe"})
    assert cli.main(["outputs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["api_key"] == "secretvalue1234567890" and out["target"] == "aws"
    assert cli.main(["outputs"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("target=aws account=123456789012 region=us-east-1")
    assert "secretvalue1234567890" not in text and "secr****" in text


def test_cli_deploy_plan_then_upload_refusal(cli_env, capsys, tmp_path):
    assert cli.main(["deploy", "--plan"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("target=aws") and "nothing was created" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert cli.main(["upload-data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlpipe: error: refused, nothing uploaded: ") and "bad.csv" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_runs_and_status(cli_env, capsys):
    settings, names = cli_env
    buckets.ensure(Stack(settings, names))
    assert cli.main(["runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out
    assert cli.main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"runs": [], "rejected": [], "failed_invocations": []}
    assert cli.main(["status"]) == 0
    assert "instance: none" in capsys.readouterr().out


def test_cli_destroy_on_aws_needs_confirmation(cli_env, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert cli.main(["destroy"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert cli.main(["destroy", "--yes"]) == 0
    assert "nothing of stack mlpipe is left" in capsys.readouterr().out


def test_cli_bad_settings_is_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("MLPIPE_TARGET", "production")
    assert cli.main(["status"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "MLPIPE_TARGET='production'" in err


def test_cli_local_cloud_down_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MLPIPE_TARGET", "local")
    monkeypatch.setenv("LOCALCLOUD_PORT", "9")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from mlpipe import clients
    clients.clear_cache()
    assert cli.main(["outputs"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "localcloud up" in err


def test_runs_shows_what_landed_on_the_failure_queue(cli_env, capsys):
    """A trigger invocation that failed after Lambda's retries: Lambda puts a record of AWS's
    on-failure destination shape on the stack's queue; `mlpipe runs` names function, keys, error."""
    from mlpipe import queues

    settings, names = cli_env
    stack = Stack(settings, names)
    queue = queues.ensure(stack)
    assert queue.action == "created" and queue.arn.endswith(":mlpipe-failures")
    assert queues.ensure(stack).action == "found"
    record = {
        "version": "1.0", "timestamp": "2026-11-30T06:01:02.345Z",
        "requestContext": {"requestId": "5f1c-req", "functionArn": f"{names.function_arn('trigger')}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"Records": [{"eventSource": "aws:s3", "s3": {
            "bucket": {"name": names.input_bucket}, "object": {"key": "data/batch_03.csv"}}}]},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "An error occurred (UnauthorizedOperation) when calling the "
                                            "StartInstances operation", "errorType": "ClientError"},
    }
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=queue.details["url"], MessageBody=json.dumps(record))

    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "failed invocations" in out
    line = [x for x in out.splitlines() if "RetriesExhausted" in x][0]
    assert "mlpipe-trigger" in line and "data/batch_03.csv" in line and "UnauthorizedOperation" in line
    assert cli.main(["runs", "--json"]) == 0
    [failure] = json.loads(capsys.readouterr().out)["failed_invocations"]
    assert failure["function"] == "mlpipe-trigger" and failure["attempts"] == 3
    assert failure["keys"] == ["data/batch_03.csv"] and failure["request_id"] == "5f1c-req"
    # Reading does not consume: the record is still there for the next look.
    assert len(queues.list_failures(stack)) == 1
