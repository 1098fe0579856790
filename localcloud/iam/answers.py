"""Smaller IAM answers moto lacks or gives otherwise, served before moto (served.py):

- ListInstanceProfileTags
  (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListInstanceProfileTags.html): the
  tags TagInstanceProfile set (moto keeps them on the profile but has no list operation);
  MaxItems/Marker paging; a missing profile is `NoSuchEntity`.
- GetUser without `UserName` by a caller that is no IAM user (an assumed-role session):
  `ValidationError` "Must specify userName when calling with non-User credentials" (AWS's
  answer, LocalStack's AWS-validated test_get_user_without_username_as_role), where moto
  answers a made-up `default_user`. The operator's key keeps moto's answer.
- PutUserPermissionsBoundary / DeleteUserPermissionsBoundary: a user's permissions boundary
  (what is written on moto's user, and why, is in patches.py).
"""
from __future__ import annotations

from typing import Any

from . import patches
from .served import ServiceError, members, result


def _backend(environ: dict) -> Any:
    from moto.iam.models import iam_backends

    from ..core.moto_request import account_of

    return iam_backends[account_of(environ)]["aws"]


def _user(backend: Any, name: str) -> Any:
    from moto.iam.exceptions import NoSuchEntity

    try:
        return backend.get_user(name)
    except NoSuchEntity as exc:
        raise ServiceError("NoSuchEntity", exc.message, 404) from None


def put_user_permissions_boundary(environ: dict, params: dict[str, str]) -> bytes:
    from moto.iam.exceptions import IAMException

    backend = _backend(environ)
    user = _user(backend, params.get("UserName", ""))
    arn = params.get("PermissionsBoundary", "")
    try:
        patches.check_boundary(backend, arn)
    except IAMException as exc:
        raise ServiceError(exc.code, exc.message,
                           404 if exc.code == "NoSuchEntity" else 400) from None
    patches.set_user_boundary(user, arn)
    return result("PutUserPermissionsBoundary", "")


def delete_user_permissions_boundary(environ: dict, params: dict[str, str]) -> bytes:
    patches.set_user_boundary(_user(_backend(environ), params.get("UserName", "")), None)
    return result("DeleteUserPermissionsBoundary", "")


def list_instance_profile_tags(environ: dict, params: dict[str, str]) -> bytes:
    from moto.iam.exceptions import NoSuchEntity, NotFoundException
    from moto.iam.models import iam_backends

    from ..core.moto_request import account_of

    name = params.get("InstanceProfileName", "")
    try:
        profile = iam_backends[account_of(environ)]["aws"].get_instance_profile(
            profile_name=name)
    except (NoSuchEntity, NotFoundException) as exc:
        raise ServiceError("NoSuchEntity", exc.message, 404) from None
    tags = list(profile.tags)
    start = int(params["Marker"]) if params.get("Marker", "").isdigit() else 0
    size = int(params.get("MaxItems") or 100)
    page = tags[start:start + size]
    items = "".join(f"<member>{members({'Key': t['Key'], 'Value': t['Value']})}</member>"
                    for t in page)
    more = f"<IsTruncated>true</IsTruncated><Marker>{start + size}</Marker>" \
        if start + size < len(tags) else "<IsTruncated>false</IsTruncated>"
    return result("ListInstanceProfileTags", f"<Tags>{items}</Tags>{more}")


def get_user_guard(environ: dict, params: dict[str, str]) -> None:
    caller = environ.get("localcloud.caller")
    if not params.get("UserName") and getattr(caller, "kind", None) == "session" and \
            ":user/" not in (getattr(caller, "arn", "") or ""):
        raise ServiceError("ValidationError",
                           "Must specify userName when calling with non-User credentials")
    return None


HANDLERS = {"ListInstanceProfileTags": list_instance_profile_tags, "GetUser": get_user_guard,
            "PutUserPermissionsBoundary": put_user_permissions_boundary,
            "DeleteUserPermissionsBoundary": delete_user_permissions_boundary}
