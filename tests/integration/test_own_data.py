"""Issue 20's acceptance on the local cloud: every bundled dataset (and a CSV no test has seen,
with a category column and a numeric target, from ``mlpipe dataset init``) goes end to end.

For each (breast cancer, the default, is in test_api_end_to_end / test_pipeline_acceptance):
deploy a stack for it (``MLPIPE_DATASET``), upload one arrival batch, a model is
promoted, the API answers one row with labels/values a person can read, the served export
matches scikit-learn within 1e-9 (the model card's verification), a bad row and a bad upload
are refused with a reason naming the column (the instance's set-aside once, for apartments),
and destroy leaves nothing. One local cloud for the module, one stack per dataset at a time,
small data (the arrival batches in one file: one run).
"""
from __future__ import annotations

import csv
import json
import os
import urllib.error
import urllib.request

import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import api, buckets, clients, datasets, deploy, teardown, watch
from mlpipe.config import load_settings
from mlpipe.names import names_for
from mlpipe.stack import Stack
from model_code import examples

pytestmark = pytest.mark.integration

RUN_TIMEOUT = 120


def _settings(endpoint: str, stack: str, dataset: str):
    return load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint, "MLPIPE_STACK": stack,
                          "MLPIPE_DATASET": dataset, "MLPIPE_READY_TIMEOUT": "60",
                          "MLPIPE_MODEL_REFRESH_SECONDS": "1", "MLPIPE_COMMAND_TIMEOUT": "180"})


def post(url, body, key):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "x-api-key": key})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def first_row(path, spec) -> dict:
    """The first complete row of a CSV as a request row (numbers as numbers)."""
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out = {}
            for f in spec.features:
                cell = row[f.name].strip()
                if cell == "":
                    break
                out[f.name] = cell if f.is_category else float(cell)
            else:
                return out
    raise AssertionError(f"{path}: no complete row")


def unseen_csv(tmp_path) -> str:
    """A CSV none of the tests has seen: rentals with other column names and a fresh seed."""
    header, rows = examples.apartments_rows(160, seed=2024)
    path = tmp_path / "lettings.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ref_id", "floor_area", "bedrooms", "neighbourhood", "terrace", "built", "monthly_rent"])
        w.writerows(rows)
    return str(path)


# breast_cancer, the default, goes end to end in test_api_end_to_end and test_pipeline_acceptance.
CASES = ["wine", "diabetes", "apartments", "unseen"]


@pytest.mark.parametrize("case", CASES)
def test_a_dataset_goes_from_its_file_to_a_served_prediction(local_cloud, tmp_path, case):  # noqa: F811
    if case == "unseen":  # mlpipe dataset init, no file edited by hand
        from mlpipe.cli import main

        csv_path = unseen_csv(tmp_path)
        assert main(["dataset", "init", csv_path, "--target", "monthly_rent"]) == 0
        dataset = str(tmp_path / "dataset.toml")
    else:
        dataset = case
    stack_name = f"own{CASES.index(case)}"
    settings = _settings(local_cloud.endpoint_url, stack_name, dataset)
    clients.clear_cache()
    spec = datasets.spec_of(settings)
    names = names_for(settings)
    split = datasets.write_split(settings, str(tmp_path / "split"), 5)  # the split deploy seeds from
    try:
        deploy.deploy(settings, part="all", progress=lambda m: None)
        body = clients.client("s3", settings).get_object(Bucket=names.input_bucket,
                                                         Key="dataset/dataset.toml")["Body"].read()
        assert body == datasets.spec_text(spec)

        # an upload of the arrival batches trains and promotes a model (as good as the one deploy
        # seeded from the same rows, within the default tolerance)
        arrivals = tmp_path / "arrivals.csv"  # the batches in one file: one upload, one run
        with open(arrivals, "w", newline="") as out_fh:
            for i, path in enumerate(split["batches"]):
                lines = open(path, newline="").read().splitlines(keepends=True)
                out_fh.writelines(lines if i == 0 else lines[1:])
        record = watch.upload_and_wait(Stack.load(settings, progress=lambda m: None), [str(arrivals)], timeout=RUN_TIMEOUT)
        assert record["status"] == "succeeded" and record["promoted"], record
        assert record["gate"]["metric"] == spec.metric and record["task"] == spec.task
        s3 = clients.client("s3", settings)
        card = json.loads(s3.get_object(Bucket=names.output_bucket,
                                        Key=f"models/{record['model_version']}/model_card.json")["Body"].read())
        assert card["export"]["max_abs_diff"] <= 1e-9 and card["dataset"]["name"] == spec.name

        # the API answers one row a person can read
        out = api.backend_outputs(Stack(settings, names))
        row = first_row(split["holdout"], spec)
        status, reply = post(out["api_url"], {"instances": [row]}, out["api_key"])
        assert status == 200, reply
        assert reply["model_version"] == record["model_version"]
        if spec.is_classification:
            assert reply["labels"][0] in spec.class_labels
            probs = reply["class_probabilities"][0]
            assert set(probs) == set(spec.class_labels) and abs(sum(probs.values()) - 1) < 1e-9
        else:
            assert isinstance(reply["predictions"][0], float) and reply["target"] == spec.target

        # a bad row is refused naming the column
        cat = next((f for f in spec.features if f.is_category), None)
        if cat is not None:
            bad = {**row, cat.name: "not-a-category"}
            status, reply = post(out["api_url"], {"instances": [bad]}, out["api_key"])
            assert status == 400 and cat.name in reply["message"] and cat.categories[0] in reply["message"], reply
        name = spec.features[0].name
        bad = {k: v for k, v in row.items() if k != name}
        if spec.features[0].missing == "refuse":
            status, reply = post(out["api_url"], {"instances": [bad]}, out["api_key"])
            assert status == 400 and name in reply["message"], reply

        # a bad upload: refused before upload, and set aside by the instance, both naming the column
        bad_csv = tmp_path / "bad.csv"
        with open(split["batches"][1], newline="") as fh:
            rows = list(csv.reader(fh))
        rows[0] = [c if c != name else name + " (renamed)" for c in rows[0]]
        with open(bad_csv, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        with pytest.raises(buckets.UploadError, match=name.replace("(", r"\(")):
            buckets.upload_data(Stack.load(settings), [str(bad_csv)])
        if case == "apartments":  # the instance's own refusal, once (each run costs seconds)
            record = watch.upload_and_wait(Stack.load(settings, progress=lambda m: None), [str(bad_csv)], force=True, timeout=RUN_TIMEOUT)
            assert record["status"] == "failed" and name in record["error"], record
            assert record["rejected_files"][0]["moved_to"] == "rejected/bad.csv"
    finally:
        teardown.destroy(settings, progress=lambda m: None)
    assert teardown.verify_destroyed(settings) == []
