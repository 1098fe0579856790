"""Layer sizes and cold import times (`make bench`).

run() -> [{"name", "value", "unit", "goal"}]:
- the python-packages layer (local target: this machine's Python) unzipped with bytecode
  (goal <= 170 MB, acceptance <= 190 MB) and zipped; MB here are 10^6 bytes, the unit the
  issue's figures use (AWS's own limits, 250/50 "MB", are MiB: see layer_build.limits);
- the same layer with its sources kept beside the bytecode (``--keep-sources``), for context;
- cold import (numpy, joblib, scikit-learn's LogisticRegression pipeline: what the predict
  handler imports) + first fit/predict in a fresh isolated interpreter (``python -I -S -B``,
  only the layers on sys.path; see layer_build.verify), median of 3, with bytecode and without (the same layer with every
  .pyc removed: what a layer without bytecode costs at every cold start on read-only /opt).
Builds are cached under build/layers/, so a second run only measures.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

MB = 1_000_000
RUNS = 3


def _median_import(zips, *, strip_bytecode: bool) -> tuple[float, float]:
    from layer_build.verify import extract_layers, remove_bytecode, run_isolated

    with tempfile.TemporaryDirectory(prefix="layers-bench-") as tmp:
        dirs = extract_layers(zips, Path(tmp))
        if strip_bytecode:
            remove_bytecode(dirs)
        runs = [run_isolated(dirs) for _ in range(RUNS)]
    return (statistics.median(r["import_seconds"] for r in runs),
            statistics.median(r["import_predict_seconds"] for r in runs))


def run() -> list[dict]:
    from layer_build import MODEL_CODE, PACKAGES, build_layers, build_packages_layer

    result = build_layers("local")
    pk, mc = result.layer(PACKAGES), result.layer(MODEL_CODE)
    with_sources = build_packages_layer("local", keep_sources=True)
    # Without bytecode: the sources-kept layer with its __pycache__ removed after extraction.
    imp_bc, pred_bc = _median_import([pk.zip_path, mc.zip_path], strip_bytecode=False)
    imp_src, pred_src = _median_import([with_sources.zip_path, mc.zip_path], strip_bytecode=False)
    imp_nobc, pred_nobc = _median_import([with_sources.zip_path, mc.zip_path], strip_bytecode=True)
    total = result.report.total_unzipped_bytes
    return [
        {"name": "packages layer unzipped, with bytecode (sourceless)", "value": pk.unzipped_bytes / MB,
         "unit": "MB", "goal": "<= 170 (limit 190)"},
        {"name": "packages layer zipped", "value": pk.zipped_bytes / MB, "unit": "MB",
         "goal": "> 52.4 goes through S3"},
        {"name": "packages layer unzipped, bytecode + sources kept", "value": with_sources.unzipped_bytes / MB,
         "unit": "MB", "goal": ""},
        {"name": "function + layers unzipped (AWS limit 262.1 MB = 250 MiB)", "value": total / MB,
         "unit": "MB", "goal": "<= 262.1"},
        {"name": "cold import (isolated, layers only), with bytecode", "value": imp_bc, "unit": "s",
         "goal": "~0.5"},
        {"name": "cold import + first predict, with bytecode", "value": pred_bc, "unit": "s", "goal": "<= 1.0"},
        {"name": "cold import, bytecode + sources kept", "value": imp_src, "unit": "s", "goal": ""},
        {"name": "cold import, without bytecode", "value": imp_nobc, "unit": "s", "goal": "~1.5 (context)"},
        {"name": "cold import + first predict, without bytecode", "value": pred_nobc, "unit": "s", "goal": ""},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<60} {row['value']:8.3f} {row['unit']:<3} {row['goal']}")
