"""ec2_scripts: the training run (train_run) against moto's S3 with real data, and
run_training.sh (exit trap, lock) as a subprocess against a threaded moto server."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from ec2_scripts import record as rec
from ec2_scripts import train_run
from model_code.dataset import write_split

ROOT = Path(__file__).resolve().parents[2]
IN, OUT = "mlpipe-input-test", "mlpipe-output-test"
CONTRACT_FIELDS = {"run_id", "status", "started_at", "finished_at", "inputs", "model_version", "metrics", "error"}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("split"), n_batches=5, seed=0)


@pytest.fixture
def s3(aws_credentials):
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=IN)
        client.create_bucket(Bucket=OUT)
        yield client


def upload_split(s3, split, batches=(0, 1)):
    s3.upload_file(split["holdout"], IN, "holdout/holdout.csv")
    for i in batches:
        p = split["batches"][i]
        s3.upload_file(p, IN, f"data/{os.path.basename(p)}")


def get_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def keys(s3, bucket, prefix=""):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def do_run(s3, tmp_path, run_id, **kw):
    return train_run.run(s3, input_bucket=IN, output_bucket=OUT, run_id=run_id,
                         work_dir=str(tmp_path / run_id), instance_id="i-test", **kw)


def test_good_run_writes_model_pointer_and_record(s3, split, tmp_path):
    upload_split(s3, split, batches=(0, 1))
    record = do_run(s3, tmp_path, "run-20240501T120000Z-00000001", trigger_keys=["data/batch_02.csv"])

    assert record["status"] == "succeeded", record["error"]
    assert keys(s3, OUT, "models/v001/") == [
        "models/v001/metrics.json", "models/v001/model.joblib", "models/v001/model_card.json",
        "models/v001/model_export.json", "models/v001/promoted.json"]
    latest = get_json(s3, OUT, "models/latest.json")
    assert latest["version"] == "v001" and latest["model_key"] == "models/v001/model.joblib"
    assert set(latest) >= {"version", "model_key", "metrics", "promoted_at"}
    stored = get_json(s3, OUT, "runs/run-20240501T120000Z-00000001.json")
    assert CONTRACT_FIELDS <= set(stored)
    assert stored["inputs"] == ["data/batch_01.csv", "data/batch_02.csv"]
    assert stored["model_version"] == "v001" and stored["promoted"] is True and stored["previous_version"] is None
    assert stored["metrics"]["roc_auc"] > 0.95 and stored["metrics"]["accuracy"] > 0.9
    assert set(stored["timings"]) == {"download_s", "train_s", "upload_s"}
    assert stored["instance_id"] == "i-test" and stored["error"] is None
    assert set(stored["input_etags"]) == set(stored["inputs"])
    card = get_json(s3, OUT, "models/v001/model_card.json")
    assert card  # written by model_code.artifacts


def test_second_run_trains_on_all_data_and_gets_next_version(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    assert do_run(s3, tmp_path, "run-a")["model_version"] == "v001"
    for i in (1, 2):
        s3.upload_file(split["batches"][i], IN, f"data/{os.path.basename(split['batches'][i])}")
    second = do_run(s3, tmp_path, "run-b", tolerance=0.05)
    assert second["status"] == "succeeded" and second["model_version"] == "v002"
    assert len(second["inputs"]) == 3 and second["previous_version"] == "v001"
    assert get_json(s3, OUT, "models/latest.json")["version"] == "v002"


def test_bad_csv_fails_the_run_is_set_aside_and_latest_is_unchanged(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    assert do_run(s3, tmp_path, "run-good")["status"] == "succeeded"
    latest_before = s3.get_object(Bucket=OUT, Key="models/latest.json")["Body"].read()

    text = Path(split["batches"][1]).read_text().replace("mean radius", "mean radios", 1)
    s3.put_object(Bucket=IN, Key="data/bad batch.csv", Body=text.encode())
    record = do_run(s3, tmp_path, "run-bad")

    assert record["status"] == "failed" and record["model_version"] is None
    assert "data/bad batch.csv" in record["error"] and "'mean radius'" in record["error"]
    assert record["rejected_files"] == [
        {"key": "data/bad batch.csv", "moved_to": "rejected/bad batch.csv", "problem": record["rejected_files"][0]["problem"]}]
    assert "missing column 'mean radius'" in record["rejected_files"][0]["problem"]
    assert "data/bad batch.csv" in record["inputs"]
    assert keys(s3, IN, "data/") == ["data/batch_01.csv"]  # the bad file is gone from data/
    assert s3.get_object(Bucket=IN, Key="rejected/bad batch.csv")["Body"].read() == text.encode()  # ...kept
    assert s3.get_object(Bucket=OUT, Key="models/latest.json")["Body"].read() == latest_before
    assert keys(s3, OUT, "models/v002/") == []
    assert get_json(s3, OUT, "runs/run-bad.json")["status"] == "failed"

    # the next run is not poisoned by it
    assert do_run(s3, tmp_path, "run-after")["status"] == "succeeded"


def test_every_bad_file_is_named_and_a_name_clash_in_rejected_keeps_both(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    s3.put_object(Bucket=IN, Key="rejected/x.csv", Body=b"an earlier rejected file")
    s3.put_object(Bucket=IN, Key="data/x.csv", Body=b"")
    s3.put_object(Bucket=IN, Key="data/y.csv", Body=b"not,a,header\n1,2,3\n")
    record = do_run(s3, tmp_path, "run-2bad")
    assert record["status"] == "failed"
    assert [r["key"] for r in record["rejected_files"]] == ["data/x.csv", "data/y.csv"]
    assert "empty" in record["rejected_files"][0]["problem"]
    assert record["rejected_files"][0]["moved_to"] == "rejected/x-run-2bad.csv"
    assert s3.get_object(Bucket=IN, Key="rejected/x.csv")["Body"].read() == b"an earlier rejected file"
    assert "data/x.csv" in record["error"] and "data/y.csv" in record["error"]


def test_promotion_gate_rejects_a_worse_model_and_keeps_latest(s3, split, tmp_path):
    upload_split(s3, split, batches=(0, 1, 2))
    first = do_run(s3, tmp_path, "run-1")
    latest_before = get_json(s3, OUT, "models/latest.json")
    # a negative tolerance demands an improvement of 0.5 roc_auc: impossible
    second = do_run(s3, tmp_path, "run-2", tolerance=-0.5)
    assert second["status"] == "rejected" and second["model_version"] == "v002"
    assert second["promoted"] is False and second["previous_version"] == "v001"
    assert "not promoted" in second["error"] and "roc_auc" in second["error"]
    assert second["metrics"]["roc_auc"] == pytest.approx(first["metrics"]["roc_auc"])
    assert get_json(s3, OUT, "models/latest.json") == latest_before
    assert keys(s3, OUT, "models/v002/")  # the rejected model is kept for inspection


@pytest.mark.parametrize("new,cur,tol,promote", [
    (0.95, None, 0.0, True),
    (0.95, 0.95, 0.0, True),
    (0.94, 0.95, 0.0, False),
    (0.94, 0.95, 0.02, True),
    (None, 0.95, 0.5, False),
])
def test_gate(new, cur, tol, promote):
    current = None if cur is None else {"version": "v001", "metrics": {"roc_auc": cur}}
    assert train_run.gate({"roc_auc": new}, current, tol)[0] is promote


def test_no_data_and_missing_holdout_fail_with_a_reason(s3, split, tmp_path):
    r = do_run(s3, tmp_path, "run-empty")
    assert r["status"] == "failed" and "no data files" in r["error"]
    s3.upload_file(split["batches"][0], IN, "data/b.csv")
    r = do_run(s3, tmp_path, "run-noholdout")
    assert r["status"] == "failed" and "holdout/holdout.csv" in r["error"] and r["inputs"] == ["data/b.csv"]
    assert not keys(s3, OUT, "models/")


def test_next_version_counts_past_v009(s3):
    assert train_run.next_version(s3, OUT) == "v001"
    for v in ("v001", "v009", "notaversion"):
        s3.put_object(Bucket=OUT, Key=f"models/{v}/model.joblib", Body=b"x")
    s3.put_object(Bucket=OUT, Key="models/latest.json", Body=b"{}")
    assert train_run.next_version(s3, OUT) == "v010"


def test_main_records_an_unexpected_error(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    rc = train_run.main(["--input-bucket", IN, "--output-bucket", OUT, "--run-id", "run-x",
                         "--model", "bogus", "--work-dir", str(tmp_path / "w")])
    assert rc == 1
    r = get_json(s3, OUT, "runs/run-x.json")
    assert r["status"] == "failed" and "unknown model 'bogus'" in r["error"]
    assert CONTRACT_FIELDS <= set(r)
    assert r["inputs"] == ["data/batch_01.csv"]  # what the failed run was training on
    marker = tmp_path / "marker"
    rc = train_run.main(["--input-bucket", IN, "--output-bucket", OUT, "--run-id", "run-y",
                         "--model", "bogus", "--work-dir", str(tmp_path / "w2"), "--record-marker", str(marker)])
    assert rc == 1 and marker.read_text().strip() == "run-y"  # the exit trap may skip its check


# ---- run_training.sh, as SSM runs it ----------------------------------------------------------

@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def server_s3(moto_server, aws_credentials):
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server)
    bucket = f"out-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def script_env(endpoint, home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLPIPE_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint, HOME=str(home),
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        MLPIPE_INSTANCE_ID="i-test", MLPIPE_TRIGGER_KEYS="data/a.csv",
    )
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def fake_archive(tmp_path, train_run_source):
    """An unpacked code archive whose train_run is replaced by ``train_run_source``."""
    root = tmp_path / "archive"
    (root / "ec2_scripts").mkdir(parents=True)
    for name in ("__init__.py", "record.py", "run_training.sh"):
        shutil.copy(ROOT / "ec2_scripts" / name, root / "ec2_scripts" / name)
    (root / "ec2_scripts" / "train_run.py").write_text(train_run_source)
    shutil.copytree(ROOT / "glue_contract", root / "glue_contract", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_exit_trap_writes_a_failed_record_when_python_crashes(server_s3, moto_server, tmp_path):
    s3, bucket = server_s3
    root = fake_archive(tmp_path, "import sys\nprint('loading the model stack', file=sys.stderr)\n"
                                  "raise SystemExit('boom: segfault-like crash')\n")
    env = script_env(moto_server, tmp_path, MLPIPE_INPUT_BUCKET="in", MLPIPE_OUTPUT_BUCKET=bucket,
                     MLPIPE_RUN_ID="run-crash")
    p = subprocess.run(["bash", "ec2_scripts/run_training.sh"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    r = json.loads(s3.get_object(Bucket=bucket, Key="runs/run-crash.json")["Body"].read())
    assert r["status"] == "failed" and r["source"] == "run_training.sh" and r["exit_code"] == 1
    assert "exit code 1" in r["error"] and "boom: segfault-like crash" in r["error"]
    assert "loading the model stack" in r["error"]
    assert r["instance_id"] == "i-test" and r["trigger_keys"] == ["data/a.csv"]
    assert CONTRACT_FIELDS <= set(r)
    assert "boom" in p.stderr  # stderr still reaches SSM's output


def test_exit_trap_keeps_the_record_the_run_wrote(server_s3, moto_server, tmp_path):
    s3, bucket = server_s3
    src = (
        "import boto3, os\nfrom glue_contract import runs, times\n"
        "r = runs.build_record(os.environ['MLPIPE_RUN_ID'], 'succeeded', started_at=times.iso(), model_version='v007')\n"
        "runs.write_record(boto3.client('s3'), os.environ['MLPIPE_OUTPUT_BUCKET'], r)\n"
    )
    root = fake_archive(tmp_path, src)
    env = script_env(moto_server, tmp_path, MLPIPE_INPUT_BUCKET="in", MLPIPE_OUTPUT_BUCKET=bucket,
                     MLPIPE_RUN_ID="run-ok")
    p = subprocess.run(["bash", "ec2_scripts/run_training.sh"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(s3.get_object(Bucket=bucket, Key="runs/run-ok.json")["Body"].read())
    assert r["status"] == "succeeded" and r["model_version"] == "v007"


def test_real_train_run_with_a_missing_input_bucket_records_failure(server_s3, moto_server, tmp_path):
    s3, bucket = server_s3
    root = tmp_path / "archive"
    shutil.copytree(ROOT / "ec2_scripts", root / "ec2_scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "model_code", root / "model_code", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "glue_contract", root / "glue_contract", ignore=shutil.ignore_patterns("__pycache__"))
    env = script_env(moto_server, tmp_path, MLPIPE_INPUT_BUCKET="no-such-bucket-here", MLPIPE_OUTPUT_BUCKET=bucket,
                     MLPIPE_RUN_ID="run-nobucket")
    p = subprocess.run(["bash", "ec2_scripts/run_training.sh"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode != 0
    r = json.loads(s3.get_object(Bucket=bucket, Key="runs/run-nobucket.json")["Body"].read())
    assert r["status"] == "failed" and "NoSuchBucket" in r["error"], r["error"]


def test_runs_on_one_instance_are_serialized_by_the_lock(server_s3, moto_server, tmp_path):
    s3, bucket = server_s3
    log = tmp_path / "intervals.txt"
    src = (
        "import os, time\n"
        f"log = {str(log)!r}\n"
        "t0 = time.time(); time.sleep(0.6); t1 = time.time()\n"
        "open(log, 'a').write(f'{t0} {t1}\\n')\n"
        "raise SystemExit(2)\n"
    )
    root = fake_archive(tmp_path, src)
    procs = []
    for i in range(2):
        env = script_env(moto_server, tmp_path, MLPIPE_INPUT_BUCKET="in", MLPIPE_OUTPUT_BUCKET=bucket,
                         MLPIPE_RUN_ID=f"run-lock-{i}")
        procs.append(subprocess.Popen(["bash", "ec2_scripts/run_training.sh"], cwd=root, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert [p.wait(timeout=60) for p in procs] == [2, 2]
    (a0, a1), (b0, b1) = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert b0 >= a1, "the second run started before the first ended"
    for i in range(2):
        assert json.loads(s3.get_object(Bucket=bucket, Key=f"runs/run-lock-{i}.json")["Body"].read())["exit_code"] == 2


def test_user_data_installs_the_pinned_stack_and_the_ssm_agent():
    text = (ROOT / "ec2_scripts" / "user_data.sh").read_text()
    assert text.startswith("#!/bin/bash")
    # The whole lock (model_code/pins.py) goes in at @REQUIREMENTS@ and is what pip installs.
    assert "REQUIREMENTS=(@REQUIREMENTS@)" in text and 'SKLEARN_VERSION="@SKLEARN_VERSION@"' in text
    assert 'pip install --no-cache-dir "${REQUIREMENTS[@]}"' in text
    assert "python3.12" in text and "/opt/mlpipe/venv" in text and "boto3" in text
    assert "systemctl enable --now amazon-ssm-agent" in text
    assert subprocess.run(["bash", "-n", str(ROOT / "ec2_scripts" / "user_data.sh")]).returncode == 0
    assert subprocess.run(["bash", "-n", str(ROOT / "ec2_scripts" / "run_training.sh")]).returncode == 0


# ---- poison files (fault 9), colliding keys (fault 10), the registry's best model (fault 12) ----

def _with_cell(split_path, value, column="mean radius", row=2):
    lines = Path(split_path).read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


def test_a_1e308_cell_is_refused_named_set_aside_and_the_next_run_trains(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    s3.put_object(Bucket=IN, Key="data/poison.csv", Body=_with_cell(split["batches"][1], "1e308"))
    bad = do_run(s3, tmp_path, "run-poison")
    assert bad["status"] == "failed"
    [rej] = bad["rejected_files"]
    assert rej["key"] == "data/poison.csv" and rej["moved_to"] == "rejected/poison.csv"
    assert "row 2, column 'mean radius'" in rej["problem"] and "plausible range" in rej["problem"]
    assert keys(s3, IN, "data/") == ["data/batch_01.csv"]
    good = do_run(s3, tmp_path, "run-next")
    assert good["status"] == "succeeded" and good["inputs"] == ["data/batch_01.csv"]


def test_a_key_that_escapes_the_work_dir_is_refused_and_set_aside(s3, split, tmp_path):
    upload_split(s3, split, batches=(0,))
    body = Path(split["batches"][1]).read_bytes()
    s3.put_object(Bucket=IN, Key="data/../../x.csv", Body=body)
    bad = do_run(s3, tmp_path, "run-badkey")
    assert bad["status"] == "failed" and "data/../../x.csv" in bad["error"]
    [rej] = bad["rejected_files"]
    assert rej["key"] == "data/../../x.csv" and rej["moved_to"] == "rejected/x.csv" and "'..'" in rej["problem"]
    assert s3.get_object(Bucket=IN, Key="rejected/x.csv")["Body"].read() == body  # kept
    assert keys(s3, IN, "data/") == ["data/batch_01.csv"]
    assert not (tmp_path / "x.csv").exists() and not (tmp_path.parent / "x.csv").exists()
    assert do_run(s3, tmp_path, "run-after-badkey")["status"] == "succeeded"


def test_a_file_that_makes_training_crash_is_named_and_set_aside(s3, split, tmp_path, monkeypatch):
    """Whatever the error: a valid-looking file whose rows make the training step raise."""
    import numpy as np

    import model_code.tabular as mtrain

    real = mtrain.fit

    def fragile(spec, table, **kw):
        if np.any(table.columns["mean radius"] == 59.5):
            raise ValueError("Input X contains NaN.")
        return real(spec, table, **kw)

    monkeypatch.setattr(mtrain, "fit", fragile)
    upload_split(s3, split, batches=(0,))
    s3.put_object(Bucket=IN, Key="data/crash.csv", Body=_with_cell(split["batches"][1], "59.5"))
    bad = do_run(s3, tmp_path, "run-crash")
    assert bad["status"] == "failed"
    [rej] = bad["rejected_files"]
    assert rej["key"] == "data/crash.csv" and rej["moved_to"] == "rejected/crash.csv"
    assert "Input X contains NaN" in rej["problem"] and "data/crash.csv" in bad["error"]
    assert do_run(s3, tmp_path, "run-after-crash")["status"] == "succeeded"


def test_a_training_error_no_file_causes_sets_nothing_aside(s3, split, tmp_path, monkeypatch):
    import model_code.tabular as mtrain

    monkeypatch.setattr(mtrain, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("solver blew up")))
    upload_split(s3, split, batches=(0, 1))
    with pytest.raises(RuntimeError, match="solver blew up"):
        do_run(s3, tmp_path, "run-broken-code")
    assert keys(s3, IN, "data/") == ["data/batch_01.csv", "data/batch_02.csv"] and keys(s3, IN, "rejected/") == []


def test_two_keys_that_name_the_same_path_are_two_files(s3, split, tmp_path):
    s3.upload_file(split["holdout"], IN, "holdout/holdout.csv")
    a, b = Path(split["batches"][0]).read_bytes(), Path(split["batches"][1]).read_bytes()
    s3.put_object(Bucket=IN, Key="data//x.csv", Body=a)
    s3.put_object(Bucket=IN, Key="data/x.csv", Body=b)
    r = do_run(s3, tmp_path, "run-collide")
    assert r["status"] == "succeeded", r["error"]
    assert sorted(r["inputs"]) == ["data//x.csv", "data/x.csv"]
    rows = lambda data: len(data.decode().strip().splitlines()) - 1  # noqa: E731
    assert r["n_train_rows"] == rows(a) + rows(b)


def test_the_gate_compares_with_the_best_promoted_model_even_without_the_pointer(s3, split, tmp_path):
    upload_split(s3, split, batches=(0, 1, 2))
    first = do_run(s3, tmp_path, "run-1")
    assert first["status"] == "succeeded"
    s3.delete_object(Bucket=OUT, Key="models/latest.json")
    second = do_run(s3, tmp_path, "run-2", tolerance=-0.5)  # demands +0.5 roc_auc over v001
    assert second["status"] == "rejected" and second["gate"]["compared_with"] == "v001"
    assert "best promoted model v001" in second["error"]
    best = train_run.best_promoted(s3, OUT)
    assert best["version"] == "v001"
