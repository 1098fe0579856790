"""The model's feature schema: names, order, types, plausible ranges.

One source for training (CSV columns), the API's request model (``json_schema()``)
and the predict handler's validation (``validate_instances``). Imports only numpy
and the standard library, so the predict Lambda validates a request without paying
for scikit-learn's import.

The ranges in ``FEATURES`` are the data's min/max widened generously (min 0, max
about twice the largest value in the dataset). Training data validation
(``model_code.data``) refuses values outside them (a ``1e308`` cell would overflow
training). Request validation does NOT reject values outside them: a real measurement may be unusual, and the model still answers. It
rejects only what cannot be a feature vector: not a list, empty, too many rows,
a row that is not an object, a missing or unknown feature, a bool, a non-number,
a nested value, NaN or infinity.
"""
from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import numpy as np

LABEL = "target"
LABELS = (0, 1)
LABEL_NAMES = {0: "malignant", 1: "benign"}  # scikit-learn's encoding
MAX_ROWS_PER_REQUEST = 1000


class Feature(NamedTuple):
    name: str
    dtype: str = "float"
    min: float = 0.0
    max: float = math.inf


# (name, plausible max) in load_breast_cancer().feature_names order. All features are
# non-negative measurements; each max is about 2x the dataset's largest value.
_RANGES = (
    ("mean radius", 60),
    ("mean texture", 80),
    ("mean perimeter", 400),
    ("mean area", 5500),
    ("mean smoothness", 0.35),
    ("mean compactness", 0.7),
    ("mean concavity", 0.9),
    ("mean concave points", 0.45),
    ("mean symmetry", 0.65),
    ("mean fractal dimension", 0.2),
    ("radius error", 6),
    ("texture error", 10),
    ("perimeter error", 45),
    ("area error", 1500),
    ("smoothness error", 0.065),
    ("compactness error", 0.3),
    ("concavity error", 0.8),
    ("concave points error", 0.15),
    ("symmetry error", 0.2),
    ("fractal dimension error", 0.06),
    ("worst radius", 75),
    ("worst texture", 100),
    ("worst perimeter", 550),
    ("worst area", 9000),
    ("worst smoothness", 0.45),
    ("worst compactness", 2.5),
    ("worst concavity", 3),
    ("worst concave points", 0.6),
    ("worst symmetry", 1.5),
    ("worst fractal dimension", 0.45),
)

FEATURES = [Feature(name, "float", 0.0, float(hi)) for name, hi in _RANGES]
FEATURE_NAMES = tuple(f.name for f in FEATURES)
_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


class SchemaError(ValueError):
    """A prediction request that is not a valid list of feature vectors."""


def _close_match(name: str) -> str:
    import difflib

    match = difflib.get_close_matches(name, FEATURE_NAMES, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_FEATURE_SET = frozenset(FEATURE_NAMES)
_NUMBER_TYPES = frozenset({int, float})  # exactly: a bool is an int subclass, and is refused
_IN_ORDER = operator.itemgetter(*FEATURE_NAMES)


def _fast(instances: list) -> np.ndarray | None:
    """The common case, checked in bulk: every row an object with exactly the features, every
    value an int or float, all finite. None when anything is off (the slow path names it)."""
    values = []
    for row in instances:
        if type(row) is not dict or row.keys() != _FEATURE_SET:
            return None
        vals = _IN_ORDER(row)
        if not _NUMBER_TYPES.issuperset(map(type, vals)):
            return None
        values.append(vals)
    try:
        out = np.array(values, dtype=np.float64)
    except (OverflowError, ValueError, TypeError):
        return None
    return out if np.isfinite(out).all() else None


def validate_instances(instances: Any, max_rows: int = MAX_ROWS_PER_REQUEST) -> np.ndarray:
    """Check a request's ``instances`` and return them as a float array (n, 30).

    ``instances`` is what JSON decoding gave: a list of objects mapping every
    feature name to a number. Raises ``SchemaError`` naming the row (0-based, as
    ``instances[i]``) and the feature for the first problem found.
    """
    if isinstance(instances, list) and 0 < len(instances) <= max_rows:
        fast = _fast(instances)
        if fast is not None:
            return fast
    if not isinstance(instances, list):
        raise SchemaError(
            f"'instances' must be a list of objects, got {type(instances).__name__}"
        )
    if not instances:
        raise SchemaError("'instances' is empty: send at least one row")
    if len(instances) > max_rows:
        raise SchemaError(
            f"'instances' has {len(instances)} rows; at most {max_rows} per request"
        )
    out = np.empty((len(instances), len(FEATURE_NAMES)), dtype=np.float64)
    for i, row in enumerate(instances):
        where = f"instances[{i}]"
        if not isinstance(row, dict):
            raise SchemaError(
                f"{where} must be an object of feature: number, got {type(row).__name__}"
            )
        unknown = [k for k in row if k not in _FEATURE_INDEX]
        if unknown:
            k = unknown[0]
            raise SchemaError(f"{where}: unknown feature {_describe(k)}{_close_match(str(k))}")
        missing = [name for name in FEATURE_NAMES if name not in row]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise SchemaError(f"{where}: missing feature {missing[0]!r}{more}")
        for name, j in _FEATURE_INDEX.items():
            value = row[name]
            at = f"{where}[{name!r}]"
            if isinstance(value, bool):
                raise SchemaError(f"{at}: {value!r} is a boolean, not a number")
            if isinstance(value, (dict, list, tuple)):
                raise SchemaError(f"{at}: nested {type(value).__name__} is not a number")
            if value is None:
                raise SchemaError(f"{at}: null is not a number")
            if not isinstance(value, (int, float)):
                raise SchemaError(f"{at}: {_describe(value)} is not a number")
            try:
                number = float(value)
            except OverflowError:
                raise SchemaError(f"{at}: {_describe(value)} is too large") from None
            if not math.isfinite(number):
                raise SchemaError(f"{at}: {value!r} is not a finite number")
            out[i, j] = number
    return out


def json_schema(max_rows: int = MAX_ROWS_PER_REQUEST) -> dict:
    """The request body's JSON Schema (draft-04), for API Gateway's request model.

    It checks shape and types only (as ``validate_instances`` does, minus NaN/inf,
    which JSON cannot carry anyway); ranges are not enforced.
    """
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "PredictRequest",
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {
                    "type": "object",
                    "required": list(FEATURE_NAMES),
                    "properties": {name: {"type": "number"} for name in FEATURE_NAMES},
                    "additionalProperties": False,
                },
            }
        },
    }
