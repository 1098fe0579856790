"""The dataset file: bundled files parse, a bad file is refused with its line and reason,
init infers a file that reads back, validation names the column, every task trains and its
export reproduces scikit-learn within 1e-9 (one-hot, imputation and scaling included)."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from model_code import dataset, examples, export, infer, spec as S, tabular
from model_code.data import DataError
from model_code.table import RequestError, concat, parse_table, rows_from_request

GOOD = '''name = "t"
[target]
column = "y"
task = "binary"
[target.classes]
"0" = "no"
"1" = "yes"

[[features]]
name = "a"
type = "number"
min = 0.0
max = 10.0

[[features]]
name = "c"
type = "category"
categories = ["x", "z"]
missing = "most_frequent"
'''


def test_bundled_files_parse_and_breast_cancer_matches_the_schema():
    from model_code import schema

    assert set(S.bundled_names()) >= {"breast_cancer", "wine", "diabetes", "apartments"}
    bc = S.default()
    assert bc.feature_names == schema.FEATURE_NAMES and bc.task == "binary"
    assert [f.max for f in bc.features] == [f.max for f in schema.FEATURES]
    assert bc.class_labels == ("malignant", "benign") and bc.metric == "roc_auc"
    assert S.bundled("wine").task == "multiclass" and S.bundled("diabetes").metric == "rmse"
    apt = S.bundled("apartments")
    assert "SYNTHETIC" in apt.description and any(f.is_category for f in apt.features)
    assert any(f.missing != "refuse" for f in apt.features)


@pytest.mark.parametrize("change, line, reason", [
    (('type = "number"', 'type = "numbr"'), 11, "unknown type 'numbr'"),
    (('name = "c"', 'name = "a"'), 16, "duplicate column 'a'"),
    (('categories = ["x", "z"]', 'categories = []'), 18, "non-empty categories"),
    (('min = 0.0', 'min = 11.0'), 12, "min 11.0 > max 10.0"),
    (('column = "y"', 'column = "a"'), 10, "duplicate column 'a'"),
    (('task = "binary"', 'task = "ranking"'), 4, "task 'ranking'"),
    (('"1" = "yes"', ''), 5, "exactly 2 classes"),
])
def test_a_bad_dataset_file_is_refused_with_the_line_and_the_reason(change, line, reason):
    text = GOOD.replace(*change)
    with pytest.raises(S.SpecError) as err:
        S.parse(text, where="d.toml")
    assert f"d.toml:{line}:" in str(err.value) and reason in str(err.value)


def test_toml_syntax_errors_name_the_line():
    with pytest.raises(S.SpecError, match=r"d.toml:3: not valid TOML"):
        S.parse('name = "x"\n[target]\ncolumn = \n', where="d.toml")


def test_the_target_must_be_in_the_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(S.SpecError, match="target 'y' is not a column"):
        infer.infer(str(p), "y")


def test_round_trip_to_toml_and_dict():
    for name in S.bundled_names():
        sp = S.bundled(name)
        again = S.parse(S.to_toml(sp))
        assert again.to_dict() == sp.to_dict()
        assert S.from_dict(json.loads(json.dumps(sp.to_dict()))).to_dict() == sp.to_dict()


def _csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_validation_names_the_row_and_the_column(tmp_path):
    sp = S.parse(GOOD)
    ok = _csv(tmp_path / "ok.csv", ["a", "c", "y"], [["1", "x", "0"], ["2", "", "1"]])
    t = parse_table(open(ok, "rb").read(), sp, "ok.csv")
    assert t.n_rows == 2 and t.columns["c"].tolist() == ["x", None] and t.y.tolist() == [0, 1]
    for rows, header, msg in [
        ([["1", "q", "0"]], ["a", "c", "y"], "row 1, column 'c': 'q' is not one of the categories 'x', 'z'"),
        ([["11", "x", "0"]], ["a", "c", "y"], "row 1, column 'a': 11.0 is outside the plausible range 0 to 10"),
        ([["", "x", "0"]], ["a", "c", "y"], "row 1, column 'a': missing value"),
        ([["1", "x", "2"]], ["a", "c", "y"], "row 1, column 'y': '2' is not a class"),
        ([["1", "x", "0", "5"]], ["a", "c", "y", "extra"], "column 'extra' is not in the dataset file"),
        ([["1", "0"]], ["a", "y"], "missing column 'c'"),
    ]:
        bad = _csv(tmp_path / "bad.csv", header, rows)
        with pytest.raises(DataError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            parse_table(open(bad, "rb").read(), sp, "bad.csv")


def test_a_request_with_a_wrong_category_names_the_feature_and_the_allowed_values():
    sp = S.parse(GOOD)
    t = rows_from_request([{"a": 1, "c": "x"}, {"a": 2}], sp)
    assert t.columns["c"].tolist() == ["x", None]
    assert t.columns["a"].dtype == np.float64 and t.columns["a"].tolist() == [1.0, 2.0]
    for value, msg in [(True, "True is a boolean, not a number"), (10 ** 400, "is too large"),
                       (float("inf"), "inf is not a finite number"), ("1", "'1' is not a number"),
                       ([1], "nested list is not a number")]:
        with pytest.raises(RequestError, match=r"instances\[1\]\['a'\]: .*" + msg):
            rows_from_request([{"a": 1}, {"a": value}], sp)
    with pytest.raises(RequestError, match=r"instances\[0\]\['c'\]: 'blue' is not an allowed value; allowed: 'x', 'z'"):
        rows_from_request([{"a": 1, "c": "blue"}], sp)
    with pytest.raises(RequestError, match=r"missing feature 'a'"):
        rows_from_request([{"c": "x"}], sp)
    schema = sp.json_schema()
    item = schema["properties"]["instances"]["items"]
    assert item["required"] == ["a"] and item["properties"]["c"] == {"type": ["string", "null"]}


def test_init_infers_task_types_categories_and_missing(tmp_path):
    header, rows = examples.apartments_rows(150, seed=1)
    p = _csv(tmp_path / "flats.csv", header, rows)
    got = infer.infer(p, "rent")
    sp = got.spec
    assert sp.task == "regression" and sp.ignore == ("id",) and sp.metric == "rmse"
    kinds = {f.name: (f.type, f.missing) for f in sp.features}
    assert kinds["district"][0] == "category" and kinds["rooms"] == ("integer", "refuse")
    assert kinds["area_m2"] == ("number", "median")
    assert any("task: regression" in n for n in got.notes)
    again = S.parse(S.to_toml(sp))
    t = parse_table(open(p, "rb").read(), again, "flats.csv")  # the file it was inferred from fits it
    assert t.n_rows == 150
    # a whole-number target with few values is a classification
    q = _csv(tmp_path / "c.csv", ["f", "label"], [[str(i), str(i % 3)] for i in range(30)])
    assert infer.infer(q, "label").spec.task == "multiclass"


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes", "apartments"])
def test_every_bundled_dataset_trains_and_its_export_matches_scikit_learn(tmp_path, name):
    sp = S.bundled(name)
    files = dataset.write_dataset_split(sp, tmp_path / "data", n_batches=3)
    read = lambda p: parse_table(open(p, "rb").read(), sp, os.path.basename(p))  # noqa: E731
    data, hold = concat([read(p) for p in files["batches"]]), read(files["holdout"])
    assert hold.n_rows == pytest.approx(sp.holdout_fraction * (data.n_rows + hold.n_rows), abs=1)
    for kind in S.MODEL_KINDS[sp.task]:
        fitted = tabular.fit(sp, data, kind=kind, **({"n_estimators": 20} if kind == "forest" else {}))
        metrics = tabular.evaluate(sp, fitted, hold)
        assert sp.metric in metrics and metrics[sp.metric] is not None
        out = tmp_path / f"m-{kind}"
        paths = tabular.save(fitted, out, version="v001", metrics=metrics, holdout=hold)
        card = json.load(open(paths["card"]))
        assert card["export"]["max_abs_diff"] <= 1e-9, card["export"]
        assert card["dataset"]["features"][0]["name"] == sp.features[0].name and card["task"] == sp.task
        exp = export.from_bytes(open(paths["export"], "rb").read())
        theirs = fitted.output(hold)
        assert np.max(np.abs(exp.output_rows(hold) - theirs)) <= 1e-9


def test_the_breast_cancer_split_is_the_one_the_course_always_used(tmp_path):
    old = dataset.write_split(tmp_path / "old")
    new = dataset.write_dataset_split(S.default(), tmp_path / "new")
    assert open(old["holdout"]).read() == open(new["holdout"]).read()
    assert [open(p).read() for p in old["batches"]] == [open(p).read() for p in new["batches"]]


def test_an_export_that_imputes_differently_is_caught(tmp_path):
    sp = S.bundled("apartments")
    files = dataset.write_dataset_split(sp, tmp_path / "d", n_batches=2)
    read = lambda p: parse_table(open(p, "rb").read(), sp, os.path.basename(p))  # noqa: E731
    data, hold = concat([read(p) for p in files["batches"]]), read(files["holdout"])
    fitted = tabular.fit(sp, data, kind="ridge")
    wrong = fitted.encoder.to_dict()
    assert wrong["features"][0]["name"] == "area_m2" and np.isnan(hold.columns["area_m2"]).any()
    wrong["features"][0]["fill"] = 0.0  # not the training rows' median
    from model_code.encode import Encoder

    bad = export.export_model(fitted.pipeline, fitted.encoder.output_names, encoder=Encoder.from_dict(wrong),
                              task="regression")
    assert export.max_difference(bad, fitted.pipeline, fitted.encoder.transform(hold), hold) > 1e-6


def test_encoder_imputes_numbers_one_hots_categories_and_names_a_refused_missing_value():
    from model_code.encode import EncodeError, Encoder
    from model_code.table import Table

    enc = Encoder([{"name": "a", "type": "number", "fill": 1.5},
                   {"name": "c", "type": "category", "categories": ["x", "y"], "fill": "y"},
                   {"name": "b", "type": "number", "fill": None},
                   {"name": "d", "type": "number", "fill": -2.0}])
    assert enc.output_names == ("a", "c=x", "c=y", "b", "d")
    cols = {"a": np.array([np.nan, 3.0]), "c": np.array(["x", None], dtype=object),
            "b": np.array([4.0, 5.0]), "d": np.array([7.0, np.nan])}
    X = enc.transform(Table(cols, None, 2))
    assert X.tolist() == [[1.5, 1.0, 0.0, 4.0, 7.0], [3.0, 0.0, 1.0, 5.0, -2.0]]
    assert np.isnan(cols["a"][0])  # the table's own columns are left as they were

    cols["b"] = np.array([4.0, np.nan])
    cols["a"] = np.array([np.nan, np.nan])  # has a fill: not the one named
    with pytest.raises(EncodeError, match="'b' has a missing value and no fill"):
        enc.transform(Table(cols, None, 2))
