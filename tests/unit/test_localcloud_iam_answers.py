"""IAM answers the local cloud gives where moto gives none or another: the moto attributes
localcloud/iam/patches.py hooks or writes (tripwires that fail by name when a moto upgrade
moves one), and the pure pieces (statement positions, validation wording)."""
import importlib
import json

import pytest

from localcloud.iam import patches
from localcloud.iam.service_credentials import ServiceCredentials
from localcloud.iam.served import ServiceError
from localcloud.iam.simulate import simulate, statement_spans
from localcloud.validation import rules

HOOK_POINTS = [
    ("moto.iam.models", "IAMBackend", "delete_user"),
    ("moto.iam.models", "IAMBackend", "delete_policy"),
    ("moto.iam.responses", "IamResponse", "create_user"),
]


@pytest.mark.parametrize("module,owner,attr", HOOK_POINTS, ids=[f"{o}.{a}" for _, o, a in HOOK_POINTS])
def test_moto_still_has_each_hook_point(module, owner, attr):
    cls = getattr(importlib.import_module(module), owner, None)
    assert cls is not None, f"localcloud.iam.patches: moto moved {module}.{owner}"
    assert callable(getattr(cls, attr, None)), f"localcloud.iam.patches: moto moved {owner}.{attr}"


def test_moto_still_transforms_response_members_by_path():
    from moto.core.serialize import never_return, url_encode
    from moto.iam.responses import IamResponse

    table = IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER
    assert isinstance(table, dict), "localcloud.iam.patches: moto moved its transformer table"
    assert table.get("CreateRoleResponse.Role.AssumeRolePolicyDocument") is url_encode
    assert callable(never_return)
    merged = patches.response_members(table)
    assert merged[patches.NEW_POLICY_BOUNDARY_COUNT](None) == 0
    assert merged[patches.LIST_ROLES_DOCUMENT] is url_encode
    assert all(merged[k] is never_return for k in patches.CREATE_ROLE_OMITS)


def test_moto_users_still_have_no_boundary_of_their_own():
    """patches.set_user_boundary writes `permissions_boundary` on moto's User, which moto's
    serializer reads as it reads Role.permissions_boundary."""
    from moto.iam.models import Role, User

    assert not hasattr(User, patches.USER_BOUNDARY_ATTRIBUTE), \
        "localcloud.iam.patches: moto's User has a permissions_boundary now; drop the patch"
    assert isinstance(Role.permissions_boundary, property)
    user = User("123456789012", "us-east-1", "u")
    patches.set_user_boundary(user, "arn:aws:iam::123456789012:policy/b")
    assert user.permissions_boundary == {"PermissionsBoundaryType": "Policy",
                                         "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/b"}
    patches.set_user_boundary(user, None)
    assert user.permissions_boundary is None


# ---- the simulator ------------------------------------------------------------------------------
def test_statement_positions_follow_each_brace():
    one = json.dumps({"Version": "2012-10-17", "Statement": {
        "Sid": "", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}})
    assert statement_spans(one) == [(39, 111)]
    many = '{"Statement": [ {"Effect": "Deny"} , "x", {"Effect": "Allow"}], "Version": "2012-10-17"}'
    starts = [many[a] + many[b] for a, b in statement_spans(many)]
    assert starts == ["{}", "{}"] and len(statement_spans(many)) == 2
    assert statement_spans("[]") == []


def test_simulation_decides_each_action():
    allow = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'
    deny = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]}'
    results = simulate([("a", allow), ("d", deny)], ["s3:GetObject", "s3:DeleteObject", "ec2:RunInstances"],
                       ["arn:aws:s3:::b/k", "arn:aws:s3:::b/j"], {})
    decisions = [r["EvalDecision"] for r in results]
    assert decisions == ["allowed", "explicitDeny", "implicitDeny"]
    assert results[0]["EvalResourceName"] == "*" and len(results[0]["ResourceSpecificResults"]) == 2
    assert results[1]["MatchedStatements"][0]["SourcePolicyId"] == "d"
    for bad in ("{not json", "[]", '{"Statement": [1]}'):
        with pytest.raises(ServiceError) as exc:
            simulate([("bad", bad)], ["s3:GetObject"], [], {})
        assert exc.value.code == "MalformedPolicyDocument"


# ---- service-specific credentials -------------------------------------------------------------
def test_two_credentials_per_user_and_service():
    store = ServiceCredentials(lambda account, user: user == "alice")
    for _ in range(2):
        store.create("1", "alice", "codecommit.amazonaws.com", None)
    with pytest.raises(ServiceError) as exc:
        store.create("1", "alice", "codecommit.amazonaws.com", None)
    assert exc.value.code == "LimitExceeded"
    store.create("1", "alice", "cassandra.amazonaws.com", None)  # another service: its own two
    with pytest.raises(ServiceError) as exc:
        store.create("1", "bob", "codecommit.amazonaws.com", None)
    assert (exc.value.code, exc.value.status) == ("NoSuchEntity", 404)
    with pytest.raises(ServiceError):
        store.create("1", "alice", "codecommit.amazonaws.com", 5)  # CredentialAgeDays: API keys only
    dumped = store.dump()
    again = ServiceCredentials(lambda account, user: True)
    again.load(dumped)
    assert len(again.list("1", "alice", None, False)) == 3


# ---- validation wording -----------------------------------------------------------------------
def test_iam_credential_operations_leave_values_out_of_messages():
    errors = ["Value 'a-b' at 'serviceSpecificCredentialId' failed to satisfy constraint: Member "
              "must satisfy regular expression pattern: [\\w]+",
              "Value 'Invalid' at 'status' failed to satisfy constraint: Member must satisfy enum "
              "value set: [Active, Inactive, Expired]"]
    assert rules.iam_unquoted("UpdateServiceSpecificCredential", errors) == [
        "Value at 'serviceSpecificCredentialId' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [\\w]+",
        "Value at 'status' failed to satisfy constraint: Member must satisfy enum value set"]
    assert rules.iam_unquoted("CreateRole", errors) == errors


@pytest.mark.parametrize("arn,refused", [
    ("longpolicynamebutnoarn", True), ("arn:aws:iam::123456789012:policy/p", False),
    ("arn:aws:iam::aws:policy/ReadOnlyAccess", False), ("arn:aws:iam", True)])
def test_attach_policy_needs_an_arn(arn, refused):
    refusal = rules.iam_policy_arn("AttachRolePolicy", arn)
    assert (refusal is not None) == refused
    if refused:
        assert (refusal.code, refusal.message) == ("ValidationError", rules.IAM_ARN_UNPARSABLE)
    assert rules.iam_policy_arn("GetPolicy", arn) is None
