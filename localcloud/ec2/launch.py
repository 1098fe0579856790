"""RunInstances held to two of AWS's account shapes (both off by default; `--like-aws`,
`--no-default-vpc`, see localcloud.core.profile):

* a new instance profile is not accepted for `instance_profile_propagation_seconds` after it
  (or a role added to it) was created: `InvalidParameterValue: Value (NAME) for parameter
  iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name` (`.arn` / `ARN` when
  given by ARN), as AWS answers while IAM propagates;
* without a default VPC (`default_vpc` false), RunInstances without a subnet (SubnetId or a
  network interface's) fails `VPCIdNotSpecified: No default VPC for this user. GroupName is
  only supported for EC2-Classic and default VPC.`
"""
from __future__ import annotations

from typing import Any, Callable

NO_DEFAULT_VPC = ("No default VPC for this user. GroupName is only supported for EC2-Classic "
                  "and default VPC.")


def _ec2_error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def profile_age_seconds(account_id: str, name: str | None, arn: str | None) -> float | None:
    """Seconds since the instance profile, or the newest role in it, was created."""
    from moto.core.utils import utcnow
    from moto.iam.exceptions import NoSuchEntity, NotFoundException
    from moto.iam.models import iam_backends

    partition = arn.split(":")[1] if arn and arn.count(":") > 2 else "aws"
    try:
        backend = iam_backends[account_id][partition]
        profile = backend.get_instance_profile_by_arn(arn) if arn else \
            backend.get_instance_profile(name)
    except (NotFoundException, NoSuchEntity, KeyError):  # missing: moto answers it itself
        return None
    created = [profile.create_date] + [r.create_date for r in profile.roles]
    return (utcnow() - max(created)).total_seconds()


def check_instance_profile(account_id: str, kwargs: dict, propagation_seconds: float) -> None:
    if propagation_seconds <= 0:
        return
    name, arn = kwargs.get("iam_instance_profile_name"), kwargs.get("iam_instance_profile_arn")
    if not (name or arn):
        return
    age = profile_age_seconds(account_id, name, arn)
    if age is not None and age < propagation_seconds:
        if arn:
            raise _ec2_error("InvalidParameterValue", f"Value ({arn}) for parameter "
                             "iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN")
        raise _ec2_error("InvalidParameterValue", f"Value ({name}) for parameter "
                         "iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")


def check_subnet(kwargs: dict, default_vpc: bool) -> None:
    if default_vpc or kwargs.get("subnet_id"):
        return
    if any((nic or {}).get("SubnetId") for nic in kwargs.get("nics") or []):
        return
    raise _ec2_error("VPCIdNotSpecified", NO_DEFAULT_VPC)


def install(cloud: Any) -> Callable[[], None] | None:
    from moto.ec2.models.instances import InstanceBackend

    def run_instances(original: Any) -> Any:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            profile = cloud.profile
            check_subnet(kwargs, profile.default_vpc)
            check_instance_profile(self.account_id, kwargs,
                                   profile.instance_profile_propagation_seconds)
            return original(self, *args, **kwargs)
        return patched

    cloud.hook(InstanceBackend, "run_instances", run_instances)
    return None
