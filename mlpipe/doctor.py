"""``mlpipe doctor``: check the account the way a first deploy will meet it, creating nothing.

One line per check, with the fix when it fails (``deploy`` runs it first; ``--skip-checks``
bypasses it):

- credentials: who is calling, in which account and region;
- permissions: the caller's own permission for every action deploy and destroy call
  (``mlpipe.permissions``), simulated with ``iam:SimulatePrincipalPolicy``;
- subnet: a subnet (and AZ) where the instance type is offered (``DescribeInstanceTypeOfferings``);
- ssm egress: how the instance reaches SSM's endpoints (public IP and a route to an internet
  gateway, or VPC endpoints for ssm, ssmmessages and ec2messages);
- ebs key: default EBS encryption and its key (a customer-managed key needs a grant);
- lambda quota: the account's concurrency limit (new accounts have 10);
- bucket names: free, or this stack's (bucket names are global);
- stack: resources of this stack already there;
- cost: the estimate per hour and per run.

Every call is a read (Get/Describe/List/Head/Simulate): a test records them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .clients import AWS_ERRORS, CredentialsError, check_credentials, error_code
from .config import PUBLIC_IPV4_HOURLY_USD, MlpipeError

OK, WARN, FAIL = "ok", "warn", "FAIL"
SSM_SERVICES = ("ssm", "ssmmessages", "ec2messages")
NEW_ACCOUNT_CONCURRENCY = 10
TYPICAL_RUN_MINUTES = 10  # start, train, upload, stop: a few minutes on t3.small


@dataclass(frozen=True)
class Check:
    name: str
    status: str          # ok / warn / FAIL
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"[{self.status:<4}] {self.name:<13} {self.message}"
        return text + (f"\n       fix: {self.fix}" if self.fix and self.status != OK else "")


class DoctorFailed(MlpipeError):
    def __init__(self, checks):
        self.checks = checks
        failed = [c.name for c in checks if c.status == FAIL]
        super().__init__(f"mlpipe doctor: {len(failed)} check(s) failed ({', '.join(failed)}); "
                         "fix them, or deploy with --skip-checks")


def _not_implemented(exc, stack=None) -> bool:
    """The target has no such API (moto/the local cloud); never true for an answer of AWS's."""
    if stack is not None and stack.is_local and not error_code(exc) in ("AccessDenied", "AccessDeniedException"):
        return True  # the local cloud answers an API it lacks with 404/500/unparsable bodies
    return isinstance(exc, NotImplementedError) or error_code(exc) in (
        "NotImplemented", "InvalidAction", "UnknownOperationException", "InternalFailure", "500",
        "404")  # an API the target has no route for (AWS itself never answers these with 404)


# ---------------------------------------------------------------------------------- checks

def check_credentials_(stack) -> Check:
    try:
        who = check_credentials(stack.settings)
    except CredentialsError as exc:
        return Check("credentials", FAIL, str(exc), "configure credentials for the target (see the message)")
    return Check("credentials", OK, f"account {who['account']} as {who['arn']}, region {stack.settings.region}"
                 + (" (the local cloud)" if stack.is_local else ""))


def principal_arn(stack, caller_arn: str) -> Optional[str]:
    """The IAM ARN to simulate for the caller: a user's ARN, or the role behind an
    assumed-role session (with its path, from GetRole); None for the root user."""
    if caller_arn.endswith(":root"):
        return None
    if ":assumed-role/" in caller_arn:
        role = caller_arn.split(":assumed-role/", 1)[1].split("/")[0]
        return stack.client("iam").get_role(RoleName=role)["Role"]["Arn"]
    return caller_arn.replace(":sts::", ":iam::", 1)  # an IAM user (moto spells it with sts)


def check_permissions(stack, actions=None) -> Check:
    from .permissions import required_actions

    actions = list(actions or required_actions())
    caller = stack.client("sts").get_caller_identity()["Arn"]
    try:
        arn = principal_arn(stack, caller)
    except AWS_ERRORS as exc:
        return Check("permissions", WARN, f"cannot read the caller's role ({error_code(exc) or exc})",
                     "grant iam:GetRole and iam:SimulatePrincipalPolicy on yourself, or check "
                     "docs/ARCHITECTURE.md's action list by hand")
    if arn is None:
        return Check("permissions", WARN, "you are the account's root user: every action is allowed",
                     "AWS advises against root: use an IAM Identity Center user or a role")
    denied = []
    try:
        iam = stack.client("iam")
        for i in range(0, len(actions), 100):
            res = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=actions[i:i + 100])
            denied += [r["EvalActionName"] for r in res.get("EvaluationResults", [])
                       if r.get("EvalDecision") != "allowed"]
    except (*AWS_ERRORS, NotImplementedError) as exc:
        if _not_implemented(exc, stack):
            return Check("permissions", WARN, f"this target does not answer iam:SimulatePrincipalPolicy; "
                         f"{len(actions)} actions unchecked", "on AWS this check simulates each action")
        return Check("permissions", WARN, f"cannot simulate your policies ({error_code(exc) or exc}); "
                     f"{len(actions)} actions unchecked", "grant yourself iam:SimulatePrincipalPolicy")
    if denied:
        return Check("permissions", FAIL, f"{len(denied)} of {len(actions)} actions denied for {arn}: "
                     + ", ".join(sorted(denied)),
                     "attach a policy allowing them (or ask your administrator); `mlpipe doctor` lists them")
    return Check("permissions", OK, f"all {len(actions)} actions deploy and destroy call are allowed for {arn}")


def _chosen_subnet(stack):
    """(subnet dict or None, why) the deploy would use, without creating anything."""
    from . import network

    ec2 = stack.client("ec2")
    if stack.settings.subnet_id:
        found = ec2.describe_subnets(SubnetIds=[stack.settings.subnet_id]).get("Subnets", [])
        return (found[0] if found else None), "MLPIPE_SUBNET_ID"
    usable = network.usable_default_subnets(stack)
    if usable:
        return usable[0], "default VPC"
    if network.default_subnets(stack):
        return None, "default VPC"
    return None, "own VPC"


def check_subnet(stack) -> Check:
    from . import network

    itype = stack.settings.instance_type
    zones = network.offered_zones(stack)
    if not zones:
        return Check("subnet", FAIL, f"{itype} is offered in no AZ of {stack.settings.region}",
                     "set MLPIPE_INSTANCE_TYPE to a type offered there (e.g. t3.small, t3a.small)")
    try:
        subnet, source = _chosen_subnet(stack)
    except AWS_ERRORS as exc:
        return Check("subnet", FAIL, f"MLPIPE_SUBNET_ID={stack.settings.subnet_id}: {error_code(exc) or exc}",
                     "set MLPIPE_SUBNET_ID to a subnet of this region, or unset it")
    if subnet is None and source == "own VPC":
        return Check("subnet", OK, f"no default VPC: deploy creates the stack's own VPC with a public subnet in "
                     f"{zones[0]} ({itype} offered in {', '.join(zones)})")
    if subnet is None:
        return Check("subnet", FAIL, f"{itype} is offered in none of the default VPC's AZs (offered in "
                     f"{', '.join(zones)})", "set MLPIPE_SUBNET_ID to a subnet in one of those AZs, "
                     "or MLPIPE_INSTANCE_TYPE to a type offered in the default VPC's AZs")
    if subnet.get("AvailabilityZone") not in zones:
        return Check("subnet", FAIL, f"{subnet['SubnetId']} ({source}) is in {subnet.get('AvailabilityZone')}, "
                     f"where {itype} is not offered", f"choose a subnet in {', '.join(zones)}")
    return Check("subnet", OK, f"{subnet['SubnetId']} ({source}) in {subnet['AvailabilityZone']}, "
                 f"where {itype} is offered")


def _routes_to_igw(ec2, subnet: dict) -> bool:
    tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id",
                                                 "Values": [subnet["SubnetId"]]}]).get("RouteTables", [])
    if not tables:  # the VPC's main table applies
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                    {"Name": "association.main", "Values": ["true"]}]
                                           ).get("RouteTables", [])
    return any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and str(r.get("GatewayId", "")).startswith("igw-")
               for t in tables for r in t.get("Routes", []))


def check_ssm_egress(stack) -> Check:
    try:
        subnet, source = _chosen_subnet(stack)
    except AWS_ERRORS:
        subnet, source = None, "?"
    if subnet is None:
        if source == "own VPC":
            return Check("ssm egress", OK, "the stack's own VPC gets a public subnet and a route to an internet gateway")
        return Check("ssm egress", FAIL, "no usable subnet (see the subnet check)", "fix the subnet check first")
    ec2 = stack.client("ec2")
    region = stack.settings.region
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}]
                                           ).get("VpcEndpoints", [])
    have = {e.get("ServiceName", "").rsplit(".", 1)[-1] for e in endpoints
            if e.get("ServiceName", "").startswith(f"com.amazonaws.{region}.")}
    if set(SSM_SERVICES) <= have:
        return Check("ssm egress", OK, f"VPC endpoints for {', '.join(SSM_SERVICES)} in {subnet['VpcId']}")
    public = subnet.get("MapPublicIpOnLaunch")
    route = _routes_to_igw(ec2, subnet)
    if public and route:
        return Check("ssm egress", OK, f"{subnet['SubnetId']} gives a public IPv4 and routes 0.0.0.0/0 to an "
                     "internet gateway (HTTPS out through the stack's security group)")
    if stack.is_local and subnet.get("DefaultForAz"):
        return Check("ssm egress", WARN, f"the local cloud's default VPC has no internet gateway (AWS's has one); "
                     "its SSM reaches the instance without one", "on AWS this check reads the subnet's route")
    missing = [m for m, ok in (("a public IPv4 on launch", public), ("a route 0.0.0.0/0 to an internet gateway",
                                                                     route)) if not ok]
    return Check("ssm egress", FAIL, f"{subnet['SubnetId']} has no {' and no '.join(missing)}, and the VPC has no "
                 f"endpoints for {', '.join(sorted(set(SSM_SERVICES) - have))}: SSM could not reach the instance",
                 "choose a public subnet (MLPIPE_SUBNET_ID), or add interface endpoints for ssm, ssmmessages "
                 "and ec2messages (or a NAT gateway) to that VPC")


def check_ebs_key(stack) -> Check:
    from .iam import ebs_customer_key

    try:
        on = stack.client("ec2").get_ebs_encryption_by_default().get("EbsEncryptionByDefault")
        key = ebs_customer_key(stack) if on else None
    except (*AWS_ERRORS, NotImplementedError) as exc:
        if _not_implemented(exc, stack):
            return Check("ebs key", WARN, "this target does not answer the default EBS key", "on AWS this check reads it")
        return Check("ebs key", FAIL, f"cannot read the default EBS encryption ({error_code(exc) or exc})",
                     "grant yourself ec2:GetEbsEncryptionByDefault, ec2:GetEbsDefaultKmsKeyId, kms:DescribeKey")
    if not on:
        return Check("ebs key", OK, "default EBS encryption is off")
    if key is None:
        return Check("ebs key", OK, "default EBS encryption with the AWS managed key aws/ebs")
    return Check("ebs key", WARN, f"default EBS encryption with the customer-managed key {key}: the roles that "
                 "start the instance get kms:CreateGrant on it",
                 "make sure the key policy lets IAM policies of this account use it (its default policy does)")


def check_lambda_quota(stack) -> Check:
    try:
        limit = stack.client("lambda").get_account_settings().get("AccountLimit", {})
    except (*AWS_ERRORS, NotImplementedError) as exc:
        if _not_implemented(exc, stack):
            return Check("lambda quota", WARN, "this target does not answer GetAccountSettings",
                         "on AWS this check reads the account's concurrency quota")
        return Check("lambda quota", FAIL, f"cannot read the Lambda account settings ({error_code(exc) or exc})",
                     "grant yourself lambda:GetAccountSettings")
    total = int(limit.get("ConcurrentExecutions", 0))
    unreserved = int(limit.get("UnreservedConcurrentExecutions", total))
    if unreserved < 5:
        return Check("lambda quota", FAIL, f"only {unreserved} unreserved concurrent executions: the stack's five "
                     "functions could not all run", "request a higher 'Concurrent executions' quota (Service "
                     "Quotas, Lambda, L-B99A9384), or release reserved concurrency elsewhere")
    if total <= NEW_ACCOUNT_CONCURRENCY:
        return Check("lambda quota", WARN, f"{total} concurrent executions (a new account's quota): a class "
                     "sharing this account will be throttled", "request 'Concurrent executions' 1000 in "
                     "Service Quotas (Lambda, L-B99A9384) before the class")
    return Check("lambda quota", OK, f"{total} concurrent executions ({unreserved} unreserved)")


def check_bucket_names(stack) -> Check:
    s3 = stack.client("s3")
    ours, taken = [], []
    for bucket in stack.names.buckets:
        try:
            s3.head_bucket(Bucket=bucket)
            ours.append(bucket)
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                continue
            if code in ("403", "AccessDenied", "Forbidden"):
                taken.append(bucket)
            else:
                taken.append(f"{bucket} ({code or exc})")
    if taken:
        return Check("bucket names", FAIL, f"taken by another account: {', '.join(taken)} (bucket names are global)",
                     "choose another MLPIPE_STACK (e.g. with your initials and a number)")
    if ours:
        return Check("bucket names", OK, f"{', '.join(ours)} already in this account (deploy reuses them)")
    return Check("bucket names", OK, f"free: {', '.join(stack.names.buckets)}")


def check_stack(stack) -> Check:
    from .teardown import leftovers_of

    left = leftovers_of(stack)
    if left:
        shown = ", ".join(left[:6]) + (f" and {len(left) - 6} more" if len(left) > 6 else "")
        return Check("stack", WARN, f"{len(left)} resources of stack {stack.names.stack} already exist: {shown}",
                     "deploy finds and updates them; run `mlpipe destroy` first for a fresh start")
    return Check("stack", OK, f"nothing of stack {stack.names.stack} exists yet")


def check_cost(stack) -> Check:
    settings = stack.settings
    price = settings.instance_hourly_usd
    if not price:
        return Check("cost", WARN, f"no price known for {settings.instance_type}",
                     "look it up on the EC2 pricing page, or use t3.small")
    hour = price + PUBLIC_IPV4_HOURLY_USD
    run = hour * TYPICAL_RUN_MINUTES / 60
    return Check("cost", OK, f"${hour:.4f}/h while training ({settings.instance_type} on-demand, CPU credits "
                 f"'standard', + public IPv4); ~${run:.4f} per {TYPICAL_RUN_MINUTES}-minute run; stopped: "
                 "its 8 GB volume, ~$0.64/month")


CHECKS: tuple = ("check_credentials_", "check_permissions", "check_subnet", "check_ssm_egress", "check_ebs_key",
                 "check_lambda_quota", "check_bucket_names", "check_stack", "check_cost")


def run_checks(stack, print_: Callable[[str], None] = lambda _l: None) -> list:
    """Every check, in order, each printed as it finishes. Without credentials the rest are not run."""
    out = []
    for name in CHECKS:
        check = globals()[name]
        try:
            result = check(stack)
        except (*AWS_ERRORS, NotImplementedError) as exc:
            name = check.__name__.replace("check_", "").rstrip("_").replace("_", " ")
            result = Check(name, FAIL, f"the check itself failed ({error_code(exc) or exc})",
                           "see the message; run `mlpipe doctor` again")
        out.append(result)
        print_(result.line())
        if name == "check_credentials_" and result.status == FAIL:
            break
    failed = sum(c.status == FAIL for c in out)
    print_(f"doctor: {len(out)} checks, {failed} failed, {sum(c.status == WARN for c in out)} warnings")
    return out


def require(stack, print_: Callable[[str], None] = print) -> list:
    """``run_checks``, raising DoctorFailed when one failed (what deploy runs first)."""
    checks = run_checks(stack, print_)
    if any(c.status == FAIL for c in checks):
        raise DoctorFailed(checks)
    return checks
