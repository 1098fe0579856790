"""Training: a scikit-learn Pipeline (scaling + classifier), seeded and reproducible.

    python -m model_code.train --json [--data-dir DIR] [--model logreg|forest] [--seed 0] [--out DIR]

trains on every ``batch_*.csv`` of ``--data-dir`` (default: a fresh split written to
a temporary folder), evaluates on its ``holdout.csv`` and prints the holdout metrics.
With ``--json`` stdout is exactly the metrics dict of ``model_code.evaluate.evaluate``;
a one-line summary goes to stderr. ``--out DIR`` also saves the artifacts there.
Bad data files exit with status 2 and a message naming file, column and row.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

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
    return {"LogisticRegression": "logreg", "RandomForestClassifier": "forest"}.get(name, name)


def _summary(kind, train_ds, holdout_ds, metrics) -> str:
    return (
        f"trained {kind} on {train_ds.n_rows} rows from {len(train_ds.paths)} file(s); "
        f"holdout {holdout_ds.n_rows} rows: accuracy {metrics['accuracy']:.4f}, "
        f"roc_auc {metrics['roc_auc']:.4f}"
    )


def run(data_dir: str, model: str = DEFAULT_MODEL, seed: int = 0, out_dir: str | None = None) -> dict:
    """Train on all batches of ``data_dir``, evaluate on its holdout; save if ``out_dir``."""
    from .data import load_csv, load_many
    from .dataset import find_split
    from .evaluate import evaluate

    files = find_split(data_dir)
    train_ds = load_many(files["batches"])
    holdout = load_csv(files["holdout"])
    fitted = train(train_ds.X, train_ds.y, model=model, seed=seed)
    metrics = evaluate(fitted, holdout.X, holdout.y)
    result = {"metrics": metrics, "train": train_ds, "holdout": holdout, "model": fitted, "paths": None}
    if out_dir:
        from .artifacts import save

        result["paths"] = save(fitted, out_dir, version="local", metrics=metrics, inputs=files["batches"])
    return result


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_code.train", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the holdout metrics as JSON")
    p.add_argument("--data-dir", help="folder with holdout.csv and batch_*.csv (default: a fresh split)")
    p.add_argument("--model", choices=MODEL_KINDS, default=DEFAULT_MODEL)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also save model.joblib, metrics.json, model_card.json here")
    args = p.parse_args(argv)

    from .data import DataError
    from .evaluate import format_metrics

    try:
        if args.data_dir:
            res = run(args.data_dir, args.model, args.seed, args.out)
        else:
            from .dataset import write_split

            with tempfile.TemporaryDirectory(prefix="mlpipe-data-") as tmp:
                write_split(tmp)
                res = run(tmp, args.model, args.seed, args.out)
    except (DataError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics = res["metrics"]
    if args.json:
        print(_summary(args.model, res["train"], res["holdout"], metrics), file=sys.stderr)
        print(format_metrics(metrics, digits=None))
    else:
        print(_summary(args.model, res["train"], res["holdout"], metrics))
        for k, v in metrics.items():
            print(f"  {k:17s} {v}")
    if res["paths"]:
        print(f"saved: {os.path.dirname(res['paths']['model'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
