"""Settings: which cloud we act on, under which stack name, with which knobs.

One frozen dataclass, read from the environment by ``load_settings()`` (never at
import time: importing this module has no side effects).

Environment variables (all optional):

``MLPIPE_TARGET``        ``local`` (default) or ``aws``
``MLPIPE_STACK``         stack name, default ``mlpipe`` (see ``validate_stack``)
``LOCALCLOUD_PORT``      local cloud port, default 4566
``AWS_ENDPOINT_URL``     local target only: overrides ``http://127.0.0.1:<port>``
``AWS_REGION`` / ``AWS_DEFAULT_REGION``   aws target only (local is always us-east-1)
``MLPIPE_INSTANCE_TYPE`` training instance type, default ``t3.small``
``MLPIPE_SUBNET_ID``     the subnet of the instance (default: the default VPC's, else the stack's own VPC)
``MLPIPE_COMMAND_TIMEOUT``   SSM executionTimeout for a training run, seconds
``MLPIPE_READY_TIMEOUT``     how long the worker waits for the instance to take commands
``MLPIPE_PROMOTION_TOLERANCE``  how much worse (absolute, on the holdout) a new model may be
``MLPIPE_MODEL_KIND``    ``logreg`` (default) or ``forest`` (``ridge`` for regression); a kind that does not
                         fit the dataset's task gives way to the dataset file's ``[model] kind``
``MLPIPE_DATASET``       the dataset: a bundled name (``breast_cancer`` default, ``wine``, ``diabetes``,
                         ``apartments``) or a path to a ``dataset.toml`` (``mlpipe dataset init``)
``MLPIPE_MODEL_REFRESH_SECONDS``  how often predict re-reads ``models/latest.json``
``MLPIPE_IDLE_GRACE_SECONDS``  reaper: running this long with no command in flight -> stop
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Mapping

from glue_contract import defaults as glue_defaults

TARGETS = ("local", "aws")
DEFAULT_STACK = "mlpipe"
DEFAULT_LOCAL_PORT = 4566
LOCAL_REGION = "us-east-1"
MAX_STACK_LEN = 20
MODEL_KINDS = ("logreg", "forest", "ridge")
# The Lambda runtime on AWS (layer_build's aws target builds for the same Python).
AWS_LAMBDA_RUNTIME = "python3.12"

# On-demand Linux prices, USD per hour, us-east-1 (used for estimates only).
# A public IPv4 address (the instance's, while it runs), USD per hour.
PUBLIC_IPV4_HOURLY_USD = 0.005
INSTANCE_HOURLY_USD = {
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "m5.large": 0.096,
    "c5.large": 0.085,
}


class MlpipeError(Exception):
    """An error meant for a person: the CLI prints its message as one line, and so does
    Jupyter (e.g. ``load_settings()`` with ``MLPIPE_TARGET=aws`` and no region)."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class ConfigError(MlpipeError, ValueError):
    """A bad setting (environment variable or argument)."""


_STACK_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")


def validate_stack(stack: str) -> str:
    """Return ``stack`` if it can name every resource of the stack, else raise ConfigError.

    Why these rules: the stack name is the prefix of every resource name. S3 bucket
    names allow only lowercase letters, digits, hyphens and dots and at most 63
    characters, and ours are ``<stack>-output-<12-digit account>-<region>`` (up to
    36 characters after the stack); IAM role, Lambda, rule and layer names cap at
    64. Starting with a letter and not ending with a hyphen keeps every derived
    name valid for all of them; 20 characters leaves room for the longest suffix.
    """
    if not isinstance(stack, str) or not stack:
        raise ConfigError("MLPIPE_STACK is empty: give a stack name such as 'mlpipe' or 'alice'")
    problems = []
    if len(stack) > MAX_STACK_LEN:
        problems.append(f"is {len(stack)} characters long (at most {MAX_STACK_LEN})")
    if not _STACK_RE.match(stack):
        problems.append(
            "must use only lowercase letters, digits and hyphens, start with a letter "
            "and not end with a hyphen"
        )
    if "--" in stack:
        problems.append("must not contain '--'")
    if problems:
        raise ConfigError(
            f"MLPIPE_STACK={stack!r} " + "; ".join(problems)
            + ". It prefixes every resource name, and S3 bucket names (lowercase, at most 63 "
            "characters, including account id and region) are the strictest of them."
        )
    return stack


@dataclass(frozen=True)
class Settings:
    """Everything that decides where and how the stack is deployed (hashable)."""

    target: str = "local"
    region: str = LOCAL_REGION
    stack: str = DEFAULT_STACK
    endpoint_url: str | None = f"http://127.0.0.1:{DEFAULT_LOCAL_PORT}"
    instance_type: str = "t3.small"
    # The instance's subnet; None: the default VPC's default subnet, else the stack's own VPC.
    subnet_id: str | None = None
    # Training run: SSM executionTimeout (a hung command is killed after this).
    command_timeout_seconds: int = glue_defaults.COMMAND_TIMEOUT_S
    # Worker: how long to wait for the instance to be running and registered with SSM.
    ready_timeout_seconds: int = glue_defaults.READY_TIMEOUT_S
    # Promotion gate: a new model may be at most this much worse (holdout, absolute).
    promotion_tolerance: float = glue_defaults.PROMOTION_TOLERANCE
    model_kind: str = glue_defaults.MODEL_KIND
    # The dataset file (model_code.spec): a bundled name or a path; "" is the default dataset.
    dataset: str = ""
    # Predict: how often a warm container re-reads models/latest.json.
    model_refresh_seconds: int = 30
    max_rows: int = 1000
    # Reaper: a running instance with no command in flight for this long is stopped.
    idle_grace_seconds: int = glue_defaults.IDLE_GRACE_S
    # EC2 waiters (deploy/destroy): give up after this many seconds.
    waiter_timeout_seconds: int = 600
    # API usage plan.
    throttle_rate_limit: float = 5.0
    throttle_burst_limit: int = 10
    quota_limit: int = 1000
    quota_period: str = "DAY"

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def is_aws(self) -> bool:
        return self.target == "aws"

    @property
    def lambda_runtime(self) -> str:
        """The functions' and layers' runtime: Lambda's python3.12 on aws; on the local
        cloud, the Python that actually runs them (this interpreter), named honestly."""
        if self.is_aws:
            return AWS_LAMBDA_RUNTIME
        import sys

        return f"python{sys.version_info.major}.{sys.version_info.minor}"

    @property
    def instance_hourly_usd(self) -> float | None:
        return INSTANCE_HOURLY_USD.get(self.instance_type)

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (validated like the environment)."""
        new = replace(self, **changes)
        _validate(new)
        return new


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 1) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{key}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], key: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number") from None
    if not value >= minimum or value != value or value == float("inf"):
        raise ConfigError(f"{key}={raw!r} must be a finite number >= {minimum}")
    return value


def _validate(s: Settings) -> None:
    if s.target not in TARGETS:
        raise ConfigError(f"target {s.target!r} is not one of {', '.join(TARGETS)}")
    validate_stack(s.stack)
    if s.model_kind not in MODEL_KINDS:
        raise ConfigError(f"model kind {s.model_kind!r} is not one of {', '.join(MODEL_KINDS)}")
    if s.is_aws and s.endpoint_url is not None:
        raise ConfigError("the aws target talks to real AWS endpoints: endpoint_url must be None")
    if s.is_local and not s.endpoint_url:
        raise ConfigError("the local target needs an endpoint_url (the local cloud)")
    if s.idle_grace_seconds < s.ready_timeout_seconds:
        raise ConfigError(
            f"MLPIPE_IDLE_GRACE_SECONDS ({s.idle_grace_seconds}) must be at least "
            f"MLPIPE_READY_TIMEOUT ({s.ready_timeout_seconds}): otherwise the reaper may stop an "
            "instance the worker is still waiting for")
    if s.ready_timeout_seconds > 840:
        raise ConfigError(
            f"MLPIPE_READY_TIMEOUT={s.ready_timeout_seconds}: the worker Lambda waits this long and "
            "Lambda's maximum timeout is 900 s; use at most 840")


def _aws_region(env: Mapping[str, str]) -> str:
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        # Fall back to the region of the configured profile (~/.aws/config).
        try:
            import boto3

            region = boto3.session.Session().region_name
        except Exception:  # pragma: no cover - a broken config file
            region = None
    if not region:
        raise ConfigError(
            "MLPIPE_TARGET=aws needs a region: set AWS_REGION (e.g. export AWS_REGION=us-east-1) "
            "or a region in your AWS profile"
        )
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", region):
        raise ConfigError(f"AWS region {region!r} does not look like a region (e.g. us-east-1)")
    return region


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default ``os.environ``); raise ConfigError if wrong."""
    env = os.environ if env is None else env
    target = (env.get("MLPIPE_TARGET") or "local").strip().lower()
    if target not in TARGETS:
        raise ConfigError(
            f"MLPIPE_TARGET={env.get('MLPIPE_TARGET')!r} is not a target: use 'local' (the "
            "offline local cloud, the default) or 'aws' (your real AWS account)"
        )
    stack = validate_stack((env.get("MLPIPE_STACK") or DEFAULT_STACK).strip())

    if target == "local":
        region = LOCAL_REGION
        endpoint = (env.get("AWS_ENDPOINT_URL") or "").strip()
        if not endpoint:
            port = _int(env, "LOCALCLOUD_PORT", DEFAULT_LOCAL_PORT)
            if port > 65535:
                raise ConfigError(f"LOCALCLOUD_PORT={port} is not a TCP port (1-65535)")
            endpoint = f"http://127.0.0.1:{port}"
        elif not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"AWS_ENDPOINT_URL={endpoint!r} must start with http:// or https://")
        endpoint = endpoint.rstrip("/")
    else:
        region = _aws_region(env)
        endpoint = None

    model_kind = (env.get("MLPIPE_MODEL_KIND") or Settings.model_kind).strip()
    quota_period = (env.get("MLPIPE_QUOTA_PERIOD") or "DAY").strip().upper()
    if quota_period not in ("DAY", "WEEK", "MONTH"):
        raise ConfigError(f"MLPIPE_QUOTA_PERIOD={quota_period!r} must be DAY, WEEK or MONTH")
    instance_type = (env.get("MLPIPE_INSTANCE_TYPE") or "t3.small").strip()
    if not re.match(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", instance_type):
        raise ConfigError(f"MLPIPE_INSTANCE_TYPE={instance_type!r} is not an instance type (e.g. t3.small)")

    subnet_id = (env.get("MLPIPE_SUBNET_ID") or "").strip() or None
    if subnet_id is not None and not re.match(r"^subnet-[0-9a-f]{8,17}$", subnet_id):
        raise ConfigError(f"MLPIPE_SUBNET_ID={subnet_id!r} is not a subnet id (e.g. subnet-0abc1234)")

    settings = Settings(
        target=target,
        region=region,
        stack=stack,
        endpoint_url=endpoint,
        instance_type=instance_type,
        subnet_id=subnet_id,
        command_timeout_seconds=_int(env, "MLPIPE_COMMAND_TIMEOUT", Settings.command_timeout_seconds),
        ready_timeout_seconds=_int(env, "MLPIPE_READY_TIMEOUT", Settings.ready_timeout_seconds),
        promotion_tolerance=_float(env, "MLPIPE_PROMOTION_TOLERANCE", Settings.promotion_tolerance),
        model_kind=model_kind,
        dataset=(env.get("MLPIPE_DATASET") or "").strip(),
        model_refresh_seconds=_int(env, "MLPIPE_MODEL_REFRESH_SECONDS", Settings.model_refresh_seconds, 0),
        max_rows=_int(env, "MLPIPE_MAX_ROWS", Settings.max_rows),
        idle_grace_seconds=_int(env, "MLPIPE_IDLE_GRACE_SECONDS", Settings.idle_grace_seconds),
        waiter_timeout_seconds=_int(env, "MLPIPE_WAITER_TIMEOUT", Settings.waiter_timeout_seconds),
        throttle_rate_limit=_float(env, "MLPIPE_THROTTLE_RATE", Settings.throttle_rate_limit),
        throttle_burst_limit=_int(env, "MLPIPE_THROTTLE_BURST", Settings.throttle_burst_limit),
        quota_limit=_int(env, "MLPIPE_QUOTA_LIMIT", Settings.quota_limit),
        quota_period=quota_period,
    )
    _validate(settings)
    return settings
