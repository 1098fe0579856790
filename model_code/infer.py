"""``mlpipe dataset init``: a dataset file inferred from a CSV, for a person to review.

What is guessed, and said (``Inferred.notes``):

- the task from the target column: text, or whole numbers with at most ``MAX_CLASSES``
  distinct values -> classification (2 values: binary, more: multiclass; each class labelled
  by its value, to be renamed for a person); any other numbers -> regression;
- each feature's type: every present cell a number -> ``integer`` (all whole) or ``number``,
  with the range seen widened by ``MARGIN`` of its width on each side (never below 0 for a
  column with no negative value); otherwise ``category`` with the values seen, when there
  are at most ``MAX_CATEGORIES``; a column named ``id`` (or ``*_id``), or text with more
  distinct values than that, is ignored;
- missing cells (empty, NA, null, ...) seen in a column -> imputed (median for numbers, most
  frequent category), else refused;
- the holdout (20%, seed 0, stratified for classification), the promotion metric of the task
  (roc_auc, accuracy, rmse) with tolerance 0, the first model kind of the task.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass

from .spec import DEFAULT_METRIC, METRICS, MODEL_KINDS, DatasetSpec, Feature, SpecError
from .table import MISSING_CELLS

MARGIN = 0.5
MAX_CATEGORIES = 20
MAX_CLASSES = 10


@dataclass
class Inferred:
    spec: DatasetSpec
    notes: list


def _float(text: str):
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _label(text: str) -> str:
    return text


def infer(csv_path: str, target: str, *, name: str | None = None, margin: float = MARGIN,
          max_categories: int = MAX_CATEGORIES, source: str | None = None) -> Inferred:
    """Infer a dataset file for ``csv_path`` with ``target`` as the column to predict."""
    with open(csv_path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{csv_path}: not UTF-8 text; save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise SpecError(f"{csv_path}: no header row")
    columns = [c.strip() for c in header]
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise SpecError(f"{csv_path}: duplicate column {dup!r}")
    if target not in columns:
        raise SpecError(f"{csv_path}: the target {target!r} is not a column; columns: {', '.join(columns)}")
    cells = {c: [] for c in columns}
    for row in reader:
        if not row or not any(x.strip() for x in row):
            continue
        if len(row) != len(columns):
            raise SpecError(f"{csv_path}: line {reader.line_num} has {len(row)} cells, the header {len(columns)}")
        for c, v in zip(columns, row):
            cells[c].append(v.strip())
    n = len(cells[target])
    if n < 10:
        raise SpecError(f"{csv_path}: {n} data rows; a dataset needs at least 10")
    notes = []

    # the target
    tvals = cells[target]
    if any(v.lower() in MISSING_CELLS for v in tvals):
        raise SpecError(f"{csv_path}: the target {target!r} has missing values; drop those rows first")
    nums = [_float(v) for v in tvals]
    distinct = sorted(set(tvals))
    classes = ()
    if all(x is not None for x in nums):
        whole = all(float(x).is_integer() for x in nums)
        values = sorted(set(nums))
        if whole and len(values) <= MAX_CLASSES:
            task = "binary" if len(values) == 2 else "multiclass"
            classes = tuple((_int_text(v), f"class {_int_text(v)}") for v in values)
            notes.append(f"task: {task} (target {target!r} holds {len(values)} whole numbers: "
                         f"{', '.join(c for c, _ in classes)}); rename the class labels for a person")
        else:
            task = "regression"
            notes.append(f"task: regression (target {target!r} holds {len(values)} distinct numbers)")
    else:
        if len(distinct) > MAX_CLASSES:
            raise SpecError(f"{csv_path}: the target {target!r} is text with {len(distinct)} distinct values; "
                            f"at most {MAX_CLASSES} classes are inferred (edit the file by hand for more)")
        task = "binary" if len(distinct) == 2 else "multiclass"
        classes = tuple((v, v) for v in distinct)
        notes.append(f"task: {task} (target {target!r} holds the text values {', '.join(distinct)})")
    if len(classes) == 1:
        raise SpecError(f"{csv_path}: the target {target!r} has a single value; nothing to predict")

    # the features
    features, ignore = [], []
    for c in columns:
        if c == target:
            continue
        vals = cells[c]
        present = [v for v in vals if v.lower() not in MISSING_CELLS]
        n_missing = len(vals) - len(present)
        low = c.lower()
        if low == "id" or low.endswith("_id") or not present:
            ignore.append(c)
            notes.append(f"{c!r}: ignored ({'an id column' if present else 'no values'})")
            continue
        fnums = [_float(v) for v in present]
        if all(x is not None for x in fnums):
            whole = all(float(x).is_integer() for x in fnums)
            lo, hi = min(fnums), max(fnums)
            width = (hi - lo) or abs(hi) or 1.0
            wlo, whi = lo - margin * width, hi + margin * width
            if lo >= 0 and wlo < 0:
                wlo = 0.0
            if whole:
                wlo, whi = float(math.floor(wlo)), float(math.ceil(whi))
            missing = "median" if n_missing else "refuse"
            features.append(Feature(c, "integer" if whole else "number", wlo, whi, (), missing))
            notes.append(f"{c!r}: {'integer' if whole else 'number'}, seen {lo:g} to {hi:g}, range {wlo:g} to "
                         f"{whi:g}" + (f"; {n_missing} missing -> median" if n_missing else ""))
            continue
        cats = sorted(set(present))
        if len(cats) > max_categories:
            ignore.append(c)
            notes.append(f"{c!r}: ignored (text with {len(cats)} distinct values, more than {max_categories} "
                         "categories)")
            continue
        missing = "most_frequent" if n_missing else "refuse"
        features.append(Feature(c, "category", None, None, tuple(cats), missing))
        notes.append(f"{c!r}: category of {len(cats)} values" +
                     (f"; {n_missing} missing -> most frequent" if n_missing else ""))
    if not features:
        raise SpecError(f"{csv_path}: no feature column left besides the target")
    metric = DEFAULT_METRIC[task]
    notes.append(f"promotion: {metric} ({METRICS[metric][1]} is better), tolerance 0; model: "
                 f"{MODEL_KINDS[task][0]}")
    name = name or os.path.splitext(os.path.basename(csv_path))[0]
    spec = DatasetSpec(name=name, description=f"inferred from {os.path.basename(csv_path)} ({n} rows)",
                       target=target, task=task, features=tuple(features), classes=classes, ignore=tuple(ignore),
                       stratify=task != "regression", metric=metric, direction=METRICS[metric][1],
                       model_kind=MODEL_KINDS[task][0], source={"csv": source or os.path.basename(csv_path)})
    return Inferred(spec, notes)


def _int_text(v: float) -> str:
    return str(int(v))
