"""The consistency guard: build/data against what the stack trained on (moto, in-process)."""
from __future__ import annotations

from pathlib import Path

from mlpipe import buckets, notebook
from mlpipe.stack import Stack
from model_code.dataset import write_split

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def test_same_files_match_changed_split_is_named_and_fetch_gets_back(aws, tmp_path):  # noqa: F811
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    files = write_split(tmp_path, n_batches=5, seed=0)
    buckets.ensure_holdout(Stack(settings, names), files["holdout"])
    buckets.upload_data(Stack(settings, names), [files["batches"][0]])
    assert notebook.check_build_data(Stack(settings, names), tmp_path).startswith("build/data matches")

    write_split(tmp_path, n_batches=5, seed=2)          # notebook 01 with SEED = 2
    line = notebook.check_build_data(Stack(settings, names), tmp_path)
    assert "differs" in line and "holdout.csv" in line and "batch_01.csv" in line
    assert "fetch_build_data" in line and len(line.splitlines()) == 1

    notebook.fetch_build_data(Stack(settings, names), tmp_path)
    assert notebook.check_build_data(Stack(settings, names), tmp_path).startswith("build/data matches")


def test_remove_copies_keeps_one_of_each_content_and_fires_nothing(aws, tmp_path):  # noqa: F811
    import shutil

    settings, names = aws
    buckets.ensure(Stack(settings, names))
    files = write_split(tmp_path, n_batches=5, seed=0)
    copies = []
    for i in range(3):
        copies.append(tmp_path / f"copy_{i}.csv")
        shutil.copy(files["batches"][0], copies[-1])
    bad = tmp_path / "bad_batch.csv"
    bad.write_text("x\n")
    buckets.upload_data(Stack(settings, names), [files["batches"][0], files["batches"][1], *copies])

    removed = notebook.remove_copies(Stack(settings, names), tmp_path, made=["bad_batch.csv"])
    assert sorted(notebook.data_keys(Stack(settings, names))) == ["data/batch_01.csv", "data/batch_02.csv"]
    assert len([r for r in removed if r.startswith("s3://")]) == 3
    assert not any(c.exists() for c in copies) and not bad.exists()
    assert Path(files["batches"][0]).exists()
    assert notebook.remove_copies(Stack(settings, names), tmp_path) == []
