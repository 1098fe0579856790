"""IAM in the local cloud (enforce, the default), tried with plain boto3 as an AWS user would:
functions run as their role, the role's policies decide, denials look like AWS's."""
import json
import time
import urllib.request
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import LAMBDA_TRUST, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ACCOUNT = "123456789012"

# A function that makes one AWS call (given in the event) with its own credentials and
# returns the answer or the error, exactly as botocore saw it.
CALLER = """
import boto3, json, os
from botocore.exceptions import ClientError
def handler(event, context):
    client = boto3.client(event["service"])
    try:
        out = getattr(client, event["op"])(**event.get("args", {}))
        out.pop("ResponseMetadata", None)
        if "Body" in out:
            out["Body"] = out["Body"].read().decode()
        if "Payload" in out:
            out["Payload"] = out["Payload"].read().decode()
        out = json.loads(json.dumps(out, default=str))
        return {"ok": True, "out": out, "key": os.environ["AWS_ACCESS_KEY_ID"]}
    except ClientError as exc:
        return {"ok": False, "code": exc.response["Error"]["Code"],
                "message": exc.response["Error"].get("Message", ""),
                "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
"""


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    assert local_cloud.iam.mode == "enforce"
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("lambda", "iam", "s3", "ec2", "sts", "events",
                                               "apigateway", "logs")}


def make_role(aws, statements, managed=()):
    name = f"role-{uuid.uuid4().hex[:8]}"
    arn = aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    if statements:
        aws["iam"].put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    for m in managed:
        aws["iam"].attach_role_policy(RoleName=name, PolicyArn=m)
    return name, arn


def deploy(aws, role_arn, code=CALLER):
    name = f"fn-{uuid.uuid4().hex[:8]}"
    aws["lambda"].create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                                  Handler="handler.handler", Timeout=20,
                                  Code={"ZipFile": zip_bytes({"handler.py": code})})
    return name


def call(aws, fn, service, op, **args):
    resp = aws["lambda"].invoke(FunctionName=fn, Payload=json.dumps(
        {"service": service, "op": op, "args": args}).encode())
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, out
    return out


def report(local_cloud):  # noqa: F811
    from localcloud.iam.cli import fetch_report
    return fetch_report(local_cloud.endpoint_url)


@pytest.fixture
def bucket(aws):
    name = f"iam-{uuid.uuid4().hex[:10]}"
    aws["s3"].create_bucket(Bucket=name)
    aws["s3"].put_object(Bucket=name, Key="data/a.csv", Body=b"a,b\n1,2\n")
    return name


def test_function_runs_as_its_role(aws):
    role, role_arn = make_role(aws, [])
    fn = deploy(aws, role_arn)
    out = call(aws, fn, "sts", "get_caller_identity")
    assert out["ok"], out
    assert out["out"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{fn}"
    assert out["out"]["Account"] == ACCOUNT
    assert out["key"].startswith("ASIA")
    # warm invokes keep the same session (the environment's own)
    assert call(aws, fn, "sts", "get_caller_identity")["key"] == out["key"]


SLOW_CALLER = CALLER.replace("def handler(event, context):",
                             "def handler(event, context):\n    import time; time.sleep(1.5)")


def test_each_execution_environment_has_credentials_of_its_own(aws):
    """Two invokes at once run in two environments; on AWS each environment gets its own
    session of the execution role (LocalStack's AWS-validated
    test_lambda_different_iam_keys_environment)."""
    from concurrent.futures import ThreadPoolExecutor

    role, role_arn = make_role(aws, [])
    fn = deploy(aws, role_arn, code=SLOW_CALLER)
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: call(aws, fn, "sts", "get_caller_identity"), range(2)))
    assert all(o["ok"] and o["out"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{fn}"
               for o in outs), outs
    assert outs[0]["key"] != outs[1]["key"]


def test_missing_action_is_denied_as_s3_denies_and_changes_nothing(aws, bucket, local_cloud):  # noqa: F811
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "s3:GetObject",
                                   "Resource": f"arn:aws:s3:::{bucket}/data/*"}])
    fn = deploy(aws, role_arn)
    ok = call(aws, fn, "s3", "get_object", Bucket=bucket, Key="data/a.csv")
    assert ok["ok"] and ok["out"]["Body"] == "a,b\n1,2\n"
    put = call(aws, fn, "s3", "put_object", Bucket=bucket, Key="data/b.csv", Body="x")
    assert not put["ok"]
    assert put["status"] == 403 and put["code"] == "AccessDenied"
    assert "is not authorized to perform: s3:PutObject on resource: " \
           f'"arn:aws:s3:::{bucket}/data/b.csv" because no identity-based policy allows ' \
           "the s3:PutObject action" in put["message"]
    assert f"assumed-role/" in put["message"]
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["data/a.csv"]  # nothing changed
    # a key outside the granted prefix is denied too (resource-level, not action-level)
    other = call(aws, fn, "s3", "get_object", Bucket=bucket, Key="secret/x")
    assert not other["ok"] and other["code"] == "AccessDenied"
    entries = [e for e in report(local_cloud)["denials"] if e["resource"] == f"arn:aws:s3:::{bucket}/data/b.csv"]
    assert entries and entries[0]["action"] == "s3:PutObject" and entries[0]["mode"] == "enforce"


def test_ec2_denial_is_unauthorized_operation_with_the_instance_arn(aws):
    inst = aws["ec2"].run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                    InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    aws["ec2"].stop_instances(InstanceIds=[inst])
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "ec2:DescribeInstances",
                                   "Resource": "*"}])
    fn = deploy(aws, role_arn)
    out = call(aws, fn, "ec2", "start_instances", InstanceIds=[inst])
    assert not out["ok"] and out["code"] == "UnauthorizedOperation" and out["status"] == 403
    assert (f"is not authorized to perform: ec2:StartInstances on resource: "
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{inst} because no identity-based policy "
            "allows the ec2:StartInstances action") in out["message"]
    state = aws["ec2"].describe_instances(InstanceIds=[inst])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("stopped", "stopping")
    assert call(aws, fn, "ec2", "describe_instances", InstanceIds=[inst])["ok"]


def test_allowed_call_succeeds_and_wildcards_notaction_conditions_apply(aws, bucket):
    _, role_arn = make_role(aws, [
        {"Effect": "Allow", "Action": "s3:List*", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["data/*"]}}},
        {"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": f"arn:aws:s3:::{bucket}/*"},
    ])
    fn = deploy(aws, role_arn)
    assert call(aws, fn, "s3", "list_objects_v2", Bucket=bucket, Prefix="data/")["ok"]
    assert call(aws, fn, "s3", "list_objects_v2", Bucket=bucket, Prefix="other/")["code"] == "AccessDenied"
    assert call(aws, fn, "s3", "put_object", Bucket=bucket, Key="x/y", Body="1")["ok"]
    assert call(aws, fn, "s3", "delete_object", Bucket=bucket, Key="x/y")["code"] == "AccessDenied"


def test_bucket_policy_deny_wins_over_an_identity_allow(aws, bucket):
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    fn = deploy(aws, role_arn)
    out = call(aws, fn, "s3", "list_objects_v2", Bucket=bucket)
    assert out["ok"], out
    aws["s3"].put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "NoReads", "Effect": "Deny", "Principal": {"AWS": role_arn},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/data/*"}]}))
    out = call(aws, fn, "s3", "get_object", Bucket=bucket, Key="data/a.csv")
    assert not out["ok"] and out["code"] == "AccessDenied"
    assert "with an explicit deny in a resource-based policy" in out["message"]


def test_aws_managed_policies_exist_and_are_enforced(aws):
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    got = aws["iam"].get_policy(PolicyArn=basic)["Policy"]
    assert got["Arn"] == basic
    _, role_arn = make_role(aws, [], managed=[basic,
                                              "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"])
    fn = deploy(aws, role_arn)
    assert call(aws, fn, "ec2", "describe_instances")["ok"]
    assert call(aws, fn, "logs", "create_log_group", logGroupName=f"/x/{fn}")["ok"]
    assert call(aws, fn, "ec2", "run_instances", ImageId="ami-12c6146b", MinCount=1,
                MaxCount=1)["code"] == "UnauthorizedOperation"


def test_lambda_invoke_by_a_role_is_checked_on_the_function_arn(aws):
    target = deploy(aws, make_role(aws, [])[1], code="def handler(e, c):\n    return 7\n")
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                   "Resource": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{target}"}])
    fn = deploy(aws, role_arn)
    ok = call(aws, fn, "lambda", "invoke", FunctionName=target)
    assert ok["ok"] and ok["out"]["StatusCode"] == 200
    other = deploy(aws, make_role(aws, [])[1], code="def handler(e, c):\n    return 8\n")
    out = call(aws, fn, "lambda", "invoke", FunctionName=other)
    assert out["code"] == "AccessDeniedException" and out["status"] == 403
    assert f"lambda:InvokeFunction on resource: arn:aws:lambda:{REGION}:{ACCOUNT}:function:{other}" in out["message"]


def test_s3_refuses_a_notification_to_a_function_without_permission(aws, bucket):
    fn = deploy(aws, make_role(aws, [])[1], code="def handler(e, c):\n    return 1\n")
    fn_arn = aws["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": fn_arn,
                                                "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as exc:
        aws["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    err = exc.value.response["Error"]
    assert err["Code"] == "InvalidArgument"
    assert err["Message"] == "Unable to validate the following destination configurations"
    assert aws["s3"].get_bucket_notification_configuration(Bucket=bucket).get(
        "LambdaFunctionConfigurations") is None
    # a permission for another bucket does not count (SourceArn)
    aws["lambda"].add_permission(FunctionName=fn, StatementId="other", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::not-this-one")
    with pytest.raises(ClientError):
        aws["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    aws["lambda"].add_permission(FunctionName=fn, StatementId="s3", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}",
                                 SourceAccount=ACCOUNT)
    aws["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)


@pytest.mark.parametrize("kind", ["Queue", "Topic", "LambdaFunction"])
def test_a_malformed_notification_arn_is_not_well_formed_before_it_is_validated(aws, bucket, kind):
    """S3 checks an ARN's form before it validates the destination: a malformed ARN (here
    one naming no service) is "The ARN is not well formed", not "Unable to validate"."""
    bad = "arn:aws:{}:us-east-1:012345678910:lksajdfkldskfj"
    config = {f"{kind}Configurations": [{f"{kind}Arn": bad, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as exc:
        aws["s3"].put_bucket_notification_configuration(Bucket=bucket,
                                                       NotificationConfiguration=config)
    err = exc.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidArgument", "The ARN is not well formed")
    # a well-formed ARN of a function that does not exist is still refused by validation
    missing = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:no-such-fn-{uuid.uuid4().hex[:6]}"
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing,
                                                "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as exc:
        aws["s3"].put_bucket_notification_configuration(Bucket=bucket,
                                                       NotificationConfiguration=config)
    assert exc.value.response["Error"]["Message"] == \
        "Unable to validate the following destination configurations"


def test_api_gateway_cannot_invoke_a_function_without_permission(aws, local_cloud):  # noqa: F811
    fn = deploy(aws, make_role(aws, [])[1],
                code="def handler(e, c):\n    return {'statusCode': 200, 'body': 'hi'}\n")
    fn_arn = aws["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    apigw = aws["apigateway"]
    api = apigw.create_rest_api(name=f"api-{fn}")["id"]
    root = [r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="hello")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{fn_arn}/invocations")
    apigw.create_deployment(restApiId=api, stageName="prod")
    url = f"{local_cloud.endpoint_url}/restapis/{api}/prod/_user_request_/hello"
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url)
    assert exc.value.code == 500
    assert json.loads(exc.value.read()) == {"message": "Internal server error"}
    # a permission for another API does not count; one for this API does
    aws["lambda"].add_permission(FunctionName=fn, StatementId="other", Action="lambda:InvokeFunction",
                                 Principal="apigateway.amazonaws.com",
                                 SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:other/*/GET/hello")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url)
    aws["lambda"].add_permission(FunctionName=fn, StatementId="api", Action="lambda:InvokeFunction",
                                 Principal="apigateway.amazonaws.com",
                                 SourceArn=f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api}/*/GET/hello")
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"hi"
    entries = [e for e in report(local_cloud)["denials"] if e.get("service_principal") == "apigateway.amazonaws.com"
               and e["resource"] == fn_arn]
    assert entries and entries[0]["source_arn"].endswith(f":{api}/prod/GET/hello")


def test_eventbridge_cannot_invoke_a_function_without_permission(aws, local_cloud):  # noqa: F811
    fn = deploy(aws, make_role(aws, [])[1], code="def handler(e, c):\n    print('fired')\n")
    fn_arn = aws["lambda"].get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    rule_arn = aws["events"].put_rule(Name=f"r-{fn}", ScheduleExpression="rate(1 minute)")["RuleArn"]
    aws["events"].put_targets(Rule=f"r-{fn}", Targets=[{"Id": "1", "Arn": fn_arn}])
    from localcloud.iam import InvokeDenied
    with pytest.raises(InvokeDenied):
        local_cloud.invoke_function(fn_arn, b"{}", invocation_type="Event", source="events",
                                    source_arn=rule_arn)
    aws["lambda"].add_permission(FunctionName=fn, StatementId="ev", Action="lambda:InvokeFunction",
                                 Principal="events.amazonaws.com", SourceArn=rule_arn)
    res = local_cloud.invoke_function(fn_arn, b"{}", invocation_type="Event", source="events",
                                      source_arn=rule_arn)
    assert res.status_code == 202


def test_audit_mode_lets_through_and_records(aws, bucket, local_cloud):  # noqa: F811
    _, role_arn = make_role(aws, [])
    fn = deploy(aws, role_arn)
    local_cloud.iam.mode = "audit"
    try:
        out = call(aws, fn, "s3", "put_object", Bucket=bucket, Key="audit/x", Body="1")
    finally:
        local_cloud.iam.mode = "enforce"
    assert out["ok"], out
    assert aws["s3"].get_object(Bucket=bucket, Key="audit/x")["Body"].read() == b"1"
    doc = report(local_cloud)
    hits = [e for e in doc["denials"] if e["resource"] == f"arn:aws:s3:::{bucket}/audit/x"]
    assert hits and hits[0]["mode"] == "audit" and hits[0]["outcome"] == "allowed (audit)"
    assert hits[0]["principal"].endswith(f"/{fn}") and hits[0]["action"] == "s3:PutObject"
    props = [p for p in doc["proposals"] if p["kind"] == "identity-policy" and p["role"] == role_arn]
    assert props and {"Effect": "Allow", "Action": "s3:PutObject",
                      "Resource": f"arn:aws:s3:::{bucket}/audit/x"} in props[0]["policy"]["Statement"]


def test_iam_report_cli_lists_denials_and_fixes(aws, local_cloud, capsys):  # noqa: F811
    from localcloud.cli import main
    _, role_arn = make_role(aws, [])
    fn = deploy(aws, role_arn)
    assert call(aws, fn, "ec2", "describe_instances")["code"] == "UnauthorizedOperation"
    rc = main(["iam-report", "--port", str(local_cloud.port)])
    text = capsys.readouterr().out
    assert rc == 3
    assert "ec2:DescribeInstances" in text and f"role {role_arn} lacks:" in text
    assert main(["iam-report", "--port", str(local_cloud.port), "--json", "--clear"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert any(e["action"] == "ec2:DescribeInstances" for e in doc["denials"])
    assert main(["iam-report", "--port", str(local_cloud.port)]) == 0
    assert "No denials recorded" in capsys.readouterr().out


def test_operator_key_stays_an_administrator(aws):
    ident = aws["sts"].get_caller_identity()
    assert ident["Arn"].endswith(":user/moto")
    aws["ec2"].describe_instances()
    aws["iam"].list_roles()


WHO_AM_I = ("python3 -c \"import boto3, botocore.exceptions as e\n"
            "try:\n    print('ARN=' + boto3.client('sts').get_caller_identity()['Arn'])\n"
            "except e.NoCredentialsError:\n    print('ARN=none')\"")


def run_on(aws, iid, command):
    ssm = boto3.client("ssm", endpoint_url=aws["ec2"].meta.endpoint_url, region_name=REGION)
    deadline = time.monotonic() + 30
    while True:  # SSM answers InvalidInstanceId until the instance's agent has registered
        try:
            cid = ssm.send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                   Parameters={"commands": [command]})["Command"]["CommandId"]
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidInstanceId" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    while time.monotonic() < deadline:
        try:
            inv = ssm.get_command_invocation(CommandId=cid, InstanceId=iid)
        except ClientError:
            inv = {"Status": "Pending"}
        if inv["Status"] in ("Success", "Failed", "TimedOut", "Cancelled"):
            return inv
        time.sleep(0.1)
    raise AssertionError(f"command {cid} did not finish")


def wait_running(aws, iid):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        inst = aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        if inst["State"]["Name"] == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"{iid} never ran")


def test_instance_runs_as_its_profile_role_and_without_one_has_no_credentials(aws, local_cloud):  # noqa: F811
    name = f"prof-{uuid.uuid4().hex[:8]}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    aws["iam"].create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    aws["iam"].attach_role_policy(RoleName=name,
                                  PolicyArn="arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    aws["iam"].create_instance_profile(InstanceProfileName=name)
    aws["iam"].add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    with_profile = aws["ec2"].run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                            IamInstanceProfile={"Name": name})["Instances"][0]["InstanceId"]
    bare = aws["ec2"].run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        wait_running(aws, with_profile)
        wait_running(aws, bare)
        out = run_on(aws, with_profile, WHO_AM_I)
        assert f"ARN=arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{with_profile}" in out["StandardOutputContent"], out
        # its role (SSM's managed policy only) may not read S3
        denied = run_on(aws, with_profile, "python3 -c \"import boto3; boto3.client('s3').list_buckets()\"")
        assert denied["Status"] == "Failed" and "AccessDenied" in denied["StandardErrorContent"]
        # no profile, no credentials: the host's environment carries none (and boto3 there
        # finds none: no shared files, no metadata service)
        from moto.ec2.models import ec2_backends
        env = local_cloud.ec2_hosts.env_for(ec2_backends[ACCOUNT][REGION].get_instance(bare))
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    finally:
        aws["ec2"].terminate_instances(InstanceIds=[with_profile, bare])


def test_keys_of_iam_users_and_assumed_roles_are_held_to_their_policies(aws, local_cloud):  # noqa: F811
    user = f"u-{uuid.uuid4().hex[:8]}"
    aws["iam"].create_user(UserName=user)
    key = aws["iam"].create_access_key(UserName=user)["AccessKey"]
    as_user = boto3.client("ec2", endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                           aws_access_key_id=key["AccessKeyId"],
                           aws_secret_access_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        as_user.describe_instances()
    assert exc.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert f":user/{user} is not authorized to perform: ec2:DescribeInstances" in \
        exc.value.response["Error"]["Message"]
    aws["iam"].put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
    as_user.describe_instances()
    # a session the operator assumed is its role's
    name, role_arn = make_role(aws, [])
    creds = aws["sts"].assume_role(RoleArn=role_arn, RoleSessionName="me")["Credentials"]
    as_role = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                           aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
    with pytest.raises(ClientError) as exc:
        as_role.list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    assert f"assumed-role/{name}/me is not authorized to perform: s3:ListAllMyBuckets" in \
        exc.value.response["Error"]["Message"]


def test_a_tls_only_bucket_policy_refuses_nothing_the_sdk_sends(aws, bucket):
    # On AWS the SDK speaks HTTPS; here the cloud is plain HTTP on loopback and counts as TLS.
    # (moto itself applies a bucket policy to object GETs and PUTs without that context, so
    # this is shown on ListBucket, which only this cloud's IAM checks.)
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "s3:ListBucket",
                                   "Resource": f"arn:aws:s3:::{bucket}"}])
    aws["s3"].put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    fn = deploy(aws, role_arn)
    out = call(aws, fn, "s3", "list_objects_v2", Bucket=bucket)
    assert out["ok"], out


def test_resource_tag_conditions_on_ec2_instances(aws):
    ids = [aws["ec2"].run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "stack", "Value": v}]}])["Instances"][0]["InstanceId"]
        for v in ("mine", "theirs")]
    aws["ec2"].stop_instances(InstanceIds=ids)
    _, role_arn = make_role(aws, [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*",
                                   "Condition": {"StringEquals": {"aws:ResourceTag/stack": "mine"}}}])
    fn = deploy(aws, role_arn)
    time.sleep(0.5)
    assert call(aws, fn, "ec2", "start_instances", InstanceIds=[ids[0]])["ok"]
    out = call(aws, fn, "ec2", "start_instances", InstanceIds=[ids[1]])
    assert out["code"] == "UnauthorizedOperation" and ids[1] in out["message"]
    aws["ec2"].terminate_instances(InstanceIds=ids)
