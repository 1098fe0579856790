"""The serving export: a fitted model as plain numbers, predicted with numpy alone.

Train heavy, serve light: the instance trains a scikit-learn Pipeline (``scale`` then
``clf``); the predict Lambda loads this export instead, so it never imports scikit-learn,
scipy or joblib. Format ``mlpipe-export``, ``format_version`` 1 (docs/CONTRACTS.md):

- ``logreg`` -> ``model_export.json`` (UTF-8 JSON; floats round-trip exactly)::

    {"format": "mlpipe-export", "format_version": 1, "kind": "logreg",
     "classes": [0, 1], "feature_names": [...30, in order...],
     "scaler": {"mean": [...], "scale": [...]},
     "coef": [[...30...]], "intercept": [b]}

  ``p1 = 1 / (1 + exp(-(((x - mean) / scale) @ coef[0] + intercept[0])))``, ``p0 = 1 - p1``.
- ``forest`` -> ``model_export.npz`` (numpy ``.npz``, loaded with ``allow_pickle=False``):
  ``meta`` (the JSON header above without coef/intercept, as UTF-8 bytes), ``mean``,
  ``scale``, and the trees concatenated: ``feature`` (int32), ``threshold`` (float64),
  ``left``/``right`` (int32, global node ids; a leaf points at itself), ``value``
  (float64, per node the class fractions scikit-learn stores), ``roots`` (int64, each
  tree's first node). A row is scaled, cast to float32 (as scikit-learn's trees do), sent
  down every tree (``x[feature] <= threshold`` goes left), and the leaves' fractions are
  summed over the trees in order and divided by their number.

``write_verified`` writes an export only after the file, read back, reproduces the
model's ``predict_proba`` within ``TOLERANCE`` (1e-9) on the rows given (the holdout);
otherwise it raises ``ExportError`` and writes nothing. Only numpy and the standard
library are imported here: the exporter reads the fitted attributes, it needs no
scikit-learn import of its own.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np

FORMAT = "mlpipe-export"
FORMAT_VERSION = 1
TOLERANCE = 1e-9
FILES = {"logreg": "model_export.json", "ridge": "model_export.json", "forest": "model_export.npz"}
TASKS = ("binary", "multiclass", "regression")
CONTENT_TYPES = {".json": "application/json", ".npz": "application/octet-stream"}
INLINE_MAX_BYTES = 16 * 1024  # a linear export this small rides inside models/latest.json


class ExportError(ValueError):
    """The model cannot be exported, or its export does not reproduce it."""


# --------------------------------------------------------------------------- the predictors


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class _Rows:
    """What every export shares: the task, the encoder (rows -> matrix) and the output."""

    task = "binary"
    encoder = None

    def _set_common(self, task, encoder):
        from .encode import Encoder

        if task not in TASKS:
            raise ExportError(f"unknown task {task!r}")
        self.task = task
        self.encoder = Encoder.from_dict(encoder) if isinstance(encoder, Mapping) else encoder
        if self.encoder is not None and tuple(self.encoder.output_names) != tuple(self.feature_names):
            raise ExportError("the export's encoder does not produce its feature columns")

    def output(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, K) for a classifier, values (n,) for a regressor."""
        return self.predict(X) if self.task == "regression" else self.predict_proba(X)

    def encode(self, table) -> np.ndarray:
        from .encode import Encoder

        enc = self.encoder if self.encoder is not None else Encoder.plain(self.feature_names)
        return enc.transform(table)

    def output_rows(self, table) -> np.ndarray:
        """``output`` of rows (``model_code.table.Table``), encoded as training encoded them."""
        return self.output(self.encode(table))

    def _common_doc(self) -> dict:
        doc = {"task": self.task}
        if self.encoder is not None:
            doc["encoder"] = self.encoder.to_dict()
        return doc


class LinearExport(_Rows):
    """A linear model after a standard scaler: logistic regression (binary: sigmoid,
    multiclass: softmax) or ridge regression (``kind`` ``ridge``, task ``regression``)."""

    def __init__(self, classes, feature_names, mean, scale, coef, intercept, task="binary", encoder=None,
                 kind=None):
        self.kind = kind or ("ridge" if task == "regression" else "logreg")
        self.classes = np.asarray(classes if classes is not None else [])
        self.feature_names = tuple(feature_names)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        self.intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        self._set_common(task, encoder)
        n = len(self.feature_names)
        k = len(self.classes)
        rows = 1 if task in ("binary", "regression") else k
        if (task == "binary" and k != 2) or (task == "multiclass" and k < 3) or \
                (task == "regression" and k != 0) or self.coef.shape != (rows, n) or \
                self.intercept.shape != (rows,) or self.mean.shape != (n,) or self.scale.shape != (n,):
            raise ExportError(f"a {task} {self.kind} export needs coef ({rows}, {n}), intercept ({rows},), mean "
                              f"and scale ({n},); got classes {self.classes.shape}, {self.coef.shape}, "
                              f"{self.intercept.shape}, {self.mean.shape}, {self.scale.shape}")
        self._coef_t = np.ascontiguousarray(self.coef.T)

    def _decision(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self._coef_t + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self._decision(X)
        if self.task == "multiclass":
            return _softmax(z)
        p = _expit(z.reshape(-1))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._decision(X).reshape(-1)

    def document(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                "classes": self.classes.tolist(), "feature_names": list(self.feature_names),
                "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist(), **self._common_doc()}

    def to_bytes(self) -> bytes:
        return (json.dumps(self.document(), separators=(",", ":")) + "\n").encode("utf-8")


class ForestExport(_Rows):
    """A random forest after a standard scaler: class fractions (a classifier) or leaf means
    (a regressor, one ``value`` column) averaged over its trees."""

    kind = "forest"

    def __init__(self, classes, feature_names, mean, scale, feature, threshold, left, right, value, roots,
                 task="binary", encoder=None):
        self.classes = np.asarray(classes if classes is not None else [])
        self.feature_names = tuple(feature_names)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.feature = np.asarray(feature, dtype=np.int32)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int32)
        self.right = np.asarray(right, dtype=np.int32)
        self.value = np.asarray(value, dtype=np.float64)
        self.roots = np.asarray(roots, dtype=np.int64)
        self._set_common(task, encoder)
        n_nodes, n_feat = len(self.threshold), len(self.feature_names)
        n_out = 1 if task == "regression" else len(self.classes)
        if (self.feature.shape != (n_nodes,) or self.left.shape != (n_nodes,) or self.right.shape != (n_nodes,)
                or self.value.shape != (n_nodes, n_out) or self.roots.ndim != 1
                or not len(self.roots) or self.mean.shape != (n_feat,) or self.scale.shape != (n_feat,)):
            raise ExportError("a forest export's arrays do not fit together (nodes, classes, features)")
        for name, ids in (("left", self.left), ("right", self.right), ("roots", self.roots)):
            if ids.size and (ids.min() < 0 or ids.max() >= n_nodes):
                raise ExportError(f"a forest export's {name} points outside its {n_nodes} nodes")
        leaf = self.left == np.arange(n_nodes)
        if self.feature[~leaf].size and (self.feature[~leaf].min() < 0 or self.feature[~leaf].max() >= n_feat):
            raise ExportError("a forest export splits on a feature it does not have")
        self._feature_safe = np.where(leaf, 0, self.feature).astype(np.intp)
        self._children = np.empty(2 * n_nodes, dtype=np.intp)  # [left, right] of node i at 2i, 2i+1
        self._children[0::2], self._children[1::2] = self.left, self.right
        self._depth = _depth(self.left, self.right, self.roots)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """The leaf each row reaches in each tree: (n_trees, n_rows) node ids."""
        Xs = ((X - self.mean) / self.scale).astype(np.float32)
        n, n_feat = Xs.shape
        flat = Xs.ravel()
        base = (np.arange(n, dtype=np.intp) * n_feat)[None, :]
        node = np.broadcast_to(self.roots[:, None], (len(self.roots), n)).astype(np.intp)
        feature, threshold, children = self._feature_safe, self.threshold, self._children
        for _ in range(self._depth):  # every tree one level down; a leaf stays where it is
            # rows are finite (the schema refuses NaN), so "not x <= threshold" is "x > threshold"
            go_right = flat.take(base + feature.take(node)) > threshold.take(node)
            node = children.take(2 * node + go_right)
        return node

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        leaves = self.value[self.apply(X)]  # (n_trees, n_rows, n_classes)
        proba = np.add.reduce(leaves, axis=0)  # tree by tree, in order, as scikit-learn sums them
        proba /= len(self.roots)
        return proba

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X)[:, 0]

    def meta(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                "classes": self.classes.tolist(), "feature_names": list(self.feature_names),
                "n_trees": int(len(self.roots)), "n_nodes": int(len(self.threshold)), **self._common_doc()}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(
            buf, meta=np.frombuffer(json.dumps(self.meta()).encode("utf-8"), dtype=np.uint8),
            mean=self.mean, scale=self.scale, feature=self.feature, threshold=self.threshold,
            left=self.left, right=self.right, value=self.value, roots=self.roots)
        return buf.getvalue()


def _depth(left: np.ndarray, right: np.ndarray, roots: np.ndarray) -> int:
    """Steps from the roots to the deepest leaf (leaves point at themselves)."""
    node = roots.astype(np.intp)
    depth = 0
    while True:
        nxt = np.concatenate([left[node], right[node]])
        moved = nxt[nxt != np.concatenate([node, node])]
        if not moved.size:
            return depth
        node = np.unique(moved)
        depth += 1
        if depth > len(left):
            raise ExportError("a forest export's trees contain a cycle")


# --------------------------------------------------------------------------- from scikit-learn


def _steps(model) -> tuple:
    steps = getattr(model, "steps", None)
    if not steps or len(steps) != 2:
        raise ExportError(f"only a Pipeline of (scaler, classifier) can be exported, got {type(model).__name__}")
    scaler, est = steps[0][1], steps[1][1]
    if type(scaler).__name__ != "StandardScaler":
        raise ExportError(f"the first step must be a StandardScaler, got {type(scaler).__name__}")
    return scaler, est


def _scaler_arrays(scaler, n: int) -> tuple:
    mean = getattr(scaler, "mean_", None)
    scale = getattr(scaler, "scale_", None)
    mean = np.zeros(n) if mean is None else np.asarray(mean, dtype=np.float64)
    scale = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
    return mean, scale


def export_model(model, feature_names: Sequence[str], *, encoder=None, task: str | None = None
                 ) -> LinearExport | ForestExport:
    """The export of a fitted Pipeline(StandardScaler, LogisticRegression | RandomForestClassifier |
    Ridge | RandomForestRegressor); ``encoder`` (``model_code.encode.Encoder``) travels with it."""
    scaler, est = _steps(model)
    feature_names = tuple(feature_names)
    n = len(feature_names)
    mean, scale = _scaler_arrays(scaler, n)
    name = type(est).__name__
    if name in ("Ridge", "LinearRegression", "RandomForestRegressor"):
        if not hasattr(est, "n_features_in_"):
            raise ExportError(f"{name} is not fitted")
        if name == "RandomForestRegressor":
            return _forest(est, None, feature_names, mean, scale, "regression", encoder)
        return LinearExport(None, feature_names, mean, scale, np.reshape(est.coef_, (1, -1)),
                            np.reshape(est.intercept_, (1,)), task="regression", encoder=encoder)
    classes = getattr(est, "classes_", None)
    if classes is None:
        raise ExportError(f"{name} is not fitted (no classes_)")
    task = task or ("binary" if len(classes) == 2 else "multiclass")
    if name == "LogisticRegression":
        return LinearExport(classes, feature_names, mean, scale, est.coef_, est.intercept_, task=task,
                            encoder=encoder)
    if name == "RandomForestClassifier":
        return _forest(est, classes, feature_names, mean, scale, task, encoder)
    raise ExportError(f"no serving export for {name}: export supports LogisticRegression, "
                      "RandomForestClassifier, Ridge and RandomForestRegressor")


def _forest(est, classes, feature_names, mean, scale, task="binary", encoder=None) -> ForestExport:
    if getattr(est, "n_outputs_", 1) != 1:
        raise ExportError("only single-output forests can be exported")
    feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
    offset = 0
    for tree in est.estimators_:
        t = tree.tree_
        n_nodes = t.node_count
        ids = np.arange(n_nodes)
        left, right = np.asarray(t.children_left), np.asarray(t.children_right)
        leaf = left == -1
        n_out = 1 if classes is None else len(classes)
        value = np.asarray(t.value)[:, 0, :n_out]
        if value.shape != (n_nodes, n_out):
            raise ExportError(f"a tree has value shape {np.asarray(t.value).shape}; expected {n_out} outputs")
        feats.append(np.where(leaf, -2, t.feature))
        thrs.append(np.asarray(t.threshold, dtype=np.float64))
        lefts.append(np.where(leaf, ids, left) + offset)
        rights.append(np.where(leaf, ids, right) + offset)
        values.append(value)
        roots.append(offset)
        offset += n_nodes
    return ForestExport(classes, feature_names, mean, scale, np.concatenate(feats), np.concatenate(thrs),
                        np.concatenate(lefts), np.concatenate(rights), np.concatenate(values), roots,
                        task=task, encoder=encoder)


# --------------------------------------------------------------------------- reading


def _check_header(doc: Mapping, where: str) -> str:
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
        raise ExportError(f"{where} is not an {FORMAT} document")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ExportError(f"{where} has format_version {doc.get('format_version')!r}; this loader reads "
                          f"{FORMAT_VERSION}")
    kind = doc.get("kind")
    if kind not in FILES:
        raise ExportError(f"{where} has kind {kind!r}; this loader knows {', '.join(FILES)}")
    return kind


def from_document(doc: Mapping, where: str = "export") -> LinearExport:
    """A linear export from its parsed JSON document (e.g. inline in ``models/latest.json``)."""
    kind = _check_header(doc, where)
    if kind not in ("logreg", "ridge"):
        raise ExportError(f"{where}: a {kind} export is not a JSON document")
    try:
        return LinearExport(doc["classes"], doc["feature_names"], doc["scaler"]["mean"], doc["scaler"]["scale"],
                            doc["coef"], doc["intercept"], task=doc.get("task", "binary"),
                            encoder=doc.get("encoder"), kind=kind)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"{where} is incomplete: {type(exc).__name__}: {exc}") from None


def from_bytes(data: bytes, where: str = "export") -> LinearExport | ForestExport:
    """An export from a file's bytes: JSON (logreg) or npz (forest), told apart by content."""
    if data[:2] == b"PK":  # a zip: .npz
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            raise ExportError(f"{where} is not a readable npz export: {exc}") from None
        kind = _check_header(meta, where)
        if kind != "forest":
            raise ExportError(f"{where}: a {kind} export is not an npz file")
        try:
            return ForestExport(meta["classes"], meta["feature_names"], arrays["mean"], arrays["scale"],
                                arrays["feature"], arrays["threshold"], arrays["left"], arrays["right"],
                                arrays["value"], arrays["roots"], task=meta.get("task", "binary"),
                                encoder=meta.get("encoder"))
        except KeyError as exc:
            raise ExportError(f"{where} lacks the array {exc}") from None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"{where} is neither JSON nor npz: {exc}") from None
    return from_document(doc, where)


# --------------------------------------------------------------------------- writing, verified


def sklearn_output(model, X) -> np.ndarray:
    """scikit-learn's ``predict_proba`` (a classifier) or ``predict`` (a regressor)."""
    if hasattr(model, "predict_proba") and hasattr(model.steps[-1][1] if hasattr(model, "steps") else model,
                                                   "classes_"):
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    return np.asarray(model.predict(X), dtype=np.float64)


def max_difference(exported, model, X, rows=None) -> float:
    """max |export's output - model's| over every row and class: ``predict_proba`` for a
    classifier, ``predict`` for a regressor. With ``rows`` (a ``Table``) the export encodes
    them itself (its encoder read back from the file) and the model gets ``X``, the
    training encoder's matrix of the same rows."""
    X = np.asarray(X, dtype=np.float64)
    mine = exported.output_rows(rows) if rows is not None else exported.output(X)
    theirs = sklearn_output(model, X)
    if mine.shape != theirs.shape:
        raise ExportError(f"the export answers shape {mine.shape}, the model {theirs.shape}")
    diff = float(np.max(np.abs(mine - theirs))) if mine.size else 0.0
    if not np.isfinite(diff):
        raise ExportError("the export's probabilities are not finite")
    return diff


def write_verified(model, out_dir: str | os.PathLike, X, feature_names: Sequence[str],
                   tolerance: float = TOLERANCE, *, encoder=None, rows=None, task: str | None = None) -> dict:
    """Export ``model``, read the bytes back, check them against ``model.predict_proba(X)``,
    and only then write the file into ``out_dir``. Returns what the model card records:
    ``{"file", "format", "format_version", "kind", "sha256", "bytes", "max_abs_diff",
    "tolerance", "verified_rows"}``. Raises ``ExportError`` (nothing written) when the
    model cannot be exported or its export differs by more than ``tolerance``.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not len(X):
        raise ExportError("verifying an export needs the holdout rows (a non-empty matrix)")
    exported = export_model(model, feature_names, encoder=encoder, task=task)
    data = exported.to_bytes()
    reread = from_bytes(data)
    model_classes = getattr(model, "classes_", None) if exported.task != "regression" else None
    if model_classes is not None and list(np.asarray(model_classes).tolist()) != reread.classes.tolist():
        raise ExportError(f"the export's classes {reread.classes.tolist()} are not the model's "
                          f"{np.asarray(model.classes_).tolist()}")
    diff = max_difference(reread, model, X, rows)
    if diff > tolerance:
        what = "predict" if exported.task == "regression" else "predict_proba"
        raise ExportError(f"the {exported.kind} export differs from {what} by {diff:.3g} on the "
                          f"holdout (tolerance {tolerance:g})")
    name = FILES[exported.kind]
    path = os.path.join(os.fspath(out_dir), name)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return {"file": name, "format": FORMAT, "format_version": FORMAT_VERSION, "kind": exported.kind,
            "task": exported.task,
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "max_abs_diff": diff,
            "tolerance": tolerance, "verified_rows": int(len(X))}


def pointer_fields(info: Mapping[str, Any], prefix: str, export_path: str | os.PathLike | None = None) -> dict:
    """What ``models/latest.json`` carries about the export (beside version, model_key, ...):
    ``{"export": {"key", "format", "format_version", "kind", "sha256", "bytes"}}`` and, for a
    JSON export no larger than ``INLINE_MAX_BYTES``, ``"export_inline"``: the document itself,
    so a cold start needs one S3 read. ``info`` is ``write_verified``'s result."""
    out = {"export": {"key": prefix + info["file"], **{k: info[k] for k in
                                                        ("format", "format_version", "kind", "sha256", "bytes")}}}
    if export_path is not None and info["file"].endswith(".json") and info["bytes"] <= INLINE_MAX_BYTES:
        with open(export_path, "rb") as fh:
            out["export_inline"] = json.loads(fh.read())
    return out
