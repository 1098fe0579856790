"""model_code.dataset: a deterministic, stratified holdout + arrival batches."""
import json
import subprocess
import sys

import numpy as np
import pytest

from model_code.data import load_csv
from model_code.dataset import HOLDOUT_ROWS, find_split, make_split, write_split


def _rows(ds):
    return {tuple(r) for r in np.column_stack([ds.X, ds.y]).tolist()}


def test_split_sizes_and_disjoint_cover():
    split = make_split()
    assert split.holdout.n_rows == HOLDOUT_ROWS == 114
    assert [b.n_rows for b in split.batches] == [91] * 5
    parts = [_rows(split.holdout)] + [_rows(b) for b in split.batches]
    union = set().union(*parts)
    assert sum(len(p) for p in parts) == len(union) == 569  # disjoint, covers all rows


def test_split_is_stratified():
    split = make_split()
    overall = 357 / 569
    for ds in [split.holdout, *split.batches]:
        assert abs(ds.y.mean() - overall) < 0.02
        assert set(ds.y.tolist()) == {0, 1}


def test_split_is_deterministic_and_seed_dependent():
    a, b, c = make_split(seed=0), make_split(seed=0), make_split(seed=1)
    assert np.array_equal(a.holdout.X, b.holdout.X)
    assert all(np.array_equal(x.X, y.X) and np.array_equal(x.y, y.y) for x, y in zip(a.batches, b.batches))
    assert not np.array_equal(a.holdout.X, c.holdout.X)


def test_holdout_does_not_depend_on_batch_count():
    assert np.array_equal(make_split(n_batches=3).holdout.X, make_split(n_batches=8).holdout.X)
    assert [b.n_rows for b in make_split(n_batches=1).batches] == [455]


@pytest.mark.parametrize("n", [0, -1, 1000, 2.5])
def test_bad_batch_count(n):
    with pytest.raises(ValueError, match="n_batches"):
        make_split(n_batches=n)


def test_write_split_files_round_trip_and_replace_stale_batches(tmp_path):
    write_split(tmp_path, n_batches=7)
    (tmp_path / "notes.csv").write_text("keep me")
    paths = write_split(tmp_path, n_batches=5)
    assert paths["holdout"] == str(tmp_path / "holdout.csv")
    assert [p.rsplit("/", 1)[1] for p in paths["batches"]] == [f"batch_0{i}.csv" for i in range(1, 6)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch_01.csv", "batch_02.csv", "batch_03.csv",
                                                          "batch_04.csv", "batch_05.csv", "holdout.csv", "notes.csv"]
    split = make_split()
    assert np.array_equal(load_csv(paths["holdout"]).X, split.holdout.X)
    assert np.array_equal(load_csv(paths["batches"][4]).y, split.batches[4].y)
    assert find_split(tmp_path) == paths
    first = (tmp_path / "batch_01.csv").read_bytes()
    write_split(tmp_path)
    assert (tmp_path / "batch_01.csv").read_bytes() == first  # byte-identical files


def test_find_split_explains_a_missing_holdout(tmp_path):
    with pytest.raises(FileNotFoundError, match="no holdout.csv"):
        find_split(tmp_path)


def test_cli_writes_the_split(tmp_path):
    out = tmp_path / "data"
    proc = subprocess.run([sys.executable, "-m", "model_code.dataset", "--out", str(out), "--batches", "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["batches"]) == 3
    assert (out / "batch_03.csv").exists() and not (out / "batch_04.csv").exists()
    bad = subprocess.run([sys.executable, "-m", "model_code.dataset", "--out", str(out), "--batches", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "n_batches" in bad.stderr and "Traceback" not in bad.stderr
