"""deploy / destroy end to end against mock_aws (aws target): idempotency, wiring, plan,
teardown after full and partial deploys, and another stack left alone."""
import io
import json
import zipfile

import boto3
import pytest

from mlpipe import deploy as deploy_mod
from mlpipe import functions, notifications, planner, status, teardown
from mlpipe.config import MlpipeError
from mlpipe.names import Names
from mlpipe.report import Report
from mlpipe.stack import Stack

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)


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
    out = status.outputs(Stack(settings, names))
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
    # Code archive, the dataset file and the holdout shipped.
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=names.input_bucket)["Contents"]}
    assert keys == {"code/mlpipe-code.zip", "dataset/dataset.toml", "holdout/holdout.csv"}


def test_plan_creates_nothing_and_prices_the_instance(aws):
    settings, names = aws
    msgs = []
    reports = deploy_mod.deploy(settings, plan=True, progress=msgs.append)
    # moto's account has a default VPC: its subnet is found, everything else is to create.
    assert [(r.kind, r.action) for r in reports if r.action != "planned"] == [("subnet", "found")]
    planned = {(r.kind, r.name) for r in reports}
    # Everything deploy creates, the backend's role, key and usage plan included.
    for expected in [("iam role", "mlpipe-predict-role"), ("api key", "mlpipe-key"),
                     ("usage plan", "mlpipe-plan"), ("rest api", "mlpipe-api"),
                     ("lambda function", "mlpipe-predict"), ("sqs queue", "mlpipe-failures"),
                     ("instance profile", "mlpipe-ec2-profile"), ("lambda layer", "mlpipe-model-code")]:
        assert expected in planned, expected
    text = "\n".join(msgs)
    assert "$0.0208/h" in text and "nothing was created" in text
    # The public IPv4 address, $0.005/h while the instance runs.
    assert "public IPv4 address  $0.005/h" in text and "$0.0258/h in all" in text
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
    assert boto3.client("lambda", region_name="us-east-1").list_functions()["Functions"] == []
    assert boto3.client("iam", region_name="us-east-1").list_roles()["Roles"] == []
    assert teardown.leftovers_of(Stack(settings, names)) == []


def test_unknown_part_is_refused(aws):
    settings, _ = aws
    with pytest.raises(MlpipeError, match="--part"):
        deploy_mod.deploy(settings, part="everything")


def test_backend_runs_in_the_order_of_the_diagram(aws, monkeypatch):
    """output bucket -> predict role -> layers -> model -> function -> API (key, plan)."""
    from mlpipe import api, layers, registry

    settings, names = aws
    calls = []
    monkeypatch.setattr(layers, "ensure", lambda st: calls.append("layers") or [
        Report("found", "lambda layer", "x", "arn:aws:lambda:us-east-1:123456789012:layer:x:1")])
    monkeypatch.setattr(registry, "seed_model_if_missing", lambda st: calls.append("model") or Report("found", "model", "v001"))
    def fn(st, key, role, **kw):
        calls.append(f"function {key}")
        assert kw["layers"] == ("arn:aws:lambda:us-east-1:123456789012:layer:x:1",)
        assert role.endswith(":role/mlpipe-predict-role")
        return Report("created", "lambda function", "mlpipe-predict", "arn:fn")
    monkeypatch.setattr(functions, "ensure", fn)
    monkeypatch.setattr(api, "ensure_api", lambda st, arn: calls.append(f"api {arn}") or [
        Report("found", "rest api", "mlpipe-api", "api-id")])
    monkeypatch.setattr(api, "ensure_api_key", lambda st: calls.append("key") or Report("found", "api key", "k", "key-id"))
    monkeypatch.setattr(api, "ensure_usage_plan", lambda st, api_id: calls.append(f"plan {api_id}") or Report(
        "found", "usage plan", "p", "plan-id"))
    monkeypatch.setattr(api, "ensure_usage_plan_key", lambda st, plan_id, key_id: calls.append(
        f"plan key {plan_id} {key_id}") or Report("found", "usage plan key", "p <- k"))
    reps = deploy_mod.deploy_backend(Stack(settings, names, quiet))
    assert calls == ["layers", "model", "function predict", "api arn:fn", "key", "plan api-id",
                     "plan key plan-id key-id"]
    assert [r.kind for r in reps[:2]] == ["s3 bucket", "iam role"] and reps[1].name == "mlpipe-predict-role"


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
    assert teardown.leftovers_of(Stack(settings, names)) == []
    deleted = {(r.kind, r.name) for r in reports if r.action == "deleted"}
    assert ("rest api", "mlpipe-api") in deleted and ("api key", "mlpipe-key") in deleted
    assert "nothing of stack mlpipe is left" in msgs[-1]
    assert api_id not in {a["id"] for a in apigw.get_rest_apis()["items"]}

    # The other stack is intact.
    out = status.outputs(Stack(other_settings, other))
    assert out["input_bucket"] == other.input_bucket and out["output_bucket"] == other.output_bucket
    assert out["instance_id"] and all(out["functions"][fn] for fn in ("trigger", "worker", "stop_ec2"))
    assert other_api in {a["id"] for a in apigw.get_rest_apis()["items"]}
    assert len(teardown.leftovers_of(Stack(other_settings, other))) > 10

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
        monkeypatch.setattr(notifications, "ensure_notification", boom)
    with pytest.raises(KeyboardInterrupt):
        deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert teardown.leftovers_of(Stack(settings, names))  # something was left
    teardown.destroy(settings, progress=quiet)
    assert teardown.leftovers_of(Stack(settings, names)) == []


def test_destroy_on_an_empty_account_is_fine(aws):
    settings, names = aws
    reports = teardown.destroy(settings, progress=quiet)
    assert all(r.action == "absent" for r in reports)


def test_plan_without_a_default_vpc_lists_the_stacks_own_network(aws):
    settings, names = aws
    from test_mlpipe_network import remove_default_vpc

    remove_default_vpc()
    reports = deploy_mod.plan_deploy(Stack(settings, names), part="glue")
    assert {r.kind for r in reports if r.action == "planned"} >= {"vpc", "subnet", "internet gateway", "route table"}


@pytest.mark.parametrize("region, partition", [("us-east-1", "aws"), ("cn-north-1", "aws-cn"),
                                               ("us-gov-west-1", "aws-us-gov")])
def test_arns_use_the_regions_partition(region, partition):
    from mlpipe.config import load_settings
    from mlpipe.iam import policy_documents

    settings = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": region})
    names = Names.for_stack(settings, "123456789012")
    assert names.partition == partition
    arns = [names.bucket_arn(names.input_bucket), names.function_arn("worker"), names.role_arn("worker"),
            names.instance_arn("i-1"), names.reaper_rule_arn, names.failure_queue_arn, names.log_group_arn("worker")]
    assert all(a.startswith(f"arn:{partition}:") for a in arns), arns
    docs = json.dumps(policy_documents(names, names.instance_arn("i-1")))
    wrong = {"aws", "aws-cn", "aws-us-gov"} - {partition}
    assert not any(f'"arn:{p}:' in docs for p in wrong)


def test_every_async_function_has_the_failure_queue_as_on_failure_destination(aws):
    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    lam = boto3.client("lambda", region_name="us-east-1")
    queue_arn = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=boto3.client("sqs", region_name="us-east-1").get_queue_url(QueueName="mlpipe-failures")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for fn, retries in (("trigger", 2), ("worker", 0), ("stop_ec2", 2)):
        cfg = lam.get_function_event_invoke_config(FunctionName=names.function(fn))
        assert cfg["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn, fn
        assert cfg["MaximumRetryAttempts"] == retries, fn
        # Lambda sends the record with the function's role: it may send to that queue.
        pol = json.dumps(boto3.client("iam", region_name="us-east-1").get_role_policy(
            RoleName=names.role(fn), PolicyName="least-privilege")["PolicyDocument"])
        assert "sqs:SendMessage" in pol and queue_arn in pol, fn
    again = deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert [str(r) for r in again if r.kind == "async invoke config" and r.action != "found"] == []


def test_teardown_removes_every_log_group_and_verify_checks_every_kind(aws):
    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    logs = boto3.client("logs", region_name="us-east-1")
    for fn in ("trigger", "worker", "stop_ec2", "reaper", "predict"):
        logs.create_log_group(logGroupName=f"/aws/lambda/{names.function(fn)}")
    logs.create_log_group(logGroupName="/aws/lambda/other-predict")  # another stack's
    apigw = boto3.client("apigateway", region_name="us-east-1")
    apigw.create_api_key(name="mlpipe-key", enabled=True, tags={"stack": "mlpipe"})
    apigw.create_usage_plan(name="mlpipe-plan", tags={"stack": "mlpipe"})
    left = " | ".join(teardown.leftovers_of(Stack(settings, names)))
    for kind in ("s3 bucket", "lambda function", "log group /aws/lambda/mlpipe-predict", "iam role",
                 "instance profile", "schedule rule", "ec2 instance", "api key", "usage plan", "sqs queue"):
        assert kind in left, kind
    teardown.destroy(settings, progress=quiet)
    groups = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]
    assert groups == ["/aws/lambda/other-predict"]
    assert teardown.leftovers_of(Stack(settings, names)) == []


def test_verify_destroyed_sees_a_leftover_log_group_layer_and_queue(aws):
    settings, names = aws
    boto3.client("logs", region_name="us-east-1").create_log_group(logGroupName="/aws/lambda/mlpipe-predict")
    boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="mlpipe-failures")
    boto3.client("lambda", region_name="us-east-1").publish_layer_version(
        LayerName="mlpipe-model-code", Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18})
    left = teardown.leftovers_of(Stack(settings, names))
    assert sorted(left) == ["lambda layer mlpipe-model-code", "log group /aws/lambda/mlpipe-predict",
                            "sqs queue mlpipe-failures"]


# --- the plan is what deploy does (mlpipe.planner) -----------------------------------------

def _placeholder_layers(settings, names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/placeholder.py", "")
    lam = boto3.client("lambda", region_name="us-east-1")
    return [lam.publish_layer_version(LayerName=n, Content={"ZipFile": buf.getvalue()},
                                      CompatibleRuntimes=["python3.12"])["LayerVersionArn"] for n in names.layers]


def _plan_then_execute(stack, part, **kw):
    steps = planner.plan(stack, part, **kw)
    planned = [(s.kind, s.name, s.exists) for s in steps]
    planner.execute(stack, steps)
    return steps, planned


@pytest.mark.parametrize("default_vpc", [True, False])
def test_the_plan_is_what_deploy_then_creates(aws, default_vpc):
    """On an empty account every step but the default VPC's subnet is planned for creation;
    running that plan creates exactly those resources (each step's own report says
    ``created``); planned again, everything exists and a second run creates nothing."""
    settings, names = aws
    if not default_vpc:
        from test_mlpipe_network import remove_default_vpc

        remove_default_vpc()
    stack = Stack(settings, names, quiet)
    steps, planned = _plan_then_execute(stack, "glue")
    backend, planned_backend = _plan_then_execute(stack, "backend", layer_arns=_placeholder_layers(settings, names))
    steps += backend
    existing = [(k, n) for k, n, e in planned + planned_backend if e]
    # the default VPC's subnet is there; the output bucket was made by the glue part before
    # the backend was planned; nothing else
    assert existing == ([("subnet", planned[3][1])] if default_vpc else []) + [("s3 bucket", names.output_bucket)]
    if not default_vpc:
        assert [k for k, _n, _e in planned[3:7]] == ["vpc", "internet gateway", "subnet", "route table"]
    assert planner.drift(steps) == []
    created = {(r.kind, r.name) for s in steps for r in s.reports if r.action == "created"}
    assert {(s.kind, s.name) for s in steps if not s.exists and s.named} <= created
    # Every resource kind deploy creates is a step of the plan (no resource outside the plan).
    assert {r.kind for s in steps for r in s.reports if r.action == "created"} - {s.kind for s in steps} <= {
        "lambda permission", "schedule target", "api method", "api stage", "usage plan key"}

    again = planner.plan(stack, "all", layer_arns=_placeholder_layers(settings, names))
    assert [(s.kind, s.exists) for s in again if not s.exists] == []
    planner.execute(stack, again)
    assert planner.drift(again) == []
    assert [str(r) for s in again for r in s.reports if r.action == "created"] == []


def test_plan_and_deploy_print_the_same_steps(aws):
    """``deploy --plan`` prints one line per step; ``deploy`` then titles the same groups in
    the same order (both come from ``planner.steps_of``)."""
    settings, names = aws
    shown, done = [], []
    deploy_mod.deploy(settings, part="glue", plan=True, progress=shown.append)
    rows = [line.split(None, 3)[2:] for line in shown if line.startswith(("  would create", "  exists"))]
    steps = planner.steps_of(Stack(settings, names), "glue")
    assert len(rows) == len(steps)
    deploy_mod.deploy(settings, part="glue", progress=done.append)
    titles = [line for line in done if line and not line.startswith(" ")][:-1]  # the summary is last
    assert titles == list(dict.fromkeys(s.title for s in steps))


def test_a_log_group_a_last_invocation_writes_after_its_delete_goes_too(aws, monkeypatch):
    """An invocation running when its function is deleted (the reaper fires every minute) may
    write its log group again after destroy's log step, as Lambda creates a group on a
    function's first write: destroy deletes it once more instead of reporting a leftover."""
    from mlpipe import logs

    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    real, calls = logs.delete, []

    def delete_then_a_late_write(stack, extra=()):
        out = real(stack, extra)
        calls.append(1)
        if len(calls) == 1:
            boto3.client("logs", region_name="us-east-1").create_log_group(
                logGroupName=f"/aws/lambda/{names.reaper_function}")
        return out

    monkeypatch.setattr(logs, "delete", delete_then_a_late_write)
    msgs = []
    teardown.destroy(settings, progress=msgs.append)
    assert len(calls) == 2 and any("deleting it once more" in m for m in msgs)
    assert teardown.leftovers_of(Stack(settings, names)) == []
