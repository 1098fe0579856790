"""Layer sizes and cold import times, the predict layers beside the scikit-learn stack (`make bench`).

run() -> [{"name", "value", "unit", "goal"}]:
- the python-packages layer the predict function is deployed with (numpy only; local target:
  this machine's Python), unzipped with bytecode (goal <= 60 MB) and zipped (goal < 50 MB:
  uploaded directly, no S3 detour); the function with both its layers unzipped;
- cold import + first prediction from the layers alone (numpy, the model-code layer's export
  loader; ``python -I -S -B``, only the layers on sys.path; see layer_build.verify), median
  of 3, with bytecode and with every .pyc removed (what a layer without bytecode costs at
  every cold start on read-only /opt);
- for context, the scikit-learn stack that serving the pickled model would need (built by
  ``layer_build.compare``, never deployed): its sizes and cold import (numpy, joblib,
  scikit-learn's pipeline, a fit and a predict).
MB here are 10^6 bytes, the unit the issue's figures use (AWS's own limits, 250/50 "MB", are
MiB: see layer_build.limits). Builds are cached under build/layers/, so a second run only measures.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

MB = 1_000_000
RUNS = 3


def _median_import(zips, *, strip_bytecode: bool, stack: str = "numpy") -> tuple[float, float]:
    from layer_build.verify import extract_layers, remove_bytecode, run_isolated

    with tempfile.TemporaryDirectory(prefix="layers-bench-") as tmp:
        dirs = extract_layers(zips, Path(tmp))
        if strip_bytecode:
            remove_bytecode(dirs)
        runs = [run_isolated(dirs, stack=stack) for _ in range(RUNS)]
    return (statistics.median(r["import_seconds"] for r in runs),
            statistics.median(r["import_predict_seconds"] for r in runs))


def run() -> list[dict]:
    from layer_build import MODEL_CODE, PACKAGES, build_layers, build_packages_layer
    from layer_build.compare import measure_stack

    result = build_layers("local")
    pk, mc = result.layer(PACKAGES), result.layer(MODEL_CODE)
    with_sources = build_packages_layer("local", keep_sources=True)
    imp_bc, pred_bc = _median_import([pk.zip_path, mc.zip_path], strip_bytecode=False)
    imp_nobc, pred_nobc = _median_import([with_sources.zip_path, mc.zip_path], strip_bytecode=True)
    heavy = measure_stack("scikit-learn", "local", runs=RUNS)
    return [
        {"name": "packages layer (numpy) unzipped, with bytecode (sourceless)", "value": pk.unzipped_bytes / MB,
         "unit": "MB", "goal": "<= 60"},
        {"name": "packages layer (numpy) zipped", "value": pk.zipped_bytes / MB, "unit": "MB",
         "goal": "< 50 (direct upload)"},
        {"name": "model-code layer zipped", "value": mc.zipped_bytes / MB, "unit": "MB", "goal": ""},
        {"name": "function + layers unzipped (AWS limit 262.1 MB = 250 MiB)",
         "value": result.report.total_unzipped_bytes / MB, "unit": "MB", "goal": "<= 262.1"},
        {"name": "cold import (numpy + export loader, isolated, layers only), with bytecode", "value": imp_bc,
         "unit": "s", "goal": ""},
        {"name": "cold import + first predict, with bytecode", "value": pred_bc, "unit": "s", "goal": ""},
        {"name": "cold import + first predict, without bytecode", "value": pred_nobc, "unit": "s", "goal": ""},
        {"name": "context: scikit-learn stack layer unzipped (not deployed)", "value": heavy.layer.unzipped_bytes / MB,
         "unit": "MB", "goal": ""},
        {"name": "context: scikit-learn stack layer zipped (would go through S3)",
         "value": heavy.layer.zipped_bytes / MB, "unit": "MB", "goal": ""},
        {"name": "context: scikit-learn stack cold import + fit/predict", "value": heavy.cold_import_predict_s,
         "unit": "s", "goal": ""},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<75} {row['value']:8.3f} {row['unit']:<3} {row['goal']}")
