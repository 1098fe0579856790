"""Evaluation on the holdout, as JSON-ready dicts (plain floats and ints)."""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc")


def positive_scores(model, X) -> np.ndarray:
    """The model's probability (or score) for label 1 (benign)."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.decision_function(X))


def evaluate(model, X, y) -> dict:
    """accuracy, precision, recall, f1, roc_auc (label 1 is positive), the confusion
    matrix ``[[tn, fp], [fn, tp]]`` (rows = true label 0, 1) and n_samples.

    roc_auc is ``None`` when ``y`` holds only one class (it is undefined then).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y)
    if y.size == 0:
        raise ValueError("cannot evaluate on zero rows")
    pred = np.asarray(model.predict(X))
    scores = positive_scores(model, X)
    both = len(np.unique(y)) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, scores)) if both else None,
        "confusion_matrix": confusion_matrix(y, pred, labels=[0, 1]).astype(int).tolist(),
        "n_samples": int(y.size),
    }


def roc_points(model, X, y) -> dict:
    """The ROC curve: ``{"fpr": [...], "tpr": [...], "thresholds": [...], "auc": float}``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    scores = positive_scores(model, X)
    fpr, tpr, thr = roc_curve(y, scores)
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [float(t) if np.isfinite(t) else None for t in thr],
        "auc": float(roc_auc_score(y, scores)),
    }


def rounded(metrics: dict, digits: int = 4) -> dict:
    """A copy with floats rounded (for display and stable notebook output)."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in metrics.items()}


def format_metrics(metrics: dict, digits: int | None = 4) -> str:
    """Metrics as JSON text, one key per line (lists kept on their line), floats
    rounded to ``digits`` (``None``: as is). What the CLI and the notebook print."""
    shown = rounded(metrics, digits) if digits is not None else metrics
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in shown.items())
    return "{\n" + body + "\n}"


def learning_curve_over_batches(
    batches: Sequence[Any], holdout: Any, model: str = "logreg", seed: int = 0, **params
) -> list:
    """Train on batches[:1], batches[:2], ... and evaluate each model on the holdout.

    ``batches`` and ``holdout`` are Datasets (anything with ``.X`` and ``.y``).
    Returns ``[{"batch": i, "rows": n_trained_on, **metrics}, ...]``, one per batch:
    the curve that shows retraining on arriving data paying off.
    """
    from .train import train

    points = []
    Xs, ys = [], []
    for i, b in enumerate(batches, start=1):
        Xs.append(np.asarray(b.X))
        ys.append(np.asarray(b.y))
        X = np.concatenate(Xs)
        y = np.concatenate(ys)
        fitted = train(X, y, model=model, seed=seed, **params)
        points.append({"batch": i, "rows": int(y.size), **evaluate(fitted, holdout.X, holdout.y)})
    return points
