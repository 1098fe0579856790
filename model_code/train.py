"""Training: a scikit-learn Pipeline (scaling + classifier), seeded and reproducible.

The command line (``python -m model_code --json``) is in ``model_code/__main__.py``;
this module imports nothing else of model_code's but the schema, so ``artifacts`` and
``evaluate`` can use it without an import cycle.
"""
from __future__ import annotations

import numpy as np

from .schema import FEATURE_NAMES, LABELS

MODEL_KINDS = ("logreg", "forest")
DEFAULT_MODEL = "logreg"

_DEFAULTS = {
    "logreg": {"C": 1.0, "max_iter": 5000},
    "forest": {"n_estimators": 200, "n_jobs": 1},
}


def _classifier(kind: str, seed: int, params: dict):
    merged = {**_DEFAULTS[kind], **params}
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=seed, **merged)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(random_state=seed, **merged)


def build(model: str = DEFAULT_MODEL, seed: int = 0, **params):
    """An unfitted Pipeline: ``scale`` (StandardScaler) then ``clf``."""
    if model not in MODEL_KINDS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KINDS)}")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("clf", _classifier(model, seed, params))])


def train(X, y, model: str = DEFAULT_MODEL, seed: int = 0, **params):
    """Fit and return the Pipeline. Same data + seed -> identical predictions.

    ``params`` go to the classifier (e.g. ``C=0.5`` or ``n_estimators=50``).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"X must have shape (n, {len(FEATURE_NAMES)}), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have {X.shape[0]} labels, got shape {y.shape}")
    present = set(np.unique(y).tolist())
    if not present <= set(LABELS):
        raise ValueError(f"labels must be 0 or 1, got {sorted(present)}")
    if len(present) < 2:
        raise ValueError(f"training needs both classes; the data has only label {present.pop()}")
    pipe = build(model, seed, **params)
    pipe.fit(X, y)
    return pipe


def model_kind(pipe) -> str:
    """``logreg``/``forest`` for our pipelines, else the final estimator's class name."""
    est = pipe.steps[-1][1] if hasattr(pipe, "steps") else pipe
    name = type(est).__name__
    return {"LogisticRegression": "logreg", "RandomForestClassifier": "forest", "Ridge": "ridge",
            "RandomForestRegressor": "forest"}.get(name, name)


if __name__ == "__main__":  # the CLI's older spelling; it lives in model_code/__main__.py
    import runpy

    runpy.run_module("model_code", run_name="__main__", alter_sys=True)
