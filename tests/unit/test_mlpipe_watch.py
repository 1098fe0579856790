"""mlpipe.watch.wait_for_run: the run that trains the uploaded files is waited for, and a
timeout says what each run since the upload did and which file no run covered."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from mlpipe import watch


def _stack():
    return SimpleNamespace(names=SimpleNamespace(function=lambda role: f"s-{role}"))


def test_a_timeout_names_each_run_and_the_files_no_run_covered(monkeypatch):
    records = [{"run_id": "r1", "status": "succeeded", "inputs": ["data/a.csv"]},
               {"run_id": "r2", "status": "failed", "trigger_keys": ["data/c.csv"],
                "error": "worker could not start the training run: TimeoutError"}]
    monkeypatch.setattr(watch, "find_instance", lambda stack: {"InstanceId": "i-1"})
    monkeypatch.setattr(watch, "instance_state", lambda stack, iid: "stopped")
    monkeypatch.setattr(watch, "runs_since", lambda stack, since: records)
    with pytest.raises(watch.WaitTimeout) as exc:
        watch.wait_for_run(_stack(), datetime.now(timezone.utc), timeout=0, poll=0,
                           expect_inputs=["data/a.csv", "data/b.csv"], progress=lambda m: None)
    message = str(exc.value)
    assert "instance stopped, 2 run record(s)" in message
    assert "r1 succeeded, 1 of the 2 uploaded file(s)" in message
    assert "r2 failed, 0 of the 2 uploaded file(s): worker could not start" in message
    assert "no run covered data/b.csv" in message and "localcloud logs s-worker" in message


def test_the_run_that_covers_every_uploaded_file_is_returned_once_the_instance_stopped(monkeypatch):
    states = iter(["running", "stopping", "stopped"])
    records = [{"run_id": "r1", "status": "succeeded", "inputs": ["data/a.csv"]},
               {"run_id": "r2", "status": "succeeded", "inputs": ["data/a.csv", "data/b.csv"]}]
    lines = []
    monkeypatch.setattr(watch, "find_instance", lambda stack: {"InstanceId": "i-1"})
    monkeypatch.setattr(watch, "instance_state", lambda stack, iid: next(states))
    monkeypatch.setattr(watch, "runs_since", lambda stack, since: records)
    got = watch.wait_for_run(_stack(), datetime.now(timezone.utc), timeout=60, poll=0,
                             expect_inputs=["data/a.csv", "data/b.csv"], progress=lines.append)
    assert got["run_id"] == "r2"
    assert any("last: r2 succeeded" in line for line in lines)


def test_runs_summary_is_empty_when_nothing_ran_and_nothing_was_waited_for():
    assert watch.runs_summary([], set()) == ""
    assert watch.runs_summary([], {"data/a.csv"}) == "; no run covered data/a.csv"
