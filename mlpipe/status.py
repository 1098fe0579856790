"""``mlpipe status`` and ``mlpipe outputs``: what the stack is and where it stands."""
from __future__ import annotations

import json

from botocore.exceptions import ClientError

from . import functions, instance
from .clients import client
from .config import Settings
from .names import Names, names_for
from .runs import list_rejected, list_runs


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def current_model(settings: Settings, names: Names) -> dict | None:
    """``models/latest.json`` (version, model_key, metrics, promoted_at) or None."""
    try:
        body = client("s3", settings).get_object(Bucket=names.output_bucket, Key=names.latest_key)["Body"].read()
    except ClientError as exc:
        if _code(exc) in ("NoSuchKey", "NoSuchBucket", "404"):
            return None
        raise
    return json.loads(body)


def outputs(settings: Settings, names: Names | None = None) -> dict:
    """The stack's outputs (ARCHITECTURE "Targets"); None for what is not deployed."""
    names = names or names_for(settings)
    from .buckets import bucket_exists

    inst = instance.find_instance(settings, names)
    fns = {fn: (names.function(fn) if functions.function_arn(settings, names.function(fn)) else None)
           for fn in ("trigger", "worker", "stop_ec2", "reaper", "predict")}
    from .api import backend_outputs

    return {
        "target": settings.target,
        "region": settings.region,
        "stack": settings.stack,
        "account_id": names.account_id,
        "endpoint_url": settings.endpoint_url,
        "input_bucket": names.input_bucket if bucket_exists(settings, names.input_bucket) else None,
        "output_bucket": names.output_bucket if bucket_exists(settings, names.output_bucket) else None,
        "instance_id": inst["InstanceId"] if inst else None,
        "functions": fns,
        **backend_outputs(settings, names),  # api_id, api_url, api_key
    }


def mask(secret: str | None) -> str | None:
    """Show a secret's first 4 characters only."""
    if not secret:
        return secret
    return secret[:4] + "*" * max(4, len(secret) - 4) if len(secret) > 4 else "****"


def status(settings: Settings, names: Names | None = None, *, last: int = 5) -> dict:
    """Instance state, the last runs, the current model and the set-aside files."""
    names = names or names_for(settings)
    inst = instance.find_instance(settings, names)
    runs = list_runs(settings, names)
    return {
        "instance": ({"id": inst["InstanceId"], "state": inst["State"]["Name"],
                      "type": inst.get("InstanceType")} if inst else None),
        "runs_total": len(runs),
        "last_runs": runs[-last:],
        "current_model": current_model(settings, names),
        "rejected": list_rejected(settings, names),
    }


def format_status(st: dict) -> str:
    from .runs import format_runs

    lines = []
    inst = st["instance"]
    lines.append(f"instance: {inst['id']} {inst['state']} ({inst['type']})" if inst
                 else "instance: none (run `mlpipe deploy`)")
    model = st["current_model"]
    if model:
        m = model.get("metrics") or {}
        shown = ", ".join(f"{k}={m[k]:.3f}" for k in ("accuracy", "f1", "roc_auc")
                          if isinstance(m.get(k), (int, float)))
        lines.append(f"current model: {model.get('version')} ({shown}) promoted {model.get('promoted_at')}")
    else:
        lines.append("current model: none yet")
    lines.append(f"runs: {st['runs_total']} (last {len(st['last_runs'])} below)")
    lines.append(format_runs(st["last_runs"]))
    if st["rejected"]:
        lines.append("set aside (failed validation): " + ", ".join(r["key"] for r in st["rejected"]))
    return "\n".join(lines)
