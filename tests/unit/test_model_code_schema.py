"""model_code.schema: names, ranges, request validation, the API's JSON schema."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from model_code import schema
from model_code.schema import FEATURE_NAMES, MAX_ROWS_PER_REQUEST, SchemaError, validate_instances


def _row(value=1.0):
    return {name: value for name in FEATURE_NAMES}


def test_feature_names_match_sklearn_order():
    from sklearn.datasets import load_breast_cancer

    assert FEATURE_NAMES == tuple(str(n) for n in load_breast_cancer().feature_names)
    assert len(FEATURE_NAMES) == 30 and len(set(FEATURE_NAMES)) == 30
    assert schema.LABEL == "target" and schema.LABELS == (0, 1)
    assert [f.name for f in schema.FEATURES] == list(FEATURE_NAMES)


def test_ranges_contain_every_real_value():
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer().data
    for j, f in enumerate(schema.FEATURES):
        assert f.dtype == "float"
        assert f.min <= X[:, j].min() and X[:, j].max() <= f.max, f.name
        assert f.max <= 5 * X[:, j].max(), f"{f.name}: range too loose to be useful"


def test_schema_imports_neither_sklearn_nor_pandas():
    code = "import sys, model_code.schema; print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn','pandas','scipy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_valid_instances_become_an_array_in_feature_order():
    rows = [{name: float(j) for j, name in enumerate(FEATURE_NAMES)}, _row(2)]
    rows[0] = dict(reversed(list(rows[0].items())))  # key order in the request does not matter
    X = validate_instances(rows)
    assert X.dtype == np.float64 and X.shape == (2, 30)
    assert X[0].tolist() == [float(j) for j in range(30)]
    assert X[1].tolist() == [2.0] * 30


def test_out_of_range_values_are_accepted():
    X = validate_instances([_row(1e6)])  # ranges are for display, not for rejection
    assert X[0, 0] == 1e6


def _bad(**changes):
    row = _row()
    for k, v in changes.items():
        row[k.replace("_", " ")] = v
    return row


def _without(name):
    row = _row()
    del row[name]
    return row


@pytest.mark.parametrize(
    "instances, expected",
    [
        ({"mean radius": 1}, "must be a list"),
        ("abc", "must be a list"),
        (None, "must be a list"),
        ([], "empty"),
        ([_row()] * (MAX_ROWS_PER_REQUEST + 1), f"at most {MAX_ROWS_PER_REQUEST}"),
        ([_row(), [1, 2, 3]], "instances[1] must be an object"),
        ([_without("worst area")], "instances[0]: missing feature 'worst area'"),
        ([{**_row(), "mean radiuss": 1}], "unknown feature 'mean radiuss' (did you mean 'mean radius'?)"),
        ([_bad(mean_radius=True)], "instances[0]['mean radius']: True is a boolean"),
        ([_bad(mean_radius="12.5")], "'12.5' is not a number"),
        ([_bad(mean_radius=None)], "null is not a number"),
        ([_bad(mean_radius={"v": 1})], "nested dict"),
        ([_bad(mean_radius=[1.0])], "nested list"),
        ([_row(), _bad(mean_radius=math.nan)], "instances[1]['mean radius']: nan is not a finite number"),
        ([_bad(mean_radius=math.inf)], "inf is not a finite number"),
        ([_bad(mean_radius=10**400)], "too large"),
    ],
)
def test_bad_instances_are_rejected_with_row_and_field(instances, expected):
    with pytest.raises(SchemaError) as exc:
        validate_instances(instances)
    assert expected in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_max_rows_can_be_lowered():
    with pytest.raises(SchemaError, match="at most 2"):
        validate_instances([_row()] * 3, max_rows=2)


def test_json_schema_is_draft4_and_strict():
    s = schema.json_schema()
    json.dumps(s)  # JSON-ready
    assert s["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert s["type"] == "object" and s["required"] == ["instances"]
    inst = s["properties"]["instances"]
    assert inst["type"] == "array" and inst["minItems"] == 1 and inst["maxItems"] == MAX_ROWS_PER_REQUEST
    item = inst["items"]
    assert item["type"] == "object" and item["additionalProperties"] is False
    assert item["required"] == list(FEATURE_NAMES)
    assert set(item["properties"]) == set(FEATURE_NAMES)
    assert all(p == {"type": "number"} for p in item["properties"].values())


def test_json_schema_agrees_with_validate_instances():
    jsonschema = pytest.importorskip("jsonschema")  # installed with jupyterlab
    s = schema.json_schema(max_rows=3)
    good = {"instances": [_row()]}
    jsonschema.Draft4Validator(s).validate(good)
    validate_instances(good["instances"], max_rows=3)
    for bad in ([], [_without("mean area")], [{**_row(), "x": 1}], [_bad(mean_radius="1")], [_row()] * 4):
        assert list(jsonschema.Draft4Validator(s).iter_errors({"instances": bad})), bad
        with pytest.raises(SchemaError):
            validate_instances(bad, max_rows=3)
