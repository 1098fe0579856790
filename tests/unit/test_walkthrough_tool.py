"""tools.walkthrough: kernels on IPC sockets (no TCP warning), --keep skips the teardown."""
from __future__ import annotations

import os

import nbformat
import pytest

from tools import walkthrough


@pytest.mark.skipif(os.name != "posix", reason="IPC sockets are a POSIX transport")
def test_notebooks_run_without_kernel_warnings_and_leave_no_kernel(tmp_path):
    """In a process of its own, so that everything its kernels print up to its exit is seen:
    no unencrypted-TCP warning, and no kernel left to notice that its parent exited."""
    import subprocess
    import sys

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    for name in ("00_a.ipynb", "01_b.ipynb"):
        nbformat.write(nb, tmp_path / name)
    script = ("import sys, pathlib\n"
              "from tools import walkthrough\n"
              "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.ipynb')):\n"
              "    done = walkthrough.execute_notebook(p, timeout=120)\n"
              "    print(done.cells[0].outputs[0]['text'].strip())\n")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                         timeout=300, cwd=walkthrough.REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["42", "42"]
    assert "without encryption" not in run.stderr
    assert "Parent appears to have exited" not in run.stderr


def test_keep_leaves_out_the_teardown(monkeypatch, tmp_path):
    for name in ("00_a.ipynb", "05_b.ipynb", "99_teardown.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / name)
    monkeypatch.setattr(walkthrough, "NOTEBOOKS", tmp_path)
    ran = []
    monkeypatch.setattr(walkthrough, "execute_notebook", lambda p: ran.append(p.name) or nbformat.read(p, 4))
    monkeypatch.setattr(walkthrough, "_start_cloud_if_local", lambda stack, keep=False: None)
    monkeypatch.setattr(walkthrough, "_collect_summary", lambda: {"models": []})
    monkeypatch.setattr(walkthrough, "REPO", tmp_path)
    assert walkthrough.main(["--out", str(tmp_path / "out"), "--keep"]) == 0
    assert ran == ["00_a.ipynb", "05_b.ipynb"]
    ran.clear()
    assert walkthrough.main(["--out", str(tmp_path / "out")]) == 0
    assert ran == ["00_a.ipynb", "05_b.ipynb", "99_teardown.ipynb"]


def test_only_the_stack_roles_denials_fail_the_walkthrough(monkeypatch):
    import localcloud.iam.cli as iam_cli

    report = {"denials": [
        {"principal": "arn:aws:sts::123456789012:assumed-role/mlpipe-worker-role/mlpipe-worker", "action": "ssm:SendCommand"},
        {"principal": "arn:aws:iam::123456789012:user/mlpipe-e056-caller", "action": "execute-api:Invoke"},
    ]}
    monkeypatch.setattr(iam_cli, "fetch_report", lambda endpoint: report)
    got = walkthrough._iam_denials("http://127.0.0.1:1")
    assert [d["action"] for d in got] == ["ssm:SendCommand"]
