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


def _runs():
    return [
        {"model_version": "v001", "status": "succeeded", "inputs": ["a"] * 2, "metrics": {"roc_auc": 0.990}},
        {"model_version": "v002", "status": "succeeded", "inputs": ["a"] * 3, "metrics": {"roc_auc": 0.995}},
        {"model_version": "v003", "status": "succeeded", "inputs": ["a"] * 5, "metrics": {"roc_auc": 0.998}},
        {"model_version": "v004", "status": "rejected", "inputs": ["a"] * 5, "metrics": {"roc_auc": 0.972}},
    ]


def test_every_point_of_the_metrics_per_version_plot_is_visible():
    reference = [{"batch": i, "roc_auc": v} for i, v in enumerate((0.985, 0.99, 0.995, 0.996, 0.998), 1)]
    fig = plots.plot_metrics_per_version(_runs(), reference=reference)
    assert plots.points_outside(fig) == {"outside_axes": 0, "under_legend": 0}


def test_points_outside_sees_a_clipped_point_and_one_under_the_legend():
    fig = Figure()
    ax = fig.subplots()
    ax.scatter([1, 2, 3], [1.0, 2.0, 3.0], label="points")
    ax.set_ylim(0.5, 2.5)                                  # (3, 3) is cut off
    assert plots.points_outside(fig)["outside_axes"] == 1
    fig = Figure()
    ax = fig.subplots()
    ax.scatter([0, 10], [0, 10], label="a long legend label that covers the corner")
    ax.scatter([9.6], [0.3], label="hidden")               # where a lower-right legend goes
    ax.legend(loc="lower right", fontsize=14)
    assert plots.points_outside(fig)["under_legend"] >= 1


def test_the_notebook_plots_hide_no_point(fitted):
    split, model = fitted
    metrics = evaluate(model, split.holdout.X, split.holdout.y)
    points = learning_curve_over_batches(split.batches, split.holdout)
    for fig in (plots.plot_roc(model, split.holdout.X, split.holdout.y), plots.plot_confusion(metrics),
                plots.plot_learning_curve(points), plots.plot_latency_histogram([0.01, 0.012, 0.02, 0.05])):
        assert plots.points_outside(fig)["outside_axes"] == 0
