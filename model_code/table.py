"""A data file read against its dataset file (``model_code.spec``): validation, one place.

``parse_table(data, spec, name)`` is what the instance runs on every upload and what
``mlpipe dataset check`` runs on a laptop: a UTF-8 CSV with a header holding every feature
and the target (ignored columns may be there; any other column is refused, named), each
cell checked against its feature (a number in range, an integer, one of the categories, or
missing where the dataset file allows it). A ``DataError`` names the file, the row and the
column. Rows come back as ``Table``: one array per feature (float64 with NaN for a missing
number, object with None for a missing category) and the target (class index 0..K-1, or a
float for regression).

``rows_from_request(instances, spec)`` checks a predict request's rows against the same
dataset file (``RequestError``: 400, naming the row, the feature and, for a category, the
allowed values). Plain ``csv`` + numpy, no pandas: this runs on EC2 and in the Lambda.
"""
from __future__ import annotations

import csv
import difflib
import io
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .data import DataError
from .spec import MAX_ROWS_PER_REQUEST, DatasetSpec

MISSING_CELLS = frozenset({"", "na", "nan", "null", "none", "n/a", "?"})


@dataclass(frozen=True)
class Table:
    columns: dict          # feature name -> np.ndarray (float64 with NaN, or object with None)
    y: np.ndarray | None   # class index (int64) or value (float64); None for request rows
    n_rows: int

    def take(self, idx) -> "Table":
        idx = np.asarray(idx)
        return Table({k: v[idx] for k, v in self.columns.items()}, None if self.y is None else self.y[idx],
                     int(len(idx)))


def concat(tables: Sequence[Table]) -> Table:
    tables = list(tables)
    if not tables:
        raise DataError("no data files given")
    cols = {k: np.concatenate([t.columns[k] for t in tables]) for k in tables[0].columns}
    return Table(cols, np.concatenate([t.y for t in tables]), sum(t.n_rows for t in tables))


def _fail(name: str, message: str) -> DataError:
    return DataError(f"{name}: {message}")


def _shown(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")


def _cell_value(spec_feature, cell: str, name: str, where: str):
    """A cell as a float, a category string, or None (missing, where allowed)."""
    f = spec_feature
    text = cell.strip()
    if text.lower() in MISSING_CELLS:
        if f.missing == "refuse":
            raise _fail(name, f"{where}: missing value (the dataset file says missing = \"refuse\" for "
                              f"{f.name!r})")
        return None
    if f.is_category:
        if text not in f.categories:
            raise _fail(name, f"{where}: {_shown(text)} is not one of the categories "
                              f"{', '.join(map(repr, f.categories))}")
        return text
    try:
        value = float(text)
    except ValueError:
        raise _fail(name, f"{where}: {_shown(cell)} is not a number") from None
    if not math.isfinite(value):
        raise _fail(name, f"{where}: {text!r} is not a finite number")
    if f.type == "integer" and value != int(value):
        raise _fail(name, f"{where}: {text!r} is not an integer")
    if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
        raise _fail(name, f"{where}: {value!r} is outside the plausible range {_g(f.min)} to {_g(f.max)}")
    return value


def _g(v) -> str:
    return "any" if v is None else f"{v:g}"


def parse_table(data: bytes, spec: DatasetSpec, name: str = "<data>", *, with_target: bool = True) -> Table:
    """Validate and parse a data file's bytes against ``spec`` (``name`` is used in messages)."""
    if not data:
        raise _fail(name, f"the file is empty (expected a header row with {spec.target!r} and the features)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(name, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    features = spec.features
    try:
        header = next(reader, None)
        while header is not None and not any(c.strip() for c in header):
            header = next(reader, None)
        if header is None:
            raise _fail(name, "the file has no header row (only blank lines)")
        columns = [c.strip() for c in header]
        seen = set()
        for c in columns:
            if c in seen:
                raise _fail(name, f"header: duplicate column {c!r}")
            seen.add(c)
        wanted = [f.name for f in features] + ([spec.target] if with_target else [])
        missing = [c for c in wanted if c not in seen]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise _fail(name, f"header: missing column {missing[0]!r}{more}")
        known = set(wanted) | set(spec.ignore) | {spec.target}
        extra = [c for c in columns if c not in known]
        if extra:
            shown = repr(extra[0]) if extra[0] else "with an empty name"
            raise _fail(name, f"header: column {shown} is not in the dataset file ({spec.name}); add it under "
                              "[[features]] or to ignore")
        pos = [columns.index(f.name) for f in features]
        tpos = columns.index(spec.target) if spec.target in seen else None
        class_index = {v: i for i, v in enumerate(spec.class_values)}
        values = [[] for _ in features]
        ys = []
        header_line = reader.line_num
        for cells in reader:
            row = reader.line_num - header_line
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise _fail(name, f"row {row}: has {len(cells)} cells, the header has {len(columns)}")
            for j, (f, k) in enumerate(zip(features, pos)):
                values[j].append(_cell_value(f, cells[k], name, f"row {row}, column {f.name!r}"))
            if with_target:
                cell = cells[tpos].strip()
                where = f"row {row}, column {spec.target!r}"
                if spec.is_classification:
                    key = _class_key(cell, class_index)
                    if key is None:
                        raise _fail(name, f"{where}: {_shown(cell)} is not a class of the dataset file "
                                          f"(expected {', '.join(f'{v} = {lab}' for v, lab in spec.classes)})")
                    ys.append(class_index[key])
                else:
                    try:
                        value = float(cell)
                    except ValueError:
                        raise _fail(name, f"{where}: {_shown(cell)} is not a number") from None
                    if not math.isfinite(value):
                        raise _fail(name, f"{where}: {cell!r} is not a finite number")
                    ys.append(value)
    except csv.Error as exc:
        raise _fail(name, f"row {max(reader.line_num - 1, 1)}: not valid CSV ({exc})") from None
    n = len(values[0]) if values else 0
    if not n:
        raise _fail(name, "no data rows (only a header)")
    cols = {f.name: _column(f, v) for f, v in zip(features, values)}
    y = None
    if with_target:
        y = np.asarray(ys, dtype=np.int64 if spec.is_classification else np.float64)
    return Table(cols, y, n)


def _class_key(cell: str, class_index: dict) -> str | None:
    if cell in class_index:
        return cell
    try:  # "1.0" for class "1"
        as_float = float(cell)
    except ValueError:
        return None
    for v in class_index:
        try:
            if float(v) == as_float:
                return v
        except ValueError:
            continue
    return None


def _column(f, vals: list) -> np.ndarray:
    if f.is_category:
        out = np.empty(len(vals), dtype=object)
        out[:] = vals
        return out
    return np.array([np.nan if v is None else v for v in vals], dtype=np.float64)


# --------------------------------------------------------------------------- predict requests


class RequestError(ValueError):
    """Request rows that do not fit the dataset file (answered with 400 and this message)."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def rows_from_request(instances: Any, spec: DatasetSpec, max_rows: int = MAX_ROWS_PER_REQUEST) -> Table:
    """A request's ``instances`` (a list of objects feature -> value) checked against ``spec``.

    Numbers must be JSON numbers (no bool, no NaN); ranges are not enforced (an unusual but
    real measurement still gets an answer). A category must be one of its categories. A
    feature the dataset file lets be missing may be null or left out (it is imputed).
    """
    if not isinstance(instances, list):
        raise RequestError(f"'instances' must be a list of objects, got {type(instances).__name__}")
    if not instances:
        raise RequestError("'instances' is empty: send at least one row")
    if len(instances) > max_rows:
        raise RequestError(f"'instances' has {len(instances)} rows; at most {max_rows} per request")
    names = spec.feature_names
    known = set(names)
    features = [(f, f.name, f.is_category, []) for f in spec.features]
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise RequestError(f"instances[{i}] must be an object of feature: value, got {type(row).__name__}")
        for k in row:
            if k not in known:
                match = difflib.get_close_matches(str(k), names, n=1)
                hint = f" (did you mean {match[0]!r}?)" if match else ""
                raise RequestError(f"instances[{i}]: unknown feature {_describe(k)}{hint}")
        for f, name, is_category, col in features:
            value = row.get(name)
            if value is None:
                if f.missing == "refuse":
                    raise RequestError(f"instances[{i}]: missing feature {name!r}" if name not in row
                                       else f"instances[{i}][{name!r}]: null is not allowed (the dataset "
                                       "refuses missing values)")
                col.append(None)
                continue
            if is_category:
                if not isinstance(value, str) or value not in f.categories:
                    raise RequestError(f"instances[{i}][{name!r}]: {_describe(value)} is not an allowed "
                                       f"value; allowed: {', '.join(map(repr, f.categories))}")
                col.append(value)
                continue
            if type(value) is float:  # the common case: a JSON number with a fraction
                number = value
            else:
                number = _request_number(value, f"instances[{i}][{name!r}]")
            if not math.isfinite(number):
                raise RequestError(f"instances[{i}][{name!r}]: {value!r} is not a finite number")
            col.append(number)
    # every number column converted at once (None -> NaN); each feature's column is a view
    numbers = [col for _, _, is_category, col in features if not is_category]
    matrix = np.array(numbers, dtype=np.float64).reshape(len(numbers), len(instances))
    columns, k = {}, 0
    for f, name, is_category, col in features:
        if is_category:
            columns[name] = _column(f, col)
        else:
            columns[name], k = matrix[k], k + 1
    return Table(columns, None, len(instances))


def _request_number(value: Any, at: str) -> float:
    """A request cell that must be a number, as a float (``RequestError`` naming ``at``)."""
    if isinstance(value, bool):
        raise RequestError(f"{at}: {value!r} is a boolean, not a number")
    if isinstance(value, (dict, list, tuple)):
        raise RequestError(f"{at}: nested {type(value).__name__} is not a number")
    if not isinstance(value, (int, float)):
        raise RequestError(f"{at}: {_describe(value)} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise RequestError(f"{at}: {_describe(value)} is too large") from None

