"""Where the training instance lives: a subnet with a route to the internet.

The instance needs outbound HTTPS (SSM, S3, PyPI for its bootstrap) and nothing inbound.
The subnet is chosen in this order:

1. ``MLPIPE_SUBNET_ID``, when set: that subnet, as it is (it must exist);
2. the default VPC's default subnet (the first by Availability Zone) when the account has
   a default VPC;
3. otherwise (Organizations / Control Tower sandboxes often have none, and RunInstances
   without a subnet then fails with ``VPCIdNotSpecified``) a small VPC of the stack's own:
   ``10.192.0.0/16`` with one public subnet ``10.192.0.0/24`` (public IPv4 on launch), an
   internet gateway, a route table with ``0.0.0.0/0`` to it, all tagged ``stack=<stack>``
   and ``Name=<stack>-vpc``. ``delete`` removes it (after the instance is terminated).
"""
from __future__ import annotations

from .clients import error_code, get_or_none
from .config import MlpipeError
from .report import Report

VPC_CIDR = "10.192.0.0/16"
SUBNET_CIDR = "10.192.0.0/24"


def _filters(**tags) -> list:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]


def find_default_subnet(stack) -> str | None:
    """The default VPC's default subnet (first by AZ), or None when the account has no default VPC."""
    ec2 = stack.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs", [])
    if not vpcs:
        return None
    subnets = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
        {"Name": "default-for-az", "Values": ["true"]},
    ]).get("Subnets", [])
    if not subnets:
        return None
    return sorted(subnets, key=lambda s: (s.get("AvailabilityZone", ""), s["SubnetId"]))[0]["SubnetId"]


def find_vpcs(stack) -> list:
    """The stack's own VPCs (tag stack=<stack> and Name=<stack>-vpc)."""
    names = stack.names
    return stack.client("ec2").describe_vpcs(
        Filters=_filters(stack=names.stack, Name=names.vpc_name)).get("Vpcs", [])


def _own_subnet(stack, vpc_id: str) -> str | None:
    subnets = stack.client("ec2").describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, *_filters(stack=stack.names.stack)]).get("Subnets", [])
    return sorted(s["SubnetId"] for s in subnets)[0] if subnets else None


def _chosen_subnet(stack, subnet_id: str) -> Report:
    found = get_or_none(stack.client("ec2").describe_subnets, SubnetIds=[subnet_id])
    if not found or not found.get("Subnets"):
        raise MlpipeError(f"MLPIPE_SUBNET_ID={subnet_id}: no such subnet in {stack.settings.region}")
    return Report("found", "subnet", subnet_id, None,
                  {"subnet_id": subnet_id, "vpc_id": found["Subnets"][0]["VpcId"], "source": "MLPIPE_SUBNET_ID"})


def ensure(stack) -> list:
    """The subnet the instance goes into; the last report's ``details["subnet_id"]`` names it."""
    if stack.settings.subnet_id:
        return [_chosen_subnet(stack, stack.settings.subnet_id)]
    default = find_default_subnet(stack)
    if default:
        return [Report("found", "subnet", default, None, {"subnet_id": default, "source": "default VPC"})]
    return _ensure_own_vpc(stack)


def subnet_of(reports: list) -> str:
    return reports[-1].details["subnet_id"]


def _ensure_own_vpc(stack) -> list:
    ec2, names = stack.client("ec2"), stack.names
    tags = names.tag_list(Name=names.vpc_name)
    reports = []
    vpcs = find_vpcs(stack)
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
        reports.append(Report("found", "vpc", names.vpc_name, None, {"vpc_id": vpc_id}))
    else:
        stack.say("  no default VPC in this account: creating the stack's own (one public subnet)")
        vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=[
            {"ResourceType": "vpc", "Tags": tags}])["Vpc"]["VpcId"]
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        reports.append(Report("created", "vpc", names.vpc_name, None, {"vpc_id": vpc_id}))

    igws = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}]).get("InternetGateways", [])
    if igws:
        igw_id = igws[0]["InternetGatewayId"]
        reports.append(Report("found", "internet gateway", igw_id))
    else:
        igw_id = ec2.create_internet_gateway(TagSpecifications=[
            {"ResourceType": "internet-gateway", "Tags": tags}])["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        reports.append(Report("created", "internet gateway", igw_id))

    subnet_id = _own_subnet(stack, vpc_id)
    if subnet_id:
        reports.append(Report("found", "subnet", subnet_id, None, {"subnet_id": subnet_id, "source": "own VPC"}))
        made_subnet = None
    else:
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=SUBNET_CIDR, TagSpecifications=[
            {"ResourceType": "subnet", "Tags": tags}])["Subnet"]["SubnetId"]
        ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
        made_subnet = Report("created", "subnet", subnet_id, None, {"subnet_id": subnet_id, "source": "own VPC"})

    tables = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, *_filters(stack=names.stack)]).get("RouteTables", [])
    if tables:
        table = tables[0]
        rt_id = table["RouteTableId"]
        action = "found"
    else:
        rt_id = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
            {"ResourceType": "route-table", "Tags": tags}])["RouteTable"]["RouteTableId"]
        table = {"Routes": [], "Associations": []}
        action = "created"
    if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == igw_id
               for r in table.get("Routes", [])):
        ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
        action = "created" if action == "created" else "updated"
    if not any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
        ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnet_id)
        action = "created" if action == "created" else "updated"
    reports.append(Report(action, "route table", rt_id, None, {"route": "0.0.0.0/0 -> " + igw_id}))
    # The subnet's report last: ensure()'s callers read the subnet id from it.
    reports.append(made_subnet or reports.pop(-2))
    return reports


def plan(stack) -> list:
    if stack.settings.subnet_id:
        return [Report("found", "subnet", stack.settings.subnet_id, None, {"source": "MLPIPE_SUBNET_ID"})]
    default = find_default_subnet(stack)
    if default:
        return [Report("found", "subnet", default, None, {"source": "default VPC"})]
    vpcs = find_vpcs(stack)
    action = "found" if vpcs else "planned"
    return [Report(action, kind, stack.names.vpc_name, None, {"reason": "no default VPC"} if not vpcs else {})
            for kind in ("vpc", "subnet", "internet gateway", "route table")]


def leftovers(stack) -> list:
    """``"kind id"`` of every network piece of the stack that exists."""
    ec2, left = stack.client("ec2"), []
    tag = _filters(stack=stack.names.stack)
    for vpc in find_vpcs(stack):
        left.append(f"vpc {vpc['VpcId']}")
        vf = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        left += [f"subnet {s['SubnetId']}" for s in ec2.describe_subnets(Filters=vf).get("Subnets", [])]
        left += [f"route table {t['RouteTableId']}" for t in
                 ec2.describe_route_tables(Filters=vf + tag).get("RouteTables", [])]
    left += [f"internet gateway {g['InternetGatewayId']}" for g in
             ec2.describe_internet_gateways(Filters=_filters(stack=stack.names.stack, Name=stack.names.vpc_name))
             .get("InternetGateways", [])]
    return left


def delete(stack) -> list:
    """Remove the stack's own VPC with its subnet, route table and internet gateway (instances first)."""
    ec2, names = stack.client("ec2"), stack.names
    reports = []
    for vpc in find_vpcs(stack):
        vpc_id = vpc["VpcId"]
        vf = [{"Name": "vpc-id", "Values": [vpc_id]}]
        for igw in ec2.describe_internet_gateways(Filters=[
                {"Name": "attachment.vpc-id", "Values": [vpc_id]}]).get("InternetGateways", []):
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
            reports.append(Report("deleted", "internet gateway", igw["InternetGatewayId"]))
        for table in ec2.describe_route_tables(Filters=vf).get("RouteTables", []):
            if any(a.get("Main") for a in table.get("Associations", [])):
                continue  # the VPC's main table goes with the VPC
            for assoc in table.get("Associations", []):
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
            ec2.delete_route_table(RouteTableId=table["RouteTableId"])
            reports.append(Report("deleted", "route table", table["RouteTableId"]))
        for subnet in ec2.describe_subnets(Filters=vf).get("Subnets", []):
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
            reports.append(Report("deleted", "subnet", subnet["SubnetId"]))
        try:
            ec2.delete_vpc(VpcId=vpc_id)
        except Exception as exc:  # noqa: BLE001 - named in the error below
            raise MlpipeError(f"could not delete VPC {vpc_id} ({error_code(exc) or exc}): something "
                              "still uses it (an instance or network interface)") from None
        reports.append(Report("deleted", "vpc", names.vpc_name, None, {"vpc_id": vpc_id}))
    # A gateway left detached by an interrupted deploy.
    for igw in ec2.describe_internet_gateways(Filters=_filters(stack=names.stack, Name=names.vpc_name)
                                              ).get("InternetGateways", []):
        for att in igw.get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=att["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        reports.append(Report("deleted", "internet gateway", igw["InternetGatewayId"]))
    return reports or [Report("absent", "vpc", names.vpc_name)]
