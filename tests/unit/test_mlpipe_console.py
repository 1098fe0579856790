"""`mlpipe outputs --console`: an AWS console link for every resource of the stack, in the
stack's region (the instance and the API by their ids once they exist); on the local target
the same links with a note that they are for a real account."""
import boto3

from mlpipe import cli, console
from mlpipe.config import Settings
from mlpipe.names import Names
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def test_every_resource_has_a_link_in_the_stacks_region(aws):
    settings, names = aws
    links = console.links(Stack(settings, names))
    kinds = {k for k, _, _ in links}
    assert {"s3 bucket", "lambda function", "log group", "lambda layer", "iam role", "ec2 instance",
            "security group", "sqs queue", "schedule", "rest api"} <= kinds
    by = {(k, n): u for k, n, u in links}
    assert by[("lambda function", names.function("worker"))] == (
        f"https://us-east-1.console.aws.amazon.com/lambda/home?region=us-east-1#/functions/{names.function('worker')}")
    assert by[("log group", names.log_group("worker"))].endswith(
        "log-group/$252Faws$252Flambda$252F" + names.function("worker"))
    assert "#Instances:tag:Name=" in by[("ec2 instance", names.instance_name)]  # not deployed: the filtered list
    assert all(u.startswith("https://") for _, _, u in links)


def test_a_deployed_instance_is_linked_by_its_id(aws):
    settings, names = aws
    iid = boto3.client("ec2", region_name="us-east-1").run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": names.instance_name}, {"Key": "stack", "Value": names.stack}]}])["Instances"][0]["InstanceId"]
    by = {(k, n): u for k, n, u in console.links(Stack(settings, names))}
    assert by[("ec2 instance", names.instance_name)].endswith(f"#InstanceDetails:instanceId={iid}")


def test_china_regions_use_their_console(monkeypatch):
    names = Names("alice", "123456789012", "cn-north-1", partition="aws-cn")
    stack = Stack(Settings(target="aws", region="cn-north-1", stack="alice"), names)
    monkeypatch.setattr(console, "_quiet", lambda find: None)
    urls = [u for _, _, u in console.links(stack)]
    assert all("amazonaws.cn" in u for u in urls) and any("cn-north-1.console.amazonaws.cn" in u for u in urls)


def test_the_cli_prints_the_links_with_the_local_note(monkeypatch, capsys):
    monkeypatch.setenv("MLPIPE_TARGET", "local")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: ids unknown
    monkeypatch.setattr(cli, "_target", lambda settings, stream=None: None)
    from mlpipe import stack as stack_mod
    monkeypatch.setattr(stack_mod.Stack, "load", classmethod(
        lambda cls, settings=None, **kw: cls(settings, Names(settings.stack, "000000000000", settings.region))))
    assert cli.main(["outputs", "--console"]) == 0
    out = capsys.readouterr().out
    assert "https://s3.console.aws.amazon.com/s3/buckets/mlpipe-input-000000000000-us-east-1?region=us-east-1" in out
    assert console.LOCAL_NOTE in out
