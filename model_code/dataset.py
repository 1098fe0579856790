"""The dataset: scikit-learn's breast cancer data split into a holdout and arrival batches.

The split is deterministic (same ``n_batches`` and ``seed`` -> same rows, same order)
and stratified: the fixed holdout (114 rows, 20%) keeps the class balance, and so
does each arrival batch of the remaining 455 rows (5 batches of 91 by default).

    python -m model_code.dataset --out build/data [--batches 5] [--seed 0]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
from typing import NamedTuple

import numpy as np

from .data import Dataset, write_csv
from .schema import FEATURE_NAMES

HOLDOUT_ROWS = 114
DEFAULT_BATCHES = 5
DEFAULT_SEED = 0
HOLDOUT_FILE = "holdout.csv"
_BATCH_RE = re.compile(r"^batch_\d+\.csv$")


class Split(NamedTuple):
    holdout: Dataset
    batches: list


def load_full() -> Dataset:
    """All 569 rows, checked against the schema's feature names."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    names = tuple(str(n) for n in raw.feature_names)
    if names != FEATURE_NAMES:  # a future scikit-learn renaming a column would land here
        raise RuntimeError(f"scikit-learn's feature names differ from the schema: {names}")
    return Dataset(X=np.asarray(raw.data, dtype=np.float64), y=np.asarray(raw.target, dtype=np.int64))


def batch_file_name(i: int, n_batches: int) -> str:
    """``batch_01.csv`` ... (1-based, zero-padded to at least 2 digits)."""
    width = max(2, len(str(n_batches)))
    return f"batch_{i:0{width}d}.csv"


def make_split(n_batches: int = DEFAULT_BATCHES, seed: int = DEFAULT_SEED) -> Split:
    """Holdout (``HOLDOUT_ROWS`` rows) plus ``n_batches`` stratified arrival batches."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    full = load_full()
    rest_max = (full.n_rows - HOLDOUT_ROWS) // 2
    if not isinstance(n_batches, (int, np.integer)) or not 1 <= n_batches <= rest_max:
        raise ValueError(f"n_batches must be an integer from 1 to {rest_max}, got {n_batches!r}")
    idx = np.arange(full.n_rows)
    rest_idx, hold_idx = train_test_split(
        idx, test_size=HOLDOUT_ROWS, stratify=full.y, random_state=seed, shuffle=True
    )
    hold_idx = np.sort(hold_idx)
    rest_idx = np.sort(rest_idx)
    holdout = Dataset(X=full.X[hold_idx], y=full.y[hold_idx])
    if n_batches == 1:
        parts = [rest_idx]
    else:
        folds = StratifiedKFold(n_splits=int(n_batches), shuffle=True, random_state=seed)
        parts = [rest_idx[test] for _, test in folds.split(rest_idx, full.y[rest_idx])]
    batches = [Dataset(X=full.X[p], y=full.y[p]) for p in parts]
    return Split(holdout=holdout, batches=batches)


def write_split(out_dir: str | os.PathLike, n_batches: int = DEFAULT_BATCHES, seed: int = DEFAULT_SEED) -> dict:
    """Write ``holdout.csv`` and ``batch_01.csv`` ... into ``out_dir``.

    Returns ``{"holdout": path, "batches": [paths]}``. Batch files of an earlier
    split with more batches (``batch_NN.csv`` not written now) are removed, so a
    glob of the folder always sees exactly this split.
    """
    split = make_split(n_batches=n_batches, seed=seed)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    holdout = write_csv(os.path.join(out_dir, HOLDOUT_FILE), split.holdout.X, split.holdout.y)
    batches = []
    for i, b in enumerate(split.batches, start=1):
        batches.append(write_csv(os.path.join(out_dir, batch_file_name(i, n_batches)), b.X, b.y))
    written = {os.path.basename(p) for p in batches}
    for stale in glob.glob(os.path.join(out_dir, "batch_*.csv")):
        name = os.path.basename(stale)
        if _BATCH_RE.match(name) and name not in written:
            os.remove(stale)
    return {"holdout": holdout, "batches": batches}


def find_split(data_dir: str | os.PathLike) -> dict:
    """The files ``write_split`` made in ``data_dir``: ``{"holdout": path, "batches": [paths]}``."""
    data_dir = os.fspath(data_dir)
    holdout = os.path.join(data_dir, HOLDOUT_FILE)
    batches = sorted(
        p for p in glob.glob(os.path.join(data_dir, "batch_*.csv")) if _BATCH_RE.match(os.path.basename(p))
    )
    if not os.path.isfile(holdout):
        raise FileNotFoundError(f"{data_dir}: no {HOLDOUT_FILE} (write one with: python -m model_code.dataset --out {data_dir})")
    if not batches:
        raise FileNotFoundError(f"{data_dir}: no batch_*.csv files")
    return {"holdout": holdout, "batches": batches}


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_code.dataset", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="folder for holdout.csv and batch_NN.csv")
    p.add_argument("--batches", type=int, default=DEFAULT_BATCHES, help="number of arrival batches (default 5)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="split seed (default 0)")
    args = p.parse_args(argv)
    try:
        paths = write_split(args.out, n_batches=args.batches, seed=args.seed)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(paths, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------- any dataset file


def source_csv(spec, work_dir: str) -> str:
    """The CSV a dataset file names in ``[source]``: ``csv = "path"`` (relative to the dataset
    file) or ``example = "<bundled name>"`` (written into ``work_dir``)."""
    src = dict(spec.source or {})
    if "example" in src:
        from .examples import write_csv as write_example

        return write_example(src["example"], os.path.join(work_dir, f"{src['example']}.csv"))
    if "csv" in src:
        base = os.path.dirname(spec.path) if spec.path else os.getcwd()
        path = os.path.join(base, src["csv"])
        if not os.path.isfile(path):
            raise FileNotFoundError(f"the dataset file's [source] csv {src['csv']!r} is not at {path}")
        return path
    raise FileNotFoundError(f"dataset {spec.name!r} names no [source] (csv = \"...\" or example = \"...\")")


def split_csv(spec, csv_path: str, out_dir: str | os.PathLike, n_batches: int = DEFAULT_BATCHES) -> dict:
    """Split a CSV described by ``spec`` into ``holdout.csv`` (the dataset file's fraction,
    seed, stratification) and ``n_batches`` arrival batches (stratified for classification),
    as the original rows' text. Every row is validated first (``model_code.table``)."""
    import csv as _csv
    import io as _io

    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    from .table import parse_table

    with open(csv_path, "rb") as fh:
        data = fh.read()
    table = parse_table(data, spec, os.path.basename(csv_path))
    reader = _csv.reader(_io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader)
    while not any(c.strip() for c in header):
        header = next(reader)
    raw = [r for r in reader if r and any(c.strip() for c in r)]
    idx = np.arange(len(raw))
    strat = table.y if spec.stratify else None
    rest, hold = train_test_split(idx, test_size=spec.holdout_fraction, stratify=strat,
                                  random_state=spec.holdout_seed, shuffle=True)
    rest, hold = np.sort(rest), np.sort(hold)
    max_batches = max(1, len(rest) // 2)
    if not 1 <= n_batches <= max_batches:
        raise ValueError(f"n_batches must be an integer from 1 to {max_batches}, got {n_batches!r}")
    if n_batches == 1:
        parts = [rest]
    elif spec.stratify:
        folds = StratifiedKFold(n_splits=n_batches, shuffle=True, random_state=spec.holdout_seed)
        parts = [rest[t] for _, t in folds.split(rest, table.y[rest])]
    else:
        folds = KFold(n_splits=n_batches, shuffle=True, random_state=spec.holdout_seed)
        parts = [rest[t] for _, t in folds.split(rest)]
    from .data import write_rows_csv

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    holdout = write_rows_csv(os.path.join(out_dir, HOLDOUT_FILE), header, [raw[i] for i in hold])
    batches = [write_rows_csv(os.path.join(out_dir, batch_file_name(i, n_batches)), header, [raw[j] for j in p])
               for i, p in enumerate(parts, start=1)]
    written = {os.path.basename(p) for p in batches}
    for stale in glob.glob(os.path.join(out_dir, "batch_*.csv")):
        if _BATCH_RE.match(os.path.basename(stale)) and os.path.basename(stale) not in written:
            os.remove(stale)
    return {"holdout": holdout, "batches": batches}


def write_dataset_split(spec, out_dir: str | os.PathLike, n_batches: int = DEFAULT_BATCHES) -> dict:
    """``split_csv`` of the CSV the dataset file's ``[source]`` names."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlpipe-src-") as tmp:
        return split_csv(spec, source_csv(spec, tmp), out_dir, n_batches)
