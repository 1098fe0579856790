"""An instance host's own Python: a virtual environment holding only what an instance's user
data installs (a training stack and the AWS SDK), never the operator's venv.

On EC2 the pipeline's user data makes `/opt/mlpipe/venv` with `pip install` of its lock. The
local cloud cannot download on each launch, so it builds the same thing once from what is
already installed beside it: `python -m venv --without-pip` in build/instance-runtime/ (the
Python running the cloud, its standard library) and, in that venv's site-packages, the files
of exactly the distributions in `INSTANCE_PACKAGES` and what they require (their RECORD,
hard-linked where the file system allows, else copied). Nothing else of the operator's venv
is there: not the project's own packages (`mlpipe`, `localcloud`), not moto, not Jupyter, not
its `.pth` files or scripts.

Where hosts are contained (`localcloud/core/_contain.py`) the runtime is mounted read-only,
so a command cannot change what the next one (or the operator) runs; the hard links share
their data with the operator's venv, but a read-only mount refuses every write through it.

    python -m localcloud.ec2.runtime install   # what `make setup` runs (the cloud also builds
                                               # it at start when it is missing or stale)
    python -m localcloud.ec2.runtime path      # where it is

`LOCALCLOUD_INSTANCE_RUNTIME` moves it; `LOCALCLOUD_INSTANCE_PACKAGES` (space-separated
distribution names) adds packages to what hosts see.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

# What the instance's user data installs (the pipeline's training lock, model_code/pins.py:
# tests/unit/test_localcloud_instance_runtime.py keeps them in step), plus their requirements.
INSTANCE_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "boto3")
STAMP = "localcloud-instance-runtime.json"
_REPO = Path(__file__).resolve().parents[2]


def runtime_dir() -> Path:
    env = os.environ.get("LOCALCLOUD_INSTANCE_RUNTIME")
    return Path(env) if env else _REPO / "build" / "instance-runtime"


def wanted() -> tuple[str, ...]:
    extra = os.environ.get("LOCALCLOUD_INSTANCE_PACKAGES", "").split()
    return tuple(dict.fromkeys([*INSTANCE_PACKAGES, *extra]))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: metadata.Distribution) -> list[str]:
    """Names of what `dist` requires unconditionally here (no extras; markers evaluated)."""
    out = []
    for line in dist.requires or []:
        try:
            from packaging.requirements import Requirement
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            out.append(req.name)
        except ImportError:  # pragma: no cover - packaging is everywhere pip is
            if "extra ==" in line:
                continue
            out.append(re.split(r"[\s;<>=!~\[(]", line.strip(), maxsplit=1)[0])
        except Exception:  # noqa: BLE001 - an unparseable line: skip it
            continue
    return out


def closure(names: tuple[str, ...] | None = None) -> dict[str, metadata.Distribution]:
    """The installed distributions `names` and everything they require (normalised name ->
    distribution). A requirement that is not installed is left out (the import fails on the
    host as it would with a broken user data); a wanted package that is missing is an error."""
    names = names or wanted()
    found: dict[str, metadata.Distribution] = {}
    todo = [(n, True) for n in names]
    while todo:
        name, required = todo.pop()
        key = _norm(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if required:
                raise RuntimeError(f"the instance runtime needs {name}, which is not installed "
                                   "beside the local cloud (make setup installs it)") from None
            continue
        found[key] = dist
        todo.extend((r, False) for r in _requirements(dist))
    return found


def fingerprint(dists: dict[str, metadata.Distribution]) -> dict:
    return {"python": sys.version.split()[0], "base": _base_python(),
            "packages": {k: d.version for k, d in sorted(dists.items())}}


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def site_packages(root: Path) -> Path:
    return root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def python(root: Path | None = None) -> Path:
    return (root or runtime_dir()) / "bin" / "python3"


def installed(root: Path | None = None) -> dict | None:
    root = root or runtime_dir()
    try:
        doc = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return doc if python(root).exists() else None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def install(root: Path | None = None) -> Path:
    """Build (or keep) the runtime: a venv of the base Python with exactly the closure of
    `wanted()`; atomic (built beside, renamed into place)."""
    root = root or runtime_dir()
    dists = closure()
    want = fingerprint(dists)
    if installed(root) == want:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f"{root.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        subprocess.run([_base_python(), "-m", "venv", "--without-pip", str(tmp)], check=True,
                       capture_output=True)
        dest = site_packages(tmp)
        dest.mkdir(parents=True, exist_ok=True)
        for dist in dists.values():
            base = Path(dist.locate_file(""))
            for f in dist.files or []:
                rel = Path(str(f))
                if rel.is_absolute() or ".." in rel.parts or rel.suffix == ".pth" or \
                        rel.parts[0] == "__pycache__" and len(rel.parts) == 2:
                    continue  # scripts (../../bin), path hooks: not part of the packages
                src = base / rel
                if src.is_file():
                    _link_or_copy(src, dest / rel)
        (tmp / STAMP).write_text(json.dumps(want, indent=1))
        old = root.with_name(f"{root.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            if root.exists():
                os.rename(root, old)
            os.rename(tmp, root)
        except OSError:
            if installed(root) != want:  # another cloud built the same one meanwhile: fine
                raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def ensure() -> Path:
    """The runtime, built when missing or when what is installed beside the cloud changed."""
    root = runtime_dir()
    if installed(root) == fingerprint(closure()):
        return root
    return install(root)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "path"
    if cmd == "install":
        print(install())
    elif cmd == "path":
        print(runtime_dir())
    else:
        sys.exit("usage: python -m localcloud.ec2.runtime install|path")
