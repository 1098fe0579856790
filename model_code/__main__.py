"""The model_code command line: train locally, print the holdout metrics.

    python -m model_code --json [--data-dir DIR] [--model logreg|forest] [--seed 0] [--out DIR]

(``python -m model_code.train ...`` is the same command.) Trains on every ``batch_*.csv``
of ``--data-dir`` (default: a fresh split written to a temporary folder), evaluates on its
``holdout.csv`` and prints the holdout metrics. With ``--json`` stdout is exactly the
metrics dict of ``model_code.evaluate.evaluate``; a one-line summary goes to stderr.
``--out DIR`` also saves the artifacts there (``model.joblib``, ``metrics.json``,
``model_card.json`` and the serving export verified on the holdout).
Bad data files exit with status 2 and a message naming file, column and row.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

from .train import DEFAULT_MODEL, MODEL_KINDS, train


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

        result["paths"] = save(fitted, out_dir, version="local", metrics=metrics, inputs=files["batches"],
                               holdout_X=holdout.X)
    return result


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_code", description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the holdout metrics as JSON")
    p.add_argument("--data-dir", help="folder with holdout.csv and batch_*.csv (default: a fresh split)")
    p.add_argument("--model", choices=MODEL_KINDS, default=DEFAULT_MODEL)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also save model.joblib, metrics.json, model_card.json and the export here")
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
