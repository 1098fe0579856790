"""A new execution role is not assumable by Lambda at once (IAM is eventually consistent).

With the profile's `role_propagation_seconds` > 0 (`localcloud up --like-aws`), CreateFunction
and UpdateFunctionConfiguration naming a role created less than that long ago answer as AWS
does: `InvalidParameterValueException: The role defined for the function cannot be assumed by
Lambda.` Off (0) by default.
"""
from __future__ import annotations

from typing import Any, Callable

ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."


def role_age_seconds(role_arn: str, account_id: str) -> float | None:
    """Seconds since the role in `role_arn` was created; None if it is not in this cloud."""
    from moto.core.utils import utcnow
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    if not role_arn or ":role/" not in role_arn:
        return None
    parts = role_arn.split(":")
    account = parts[4] if len(parts) > 4 and parts[4] else account_id
    partition = parts[1] if len(parts) > 1 and parts[1] else "aws"
    try:
        backend = iam_backends[account][partition]
        role = backend.get_role_by_arn(role_arn)
    except (NotFoundException, KeyError):  # no such role: moto's own checks answer
        return None
    return (utcnow() - role.create_date).total_seconds()


def check_role(role_arn: str | None, account_id: str, propagation_seconds: float) -> None:
    if not role_arn or propagation_seconds <= 0:
        return
    age = role_age_seconds(role_arn, account_id)
    if age is not None and age < propagation_seconds:
        from moto.awslambda.exceptions import InvalidParameterValueException

        raise InvalidParameterValueException(ROLE_NOT_ASSUMABLE)


def install(cloud: Any) -> Callable[[], None] | None:
    from moto.awslambda.models import LambdaBackend

    def create_function(original: Any) -> Any:
        def patched(self: Any, spec: dict) -> Any:
            check_role(spec.get("Role"), self.account_id, cloud.profile.role_propagation_seconds)
            return original(self, spec)
        return patched

    def update_function_configuration(original: Any) -> Any:
        def patched(self: Any, function_name: str, qualifier: str, body: dict) -> Any:
            check_role((body or {}).get("Role"), self.account_id,
                       cloud.profile.role_propagation_seconds)
            return original(self, function_name, qualifier, body)
        return patched

    cloud.hook(LambdaBackend, "create_function", create_function)
    cloud.hook(LambdaBackend, "update_function_configuration", update_function_configuration)
    return None
