"""Reading and writing data files (the data contract's CSV), with validation.

A data file is UTF-8 CSV with a header: the 30 feature names exactly as
``load_breast_cancer().feature_names`` spells them plus the label column
``target`` (0 malignant, 1 benign), in any column order, and at least one row.

``load_csv`` rejects anything else with a ``DataError`` whose message names the
file, the column and the row (1-based data row; the header is line 1, so data
row N is line N+1), e.g.::

    batch_bad.csv: row 3, column 'mean radius': 'abc' is not a number

Feature values must lie in the schema's plausible ranges (``schema.FEATURES`` min/max),
so a finite but absurd value (``1e308``) is refused here, not found later by training.

Plain ``csv`` + numpy: no pandas (this module also runs on EC2 and in a layer).
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .schema import FEATURE_NAMES, FEATURES, LABEL, LABEL_NAMES, LABELS

HEADER = (*FEATURE_NAMES, LABEL)


class DataError(ValueError):
    """A data file that does not follow the data contract."""


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n, 30) float64, labels ``y`` (n,) int64, and where they came from."""

    X: np.ndarray
    y: np.ndarray
    path: str | None = None
    paths: tuple = field(default=())

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def class_counts(self) -> dict:
        """Rows per label, e.g. ``{"malignant (0)": 42, "benign (1)": 72}``."""
        counts = np.bincount(self.y.astype(np.int64), minlength=len(LABELS))
        return {f"{LABEL_NAMES[k]} ({k})": int(counts[k]) for k in LABELS}


def _fail(name: str, message: str) -> DataError:
    return DataError(f"{name}: {message}")


def _check_range(name: str, row: int, feature, value: float) -> float:
    """Refuse a value outside the feature's plausible range (``model_code.schema.FEATURES``):
    a 1e308 cell is finite, yet it overflows the scaler and poisons every later run."""
    if not feature.min <= value <= feature.max:
        raise _fail(name, f"row {row}, column {feature.name!r}: {value!r} is outside the plausible range "
                          f"{feature.min:g} to {feature.max:g}")
    return value


def _parse_number(name: str, row: int, column: str, cell: str) -> float:
    where = f"row {row}, column {column!r}"
    text = cell.strip()
    if not text:
        raise _fail(name, f"{where}: empty cell")
    try:
        value = float(text)
    except ValueError:
        shown = cell if len(cell) <= 40 else cell[:37] + "..."
        raise _fail(name, f"{where}: {shown!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(name, f"{where}: {text!r} is not a finite number")
    return value


def parse_csv(data: bytes, name: str = "<data>") -> Dataset:
    """Validate and parse a data file's bytes (``name`` is used in messages)."""
    if not data:
        raise _fail(name, f"the file is empty (expected a header row: {', '.join(HEADER[:2])}, ..., {LABEL})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            name, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8 CSV"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)  # blank lines before the header
        if header is None:
            raise _fail(name, "the file has no header row (only blank lines)")
        columns = [c.strip() for c in header]

        seen: dict[str, int] = {}
        for c in columns:
            if c in seen:
                raise _fail(name, f"header: duplicate column {c!r}")
            seen[c] = 1
        missing = [c for c in HEADER if c not in seen]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise _fail(name, f"header: missing column {missing[0]!r}{more}")
        extra = [c for c in columns if c not in HEADER]
        if extra:
            shown = repr(extra[0]) if extra[0] else "with an empty name"
            raise _fail(name, f"header: unexpected column {shown} (expected the 30 features and {LABEL!r})")

        order = [columns.index(c) for c in HEADER]  # file position of each contract column
        rows_X: list[list[float]] = []
        rows_y: list[int] = []
        header_line = reader.line_num
        for cells in reader:
            row = reader.line_num - header_line  # 1-based data row (blank lines count)
            if not cells or not any(c.strip() for c in cells):
                continue  # blank line (e.g. a trailing newline)
            if len(cells) != len(columns):
                raise _fail(name, f"row {row}: has {len(cells)} cells, the header has {len(columns)}")
            values = [_check_range(name, row, f, _parse_number(name, row, f.name, cells[k]))
                      for f, k in zip(FEATURES, order[:-1])]
            label_cell = cells[order[-1]]
            label = _parse_number(name, row, LABEL, label_cell)
            if label not in LABELS:
                raise _fail(
                    name,
                    f"row {row}, column {LABEL!r}: {label_cell.strip()!r} is not a label "
                    f"(expected 0 = malignant or 1 = benign)",
                )
            rows_X.append(values)
            rows_y.append(int(label))
    except csv.Error as exc:
        raise _fail(name, f"row {max(reader.line_num - 1, 1)}: not valid CSV ({exc})") from None
    if not rows_y:
        raise _fail(name, "no data rows (only a header)")
    X = np.asarray(rows_X, dtype=np.float64)
    y = np.asarray(rows_y, dtype=np.int64)
    return Dataset(X=X, y=y, path=None, paths=())


def load_csv(path: str | os.PathLike) -> Dataset:
    """Read and validate one data file. Raises ``DataError`` (never a traceback-worthy error
    for a bad file): the message names the file, column and row."""
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _fail(name, f"cannot read {path}: {exc.strerror or exc}") from None
    ds = parse_csv(data, name)
    return Dataset(X=ds.X, y=ds.y, path=path, paths=(path,))


def load_many(paths: Iterable[str | os.PathLike]) -> Dataset:
    """Load and concatenate several data files (in the order given)."""
    parts = [load_csv(p) for p in paths]
    if not parts:
        raise DataError("no data files given")
    X = np.concatenate([p.X for p in parts])
    y = np.concatenate([p.y for p in parts])
    all_paths = tuple(p.path for p in parts)
    return Dataset(X=X, y=y, path=all_paths[0] if len(all_paths) == 1 else None, paths=all_paths)


def write_csv(path: str | os.PathLike, X: np.ndarray, y: Sequence[int]) -> str:
    """Write a data file in the contract's format (floats written exactly, by repr)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"X must have shape (n, {len(FEATURE_NAMES)}), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    return write_rows_csv(path, HEADER,
                          ([repr(v) for v in xs] + [int(label)] for xs, label in zip(X.tolist(), y.tolist())))


def write_rows_csv(path, header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """Write ``rows`` under ``header`` as a CSV file, atomically (a temporary file, then a
    rename: a reader never sees half a file); creates the folder."""
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)
    return path
