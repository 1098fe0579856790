"""The `aws` timing/account profile (issue 9, item 6) against a real local cloud: IAM
propagation seen by Lambda and RunInstances, seconds in pending/stopping, SSM registration,
an account without a default VPC; AWS's error codes and messages. The session cloud runs with
the default profile; each test switches it to a short `aws`-shaped one and back."""
import dataclasses
import json
import time
import uuid

import boto3
import pytest

from localcloud.core.profile import AWS
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import LAMBDA_TRUST, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"
AMI = "ami-12c6146b"
PROPAGATION = 4.0  # seconds; long enough for a loaded machine to make the refused calls
EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("lambda", "iam", "ec2", "ssm")}


@pytest.fixture
def like_aws(local_cloud):  # noqa: F811
    """The aws profile with short delays (the shapes are the same; the waits are shorter)."""
    saved = local_cloud.profile
    local_cloud.profile = dataclasses.replace(
        AWS, role_propagation_seconds=PROPAGATION, instance_profile_propagation_seconds=PROPAGATION,
        ec2_transition_seconds=1.0, ssm_registration_seconds=1.0)
    yield local_cloud.profile
    local_cloud.profile = saved


def state(aws, iid):
    return aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def test_a_new_role_cannot_be_assumed_by_lambda_for_a_few_seconds(aws, like_aws):
    name = f"lc-new-role-{uuid.uuid4().hex[:6]}"
    role = aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    fn = f"lc-fn-{uuid.uuid4().hex[:6]}"
    kw = dict(FunctionName=fn, Runtime="python3.11", Role=role, Handler="h.h",
              Code={"ZipFile": zip_bytes({"h.py": "def h(e, c): return 1"})})
    with pytest.raises(aws["lambda"].exceptions.InvalidParameterValueException) as err:
        aws["lambda"].create_function(**kw)
    assert err.value.response["Error"]["Message"] == \
        "The role defined for the function cannot be assumed by Lambda."
    with pytest.raises(aws["lambda"].exceptions.ResourceNotFoundException):
        aws["lambda"].get_function(FunctionName=fn)  # nothing was created
    time.sleep(PROPAGATION + 0.1)
    aws["lambda"].create_function(**kw)  # propagated: accepted
    newer = aws["iam"].create_role(RoleName=name + "-b", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    with pytest.raises(aws["lambda"].exceptions.InvalidParameterValueException):
        aws["lambda"].update_function_configuration(FunctionName=fn, Role=newer)


def test_a_new_instance_profile_is_refused_by_run_instances_for_a_few_seconds(aws, like_aws):
    iam, ec2 = aws["iam"], aws["ec2"]
    name = f"lc-new-profile-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=EC2_TRUST)
    prof = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    before = len(ec2.describe_instances()["Reservations"])
    for spec, field in (({"Name": name}, "name"), ({"Arn": prof["Arn"]}, "arn")):
        with pytest.raises(ec2.exceptions.ClientError) as err:
            ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, IamInstanceProfile=spec)
        assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
        value = spec.get("Name") or spec.get("Arn")
        assert err.value.response["Error"]["Message"].startswith(
            f"Value ({value}) for parameter iamInstanceProfile.{field} is invalid. "
            "Invalid IAM Instance Profile")
    assert len(ec2.describe_instances()["Reservations"]) == before  # nothing launched
    time.sleep(PROPAGATION + 0.1)
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                            IamInstanceProfile={"Name": name})["Instances"][0]["InstanceId"]

    # seconds in pending, then running; the SSM agent registers a while after that
    t0 = time.monotonic()
    assert state(aws, iid) == "pending"
    time.sleep(0.5)
    assert state(aws, iid) == "pending"
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2})
    assert time.monotonic() - t0 >= 0.9
    with pytest.raises(aws["ssm"].exceptions.InvalidInstanceId):
        aws["ssm"].send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                Parameters={"commands": ["true"]})
    deadline = time.monotonic() + 5
    while not aws["ssm"].describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    # seconds in stopping
    ec2.stop_instances(InstanceIds=[iid])
    time.sleep(0.5)
    assert state(aws, iid) == "stopping"
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2})
    ec2.terminate_instances(InstanceIds=[iid])


def test_no_default_vpc_needs_a_subnet(aws, local_cloud):  # noqa: F811
    saved = local_cloud.profile
    local_cloud.profile = dataclasses.replace(saved, default_vpc=False)
    ec2 = aws["ec2"]
    try:
        with pytest.raises(ec2.exceptions.ClientError) as err:
            ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
        assert err.value.response["Error"]["Code"] == "VPCIdNotSpecified"
        assert err.value.response["Error"]["Message"] == (
            "No default VPC for this user. GroupName is only supported for EC2-Classic and "
            "default VPC.")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
        inst = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        assert inst["SubnetId"] == subnet
        ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    finally:
        local_cloud.profile = saved


def test_default_profile_adds_no_delay(aws, local_cloud):  # noqa: F811
    assert local_cloud.profile.name == "default"
    name = f"lc-quick-{uuid.uuid4().hex[:6]}"
    role = aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    aws["lambda"].create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="h.h",
                                  Code={"ZipFile": zip_bytes({"h.py": "def h(e, c): return 1"})})
    aws["iam"].create_instance_profile(InstanceProfileName=name)
    iid = aws["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                   IamInstanceProfile={"Name": name})["Instances"][0]["InstanceId"]
    aws["ec2"].terminate_instances(InstanceIds=[iid])
