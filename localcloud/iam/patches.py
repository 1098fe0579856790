"""Where the local cloud's IAM answers as IAM does, not as moto does (each moto patch here;
tests/unit/test_localcloud_iam_patches.py trips by name when moto moves one).

CreateServiceLinkedRole (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceLinkedRole.html):
the role is named as the service names it (service_linked.py: `AWSServiceRoleForAmazonSSM_
AccountDiscovery` for accountdiscovery.ssm.amazonaws.com, where moto answers
`AWSServiceRoleForSSM_Accountdiscovery`), carries the service's managed policy, trusts the
service with `"Action": "sts:AssumeRole"` and `"Principal": {"Service": "<service>"}`, and
refuses a `CustomSuffix` the service does not allow (InvalidInput "Custom suffix is not
allowed for <service>") and a name already taken (InvalidInput "Service role name <name> has
been taken in this account, please try a different suffix.").
DeleteServiceLinkedRole answers a DeletionTaskId `task/aws-service-role/<service>/<name>/<uuid>`.
Hooks: `IAMBackend.create_service_linked_role`, `IAMBackend.delete_service_linked_role`.

Service-specific credentials (service_credentials.py, which moto lacks): DeleteUser refuses a
user who still has one, `DeleteConflict` "Cannot delete entity, must remove referenced objects
first." (AWS's recorded answer, 409). Hook: `IAMBackend.delete_user`.

CreateRole (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html, its
example and AWS's recorded answers): the new role carries no `MaxSessionDuration` and no
`RoleLastUsed` (GetRole answers both); CreatePolicy answers `PermissionsBoundaryUsageCount`
0 (API_Policy.html; moto leaves it out); ListRoles answers each role's
AssumeRolePolicyDocument URL-encoded, as CreateRole and GetRole do (API_Role.html: "URL-encoded
compliant with RFC 3986"; moto sends it raw, so a `%3A` inside the document reached the client
decoded). Patched: moto's
`IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER` (its table of members transformed per operation).

DeletePolicy of a policy that does not exist: `NoSuchEntity` "Policy <arn> was not found."
(AWS's recorded answer; moto words it "... not found"). Hook: `IAMBackend.delete_policy`.

Users' permissions boundaries
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutUserPermissionsBoundary.html,
API_CreateUser.html, API_User.html; moto has none): CreateUser takes `PermissionsBoundary`,
PutUserPermissionsBoundary sets and DeleteUserPermissionsBoundary removes it (served in
answers.py), and CreateUser/GetUser answer `PermissionsBoundary` {PermissionsBoundaryType
`Policy`, PermissionsBoundaryArn} as they do for roles (ListUsers leaves it out, as AWS does).
A policy that does not exist is `NoSuchEntity` "Scope ARN: <arn> does not exist or is not
attachable."; a value that is no policy ARN is moto's role answer, `InvalidParameterValue`.
Written: an attribute `permissions_boundary` on moto's `User` (moto's serializer reads it as it
reads `Role.permissions_boundary`; it is pickled with the user). Hook: `IamResponse.create_user`.
The boundary is recorded and answered; like roles' boundaries it is not yet part of the IAM
check's decision (policy.py).

Errors: IAM and STS answer `<ErrorResponse><Error><Type/><Code/><Message/></Error>...`; moto's
serializer adds a lower-case `<message>` copy (which botocore hands on as an extra `message`
member); `error_middleware` drops it.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable

from ..core.body import rewrite_response
from .service_linked import SERVICE_LINKED_ROLES

POLICY_PREFIX = "arn:aws:iam::aws:policy/"


def trust_policy(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": service}}]})


def create_service_linked_role(original: Callable) -> Callable:
    def create(self: Any, service_name: str, description: str, suffix: str) -> Any:
        from moto.iam.exceptions import InvalidInput

        known = SERVICE_LINKED_ROLES.get(service_name)
        if known is None:
            return original(self, service_name, description, suffix)
        name, policies, suffix_allowed = known
        if suffix and not suffix_allowed:
            raise InvalidInput(f"Custom suffix is not allowed for {service_name}")
        if suffix:
            name = f"{name}_{suffix}"
        if any(role.name == name for role in self.roles.values()):
            raise InvalidInput(f"Service role name {name} has been taken in this account, "
                               "please try a different suffix.")
        role = self.create_role(name, trust_policy(service_name),
                                f"/aws-service-role/{service_name}/",
                                permissions_boundary=None, description=description, tags=[],
                                max_session_duration="3600", linked_service=service_name)
        attachable = {p.arn for p in self.managed_policies.values()}
        for policy in policies:
            arn = POLICY_PREFIX + policy
            if arn in attachable:  # moto's copy of AWS's managed policies lacks a few
                self.attach_role_policy(arn, name)
        return role

    return create


def delete_service_linked_role(original: Callable) -> Callable:
    def delete(self: Any, role_name: str) -> str:
        role = self.get_role(role_name)
        for arn in list(role.managed_policies):
            self.detach_role_policy(arn, role_name)
        path = role.path
        original(self, role_name)
        return f"task{path}{role_name}/{uuid.uuid4()}"

    return delete


def delete_user(credentials: Any) -> Callable[[Callable], Callable]:
    def make(original: Callable) -> Callable:
        def delete(self: Any, user_name: str) -> None:
            from moto.iam.exceptions import DeleteConflictException

            self.get_user(user_name)  # NoSuchEntity first
            if credentials.of_user(self.account_id, user_name):
                raise DeleteConflictException(
                    "Cannot delete entity, must remove referenced objects first.")
            return original(self, user_name)
        return delete
    return make


CREATE_ROLE_OMITS = ("CreateRoleResponse.Role.MaxSessionDuration",
                     "CreateRoleResponse.Role.RoleLastUsed")
NEW_POLICY_BOUNDARY_COUNT = "CreatePolicyResponse.Policy.PermissionsBoundaryUsageCount"


def _none_yet(value: Any) -> Any:
    """A new policy is nobody's permissions boundary yet."""
    return 0 if value is None else value


LIST_ROLES_DOCUMENT = "ListRolesResponse.Roles.Role.AssumeRolePolicyDocument"
LIST_USERS_BOUNDARY = "ListUsersResponse.Users.User.PermissionsBoundary"


def response_members(original: dict) -> dict:
    from moto.core.serialize import never_return, url_encode

    return {**original, **{key: never_return for key in CREATE_ROLE_OMITS},
            NEW_POLICY_BOUNDARY_COUNT: _none_yet, LIST_ROLES_DOCUMENT: url_encode,
            LIST_USERS_BOUNDARY: never_return}


USER_BOUNDARY_ATTRIBUTE = "permissions_boundary"


def check_boundary(backend: Any, arn: str) -> None:
    """Refuse a permissions boundary that is no policy ARN, or names no policy."""
    from moto.iam.exceptions import IAMException, NoSuchEntity, NotFoundException

    if not backend.policy_arn_regex.match(arn):
        raise IAMException("InvalidParameterValue",
                        f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
    try:
        backend.get_policy(arn)
    except NotFoundException:
        raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.") from None


def set_user_boundary(user: Any, arn: str | None) -> None:
    setattr(user, USER_BOUNDARY_ATTRIBUTE,
            {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn} if arn else None)


def create_user(original: Callable) -> Callable:
    def create(self: Any) -> Any:
        boundary = self._get_param("PermissionsBoundary")
        if boundary:
            check_boundary(self.backend, boundary)
        answer = original(self)
        if boundary:
            set_user_boundary(self.backend.get_user(self._get_param("UserName")), boundary)
        return answer
    return create


def delete_policy(original: Callable) -> Callable:
    def delete(self: Any, policy_arn: str) -> None:
        from moto.iam.exceptions import NotFoundException

        try:
            self.get_policy(policy_arn)
        except NotFoundException:
            raise NotFoundException(f"Policy {policy_arn} was not found.") from None
        return original(self, policy_arn)
    return delete


_LOWER_MESSAGE = re.compile(rb"<message>[^<]*</message>")
_QUERY_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(iam|sts)/aws4_request")


def _without_lower(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
    if b"<Message>" in body:
        body = _LOWER_MESSAGE.sub(b"", body)
    return status, headers, body


def error_middleware(app: Callable, _cloud: Any = None) -> Callable:
    def without_lower_message(environ: dict, start_response: Callable) -> Any:
        if not _QUERY_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        return rewrite_response(app, environ, start_response,
                                lambda status, _headers: status[:1] in "45", _without_lower)

    return without_lower_message


def install(cloud: Any, credentials: Any) -> None:
    from moto.iam.models import IAMBackend

    cloud.add_middleware(error_middleware)
    cloud.hook(IAMBackend, "delete_user", delete_user(credentials))
    from moto.iam.responses import IamResponse

    cloud.hook(IamResponse, "RESPONSE_KEY_PATH_TO_TRANSFORMER", response_members)
    cloud.hook(IAMBackend, "delete_policy", delete_policy)
    cloud.hook(IamResponse, "create_user", create_user)
    cloud.hook(IAMBackend, "create_service_linked_role", create_service_linked_role)
    cloud.hook(IAMBackend, "delete_service_linked_role", delete_service_linked_role)
