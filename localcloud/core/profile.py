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

    def as_dict(self) -> dict:
        return asdict(self)


AWS = Profile(name="aws", role_propagation_seconds=8.0, instance_profile_propagation_seconds=8.0,
              ec2_transition_seconds=5.0, ssm_registration_seconds=10.0)

_ENV = {
    "role_propagation_seconds": "LOCALCLOUD_ROLE_PROPAGATION_SECONDS",
    "instance_profile_propagation_seconds": "LOCALCLOUD_INSTANCE_PROFILE_PROPAGATION_SECONDS",
    "ec2_transition_seconds": "LOCALCLOUD_EC2_TRANSITION_SECONDS",
    "ssm_registration_seconds": "LOCALCLOUD_SSM_REGISTRATION_SECONDS",
    "default_vpc": "LOCALCLOUD_DEFAULT_VPC",
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
        raise ValueError(f"{where} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{where} must be 0 or more seconds, got {raw!r}")
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
