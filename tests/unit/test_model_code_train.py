"""model_code.train and model_code.evaluate: quality, reproducibility, metrics, the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest

from model_code.dataset import make_split
from model_code.evaluate import METRIC_NAMES, evaluate, learning_curve_over_batches, roc_points, rounded
from model_code.train import build, model_kind, train


@pytest.fixture(scope="module")
def split():
    return make_split()


@pytest.fixture(scope="module")
def train_xy(split):
    return np.concatenate([b.X for b in split.batches]), np.concatenate([b.y for b in split.batches])


def test_default_model_meets_the_quality_bar(split, train_xy):
    model = train(*train_xy)
    m = evaluate(model, split.holdout.X, split.holdout.y)
    assert m["roc_auc"] >= 0.98 and m["accuracy"] >= 0.95, m
    assert [name for name, _ in model.steps] == ["scale", "clf"]
    assert model_kind(model) == "logreg"


def test_forest_by_config(split, train_xy):
    model = train(*train_xy, model="forest", n_estimators=30)
    assert model_kind(model) == "forest" and model.named_steps["clf"].n_estimators == 30
    assert evaluate(model, split.holdout.X, split.holdout.y)["roc_auc"] >= 0.95


@pytest.mark.parametrize("kind, params", [("logreg", {}), ("forest", {"n_estimators": 20})])
def test_training_is_reproducible(split, train_xy, kind, params):
    a = train(*train_xy, model=kind, seed=3, **params)
    b = train(*train_xy, model=kind, seed=3, **params)
    X = split.holdout.X
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_forest_seed_matters(split, train_xy):
    a = train(*train_xy, model="forest", seed=1, n_estimators=10)
    b = train(*train_xy, model="forest", seed=2, n_estimators=10)
    assert not np.array_equal(a.predict_proba(split.holdout.X), b.predict_proba(split.holdout.X))


def test_training_input_errors(train_xy):
    X, y = train_xy
    with pytest.raises(ValueError, match="unknown model 'svm'"):
        train(X, y, model="svm")
    with pytest.raises(ValueError, match=r"shape \(n, 30\)"):
        train(X[:, :5], y)
    with pytest.raises(ValueError, match="both classes"):
        train(X[y == 1], y[y == 1])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        train(X, np.where(y == 1, 2, 0))
    assert build().named_steps["clf"].max_iter >= 1000


def test_metrics_keys_types_and_ranges(split, train_xy):
    m = evaluate(train(*train_xy), split.holdout.X, split.holdout.y)
    assert set(m) == {*METRIC_NAMES, "confusion_matrix", "n_samples"}
    assert json.loads(json.dumps(m)) == m  # JSON-ready
    for k in METRIC_NAMES:
        assert type(m[k]) is float and 0.0 <= m[k] <= 1.0
    cm = m["confusion_matrix"]
    assert all(type(v) is int for row in cm for v in row)
    assert np.array(cm).sum() == m["n_samples"] == 114
    (tn, fp), (fn, tp) = cm
    assert m["accuracy"] == pytest.approx((tn + tp) / 114)
    assert m["recall"] == pytest.approx(tp / (tp + fn)) and m["precision"] == pytest.approx(tp / (tp + fp))
    assert rounded(m)["roc_auc"] == round(m["roc_auc"], 4)


def test_single_class_holdout_has_no_auc(split, train_xy):
    X, y = split.holdout.X, split.holdout.y
    m = evaluate(train(*train_xy), X[y == 1], y[y == 1])
    assert m["roc_auc"] is None and m["n_samples"] == int((y == 1).sum())


def test_roc_points(split, train_xy):
    r = roc_points(train(*train_xy), split.holdout.X, split.holdout.y)
    assert r["fpr"][0] == 0.0 and r["fpr"][-1] == 1.0 and r["tpr"][-1] == 1.0
    assert len(r["fpr"]) == len(r["tpr"]) == len(r["thresholds"]) and r["auc"] >= 0.98
    json.dumps(r)


def test_learning_curve_over_batches(split):
    points = learning_curve_over_batches(split.batches, split.holdout)
    assert [p["batch"] for p in points] == [1, 2, 3, 4, 5]
    assert [p["rows"] for p in points] == [91, 182, 273, 364, 455]
    assert all(p["n_samples"] == 114 and 0.9 <= p["roc_auc"] <= 1.0 for p in points)
    last = evaluate(train(np.concatenate([b.X for b in split.batches]),
                          np.concatenate([b.y for b in split.batches])), split.holdout.X, split.holdout.y)
    assert points[-1]["roc_auc"] == last["roc_auc"]  # the last point is the full model


def test_cli_prints_holdout_metrics_json():
    proc = subprocess.run([sys.executable, "-m", "model_code.train", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert m["roc_auc"] >= 0.98 and m["accuracy"] >= 0.95 and m["n_samples"] == 114
    assert "trained logreg on 455 rows from 5 file(s)" in proc.stderr


def test_cli_forest_with_data_dir_and_out(tmp_path):
    from model_code.dataset import write_split

    write_split(tmp_path / "data")
    proc = subprocess.run([sys.executable, "-m", "model_code.train", "--json", "--model", "forest",
                           "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "model")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)
    assert json.loads((tmp_path / "model" / "metrics.json").read_text()) == m
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["model_kind"] == "forest" and len(card["inputs"]) == 5


def test_format_metrics_is_json_one_key_per_line(split, train_xy):
    from model_code.evaluate import format_metrics

    m = evaluate(train(*train_xy), split.holdout.X, split.holdout.y)
    text = format_metrics(m)
    assert json.loads(text) == rounded(m)
    assert len(text.splitlines()) == len(m) + 2
    assert json.loads(format_metrics(m, digits=None)) == m
