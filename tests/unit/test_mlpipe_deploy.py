"""deploy / destroy end to end against mock_aws (aws target): idempotency, wiring, plan,
teardown after full and partial deploys, and another stack left alone."""
import json

import boto3
import pytest

from mlpipe import deploy as deploy_mod
from mlpipe import functions, status, teardown
from mlpipe.config import MlpipeError
from mlpipe.names import Names
from mlpipe.report import Report

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def no_backend_modules(monkeypatch):
    """Serving is other engineers' part: deploy and destroy see it as not there."""
    monkeypatch.setattr(deploy_mod, "_optional", lambda module, attr: None)


def _created(reports):
    return [r for r in reports if r.action == "created"]


def test_deploy_twice_second_creates_nothing(aws):
    settings, names = aws
    msgs = []
    first = deploy_mod.deploy(settings, part="glue", progress=msgs.append)
    kinds = {(r.kind, r.name) for r in _created(first)}
    for b in names.buckets:
        assert ("s3 bucket", b) in kinds
    for fn in ("trigger", "worker", "stop_ec2", "reaper"):
        assert ("lambda function", names.function(fn)) in kinds
        assert ("iam role", names.role(fn)) in kinds
    assert ("ec2 instance", "mlpipe-trainer") in kinds
    assert ("schedule rule", "mlpipe-reaper-schedule") in kinds

    msgs = []
    second = deploy_mod.deploy(settings, part="glue", progress=msgs.append)
    assert [str(r) for r in second if r.action != "found"] == []
    assert msgs[-1].startswith("nothing changed")


def test_functions_get_the_contract_env_and_are_wired(aws):
    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    out = status.outputs(settings, names)
    iid = out["instance_id"]
    lam = boto3.client("lambda", region_name="us-east-1")

    def env(fn):
        return lam.get_function_configuration(FunctionName=names.function(fn))["Environment"]["Variables"]
    assert env("trigger") == {"INSTANCE_ID": iid, "WORKER_FUNCTION": "mlpipe-worker"}
    assert set(env("worker")) == {"INSTANCE_ID", "INPUT_BUCKET", "OUTPUT_BUCKET", "CODE_KEY", "COMMAND_TIMEOUT",
                                  "READY_TIMEOUT", "PROMOTION_TOLERANCE", "MODEL_KIND"}
    assert env("worker")["CODE_KEY"] == "code/mlpipe-code.zip"
    assert env("stop_ec2") == {"INSTANCE_ID": iid, "INPUT_BUCKET": names.input_bucket,
                               "WORKER_FUNCTION": "mlpipe-worker"}
    assert env("reaper") == {"INSTANCE_ID": iid, "OUTPUT_BUCKET": names.output_bucket,
                             "WORKER_FUNCTION": "mlpipe-worker",
                             "IDLE_GRACE_SECONDS": str(settings.idle_grace_seconds)}
    worker = lam.get_function_configuration(FunctionName="mlpipe-worker")
    assert worker["Timeout"] > int(env("worker")["READY_TIMEOUT"])
    assert worker["Role"].endswith(":role/mlpipe-worker-role")

    s3 = boto3.client("s3", region_name="us-east-1")
    [n_in] = s3.get_bucket_notification_configuration(Bucket=names.input_bucket)["LambdaFunctionConfigurations"]
    [n_out] = s3.get_bucket_notification_configuration(Bucket=names.output_bucket)["LambdaFunctionConfigurations"]
    assert n_in["LambdaFunctionArn"].endswith(":function:mlpipe-trigger")
    assert n_out["LambdaFunctionArn"].endswith(":function:mlpipe-stop-ec2")
    rules = lambda c: {r["Name"].lower(): r["Value"] for r in c["Filter"]["Key"]["FilterRules"]}  # noqa: E731
    assert rules(n_in) == {"prefix": "data/", "suffix": ".csv"}
    assert rules(n_out) == {"prefix": "runs/", "suffix": ".json"}

    # The instance policy names the instance itself once it exists.
    pol = boto3.client("iam", region_name="us-east-1").get_role_policy(
        RoleName="mlpipe-trigger-role", PolicyName="least-privilege")["PolicyDocument"]
    assert names.instance_arn(iid) in json.dumps(pol)
    # Code archive and holdout shipped.
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=names.input_bucket)["Contents"]}
    assert keys == {"code/mlpipe-code.zip", "holdout/holdout.csv"}


def test_plan_creates_nothing_and_prices_the_instance(aws):
    settings, names = aws
    msgs = []
    reports = deploy_mod.deploy(settings, plan=True, progress=msgs.append)
    assert reports and all(r.action == "planned" for r in reports)
    text = "\n".join(msgs)
    assert "$0.0208/h" in text and "nothing was created" in text
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []
    assert boto3.client("iam", region_name="us-east-1").list_roles()["Roles"] == []
    assert teardown.verify_destroyed(settings, names=names) == []


def test_unknown_part_is_refused(aws):
    settings, _ = aws
    with pytest.raises(MlpipeError, match="--part"):
        deploy_mod.deploy(settings, part="everything")


def test_backend_is_skipped_with_a_message_when_its_modules_are_missing(aws):
    settings, names = aws
    msgs = []
    [rep] = deploy_mod.deploy_backend(settings, names, msgs.append)
    assert rep.action == "skipped" and "mlpipe/layers.py" in rep.details["reason"]


def test_backend_calls_layers_then_api(aws, monkeypatch):
    settings, names = aws
    calls = []
    fakes = {
        ("layers", "ensure_layers"): lambda s, n, p: calls.append("layers") or [Report("created", "lambda layer", "x")],
        ("api", "ensure_backend"): lambda s, n, p: calls.append("api") or Report("found", "rest api", "y"),
    }
    monkeypatch.setattr(deploy_mod, "_optional", lambda m, a: fakes.get((m, a)))
    reps = deploy_mod.deploy_backend(settings, names, quiet)
    assert calls == ["layers", "api"] and [r.action for r in reps][-2:] == ["created", "found"]
    assert {r.kind for r in reps[:-2]} == {"s3 bucket"}


def test_destroy_after_full_deploy_leaves_nothing_and_spares_another_stack(aws):
    settings, names = aws
    other_settings = settings.with_(stack="other")
    other = Names.for_stack(other_settings, names.account_id)
    deploy_mod.deploy(other_settings, part="glue", progress=quiet)
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    # An API of this stack, as the backend would make it.
    apigw = boto3.client("apigateway", region_name="us-east-1")
    api_id = apigw.create_rest_api(name="mlpipe-api", tags={"stack": "mlpipe"})["id"]
    apigw.create_api_key(name="mlpipe-key", enabled=True, tags={"stack": "mlpipe"})
    apigw.create_usage_plan(name="mlpipe-plan", tags={"stack": "mlpipe"})
    other_api = apigw.create_rest_api(name="other-api", tags={"stack": "other"})["id"]
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=names.output_bucket, Key="runs/run-1.json", Body=b"{}")

    msgs = []
    reports = teardown.destroy(settings, progress=msgs.append)
    assert teardown.verify_destroyed(settings, names=names) == []
    deleted = {(r.kind, r.name) for r in reports if r.action == "deleted"}
    assert ("rest api", "mlpipe-api") in deleted and ("api key", "mlpipe-key") in deleted
    assert "nothing of stack mlpipe is left" in msgs[-1]
    assert api_id not in {a["id"] for a in apigw.get_rest_apis()["items"]}

    # The other stack is intact.
    out = status.outputs(other_settings, other)
    assert out["input_bucket"] == other.input_bucket and out["output_bucket"] == other.output_bucket
    assert out["instance_id"] and all(out["functions"][fn] for fn in ("trigger", "worker", "stop_ec2"))
    assert other_api in {a["id"] for a in apigw.get_rest_apis()["items"]}
    assert len(teardown.verify_destroyed(other_settings, names=other)) > 10

    # Destroy is repeatable.
    teardown.destroy(settings, progress=quiet)


@pytest.mark.parametrize("fail_at", ["functions", "notifications"])
def test_destroy_after_an_interrupted_deploy(aws, monkeypatch, fail_at):
    settings, names = aws

    def boom(*a, **k):
        raise KeyboardInterrupt("deploy interrupted")
    if fail_at == "functions":
        real = functions.ensure_function
        calls = []

        def second_fails(*a, **k):
            calls.append(1)
            if len(calls) == 2:
                boom()
            return real(*a, **k)
        monkeypatch.setattr(functions, "ensure_function", second_fails)
    else:
        monkeypatch.setattr(deploy_mod.notifications, "ensure_notifications", boom)
    with pytest.raises(KeyboardInterrupt):
        deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert teardown.verify_destroyed(settings, names=names)  # something was left
    teardown.destroy(settings, progress=quiet)
    assert teardown.verify_destroyed(settings, names=names) == []


def test_destroy_on_an_empty_account_is_fine(aws):
    settings, names = aws
    reports = teardown.destroy(settings, progress=quiet)
    assert all(r.action == "absent" for r in reports)
