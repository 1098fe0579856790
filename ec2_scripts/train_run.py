"""One training run on the instance: every data/*.csv in, a model version and a run record out.

    python3 -m ec2_scripts.train_run --input-bucket IN --output-bucket OUT --run-id RUN \
        [--tolerance 0.0] [--model logreg|forest] [--instance-id I] [--trigger-keys "k1 k2"] \
        [--work-dir DIR]

Steps (ARCHITECTURE "Continuous training"):
1. list every ``data/*.csv`` of the input bucket (keys + ETags are the run's inputs),
   download them and ``holdout/holdout.csv``;
2. validate each with ``model_code.data.load_csv``; any invalid file fails the run: the
   record names the file and the problem, and the file is moved to ``rejected/`` (copied,
   then the original deleted: kept, never lost) so it does not poison later runs;
3. train (``model_code.train``), evaluate on the holdout, write
   ``models/<version>/model.joblib|metrics.json|model_card.json`` (next ``vNNN``) and the
   serving export (``model_export.json|.npz``, verified on the holdout within 1e-9);
4. promotion gate: the new model's holdout ``roc_auc`` must be >= the current one's minus
   the tolerance (no current model: promote), and it must have a verified export. Promoted -> ``models/latest.json`` and status
   ``succeeded``; otherwise status ``rejected`` and ``latest.json`` untouched;
5. write ``runs/<run_id>.json`` LAST (its arrival fires the Stop-EC2 Lambda).

Any exception is turned into a ``failed`` record (and exit status 1); if even that cannot be
written, ``run_training.sh``'s exit trap writes one.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import posixpath
import re
import sys
import tempfile
import time
import traceback

from . import record as rec

log = logging.getLogger("mlpipe.train_run")

DATA_PREFIX = "data/"
DATA_SUFFIX = ".csv"
HOLDOUT_KEY = "holdout/holdout.csv"
REJECTED_PREFIX = "rejected/"
MODELS_PREFIX = "models/"
LATEST_KEY = "models/latest.json"
GATE_METRIC = "roc_auc"
_VERSION_RE = re.compile(r"^v(\d+)$")


class RunFailed(Exception):
    """A run that cannot produce a model, with a message for a person."""


# ---- listing and moving S3 objects ---------------------------------------------------------

def list_data_objects(s3, bucket: str) -> list:
    """Every ``data/**.csv`` as ``[{"key", "etag", "size"}]``, sorted by key."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DATA_PREFIX):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(DATA_SUFFIX):
                out.append({"key": key, "etag": obj.get("ETag", "").strip('"'), "size": obj.get("Size", 0)})
    return sorted(out, key=lambda o: o["key"])


def _exists(s3, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def rejected_key_for(s3, bucket: str, key: str, run_id: str) -> str:
    """``data/x.csv`` -> ``rejected/x.csv`` (``rejected/x-<run_id>.csv`` if that is taken)."""
    rel = key[len(DATA_PREFIX):] if key.startswith(DATA_PREFIX) else posixpath.basename(key)
    target = REJECTED_PREFIX + rel
    if _exists(s3, bucket, target):
        stem, ext = posixpath.splitext(rel)
        target = f"{REJECTED_PREFIX}{stem}-{run_id}{ext}"
    return target


def reject_file(s3, bucket: str, key: str, run_id: str) -> str:
    """Move ``key`` to ``rejected/``: copy, then delete the original. Returns the new key."""
    target = rejected_key_for(s3, bucket, key, run_id)
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
    s3.delete_object(Bucket=bucket, Key=key)
    log.info("moved invalid file s3://%s/%s to %s", bucket, key, target)
    return target


def next_version(s3, bucket: str) -> str:
    """The next ``vNNN`` after the highest ``models/vNNN/`` in the bucket (``v001`` first)."""
    highest = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MODELS_PREFIX, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            name = cp["Prefix"][len(MODELS_PREFIX):].rstrip("/")
            m = _VERSION_RE.match(name)
            if m:
                highest = max(highest, int(m.group(1)))
    return f"v{highest + 1:03d}"


def read_latest(s3, bucket: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return json.loads(body)


# ---- the promotion gate --------------------------------------------------------------------

def gate(new_metrics: dict, current: dict | None, tolerance: float, metric: str = GATE_METRIC) -> tuple:
    """``(promote, reason)``: promote when new >= current - tolerance on ``metric``.

    No current model, or a current model without the metric: promote. A new model without
    the metric (e.g. a one-class holdout) is not promoted over one that has it.
    """
    if not current:
        return True, "no current model"
    cur = (current.get("metrics") or {}).get(metric)
    new = new_metrics.get(metric)
    cur_version = current.get("version", "?")
    if cur is None:
        return True, f"current model {cur_version} has no {metric}"
    if new is None:
        return False, f"the new model has no holdout {metric} (current {cur_version}: {cur:.4f})"
    if new >= cur - tolerance:
        return True, f"{metric} {new:.4f} >= {cur:.4f} (current {cur_version}) - tolerance {tolerance:g}"
    return False, (
        f"not promoted: holdout {metric} {new:.4f} is worse than the current model "
        f"{cur_version}'s {cur:.4f} by more than the tolerance {tolerance:g}"
    )


# ---- the run -------------------------------------------------------------------------------

def _local_path(root: str, key: str) -> str:
    path = os.path.normpath(os.path.join(root, *key.split("/")))
    if not path.startswith(os.path.normpath(root) + os.sep):
        raise RunFailed(f"refusing an S3 key that escapes the work dir: {key!r}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def run(
    s3,
    *,
    input_bucket: str,
    output_bucket: str,
    run_id: str,
    work_dir: str,
    tolerance: float = 0.0,
    model_kind: str = "logreg",
    instance_id: str | None = None,
    trigger_keys=(),
    started_at: str | None = None,
    seen: dict | None = None,
) -> dict:
    """Do one run and write its record (last). Returns the record.

    Data and gate outcomes (bad file, not promoted) give a record, not an exception;
    an unexpected error propagates (``main`` records it as ``failed``, with the inputs this
    run listed, which it finds in ``seen``).
    """
    from model_code import artifacts
    from model_code.data import DataError, load_csv, load_many
    from model_code.evaluate import evaluate
    from model_code.train import train

    started_at = started_at or rec.iso()
    timings = {"download_s": 0.0, "train_s": 0.0, "upload_s": 0.0}
    base = dict(
        instance_id=instance_id,
        trigger_keys=list(trigger_keys),
        timings=timings,
        promoted=False,
        previous_version=None,
        rejected_files=[],
        input_etags={},
        model_kind=model_kind,
        source="training",
    )

    def finish(status, **fields):
        record = rec.build_record(run_id, status, started_at=started_at, **{**base, **fields})
        rec.write_record(s3, output_bucket, record)  # LAST: fires Stop-EC2
        log.info("run %s %s: %s", run_id, status, record.get("error") or record.get("model_version"))
        return record

    # 1. inputs
    t0 = time.monotonic()
    objects = list_data_objects(s3, input_bucket)
    inputs = [o["key"] for o in objects]
    base["input_etags"] = {o["key"]: o["etag"] for o in objects}
    if seen is not None:
        seen.update(inputs=inputs, input_etags=base["input_etags"])
    if not objects:
        return finish("failed", inputs=[], error=f"no data files: s3://{input_bucket}/{DATA_PREFIX}*.csv is empty")
    data_dir = os.path.join(work_dir, "inputs")
    local = {}
    for o in objects:
        local[o["key"]] = _local_path(data_dir, o["key"])
        s3.download_file(input_bucket, o["key"], local[o["key"]])
    holdout_path = os.path.join(work_dir, "holdout.csv")
    if not _exists(s3, input_bucket, HOLDOUT_KEY):
        return finish(
            "failed", inputs=inputs,
            error=f"the fixed holdout s3://{input_bucket}/{HOLDOUT_KEY} is missing: upload it, then upload data again",
        )
    s3.download_file(input_bucket, HOLDOUT_KEY, holdout_path)
    timings["download_s"] = round(time.monotonic() - t0, 3)

    # 2. validation: every file, so one run names every bad file
    problems = []
    for key, path in local.items():
        try:
            load_csv(path)
        except DataError as exc:
            problems.append((key, str(exc)))
    if problems:
        rejected = []
        for key, problem in problems:
            moved_to = reject_file(s3, input_bucket, key, run_id)
            rejected.append({"key": key, "moved_to": moved_to, "problem": problem})
        error = "; ".join(
            f"invalid data file {r['key']} (set aside as {r['moved_to']}): {r['problem']}" for r in rejected
        )
        return finish("failed", inputs=inputs, rejected_files=rejected, error=error)
    try:
        holdout = load_csv(holdout_path)
    except DataError as exc:
        return finish("failed", inputs=inputs, error=f"the holdout {HOLDOUT_KEY} is invalid: {exc}")

    # 3. train and evaluate
    t1 = time.monotonic()
    data = load_many([local[k] for k in inputs])
    model = train(data.X, data.y, model=model_kind)
    metrics = evaluate(model, holdout.X, holdout.y)
    timings["train_s"] = round(time.monotonic() - t1, 3)
    base["n_train_rows"] = int(data.n_rows)

    # 4. artifacts, gate, pointer
    t2 = time.monotonic()
    version = next_version(s3, output_bucket)
    out_dir = os.path.join(work_dir, "model", version)
    paths = artifacts.save(model, out_dir, version=version, metrics=metrics, inputs={k: local[k] for k in inputs},
                           holdout_X=holdout.X)
    prefix = f"{MODELS_PREFIX}{version}/"
    for path in sorted(set(paths.values())):
        s3.upload_file(path, output_bucket, prefix + os.path.basename(path))
    model_key = prefix + "model.joblib"
    current = read_latest(s3, output_bucket)
    base["previous_version"] = (current or {}).get("version")
    promote, reason = gate(metrics, current, tolerance)
    no_export = artifacts.export_error(artifacts.read_card(paths["card"]))
    if promote and no_export:  # the API serves the export: a model without a verified one is never promoted
        promote, reason = False, f"not promoted: no verified serving export: {no_export}"
    base["gate"] = {"metric": GATE_METRIC, "tolerance": tolerance, "reason": reason}
    if promote:
        latest = {"version": version, "model_key": model_key, "metrics": metrics, "promoted_at": rec.iso(), "run_id": run_id,
                  **artifacts.pointer_fields(paths, prefix)}
        s3.put_object(Bucket=output_bucket, Key=LATEST_KEY, Body=rec.dumps(latest), ContentType="application/json")
    timings["upload_s"] = round(time.monotonic() - t2, 3)
    base["promoted"] = promote
    base["model_key"] = model_key
    if promote:
        return finish("succeeded", inputs=inputs, model_version=version, metrics=metrics)
    return finish("rejected", inputs=inputs, model_version=version, metrics=metrics, error=reason)


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m ec2_scripts.train_run", description=__doc__.splitlines()[0])
    p.add_argument("--input-bucket", required=True)
    p.add_argument("--output-bucket", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--tolerance", type=float, default=0.0, help="promotion tolerance on holdout roc_auc")
    p.add_argument("--model", default="logreg", help="model kind (model_code.train): logreg or forest")
    p.add_argument("--instance-id")
    p.add_argument("--trigger-keys", default="", help="space-separated keys that triggered this run")
    p.add_argument("--work-dir", help="scratch dir (default: a temporary one)")
    p.add_argument("--record-marker", help="file to write the run id to once the run record is in S3")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    import boto3

    s3 = boto3.client("s3")
    started_at = rec.iso()
    work = args.work_dir or tempfile.mkdtemp(prefix=f"mlpipe-{args.run_id}-")
    os.makedirs(work, exist_ok=True)
    seen: dict = {}
    try:
        record = run(
            s3,
            input_bucket=args.input_bucket,
            output_bucket=args.output_bucket,
            run_id=args.run_id,
            work_dir=work,
            tolerance=args.tolerance,
            model_kind=args.model,
            instance_id=args.instance_id or None,
            trigger_keys=args.trigger_keys.split(),
            started_at=started_at,
            seen=seen,
        )
    except Exception as exc:  # noqa: BLE001 - every failure must end in a record
        traceback.print_exc()
        error = f"training error: {type(exc).__name__}: {exc}"
        record = rec.build_record(
            args.run_id, "failed", started_at=started_at, error=error, inputs=seen.get("inputs", []),
            input_etags=seen.get("input_etags", {}), instance_id=args.instance_id or None,
            trigger_keys=args.trigger_keys.split(), source="training",
        )
        rec.write_record(s3, args.output_bucket, record)  # if this raises too, the shell trap writes one
        rec.mark_written(args.record_marker, args.run_id)
        return 1
    rec.mark_written(args.record_marker, args.run_id)
    print(json.dumps({k: record[k] for k in ("run_id", "status", "model_version", "error")}))
    return 0 if record["status"] in ("succeeded", "rejected") else 3


if __name__ == "__main__":
    exit_code = main()
    # The record is in S3. Skip the interpreter's final garbage collection over every object
    # scikit-learn's imports made (~1 s): the SSM command, which Stop-EC2 waits for, ends sooner.
    import gc

    gc.freeze()
    sys.exit(exit_code)
