"""Where the training instance lives: a subnet with a route to the internet.

The instance needs outbound HTTPS (SSM, S3, PyPI for its bootstrap) and nothing inbound.
The subnet is chosen in this order:

1. ``MLPIPE_SUBNET_ID``, when set: that subnet, as it is (it must exist);
2. the default VPC's default subnets in the Availability Zones where the instance type is
   offered (``DescribeInstanceTypeOfferings``; ``t3.small`` is not offered in every AZ, e.g.
   us-east-1e), first by AZ name; the others are kept as alternates, and ``mlpipe.instance``
   launches in the next one when EC2 answers ``InsufficientInstanceCapacity`` or
   ``Unsupported``;
3. otherwise (Organizations / Control Tower sandboxes often have none, and RunInstances
   without a subnet then fails with ``VPCIdNotSpecified``) a small VPC of the stack's own:
   ``10.192.0.0/16`` with one public subnet ``10.192.0.0/24`` (public IPv4 on launch), an
   internet gateway, a route table with ``0.0.0.0/0`` to it, all tagged ``stack=<stack>``
   and ``Name=<stack>-vpc``, its subnet in an AZ where the instance type is offered.
   ``delete`` removes it (after the instance is terminated).

The instance gets a security group of the stack's own (``<stack>-trainer-sg``): no inbound
rule, outbound TCP 443 only (SSM, S3 and PyPI are HTTPS; DNS through the VPC resolver and
the time service at 169.254.169.123 are not filtered by security groups). The VPC's default
group is never used: hardened accounts strip its rules (AWS Config rule
``vpc-default-security-group-closed``), and the SSM agent could not reach its endpoints.
"""
from __future__ import annotations

from .clients import error_code, get_or_none
from .config import MlpipeError
from .report import Report

VPC_CIDR = "10.192.0.0/16"
SUBNET_CIDR = "10.192.0.0/24"


def _filters(**tags) -> list:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]


def offered_zones(stack, instance_type: str | None = None) -> list:
    """The region's Availability Zones where ``instance_type`` (default: the settings') is
    offered, sorted (``DescribeInstanceTypeOfferings``, location type availability-zone)."""
    instance_type = instance_type or stack.settings.instance_type
    zones = set()
    pages = stack.client("ec2").get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [instance_type]}])
    for page in pages:
        zones.update(o["Location"] for o in page.get("InstanceTypeOfferings", []))
    return sorted(zones)


def default_subnets(stack) -> list:
    """The default VPC's default subnets (dicts), first by AZ name; [] without a default VPC."""
    ec2 = stack.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}]).get("Vpcs", [])
    if not vpcs:
        return []
    subnets = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
        {"Name": "default-for-az", "Values": ["true"]},
    ]).get("Subnets", [])
    return sorted(subnets, key=lambda s: (s.get("AvailabilityZone", ""), s["SubnetId"]))


def usable_default_subnets(stack) -> list:
    """The default subnets in AZs where the instance type is offered (first by AZ)."""
    zones = set(offered_zones(stack))
    return [s for s in default_subnets(stack) if s.get("AvailabilityZone") in zones]


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
    subnet = found["Subnets"][0]
    zones = offered_zones(stack)
    if subnet.get("AvailabilityZone") not in zones:
        raise MlpipeError(f"MLPIPE_SUBNET_ID={subnet_id} is in {subnet.get('AvailabilityZone')}, where "
                          f"{stack.settings.instance_type} is not offered (offered in: "
                          f"{', '.join(zones) or 'no AZ of ' + stack.settings.region}): choose a subnet in one of those")
    return Report("found", "subnet", subnet_id, None,
                  {"subnet_id": subnet_id, "vpc_id": subnet["VpcId"], "source": "MLPIPE_SUBNET_ID",
                   "zone": subnet.get("AvailabilityZone"), "alternates": []})


def ensure(stack) -> list:
    """The subnet the instance goes into; the last report's details name it: ``subnet_id``,
    ``vpc_id``, ``zone`` and ``alternates`` (subnets in other offered AZs, for a retry)."""
    if stack.settings.subnet_id:
        return [_chosen_subnet(stack, stack.settings.subnet_id)]
    if default_subnets(stack):
        usable = usable_default_subnets(stack)
        if not usable:
            raise MlpipeError(f"{stack.settings.instance_type} is offered in none of the default VPC's AZs "
                              f"in {stack.settings.region}: set MLPIPE_INSTANCE_TYPE to a type offered there "
                              "(`aws ec2 describe-instance-type-offerings --location-type availability-zone`)")
        first = usable[0]
        return [Report("found", "subnet", first["SubnetId"], None,
                       {"subnet_id": first["SubnetId"], "vpc_id": first["VpcId"], "source": "default VPC",
                        "zone": first.get("AvailabilityZone"),
                        "alternates": [s["SubnetId"] for s in usable[1:]]})]
    return _ensure_own_vpc(stack)


def _group_filters(stack, vpc_id: str) -> list:
    return [{"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [stack.names.security_group]}]


HTTPS_OUT = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "HTTPS: SSM, S3, PyPI"}]}


def _rule_key(rule: dict) -> tuple:
    return (rule.get("IpProtocol"), rule.get("FromPort"), rule.get("ToPort"),
            tuple(sorted(r.get("CidrIp", "") for r in rule.get("IpRanges", []))),
            tuple(sorted(r.get("CidrIpv6", "") for r in rule.get("Ipv6Ranges", []))),
            tuple(sorted(g.get("GroupId", "") for g in rule.get("UserIdGroupPairs", []))))


def _strip(rule: dict) -> dict:
    keep = ("IpProtocol", "FromPort", "ToPort", "IpRanges", "Ipv6Ranges", "UserIdGroupPairs", "PrefixListIds")
    return {k: v for k, v in rule.items() if k in keep and v not in (None, [])}


def ensure_security_group(stack, vpc_id: str) -> Report:
    """The instance's security group: no inbound rule, outbound TCP 443 to anywhere only
    (the default all-traffic egress rule a new group gets is revoked)."""
    ec2, names = stack.client("ec2"), stack.names
    found = ec2.describe_security_groups(Filters=_group_filters(stack, vpc_id)).get("SecurityGroups", [])
    changes = []
    if found:
        group = found[0]
        action = "found"
    else:
        gid = ec2.create_security_group(
            GroupName=names.security_group, VpcId=vpc_id,
            Description=f"{names.stack} trainer: outbound HTTPS only, nothing inbound (mlpipe)",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": names.tag_list(Name=names.security_group)}],
        )["GroupId"]
        group = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
        action = "created"
    gid = group["GroupId"]
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[_strip(r) for r in group["IpPermissions"]])
        changes.append("inbound rules removed")
    extra = [r for r in group.get("IpPermissionsEgress", []) if _rule_key(r) != _rule_key(HTTPS_OUT)]
    if extra:
        ec2.revoke_security_group_egress(GroupId=gid, IpPermissions=[_strip(r) for r in extra])
        changes.append("egress other than 443 removed")
    if not any(_rule_key(r) == _rule_key(HTTPS_OUT) for r in group.get("IpPermissionsEgress", [])):
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[HTTPS_OUT])
        changes.append("egress 443")
    if action == "found" and changes:
        action = "updated"
    return Report(action, "security group", names.security_group, None,
                  {"group_id": gid, "vpc_id": vpc_id, "changes": [] if action == "created" else changes})


def find_security_groups(stack) -> list:
    """The stack's security groups (by name and tag, in any VPC)."""
    return stack.client("ec2").describe_security_groups(Filters=[
        {"Name": "group-name", "Values": [stack.names.security_group]},
        *_filters(stack=stack.names.stack)]).get("SecurityGroups", [])


def _ensure_own_vpc(stack) -> list:
    """The stack's own VPC, one function per resource (``mlpipe.planner`` runs them as steps):
    the subnet's report last (``ensure``'s callers read the subnet id from it)."""
    vpc = ensure_vpc(stack)
    vpc_id = vpc.details["vpc_id"]
    igw = ensure_internet_gateway(stack, vpc_id)
    subnet = ensure_own_subnet(stack, vpc_id)
    table = ensure_route_table(stack, vpc_id, igw.name, subnet.name)
    return [vpc, igw, table, subnet]


def own_vpc_has(stack, vpc_id: str, kind: str) -> bool:
    """Whether the stack's own VPC already has its ``internet gateway``, ``subnet`` or ``route table``."""
    ec2 = stack.client("ec2")
    if kind == "internet gateway":
        return bool(ec2.describe_internet_gateways(Filters=[
            {"Name": "attachment.vpc-id", "Values": [vpc_id]}]).get("InternetGateways"))
    if kind == "subnet":
        return _own_subnet(stack, vpc_id) is not None
    return bool(ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, *_filters(stack=stack.names.stack)]).get("RouteTables"))


def ensure_vpc(stack) -> Report:
    """The VPC ``S-vpc`` (DNS support and host names on)."""
    ec2, names = stack.client("ec2"), stack.names
    vpcs = find_vpcs(stack)
    if vpcs:
        return Report("found", "vpc", names.vpc_name, None, {"vpc_id": vpcs[0]["VpcId"]})
    stack.say("  no default VPC in this account: creating the stack's own (one public subnet)")
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=[
        {"ResourceType": "vpc", "Tags": names.tag_list(Name=names.vpc_name)}])["Vpc"]["VpcId"]
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    return Report("created", "vpc", names.vpc_name, None, {"vpc_id": vpc_id})


def ensure_internet_gateway(stack, vpc_id: str) -> Report:
    """An internet gateway attached to the VPC (the report's name is its id)."""
    ec2, names = stack.client("ec2"), stack.names
    igws = ec2.describe_internet_gateways(Filters=[
        {"Name": "attachment.vpc-id", "Values": [vpc_id]}]).get("InternetGateways", [])
    if igws:
        return Report("found", "internet gateway", igws[0]["InternetGatewayId"])
    igw_id = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": names.tag_list(Name=names.vpc_name)}]
    )["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    return Report("created", "internet gateway", igw_id)


def ensure_own_subnet(stack, vpc_id: str) -> Report:
    """The VPC's public subnet, in the first AZ that offers the instance type."""
    ec2, names = stack.client("ec2"), stack.names
    subnet_id = _own_subnet(stack, vpc_id)
    details = {"vpc_id": vpc_id, "source": "own VPC", "alternates": []}
    if subnet_id:
        return Report("found", "subnet", subnet_id, None, {"subnet_id": subnet_id, **details})
    zones = offered_zones(stack)
    if not zones:
        raise MlpipeError(f"{stack.settings.instance_type} is offered in no AZ of {stack.settings.region}: "
                          "set MLPIPE_INSTANCE_TYPE to a type offered there")
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=SUBNET_CIDR, AvailabilityZone=zones[0],
                                  TagSpecifications=[{"ResourceType": "subnet",
                                                      "Tags": names.tag_list(Name=names.vpc_name)}]
                                  )["Subnet"]["SubnetId"]
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    return Report("created", "subnet", subnet_id, None, {"subnet_id": subnet_id, **details})


def ensure_route_table(stack, vpc_id: str, igw_id: str, subnet_id: str) -> Report:
    """The stack's route table: 0.0.0.0/0 to the internet gateway, associated with the subnet."""
    ec2, names = stack.client("ec2"), stack.names
    tables = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, *_filters(stack=names.stack)]).get("RouteTables", [])
    if tables:
        table = tables[0]
        rt_id = table["RouteTableId"]
        action = "found"
    else:
        rt_id = ec2.create_route_table(VpcId=vpc_id, TagSpecifications=[
            {"ResourceType": "route-table", "Tags": names.tag_list(Name=names.vpc_name)}])["RouteTable"]["RouteTableId"]
        table = {"Routes": [], "Associations": []}
        action = "created"
    if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId") == igw_id
               for r in table.get("Routes", [])):
        ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
        action = "created" if action == "created" else "updated"
    if not any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
        ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnet_id)
        action = "created" if action == "created" else "updated"
    return Report(action, "route table", rt_id, None, {"route": "0.0.0.0/0 -> " + igw_id})


def leftovers(stack) -> list:
    """``"kind id"`` of every network piece of the stack that exists."""
    ec2 = stack.client("ec2")
    left = [f"security group {g['GroupId']} ({g['GroupName']})" for g in find_security_groups(stack)]
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
    """Remove the stack's security group, and its own VPC with its subnet, route table and
    internet gateway (the instance is terminated first)."""
    ec2, names = stack.client("ec2"), stack.names
    reports = []
    for group in find_security_groups(stack):  # the instance is terminated by now
        ec2.delete_security_group(GroupId=group["GroupId"])
        reports.append(Report("deleted", "security group", names.security_group, None, {"group_id": group["GroupId"]}))
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
