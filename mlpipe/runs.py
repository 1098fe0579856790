"""Run records (``runs/<run_id>.json`` in the output bucket), set-aside files, and the
asynchronous invocations that failed for good (the stack's failure queue, ``mlpipe.queues``).

``list_runs`` adds to every record ``duration_seconds`` and ``cost_usd``: the run's
instance time (``instance_seconds`` when the record has it, else finished - started)
times the instance's on-demand hourly price. Locally that cost is what the run *would*
have cost on AWS.
"""
from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import ClientError

from .clients import is_not_found
from .queues import list_failures


def _parse_time(value) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def enrich(record: dict, hourly_usd: float | None) -> dict:
    """The record plus ``duration_seconds`` and ``cost_usd`` (None when unknown)."""
    out = dict(record)
    start, end = _parse_time(record.get("started_at")), _parse_time(record.get("finished_at"))
    duration = (end - start).total_seconds() if start and end else None
    out["duration_seconds"] = round(duration, 3) if duration is not None else None
    seconds = record.get("instance_seconds")
    if not isinstance(seconds, (int, float)):
        seconds = duration
    out["cost_usd"] = round(seconds * hourly_usd / 3600.0, 6) if seconds is not None and hourly_usd else None
    return out


def list_runs(stack) -> list:
    """Every run record, oldest first (by ``started_at``), enriched with duration and cost."""
    settings, names = stack.settings, stack.names
    s3 = stack.client("s3")
    records = []
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(
            Bucket=names.output_bucket, Prefix=names.runs_prefix))
    except ClientError as exc:
        if is_not_found(exc):
            return []
        raise
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(names.runs_suffix):
                continue
            body = s3.get_object(Bucket=names.output_bucket, Key=key)["Body"].read()
            try:
                record = json.loads(body)
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                record = {"run_id": key.rsplit("/", 1)[-1][:-5], "status": "unreadable",
                          "error": f"{key}: not a JSON run record ({exc})"}
            record.setdefault("run_id", key.rsplit("/", 1)[-1][:-5])
            records.append(enrich(record, settings.instance_hourly_usd))
    records.sort(key=lambda r: (str(r.get("started_at") or ""), str(r.get("run_id"))))
    return records


def list_rejected(stack) -> list:
    """Files set aside after failing validation: ``[{key, size, last_modified}]``."""
    names = stack.names
    s3 = stack.client("s3")
    out = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=names.input_bucket, Prefix=names.rejected_prefix):
            for obj in page.get("Contents", []):
                out.append({"key": obj["Key"], "size": obj["Size"],
                            "last_modified": obj["LastModified"].isoformat()})
    except ClientError as exc:
        if is_not_found(exc):
            return []
        raise
    return sorted(out, key=lambda o: o["key"])


def format_runs(runs: list) -> str:
    """The run records as a text table."""
    if not runs:
        return "no runs yet (upload data with `mlpipe upload-data FILE.csv`)"
    head = f"{'run_id':<34} {'status':<10} {'version':<8} {'inputs':>6} {'f1':>6} {'roc_auc':>7} {'secs':>7} {'cost $':>9}  error"
    lines = [head, "-" * len(head)]
    for r in runs:
        m = r.get("metrics") or {}
        f1 = f"{m['f1']:.3f}" if isinstance(m.get("f1"), (int, float)) else "-"
        auc = f"{m['roc_auc']:.3f}" if isinstance(m.get("roc_auc"), (int, float)) else "-"
        secs = f"{r['duration_seconds']:.1f}" if r.get("duration_seconds") is not None else "-"
        cost = f"{r['cost_usd']:.6f}" if r.get("cost_usd") is not None else "-"
        err = (r.get("error") or "")
        err = err if len(err) <= 70 else err[:67] + "..."
        lines.append(f"{str(r.get('run_id')):<34} {str(r.get('status')):<10} {str(r.get('model_version') or '-'):<8} "
                     f"{len(r.get('inputs') or []):>6} {f1:>6} {auc:>7} {secs:>7} {cost:>9}  {err}")
    return "\n".join(lines)


def failed_invocations(stack) -> list:
    """Asynchronous invocations (trigger, worker, stop_ec2) that failed after Lambda's retries:
    ``[{function, condition, attempts, keys, error, timestamp, request_id}]``, oldest first."""
    return list_failures(stack)


def format_failures(failures: list) -> str:
    if not failures:
        return ""
    lines = ["failed invocations (on the failure queue; their uploads were not trained):"]
    for f in failures:
        keys = ", ".join(f.get("keys") or []) or "-"
        lines.append(f"  {f.get('timestamp') or '-'}  {f.get('function') or '?'}  {f.get('condition') or '-'}"
                     f"  keys: {keys}  error: {(f.get('error') or '-')[:120]}")
    return "\n".join(lines)
