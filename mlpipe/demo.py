"""Broken data files for the classroom: each breaks one rule of the data contract, so a
notebook can show the pipeline rejecting it (and the model staying as it was)."""
from __future__ import annotations

import csv
from pathlib import Path

PROBLEMS = {
    "wrong_column": "the column 'mean radius' is renamed 'mean radius (mm)'",
    "not_a_number": "one cell of 'mean texture' holds the text 'n/a'",
    "bad_label": "one row's target is 2 (labels are 0 or 1)",
}


def make_bad_batch(src: str | Path, dst: str | Path, problem: str = "wrong_column", column: str | None = None) -> Path:
    """Copy the CSV ``src`` to ``dst`` with one problem of ``PROBLEMS``; return ``dst``.
    ``column``: the column to break (default: the default dataset's, else the first one);
    ``bad_label`` always breaks ``target``."""
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}: choose one of {', '.join(PROBLEMS)}")
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise ValueError(f"{src}: needs a header and at least one row")
    header = rows[0]
    if problem == "wrong_column":
        col = column or ("mean radius" if "mean radius" in header else header[0])
        header[header.index(col)] = f"{col} (mm)"
    elif problem == "not_a_number":
        col = column or ("mean texture" if "mean texture" in header else header[0])
        rows[1][header.index(col)] = "n/a"
    else:
        rows[1][header.index("target")] = "2"
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return dst
