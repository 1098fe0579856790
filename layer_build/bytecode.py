"""Compile a layer's .py files to .pyc for the TARGET Python, never another version.

Lambda's /opt is read-only: a layer without bytecode recompiles every module at every cold start.
The .pyc use unchecked-hash invalidation, because a zip round trip changes the source mtimes that
timestamp-based .pyc are checked against (they would go stale and be recompiled, or worse, ignored).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


LAYER_MOUNT = "/opt/python"   # where Lambda puts a layer's python/ dir


@dataclass(frozen=True)
class BytecodeResult:
    compiled: bool
    interpreter: str | None
    python_version: str
    warning: str | None = None


def interpreter_version(python: str) -> str | None:
    """'3.12' for a working interpreter, None if it does not run (pyenv shims may not)."""
    try:
        proc = subprocess.run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def find_interpreter(version: str) -> str | None:
    """An interpreter of exactly ``version``: this one, $LAYER_BUILD_PYTHON, pythonX.Y on PATH,
    or a pyenv install; each candidate is run to check its version."""
    if "%d.%d" % sys.version_info[:2] == version:
        return sys.executable
    candidates = []
    if os.environ.get("LAYER_BUILD_PYTHON"):
        candidates.append(os.environ["LAYER_BUILD_PYTHON"])
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}")),
                         reverse=True)
    for c in candidates:
        if interpreter_version(c) == version:
            return c
    return None


def compile_tree(root: Path, python_version: str, *, python: str | None = None,
                 workers: int = 1, sourceless: bool = False) -> BytecodeResult:
    """Write ``__pycache__/*.cpython-XY.pyc`` (unchecked-hash) beside every .py under ``root``.

    ``sourceless=True`` writes ``x.pyc`` in place of each ``x.py`` instead (the legacy layout,
    which Python imports without a source) and deletes the ``.py``: smaller, but tracebacks
    show file and line without the source text.

    With no interpreter of ``python_version`` available nothing is written and the result
    carries a warning: wrong-version bytecode would only be dead weight.
    """
    python = python or find_interpreter(python_version)
    if python is None:
        return BytecodeResult(False, None, python_version,
                              f"WARNING: no python{python_version} found (PATH, $LAYER_BUILD_PYTHON, pyenv): "
                              f"the layer has NO bytecode and recompiles at every cold start")
    found = interpreter_version(python)
    if found != python_version:
        raise ValueError(f"{python} is Python {found}, not the target {python_version}")
    # -I: ignore PYTHONPYCACHEPREFIX and friends, which would put the .pyc elsewhere.
    # -d: the path recorded in the code objects is where Lambda mounts the layer, not the
    # scratch dir of this build (which would also make every build's bytes differ).
    cmd = [python, "-I", "-m", "compileall", "-q", "-j", str(workers), "-d", LAYER_MOUNT,
           "--invalidation-mode", "unchecked-hash", *(["-b"] if sourceless else []), str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compileall failed in {root}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    if sourceless:
        remove_compiled_sources(root)
    return BytecodeResult(True, python, python_version)


def remove_compiled_sources(root: Path) -> int:
    """Delete each ``x.py`` that has a legacy ``x.pyc`` beside it; returns how many."""
    n = 0
    for py in root.rglob("*.py"):
        if py.with_suffix(".pyc").is_file():
            py.unlink()
            n += 1
    return n
