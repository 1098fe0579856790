"""model_code.artifacts: save/load round trip, model card, version refusal."""
import json
import re
import sys
import warnings

import joblib
import numpy as np
import pytest
import sklearn

from model_code import artifacts
from model_code.artifacts import IncompatibleModelError, check_compatible, fingerprint, load, load_bytes, save
from model_code.dataset import make_split, write_split
from model_code.evaluate import evaluate
from model_code.schema import FEATURE_NAMES
from model_code.train import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    files = write_split(data, n_batches=2)
    split = make_split(n_batches=2)
    X = np.concatenate([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    model = train(X, y)
    return model, evaluate(model, split.holdout.X, split.holdout.y), files, split.holdout


def test_round_trip_gives_the_same_predictions(tmp_path, trained):
    model, metrics, files, holdout = trained
    paths = save(model, tmp_path / "v001", version="v001", metrics=metrics, inputs=files["batches"])
    assert paths == {"model": str(tmp_path / "v001" / "model.joblib"),
                     "metrics": str(tmp_path / "v001" / "metrics.json"),
                     "card": str(tmp_path / "v001" / "model_card.json")}
    for loaded in (load(tmp_path / "v001"), load(paths["model"]),
                   load_bytes(open(paths["model"], "rb").read(), card=open(paths["card"], "rb").read())):
        assert np.array_equal(loaded.predict_proba(holdout.X), model.predict_proba(holdout.X))
    assert json.loads(open(paths["metrics"]).read()) == metrics
    assert not list((tmp_path / "v001").glob("*.tmp-*"))


def test_model_card_contents(tmp_path, trained):
    model, metrics, files, _ = trained
    paths = save(model, tmp_path, version="v007", metrics=metrics, inputs=files["batches"])
    card = json.loads(open(paths["card"]).read())
    assert card["version"] == "v007" and card["model_kind"] == "logreg"
    assert card["feature_names"] == list(FEATURE_NAMES) and card["label"] == "target"
    assert card["params"]["max_iter"] >= 1000 and card["params"]["random_state"] == 0
    assert card["libraries"]["scikit-learn"] == sklearn.__version__
    assert set(card["libraries"]) == {"scikit-learn", "numpy", "scipy", "joblib", "python"}
    assert card["libraries"]["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", card["created_at"])
    assert card["data_fingerprint"] == fingerprint(files["batches"])
    assert [i["name"] for i in card["inputs"]] == ["batch_01.csv", "batch_02.csv"]
    assert card["metrics"] == metrics


def test_fingerprint_depends_on_content_and_names_not_order_or_folder(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("1"), b.write_text("2")
    (tmp_path / "other").mkdir()
    a2 = tmp_path / "other" / "a.csv"
    a2.write_text("1")
    fp = fingerprint([a, b])
    assert re.fullmatch(r"[0-9a-f]{64}", fp)
    assert fingerprint([b, a]) == fp == fingerprint([a2, b])
    assert fingerprint({"data/a.csv": a, "data/b.csv": b}) != fp  # names count
    b.write_text("3")
    assert fingerprint([a, b]) != fp


@pytest.mark.parametrize("built", ["0.24.2", "1.8.0", "2.9.1", "pre-0.18"])
def test_card_with_other_major_minor_is_refused_before_unpickling(tmp_path, trained, built):
    model, metrics, files, _ = trained
    paths = save(model, tmp_path, version="v001", metrics=metrics)
    card = json.loads(open(paths["card"]).read())
    card["libraries"]["scikit-learn"] = built
    open(paths["card"], "w").write(json.dumps(card))
    open(paths["model"], "wb").write(b"not a pickle: must not be read")
    with pytest.raises(IncompatibleModelError) as exc:
        load(tmp_path)
    msg = str(exc.value)
    assert f"scikit-learn {built}" in msg and f"scikit-learn {sklearn.__version__}" in msg
    assert exc.value.built == built and exc.value.running == sklearn.__version__
    with pytest.raises(IncompatibleModelError):
        check_compatible(card)
    with pytest.raises(IncompatibleModelError):
        load_bytes(b"", card=card)


def test_patch_level_difference_is_compatible():
    major, minor = sklearn.__version__.split(".")[:2]
    check_compatible({"libraries": {"scikit-learn": f"{major}.{minor}.99"}})
    with pytest.raises(ValueError, match="no libraries.scikit-learn"):
        check_compatible({"version": "v001"})


def _dump_as(monkeypatch, model, path, version):
    with monkeypatch.context() as m:
        m.setattr(sklearn.base, "__version__", version)
        joblib.dump(model, path)


def test_without_card_the_pickled_version_is_checked(tmp_path, trained, monkeypatch):
    model, *_ = trained
    _dump_as(monkeypatch, model, tmp_path / "model.joblib", "1.2.2")
    with pytest.raises(IncompatibleModelError, match="built with scikit-learn 1.2.2"):
        load(tmp_path / "model.joblib")
    with pytest.raises(IncompatibleModelError):
        load_bytes((tmp_path / "model.joblib").read_bytes())
    with pytest.raises(FileNotFoundError, match="no model_card.json"):
        load(tmp_path, require_card=True)


def test_without_card_a_patch_difference_loads_with_a_warning(tmp_path, trained, monkeypatch):
    model, *_ = trained
    major, minor = sklearn.__version__.split(".")[:2]
    _dump_as(monkeypatch, model, tmp_path / "model.joblib", f"{major}.{minor}.99")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load(tmp_path)
    assert loaded.predict(np.zeros((1, 30))).shape == (1,)
    assert any("InconsistentVersion" in type(w.message).__name__ for w in caught)


def test_model_code_has_no_pandas_and_no_imports_of_ours():
    import pathlib

    root = pathlib.Path(artifacts.__file__).parent
    for py in root.glob("*.py"):
        src = py.read_text()
        assert not re.search(r"^\s*(import|from)\s+pandas", src, re.M), py.name
        assert not re.search(r"^\s*(import|from)\s+(mlpipe|localcloud|lambda_code|ec2_scripts|layer_build)\b", src, re.M), py.name
