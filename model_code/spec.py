"""The dataset file (``dataset.toml``): one description of a tabular CSV that everything derives from.

Read with the standard library's ``tomllib`` (Python 3.11+), so the training instance and
the Lambdas need nothing new. A file looks like this (every key is explained in
docs/CONTRACTS.md, "The dataset file")::

    name = "wine"
    description = "scikit-learn's wine data: 13 measurements of 178 wines, 3 cultivars"
    ignore = ["id"]                      # columns in the CSV that are not features

    [target]
    column = "target"
    task = "multiclass"                  # binary | multiclass | regression
    [target.classes]                     # classification only: CSV value = label for a person
    "0" = "cultivar A"
    "1" = "cultivar B"
    "2" = "cultivar C"

    [holdout]
    fraction = 0.2
    seed = 0
    stratify = true

    [promotion]
    metric = "accuracy"                  # roc_auc accuracy f1_macro | rmse mae r2
    direction = "higher"                 # higher | lower (must fit the metric)
    tolerance = 0.0

    [model]
    kind = "logreg"                      # binary/multiclass: logreg forest; regression: ridge forest

    [[features]]
    name = "alcohol"
    type = "number"                      # number | integer | category
    min = 0.0
    max = 30.0
    missing = "refuse"                   # refuse | mean | median | most_frequent | constant

    [[features]]
    name = "region"
    type = "category"
    categories = ["north", "south"]
    missing = "constant"
    fill = "north"

``load(path)`` / ``parse(text)`` refuse a bad file with ``SpecError`` naming the line and the
reason (unknown type, duplicate column, empty category list, min > max, ...).
Imports only the standard library.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11
    tomllib = None

TASKS = ("binary", "multiclass", "regression")
TYPES = ("number", "integer", "category")
MISSING = ("refuse", "mean", "median", "most_frequent", "constant")
# metric -> (tasks it is defined for, the direction that is better)
METRICS = {
    "roc_auc": (("binary",), "higher"),
    "accuracy": (("binary", "multiclass"), "higher"),
    "f1_macro": (("binary", "multiclass"), "higher"),
    "rmse": (("regression",), "lower"),
    "mae": (("regression",), "lower"),
    "r2": (("regression",), "higher"),
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
MODEL_KINDS = {"binary": ("logreg", "forest"), "multiclass": ("logreg", "forest"),
               "regression": ("ridge", "forest")}
DATASETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datasets")
DEFAULT_DATASET = "breast_cancer"
MAX_ROWS_PER_REQUEST = 1000


class SpecError(ValueError):
    """A dataset file that cannot be used; the message names the line and the reason."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: str = "number"
    min: float | None = None
    max: float | None = None
    categories: tuple = ()
    missing: str = "refuse"
    fill: Any = None

    @property
    def is_category(self) -> bool:
        return self.type == "category"

    def to_dict(self) -> dict:
        d = {"name": self.name, "type": self.type}
        if self.is_category:
            d["categories"] = list(self.categories)
        else:
            if self.min is not None:
                d["min"] = self.min
            if self.max is not None:
                d["max"] = self.max
        d["missing"] = self.missing
        if self.missing == "constant":
            d["fill"] = self.fill
        return d


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    target: str
    task: str
    features: tuple
    classes: tuple = ()          # ((csv value, label), ...) in class-index order; () for regression
    ignore: tuple = ()
    description: str = ""
    holdout_fraction: float = 0.2
    holdout_seed: int = 0
    stratify: bool = True
    metric: str = "roc_auc"
    direction: str = "higher"
    tolerance: float = 0.0
    model_kind: str = "logreg"
    source: Mapping = field(default_factory=dict)   # where the CSV comes from (init writes it)
    path: str | None = None

    @property
    def feature_names(self) -> tuple:
        return tuple(f.name for f in self.features)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def class_values(self) -> tuple:
        return tuple(v for v, _ in self.classes)

    @property
    def class_labels(self) -> tuple:
        return tuple(label for _, label in self.classes)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def better(self, new: float, old: float, tolerance: float | None = None) -> bool:
        """Whether ``new`` passes the gate against ``old``: not worse by more than the tolerance."""
        tol = self.tolerance if tolerance is None else tolerance
        return new >= old - tol if self.direction == "higher" else new <= old + tol

    def to_dict(self) -> dict:
        """The spec as JSON-ready data (what the model card and ``models/latest.json`` carry)."""
        return {
            "name": self.name, "description": self.description, "target": self.target, "task": self.task,
            "classes": [{"value": v, "label": label} for v, label in self.classes],
            "ignore": list(self.ignore), "features": [f.to_dict() for f in self.features],
            "holdout": {"fraction": self.holdout_fraction, "seed": self.holdout_seed, "stratify": self.stratify},
            "promotion": {"metric": self.metric, "direction": self.direction, "tolerance": self.tolerance},
            "model": {"kind": self.model_kind},
        }

    def json_schema(self, max_rows: int = MAX_ROWS_PER_REQUEST) -> dict:
        """The predict request body's JSON Schema (draft-04) for API Gateway's request model:
        shape and types (a category is a string); a feature that may be missing may be null or
        left out. Ranges are not enforced (predict answers unusual values), nor is a category's
        list: predict refuses a wrong category with a 400 naming the feature and the allowed
        values, which the gateway's enum message would not name."""
        props, required = {}, []
        for f in self.features:
            if f.is_category:
                p = {"type": "string"}
            else:  # an integer feature too: 127.0 is a fine value for it
                p = {"type": "number"}
            if f.missing == "refuse":
                required.append(f.name)
            else:
                p = {"type": [p["type"], "null"]}
            props[f.name] = p
        return {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "PredictRequest",
            "type": "object",
            "required": ["instances"],
            "properties": {"instances": {
                "type": "array", "minItems": 1, "maxItems": max_rows,
                "items": {"type": "object", "required": required, "properties": props,
                          "additionalProperties": False},
            }},
        }


# --------------------------------------------------------------------------- reading


class _Lines:
    """Line numbers for a parsed TOML text's keys (tomllib gives none after a successful parse)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_.-]+)\s*=')

    def __init__(self, text: str):
        self.sections = []  # (table name, index among [[...]] of that name, first line)
        counts: dict = {}
        self.lines = text.splitlines()
        cur = ("", 0, 1)
        self.sections.append(cur)
        for i, line in enumerate(self.lines, start=1):
            m = self._HEADER.match(line)
            if m:
                name = m.group(2).strip()
                idx = counts.get(name, 0)
                if m.group(1) == "[[":
                    counts[name] = idx + 1
                self.sections.append((name, idx, i))

    def table(self, name: str, index: int = 0) -> int:
        for n, idx, line in self.sections:
            if n == name and idx == index:
                return line
        return 1

    def key(self, table: str, key: str, index: int = 0) -> int:
        start = self.table(table, index) if table else 1
        for i in range(start, len(self.lines) + 1):
            line = self.lines[i - 1]
            if i > start and self._HEADER.match(line):
                break
            m = self._KEY.match(line)
            if m and m.group(1).strip("\"'") == key:
                return i
        return start


def _err(where: str, line: int, reason: str) -> SpecError:
    return SpecError(f"{where}:{line}: {reason}")


def load(path: str | os.PathLike) -> DatasetSpec:
    """Read and check a dataset file (``SpecError`` names the file, the line and the reason)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the dataset file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}:1: the dataset file is not UTF-8 text") from None
    spec = parse(text, where=path)
    return _replace(spec, path=path)


def bundled(name: str) -> DatasetSpec:
    """A bundled example's dataset file (``model_code/datasets/<name>.toml``)."""
    path = os.path.join(DATASETS_DIR, f"{name}.toml")
    if not os.path.isfile(path):
        raise SpecError(f"no bundled dataset {name!r}; bundled: {', '.join(bundled_names())}")
    return load(path)


def bundled_names() -> tuple:
    return tuple(sorted(n[:-5] for n in os.listdir(DATASETS_DIR) if n.endswith(".toml")))


def default() -> DatasetSpec:
    """The default dataset: scikit-learn's breast cancer data."""
    return bundled(DEFAULT_DATASET)


def resolve(name_or_path: str | None) -> DatasetSpec:
    """A bundled name (``wine``) or a path to a dataset file; None: the default."""
    if not name_or_path:
        return default()
    if os.path.sep in name_or_path or name_or_path.endswith(".toml") or os.path.isfile(name_or_path):
        return load(name_or_path)
    return bundled(name_or_path)


def _replace(spec: DatasetSpec, **changes) -> DatasetSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse(text: str, where: str = "dataset.toml") -> DatasetSpec:
    """Check a dataset file's text and return the spec. ``SpecError`` names the line and the reason."""
    if tomllib is None:  # pragma: no cover
        raise SpecError("reading a dataset file needs Python 3.11+ (tomllib)")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise _err(where, int(m.group(1)) if m else 1, f"not valid TOML: {exc}") from None
    return from_mapping(doc, where, _Lines(text))


def from_dict(doc: Mapping) -> DatasetSpec:
    """The spec from ``DatasetSpec.to_dict()`` (what a model card or pointer carries)."""
    classes = doc.get("classes") or []
    toml_like = {
        "name": doc.get("name", "dataset"), "description": doc.get("description", ""),
        "ignore": doc.get("ignore", []),
        "target": {"column": doc["target"], "task": doc["task"],
                   **({"classes": {c["value"]: c["label"] for c in classes}} if classes else {})},
        "features": doc["features"], "holdout": doc.get("holdout", {}), "promotion": doc.get("promotion", {}),
        "model": doc.get("model", {}),
    }
    return from_mapping(toml_like, "dataset", None)


_TOP_KEYS = {"name", "description", "ignore", "target", "holdout", "promotion", "model", "features", "source"}
_FEATURE_KEYS = {"name", "type", "min", "max", "categories", "missing", "fill"}


def from_mapping(doc: Mapping, where: str = "dataset.toml", lines: _Lines | None = None) -> DatasetSpec:
    lines = lines or _Lines("")

    def fail(reason: str, table: str = "", key: str | None = None, index: int = 0):
        line = lines.key(table, key, index) if key else lines.table(table, index) if table else 1
        raise _err(where, line, reason)

    for k in doc:
        if k not in _TOP_KEYS:
            fail(f"unknown key {k!r} (expected one of {', '.join(sorted(_TOP_KEYS))})", "", k)
    name = doc.get("name", "dataset")
    if not isinstance(name, str) or not name:
        fail("name must be a non-empty string", "", "name")
    description = doc.get("description", "")
    ignore = doc.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
        fail("ignore must be a list of column names", "", "ignore")

    target = doc.get("target")
    if not isinstance(target, Mapping):
        fail("no [target] table: name the column to predict and the task", "")
    column = target.get("column")
    if not isinstance(column, str) or not column:
        fail("[target] needs column = \"<the column to predict>\"", "target", "column")
    task = target.get("task")
    if task not in TASKS:
        fail(f"[target] task {task!r} is not one of {', '.join(TASKS)}", "target", "task")
    classes = ()
    raw_classes = target.get("classes")
    if task == "regression":
        if raw_classes:
            fail("a regression target has no classes; remove [target.classes]", "target.classes")
    else:
        if not isinstance(raw_classes, Mapping) or not raw_classes:
            fail(f"a {task} target needs [target.classes]: each CSV value = a label for a person",
                 "target.classes" if raw_classes is not None else "target")
        classes = tuple((str(k), str(v)) for k, v in raw_classes.items())
        if task == "binary" and len(classes) != 2:
            fail(f"a binary target has exactly 2 classes, [target.classes] has {len(classes)}", "target.classes")
        if task == "multiclass" and len(classes) < 3:
            fail(f"a multiclass target has at least 3 classes (2 is binary), got {len(classes)}", "target.classes")
        labels = [v for _, v in classes]
        if len(set(labels)) != len(labels):
            fail("two classes have the same label", "target.classes")

    raw_features = doc.get("features")
    if not isinstance(raw_features, list) or not raw_features:
        fail("no [[features]]: describe at least one feature column", "")
    features, seen = [], {column: "the target"}
    for c in ignore:
        if c in seen:
            fail(f"column {c!r} is both ignored and {seen[c]}", "", "ignore")
        seen[c] = "ignored"
    for i, f in enumerate(raw_features):
        features.append(_feature(f, i, seen, fail))

    holdout = doc.get("holdout", {})
    frac = holdout.get("fraction", 0.2)
    if not _number(frac) or not 0 < frac < 1:
        fail(f"[holdout] fraction must be a number between 0 and 1, got {frac!r}", "holdout", "fraction")
    seed = holdout.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        fail(f"[holdout] seed must be a non-negative integer, got {seed!r}", "holdout", "seed")
    stratify = holdout.get("stratify", task != "regression")
    if not isinstance(stratify, bool):
        fail("[holdout] stratify must be true or false", "holdout", "stratify")
    if stratify and task == "regression":
        fail("[holdout] stratify applies to classes; a regression target cannot be stratified", "holdout",
             "stratify")

    promo = doc.get("promotion", {})
    metric = promo.get("metric", DEFAULT_METRIC[task])
    if metric not in METRICS:
        fail(f"[promotion] metric {metric!r} is not one of {', '.join(METRICS)}", "promotion", "metric")
    tasks, better = METRICS[metric]
    if task not in tasks:
        fail(f"[promotion] metric {metric!r} is for {'/'.join(tasks)} targets, this one is {task}",
             "promotion", "metric")
    direction = promo.get("direction", better)
    if direction != better:
        fail(f"[promotion] direction {direction!r}: for {metric} {better} is better", "promotion", "direction")
    tolerance = promo.get("tolerance", 0.0)
    if not _number(tolerance) or tolerance < 0:
        fail(f"[promotion] tolerance must be a number >= 0, got {tolerance!r}", "promotion", "tolerance")

    model = doc.get("model", {})
    kind = model.get("kind", MODEL_KINDS[task][0])
    if kind not in MODEL_KINDS[task]:
        fail(f"[model] kind {kind!r} does not fit a {task} target: choose {' or '.join(MODEL_KINDS[task])}",
             "model", "kind")
    source = doc.get("source", {})
    if not isinstance(source, Mapping):
        fail("[source] must be a table", "source")
    return DatasetSpec(
        name=name, description=str(description), target=column, task=task, features=tuple(features),
        classes=classes, ignore=tuple(ignore), holdout_fraction=float(frac), holdout_seed=int(seed),
        stratify=stratify, metric=metric, direction=direction, tolerance=float(tolerance), model_kind=kind,
        source=dict(source))


def _feature(f: Any, i: int, seen: dict, fail) -> Feature:
    if not isinstance(f, Mapping):
        fail(f"[[features]] entry {i + 1} is not a table", "features", None, i)
    for k in f:
        if k not in _FEATURE_KEYS:
            fail(f"unknown feature key {k!r} (expected {', '.join(sorted(_FEATURE_KEYS))})", "features", k, i)
    name = f.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("a feature needs name = \"<the CSV column>\"", "features", "name", i)
    if name in seen:
        fail(f"duplicate column {name!r} (already {seen[name]})", "features", "name", i)
    seen[name] = f"feature {i + 1}"
    ftype = f.get("type", "number")
    if ftype not in TYPES:
        fail(f"feature {name!r}: unknown type {ftype!r} (expected {', '.join(TYPES)})", "features", "type", i)
    missing = f.get("missing", "refuse")
    if missing not in MISSING:
        fail(f"feature {name!r}: missing = {missing!r} is not one of {', '.join(MISSING)}", "features", "missing", i)
    lo = hi = None
    categories = ()
    fill = f.get("fill")
    if ftype == "category":
        cats = f.get("categories")
        if "min" in f or "max" in f:
            fail(f"feature {name!r}: a category has categories, not min/max", "features",
                 "min" if "min" in f else "max", i)
        if not isinstance(cats, list) or not cats:
            fail(f"feature {name!r}: a category needs a non-empty categories list", "features",
                 "categories" if "categories" in f else "type", i)
        if not all(isinstance(c, str) and c != "" for c in cats):
            fail(f"feature {name!r}: categories must be non-empty strings", "features", "categories", i)
        if len(set(cats)) != len(cats):
            fail(f"feature {name!r}: a category is listed twice", "features", "categories", i)
        if missing in ("mean", "median"):
            fail(f"feature {name!r}: a category cannot be imputed with the {missing}; use most_frequent or "
                 "constant", "features", "missing", i)
        if missing == "constant" and fill not in cats:
            fail(f"feature {name!r}: fill {fill!r} is not one of its categories", "features",
                 "fill" if "fill" in f else "missing", i)
        categories = tuple(cats)
    else:
        if "categories" in f:
            fail(f"feature {name!r}: a {ftype} has min/max, not categories", "features", "categories", i)
        lo, hi = f.get("min"), f.get("max")
        for key, v in (("min", lo), ("max", hi)):
            if v is not None and not _number(v):
                fail(f"feature {name!r}: {key} must be a finite number, got {v!r}", "features", key, i)
        if lo is not None and hi is not None and lo > hi:
            fail(f"feature {name!r}: range min {lo} > max {hi}", "features", "min", i)
        if missing == "constant" and not _number(fill):
            fail(f"feature {name!r}: missing = \"constant\" needs a numeric fill", "features",
                 "fill" if "fill" in f else "missing", i)
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
        if missing == "constant":
            fill = float(fill)
    if missing != "constant":
        if "fill" in f:
            fail(f"feature {name!r}: fill is only for missing = \"constant\"", "features", "fill", i)
        fill = None
    return Feature(name=name, type=ftype, min=lo, max=hi, categories=categories, missing=missing, fill=fill)


# --------------------------------------------------------------------------- writing


def _q(s: str) -> str:
    """A TOML basic string."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def _num(v: float) -> str:
    """A TOML float, at most 8 significant digits (an inferred range needs no more)."""
    return repr(float(f"{float(v):.8g}"))


def to_toml(spec: DatasetSpec, notes: Mapping | None = None) -> str:
    """The dataset file's text (``notes``: feature name -> a comment written beside it)."""
    notes = notes or {}
    out = [f"name = {_q(spec.name)}"]
    if spec.description:
        out.append(f"description = {_q(spec.description)}")
    out.append(f"ignore = [{', '.join(_q(c) for c in spec.ignore)}]  # columns that are not features (ids)")
    if spec.source:
        out += ["", "[source]"] + [f"{k} = {_q(str(v))}" for k, v in spec.source.items()]
    out += ["", "[target]", f"column = {_q(spec.target)}", f"task = {_q(spec.task)}  # binary | multiclass | "
            "regression"]
    if spec.classes:
        out += ["", "[target.classes]  # CSV value = the label a person reads"]
        out += [f"{_q(v)} = {_q(label)}" for v, label in spec.classes]
    out += ["", "[holdout]", f"fraction = {_num(spec.holdout_fraction)}", f"seed = {spec.holdout_seed}",
            f"stratify = {'true' if spec.stratify else 'false'}",
            "", "[promotion]", f"metric = {_q(spec.metric)}  # {' | '.join(m for m, (t, _) in METRICS.items() if spec.task in t)}",
            f"direction = {_q(spec.direction)}", f"tolerance = {_num(spec.tolerance)}",
            "", "[model]", f"kind = {_q(spec.model_kind)}  # {' | '.join(MODEL_KINDS[spec.task])}"]
    for f in spec.features:
        out += ["", "[[features]]", f"name = {_q(f.name)}", f"type = {_q(f.type)}"]
        if f.is_category:
            out.append(f"categories = [{', '.join(_q(c) for c in f.categories)}]")
        else:
            if f.min is not None:
                out.append(f"min = {_num(f.min)}")
            if f.max is not None:
                out.append(f"max = {_num(f.max)}")
        out.append(f"missing = {_q(f.missing)}")
        if f.missing == "constant":
            out.append(f"fill = {_q(f.fill) if f.is_category else _num(f.fill)}")
        if notes.get(f.name):
            out[-1] += f"  # {notes[f.name]}"
    return "\n".join(out) + "\n"
