"""`mlpipe doctor` (issue 19): one line per check with its fix; every check made to fail here
and its message shown; it only reads (every recorded call is a Get/Describe/List/Head); the
operator's action list (mlpipe.permissions) covers every call a deploy and destroy make; and
`mlpipe deploy` runs it first (`--skip-checks` bypasses it).

Where moto does not answer an API (SimulatePrincipalPolicy, Lambda GetAccountSettings,
GetEbsDefaultKmsKeyId), the test gives AWS's documented answer in its shape."""
import io
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from mlpipe import calls, cli, clients, deploy, doctor, permissions, teardown
from mlpipe.clients import CredentialsError
from mlpipe.stack import Stack

from test_mlpipe_support import aws, quiet  # noqa: F401  (fixture)

READ_PREFIXES = ("Get", "Describe", "List", "Head", "Simulate")


def aws_default_vpc():
    """Give moto's default VPC what AWS's has: an internet gateway and 0.0.0.0/0 to it in the
    main route table (moto's default VPC has neither, so no instance in it could reach SSM)."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    [main] = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)


def _by_name(checks):
    return {c.name: c for c in checks}


def test_every_check_runs_prints_one_line_and_creates_nothing(aws):
    settings, _ = aws
    aws_default_vpc()
    lines = []
    with calls.record() as rec:
        checks = doctor.run_checks(Stack.load(settings), lines.append)
    assert [c.name for c in checks] == ["credentials", "permissions", "subnet", "ssm egress", "ebs key",
                                        "lambda quota", "bucket names", "stack", "cost"]
    assert not [c for c in checks if c.status == doctor.FAIL], [c.line() for c in checks]
    assert len([l for l in lines if l.startswith("[")]) == 9 and lines[-1].startswith("doctor: 9 checks, 0 failed")
    writes = sorted({c.operation for c in rec if not c.operation.startswith(READ_PREFIXES)})
    assert writes == []
    assert "per 10-minute run" in _by_name(checks)["cost"].message
    assert "routes 0.0.0.0/0 to an internet gateway" in _by_name(checks)["ssm egress"].message


def test_ssm_egress_fails_for_a_default_vpc_without_a_route_out(aws):
    """moto's default VPC as it is: no internet gateway."""
    settings, _ = aws
    c = doctor.check_ssm_egress(Stack.load(settings))
    assert c.status == doctor.FAIL and "a route 0.0.0.0/0 to an internet gateway" in c.message
    assert "VPC endpoints" not in c.message and "interface endpoints" in c.fix


def _fail(code, op, status=403):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


def test_credentials_fail_and_the_rest_is_not_run(aws, monkeypatch):
    settings, _ = aws

    def no_credentials(_s):
        raise CredentialsError("MLPIPE_TARGET=aws but no AWS credentials were found: run `aws configure`")

    monkeypatch.setattr(doctor, "check_credentials", no_credentials)
    checks = doctor.run_checks(Stack.load(settings))
    assert [c.name for c in checks] == ["credentials"] and checks[0].status == doctor.FAIL
    assert "no AWS credentials" in checks[0].line()


def test_permissions_fail_naming_the_denied_actions(aws, monkeypatch):
    settings, _ = aws
    stack = Stack.load(settings)
    iam = stack.client("iam")
    seen = []

    def simulate(PolicySourceArn, ActionNames):
        seen.append(PolicySourceArn)
        return {"EvaluationResults": [{"EvalActionName": a, "EvalDecision": "implicitDeny" if a in (
            "ec2:RunInstances", "iam:PassRole") else "allowed"} for a in ActionNames]}

    monkeypatch.setattr(iam, "simulate_principal_policy", simulate, raising=False)
    c = doctor.check_permissions(stack)
    assert c.status == doctor.FAIL and "ec2:RunInstances, iam:PassRole" in c.message
    assert seen and seen[0].startswith("arn:aws:iam::")
    assert "attach a policy" in c.line()


def test_an_assumed_role_session_is_simulated_as_its_role(aws):
    settings, _ = aws
    stack = Stack.load(settings)
    arn = boto3.client("iam").create_role(RoleName="Admin", Path="/team/", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    assert doctor.principal_arn(stack, "arn:aws:sts::123456789012:assumed-role/Admin/alice") == arn
    assert doctor.principal_arn(stack, "arn:aws:iam::123456789012:root") is None


def test_subnet_fails_where_the_type_is_not_offered(aws):
    settings, _ = aws
    ec2 = boto3.client("ec2", region_name="us-east-1")
    for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]:
        if s["AvailabilityZone"] != "us-east-1e":
            ec2.delete_subnet(SubnetId=s["SubnetId"])
    c = doctor.check_subnet(Stack.load(settings))
    assert c.status == doctor.FAIL and "offered in none of the default VPC's AZs" in c.message
    assert "MLPIPE_SUBNET_ID" in c.fix


def test_ssm_egress_fails_for_a_private_subnet_and_passes_with_endpoints(aws):
    settings, _ = aws
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    stack = Stack.load(settings.with_(subnet_id=sub))
    c = doctor.check_ssm_egress(stack)
    assert c.status == doctor.FAIL
    assert "public IPv4" in c.message and "endpoints for ec2messages, ssm, ssmmessages" in c.message
    for svc in doctor.SSM_SERVICES:
        ec2.create_vpc_endpoint(VpcId=vpc, ServiceName=f"com.amazonaws.us-east-1.{svc}", VpcEndpointType="Interface",
                                SubnetIds=[sub])
    assert doctor.check_ssm_egress(stack).status == doctor.OK


def test_ebs_key_fails_when_it_cannot_be_read_and_warns_for_a_customer_key(aws, monkeypatch):
    settings, _ = aws
    stack = Stack.load(settings)
    ec2 = stack.client("ec2")
    real = ec2.get_ebs_encryption_by_default
    monkeypatch.setattr(ec2, "get_ebs_encryption_by_default",
                        lambda: (_ for _ in ()).throw(_fail("UnauthorizedOperation", "GetEbsEncryptionByDefault")))
    c = doctor.check_ebs_key(stack)
    assert c.status == doctor.FAIL and "UnauthorizedOperation" in c.message
    monkeypatch.setattr(ec2, "get_ebs_encryption_by_default", real)
    ec2.enable_ebs_encryption_by_default()
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]
    monkeypatch.setattr(ec2, "get_ebs_default_kms_key_id", lambda: {"KmsKeyId": key["Arn"]})
    c = doctor.check_ebs_key(stack)
    assert c.status == doctor.WARN and key["Arn"] in c.message and "kms:CreateGrant" in c.message


@pytest.mark.parametrize("limit, status, words", [
    ({"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 3}, doctor.FAIL, "only 3 unreserved"),
    ({"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}, doctor.WARN, "a new account's quota"),
    ({"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}, doctor.OK, "1000 concurrent"),
])
def test_lambda_quota(aws, monkeypatch, limit, status, words):
    settings, _ = aws
    stack = Stack.load(settings)
    monkeypatch.setattr(stack.client("lambda"), "get_account_settings", lambda: {"AccountLimit": limit},
                        raising=False)
    c = doctor.check_lambda_quota(stack)
    assert c.status == status and words in c.message


def test_bucket_names_fail_when_another_account_has_one(aws, monkeypatch):
    settings, names = aws
    stack = Stack.load(settings)
    real = stack.client("s3").head_bucket

    def head_bucket(Bucket):
        if Bucket == names.output_bucket:
            raise _fail("403", "HeadBucket")
        return real(Bucket=Bucket)

    monkeypatch.setattr(stack.client("s3"), "head_bucket", head_bucket)
    c = doctor.check_bucket_names(stack)
    assert c.status == doctor.FAIL and names.output_bucket in c.message and "MLPIPE_STACK" in c.fix


def test_stack_warns_about_what_is_already_there(aws):
    settings, names = aws
    boto3.client("s3").create_bucket(Bucket=names.input_bucket)
    c = doctor.check_stack(Stack.load(settings))
    assert c.status == doctor.WARN and f"s3 bucket {names.input_bucket}" in c.message


def test_cost_warns_for_an_unknown_price(aws):
    settings, names = aws
    c = doctor.check_cost(Stack(settings.with_(instance_type="x9.large"), names))
    assert c.status == doctor.WARN and "x9.large" in c.message


def _deploy_and_destroy(settings, names):
    with calls.record() as rec:
        deploy.deploy(settings, part="glue", progress=quiet)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("python/p.py", "")
        lam = clients.client("lambda", settings)
        arns = [lam.publish_layer_version(LayerName=n, Content={"ZipFile": buf.getvalue()},
                                          CompatibleRuntimes=["python3.12"])["LayerVersionArn"] for n in names.layers]
        deploy.deploy_backend(Stack(settings, names), layer_arns=arns)
        teardown.destroy(settings, progress=quiet)
    return {(c.service, c.operation) for c in rec}


def test_the_action_list_covers_every_call_of_deploy_and_destroy(aws):
    settings, names = aws
    recorded = _deploy_and_destroy(settings, names)
    from test_mlpipe_network import remove_default_vpc
    remove_default_vpc()
    recorded |= _deploy_and_destroy(settings, names)  # the stack's own VPC
    missing = sorted(recorded - set(permissions.operations()) - {("lambda", "PublishLayerVersion")} - set())
    assert missing == [], f"add these to mlpipe.permissions.OPERATIONS: {missing}"
    assert "iam:PassRole" in permissions.required_actions()
    assert permissions.iam_action("apigateway", "CreateDeployment") == "apigateway:POST"
    assert permissions.iam_action("s3", "HeadObject") == "s3:GetObject"


def test_deploy_runs_the_doctor_first_and_skip_checks_bypasses_it(aws, monkeypatch, capsys):
    settings, names = aws
    aws_default_vpc()
    monkeypatch.setenv("MLPIPE_TARGET", "aws")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(doctor, "check_cost", lambda stack: doctor.Check("cost", doctor.FAIL, "made to fail", "x"))
    ran = []
    monkeypatch.setattr(deploy, "deploy", lambda *a, **k: ran.append(1) or [])
    assert cli.main(["deploy"]) == cli.EXIT_ERROR
    err = capsys.readouterr()
    assert "[FAIL] cost" in err.out and "--skip-checks" in err.err and ran == []
    assert cli.main(["deploy", "--skip-checks"]) == 0 and ran == [1]
    assert cli.main(["doctor"]) == cli.EXIT_ERROR


def test_without_a_default_vpc_the_subnet_check_says_deploy_makes_one(aws):
    from test_mlpipe_network import remove_default_vpc
    settings, _ = aws
    remove_default_vpc()
    checks = {c.name: c for c in doctor.run_checks(Stack.load(settings))}
    assert checks["subnet"].status == doctor.OK and "no default VPC: deploy creates" in checks["subnet"].message
    assert checks["ssm egress"].status == doctor.OK
