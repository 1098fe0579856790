"""mlpipe.plots: each function returns a Figure and writes a real PNG when given a path."""
import os
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from mlpipe import plots
from model_code.dataset import make_split
from model_code.evaluate import evaluate, learning_curve_over_batches
from model_code.train import train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fitted():
    split = make_split(n_batches=3)
    X = np.concatenate([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    return split, train(X, y)


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_all_plots_return_figures_and_save_png(tmp_path, fitted):
    split, model = fitted
    metrics = evaluate(model, split.holdout.X, split.holdout.y)
    points = learning_curve_over_batches(split.batches, split.holdout)
    made = {
        "dist": plots.plot_feature_distributions(split.holdout, path=tmp_path / "a" / "dist.png"),
        "roc": plots.plot_roc(model, split.holdout.X, split.holdout.y, path=tmp_path / "roc.png"),
        "cm": plots.plot_confusion(metrics, path=tmp_path / "cm.png"),
        "lc": plots.plot_learning_curve(points, path=tmp_path / "lc.png"),
    }
    for name, fig in made.items():
        assert isinstance(fig, Figure), name
    for name in ("a/dist.png", "roc.png", "cm.png", "lc.png"):
        _check_png(tmp_path / name)
    texts = [t.get_text() for t in made["cm"].axes[0].texts]
    assert sorted(texts) == sorted(str(v) for row in metrics["confusion_matrix"] for v in row)
    assert "AUC = " in made["roc"].axes[0].get_legend().get_texts()[0].get_text()
    assert list(made["lc"].axes[0].lines[0].get_xdata()) == [p["rows"] for p in points]


def test_no_path_writes_nothing(tmp_path, fitted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    split, _ = fitted
    plots.plot_feature_distributions(split.holdout, features=["mean area"])
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_are_explained(fitted):
    split, _ = fitted
    with pytest.raises(ValueError, match="unknown feature 'radius'"):
        plots.plot_feature_distributions(split.holdout, features=["radius"])
    with pytest.raises(ValueError, match="2x2"):
        plots.plot_confusion({"confusion_matrix": [[1, 2, 3]]})
    with pytest.raises(ValueError, match="no points"):
        plots.plot_learning_curve([])


def test_importing_plots_sets_no_backend_and_no_pyplot():
    code = ("import sys, matplotlib; before = matplotlib.get_backend(); import mlpipe.plots; "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MPLBACKEND": "Agg"}).stdout
    assert out.strip() == "False"
