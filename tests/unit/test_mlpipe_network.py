"""Where the instance goes (fault: no default VPC): the default VPC's subnet when there is one,
otherwise the stack's own small VPC (created by deploy, removed by destroy), or MLPIPE_SUBNET_ID."""
import boto3
import pytest

from mlpipe import deploy as deploy_mod
from mlpipe import network, teardown
from mlpipe.config import MlpipeError, load_settings
from mlpipe.stack import Stack

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)


def remove_default_vpc(region="us-east-1"):
    """Make the mocked account look like an Organizations sandbox: no default VPC."""
    ec2 = boto3.client("ec2", region_name=region)
    for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
        vf = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for s in ec2.describe_subnets(Filters=vf)["Subnets"]:
            ec2.delete_subnet(SubnetId=s["SubnetId"])
        for g in ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
                "InternetGateways"]:
            ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])


def _instance(names):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    res = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [names.instance_name]},
                                          {"Name": "instance-state-name", "Values": ["stopped", "running"]}])
    [inst] = [i for r in res["Reservations"] for i in r["Instances"]]
    return inst


def test_with_a_default_vpc_the_instance_goes_into_its_subnet(aws):
    settings, names = aws
    deploy_mod.deploy(settings, part="glue", progress=quiet)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    inst = _instance(names)
    assert inst["VpcId"] == default_vpc
    assert network.find_vpcs(Stack.load(settings)) == []  # nothing of our own was made


def test_without_a_default_vpc_deploy_makes_a_small_vpc_and_destroy_removes_it(aws):
    settings, names = aws
    remove_default_vpc()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    msgs = []
    reports = deploy_mod.deploy(settings, part="glue", progress=msgs.append)
    made = {r.kind for r in reports if r.action == "created"}
    assert {"vpc", "subnet", "internet gateway", "route table", "ec2 instance"} <= made
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:stack", "Values": ["mlpipe"]}])["Vpcs"]
    tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert tags == {"stack": "mlpipe", "Name": "mlpipe-vpc"}
    [subnet] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert subnet["MapPublicIpOnLaunch"] is True
    assert {t["Key"]: t["Value"] for t in subnet["Tags"]}["stack"] == "mlpipe"
    [igw] = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"]
    assert {t["Key"]: t["Value"] for t in igw["Tags"]}["stack"] == "mlpipe"
    [table] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                 {"Name": "tag:stack", "Values": ["mlpipe"]}])["RouteTables"]
    assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == igw["InternetGatewayId"]
               for r in table["Routes"])
    assert [a["SubnetId"] for a in table["Associations"] if a.get("SubnetId")] == [subnet["SubnetId"]]
    assert _instance(names)["SubnetId"] == subnet["SubnetId"]

    again = deploy_mod.deploy(settings, part="glue", progress=quiet)
    assert [str(r) for r in again if r.action != "found"] == []

    left = teardown.leftovers_of(Stack(settings, names))
    assert any(x.startswith("vpc ") for x in left) and any(x.startswith("internet gateway") for x in left)
    teardown.destroy(settings, progress=quiet)
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:stack", "Values": ["mlpipe"]}])["Vpcs"] == []
    assert ec2.describe_internet_gateways(Filters=[{"Name": "tag:stack", "Values": ["mlpipe"]}])[
        "InternetGateways"] == []
    assert teardown.leftovers_of(Stack(settings, names)) == []


def test_the_subnet_can_be_chosen(aws, monkeypatch):
    settings, names = aws
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    # In a zone that offers the instance type (moto otherwise picks a zone at random, and
    # us-east-1e offers no t3 types: that is the clear error of the next test).
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    chosen = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "us-east-1", "MLPIPE_SUBNET_ID": subnet,
                            "MLPIPE_READY_TIMEOUT": "60", "MLPIPE_WAITER_TIMEOUT": "30"})
    deploy_mod.deploy(chosen, part="glue", progress=quiet)
    assert _instance(names)["SubnetId"] == subnet
    teardown.destroy(chosen, progress=quiet)
    # A subnet the stack did not make is never deleted.
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]


def test_a_chosen_subnet_where_the_type_is_not_offered_is_a_clear_error(aws):
    settings, _ = aws
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.51.1.0/24",
                               AvailabilityZone="us-east-1e")["Subnet"]["SubnetId"]
    with pytest.raises(MlpipeError, match=f"MLPIPE_SUBNET_ID={subnet} is in us-east-1e, where t3.small is not "
                                          r"offered \(offered in: us-east-1a.*choose a subnet"):
        network.ensure(Stack.load(settings.with_(subnet_id=subnet)))


def test_a_missing_chosen_subnet_is_a_clear_error(aws):
    settings, _ = aws
    bad = settings.with_(subnet_id="subnet-0123456789abcdef0")
    with pytest.raises(MlpipeError, match="MLPIPE_SUBNET_ID=subnet-0123456789abcdef0: no such subnet"):
        network.ensure(Stack.load(bad))


def test_a_malformed_subnet_id_is_refused():
    from mlpipe.config import ConfigError

    with pytest.raises(ConfigError, match="is not a subnet id"):
        load_settings({"MLPIPE_SUBNET_ID": "vpc-123"})
