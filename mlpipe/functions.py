"""Lambda functions: what each function is (``SPECS``, ``function_env``), its deterministic zip,
created or updated only when the code or the configuration changed, its asynchronous-invoke
configuration (retries, on-failure destination), and the permissions that let S3, EventBridge
and API Gateway invoke it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from layer_build import zipdet

from .clients import delete_if_present, error_code, get_or_none
from .config import MlpipeError
from .names import GLUE_FUNCTIONS
from .report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_CODE = REPO_ROOT / "lambda_code"
# The shared contract, bundled at the root of every glue function's zip (as Chalice bundles
# chalicelib/): the handlers import it as a top-level package.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips must go through S3
HANDLER = "handler.handler"


@dataclass(frozen=True)
class FunctionSpec:
    timeout: int | None      # seconds; None: derived from the settings (the worker)
    memory: int              # MB
    # Asynchronous invokes (S3 events, the trigger's invoke of the worker): Lambda's retries
    # (0-2) and whether failures land on the stack's failure queue.
    async_retries: int | None = None
    on_failure: bool = False


# Timeouts and memory per function. The worker waits for the instance to take commands
# (READY_TIMEOUT) and must outlive that wait; Lambda's maximum is 900 s. The worker records
# its own failures (a failed run record): a retry would only wait READY_TIMEOUT again and
# write a second record, so it is not retried. trigger and stop_ec2 keep Lambda's 2 retries.
SPECS = {
    "trigger": FunctionSpec(30, 128, async_retries=2, on_failure=True),
    "worker": FunctionSpec(None, 128, async_retries=0, on_failure=True),
    "stop_ec2": FunctionSpec(60, 128, async_retries=2, on_failure=True),
    "reaper": FunctionSpec(60, 128),
    "predict": FunctionSpec(30, 1024),
}
ASYNC_FUNCTIONS = tuple(fn for fn, spec in SPECS.items() if spec.on_failure)


def function_timeout(settings, fn: str) -> int:
    spec = SPECS[fn].timeout
    if spec is None:  # worker
        return int(min(900, settings.ready_timeout_seconds + 60))
    return spec


def function_env(stack, fn: str, instance_id: str | None = None) -> dict:
    """Environment variables of a function (docs/CONTRACTS.md), as strings."""
    settings, names = stack.settings, stack.names
    if fn in GLUE_FUNCTIONS and not instance_id:
        raise MlpipeError(f"the {fn} function needs the instance id")
    env = {
        "trigger": lambda: {"INSTANCE_ID": instance_id, "WORKER_FUNCTION": names.worker_function},
        "worker": lambda: {
            "INSTANCE_ID": instance_id,
            "INPUT_BUCKET": names.input_bucket,
            "OUTPUT_BUCKET": names.output_bucket,
            "CODE_KEY": names.code_key,
            "COMMAND_TIMEOUT": settings.command_timeout_seconds,
            "READY_TIMEOUT": settings.ready_timeout_seconds,
            "PROMOTION_TOLERANCE": settings.promotion_tolerance,
            "MODEL_KIND": settings.model_kind,
        },
        "stop_ec2": lambda: {"INSTANCE_ID": instance_id, "INPUT_BUCKET": names.input_bucket,
                             "WORKER_FUNCTION": names.worker_function},
        "reaper": lambda: {"INSTANCE_ID": instance_id, "OUTPUT_BUCKET": names.output_bucket,
                           "WORKER_FUNCTION": names.worker_function,  # re-runs a lost run's data once
                           "IDLE_GRACE_SECONDS": settings.idle_grace_seconds},
        "predict": lambda: {"OUTPUT_BUCKET": names.output_bucket,
                            "MODEL_REFRESH_SECONDS": settings.model_refresh_seconds,
                            "MAX_ROWS": settings.max_rows},
    }[fn]()
    return {k: str(v) for k, v in env.items()}


def source_dir(fn: str) -> Path:
    path = LAMBDA_CODE / fn
    if not (path / "handler.py").is_file():
        raise MlpipeError(f"lambda_code/{fn}/handler.py is missing: the {fn} function cannot be deployed")
    return path


# --- the zip ---------------------------------------------------------------------------------

def build_zip(source: Path | str) -> bytes:
    """The deterministic zip of a function folder (zipdet's one exclude list: no events/, tests,
    caches); a function that imports ``glue_contract`` (all five) also gets ``glue_contract/`` at
    the zip's root, as Chalice bundles ``chalicelib/``."""
    source = Path(source)
    if not (source / "handler.py").is_file():
        raise MlpipeError(f"{source} has no handler.py: nothing to deploy")
    return zipdet.zip_bytes(zipdet.function_files(source))


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# --- find / ensure / delete ------------------------------------------------------------------

def wait_until_ready(stack, name: str, *, timeout: float = 300) -> dict:
    """Wait until the function is Active and no update is in progress."""
    lam = stack.client("lambda")
    t0 = time.monotonic()
    while True:
        cfg = lam.get_function_configuration(FunctionName=name)
        state, last = cfg.get("State", "Active"), cfg.get("LastUpdateStatus", "Successful")
        if state == "Failed" or last == "Failed":
            raise MlpipeError(f"function {name} failed to deploy: "
                              f"{cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
        if state == "Active" and last in ("Successful", None):
            return cfg
        if time.monotonic() - t0 > timeout:
            raise MlpipeError(f"function {name} still {state}/{last} after {timeout:.0f}s")
        time.sleep(1.0 if stack.is_aws else 0.1)


def _with_role_retry(stack, call, **kwargs):
    """A new role is not assumable by Lambda for a few seconds on aws: retry that error."""
    # ~45 s on aws; 15 s on the local cloud (its --like-aws profile delays a new role by 8 s).
    attempts, delay = (15, 3.0) if stack.is_aws else (60, 0.25)
    for attempt in range(1, attempts + 1):
        try:
            return call(**kwargs)
        except ClientError as exc:
            msg = str(exc).lower()
            propagating = error_code(exc) == "InvalidParameterValueException" and (
                "cannot be assumed" in msg or "role" in msg and "assume" in msg)
            if not propagating or attempt == attempts:
                raise
            stack.say(f"  role not assumable yet, retrying ({attempt}/{attempts})")
            time.sleep(delay)


def _code_args(stack, name: str, data: bytes) -> dict:
    if len(data) <= DIRECT_UPLOAD_LIMIT:
        return {"ZipFile": data}
    bucket, key = stack.names.input_bucket, f"code/lambda/{name}.zip"
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=data)
    return {"S3Bucket": bucket, "S3Key": key}


def configuration(stack, name: str) -> dict | None:
    return get_or_none(stack.client("lambda").get_function_configuration, FunctionName=name)


def ensure_function(stack, name: str, source: Path | str, role_arn: str, env: dict, layers=(),
                    timeout: int = 60, memory: int = 256, handler: str = HANDLER,
                    runtime: str | None = None) -> Report:
    """Create the function, or update its code/configuration where they differ."""
    lam = stack.client("lambda")
    data = build_zip(source)
    sha = code_sha256(data)
    tags = stack.names.tags
    wanted = {
        "Role": role_arn, "Handler": handler, "Runtime": runtime or stack.settings.lambda_runtime,
        "Timeout": int(timeout), "MemorySize": int(memory),
        "Environment": {"Variables": {k: str(v) for k, v in env.items()}}, "Layers": list(layers),
    }
    current = configuration(stack, name)
    if current is None:
        made = _with_role_retry(stack, lam.create_function, FunctionName=name,
                                Code=_code_args(stack, name, data), Publish=False,
                                Description=f"mlpipe {name}", Tags=tags, **wanted)
        wait_until_ready(stack, name)
        return Report("created", "lambda function", name, made["FunctionArn"], {"code_sha256": sha})

    changes = []
    have = {
        "Role": current.get("Role"), "Handler": current.get("Handler"), "Runtime": current.get("Runtime"),
        "Timeout": current.get("Timeout"), "MemorySize": current.get("MemorySize"),
        "Environment": {"Variables": (current.get("Environment") or {}).get("Variables", {})},
        "Layers": [lay["Arn"] for lay in current.get("Layers", [])],
    }
    diff = [k for k in wanted if wanted[k] != have[k]]
    if diff:
        wait_until_ready(stack, name)
        _with_role_retry(stack, lam.update_function_configuration, FunctionName=name, **wanted)
        wait_until_ready(stack, name)
        changes.extend(k.lower() for k in diff)
    if current.get("CodeSha256") != sha:
        wait_until_ready(stack, name)
        lam.update_function_code(FunctionName=name, **_code_args(stack, name, data))
        wait_until_ready(stack, name)
        changes.append("code")
    arn = current["FunctionArn"]
    have_tags = lam.list_tags(Resource=arn).get("Tags", {})
    if any(have_tags.get(k) != v for k, v in tags.items()):
        lam.tag_resource(Resource=arn, Tags=tags)
        changes.append("tags")
    return Report("updated" if changes else "found", "lambda function", name, arn,
                  {"changes": changes, "code_sha256": sha})


def ensure(stack, fn: str, role_arn: str, *, instance_id: str | None = None, layers=()) -> Report:
    """The stack's function ``fn`` as SPECS and ``function_env`` describe it."""
    spec = SPECS[fn]
    return ensure_function(stack, stack.names.function(fn), source_dir(fn), role_arn,
                           function_env(stack, fn, instance_id), layers=layers,
                           timeout=function_timeout(stack.settings, fn), memory=spec.memory)


def ensure_async_config(stack, fn: str, failure_queue_arn: str | None) -> Report:
    """Asynchronous invokes of ``fn``: SPECS' retries, and failures sent to the failure queue."""
    spec = SPECS[fn]
    name = stack.names.function(fn)
    lam = stack.client("lambda")
    wanted = {"MaximumRetryAttempts": int(spec.async_retries if spec.async_retries is not None else 2)}
    if spec.on_failure and failure_queue_arn:
        wanted["DestinationConfig"] = {"OnFailure": {"Destination": failure_queue_arn}}
    current = get_or_none(lam.get_function_event_invoke_config, FunctionName=name)
    have = None
    if current is not None:
        have = {"MaximumRetryAttempts": current.get("MaximumRetryAttempts")}
        dest = ((current.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if dest:
            have["DestinationConfig"] = {"OnFailure": {"Destination": dest}}
    details = {"max_retries": wanted["MaximumRetryAttempts"],
               "on_failure": failure_queue_arn if "DestinationConfig" in wanted else None}
    if have == wanted:
        return Report("found", "async invoke config", name, None, details)
    lam.put_function_event_invoke_config(FunctionName=name, **wanted)
    action = "updated" if current is not None else "created"
    return Report(action, "async invoke config", name, None,
                  {**details, "changes": ["retries/destination"]} if current is not None else details)


def _statement_ids(stack, function: str) -> dict:
    got = get_or_none(stack.client("lambda").get_policy, FunctionName=function)
    if got is None:
        return {}
    return {s.get("Sid"): s for s in json.loads(got["Policy"]).get("Statement", [])}


def ensure_permission(stack, function: str, statement_id: str, principal: str,
                      source_arn: str, source_account: str | None = None) -> Report:
    """Let ``principal`` invoke ``function`` from ``source_arn`` (idempotent by statement id)."""
    lam = stack.client("lambda")
    existing = _statement_ids(stack, function)
    if statement_id in existing:
        if source_arn in json.dumps(existing[statement_id]):
            return Report("found", "lambda permission", f"{function}/{statement_id}")
        lam.remove_permission(FunctionName=function, StatementId=statement_id)
        action = "updated"
    else:
        action = "created"
    kwargs = dict(FunctionName=function, StatementId=statement_id, Action="lambda:InvokeFunction",
                  Principal=principal, SourceArn=source_arn)
    if source_account:
        kwargs["SourceAccount"] = source_account
    try:
        lam.add_permission(**kwargs)
    except ClientError as exc:
        if error_code(exc) != "ResourceConflictException":
            raise
        return Report("found", "lambda permission", f"{function}/{statement_id}")
    return Report(action, "lambda permission", f"{function}/{statement_id}")


def ensure_s3_permission(stack, function: str, bucket: str) -> Report:
    """S3 may invoke ``function`` for events of ``bucket`` in this account only."""
    return ensure_permission(stack, function, f"s3-invoke-{bucket}"[:100], "s3.amazonaws.com",
                             stack.names.bucket_arn(bucket), stack.names.account_id)


def remove_permission(stack, function: str, statement_id: str) -> Report:
    if not delete_if_present(stack.client("lambda").remove_permission, FunctionName=function,
                             StatementId=statement_id):
        return Report("absent", "lambda permission", f"{function}/{statement_id}")
    return Report("deleted", "lambda permission", f"{function}/{statement_id}")


def function_arn(stack, name: str) -> str | None:
    cfg = configuration(stack, name)
    return cfg["FunctionArn"] if cfg else None


def find_functions(stack) -> list:
    """Function names of this stack: our names plus any ``<stack>-*`` tagged ``stack=<stack>``."""
    lam = stack.client("lambda")
    ours = set(stack.names.functions.values())
    found = set()
    for page in lam.get_paginator("list_functions").paginate():
        for f in page.get("Functions", []):
            name = f["FunctionName"]
            if name in ours:
                found.add(name)
            elif name.startswith(stack.names.stack + "-"):
                if lam.list_tags(Resource=f["FunctionArn"]).get("Tags", {}).get("stack") == stack.names.stack:
                    found.add(name)
    return sorted(found)


def leftovers(stack) -> list:
    return [f"lambda function {f}" for f in find_functions(stack)]


def delete_function(stack, name: str) -> Report:
    if not delete_if_present(stack.client("lambda").delete_function, FunctionName=name):
        return Report("absent", "lambda function", name)
    return Report("deleted", "lambda function", name)


def delete(stack) -> list:
    """Every function of the stack (their log groups are ``mlpipe.logs``')."""
    out = [delete_function(stack, fn) for fn in find_functions(stack)]
    return out or [Report("absent", "lambda function", f"{stack.names.stack}-*")]
