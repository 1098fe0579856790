"""Runs: ids, the SSM command that carries one, its statuses, and run records."""
from __future__ import annotations

import json
import re
import secrets
from urllib.parse import unquote_plus

from . import keys, times

PIPELINE_COMMENT = "mlpipe training"
COMMENT_MAX = 100  # SSM's limit on a command's Comment
# Pending/InProgress: will still run or runs; Delayed: retried by SSM; Cancelling: not over yet.
ACTIVE_STATUSES = ("Pending", "InProgress", "Delayed", "Cancelling")
BAD_END_STATUSES = ("TimedOut", "Failed", "Cancelled", "DeliveryTimedOut", "Undeliverable", "Terminated")
STATUSES = ("succeeded", "failed", "rejected")
SOURCES = ("training", "worker", "reaper", "run_training.sh")
RUN_ID_RE = re.compile(r"run-\d{8}T\d{6}Z-[0-9a-f]{8}")


def new_run_id(now=None) -> str:
    """``run-<YYYYmmddTHHMMSSZ>-<8 hex>`` (docs/CONTRACTS.md)."""
    return f"run-{(now or times.utcnow()).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def command_comment(run_id: str, trigger_keys) -> str:
    """``mlpipe training <run_id>: <keys>``, cut to SSM's 100 characters."""
    text = f"{PIPELINE_COMMENT} {run_id}: {' '.join(trigger_keys) or '-'}"
    return text if len(text) <= COMMENT_MAX else text[:COMMENT_MAX - 3] + "..."


def is_pipeline_command(command: dict) -> bool:
    return (command.get("Comment") or "").startswith(PIPELINE_COMMENT)


def run_id_of(command: dict) -> str | None:
    """The run id in a pipeline command's Comment."""
    m = RUN_ID_RE.search(command.get("Comment") or "")
    return m.group(0) if m else None


def is_active(command: dict) -> bool:
    return command.get("Status") in ACTIVE_STATUSES


def pipeline_commands(ssm, instance_id: str) -> list:
    """This pipeline's SSM commands on the instance, every page (newest first, as SSM lists)."""
    out, kwargs = [], {"InstanceId": instance_id}
    while True:
        resp = ssm.list_commands(**kwargs)
        out += [c for c in resp.get("Commands", []) if is_pipeline_command(c)]
        if not resp.get("NextToken"):
            return out
        kwargs["NextToken"] = resp["NextToken"]


def command_env(command: dict, name: str) -> str | None:
    """The value a pipeline command exports as ``name`` (the worker's ``export K=V`` lines)."""
    for line in (command.get("Parameters") or {}).get("commands") or []:
        if line.startswith(f"export {name}="):
            value = line[len(f"export {name}="):]
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1].replace("'\"'\"'", "'")
            return value
    return None


def s3_records(event: dict) -> list:
    """``[(bucket, key, etag)]`` of an S3 notification, keys URL-decoded as S3 encodes them."""
    out = []
    for r in event.get("Records") or []:
        s3 = r.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        obj = s3.get("object") or {}
        if bucket and "key" in obj:
            out.append((bucket, unquote_plus(obj["key"]), obj.get("eTag")))
    return out


def build_record(run_id: str, status: str, *, started_at: str, finished_at: str | None = None, inputs=(),
                 model_version: str | None = None, metrics: dict | None = None, error: str | None = None,
                 **extra) -> dict:
    """A run record with every field of the contract (ARCHITECTURE "Continuous training"),
    plus ``extra`` fields (instance_id, timings, promoted, source, ...)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    record = {
        "run_id": run_id, "status": status, "started_at": started_at,
        "finished_at": finished_at or times.iso(), "inputs": list(inputs), "model_version": model_version,
        "metrics": dict(metrics or {}), "error": error,
    }
    record.update(extra)
    return record


def failed_record(run_id: str, *, source: str, error: str, started_at: str | None = None,
                  instance_id: str | None = None, trigger_keys=(), inputs=(), **extra) -> dict:
    """The ``failed`` record the worker, the reaper and the instance's exit trap write."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return build_record(
        run_id, "failed", started_at=started_at or times.iso(), inputs=inputs, error=error,
        **{"instance_id": instance_id, "trigger_keys": list(trigger_keys), "timings": {}, "promoted": False,
           "previous_version": None, "rejected_files": [], "source": source, **extra},
    )


def _json_default(value):
    if hasattr(value, "tolist"):  # numpy scalars and arrays, without importing numpy
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(obj) -> bytes:
    return json.dumps(obj, indent=2, default=_json_default).encode("utf-8")


def write_record(s3, bucket: str, record: dict) -> str:
    """Write ``runs/<run_id>.json`` (its arrival fires Stop-EC2); returns the key."""
    key = keys.record_key(record["run_id"])
    s3.put_object(Bucket=bucket, Key=key, Body=dumps(record), ContentType="application/json")
    return key


def record_exists(s3, bucket: str, run_id: str) -> bool:
    from .aws import object_exists

    return object_exists(s3, bucket, keys.record_key(run_id))
