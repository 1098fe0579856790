"""The stack's dataset file (``model_code.spec``), on the operator's side.

Which dataset a stack serves: ``MLPIPE_DATASET`` (``settings.dataset``): a bundled name
(``breast_cancer``, the default; ``wine``; ``diabetes``; ``apartments``) or the path of a
``dataset.toml`` (``mlpipe dataset init`` writes one). Deploy uploads it to the input bucket
(``dataset/dataset.toml``: the instance validates and trains by it), makes the holdout from
the CSV its ``[source]`` names, and builds the API's request model from it. One dataset per
stack: deploy a second stack (``MLPIPE_STACK``) for another.

``init`` and ``check`` are ``mlpipe dataset init|check``: the same code the instance runs.
"""
from __future__ import annotations

import os

from .config import ConfigError, MlpipeError
from .report import Report


def spec_of(settings):
    """The settings' dataset file, checked (``ConfigError`` names the line and the reason)."""
    from model_code import spec as dataset_spec

    try:
        return dataset_spec.resolve(getattr(settings, "dataset", "") or None)
    except dataset_spec.SpecError as exc:
        raise ConfigError(f"MLPIPE_DATASET: {exc}") from None


def spec_text(spec) -> bytes:
    with open(spec.path, "rb") as fh:
        return fh.read()


def write_split(settings_or_spec, out_dir: str, n_batches: int = 5) -> dict:
    """The dataset's holdout and arrival batches as CSV files in ``out_dir``
    (``{"holdout": path, "batches": [paths]}``), split as its dataset file says."""
    from model_code.dataset import write_dataset_split

    spec = settings_or_spec if hasattr(settings_or_spec, "features") else spec_of(settings_or_spec)
    return write_dataset_split(spec, out_dir, n_batches)


def ensure_dataset_file(stack) -> Report:
    """Upload the dataset file to ``dataset/dataset.toml`` of the input bucket (skipped when
    unchanged). When it changed, the holdout must be made again from the new dataset:
    ``buckets.ensure_holdout(stack, remake=True)``, the step after it in deploy."""
    from glue_contract import keys

    from .buckets import _put_if_changed

    spec = spec_of(stack.settings)
    return _put_if_changed(stack, stack.names.input_bucket, keys.DATASET_KEY, spec_text(spec), "dataset file")


def validate_file(path: str, spec) -> str | None:
    """None when the CSV at ``path`` fits the dataset file, else why not (the instance's check)."""
    from model_code.data import DataError
    from model_code.table import parse_table

    try:
        with open(path, "rb") as fh:
            parse_table(fh.read(), spec, os.path.basename(path))
    except DataError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror or exc})"
    return None


def init(csv_path: str, target: str, out: str | None = None, *, name: str | None = None,
         force: bool = False) -> tuple:
    """Infer a dataset file for ``csv_path``; write it to ``out`` (default ``dataset.toml``
    beside the CSV). Returns ``(path, text, notes)``. The file's ``[source] csv`` points
    at the CSV relative to the dataset file, so deploy can make the holdout from it."""
    from model_code import infer, spec as dataset_spec

    out = out or os.path.join(os.path.dirname(os.path.abspath(csv_path)), "dataset.toml")
    if os.path.exists(out) and not force:
        raise MlpipeError(f"{out} exists; review it, or pass --force to write it again")
    rel = os.path.relpath(os.path.abspath(csv_path), os.path.dirname(os.path.abspath(out)))
    try:
        inferred = infer.infer(csv_path, target, name=name, source=rel)
    except (dataset_spec.SpecError, OSError) as exc:
        raise MlpipeError(str(exc)) from None
    text = dataset_spec.to_toml(inferred.spec)
    dataset_spec.parse(text, where=out)  # what it writes, it can read
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out, text, inferred.notes


def check(csv_path: str, dataset: str | None) -> str:
    """Validate ``csv_path`` against a dataset file; returns a one-line summary or raises
    ``MlpipeError`` with the instance's reason."""
    from model_code import spec as dataset_spec

    try:
        spec = dataset_spec.resolve(dataset)
    except dataset_spec.SpecError as exc:
        raise MlpipeError(str(exc)) from None
    problem = validate_file(csv_path, spec)
    if problem:
        raise MlpipeError(problem)
    from model_code.table import parse_table

    with open(csv_path, "rb") as fh:
        t = parse_table(fh.read(), spec, os.path.basename(csv_path))
    return f"{csv_path}: {t.n_rows} rows fit the dataset file {spec.path} ({spec.task}, {len(spec.features)} features)"


# --------------------------------------------------------------------------- for the notebooks


def read_split(spec, files: dict) -> dict:
    """``write_split``'s files read and checked: ``{"holdout": Table, "batches": [Table]}``."""
    from model_code.table import parse_table

    def read(path):
        with open(path, "rb") as fh:
            return parse_table(fh.read(), spec, os.path.basename(str(path)))

    return {"holdout": read(files["holdout"]), "batches": [read(p) for p in files["batches"]]}


def request_rows(spec, csv_path) -> tuple:
    """A data file's rows as the API takes them, and the truth a person reads:
    ``(instances, truths)``; a truth is the class label (classification) or the value."""
    import csv

    from model_code.table import MISSING_CELLS

    labels = dict(spec.classes)
    instances, truths = [], []
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            inst = {}
            for f in spec.features:
                cell = (row.get(f.name) or "").strip()
                if cell.lower() in MISSING_CELLS:
                    continue  # left out: the dataset file says how it is imputed (or refuses it)
                inst[f.name] = cell if f.is_category else float(cell)
            instances.append(inst)
            t = row[spec.target].strip()
            if spec.is_classification:
                key = next((v for v in labels if v == t or _same_number(v, t)), t)
                truths.append(labels.get(key, t))
            else:
                truths.append(float(t))
    return instances, truths


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def reply_summary(spec, truths, body: dict):
    """How the API's answers for a data file compare with the truth, as a small table:
    accuracy and a confusion table (classification), or rmse/mae/r2 (regression)."""
    import numpy as np
    import pandas as pd

    if spec.is_classification:
        got = list(body["labels"])
        names = list(spec.class_labels)
        table = pd.DataFrame(0, index=[f"true {n}" for n in names], columns=[f"predicted {n}" for n in names])
        for t, p in zip(truths, got):
            table.loc[f"true {t}", f"predicted {p}"] += 1
        acc = float(np.mean([t == p for t, p in zip(truths, got)]))
        table.attrs["accuracy"] = acc
        return table
    y, p = np.asarray(truths, dtype=float), np.asarray(body["predictions"], dtype=float)
    err = p - y
    ss = float(np.sum((y - y.mean()) ** 2)) or 1.0
    return pd.DataFrame({"rmse": [float(np.sqrt(np.mean(err ** 2)))], "mae": [float(np.mean(np.abs(err)))],
                         "r2": [1 - float(np.sum(err ** 2)) / ss], "rows": [len(y)]})


def file_summary(spec, table) -> dict:
    """Rows per class label (classification) or rows and the target's mean (regression)."""
    if spec.is_classification:
        return {label: int((table.y == i).sum()) for i, label in enumerate(spec.class_labels)}
    return {"rows": table.n_rows, f"mean {spec.target}": round(float(table.y.mean()), 2)}
