"""One training run on the instance: every data/*.csv in, a model version and a run record out.

    python3 -m ec2_scripts.train_run --input-bucket IN --output-bucket OUT --run-id RUN \
        [--tolerance 0.0] [--model logreg|forest] [--instance-id I] [--trigger-keys "k1 k2"] \
        [--work-dir DIR]

Steps (ARCHITECTURE "Continuous training"):
1. list every ``data/*.csv`` of the input bucket (keys + ETags are the run's inputs),
   download them and ``holdout/holdout.csv``;
2. read the dataset file ``dataset/dataset.toml`` (``model_code.spec``; absent: the default,
   breast cancer) and validate each file against it with ``model_code.table.parse_table``
   (header, types, ranges, categories, missing values; a column the dataset lacks is refused); a key that cannot name a file (``data/../x.csv``) or a file over 50 MB is refused
   unread. Any refused file fails the run: the record names the file and the problem, and
   the file is moved to ``rejected/`` (copied, then the original deleted: kept, never lost)
   so it does not poison later runs. Each key gets its own local file (``data//x.csv`` and
   ``data/x.csv`` are two files);
3. train (``model_code.train``), evaluate on the holdout; if that fails, every file that
   makes training fail on its own is named and set aside the same way (a failure no file
   causes, e.g. broken code, is recorded as it is); write
   ``models/<version>/model.joblib|metrics.json|model_card.json`` (next ``vNNN``) and the
   serving export (``model_export.json|.npz``, verified on the holdout within 1e-9);
4. promotion gate on the dataset file's metric and direction (``roc_auc`` higher is better by
   default; ``rmse`` lower, ...): the new model's holdout value must be >= the best promoted model's
   (``models/<v>/promoted.json`` markers and ``models/latest.json``) minus the tolerance (none
   yet: promote), and it must have a verified export. Promoted -> ``models/<version>/promoted.json``, ``models/latest.json`` and
   status ``succeeded``; otherwise status ``rejected`` and ``latest.json`` untouched;
5. write ``runs/<run_id>.json`` LAST (its arrival fires the Stop-EC2 Lambda).

Any exception is turned into a ``failed`` record (and exit status 1); if even that cannot be
written, ``run_training.sh``'s exit trap writes one.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
import traceback

from glue_contract import aws, keys, runs, times

from . import record as rec

log = logging.getLogger("mlpipe.train_run")

GATE_METRIC = "roc_auc"
PROMOTED_MARKER = "promoted.json"  # models/<version>/promoted.json: this version was promoted
MAX_DATA_FILE_BYTES = 50 * 1024 * 1024  # a data file larger than this is refused (set aside)
_VERSION_RE = re.compile(r"^v(\d+)$")


# ---- listing and moving S3 objects ---------------------------------------------------------

def list_data_objects(s3, bucket: str) -> list:
    """Every ``data/**.csv`` as ``[{"key", "etag", "size"}]``, sorted by key."""
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.DATA_PREFIX):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if keys.is_data_key(key):
                out.append({"key": key, "etag": obj.get("ETag", "").strip('"'), "size": obj.get("Size", 0)})
    return sorted(out, key=lambda o: o["key"])


def rejected_key_for(s3, bucket: str, key: str, run_id: str) -> str:
    """``data/x.csv`` -> ``rejected/x.csv`` (``rejected/x-<run_id>.csv`` if that is taken)."""
    target = keys.rejected_key(key)
    if aws.object_exists(s3, bucket, target):
        target = keys.rejected_key(key, run_id)
    return target


def reject_file(s3, bucket: str, key: str, run_id: str, etag: str | None = None) -> str | None:
    """Move ``key`` to ``rejected/``: copy (only the version this run read, when ``etag`` is
    given), then delete the original (the input bucket keeps versions, so the data it
    replaced can be restored: ``mlpipe restore-data``). Returns the new key, or None when
    the file was replaced meanwhile (the new file gets its own run)."""
    target = rejected_key_for(s3, bucket, key, run_id)
    extra = {"CopySourceIfMatch": f'"{etag}"'} if etag else {}
    try:
        s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key},
                       Metadata={"mlpipe-source-key": key[:1024], "mlpipe-run-id": run_id},
                       MetadataDirective="REPLACE", **extra)
    except Exception as exc:  # botocore ClientError
        if aws.error_code(exc) in aws.PRECONDITION_FAILED + aws.NOT_FOUND:
            log.info("s3://%s/%s changed or went away before it was set aside", bucket, key)
            return None
        raise
    s3.delete_object(Bucket=bucket, Key=key)
    log.info("moved s3://%s/%s to %s", bucket, key, target)
    return target


def next_version(s3, bucket: str) -> str:
    """The next ``vNNN`` after the highest ``models/vNNN/`` in the bucket (``v001`` first)."""
    highest = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.MODELS_PREFIX,
                                                             Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            name = cp["Prefix"][len(keys.MODELS_PREFIX):].rstrip("/")
            m = _VERSION_RE.match(name)
            if m:
                highest = max(highest, int(m.group(1)))
    return f"v{highest + 1:03d}"


def read_json(s3, bucket: str, key: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError
        if aws.error_code(exc) in aws.NOT_FOUND:
            return None
        raise
    return json.loads(body)


def read_latest(s3, bucket: str) -> dict | None:
    return read_json(s3, bucket, keys.LATEST_KEY)


def promoted_models(s3, bucket: str) -> list:
    """Every promoted version the registry knows: ``[{"version", "metrics"}]`` from
    ``models/<v>/promoted.json`` markers (with that version's ``metrics.json``), plus the one
    ``models/latest.json`` points at."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.MODELS_PREFIX):
        for obj in page.get("Contents", []):
            parts = obj["Key"].split("/")
            if len(parts) == 3 and parts[2] == PROMOTED_MARKER and _VERSION_RE.match(parts[1]):
                metrics = read_json(s3, bucket, f"{keys.MODELS_PREFIX}{parts[1]}/metrics.json")
                if metrics is not None:
                    found[parts[1]] = {"version": parts[1], "metrics": metrics}
    latest = read_latest(s3, bucket)
    if latest and latest.get("version") and latest["version"] not in found:
        found[latest["version"]] = {"version": latest["version"], "metrics": latest.get("metrics") or {}}
    return sorted(found.values(), key=lambda m: m["version"])


def best_promoted(s3, bucket: str, metric: str = GATE_METRIC, direction: str = "higher") -> dict | None:
    """The promoted model with the best ``metric`` (the gate's bar), or None."""
    scored = [m for m in promoted_models(s3, bucket) if (m["metrics"] or {}).get(metric) is not None]
    pick = max if direction == "higher" else min
    return pick(scored, key=lambda m: m["metrics"][metric], default=None)


# ---- the promotion gate --------------------------------------------------------------------

def gate(new_metrics: dict, current: dict | None, tolerance: float, metric: str = GATE_METRIC,
         direction: str = "higher") -> tuple:
    """``(promote, reason)``: promote when new >= current - tolerance on ``metric`` (``direction``
    ``lower``, e.g. rmse: new <= current + tolerance).

    No current model, or a current model without the metric: promote. A new model without
    the metric (e.g. a one-class holdout) is not promoted over one that has it.
    """
    if not current:
        return True, "no promoted model yet"
    cur = (current.get("metrics") or {}).get(metric)
    new = new_metrics.get(metric)
    cur_version = current.get("version", "?")
    if cur is None:
        return True, f"current model {cur_version} has no {metric}"
    if new is None:
        return False, f"the new model has no holdout {metric} (current {cur_version}: {cur:.4f})"
    if direction == "lower":
        if new <= cur + tolerance:
            return True, f"{metric} {new:.4f} <= {cur:.4f} (best promoted {cur_version}) + tolerance {tolerance:g}"
        return False, (
            f"not promoted: holdout {metric} {new:.4f} is worse (higher) than the best promoted model "
            f"{cur_version}'s {cur:.4f} by more than the tolerance {tolerance:g}"
        )
    if new >= cur - tolerance:
        return True, f"{metric} {new:.4f} >= {cur:.4f} (best promoted {cur_version}) - tolerance {tolerance:g}"
    return False, (
        f"not promoted: holdout {metric} {new:.4f} is worse than the best promoted model "
        f"{cur_version}'s {cur:.4f} by more than the tolerance {tolerance:g}"
    )


# ---- the run -------------------------------------------------------------------------------

def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):  # pragma: no cover - not Linux
        return None


def local_paths(root: str, data_keys) -> dict:
    """``{key: path}``: one distinct file per key under ``root`` (``data//x.csv`` and
    ``data/x.csv`` are two S3 objects, so two files), named by position, never by the key."""
    os.makedirs(root, exist_ok=True)
    return {key: os.path.join(root, f"{i:05d}.csv") for i, key in enumerate(data_keys)}


def key_problem(obj: dict) -> str | None:
    """Why a listed data object is refused before it is read (a key that cannot name a
    file, a file too large to load), or None."""
    reason = keys.unsafe_key_reason(obj["key"])
    if reason:
        return f"{reason}: refused"
    if obj.get("size", 0) > MAX_DATA_FILE_BYTES:
        return f"{obj['size']} bytes, over the {MAX_DATA_FILE_BYTES} bytes a data file may hold"
    return None


def load_spec(s3, bucket: str):
    """The dataset file in the input bucket (``dataset/dataset.toml``), or the default dataset's
    when there is none. A bad file raises ``model_code.spec.SpecError`` (line and reason)."""
    from model_code import spec as dataset_spec

    try:
        body = s3.get_object(Bucket=bucket, Key=keys.DATASET_KEY)["Body"].read()
    except Exception as exc:  # botocore ClientError
        if aws.error_code(exc) in aws.NOT_FOUND:
            return dataset_spec.default()
        raise
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise dataset_spec.SpecError(f"{keys.DATASET_KEY}:1: not UTF-8 text") from None
    return dataset_spec.parse(text, where=keys.DATASET_KEY)


def pick_kind(spec, model_kind: str | None) -> str:
    """``--model`` (MLPIPE_MODEL_KIND) when it fits the task, else the dataset file's ``[model] kind``."""
    from model_code.spec import MODEL_KINDS

    known = sorted({k for kinds in MODEL_KINDS.values() for k in kinds})
    if model_kind and model_kind not in known:
        raise ValueError(f"unknown model {model_kind!r}; choose one of {', '.join(known)}")
    return model_kind if model_kind in MODEL_KINDS[spec.task] else spec.model_kind


def fit_and_evaluate(datasets: list, holdout, model_kind: str, spec=None):
    """Train on the concatenation of ``datasets`` (Tables) and evaluate on the holdout."""
    from model_code import spec as dataset_spec
    from model_code import tabular
    from model_code.table import concat

    spec = spec or dataset_spec.default()
    data = concat(datasets)
    fitted = tabular.fit(spec, data, kind=model_kind)
    return fitted, tabular.evaluate(spec, fitted, holdout), int(data.n_rows)


def culprits(datasets: dict, holdout, model_kind: str, spec=None) -> dict:
    """After training failed: ``{key: error}`` for every file that makes training fail on its
    own (trained with the holdout's rows, which must train cleanly). Empty when the holdout
    alone fails too: then the code or the environment is at fault, not a file."""
    try:
        fit_and_evaluate([holdout], holdout, model_kind, spec)
    except Exception:  # noqa: BLE001 - the baseline fails: no file is to blame
        return {}
    out = {}
    for key, ds in datasets.items():
        try:
            fit_and_evaluate([holdout, ds], holdout, model_kind, spec)
        except Exception as exc:  # noqa: BLE001 - any error this file causes
            out[key] = f"training with this file fails: {type(exc).__name__}: {exc}"
    return out


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

    Data and gate outcomes (bad file, not promoted) give a record, not an exception; so does
    a training error a file causes (the file is named and set aside). Any other error
    propagates (``main`` records it as ``failed``, with the inputs this run listed, which it
    finds in ``seen``).
    """
    from model_code import artifacts, tabular
    from model_code.data import DataError
    from model_code.spec import SpecError
    from model_code.table import parse_table

    started_at = started_at or times.iso()
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
        timings["peak_rss_mb"] = peak_rss_mb()
        record = runs.build_record(run_id, status, started_at=started_at, **{**base, **fields})
        runs.write_record(s3, output_bucket, record)  # LAST: fires Stop-EC2
        log.info("run %s %s: %s", run_id, status, record.get("error") or record.get("model_version"))
        return record

    def set_aside(problems: dict, inputs: list):
        rejected = []
        for key, problem in problems.items():
            moved_to = reject_file(s3, input_bucket, key, run_id, base["input_etags"].get(key))
            rejected.append({"key": key, "moved_to": moved_to, "problem": problem})
        error = "; ".join(
            f"invalid data file {r['key']} (set aside as {r['moved_to']}): {r['problem']}" if r["moved_to"] else
            f"invalid data file {r['key']} (replaced meanwhile, not set aside): {r['problem']}" for r in rejected
        )
        return finish("failed", inputs=inputs, rejected_files=rejected, error=error)

    # 1. inputs
    t0 = time.monotonic()
    objects = list_data_objects(s3, input_bucket)
    inputs = [o["key"] for o in objects]
    base["input_etags"] = {o["key"]: o["etag"] for o in objects}
    if seen is not None:
        seen.update(inputs=inputs, input_etags=base["input_etags"])
    if not objects:
        return finish("failed", inputs=[], error=f"no data files: s3://{input_bucket}/{keys.DATA_PREFIX}*.csv is empty")
    problems = {o["key"]: p for o in objects if (p := key_problem(o))}
    local = local_paths(os.path.join(work_dir, "inputs"), [o["key"] for o in objects if o["key"] not in problems])
    for key, path in local.items():
        s3.download_file(input_bucket, key, path)
    holdout_path = os.path.join(work_dir, "holdout.csv")
    if not aws.object_exists(s3, input_bucket, keys.HOLDOUT_KEY):
        return finish(
            "failed", inputs=inputs,
            error=f"the fixed holdout s3://{input_bucket}/{keys.HOLDOUT_KEY} is missing: upload it, then upload data again",
        )
    s3.download_file(input_bucket, keys.HOLDOUT_KEY, holdout_path)
    timings["download_s"] = round(time.monotonic() - t0, 3)

    # 2. validation against the dataset file: every file, so one run names every bad file (by its key)
    try:
        spec = load_spec(s3, input_bucket)
    except SpecError as exc:
        return finish("failed", inputs=inputs, error=f"the dataset file is invalid: {exc}")
    model_kind = pick_kind(spec, model_kind)
    base.update(model_kind=model_kind, dataset=spec.name, task=spec.task)
    datasets = {}
    for key, path in local.items():
        try:
            with open(path, "rb") as fh:
                datasets[key] = parse_table(fh.read(), spec, key)
        except DataError as exc:
            problems[key] = str(exc)
    if problems:
        return set_aside(problems, inputs)
    try:
        with open(holdout_path, "rb") as fh:
            holdout = parse_table(fh.read(), spec, keys.HOLDOUT_KEY)
    except DataError as exc:
        return finish("failed", inputs=inputs, error=f"the holdout {keys.HOLDOUT_KEY} is invalid: {exc}")

    # 3. train and evaluate; a failure a file causes sets that file aside
    t1 = time.monotonic()
    try:
        model, metrics, n_rows = fit_and_evaluate([datasets[k] for k in inputs], holdout, model_kind, spec)
    except Exception as exc:
        blamed = culprits(datasets, holdout, model_kind, spec)
        if not blamed:
            raise
        log.info("training failed (%s: %s); set aside: %s", type(exc).__name__, exc, sorted(blamed))
        return set_aside(blamed, inputs)
    timings["train_s"] = round(time.monotonic() - t1, 3)
    base["n_train_rows"] = n_rows

    # 4. artifacts, gate (against the best promoted model the registry knows), pointer
    t2 = time.monotonic()
    version = next_version(s3, output_bucket)
    out_dir = os.path.join(work_dir, "model", version)
    paths = tabular.save(model, out_dir, version=version, metrics=metrics, inputs={k: local[k] for k in inputs},
                         holdout=holdout)
    prefix = f"{keys.MODELS_PREFIX}{version}/"
    for path in sorted(set(paths.values())):
        s3.upload_file(path, output_bucket, prefix + os.path.basename(path))
    model_key = prefix + "model.joblib"
    current = read_latest(s3, output_bucket)
    best = best_promoted(s3, output_bucket, spec.metric, spec.direction)
    base["previous_version"] = (current or {}).get("version")
    if spec.tolerance > 0:  # MLPIPE_PROMOTION_TOLERANCE, or the dataset file's when that is larger
        tolerance = max(tolerance, spec.tolerance)
    promote, reason = gate(metrics, best, tolerance, spec.metric, spec.direction)
    no_export = artifacts.export_error(artifacts.read_card(paths["card"]))
    if promote and no_export:  # the API serves the export: a model without a verified one is never promoted
        promote, reason = False, f"not promoted: no verified serving export: {no_export}"
    base["gate"] = {"metric": spec.metric, "direction": spec.direction, "tolerance": tolerance, "reason": reason,
                    "compared_with": (best or {}).get("version")}
    if promote:
        latest = {"version": version, "model_key": model_key, "metrics": metrics, "promoted_at": times.iso(),
                  "run_id": run_id, "task": spec.task, "dataset": spec.to_dict(),
                  **artifacts.pointer_fields(paths, prefix)}
        s3.put_object(Bucket=output_bucket, Key=prefix + PROMOTED_MARKER, Body=runs.dumps(latest),
                      ContentType="application/json")
        s3.put_object(Bucket=output_bucket, Key=keys.LATEST_KEY, Body=runs.dumps(latest),
                      ContentType="application/json")
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
    started_at = times.iso()
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
        record = runs.build_record(
            args.run_id, "failed", started_at=started_at, error=error, inputs=seen.get("inputs", []),
            input_etags=seen.get("input_etags", {}), instance_id=args.instance_id or None,
            trigger_keys=args.trigger_keys.split(), source="training",
        )
        runs.write_record(s3, args.output_bucket, record)  # if this raises too, the shell trap writes one
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
