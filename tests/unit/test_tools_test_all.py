"""tools/test_all (what `make test` runs): stages in order, the pair side by side, a table."""
from __future__ import annotations

import sys
import time

import pytest

from tools import test_all
from tools.test_all import Stage


def _stage(name, code):
    return Stage(name, (sys.executable, "-c", code), f"the {name} stage")


@pytest.fixture
def stages(monkeypatch, tmp_path):
    monkeypatch.setattr(test_all, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(test_all, "REPO", tmp_path)

    def use(*stages):
        monkeypatch.setattr(test_all, "STAGES", stages)
    return use


def test_every_stage_runs_and_the_background_output_is_printed_after(stages, capfd):
    stages(_stage("unit", "print('unit ran')"), _stage("compat", "print('compat ran')"),
           _stage("integration", "import time; time.sleep(0.3); print('integration ran')"),
           _stage("nbval", "print('nbval ran')"))
    assert test_all.main([]) == 0
    out = capfd.readouterr().out
    assert "nbval: its output" in out and out.rindex("nbval ran") > out.index("nbval: its output")
    assert "(in the background" in out
    table = out[out.rindex("stage "):]
    assert [line.split()[:2] for line in table.splitlines()[1:]] == [
        ["unit", "passed"], ["compat", "passed"], ["integration", "passed"], ["nbval", "passed"], ["all", "passed"]]


def test_a_failing_stage_stops_the_stages_after_it(stages, capfd):
    stages(_stage("unit", "raise SystemExit(1)"), _stage("compat", "print('compat ran')"),
           _stage("integration", "pass"), _stage("nbval", "pass"))
    assert test_all.main([]) == 1
    out = capfd.readouterr().out
    assert "compat ran\n" not in out and "unit         FAILED" in out and "all          FAILED" in out


def test_a_failure_in_the_background_stage_fails_the_run(stages, capfd):
    stages(_stage("integration", "pass"), _stage("nbval", "print('cell failed'); raise SystemExit(1)"))
    assert test_all.main([]) == 1
    out = capfd.readouterr().out
    assert "cell failed" in out and "nbval        FAILED" in out


def test_only_runs_the_named_stages(stages, capfd):
    stages(_stage("unit", "print('unit ran')"), _stage("compat", "print('compat ran')"),
           _stage("integration", "pass"), _stage("nbval", "print('nbval ran')"))
    assert test_all.main(["--only", "compat"]) == 0
    out = capfd.readouterr().out
    assert "compat ran" in out and "unit ran" not in out and "nbval ran" not in out
    assert [line.split()[0] for line in out[out.rindex("stage "):].splitlines()[1:]] == ["compat", "all"]


def test_progress_counts_cells_per_notebook():
    text = "platform linux\nnotebooks/00_setup.ipynb ........ [ 10%]\nnotebooks/01_data.ipynb ..F.."
    assert test_all.progress(text) == "12 cells passed, 1 failed, now in notebooks/01_data.ipynb"
    assert test_all.progress("") == "collecting"


def test_the_background_stage_is_timed_by_its_own_end(stages, capfd):
    stages(_stage("integration", "import time; time.sleep(2.5)"), _stage("nbval", "pass"))
    assert test_all.main([]) == 0
    rows = {line.split()[0]: line.split() for line in capfd.readouterr().out.splitlines()
            if line.split() and line.split()[0] in ("integration", "nbval")}
    assert float(rows["integration"][2]) >= 2 and float(rows["nbval"][2]) < 2


def test_the_table_gives_each_stages_cpu_time(stages, capfd):
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass"
    stages(_stage("unit", burn), _stage("compat", "import time; time.sleep(0.6)"))
    assert test_all.main([]) == 0
    rows = {line.split()[0]: line.split() for line in capfd.readouterr().out.splitlines()
            if line.split() and line.split()[0] in ("unit", "compat", "all")}
    assert float(rows["unit"][3]) >= 0.5 and float(rows["compat"][3]) < 0.3
    assert float(rows["unit"][4]) > float(rows["compat"][4])


def test_compat_then_nbval_run_beside_the_integration_tests(stages, capfd):
    nap = "import time; time.sleep(1.0)"
    stages(_stage("unit", "pass"), _stage("compat", nap), _stage("integration", nap + "; print('integration ran')"),
           _stage("nbval", "print('nbval ran')"))
    t0 = time.monotonic()
    assert test_all.main([]) == 0
    assert time.monotonic() - t0 < 1.9  # the lanes overlap
    out = capfd.readouterr().out
    assert out.index("compat: its output") < out.index("nbval: its output")
    table = out[out.rindex("stage "):]
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["unit", "compat", "integration", "nbval", "all"]
