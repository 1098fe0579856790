"""model_code.export: the numpy serving export reproduces scikit-learn within 1e-9, is
written only when it does, and reads back only what it wrote."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from model_code import artifacts, dataset, export, schema, train


@pytest.fixture(scope="module")
def split():
    return dataset.make_split()


@pytest.fixture(scope="module")
def fitted(split):
    X = np.vstack([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    return {"logreg": train.train(X, y), "forest": train.train(X, y, model="forest"),
            "X": np.vstack([X, split.holdout.X])}


@pytest.mark.parametrize("kind", ["logreg", "forest"])
def test_export_reproduces_predict_proba_on_every_row(fitted, kind):
    model = fitted[kind]
    exp = export.from_bytes(export.export_model(model, schema.FEATURE_NAMES).to_bytes())
    assert exp.kind == kind and exp.feature_names == schema.FEATURE_NAMES
    assert exp.classes.tolist() == [0, 1]
    X = fitted["X"]
    assert np.max(np.abs(exp.predict_proba(X) - model.predict_proba(X))) <= 1e-9
    assert np.array_equal(exp.classes[exp.predict_proba(X).argmax(axis=1)], model.predict(X))


def test_forest_export_survives_rows_exactly_on_a_threshold(fitted):
    model = fitted["forest"]
    exp = export.export_model(model, schema.FEATURE_NAMES)
    t = model.steps[1][1].estimators_[0].tree_
    # a row whose scaled root feature equals the root threshold (float32, as the trees compare)
    row = fitted["X"][:1].copy()
    scaler = model.steps[0][1]
    row[0, t.feature[0]] = float(np.float32(t.threshold[0])) * scaler.scale_[t.feature[0]] + scaler.mean_[t.feature[0]]
    assert np.max(np.abs(exp.predict_proba(row) - model.predict_proba(row))) <= 1e-9


@pytest.mark.parametrize("kind, suffix", [("logreg", ".json"), ("forest", ".npz")])
def test_save_writes_the_export_and_records_the_difference(fitted, split, tmp_path, kind, suffix):
    paths = artifacts.save(fitted[kind], tmp_path, version="v001", metrics={}, holdout_X=split.holdout.X)
    assert paths["export"].endswith("model_export" + suffix)
    card = artifacts.read_card(paths["card"])
    assert card["export"]["max_abs_diff"] <= 1e-9 and card["export"]["tolerance"] == 1e-9
    assert card["export"]["verified_rows"] == len(split.holdout.X)
    assert artifacts.export_error(card) is None
    fields = artifacts.pointer_fields(paths, "models/v001/")
    assert fields["export"]["key"] == "models/v001/model_export" + suffix
    assert ("export_inline" in fields) == (kind == "logreg")


def test_an_export_that_differs_is_not_written(fitted, split, tmp_path):
    with pytest.raises(export.ExportError, match="differs from predict_proba"):
        export.write_verified(fitted["logreg"], tmp_path, split.holdout.X, schema.FEATURE_NAMES, tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_an_unsupported_model_is_saved_without_export_and_says_why(split, tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X = np.vstack([b.X for b in split.batches])
    y = np.concatenate([b.y for b in split.batches])
    model = Pipeline([("scale", StandardScaler()), ("clf", DecisionTreeClassifier())]).fit(X, y)
    paths = artifacts.save(model, tmp_path, version="v001", metrics={}, holdout_X=split.holdout.X)
    assert "export" not in paths
    assert "DecisionTreeClassifier" in artifacts.export_error(artifacts.read_card(paths["card"]))
    with pytest.raises(export.ExportError):
        artifacts.pointer_fields(paths, "models/v001/")


def test_reading_refuses_other_formats_and_versions(fitted):
    doc = export.export_model(fitted["logreg"], schema.FEATURE_NAMES).document()
    with pytest.raises(export.ExportError, match="format_version"):
        export.from_document({**doc, "format_version": 2})
    with pytest.raises(export.ExportError, match="not an mlpipe-export"):
        export.from_bytes(b'{"format": "onnx"}')
    with pytest.raises(export.ExportError, match="coef"):
        export.from_document({**doc, "coef": [[1.0, 2.0]]})
    with pytest.raises(export.ExportError):
        export.from_bytes(b"PK\x03\x04 not a zip")


def test_the_npz_holds_no_pickles(fitted):
    data = export.export_model(fitted["forest"], schema.FEATURE_NAMES).to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as z:  # would raise on an object array
        assert {"meta", "feature", "threshold", "left", "right", "value", "roots", "mean", "scale"} <= set(z.files)
        assert json.loads(z["meta"].tobytes())["format_version"] == export.FORMAT_VERSION


def test_export_module_imports_no_scikit_learn():
    code = ("import sys; import model_code.export, model_code.schema; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'joblib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("module", ["model_code", "model_code.train"])
def test_the_cli_runs_from_main_and_its_old_name(module, tmp_path):
    out = subprocess.run([sys.executable, "-m", module, "--json", "--model", "forest", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["roc_auc"] > 0.9
    assert (tmp_path / "model_export.npz").is_file()


def test_train_no_longer_imports_artifacts_or_evaluate():
    import ast
    import pathlib

    tree = ast.parse(pathlib.Path(train.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"artifacts", "evaluate", ".artifacts", "model_code.artifacts", "model_code.evaluate"}
