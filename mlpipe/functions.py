"""Lambda functions: deterministic zips of ``lambda_code/<fn>/``, created or updated only
when the code or the configuration changed, plus the permissions that let S3 and
EventBridge invoke them.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError

from .clients import client
from .config import MlpipeError, Settings
from .names import Names
from .report import Report
from .zips import deterministic_zip

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDA_CODE = REPO_ROOT / "lambda_code"
# The shared contract, bundled at the root of every glue function's zip (as Chalice bundles
# chalicelib/): the handlers import it as a top-level package.
GLUE_CONTRACT = REPO_ROOT / "glue_contract"
_EXCLUDED_DIRS = {"events", "tests", "__pycache__", ".pytest_cache"}
_EXCLUDED_SUFFIXES = (".pyc", ".pyo")
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # larger zips must go through S3


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _quiet(msg: str) -> None:
    pass


def _files(base: Path, prefix: str = "") -> list:
    files = []
    for path in base.rglob("*"):
        rel = path.relative_to(base)
        if any(p in _EXCLUDED_DIRS or p.startswith("test_") for p in rel.parts):
            continue
        if path.is_file() and not path.name.endswith(_EXCLUDED_SUFFIXES):
            files.append((prefix + rel.as_posix(), path))
    return files


def build_zip(source_dir: Path | str) -> bytes:
    """A deterministic zip of a function folder (no events/, tests, caches); a glue function
    (one that imports ``glue_contract``) also gets ``glue_contract/`` at the zip's root."""
    source_dir = Path(source_dir)
    if not (source_dir / "handler.py").is_file():
        raise MlpipeError(f"{source_dir} has no handler.py: nothing to deploy")
    files = _files(source_dir)
    if "glue_contract" in (source_dir / "handler.py").read_text():
        files += _files(GLUE_CONTRACT, "glue_contract/")
    return deterministic_zip(files)


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def wait_until_ready(settings: Settings, name: str, *, timeout: float = 300) -> dict:
    """Wait until the function is Active and no update is in progress."""
    lam = client("lambda", settings)
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
        time.sleep(1.0 if settings.is_aws else 0.1)


def _with_role_retry(settings: Settings, call, progress: Callable, **kwargs):
    """A new role is not assumable by Lambda for a few seconds on aws: retry that error."""
    # The same budget on both targets: `localcloud up --like-aws` has AWS's propagation delay.
    attempts = 15
    for attempt in range(1, attempts + 1):
        try:
            return call(**kwargs)
        except ClientError as exc:
            msg = str(exc).lower()
            propagating = _code(exc) == "InvalidParameterValueException" and (
                "cannot be assumed" in msg or "role" in msg and "assume" in msg)
            if not propagating or attempt == attempts:
                raise
            progress(f"  role not assumable yet, retrying ({attempt}/{attempts})")
            time.sleep(3 if settings.is_aws else 1.0)


def _code_args(settings: Settings, names: Names | None, name: str, data: bytes) -> dict:
    if len(data) <= DIRECT_UPLOAD_LIMIT:
        return {"ZipFile": data}
    if names is None:
        raise MlpipeError(f"{name}: zip is {len(data) / 1e6:.0f} MB, over the 50 MB direct upload "
                          "limit, and no bucket was given to upload it through")
    key = f"code/lambda/{name}.zip"
    client("s3", settings).put_object(Bucket=names.input_bucket, Key=key, Body=data)
    return {"S3Bucket": names.input_bucket, "S3Key": key}


def ensure_function(settings: Settings, name: str, source_dir: Path | str, role_arn: str, env: dict,
                    layers=(), timeout: int = 60, memory: int = 256, handler: str = "handler.handler",
                    runtime: str | None = None, *, tags: dict | None = None, names: Names | None = None,
                    progress: Callable = _quiet) -> Report:
    """Create the function, or update its code/configuration where they differ."""
    lam = client("lambda", settings)
    data = build_zip(source_dir)
    sha = code_sha256(data)
    env = {k: str(v) for k, v in env.items()}
    tags = tags or (names.tags if names else {})
    wanted = {
        "Role": role_arn, "Handler": handler, "Runtime": runtime or settings.lambda_runtime, "Timeout": int(timeout),
        "MemorySize": int(memory), "Environment": {"Variables": env}, "Layers": list(layers),
    }
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        current = None
    if current is None:
        made = _with_role_retry(
            settings, lam.create_function, progress,
            FunctionName=name, Code=_code_args(settings, names, name, data), Publish=False,
            Description=f"mlpipe {name}", Tags=tags, **wanted,
        )
        wait_until_ready(settings, name)
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
        wait_until_ready(settings, name)
        _with_role_retry(settings, lam.update_function_configuration, progress, FunctionName=name, **wanted)
        wait_until_ready(settings, name)
        changes.extend(k.lower() for k in diff)
    if current.get("CodeSha256") != sha:
        wait_until_ready(settings, name)
        lam.update_function_code(FunctionName=name, **_code_args(settings, names, name, data))
        wait_until_ready(settings, name)
        changes.append("code")
    arn = current["FunctionArn"]
    if tags:
        have_tags = lam.list_tags(Resource=arn).get("Tags", {})
        if any(have_tags.get(k) != v for k, v in tags.items()):
            lam.tag_resource(Resource=arn, Tags=tags)
            changes.append("tags")
    return Report("updated" if changes else "found", "lambda function", name, arn,
                  {"changes": changes, "code_sha256": sha})


def ensure_event_invoke_config(settings: Settings, name: str, max_retries: int) -> Report:
    """Asynchronous invokes of ``name`` are retried at most ``max_retries`` times (0-2;
    Lambda's default is 2). Replaces a different existing config."""
    if not 0 <= int(max_retries) <= 2:
        raise MlpipeError(f"{name}: MaximumRetryAttempts must be 0, 1 or 2, not {max_retries}")
    lam = client("lambda", settings)
    try:
        current = lam.get_function_event_invoke_config(FunctionName=name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        current = None
    details = {"max_retries": int(max_retries)}
    if current is not None and current.get("MaximumRetryAttempts") == int(max_retries):
        return Report("found", "async invoke config", name, None, details)
    if current is not None:
        lam.delete_function_event_invoke_config(FunctionName=name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=int(max_retries))
    return Report("updated" if current is not None else "created", "async invoke config", name, None,
                  {**details, "changes": ["max_retries"]} if current is not None else details)


def _statement_ids(settings: Settings, function: str) -> dict:
    lam = client("lambda", settings)
    try:
        policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return {}
        raise
    return {s.get("Sid"): s for s in policy.get("Statement", [])}


def ensure_permission(settings: Settings, function: str, statement_id: str, principal: str,
                      source_arn: str, source_account: str | None = None) -> Report:
    """Let ``principal`` invoke ``function`` from ``source_arn`` (idempotent by statement id)."""
    lam = client("lambda", settings)
    existing = _statement_ids(settings, function)
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
        if _code(exc) != "ResourceConflictException":
            raise
        return Report("found", "lambda permission", f"{function}/{statement_id}")
    return Report(action, "lambda permission", f"{function}/{statement_id}")


def ensure_s3_permission(settings: Settings, names: Names, function: str, bucket: str) -> Report:
    """S3 may invoke ``function`` for events of ``bucket`` in this account only."""
    return ensure_permission(settings, function, f"s3-invoke-{bucket}"[:100], "s3.amazonaws.com",
                             names.bucket_arn(bucket), names.account_id)


def function_arn(settings: Settings, name: str) -> str | None:
    try:
        return client("lambda", settings).get_function_configuration(FunctionName=name)["FunctionArn"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise


def delete_function(settings: Settings, name: str) -> Report:
    try:
        client("lambda", settings).delete_function(FunctionName=name)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return Report("absent", "lambda function", name)
        raise
    return Report("deleted", "lambda function", name)


def delete_log_group(settings: Settings, group: str) -> Report:
    try:
        client("logs", settings).delete_log_group(logGroupName=group)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return Report("absent", "log group", group)
        raise
    return Report("deleted", "log group", group)


def stack_functions(settings: Settings, names: Names) -> list:
    """Function names of this stack: our names plus any ``<stack>-*`` tagged ``stack=<stack>``."""
    lam = client("lambda", settings)
    ours = set(names.functions.values())
    found = set()
    for page in lam.get_paginator("list_functions").paginate():
        for f in page.get("Functions", []):
            name = f["FunctionName"]
            if name in ours:
                found.add(name)
            elif name.startswith(names.stack + "-"):
                if lam.list_tags(Resource=f["FunctionArn"]).get("Tags", {}).get("stack") == names.stack:
                    found.add(name)
    return sorted(found)


def source_dir(fn: str) -> Path:
    path = LAMBDA_CODE / fn
    if not (path / "handler.py").is_file():
        raise MlpipeError(f"lambda_code/{fn}/handler.py is missing: the {fn} function cannot be deployed")
    return path

