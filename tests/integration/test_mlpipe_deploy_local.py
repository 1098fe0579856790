"""`mlpipe deploy` twice then `mlpipe destroy`, on the local cloud, as a new user runs them.

Also: destroy after a deploy interrupted halfway leaves nothing, and another stack in
the same cloud is left alone. Then one training run through the whole glue chain.
"""
from __future__ import annotations

import json
import time

import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import cli, clients, functions, status, teardown
from mlpipe import deploy as deploy_mod
from mlpipe.stack import Stack
from mlpipe.config import load_settings
from mlpipe.names import names_for

pytestmark = pytest.mark.integration


def _settings(endpoint: str, stack: str):
    return load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint, "MLPIPE_STACK": stack,
                          "MLPIPE_IDLE_GRACE_SECONDS": "60", "MLPIPE_READY_TIMEOUT": "60",
                          "MLPIPE_COMMAND_TIMEOUT": "120"})


@pytest.fixture
def cli_env(local_cloud, monkeypatch):  # noqa: F811
    def use(stack):
        monkeypatch.setenv("MLPIPE_TARGET", "local")
        monkeypatch.setenv("MLPIPE_STACK", stack)
        monkeypatch.setenv("AWS_ENDPOINT_URL", local_cloud.endpoint_url)
        clients.clear_cache()
    return use


def test_deploy_twice_then_destroy_with_the_cli(local_cloud, cli_env, capsys):  # noqa: F811
    settings = _settings(local_cloud.endpoint_url, "itdeploy")
    cli_env("itdeploy")
    t0 = time.monotonic()
    assert cli.main(["deploy", "--part", "glue"]) == 0
    first_s = time.monotonic() - t0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("target=local account=")
    assert "created  ec2 instance" in out and "created  lambda function  itdeploy-worker" in out

    t0 = time.monotonic()
    assert cli.main(["deploy", "--part", "glue"]) == 0
    second_s = time.monotonic() - t0
    out = capsys.readouterr().out
    assert "created " not in out and "updated " not in out
    assert out.strip().splitlines()[-1].startswith("nothing changed")
    assert cli.main(["outputs", "--json"]) == 0
    outs = json.loads(capsys.readouterr().out)
    names = names_for(settings)
    assert outs["target"] == "local" and outs["input_bucket"] == names.input_bucket
    assert outs["functions"]["trigger"] == "itdeploy-trigger" and outs["instance_id"]
    with capsys.disabled():
        print(f"\ndeploy glue: first {first_s:.1f}s, second {second_s:.1f}s")
    state = status.status(Stack.load(settings))["instance"]["state"]
    assert state == "stopped"

    assert cli.main(["destroy"]) == 0
    assert "nothing of stack itdeploy is left" in capsys.readouterr().out
    assert teardown.verify_destroyed(settings) == []


def test_destroy_after_interrupted_deploy_spares_another_stack(local_cloud, monkeypatch):  # noqa: F811
    keep = _settings(local_cloud.endpoint_url, "itkeep")
    broken = _settings(local_cloud.endpoint_url, "itbroken")
    deploy_mod.deploy(keep, part="glue", progress=lambda m: None)

    real, calls = functions.ensure_function, []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("interrupted halfway")
        return real(*a, **k)
    monkeypatch.setattr(functions, "ensure_function", interrupted)
    with pytest.raises(KeyboardInterrupt):
        deploy_mod.deploy(broken, part="glue", progress=lambda m: None)
    assert teardown.verify_destroyed(broken)
    teardown.destroy(broken, progress=lambda m: None)
    assert teardown.verify_destroyed(broken) == []

    left = teardown.verify_destroyed(keep)
    assert any("s3 bucket itkeep-input" in x for x in left)
    assert any("itkeep-worker" in x for x in left) and any("ec2 instance" in x for x in left)
    teardown.destroy(keep, progress=lambda m: None)
    assert teardown.verify_destroyed(keep) == []


def test_an_upload_trains_a_model_and_the_instance_stops(local_cloud, tmp_path):  # noqa: F811
    """The whole glue chain (trigger -> worker -> SSM -> ec2_scripts -> stop_ec2)."""
    from mlpipe import buckets
    from model_code.dataset import write_split

    settings = _settings(local_cloud.endpoint_url, "itchain")
    names = names_for(settings)
    split = write_split(tmp_path, n_batches=3)
    try:
        deploy_mod.deploy(settings, part="glue", progress=lambda m: None)
        t0 = time.monotonic()
        buckets.upload_data(Stack(settings, names), [split["batches"][0]])
        deadline = time.monotonic() + 240
        done = None
        while time.monotonic() < deadline:
            st = status.status(Stack(settings, names))
            finished = [r for r in st["last_runs"] if r.get("status") in ("succeeded", "failed", "rejected")]
            if finished and st["instance"]["state"] == "stopped":
                done = (finished[-1], st)
                break
            time.sleep(1)
        assert done, f"no finished run with the instance stopped within 240 s: {status.status(Stack(settings, names))}"
        record, st = done
        assert record["status"] == "succeeded", record
        assert record["model_version"] and record["metrics"]["f1"] > 0.8
        assert st["current_model"]["version"] == record["model_version"]
        print(f"upload -> model promoted and instance stopped: {time.monotonic() - t0:.1f}s")
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    assert teardown.verify_destroyed(settings) == []


def _default_vpcs(ec2):
    return ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]


def test_an_account_without_a_default_vpc(local_cloud):  # noqa: F811
    """Organizations sandboxes often have no default VPC: deploy makes the stack's own, the
    instance goes there, destroy removes it. The default VPC is put back afterwards."""
    import boto3


    settings = _settings(local_cloud.endpoint_url, "itnovpc")
    ec2 = clients.client("ec2", settings)
    for vpc in _default_vpcs(ec2):
        vf = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for s in ec2.describe_subnets(Filters=vf)["Subnets"]:
            ec2.delete_subnet(SubnetId=s["SubnetId"])
        for g in ec2.describe_internet_gateways(
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    try:
        assert _default_vpcs(ec2) == []
        reports = deploy_mod.deploy(settings, part="glue", progress=lambda m: None)
        made = {r.kind: r for r in reports if r.action == "created"}
        assert {"vpc", "subnet", "internet gateway", "route table", "ec2 instance"} <= set(made)
        iid = made["ec2 instance"].details["instance_id"]
        inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert inst["SubnetId"] == made["subnet"].details["subnet_id"] and inst["State"]["Name"] == "stopped"
        left = teardown.verify_destroyed(settings)
        assert any(x.startswith("vpc ") for x in left)
        teardown.destroy(settings, progress=lambda m: None)
        assert teardown.verify_destroyed(settings) == []
        assert ec2.describe_vpcs(Filters=[{"Name": "tag:stack", "Values": ["itnovpc"]}])["Vpcs"] == []
        assert Stack(settings, names_for(settings)) and boto3  # names resolved on the local cloud
    finally:
        teardown.destroy(settings, progress=lambda m: None)
        if not _default_vpcs(ec2):
            ec2.create_default_vpc()


def test_the_notification_is_retried_until_s3_can_validate_it(local_cloud, monkeypatch):  # noqa: F811
    """Right after AddPermission, S3 may answer InvalidArgument "Unable to validate the following
    destination configurations" (as AWS does while the permission propagates): deploy retries
    and the wiring works."""
    from botocore.exceptions import ClientError

    from mlpipe import notifications

    settings = _settings(local_cloud.endpoint_url, "itnotify")
    s3 = clients.client("s3", settings)
    real, refused = s3.put_bucket_notification_configuration, []

    def not_yet(**kw):
        if len(refused) < 2 and kw["NotificationConfiguration"]:
            refused.append(kw["Bucket"])
            raise ClientError({"Error": {"Code": "InvalidArgument", "Message":
                                         "Unable to validate the following destination configurations"}},
                              "PutBucketNotificationConfiguration")
        return real(**kw)
    monkeypatch.setattr(s3, "put_bucket_notification_configuration", not_yet)
    lines = []
    try:
        reports = deploy_mod.deploy(settings, part="glue", progress=lines.append)
        wired = [r for r in reports if r.kind == "s3 notification"]
        assert [r.action for r in wired] == ["created", "created"] and wired[0].details["attempts"] == 3
        assert len(refused) == 2 and any("cannot validate the destination" in x for x in lines)
        names = names_for(settings)
        [cfg] = real.__self__.get_bucket_notification_configuration(
            Bucket=names.input_bucket)["LambdaFunctionConfigurations"]
        assert cfg["LambdaFunctionArn"].endswith(":function:itnotify-trigger")
        assert notifications.RETRY_DELAYS[0] >= 1  # on aws, a real backoff
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    assert teardown.verify_destroyed(settings) == []


def test_a_bootstrap_that_fails_leaves_no_instance_and_says_which(local_cloud, monkeypatch):  # noqa: F811
    """The bootstrap check (``cloud-init status --wait`` through SSM Run Command) really runs on
    the local cloud's instance host, where there is no cloud-init: it fails, as a broken user
    data would on AWS. Deploy reports it, the instance is terminated, and a redeploy makes a
    new one instead of reusing the broken one."""
    from mlpipe import instance
    from mlpipe.config import MlpipeError

    settings = _settings(local_cloud.endpoint_url, "itboot")
    monkeypatch.setattr(instance, "waits_for_bootstrap", lambda s: True)
    try:
        with pytest.raises(MlpipeError) as ex:
            deploy_mod.deploy(settings, part="glue", progress=lambda m: None)
        msg = str(ex.value)
        assert "bootstrap (user data) failed" in msg and "was terminated" in msg
        broken = msg.split("instance ")[-1].split(" ")[0]
        assert instance.instance_state(Stack.load(settings), broken) in ("shutting-down", "terminated")
        assert not [x for x in teardown.verify_destroyed(settings) if x.startswith("ec2 instance")]

        monkeypatch.setattr(instance, "waits_for_bootstrap", lambda s: False)
        reports = deploy_mod.deploy(settings, part="glue", progress=lambda m: None)
        [inst] = [r for r in reports if r.kind == "ec2 instance"]
        assert inst.action == "created" and inst.details["instance_id"] != broken
        assert instance.instance_state(Stack.load(settings), inst.details["instance_id"]) == "stopped"
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    assert teardown.verify_destroyed(settings) == []


def test_a_trigger_that_fails_for_good_lands_on_the_failure_queue(local_cloud, tmp_path, capsys, cli_env):  # noqa: F811
    """An S3 event whose trigger invocation fails on every attempt (here: the instance it must
    start is gone) is retried by Lambda, then recorded on the stack's failure queue, and
    `mlpipe runs` names the function, the uploaded key and the error."""
    from mlpipe import buckets, functions, instance
    from model_code.dataset import write_split

    settings = _settings(local_cloud.endpoint_url, "itfail")
    names = names_for(settings)
    split = write_split(tmp_path, n_batches=2)
    try:
        deploy_mod.deploy(settings, part="glue", progress=lambda m: None)
        lam = clients.client("lambda", settings)
        stack = Stack(settings, names)
        env = functions.function_env(stack, "trigger", "i-0000000000000dead")  # no such instance
        lam.update_function_configuration(FunctionName=names.trigger_function, Environment={"Variables": env})
        functions.wait_until_ready(stack, names.trigger_function)
        buckets.upload_data(Stack(settings, names), [split["batches"][0]])
        from mlpipe.runs import failed_invocations

        deadline, failures = time.monotonic() + 60, []
        while time.monotonic() < deadline and not failures:
            failures = failed_invocations(Stack(settings, names))
            time.sleep(0.5)
        assert failures, "nothing landed on the failure queue"
        [f] = failures
        assert f["function"] == names.trigger_function and f["attempts"] == 3  # 1 + Lambda's 2 retries
        assert f["keys"] == ["data/batch_01.csv"] and f["condition"] == "RetriesExhausted"
        assert "i-0000000000000dead" in f["error"] or "InvalidInstanceID" in f["error"], f
        assert instance.find_instance(Stack(settings, names))["State"]["Name"] == "stopped"

        cli_env("itfail")
        assert cli.main(["runs"]) == 0
        out = capsys.readouterr().out
        assert "failed invocations" in out and "itfail-trigger" in out and "data/batch_01.csv" in out
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    assert teardown.verify_destroyed(settings) == []
