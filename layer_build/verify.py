"""Import and predict from built layer zips alone, in an isolated interpreter.

Two smoke scripts: ``numpy`` (the predict function's layers: import numpy and the export
loader, predict a linear and a forest export, and report that no scikit-learn, scipy or
joblib was imported) and ``scikit-learn`` (the heavy stack: fit and predict a pipeline).

The zips are extracted as Lambda would (``<dir>/python/...``) and a fresh ``python -I -S`` runs
with ``sys.path`` = the stdlib plus only those ``python/`` dirs: nothing of the build machine's
site-packages can fill a gap a trimming rule left. This is how every trimming rule is verified.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

# Run in the smoke scripts after their imports: modules loaded from outside the layers
# (and the standard library), and layer modules that had no bytecode to load.
MODULE_AUDIT = r"""
import os, sysconfig
stdlib = sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]
outside, without_bytecode = [], []
for name, m in list(sys.modules.items()):
    f = getattr(m, "__file__", None)
    if not f:
        continue
    if not any(f.startswith(d) for d in LAYER_DIRS):
        if not f.startswith(stdlib):
            outside.append(f)
        continue
    if f.endswith(".py"):
        cached = getattr(m, "__cached__", None)
        if not cached or not os.path.exists(cached):
            without_bytecode.append(f)
"""

SMOKE_SCRIPT = r"""
import json, sys, time
sys.path[:0] = LAYER_DIRS
# Timed: what serving a model needs (the predict handler's imports, one prediction).
t0 = time.perf_counter()
import numpy as np
import joblib
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
proba = model.predict_proba(X[:5])
t_total = time.perf_counter() - t0
# Not timed: more of the stack that models and scikit-learn use (the other model kind, scipy).
import scipy.sparse.linalg, scipy.optimize, scipy.special, scipy.stats, scipy.linalg, threadpoolctl
from sklearn.ensemble import RandomForestClassifier
forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
forest.predict_proba(X[:5])
for mod in EXTRA_IMPORTS:
    __import__(mod)
import importlib.metadata as md
try:
    import pandas
    pandas_importable = True
except ImportError:
    pandas_importable = False
"""+MODULE_AUDIT+r"""
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "import_seconds": t_import, "import_predict_seconds": t_total,
    "proba_rows": len(proba), "proba_sums": [round(float(s), 6) for s in proba.sum(axis=1)],
    "sklearn_version": md.version("scikit-learn"),
    "pandas_importable": pandas_importable,
    "outside_modules": sorted(outside), "modules_without_bytecode": sorted(without_bytecode),
    "modules_from_layers": sum(1 for m in sys.modules.values()
                               if any(str(getattr(m, "__file__", "") or "").startswith(d) for d in LAYER_DIRS)),
}))
"""


# The numpy stack serves: what the predict handler imports (numpy, the model-code layer's
# export loader and schema), a linear and a forest export built by hand, one prediction each.
SERVING_SMOKE_SCRIPT = r"""
import json, sys, time
sys.path[:0] = LAYER_DIRS
t0 = time.perf_counter()
import numpy as np
from model_code import export, schema
t_import = time.perf_counter() - t0
n = len(schema.FEATURE_NAMES)
lin = export.LinearExport([0, 1], schema.FEATURE_NAMES, np.zeros(n), np.ones(n), np.full((1, n), 0.01), [0.0])
lin = export.from_bytes(lin.to_bytes())
proba = lin.predict_proba(np.ones((5, n)))
t_total = time.perf_counter() - t0
forest = export.ForestExport([0, 1], schema.FEATURE_NAMES, np.zeros(n), np.ones(n), feature=[0, -2, -2],
                             threshold=[0.5, -2.0, -2.0], left=[1, 1, 2], right=[2, 1, 2],
                             value=[[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], roots=[0])
forest = export.from_bytes(forest.to_bytes())
fp = forest.predict_proba(np.vstack([np.zeros(n), np.ones(n)]))
for mod in EXTRA_IMPORTS:
    __import__(mod)
import importlib.metadata as md
"""+MODULE_AUDIT+r"""
heavy = sorted({k.split(".")[0] for k in sys.modules} & {"sklearn", "scipy", "joblib", "pandas"})
try:
    sklearn_version = md.version("scikit-learn")
except md.PackageNotFoundError:
    sklearn_version = None   # the point: serving needs no scikit-learn
try:
    import pandas
    pandas_importable = True
except ImportError:
    pandas_importable = False
print(json.dumps({
    "python": "%d.%d" % sys.version_info[:2],
    "import_seconds": t_import, "import_predict_seconds": t_total,
    "proba_rows": len(proba), "proba_sums": [round(float(s), 6) for s in proba.sum(axis=1)],
    "forest_proba": fp.tolist(), "numpy_version": md.version("numpy"), "heavy_modules": heavy,
    "sklearn_version": sklearn_version, "pandas_importable": pandas_importable,
    "outside_modules": sorted(outside), "modules_without_bytecode": sorted(without_bytecode),
    "modules_from_layers": sum(1 for m in sys.modules.values()
                               if any(str(getattr(m, "__file__", "") or "").startswith(d) for d in LAYER_DIRS)),
}))
"""
SCRIPTS = {"numpy": SERVING_SMOKE_SCRIPT, "scikit-learn": SMOKE_SCRIPT}


class SmokeTestError(RuntimeError):
    pass


def extract_layers(zips: Sequence[Path], dest: Path) -> list[Path]:
    """Extract each layer zip into its own dir (as /opt would hold it); returns the python/ dirs."""
    dirs = []
    for i, z in enumerate(zips):
        d = dest / f"layer{i}"
        with zipfile.ZipFile(z) as zf:
            zf.extractall(d)
        if not (d / "python").is_dir():
            raise SmokeTestError(f"{z} has no python/ dir at its root: Lambda would not find its packages")
        dirs.append(d / "python")
    return dirs


def remove_bytecode(dirs: Sequence[Path]) -> None:
    for d in dirs:
        for p in list(d.rglob("__pycache__")):
            for f in p.iterdir():
                f.unlink()
            p.rmdir()


def run_isolated(layer_dirs: Sequence[Path], *, python: str | None = None, extra_imports: Sequence[str] = (),
                 write_bytecode: bool = False, timeout: float = 300, stack: str = "scikit-learn") -> dict:
    """Run the ``stack``'s smoke script (``numpy``: the serving export; ``scikit-learn``: fit and
    predict a pipeline) with only ``layer_dirs`` (and the stdlib) importable; returns its JSON."""
    script = (SCRIPTS[stack].replace("LAYER_DIRS", repr([str(d) for d in layer_dirs]))
              .replace("EXTRA_IMPORTS", repr(list(extra_imports))))
    cmd = [python or sys.executable, "-I", "-S", *([] if write_bytecode else ["-B"]), "-c", script]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(layer_dirs[0].parent))
    if proc.returncode != 0:
        raise SmokeTestError(f"import/predict from the layers alone failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def smoke_test(zips: Sequence[Path], *, python: str | None = None, extra_imports: Sequence[str] = (),
               strip_bytecode: bool = False, stack: str = "numpy") -> dict:
    """Extract ``zips`` to a scratch dir and run the ``stack``'s smoke script against them alone."""
    with tempfile.TemporaryDirectory(prefix="layer-smoke-") as tmp:
        dirs = extract_layers([Path(z) for z in zips], Path(tmp))
        if strip_bytecode:
            remove_bytecode(dirs)
        return run_isolated(dirs, python=python, extra_imports=extra_imports, stack=stack)
