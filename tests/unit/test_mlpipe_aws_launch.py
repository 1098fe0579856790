"""Issue 19, what AWS would refuse at launch: the instance's own security group (the VPC's
default one is stripped in hardened accounts), its subnet in an AZ where the type is offered
(moto carries AWS's offerings: t3.small is not offered in us-east-1e), another AZ on
InsufficientInstanceCapacity, and T3 credits 'standard' (the plan's price holds)."""
import boto3
import pytest
from botocore.exceptions import ClientError

from mlpipe import deploy as deploy_mod
from mlpipe import instance, network, teardown
from mlpipe.config import MlpipeError
from mlpipe.stack import Stack

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)


def _ec2():
    return boto3.client("ec2", region_name="us-east-1")


def _trainer(names):
    res = _ec2().describe_instances(Filters=[{"Name": "tag:Name", "Values": [names.instance_name]},
                                             {"Name": "instance-state-name", "Values": ["stopped", "running"]}])
    [inst] = [i for r in res["Reservations"] for i in r["Instances"]]
    return inst


def test_the_instance_gets_the_stacks_own_group_https_out_only_and_destroy_removes_it(aws):
    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    inst = _trainer(names)
    [gid] = [g["GroupId"] for g in inst["SecurityGroups"]]
    [group] = _ec2().describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert group["GroupName"] == names.security_group != "default"
    assert group["IpPermissions"] == []
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], [x["CidrIp"] for x in r["IpRanges"]])
            for r in group["IpPermissionsEgress"]] == [("tcp", 443, 443, ["0.0.0.0/0"])]
    # a second deploy finds it unchanged
    again = deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert [r.action for r in again if r.kind == "security group"] == ["found"]
    teardown.destroy(settings, progress=quiet)
    assert network.find_security_groups(Stack.load(settings)) == []


def test_a_group_someone_opened_is_closed_again(aws):
    settings, names = aws
    stack = Stack.load(settings)
    vpc = _ec2().describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    gid = network.ensure_security_group(stack, vpc).details["group_id"]
    _ec2().authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    rep = network.ensure_security_group(stack, vpc)
    assert rep.action == "updated" and "inbound rules removed" in rep.details["changes"]
    assert _ec2().describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]["IpPermissions"] == []


def test_the_subnet_is_in_an_az_where_the_instance_type_is_offered(aws):
    settings, names = aws
    ec2 = _ec2()
    assert "us-east-1e" not in network.offered_zones(Stack.load(settings))  # AWS's data, as moto carries it
    # leave only the default subnets of us-east-1e (t3.small not offered) and us-east-1f
    for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        if s["AvailabilityZone"] not in ("us-east-1e", "us-east-1f"):
            ec2.delete_subnet(SubnetId=s["SubnetId"])
    [rep] = network.ensure(Stack.load(settings))
    assert rep.details["zone"] == "us-east-1f" and rep.details["alternates"] == []
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert _trainer(names)["Placement"]["AvailabilityZone"] == "us-east-1f"


def test_no_offered_az_is_a_clear_error(aws):
    settings, _ = aws
    ec2 = _ec2()
    for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        if s["AvailabilityZone"] != "us-east-1e":
            ec2.delete_subnet(SubnetId=s["SubnetId"])
    with pytest.raises(MlpipeError, match="offered in none of the default VPC's AZs"):
        network.ensure(Stack.load(settings))


def test_insufficient_capacity_in_one_az_launches_in_the_next(aws, monkeypatch):
    settings, names = aws
    stack = Stack.load(settings)
    [rep] = network.ensure(stack)
    first, alternates = rep.details["subnet_id"], rep.details["alternates"]
    assert alternates, "the default VPC has several offered AZs"
    ec2 = stack.client("ec2")
    real = ec2.run_instances
    tried = []

    def run_instances(**kw):
        tried.append(kw["SubnetId"])
        if kw["SubnetId"] == first:
            raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity",
                                         "Message": "We currently do not have sufficient t3.small capacity"}},
                              "RunInstances")
        return real(**kw)

    monkeypatch.setattr(ec2, "run_instances", run_instances)
    from mlpipe import iam
    iam.ensure_roles(stack, keys=("ec2",))
    iam.ensure_instance_profile(stack)
    msgs = []
    rep = instance.ensure(stack.with_progress(msgs.append), first, alternates=alternates)[-1]
    assert tried == [first, alternates[0]]
    assert _trainer(names)["SubnetId"] == alternates[0]
    assert any("InsufficientInstanceCapacity" in m and "another AZ" in m for m in msgs)
    assert rep.action == "created"


def test_t3_launches_with_standard_credits_and_the_plan_says_so(aws):
    settings, names = aws
    stack = Stack.load(settings)
    kw = instance.run_kwargs(stack, "ami-1", "#!/bin/bash", "subnet-1", "sg-1")
    assert kw["CreditSpecification"] == {"CpuCredits": "standard"}
    assert kw["SecurityGroupIds"] == ["sg-1"]
    assert "CreditSpecification" not in instance.run_kwargs(
        Stack(settings.with_(instance_type="m5.large"), names), "ami-1", "", None)
    assert any("'standard'" in line for line in deploy_mod.cost_lines(settings))


def test_default_ebs_encryption_with_a_customer_key_grants_the_starting_roles(aws, monkeypatch):
    """moto implements EnableEbsEncryptionByDefault but not GetEbsDefaultKmsKeyId: the
    answer for the modified key is given here in AWS's documented shape ({"KmsKeyId": arn})."""
    settings, names = aws
    stack = Stack.load(settings)
    from mlpipe import iam
    assert iam.ebs_customer_key(stack) is None  # encryption by default off
    ec2 = _ec2()
    ec2.enable_ebs_encryption_by_default()
    monkeypatch.setattr(stack.client("ec2"), "get_ebs_default_kms_key_id", lambda: {"KmsKeyId": "alias/aws/ebs"})
    assert iam.ebs_customer_key(stack) is None  # on, with the AWS managed aws/ebs key
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]
    monkeypatch.setattr(stack.client("ec2"), "get_ebs_default_kms_key_id", lambda: {"KmsKeyId": key["Arn"]})
    assert iam.ebs_customer_key(stack) == key["Arn"]
    iam.ensure_roles(stack, keys=("trigger",))
    doc = boto3.client("iam").get_role_policy(RoleName=names.role("trigger"), PolicyName=iam.INLINE_POLICY)
    grant = [s for s in doc["PolicyDocument"]["Statement"] if s["Sid"] == "EbsDefaultKeyGrant"]
    assert grant and grant[0]["Resource"] == [key["Arn"]]


def test_destroy_survives_an_account_listing_it_cannot_parse(aws, monkeypatch):
    """Issue 19: a malformed role anywhere in the account made ListRoles' answer unparsable
    and `mlpipe destroy` died with a traceback. The stack's own roles and profile are found
    by name, the failed listing is reported, and destroy finishes."""
    from botocore.parsers import ResponseParserError
    from mlpipe import iam
    settings, names = aws
    stack = Stack.load(settings)
    iam.ensure_roles(stack, keys=("ec2", "reaper"))
    iam.ensure_instance_profile(stack)
    client = stack.client("iam")
    real = client.get_paginator

    def get_paginator(name):
        if name in ("list_roles", "list_instance_profiles"):
            class Broken:
                def paginate(self, **_kw):
                    raise ResponseParserError("Unable to parse response (not well-formed), invalid XML received")
            return Broken()
        return real(name)

    monkeypatch.setattr(client, "get_paginator", get_paginator)
    msgs = []
    teardown.destroy(settings, progress=msgs.append)
    assert any("could not list every role" in m for m in msgs)
    left = boto3.client("iam").list_roles()["Roles"]
    assert not [r for r in left if r["RoleName"].startswith(names.stack + "-")]


def test_a_tagged_instance_profile_is_found_by_its_tags(aws):
    """ListInstanceProfiles returns no tags: the stack's tagged profile under another name is
    found through ListInstanceProfileTags, and another stack's is left alone."""
    from mlpipe import iam
    settings, names = aws
    client = boto3.client("iam")
    client.create_instance_profile(InstanceProfileName=f"{names.stack}-old-profile",
                                   Tags=[{"Key": "stack", "Value": names.stack}])
    client.create_instance_profile(InstanceProfileName=f"{names.stack}-other-profile",
                                   Tags=[{"Key": "stack", "Value": "someone-else"}])
    assert iam.find_instance_profiles(Stack.load(settings)) == [f"{names.stack}-old-profile"]
