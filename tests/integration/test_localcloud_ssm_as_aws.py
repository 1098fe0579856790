"""SSM held to AWS's behaviour in the local cloud (issue 9, item 4), tried with plain boto3:
a command runs on exactly the instances it names (two stacks never run each other's
commands), ListCommandInvocations and GetCommandInvocation agree, the user's own Command
documents run with parameters substituted, and DescribeInstanceInformation lists an instance
with an instance profile as Online once its agent has registered."""
import dataclasses
import json
import time

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

REGION = "us-east-1"
AMI = "ami-12c6146b"
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    clients = {n: boto3.client(n, **kw) for n in ("ec2", "ssm", "iam")}
    iam = clients["iam"]
    iam.create_role(RoleName="lc-ssm-aws-role", AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName="lc-ssm-aws-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="lc-ssm-aws-profile",
                                     RoleName="lc-ssm-aws-role")
    return clients


def state(aws, iid):
    return aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def until(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def info(aws, iid):
    items = aws["ssm"].describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]
    return items[0] if items else None


def launch(aws, stack, profile=True):
    kw = {"IamInstanceProfile": {"Name": "lc-ssm-aws-profile"}} if profile else {}
    iid = aws["ec2"].run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "stack", "Value": stack}]}],
        **kw)["Instances"][0]["InstanceId"]
    until(lambda: state(aws, iid) == "running", what=f"{iid} running")
    return iid


def online(aws, iid):
    until(lambda: (info(aws, iid) or {}).get("PingStatus") == "Online", what=f"{iid} Online")
    return iid


def wait_done(aws, cid, iid, plugin=None):
    kw = {"PluginName": plugin} if plugin else {}
    return until(lambda: (lambda inv: inv if inv["Status"] in TERMINAL else None)(
        aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=iid, **kw)),
        timeout=30, what=f"command {cid} on {iid}")


def shell(aws, commands, **kw):
    return aws["ssm"].send_command(DocumentName="AWS-RunShellScript",
                                   Parameters={"commands": commands}, **kw)["Command"]


@pytest.fixture(scope="module")
def two_stacks(aws):
    a = online(aws, launch(aws, "stack-a"))
    b = online(aws, launch(aws, "stack-b"))
    yield a, b
    aws["ec2"].terminate_instances(InstanceIds=[a, b])


def test_two_stacks_in_one_cloud_never_run_each_others_commands(aws, local_cloud, two_stacks):  # noqa: F811
    a, b = two_stacks
    hosts = local_cloud.state_dir / "instances"
    cmd = shell(aws, ["echo trained-by-a > marker.txt"], InstanceIds=[a])
    assert cmd["InstanceIds"] == [a] and cmd["TargetCount"] == 1
    assert wait_done(aws, cmd["CommandId"], a)["Status"] == "Success"
    time.sleep(0.3)
    assert (hosts / a / "marker.txt").read_text() == "trained-by-a\n"
    assert not (hosts / b / "marker.txt").exists()

    listed = aws["ssm"].list_command_invocations(CommandId=cmd["CommandId"])["CommandInvocations"]
    assert [i["InstanceId"] for i in listed] == [a]
    with pytest.raises(aws["ssm"].exceptions.InvocationDoesNotExist):
        aws["ssm"].get_command_invocation(CommandId=cmd["CommandId"], InstanceId=b)
    assert cmd["CommandId"] not in [c["CommandId"] for c in
                                    aws["ssm"].list_commands(InstanceId=b)["Commands"]]
    assert aws["ssm"].list_commands(CommandId=cmd["CommandId"])["Commands"][0]["TargetCount"] == 1


def test_targets_by_tag_pick_only_that_stacks_instances(aws, local_cloud, two_stacks):  # noqa: F811
    a, b = two_stacks
    hosts = local_cloud.state_dir / "instances"
    cmd = shell(aws, ["echo b > tagged.txt"], Targets=[{"Key": "tag:stack", "Values": ["stack-b"]}])
    assert wait_done(aws, cmd["CommandId"], b)["Status"] == "Success"
    listed = aws["ssm"].list_command_invocations(CommandId=cmd["CommandId"])["CommandInvocations"]
    assert [i["InstanceId"] for i in listed] == [b]
    assert not (hosts / a / "tagged.txt").exists()
    nobody = shell(aws, ["touch nobody.txt"], Targets=[{"Key": "tag:stack", "Values": ["stack-z"]}])
    assert nobody["TargetCount"] == 0
    assert aws["ssm"].list_command_invocations(CommandId=nobody["CommandId"])["CommandInvocations"] == []
    by_id = shell(aws, ["true"], Targets=[{"Key": "InstanceIds", "Values": [a]}])
    assert [i["InstanceId"] for i in aws["ssm"].list_command_invocations(
        CommandId=by_id["CommandId"])["CommandInvocations"]] == [a]


def test_list_and_get_command_invocation_agree(aws, two_stacks):
    a, b = two_stacks
    cmd = shell(aws, ["echo out", "echo err >&2"], InstanceIds=[a, b])
    for iid in (a, b):
        wait_done(aws, cmd["CommandId"], iid)
    listed = {i["InstanceId"]: i for i in aws["ssm"].list_command_invocations(
        CommandId=cmd["CommandId"], Details=True)["CommandInvocations"]}
    assert set(listed) == {a, b}
    for iid in (a, b):
        got = aws["ssm"].get_command_invocation(CommandId=cmd["CommandId"], InstanceId=iid)
        assert listed[iid]["Status"] == got["Status"] == "Success"
        plugin = listed[iid]["CommandPlugins"][0]
        assert plugin["Name"] == got["PluginName"] == "aws:runShellScript"
        assert plugin["ResponseCode"] == got["ResponseCode"] == 0
        assert plugin["Output"].startswith(got["StandardOutputContent"])
        assert got["StandardErrorContent"] == "err\n"
    one = aws["ssm"].list_command_invocations(CommandId=cmd["CommandId"], InstanceId=b)
    assert [i["InstanceId"] for i in one["CommandInvocations"]] == [b]


DOC_22 = {
    "schemaVersion": "2.2",
    "description": "Train a model (test document)",
    "parameters": {
        "dataKey": {"type": "String", "description": "the data", "allowedPattern": "^data/.*$"},
        "epochs": {"type": "String", "default": "3"},
        "extra": {"type": "StringList", "default": ["echo extra-default"]},
    },
    "mainSteps": [
        {"action": "aws:runShellScript", "name": "prepare",
         "inputs": {"runCommand": ["echo key={{ dataKey }} epochs={{epochs}}", "{{ extra }}"]}},
        {"action": "aws:runShellScript", "name": "train",
         "inputs": {"runCommand": ["echo training {{ dataKey }}", "exit 3"],
                    "timeoutSeconds": "60"}},
    ],
}


def test_own_command_document_runs_its_steps_with_parameters(aws, two_stacks):
    a, _ = two_stacks
    ssm = aws["ssm"]
    ssm.create_document(Name="lc-train-doc", DocumentType="Command", DocumentFormat="JSON",
                        Content=json.dumps(DOC_22))
    cmd = ssm.send_command(InstanceIds=[a], DocumentName="lc-train-doc",
                           Parameters={"dataKey": ["data/b1.csv"],
                                       "extra": ["echo one", "echo two"]})["Command"]
    inv = wait_done(aws, cmd["CommandId"], a)
    assert inv["Status"] == "Failed" and inv["ResponseCode"] == 3  # step 2 exits 3
    assert "key=data/b1.csv epochs=3\none\ntwo\n" in inv["StandardOutputContent"]
    prep = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=a, PluginName="prepare")
    assert prep["Status"] == "Success" and prep["ResponseCode"] == 0
    assert prep["StandardOutputContent"] == "key=data/b1.csv epochs=3\none\ntwo\n"
    train = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=a, PluginName="train")
    assert train["Status"] == "Failed" and train["ResponseCode"] == 3
    assert train["StandardOutputContent"] == "training data/b1.csv\n"
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=a, PluginName="nope")
    plugins = ssm.list_command_invocations(CommandId=cmd["CommandId"], Details=True)[
        "CommandInvocations"][0]["CommandPlugins"]
    assert [(p["Name"], p["Status"], p["ResponseCode"]) for p in plugins] == \
        [("prepare", "Success", 0), ("train", "Failed", 3)]
    assert ssm.list_commands(CommandId=cmd["CommandId"])["Commands"][0]["DocumentName"] == "lc-train-doc"


def test_schema_1_2_document_and_parameter_errors(aws, two_stacks):
    a, _ = two_stacks
    ssm = aws["ssm"]
    doc12 = {"schemaVersion": "1.2", "description": "hello",
             "parameters": {"who": {"type": "String", "default": "world"}},
             "runtimeConfig": {"aws:runShellScript": {"properties": [
                 {"id": "0.aws:runShellScript", "runCommand": ["echo hello {{ who }}"]}]}}}
    ssm.create_document(Name="lc-hello-12", DocumentType="Command", Content=json.dumps(doc12))
    cmd = ssm.send_command(InstanceIds=[a], DocumentName="lc-hello-12")["Command"]
    inv = wait_done(aws, cmd["CommandId"], a)
    assert inv["Status"] == "Success" and inv["StandardOutputContent"] == "hello world\n"

    with pytest.raises(ssm.exceptions.InvalidParameters):  # undeclared parameter
        ssm.send_command(InstanceIds=[a], DocumentName="lc-hello-12", Parameters={"whom": ["x"]})
    with pytest.raises(ssm.exceptions.InvalidParameters):  # required, no default
        ssm.send_command(InstanceIds=[a], DocumentName="lc-train-doc", Parameters={})
    with pytest.raises(ssm.exceptions.InvalidParameters):  # allowedPattern
        ssm.send_command(InstanceIds=[a], DocumentName="lc-train-doc",
                         Parameters={"dataKey": ["/etc/passwd"]})
    with pytest.raises(ssm.exceptions.InvalidDocument):
        ssm.send_command(InstanceIds=[a], DocumentName="lc-no-such-doc")
    with pytest.raises(ssm.exceptions.InvalidParameters):
        ssm.send_command(InstanceIds=[a], DocumentName="AWS-RunShellScript",
                         Parameters={"commands": ["true"], "executionTimeout": ["soon"]})


def test_instance_information_online_after_registration(aws, local_cloud):  # noqa: F811
    saved = local_cloud.profile
    local_cloud.profile = dataclasses.replace(saved, ssm_registration_seconds=1.5)
    try:
        iid = launch(aws, "stack-info")
        t_running = time.monotonic()
        assert info(aws, iid) is None  # running, agent not registered yet
        with pytest.raises(aws["ssm"].exceptions.InvalidInstanceId):
            shell(aws, ["true"], InstanceIds=[iid])
        online(aws, iid)
        assert time.monotonic() - t_running >= 1.0
    finally:
        local_cloud.profile = saved
    item = info(aws, iid)
    assert item["PingStatus"] == "Online" and item["ResourceType"] == "EC2Instance"
    assert item["PlatformType"] == "Linux" and item["AgentVersion"]
    listed = aws["ssm"].describe_instance_information(
        InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}])
    assert iid in [i["InstanceId"] for i in listed["InstanceInformationList"]]
    tagged = aws["ssm"].describe_instance_information(
        Filters=[{"Key": "tag:stack", "Values": ["stack-info"]}])["InstanceInformationList"]
    assert [i["InstanceId"] for i in tagged] == [iid]

    aws["ec2"].stop_instances(InstanceIds=[iid])
    until(lambda: state(aws, iid) == "stopped", what="stopped")
    assert info(aws, iid)["PingStatus"] == "ConnectionLost"
    aws["ec2"].terminate_instances(InstanceIds=[iid])
    until(lambda: state(aws, iid) == "terminated", what="terminated")
    assert info(aws, iid) is None


def test_an_instance_without_a_profile_never_registers(aws):
    iid = launch(aws, "stack-noprofile", profile=False)
    try:
        time.sleep(1.0)  # well past the default registration delay
        assert info(aws, iid) is None
        with pytest.raises(aws["ssm"].exceptions.InvalidInstanceId) as err:
            shell(aws, ["true"], InstanceIds=[iid])
        assert f"Instances [[{iid}]] not in a valid state" in str(err.value)
        none = shell(aws, ["true"], Targets=[{"Key": "tag:stack", "Values": ["stack-noprofile"]}])
        assert none["TargetCount"] == 0
    finally:
        aws["ec2"].terminate_instances(InstanceIds=[iid])


def test_describe_instance_information_validates_its_input(aws):
    ssm = aws["ssm"]
    with pytest.raises(ssm.exceptions.ClientError) as err:
        ssm.describe_instance_information(MaxResults=51)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ssm.exceptions.InvalidInstanceInformationFilterValue):
        ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["red"]}])
