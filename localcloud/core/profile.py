"""The local cloud's timing and account profile: AWS's delays and account shapes, on demand.

By default the local cloud is quick: instances spend `ec2_transition_seconds` (0.5 s) in
pending/stopping/shutting-down, an SSM agent registers 0.5 s after its instance runs, IAM
changes apply at once and every region has a default VPC. The `aws` profile
(`localcloud up --like-aws` or `LOCALCLOUD_PROFILE=aws`) adds what a first real deployment
meets, so retries and waits are exercised before it:

| field | default | aws | env override | what AWS does |
|---|---|---|---|---|
| `role_propagation_seconds` | 0 | 8 | `LOCALCLOUD_ROLE_PROPAGATION_SECONDS` | a new role cannot be assumed by Lambda for a few seconds: CreateFunction / UpdateFunctionConfiguration answer `InvalidParameterValueException: The role defined for the function cannot be assumed by Lambda.` |
| `instance_profile_propagation_seconds` | 0 | 8 | `LOCALCLOUD_INSTANCE_PROFILE_PROPAGATION_SECONDS` | RunInstances refuses a new instance profile: `InvalidParameterValue: Value (NAME) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name` |
| `ec2_transition_seconds` | 0.5 | 5 | `LOCALCLOUD_EC2_TRANSITION_SECONDS` | instances stay pending / stopping / shutting-down |
| `ssm_registration_seconds` | 0.5 | 10 | `LOCALCLOUD_SSM_REGISTRATION_SECONDS` | the SSM agent registers after the instance runs; SendCommand answers `InvalidInstanceId` until then |
| `default_vpc` | true | true | `LOCALCLOUD_DEFAULT_VPC=0` or `--no-default-vpc` | without a default VPC, RunInstances without a subnet fails `VPCIdNotSpecified` |
| `s3_deleted_bucket_seconds` | 0 | 10 | `LOCALCLOUD_S3_DELETED_BUCKET_SECONDS` | bucket operations are eventually consistent: a deleted bucket may still be listed by ListBuckets for a while, and CreateBucket of its name answers `409 OperationAborted` ("A conflicting conditional operation is currently in progress against this resource") until the deletion has settled. AWS gives no fixed time (a name can take up to an hour to be reusable by another account or Region); 10 s is this rehearsal's choice |
| `sqs_queue_deleted_recently_seconds` | 0 | 60 | `LOCALCLOUD_SQS_QUEUE_DELETED_RECENTLY_SECONDS` | "You must wait 60 seconds after deleting a queue before you can create another queue with the same name": CreateQueue answers `QueueDeletedRecently` (`AWS.SimpleQueueService.QueueDeletedRecently` in the query protocol) |
| `apigateway_control_rate_scale` | 0 (off) | 1 | `LOCALCLOUD_APIGATEWAY_CONTROL_RATE_SCALE` | API Gateway's fixed control-plane quotas per account (CreateRestApi 1 per 3 s, DeleteRestApi 1 per 30 s, CreateDeployment 1 per 5 s, UpdateUsagePlan 1 per 20 s, ...; all operations 10/s, burst 40; table in `localcloud/apigateway/ratelimit.py`): over them, `429 TooManyRequestsException` with `Retry-After`. The scale multiplies AWS's rates (2 = twice as many requests allowed) |

Precedence: the profile's values, then the environment variables, then options passed to
`LocalCloud(...)` (same names as the fields).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PROFILE_ENV = "LOCALCLOUD_PROFILE"
PROFILES = ("default", "aws")


@dataclass(frozen=True)
class Profile:
    name: str = "default"
    role_propagation_seconds: float = 0.0
    instance_profile_propagation_seconds: float = 0.0
    ec2_transition_seconds: float = 0.5
    ssm_registration_seconds: float = 0.5
    default_vpc: bool = True
    s3_deleted_bucket_seconds: float = 0.0
    sqs_queue_deleted_recently_seconds: float = 0.0
    apigateway_control_rate_scale: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


AWS = Profile(name="aws", role_propagation_seconds=8.0, instance_profile_propagation_seconds=8.0,
              ec2_transition_seconds=5.0, ssm_registration_seconds=10.0,
              s3_deleted_bucket_seconds=10.0, sqs_queue_deleted_recently_seconds=60.0,
              apigateway_control_rate_scale=1.0)

_ENV = {
    "role_propagation_seconds": "LOCALCLOUD_ROLE_PROPAGATION_SECONDS",
    "instance_profile_propagation_seconds": "LOCALCLOUD_INSTANCE_PROFILE_PROPAGATION_SECONDS",
    "ec2_transition_seconds": "LOCALCLOUD_EC2_TRANSITION_SECONDS",
    "ssm_registration_seconds": "LOCALCLOUD_SSM_REGISTRATION_SECONDS",
    "default_vpc": "LOCALCLOUD_DEFAULT_VPC",
    "s3_deleted_bucket_seconds": "LOCALCLOUD_S3_DELETED_BUCKET_SECONDS",
    "sqs_queue_deleted_recently_seconds": "LOCALCLOUD_SQS_QUEUE_DELETED_RECENTLY_SECONDS",
    "apigateway_control_rate_scale": "LOCALCLOUD_APIGATEWAY_CONTROL_RATE_SCALE",
}
# Older option names kept working.
_ALIASES = {"instance_transition_seconds": "ec2_transition_seconds"}


def _parse(field: str, raw: Any, where: str) -> Any:
    if field == "default_vpc":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{where} must be true or false, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        unit = " of seconds" if field.endswith("_seconds") else ""
        raise ValueError(f"{where} must be a number{unit}, got {raw!r}") from None
    if value < 0:
        unit = " seconds" if field.endswith("_seconds") else ""
        raise ValueError(f"{where} must be 0 or more{unit}, got {raw!r}")
    return value


def resolve_profile(options: dict | None = None, environ: dict | None = None) -> Profile:
    """The profile for a LocalCloud: `options["profile"]` or $LOCALCLOUD_PROFILE (`default` or
    `aws`), then env overrides, then options of the fields' names."""
    options = dict(options or {})
    environ = os.environ if environ is None else environ
    name = str(options.get("profile") or environ.get(PROFILE_ENV) or "default").strip().lower()
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV} must be one of {', '.join(PROFILES)}, got {name!r}")
    profile = AWS if name == "aws" else Profile()
    changes: dict[str, Any] = {}
    for field, env in _ENV.items():
        if environ.get(env, "") != "":
            changes[field] = _parse(field, environ[env], env)
    for key, value in options.items():
        field = _ALIASES.get(key, key)
        if field in _ENV and value is not None:
            changes[field] = _parse(field, value, f"option {key}")
    return replace(profile, **changes) if changes else profile


def describe(profile: Profile) -> str:
    """One line for `localcloud up` / `status`."""
    parts = [f"{f.name}={getattr(profile, f.name)}" for f in fields(profile) if f.name != "name"]
    return f"profile {profile.name}: " + ", ".join(parts)
