"""Training and evaluation for any dataset file (``model_code.spec``): the task decides.

- ``fit(spec, table)``: the encoder (``model_code.encode``: imputation, one-hot) fitted on
  the training rows, then a scikit-learn Pipeline ``scale`` (StandardScaler) + the model the
  dataset file names: ``logreg`` (binary: logistic; multiclass: multinomial) or ``forest``
  (random forest classifier) for classification, ``ridge`` or ``forest`` (random forest
  regressor) for regression. Seeded: same rows + seed -> same model.
- ``evaluate(spec, fitted, table)``: binary -> accuracy, precision, recall, f1, f1_macro,
  roc_auc, confusion matrix; multiclass -> accuracy, f1_macro, confusion matrix; regression
  -> rmse, mae, r2. Every dict has ``n_samples``; the promotion metric is always in it.
- ``save(...)``: ``model_code.artifacts.save`` with the dataset's schema in the card and the
  serving export (encoder included) verified on the holdout rows within 1e-9.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .encode import Encoder

_DEFAULTS = {
    "logreg": {"C": 1.0, "max_iter": 5000},
    "forest": {"n_estimators": 100, "n_jobs": 1},
    "ridge": {"alpha": 1.0},
}


@dataclass
class Fitted:
    spec: Any
    encoder: Encoder
    pipeline: Any
    kind: str

    def output(self, table) -> np.ndarray:
        """Class probabilities (n, K) or predicted values (n,) for rows."""
        X = self.encoder.transform(table)
        if self.spec.is_classification:
            return np.asarray(self.pipeline.predict_proba(X))
        return np.asarray(self.pipeline.predict(X), dtype=np.float64)


def estimator(task: str, kind: str, seed: int = 0, **params):
    merged = {**_DEFAULTS.get(kind, {}), **params}
    if task == "regression":
        if kind == "ridge":
            from sklearn.linear_model import Ridge

            return Ridge(**merged)
        if kind == "forest":
            from sklearn.ensemble import RandomForestRegressor

            return RandomForestRegressor(random_state=seed, **merged)
    else:
        if kind == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(random_state=seed, **merged)
        if kind == "forest":
            from sklearn.ensemble import RandomForestClassifier

            return RandomForestClassifier(random_state=seed, **merged)
    raise ValueError(f"model kind {kind!r} does not fit a {task} target")


def fit(spec, table, kind: str | None = None, seed: int = 0, **params) -> Fitted:
    """Fit the encoder and the Pipeline on ``table`` (a ``model_code.table.Table``)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    kind = kind or spec.model_kind
    if table.n_rows < 2:
        raise ValueError(f"training needs at least 2 rows, got {table.n_rows}")
    if spec.is_classification:
        present = np.unique(table.y)
        if len(present) < 2:
            raise ValueError(f"training needs at least two classes; the data has only "
                             f"{spec.class_labels[int(present[0])]!r}")
    encoder = Encoder.fit(spec, table)
    X, y = encoder.transform(table), table.y
    pipe = Pipeline([("scale", StandardScaler()), ("clf", estimator(spec.task, kind, seed, **params))])
    pipe.fit(X, y)
    return Fitted(spec, encoder, pipe, kind)


def evaluate(spec, fitted: Fitted, table) -> dict:
    """The task's metrics on ``table`` (the holdout), JSON-ready."""
    from sklearn import metrics as m

    y = np.asarray(table.y)
    if y.size == 0:
        raise ValueError("cannot evaluate on zero rows")
    out = fitted.output(table)
    if spec.task == "regression":
        err = out - y
        return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
                "r2": float(m.r2_score(y, out)) if y.size > 1 else None, "n_samples": int(y.size)}
    classes = np.asarray(fitted.pipeline.classes_)
    pred = classes[np.argmax(out, axis=1)]
    labels = list(range(len(spec.classes)))
    res = {"accuracy": float(m.accuracy_score(y, pred)),
           "f1_macro": float(m.f1_score(y, pred, average="macro", labels=labels, zero_division=0))}
    if spec.task == "binary":
        scores = out[:, list(classes).index(1)] if 1 in classes else np.zeros(len(y))
        res.update({
            "precision": float(m.precision_score(y, pred, zero_division=0)),
            "recall": float(m.recall_score(y, pred, zero_division=0)),
            "f1": float(m.f1_score(y, pred, zero_division=0)),
            "roc_auc": float(m.roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else None,
        })
    res["confusion_matrix"] = m.confusion_matrix(y, pred, labels=labels).astype(int).tolist()
    res["n_samples"] = int(y.size)
    return res


def save(fitted: Fitted, out_dir, *, version: str, metrics: dict, holdout, inputs=(), extra=None) -> dict:
    """``model_code.artifacts.save`` for a tabular model (card with the schema, verified export)."""
    from . import artifacts

    return artifacts.save(fitted.pipeline, out_dir, version=version, metrics=metrics, inputs=inputs, extra=extra,
                          dataset=fitted.spec, encoder=fitted.encoder, holdout_rows=holdout)


def learning_curve(spec, batches: Sequence, holdout, kind: str | None = None, seed: int = 0) -> list:
    """Train on batches[:1], batches[:2], ... (Tables) and evaluate each on the holdout:
    ``[{"batch": i, "rows": n, **metrics}]``."""
    from .table import concat

    points = []
    for i in range(1, len(batches) + 1):
        data = concat(batches[:i])
        try:
            fitted = fit(spec, data, kind=kind, seed=seed)
        except ValueError:  # e.g. one class in the first batch: no point yet
            continue
        points.append({"batch": i, "rows": data.n_rows, **evaluate(spec, fitted, holdout)})
    return points


def gate_value(metrics: dict, metric: str):
    return (metrics or {}).get(metric)
