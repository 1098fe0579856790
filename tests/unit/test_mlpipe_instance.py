"""The training instance: AMI lookup, user data, created then stopped, found by tag."""
import base64

import boto3
import pytest
from botocore.exceptions import ClientError

from mlpipe import iam, instance
from mlpipe.config import MlpipeError
from mlpipe.clients import client
from mlpipe.names import AL2023_AMI_PARAMETER, Names
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


@pytest.fixture
def with_profile(aws):
    settings, names = aws
    iam.ensure_roles(Stack(settings, names), keys=("ec2",))
    iam.ensure_instance_profile(Stack(settings, names))
    return settings, names


def test_aws_ami_comes_from_the_al2023_public_parameter(aws):
    settings, _ = aws
    expected = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"]
    assert expected.startswith("ami-")
    assert instance.resolve_ami(Stack.load(settings)) == expected


def test_local_ami_is_one_of_motos(aws, monkeypatch):
    settings, _ = aws
    local = settings.__class__(target="local", endpoint_url="http://127.0.0.1:4566")
    # The local branch asks EC2's describe_images (moto's catalogue), never SSM: route its
    # client to mock_aws, since the local endpoint is a real socket.
    asked = []

    def fake_client(service, s):
        asked.append(service)
        return boto3.client(service, region_name="us-east-1")
    monkeypatch.setattr(Stack, "client", lambda self, service: fake_client(service, self.settings))
    ami = instance.resolve_ami(Stack(local, Names.for_stack(local, "123456789012")))
    assert asked == ["ec2"]
    image = boto3.client("ec2", region_name="us-east-1").describe_images(ImageIds=[ami])["Images"][0]
    assert image["Architecture"] == "x86_64"


def test_user_data_carries_the_sklearn_pin(tmp_path):
    from model_code.pins import SKLEARN_VERSION

    text = instance.render_user_data()
    assert f'SKLEARN_VERSION="{SKLEARN_VERSION}"' in text and instance.PIN_TOKEN not in text
    no_token = tmp_path / "user_data.sh"
    no_token.write_text("#!/bin/bash\npip install scikit-learn\n")
    with pytest.raises(MlpipeError, match="@SKLEARN_VERSION@"):
        instance.render_user_data(no_token)
    placeholder = instance.render_user_data(tmp_path / "missing.sh")
    assert "exit 1" in placeholder and "missing.sh was missing" in placeholder


def test_instance_is_created_stopped_tagged_and_found_again(with_profile):
    settings, names = with_profile
    msgs = []
    rep = instance.ensure(Stack(settings, names, msgs.append))[-1]
    assert rep.action == "created" and rep.details["state"] == "stopped"
    iid = rep.details["instance_id"]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] == "stopped"
    assert inst["InstanceType"] == "t3.small"
    assert {t["Key"]: t["Value"] for t in inst["Tags"]} == {"Name": "mlpipe-trainer", "stack": "mlpipe",
                                                                 "bootstrap": "done"}
    assert inst["IamInstanceProfile"]["Arn"].endswith("instance-profile/mlpipe-ec2-profile")
    ud = ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
    from model_code.pins import SKLEARN_VERSION

    assert f'"scikit-learn=={SKLEARN_VERSION}"' in base64.b64decode(ud).decode()
    assert any("running" in m for m in msgs) and any("stopped" in m for m in msgs)
    assert any("bootstrap finished" in m for m in msgs)  # aws: waited for cloud-init via SSM

    again = instance.ensure(Stack(settings, names))[-1]
    assert again.action == "found" and again.details["instance_id"] == iid
    assert len(instance.find_instances(Stack(settings, names))) == 1


def test_instance_type_is_configurable(with_profile):
    settings, names = with_profile
    rep = instance.ensure(Stack(settings.with_(instance_type="t3.micro"), names))[-1]
    assert rep.details["instance_type"] == "t3.micro"


def test_profile_propagation_is_retried(with_profile, monkeypatch):
    settings, names = with_profile
    ec2 = client("ec2", settings)
    real = ec2.run_instances
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ClientError({"Error": {"Code": "InvalidParameterValue",
                                         "Message": "Value (mlpipe-ec2-profile) for parameter "
                                                    "iamInstanceProfile.name is invalid. Invalid IAM "
                                                    "Instance Profile name"}}, "RunInstances")
        return real(**kwargs)
    monkeypatch.setattr(ec2, "run_instances", flaky)
    monkeypatch.setattr(instance.time, "sleep", lambda s: None)
    msgs = []
    assert instance.ensure(Stack(settings, names, msgs.append))[-1].action == "created"
    assert len(calls) == 2 and any("retrying" in m for m in msgs)


def test_wait_times_out_with_a_clear_message(with_profile, monkeypatch):
    settings, names = with_profile
    monkeypatch.setattr(instance, "instance_state", lambda s, i: "pending")
    monkeypatch.setattr(instance.time, "sleep", lambda s: None)
    with pytest.raises(MlpipeError, match="still pending after 0s"):
        instance.wait_for_state(Stack(settings, names), "i-123", "running", timeout=0)


def test_delete_terminates_only_this_stack(with_profile):
    settings, names = with_profile
    instance.ensure(Stack(settings, names))[-1]
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = instance.resolve_ami(Stack(settings, names))
    other = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "stack", "Value": "bob"}]}])["Instances"][0]["InstanceId"]
    reports = instance.delete(Stack(settings, names))
    assert [r.action for r in reports] == ["deleted"]
    assert instance.find_instances(Stack(settings, names)) == []
    assert instance.instance_state(Stack(settings, names), other) == "running"
    assert instance.delete(Stack(settings, names))[0].action == "absent"


def test_only_aws_profile_message_is_retried(with_profile, monkeypatch):
    """Another InvalidParameterValue that mentions a profile is not IAM propagation: no retry."""
    settings, names = with_profile
    ec2 = client("ec2", settings)
    calls = []

    def refused(**kwargs):
        calls.append(1)
        raise ClientError({"Error": {"Code": "InvalidParameterValue",
                                     "Message": "The instance profile association is not supported here"}},
                          "RunInstances")
    monkeypatch.setattr(ec2, "run_instances", refused)
    with pytest.raises(ClientError):
        instance.ensure(Stack(settings, names))[-1]
    assert len(calls) == 1
    assert instance.PROFILE_PROPAGATING.search(
        "Value (mlpipe-ec2-profile) for parameter iamInstanceProfile.name is invalid. "
        "Invalid IAM Instance Profile name")


def test_failed_bootstrap_terminates_the_instance_and_says_so(with_profile, monkeypatch):
    settings, names = with_profile

    def failed(stack, iid):
        raise MlpipeError("the instance bootstrap (user data) failed (Failed): pip: no matching distribution")
    monkeypatch.setattr(instance, "wait_for_bootstrap", failed)
    with pytest.raises(MlpipeError) as ex:
        instance.ensure(Stack(settings, names))[-1]
    msg = str(ex.value)
    assert "bootstrap (user data) failed" in msg and "was terminated" in msg
    iid = msg.split("instance ")[-1].split(" ")[0]
    assert iid.startswith("i-") and instance.instance_state(Stack(settings, names), iid) in ("shutting-down", "terminated")
    assert instance.find_instances(Stack(settings, names)) == []


def test_an_instance_that_cannot_be_stopped_is_named(with_profile, monkeypatch):
    settings, names = with_profile
    ec2 = client("ec2", settings)

    def no_stop(**kw):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "StopInstances")

    def no_terminate(**kw):
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "TerminateInstances")
    monkeypatch.setattr(ec2, "stop_instances", no_stop)
    monkeypatch.setattr(ec2, "terminate_instances", no_terminate)
    with pytest.raises(MlpipeError, match=r"instance i-[0-9a-f]+ could not be terminated .* still be running"):
        instance.ensure(Stack(settings, names))[-1]


def test_an_interrupted_deploy_leaves_no_running_instance(with_profile, monkeypatch):
    settings, names = with_profile
    real = instance.wait_for_state

    def interrupted(stack, iid, wanted, **kw):
        if wanted == "stopped":
            raise KeyboardInterrupt
        return real(stack, iid, wanted, **kw)
    monkeypatch.setattr(instance, "wait_for_state", interrupted)
    with pytest.raises(KeyboardInterrupt):
        instance.ensure(Stack(settings, names))[-1]
    assert instance.find_instances(Stack(settings, names)) == []


def test_a_redeploy_replaces_an_instance_whose_bootstrap_never_finished(with_profile):
    settings, names = with_profile
    ec2 = boto3.client("ec2", region_name="us-east-1")
    # What a deploy killed before its first stop leaves: a running, tagged, never-bootstrapped instance.
    broken = ec2.run_instances(ImageId=instance.resolve_ami(Stack(settings, names)), MinCount=1, MaxCount=1,
                               TagSpecifications=[{"ResourceType": "instance",
                                                   "Tags": names.tag_list(Name=names.instance_name)}],
                               )["Instances"][0]["InstanceId"]
    reports = instance.ensure(Stack(settings, names))
    assert [r.action for r in reports] == ["deleted", "created"]
    assert reports[0].name == broken and instance.instance_state(Stack(settings, names), broken) in ("shutting-down", "terminated")
    assert reports[-1].details["instance_id"] != broken and reports[-1].details["state"] == "stopped"


def test_user_data_installs_the_whole_lock():
    from model_code.pins import LOCK

    text = instance.render_user_data()
    for name, version in LOCK.items():
        assert f'"{name}=={version}"' in text, name
    assert instance.REQUIREMENTS_TOKEN not in text
    assert 'pip install --no-cache-dir "${REQUIREMENTS[@]}"' in text
    import subprocess

    assert subprocess.run(["bash", "-n"], input=text.encode()).returncode == 0
