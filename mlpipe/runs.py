"""Run records (``runs/<run_id>.json`` in the output bucket) and set-aside files.

``list_runs`` adds to every record ``duration_seconds`` and ``cost_usd``: the run's
instance time (``instance_seconds`` when the record has it, else finished - started)
times the instance's on-demand hourly price. Locally that cost is what the run *would*
have cost on AWS.
"""
from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import ClientError

from .clients import client
from .config import Settings
from .names import Names, names_for


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


def list_runs(settings: Settings, names: Names | None = None) -> list:
    """Every run record, oldest first (by ``started_at``), enriched with duration and cost."""
    names = names or names_for(settings)
    s3 = client("s3", settings)
    records = []
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(
            Bucket=names.output_bucket, Prefix=names.runs_prefix))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
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


def list_rejected(settings: Settings, names: Names | None = None) -> list:
    """Files set aside after failing validation: ``[{key, size, last_modified}]``."""
    names = names or names_for(settings)
    s3 = client("s3", settings)
    out = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=names.input_bucket, Prefix=names.rejected_prefix):
            for obj in page.get("Contents", []):
                out.append({"key": obj["Key"], "size": obj["Size"],
                            "last_modified": obj["LastModified"].isoformat()})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
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
