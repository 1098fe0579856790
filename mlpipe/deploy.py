"""``mlpipe deploy``: create what is missing, in order, and report every step.

glue (Part 1):  buckets -> EC2 role + instance profile -> training instance (stopped)
                -> Lambda roles (scoped to that instance) -> code archive + holdout
                -> trigger, worker, stop_ec2, reaper -> S3 notifications -> reaper schedule
backend (Part 2): layers (mlpipe.layers.ensure_layers) -> API (mlpipe.api.ensure_backend)

Every step is idempotent: a second deploy finds everything and says "nothing changed".
``plan=True`` only reads: it lists what would be created and what it would cost.
"""
from __future__ import annotations

import importlib
from typing import Callable

from botocore.exceptions import ClientError

from . import buckets, functions, iam, instance, notifications, schedule
from .clients import client
from .config import MlpipeError, Settings
from .names import GLUE_FUNCTIONS, Names, names_for
from .report import Report, summarize

PARTS = ("glue", "backend", "all")

# Timeouts and memory per glue function. The worker waits for the instance to take
# commands (READY_TIMEOUT) and must outlive that wait; Lambda's maximum is 900 s.
FUNCTION_SPECS = {
    "trigger": {"timeout": 30, "memory": 128},
    "worker": {"timeout": None, "memory": 128},
    "stop_ec2": {"timeout": 60, "memory": 128},
    "reaper": {"timeout": 60, "memory": 128},
}


def function_env(settings: Settings, names: Names, fn: str, instance_id: str) -> dict:
    """Environment variables of a glue function (docs/CONTRACTS.md)."""
    env = {
        "trigger": {"INSTANCE_ID": instance_id, "WORKER_FUNCTION": names.worker_function},
        "worker": {
            "INSTANCE_ID": instance_id,
            "INPUT_BUCKET": names.input_bucket,
            "OUTPUT_BUCKET": names.output_bucket,
            "CODE_KEY": names.code_key,
            "COMMAND_TIMEOUT": settings.command_timeout_seconds,
            "READY_TIMEOUT": settings.ready_timeout_seconds,
            "PROMOTION_TOLERANCE": settings.promotion_tolerance,
            "MODEL_KIND": settings.model_kind,
        },
        "stop_ec2": {"INSTANCE_ID": instance_id, "INPUT_BUCKET": names.input_bucket,
                     "WORKER_FUNCTION": names.worker_function},
        "reaper": {"INSTANCE_ID": instance_id, "OUTPUT_BUCKET": names.output_bucket,
                   "WORKER_FUNCTION": names.worker_function,  # re-runs a lost run's data once
                   "IDLE_GRACE_SECONDS": settings.idle_grace_seconds},
    }[fn]
    return {k: str(v) for k, v in env.items()}


def function_timeout(settings: Settings, fn: str) -> int:
    spec = FUNCTION_SPECS[fn]["timeout"]
    if spec is None:  # worker
        return int(min(900, settings.ready_timeout_seconds + 60))
    return spec


def _emit(progress: Callable, reports: list, new) -> None:
    items = new if isinstance(new, list) else [new]
    for r in items:
        reports.append(r)
        progress(f"  {r}")


def deploy_glue(settings: Settings, names: Names, progress: Callable = print, *,
                holdout_path: str | None = None) -> list:
    reports: list = []
    progress("buckets")
    _emit(progress, reports, buckets.ensure_buckets(settings, names))
    progress("instance role and profile")
    _emit(progress, reports, iam.ensure_roles(settings, names, keys=("ec2",)))
    _emit(progress, reports, iam.ensure_instance_profile(settings, names))
    progress("training instance")
    inst = instance.ensure_instance(settings, names, progress=progress)
    _emit(progress, reports, inst)
    instance_id = inst.details["instance_id"]
    progress("function roles")
    role_reports = iam.ensure_roles(settings, names, instance_id=instance_id, keys=GLUE_FUNCTIONS)
    _emit(progress, reports, role_reports)
    role_arns = {k: r.arn for k, r in zip(GLUE_FUNCTIONS, role_reports)}
    progress("code archive and holdout")
    _emit(progress, reports, buckets.upload_code_archive(settings, names=names))
    _emit(progress, reports, buckets.ensure_holdout(settings, names, holdout_path))
    progress("functions")
    for fn in GLUE_FUNCTIONS:
        _emit(progress, reports, functions.ensure_function(
            settings, names.function(fn), functions.source_dir(fn), role_arns[fn],
            function_env(settings, names, fn, instance_id),
            timeout=function_timeout(settings, fn), memory=FUNCTION_SPECS[fn]["memory"],
            names=names, progress=progress,
        ))
    # The worker records its own failures (a failed run record): a retry would only wait
    # READY_TIMEOUT again and write a second record.
    _emit(progress, reports, functions.ensure_event_invoke_config(settings, names.worker_function, 0))
    progress("notifications")
    _emit(progress, reports, notifications.ensure_notifications(settings, names))
    progress("reaper schedule")
    _emit(progress, reports, schedule.ensure_schedule(settings, names))
    return reports


def _optional(module: str, attr: str):
    """``mlpipe.<module>.<attr>`` if that module exists (written by another part), else None."""
    try:
        mod = importlib.import_module(f"mlpipe.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"mlpipe.{module}":
            return None
        raise
    return getattr(mod, attr, None)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def deploy_backend(settings: Settings, names: Names, progress: Callable = print) -> list:
    reports: list = []
    ensure_layers = _optional("layers", "ensure_layers")
    ensure_backend = _optional("api", "ensure_backend")
    if ensure_layers is None or ensure_backend is None:
        missing = [m for m, f in (("mlpipe/layers.py", ensure_layers), ("mlpipe/api.py", ensure_backend)) if f is None]
        reason = f"{' and '.join(missing)} not available yet: the serving part is not deployed"
        progress(f"backend skipped: {reason}")
        return [Report("skipped", "backend", names.api_name, None, {"reason": reason})]
    # The layers go through the input bucket when large; the model lives in the output one.
    progress("buckets")
    _emit(progress, reports, buckets.ensure_buckets(settings, names))
    progress("layers")
    _emit(progress, reports, _as_list(ensure_layers(settings, names, progress)))
    progress("API (predict function, REST API, key, usage plan)")
    _emit(progress, reports, _as_list(ensure_backend(settings, names, progress)))
    return reports


def deploy(settings: Settings, part: str = "all", plan: bool = False, progress: Callable = print,
           *, names: Names | None = None) -> list:
    """Deploy ``part`` of the stack (or, with ``plan``, only say what would be created)."""
    if part not in PARTS:
        raise MlpipeError(f"--part {part!r}: choose one of {', '.join(PARTS)}")
    names = names or names_for(settings)
    if plan:
        return plan_deploy(settings, names, part, progress)
    reports: list = []
    if part in ("glue", "all"):
        reports += deploy_glue(settings, names, progress)
    if part in ("backend", "all"):
        reports += deploy_backend(settings, names, progress)
    progress(summarize(reports))
    return reports


# --- plan -------------------------------------------------------------------------------

def _exists(call, missing=("NoSuchEntity", "ResourceNotFoundException", "404", "NoSuchBucket",
                           "NotFoundException")) -> bool:
    try:
        call()
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in missing:
            return False
        raise


def _planned(exists: bool, kind: str, name: str, **details) -> Report:
    return Report("found" if exists else "planned", kind, name, None, details)


def plan_deploy(settings: Settings, names: Names, part: str = "all", progress: Callable = print) -> list:
    """What ``deploy`` would create, read-only, with an hourly cost estimate."""
    reports: list = []
    iam_c, lam = client("iam", settings), client("lambda", settings)
    if part in ("glue", "all"):
        for b in names.buckets:
            reports.append(_planned(buckets.bucket_exists(settings, b), "s3 bucket", b))
        for key in ("ec2", *GLUE_FUNCTIONS):
            role = names.role(key)
            reports.append(_planned(_exists(lambda: iam_c.get_role(RoleName=role)), "iam role", role))
        reports.append(_planned(_exists(lambda: iam_c.get_instance_profile(
            InstanceProfileName=names.instance_profile)), "instance profile", names.instance_profile))
        found = instance.find_instance(settings, names)
        reports.append(_planned(bool(found), "ec2 instance", names.instance_name,
                                instance_type=settings.instance_type))
        for fn in GLUE_FUNCTIONS:
            fname = names.function(fn)
            reports.append(_planned(_exists(lambda: lam.get_function_configuration(FunctionName=fname)),
                                    "lambda function", fname))
        for bucket, fn in ((names.input_bucket, "trigger"), (names.output_bucket, "stop_ec2")):
            wired = buckets.bucket_exists(settings, bucket) and bool(client("s3", settings)
                .get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations"))
            reports.append(_planned(wired, "s3 notification", f"{bucket} -> {names.function(fn)}"))
        reports.append(_planned(_exists(lambda: client("events", settings).describe_rule(Name=names.reaper_rule)),
                                "schedule rule", names.reaper_rule))
    if part in ("backend", "all"):
        for layer in names.layers:
            has = bool(lam.list_layer_versions(LayerName=layer).get("LayerVersions"))
            reports.append(_planned(has, "lambda layer", layer))
        reports.append(_planned(_exists(lambda: lam.get_function_configuration(
            FunctionName=names.predict_function)), "lambda function", names.predict_function))
        apis = client("apigateway", settings).get_rest_apis(limit=500).get("items", [])
        reports.append(_planned(any(a["name"] == names.api_name for a in apis), "rest api", names.api_name))
    for r in reports:
        progress(f"  {'would create' if r.action == 'planned' else 'exists      '} {r.kind:<16} {r.name}")
    for line in cost_lines(settings):
        progress(line)
    n = sum(r.action == "planned" for r in reports)
    progress(f"plan: {n} to create, {len(reports) - n} already in place; nothing was created")
    return reports


def cost_lines(settings: Settings) -> list:
    price = settings.instance_hourly_usd
    inst = (f"${price:.4f}/h ({settings.instance_type} on-demand, us-east-1 price) only while training;"
            " stopped, it costs only its 8 GB gp3 volume (~$0.64/month)"
            if price else f"{settings.instance_type}: price unknown, see the EC2 pricing page")
    return [
        "estimated cost (aws):",
        f"  training instance  {inst}",
        "  S3, Lambda, API Gateway, EventBridge, CloudWatch Logs: pennies a month at class scale",
        "  (the reaper's 1-minute schedule is ~43,000 short invocations a month, inside the free tier)",
    ]


__all__ = ["deploy", "plan_deploy", "deploy_glue", "deploy_backend", "function_env", "cost_lines",
           "PARTS"]
