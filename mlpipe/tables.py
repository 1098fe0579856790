"""Tables for the notebooks: what a step did, the run records, a bucket's contents.

Plain pandas DataFrames, so a notebook cell shows them as HTML and a reader can
sort or filter them. pandas is an operator-side dependency only (never in a layer).
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from .clients import client
from .config import Settings


def reports_table(reports: Iterable) -> pd.DataFrame:
    """One row per ``Report`` (action, kind, name) of an ensure/delete step."""
    rows = [{"action": r.action, "kind": r.kind, "name": r.name,
             "note": r.details.get("reason") or ", ".join(r.details.get("changes") or [])}
            for r in reports]
    return pd.DataFrame(rows, columns=["action", "kind", "name", "note"])


def runs_table(runs: Iterable[dict]) -> pd.DataFrame:
    """The run records as a table: status, version, inputs, holdout metrics, cost. The metric
    columns are the task's (roc_auc, accuracy, f1 for the default dataset; rmse, mae, r2 for
    values): those any run has."""
    runs = list(runs)
    metrics = [k for k in ("roc_auc", "accuracy", "f1", "f1_macro", "rmse", "mae", "r2")
               if any((r.get("metrics") or {}).get(k) is not None for r in runs)] or ["roc_auc", "accuracy", "f1"]
    if "roc_auc" in metrics and "f1_macro" in metrics:
        metrics.remove("f1_macro")  # binary: the default's three
    rows = []
    for r in runs:
        m = r.get("metrics") or {}
        rows.append({
            "run_id": r.get("run_id"),
            "status": r.get("status"),
            "model_version": r.get("model_version"),
            "files": len(r.get("inputs") or []),
            **{k: m.get(k) for k in metrics},
            "seconds": r.get("duration_seconds"),
            "cost_usd": r.get("cost_usd"),
            "error": r.get("error"),
        })
    return pd.DataFrame(rows, columns=["run_id", "status", "model_version", "files", *metrics,
                                       "seconds", "cost_usd", "error"])


def bucket_table(settings: Settings, bucket: str, prefix: str = "") -> pd.DataFrame:
    """Keys, sizes and times of a bucket's objects (under ``prefix``)."""
    s3 = client("s3", settings)
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rows.append({"key": obj["Key"], "bytes": obj["Size"], "last_modified": obj["LastModified"]})
    return pd.DataFrame(rows, columns=["key", "bytes", "last_modified"])
