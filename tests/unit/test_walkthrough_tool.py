"""tools.walkthrough: kernels on IPC sockets (no TCP warning), --keep skips the teardown."""
from __future__ import annotations

import os

import nbformat
import pytest

from tools import walkthrough


@pytest.mark.skipif(os.name != "posix", reason="IPC sockets are a POSIX transport")
def test_a_notebook_runs_without_the_unencrypted_tcp_warning(tmp_path, capfd):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    path = tmp_path / "00_tiny.ipynb"
    nbformat.write(nb, path)
    done = walkthrough.execute_notebook(path, timeout=120)
    assert done.cells[0].outputs[0]["text"].strip() == "42"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out


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
