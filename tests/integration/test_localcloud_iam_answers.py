"""IAM answers as AWS answers them where moto does not (service-specific credentials, role
fields, the policy simulator, permissions boundaries), tried with plain boto3. Each expected
answer is AWS's (the IAM API reference, or AWS's recorded answers in LocalStack's
test_iam.snapshot.json)."""
import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import session_client

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture(scope="module")
def iam(local_cloud):  # noqa: F811
    return boto3.client("iam", endpoint_url=local_cloud.endpoint_url, region_name=REGION)


@pytest.fixture
def user(iam):
    name = f"u-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    return name


def _error(exc) -> tuple:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


# ---- service-specific credentials ------------------------------------------------------------
def test_service_specific_credential_lifecycle(iam, user):
    account = boto3.client("sts", endpoint_url=iam.meta.endpoint_url,
                           region_name=REGION).get_caller_identity()["Account"]
    made = iam.create_service_specific_credential(
        UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
    cred_id = made["ServiceSpecificCredentialId"]
    assert made["Status"] == "Active" and made["UserName"] == user
    assert made["ServiceUserName"] == f"{user}-at-{account}" and made["ServicePassword"]
    listed = iam.list_service_specific_credentials(
        UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in listed] == [cred_id]
    assert "ServicePassword" not in listed[0]
    assert iam.list_service_specific_credentials(
        UserName=user, ServiceName="cassandra.amazonaws.com")["ServiceSpecificCredentials"] == []
    iam.update_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id,
                                           Status="Inactive")
    reset = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred_id)["ServiceSpecificCredential"]
    assert reset["Status"] == "Inactive" and reset["ServicePassword"] != made["ServicePassword"]
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName=user)
    assert _error(exc) == ("DeleteConflict",
                           "Cannot delete entity, must remove referenced objects first.", 409)
    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    iam.delete_user(UserName=user)


def test_service_specific_credentials_refuse_what_aws_refuses(iam, user):
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="nobody-here",
                                               ServiceName="codecommit.amazonaws.com")
    assert _error(exc) == ("NoSuchEntity", "The user with name nobody-here cannot be found.", 404)
    for service in ("lambda.amazonaws.com", "o3on3n3onosneo"):
        with pytest.raises(ClientError) as exc:
            iam.create_service_specific_credential(UserName=user, ServiceName=service)
        assert _error(exc) == ("NoSuchEntity", f"No such service {service} is supported for "
                               "Service Specific Credentials", 404)
    for _ in range(2):
        cred_id = iam.create_service_specific_credential(
            UserName=user, ServiceName="cassandra.amazonaws.com"
        )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName=user, ServiceName="cassandra.amazonaws.com")
    assert _error(exc)[0] == "LimitExceeded"
    with pytest.raises(ClientError) as exc:
        iam.reset_service_specific_credential(UserName="wrong-user-name",
                                              ServiceSpecificCredentialId=cred_id)
    assert _error(exc) == ("NoSuchEntity", "The user with name wrong-user-name cannot be found.",
                           404)
    with pytest.raises(ClientError) as exc:
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId="satisfiesregexbutstillinvalid")
    assert _error(exc) == ("NoSuchEntity",
                           "No such credential satisfiesregexbutstillinvalid exists", 404)
    with pytest.raises(ClientError) as exc:
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId="totally-wrong-credential-id-with-hyphens")
    assert _error(exc) == ("ValidationError", "1 validation error detected: Value at "
                           "'serviceSpecificCredentialId' failed to satisfy constraint: Member "
                           "must satisfy regular expression pattern: [\\w]+", 400)
    with pytest.raises(ClientError) as exc:
        iam.update_service_specific_credential(ServiceSpecificCredentialId=cred_id,
                                               Status="Invalid")
    assert _error(exc) == ("ValidationError", "1 validation error detected: Value at 'status' "
                           "failed to satisfy constraint: Member must satisfy enum value set", 400)


def test_bedrock_api_keys_carry_an_alias_a_secret_and_an_expiry(iam, user):
    made = iam.create_service_specific_credential(
        UserName=user, ServiceName="bedrock.amazonaws.com",
        CredentialAgeDays=30)["ServiceSpecificCredential"]
    assert made["ServiceCredentialAlias"] and made["ServiceCredentialSecret"]
    assert (made["ExpirationDate"] - made["CreateDate"]).days == 30
    assert "ServicePassword" not in made


# ---- roles ----------------------------------------------------------------------------------
def test_create_role_answers_what_aws_answers(iam):
    name = f"r-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]}
    ))["Role"]
    assert "MaxSessionDuration" not in role and "RoleLastUsed" not in role
    got = iam.get_role(RoleName=name)["Role"]
    assert got["MaxSessionDuration"] == 3600 and got["RoleLastUsed"] == {}


# ---- the policy simulator -------------------------------------------------------------------
def test_simulate_principal_policy_decides_with_the_clouds_evaluator(iam, user):
    doc = json.dumps({"Version": "2012-10-17", "Statement": {
        "Sid": "", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}})
    arn = iam.create_policy(PolicyName=f"p-{uuid.uuid4().hex[:8]}", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.put_user_policy(UserName=user, PolicyName="deny-delete", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]}))
    user_arn = iam.get_user(UserName=user)["User"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=user_arn, ActionNames=["s3:PutObject", "s3:GetObjectVersion",
                                               "s3:DeleteObject", "s3:GetObject"],
        ResourceArns=["arn:aws:s3:::b"])["EvaluationResults"]
    by_action = {r["EvalActionName"]: r for r in results}
    put = by_action["s3:PutObject"]
    assert put["EvalDecision"] == "allowed" and put["EvalResourceName"] == "arn:aws:s3:::b"
    assert put["MatchedStatements"] == [{
        "SourcePolicyId": arn.rsplit("/", 1)[1], "SourcePolicyType": "IAM Policy",
        "StartPosition": {"Line": 1, "Column": 41}, "EndPosition": {"Line": 1, "Column": 113}}]
    assert put["ResourceSpecificResults"][0]["EvalResourceDecision"] == "allowed"
    assert put["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert by_action["s3:GetObjectVersion"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:GetObjectVersion"]["MatchedStatements"] == []
    assert by_action["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
    assert by_action["s3:GetObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:GetObject"]["MissingContextValues"] == ["aws:RequestedRegion"]
    with_region = iam.simulate_principal_policy(
        PolicySourceArn=user_arn, ActionNames=["s3:GetObject"], ContextEntries=[{
            "ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": ["eu-west-1"],
            "ContextKeyType": "string"}])["EvaluationResults"][0]
    assert with_region["EvalDecision"] == "allowed" and with_region["EvalResourceName"] == "*"
    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(PolicySourceArn=user_arn.replace(user, "nobody-x"),
                                      ActionNames=["s3:GetObject"])
    assert _error(exc)[0] == "NoSuchEntity"


def test_simulate_custom_policy_evaluates_the_given_documents(iam):
    doc = '{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", ' \
          '"Action": "sqs:*", "Resource": "*"}\n  ]\n}'
    result = iam.simulate_custom_policy(PolicyInputList=[doc], ActionNames=["sqs:SendMessage"])
    r = result["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"
    assert r["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    assert r["MatchedStatements"][0]["StartPosition"] == {"Line": 4, "Column": 6}


def test_service_specific_credentials_are_listed_in_pages(iam, user):
    for service in ("codecommit.amazonaws.com", "cassandra.amazonaws.com"):
        iam.create_service_specific_credential(UserName=user, ServiceName=service)
    whole = iam.list_service_specific_credentials(UserName=user)
    assert len(whole["ServiceSpecificCredentials"]) == 2 and "IsTruncated" not in whole
    first = iam.list_service_specific_credentials(UserName=user, MaxItems=1)
    assert first["IsTruncated"] is True and len(first["ServiceSpecificCredentials"]) == 1
    rest = iam.list_service_specific_credentials(UserName=user, Marker=first["Marker"])
    assert len(rest["ServiceSpecificCredentials"]) == 1
    assert rest["ServiceSpecificCredentials"] != first["ServiceSpecificCredentials"]


# ---- instance profiles, GetUser ---------------------------------------------------------------
def test_instance_profile_tags_are_listed(iam):
    name = f"ip-{uuid.uuid4().hex[:8]}"
    iam.create_instance_profile(InstanceProfileName=name)
    assert iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"] == []
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "a", "Value": "1"},
                                                             {"Key": "b", "Value": "2"}])
    page = iam.list_instance_profile_tags(InstanceProfileName=name, MaxItems=1)
    assert page["Tags"] == [{"Key": "a", "Value": "1"}] and page["IsTruncated"] is True
    rest = iam.list_instance_profile_tags(InstanceProfileName=name, Marker=page["Marker"])
    assert rest["Tags"] == [{"Key": "b", "Value": "2"}] and rest["IsTruncated"] is False
    with pytest.raises(ClientError) as exc:
        iam.list_instance_profile_tags(InstanceProfileName="no-such-profile")
    assert _error(exc)[0] == "NoSuchEntity"


def test_get_user_without_a_name_needs_user_credentials(iam, local_cloud):  # noqa: F811
    sts = boto3.client("sts", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    account = sts.get_caller_identity()["Account"]
    name = f"r-{uuid.uuid4().hex[:8]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]
    }))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "*"}]}))
    as_role = session_client("iam", local_cloud.endpoint_url,
                             sts.assume_role(RoleArn=arn, RoleSessionName="sess")["Credentials"])
    with pytest.raises(ClientError) as exc:
        as_role.get_user()
    assert _error(exc) == ("ValidationError",
                           "Must specify userName when calling with non-User credentials", 400)


# ---- policies ---------------------------------------------------------------------------------
def test_policies_answer_as_aws_does(iam, user):
    name = f"policy-named-{uuid.uuid4().hex[:8]}"  # >= 20 characters, as a PolicyArn must be
    made = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                                "Resource": "*"}]}))["Policy"]
    assert made["PermissionsBoundaryUsageCount"] == 0
    role = f"r-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    for attach, who in ((iam.attach_role_policy, {"RoleName": role}),
                        (iam.attach_user_policy, {"UserName": user})):
        with pytest.raises(ClientError) as exc:
            attach(PolicyArn=name, **who)
        assert _error(exc) == ("ValidationError", "Invalid ARN:  Could not be parsed!", 400)
        with pytest.raises(ClientError) as exc:
            attach(PolicyArn=made["Arn"] + "123", **who)
        assert _error(exc)[0] == "NoSuchEntity"
    missing = made["Arn"].replace(name, "no-such-policy")
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=missing)
    assert _error(exc) == ("NoSuchEntity", f"Policy {missing} was not found.", 404)


def test_list_roles_keeps_percent_signs_inside_trust_documents(iam):
    quoted = "arn%3Aaws%3Aapigateway%3Aus-east-1%3A%3A%2Frestapis%2Fabc"
    path = f"/{uuid.uuid4().hex[:8]}/"
    iam.create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", Path=path,
                    AssumeRolePolicyDocument=json.dumps({
                        "Version": "2012-10-17", "Statement": [{
                            "Effect": "Allow", "Action": "sts:AssumeRole",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Condition": {"StringEquals": {"aws:SourceArn": quoted}}}]}))
    role = iam.list_roles(PathPrefix=path)["Roles"][0]
    condition = role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceArn": quoted}}


# ---- users' permissions boundaries --------------------------------------------------------------
def test_users_carry_a_permissions_boundary(iam):
    arn = iam.create_policy(PolicyName=f"boundary-{uuid.uuid4().hex[:12]}", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    boundary = {"PermissionsBoundaryArn": arn, "PermissionsBoundaryType": "Policy"}
    first, second = (f"u-{uuid.uuid4().hex[:8]}" for _ in range(2))
    assert iam.create_user(UserName=first, PermissionsBoundary=arn)["User"]["PermissionsBoundary"] \
        == boundary
    assert iam.get_user(UserName=first)["User"]["PermissionsBoundary"] == boundary
    listed = [u for u in iam.list_users()["Users"] if u["UserName"] == first]
    assert "PermissionsBoundary" not in listed[0]
    iam.delete_user_permissions_boundary(UserName=first)
    assert "PermissionsBoundary" not in iam.get_user(UserName=first)["User"]
    assert "PermissionsBoundary" not in iam.create_user(UserName=second)["User"]
    iam.put_user_permissions_boundary(UserName=second, PermissionsBoundary=arn)
    assert iam.get_user(UserName=second)["User"]["PermissionsBoundary"] == boundary
    missing = arn + "-gone"
    with pytest.raises(ClientError) as exc:
        iam.put_user_permissions_boundary(UserName=second, PermissionsBoundary=missing)
    assert _error(exc) == ("NoSuchEntity",
                           f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName=f"u-{uuid.uuid4().hex[:8]}", PermissionsBoundary=missing)
    assert _error(exc)[0] == "NoSuchEntity"
    with pytest.raises(ClientError) as exc:
        iam.put_user_permissions_boundary(UserName="nobody-here", PermissionsBoundary=arn)
    assert _error(exc)[0] == "NoSuchEntity"


def test_service_specific_credentials_survive_a_restart(tmp_path, monkeypatch):
    """Saved with the cloud's state, as its users are: `localcloud down` / `up` keeps them."""
    import os
    import subprocess
    import sys

    from localcloud.core import free_port
    from localcloud.core.operator import for_port

    port = free_port()
    env = {**os.environ, "LOCALCLOUD_HOME": str(tmp_path), "LOCALCLOUD_PORT": str(port)}

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    cli("up", "--detach")
    try:
        monkeypatch.setenv("LOCALCLOUD_HOME", str(tmp_path))  # where the cloud wrote its key
        key = for_port(port)
        iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                           aws_access_key_id=key.access_key_id,
                           aws_secret_access_key=key.secret_access_key, aws_session_token=None)
        iam.create_user(UserName="keeps-creds")
        made = iam.create_service_specific_credential(
            UserName="keeps-creds", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]
        cli("down")
        cli("up", "--detach")
        listed = iam.list_service_specific_credentials(UserName="keeps-creds")
        assert [c["ServiceSpecificCredentialId"] for c in listed["ServiceSpecificCredentials"]] \
            == [made["ServiceSpecificCredentialId"]]
    finally:
        cli("down")
