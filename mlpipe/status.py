"""``mlpipe status`` and ``mlpipe outputs``: what the stack is and where it stands."""
from __future__ import annotations

from . import functions, instance
from .api import backend_outputs
from .buckets import bucket_exists
from .names import FUNCTION_KEYS
from .registry import latest_pointer
from .runs import failed_invocations, list_rejected, list_runs


def outputs(stack) -> dict:
    """The stack's outputs (ARCHITECTURE "Targets"); None for what is not deployed."""
    settings, names = stack.settings, stack.names
    inst = instance.find_instance(stack)
    fns = {fn: (names.function(fn) if functions.function_arn(stack, names.function(fn)) else None)
           for fn in FUNCTION_KEYS}
    return {
        "target": settings.target,
        "region": settings.region,
        "stack": settings.stack,
        "account_id": names.account_id,
        "endpoint_url": settings.endpoint_url,
        "input_bucket": names.input_bucket if bucket_exists(stack, names.input_bucket) else None,
        "output_bucket": names.output_bucket if bucket_exists(stack, names.output_bucket) else None,
        "instance_id": inst["InstanceId"] if inst else None,
        "functions": fns,
        **backend_outputs(stack),  # api_id, api_url, api_key
    }


def mask(secret: str | None) -> str | None:
    """Show a secret's first 4 characters only."""
    if not secret:
        return secret
    return secret[:4] + "*" * max(4, len(secret) - 4) if len(secret) > 4 else "****"


def status(stack, *, last: int = 5) -> dict:
    """Instance state, the last runs, the current model, the set-aside files and failed invocations."""
    inst = instance.find_instance(stack)
    runs = list_runs(stack)
    return {
        "instance": ({"id": inst["InstanceId"], "state": inst["State"]["Name"],
                      "type": inst.get("InstanceType")} if inst else None),
        "runs_total": len(runs),
        "last_runs": runs[-last:],
        "current_model": latest_pointer(stack),
        "rejected": list_rejected(stack),
        "failed_invocations": failed_invocations(stack),
    }


def format_status(st: dict) -> str:
    from .runs import format_failures, format_runs

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
    if st.get("failed_invocations"):
        lines.append(format_failures(st["failed_invocations"]))
    return "\n".join(lines)
