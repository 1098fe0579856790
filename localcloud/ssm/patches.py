"""moto's SSM, patched where a valid request gets a 500 (tripwires in
tests/unit/test_localcloud_validation_rules.py).

moto keeps parameters in a `defaultdict(list)` (`SimpleSystemManagerBackend._parameters`):
reading a name that does not exist (a label, a history request) leaves an empty version list
behind, and every later DescribeParameters / GetParameter of it raises IndexError. So one
request cannot poison later ones, DescribeParameters drops the empty lists before it reads
(one pass over the parameters), and GetParameter answers an empty list as a missing name
(no pass: GetParametersByPath reads each parameter through it, and a scan per read of
moto's tens of thousands of `/aws/service/global-infrastructure` defaults took 40 s).

UpdateMaintenanceWindow (served by ops.py; moto has none) sets the members of moto's
`FakeMaintenanceWindow` (`WINDOW_ATTRIBUTES`) and keeps Enabled / AllowUnassociatedTargets,
which moto's `to_json` does not carry (it answers Enabled: true always), in the window's
`localcloud_flags`; `to_json` is hooked to answer them.
"""
from __future__ import annotations

import functools
from typing import Any

PATCH_POINTS = [("moto.ssm.models", "SimpleSystemManagerBackend", "describe_parameters"),
               ("moto.ssm.models", "SimpleSystemManagerBackend", "get_parameter")]
# and the instance attribute `_parameters` (a dict of name -> version list)
PATCH_POINTS.append(("moto.ssm.models", "FakeMaintenanceWindow", "to_json"))
# GetPatchBaselineForPatchGroup: OperatingSystem defaults to WINDOWS (moto: KeyError None)
PATCH_POINTS.append(("moto.ssm.models", "SimpleSystemManagerBackend", "get_patch_baseline_for_patch_group"))
# Secrets Manager references (parameters.py) read the secret through moto's backend
PATCH_POINTS.append(("moto.secretsmanager.models", "SecretsManagerBackend", "get_secret_value"))

# UpdateMaintenanceWindow member -> moto's FakeMaintenanceWindow attribute
WINDOW_ATTRIBUTES = {"Name": "name", "Description": "description", "Duration": "duration",
                     "Cutoff": "cutoff", "Schedule": "schedule",
                     "ScheduleTimezone": "schedule_timezone", "ScheduleOffset": "schedule_offset",
                     "StartDate": "start_date", "EndDate": "end_date"}
_OPTIONAL = ("Description", "ScheduleTimezone", "ScheduleOffset", "StartDate", "EndDate")
_FLAGS = ("Enabled", "AllowUnassociatedTargets")


def update_window(window: Any, req: dict) -> None:
    """Set the members `req` (an UpdateMaintenanceWindow request) names; with Replace, the
    optional members it leaves out are cleared."""
    for member, attr in WINDOW_ATTRIBUTES.items():
        if member in req:
            setattr(window, attr, req[member])
        elif req.get("Replace") and member in _OPTIONAL:
            setattr(window, attr, None)
    flags = window.__dict__.setdefault("localcloud_flags", {})
    for member in _FLAGS:
        if member in req:
            flags[member] = bool(req[member])


def window_json(window: Any) -> dict:
    return window.to_json()


def install_windows(cloud: Any) -> None:
    from moto.ssm.models import FakeMaintenanceWindow

    def flagged(original):
        def to_json(self):
            doc = original(self)
            doc.update(self.__dict__.get("localcloud_flags", {}))
            return doc
        return to_json

    cloud.hook(FakeMaintenanceWindow, "to_json", flagged)


def secret_value(account: str, region: str, secret_id: str, version_id: str | None = None,
                 stage: str | None = None) -> dict | None:
    """A version of a secret as GetSecretValue answers it (ARN, Name, VersionId, VersionStages,
    CreatedDate, SecretString): by version id, by staging label, else AWSCURRENT; None when
    there is none to read."""
    from moto.secretsmanager.exceptions import SecretsManagerClientError
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[account][region]
    try:
        return backend.get_secret_value(secret_id, version_id,
                                        None if version_id else (stage or "AWSCURRENT"))
    except SecretsManagerClientError:
        return None


def _prune(backend: Any) -> None:
    params = backend._parameters
    for name in [n for n, versions in list(params.items()) if not versions]:
        params.pop(name, None)


@functools.lru_cache(maxsize=1)
def _operating_systems() -> tuple[str, ...]:
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model("ssm")
                 .shape_for("OperatingSystem").enum)


def patch_group_baseline(original):
    """AWS's GetPatchBaselineForPatchGroup: `OperatingSystem` defaults to WINDOWS
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetPatchBaselineForPatchGroup.html);
    an operating system outside the model's list is a ValidationException; one moto has no
    default baseline for answers without a BaselineId (moto raised KeyError: a 500)."""
    def get(self, patch_group, operating_system):
        from moto.ssm.exceptions import ValidationException

        operating_system = operating_system or "WINDOWS"
        if operating_system not in _operating_systems():
            raise ValidationException(
                f"1 validation error detected: Value '{operating_system}' at 'operatingSystem' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(_operating_systems())}]")
        try:
            return original(self, patch_group, operating_system)
        except KeyError:
            return None, patch_group, operating_system
    return get


def install(cloud: Any) -> None:
    from moto.ssm.models import SimpleSystemManagerBackend

    def pruned(original):
        def wrapper(self, *args, **kwargs):
            _prune(self)
            return original(self, *args, **kwargs)
        return wrapper

    def empty_is_missing(original):
        def get_parameter(self, name):
            try:
                return original(self, name)
            except IndexError:  # `self._parameters[name][-1]` of an empty version list
                return None
        return get_parameter

    cloud.hook(SimpleSystemManagerBackend, "describe_parameters", pruned)
    cloud.hook(SimpleSystemManagerBackend, "get_parameter", empty_is_missing)
    cloud.hook(SimpleSystemManagerBackend, "get_patch_baseline_for_patch_group", patch_group_baseline)
