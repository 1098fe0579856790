"""The model registry in the output bucket: versions ``models/vNNN/``, the pointer
``models/latest.json``, and seeding a first model when none is promoted.

The training instance writes versions and moves the pointer (``ec2_scripts``); the operator
side reads them (``mlpipe status``, notebooks) and, for a backend deployed before any
training run, seeds one: ``seed_model_if_missing`` trains what notebook 01 trains
(``settings.model_kind`` on all arrival batches, evaluated on the fixed holdout) with its
verified serving export, uploads it as the next free version (never overwriting one) and
writes the pointer last, so the predict function only ever sees a pointer to a complete
model. A pointer without a serving export (written before exports existed) is replaced.
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone

from .clients import get_or_none
from .report import Report

PROMOTED_MARKER = "promoted.json"  # as ec2_scripts/train_run.py writes it: models/<v>/promoted.json

METRIC_KEYS = ("accuracy", "precision", "recall", "f1", "f1_macro", "roc_auc", "rmse", "mae", "r2")



def versions(stack) -> list:
    """The version names under ``models/`` (``v001``, ...), oldest first."""
    s3, names = stack.client("s3"), stack.names
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=names.output_bucket, Prefix=names.models_prefix, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            part = cp["Prefix"][len(names.models_prefix):].strip("/")
            if part.startswith("v") and part[1:].isdigit():
                found.append(part)
    return sorted(found, key=lambda v: int(v[1:]))


def next_version(stack) -> str:
    have = versions(stack)
    return f"v{(int(have[-1][1:]) if have else 0) + 1:03d}"


def latest_pointer(stack) -> dict | None:
    """``models/latest.json`` (version, model_key, metrics, promoted_at), or None when no model
    is promoted (or the bucket does not exist)."""
    got = get_or_none(stack.client("s3").get_object, Bucket=stack.names.output_bucket,
                      Key=stack.names.latest_key)
    return json.loads(got["Body"].read()) if got else None




def seed_model_if_missing(stack) -> Report:
    """Make sure a model is promoted: train and upload one when ``models/latest.json`` is absent."""
    settings, names = stack.settings, stack.names
    pointer = latest_pointer(stack)
    if pointer is not None and pointer.get("export"):  # a pointer without a serving export cannot be served
        return Report("found", "model", pointer.get("version", "?"),
                      details={"model_key": pointer.get("model_key")})
    from model_code import artifacts, tabular
    from model_code.spec import MODEL_KINDS
    from model_code.table import concat, parse_table

    from .datasets import spec_of, write_split

    spec = spec_of(settings)
    kind = settings.model_kind if settings.model_kind in MODEL_KINDS[spec.task] else spec.model_kind
    s3 = stack.client("s3")
    bucket = names.output_bucket
    version = next_version(stack)
    stack.say(f"no model promoted yet: training {kind} on {spec.name} as {version}")

    def read(path):
        with open(path, "rb") as fh:
            return parse_table(fh.read(), spec, os.path.basename(path))

    with tempfile.TemporaryDirectory(prefix="mlpipe-seed-") as tmp:
        files = write_split(spec, os.path.join(tmp, "data"))
        data, holdout = concat([read(p) for p in files["batches"]]), read(files["holdout"])
        fitted = tabular.fit(spec, data, kind=kind)
        metrics = tabular.evaluate(spec, fitted, holdout)
        paths = tabular.save(fitted, os.path.join(tmp, "model"), version=version, metrics=metrics,
                             inputs=files["batches"], extra={"seeded_by": "mlpipe deploy --part backend"},
                             holdout=holdout)
        prefix = f"{names.models_prefix}{version}/"
        served = artifacts.pointer_fields(paths, prefix)  # raises when the export did not verify
        for path in sorted(set(paths.values())):
            s3.upload_file(path, bucket, prefix + os.path.basename(path))
    model_key = prefix + artifacts.MODEL_FILE
    pointer = {
        "version": version,
        "model_key": model_key,
        "metrics": {k: metrics[k] for k in METRIC_KEYS if k in metrics},
        "task": spec.task,
        "dataset": spec.to_dict(),
        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **served,
    }
    # the promotion marker first (as a training run writes it): the gate compares every later
    # model with every promoted one, the seeded model included
    s3.put_object(Bucket=bucket, Key=prefix + PROMOTED_MARKER, Body=json.dumps(pointer, indent=2).encode(),
                  ContentType="application/json")
    s3.put_object(Bucket=bucket, Key=names.latest_key, Body=json.dumps(pointer, indent=2).encode(),
                  ContentType="application/json")
    return Report("created", "model", version, details={"model_key": model_key, "accuracy": metrics.get("accuracy")})
