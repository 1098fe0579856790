"""The compatibility gate (localcloud/compat): the pin and the gate move together, and the
gate sorts moto's test results as its docs say."""
import io
import json
import pathlib
import re
import subprocess
import tarfile
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from localcloud.compat import gate
from localcloud.core.profile import resolve_profile

TRANSITION_ENV = "LOCALCLOUD_EC2_TRANSITION_SECONDS"

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _moto_requirement(specs):
    return next(Requirement(s) for s in specs if Requirement(s).name == "moto")


def test_the_gate_fetches_the_installed_moto_which_is_the_pin():
    installed = metadata.version("moto")
    deviations_version, _ = gate.load_deviations()
    baseline_version, _, _ = gate.load_baseline()
    assert gate.check_versions(deviations_version, baseline_version) == installed
    assert deviations_version == baseline_version == installed
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = _moto_requirement(deps)
    assert installed in pin.specifier, f"installed moto {installed} is outside pyproject's {pin}"
    assert str(pin.specifier) == f"=={installed}", "pyproject.toml pins moto exactly"
    env_specs = [l.strip()[2:].split("#")[0].strip() for l in
                 (ROOT / "environment.yml").read_text().splitlines()
                 if re.match(r"\s*- moto\b", l)]
    assert [str(_moto_requirement(env_specs).specifier)] == [f"=={installed}"]


def test_files_for_another_moto_stop_the_gate(monkeypatch):
    monkeypatch.setattr(gate, "installed_moto", lambda: "5.2.6")
    with pytest.raises(gate.GateError, match="make compat-baseline"):
        gate.check_versions("5.2.5", "5.2.5")


def test_fetch_downloads_the_sdist_of_that_version_with_pip(monkeypatch, tmp_path):
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in (("moto-9.9.9/tests/__init__.py", b""),
                               ("moto-9.9.9/tests/test_s3/test_x.py", b"def test(): pass\n"),
                               ("moto-9.9.9/pyproject.toml", b""),
                               ("moto-9.9.9/moto/__init__.py", b"")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        (tmp_path / "moto-9.9.9.tar.gz").write_bytes(buf.getvalue())
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(gate.subprocess, "run", fake_run)
    root = gate.fetch_tests("9.9.9", tmp_path)
    assert len(calls) == 1 and "moto==9.9.9" in calls[0]
    assert "--no-binary" in calls[0] and "--no-deps" in calls[0] and "download" in calls[0]
    assert (root / "tests" / "test_s3" / "test_x.py").exists()
    assert not (root / "moto").exists(), "only the tests are extracted"
    gate.fetch_tests("9.9.9", tmp_path)
    assert len(calls) == 1, "a second run reuses the download"


def _dev(name, tests, opt_out=None, gap=False):
    return gate.Deviation(name=name, tests=tests, aws="a", docs=["d"], why="w",
                          opt_out=opt_out or {}, gap=gap)


def test_judge_sorts_each_failure():
    results = {"t::listed": "failed", "t::moto_too": "failed", "t::new": "failed",
               "t::ok": "passed", "t::stale": "passed", "t::skip": "skipped",
               "t::docker_only": "passed"}
    devs = [_dev("d1", ["t::listed"]), _dev("d2", ["t::st*"])]
    v = gate.judge(results, devs, {"t::moto_too": "reason"}, {"t::moto_too", "t::docker_only"})
    assert v.ran == 6 and v.passed == 3
    assert v.deviating == {"d1": ["t::listed"]}
    assert v.moto_fails_too == ["t::moto_too"]
    assert v.unexpected == ["t::new"]
    assert v.stale == {"d2": ["t::stale"]}
    assert v.only_localcloud_passes == ["t::docker_only"]
    assert not v.ok


def test_a_timing_dependent_test_may_pass_without_making_its_entry_stale():
    dev = gate.Deviation(name="d", tests=["t::a", "t::b"], aws="a", docs=["d"], why="w",
                         timing=["t::b"])
    v = gate.judge({"t::a": "failed", "t::b": "passed"}, [dev], {})
    assert v.stale == {} and v.deviating == {"d": ["t::a"]} and v.ok
    v = gate.judge({"t::a": "passed", "t::b": "failed"}, [dev], {})
    assert v.stale == {"d": ["t::a"]}  # only the listed timing test may pass


def test_docker_failures_of_moto_do_not_excuse_the_local_cloud(tmp_path):
    f = tmp_path / "b.toml"
    f.write_text(gate.render_baseline("5.2.5", {"ran": 2}, {
        gate.DOCKER_REASON: ["t::invoke"], "something else": ["t::port"]}))
    version, excused, counts = gate.load_baseline(f)
    assert version == "5.2.5" and counts == {"ran": 2}
    assert excused == {"t::port": "something else"}
    assert gate.baseline_failures(f) == {"t::invoke", "t::port"}


def test_every_deviation_says_what_aws_does_and_where():
    _, devs = gate.load_deviations()
    assert devs
    for d in devs:
        if d.gap:
            assert d.tests and d.why
            continue
        assert d.aws and d.why, d.name
        assert any("docs.aws.amazon.com" in doc for doc in d.docs), d.name
    names = {d.name for d in devs}
    assert {"ec2_state_transitions", "ssm_send_command_needs_a_running_instance"} <= names
    ec2 = next(d for d in devs if d.name == "ec2_state_transitions")
    assert ec2.opt_out == {TRANSITION_ENV: "0"}


def test_classify_names_why_moto_fails():
    assert gate.classify("t::x", "error running docker: ...") == gate.DOCKER_REASON
    assert "5000" in gate.classify("t::y", "HTTPConnectionPool(host='localhost', port=5000)")
    assert gate.classify("t::z", "E   assert 1 == 2").endswith("E   assert 1 == 2")


def test_the_fast_subset_is_part_of_the_suite():
    for path in gate.FAST:
        assert any(path.startswith(p) for p in gate.SUITE), path


def test_the_ec2_opt_out_gives_moto_instant_states():
    """The gate runs the default (0.5 s interim states) and re-runs with the opt-out 0."""
    assert resolve_profile({}, {}).ec2_transition_seconds == 0.5
    assert resolve_profile({}, {TRANSITION_ENV: "0"}).ec2_transition_seconds == 0.0


def test_run_tests_judges_only_the_named_ids(monkeypatch, tmp_path):
    """`run --tests ID...` runs just those ids (one process per run_pytest call) and judges
    them: a listed failure is a deviation, an unlisted one unexpected (and re-run alone)."""
    listed = "tests/test_ssm/test_ssm.py::test_send_command"
    other = "tests/test_events/test_events.py::test_disable_unknown_rule"
    calls = []

    def fake_run(root, target, paths, results, workers, extra_env=None, label="", select=None):
        calls.append({"paths": paths, "select": select, "env": extra_env})
        return {"results": {t: "failed" for t in select}, "gate_wall_seconds": 0.1}

    monkeypatch.setattr(gate, "fetch_tests", lambda version, build: tmp_path)
    monkeypatch.setattr(gate, "run_pytest", fake_run)
    rc = gate.main(["run", "--tests", listed, other, "--build-dir", str(tmp_path)])
    assert rc == 1  # `other` is not listed
    assert calls[0]["select"] == [listed, other]
    assert calls[1]["select"] == [other]  # the re-run of the unexpected failure
    summary = json.loads((tmp_path / "summary-selected.json").read_text())
    assert summary["unexpected"] == [other]
    assert summary["deviations"] == {"ssm_send_command_needs_a_running_instance": 1}
    assert summary["suite"] == "selected" and summary["stale"] == {}
