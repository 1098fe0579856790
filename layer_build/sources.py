"""Where a layer's files come from.

- local target: the distributions installed in the interpreter running the build, copied from
  their own file lists (``importlib.metadata`` ``files()``, i.e. RECORD), following Requires-Dist.
  No network: ``make setup`` already installed everything.
- aws target: ``pip install --platform ... --only-binary=:all: --target DIR`` for Lambda's
  platform and Python version (needs PyPI).
"""
from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from packaging.markers import default_environment
from packaging.requirements import Requirement

# The package stacks a layer can carry (ARCHITECTURE "Layers"): their roots; runtime deps follow
# from metadata. Train heavy, serve light: the predict function's packages layer is ``numpy``
# (the model comes as a numpy export); ``scikit-learn`` is the stack serving the pickled model
# would need, still buildable to see (and teach, notebook 03) what it weighs.
STACKS = {
    "numpy": ("numpy",),
    "scikit-learn": ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"),
}
SERVING_STACK = "numpy"
PACKAGE_ROOTS = STACKS[SERVING_STACK]


def stack_roots(stack: str) -> tuple[str, ...]:
    try:
        return STACKS[stack]
    except KeyError:
        raise ValueError(f"unknown package stack {stack!r}: use one of {', '.join(STACKS)}") from None


def requirements_for(roots: Iterable[str], requirements: Iterable[str]) -> list[str]:
    """The pinned requirements (``model_code.pins``) of the distributions ``roots`` names, in
    the pins' order; a root without a pin is an error (the AWS build installs pinned only)."""
    wanted = {canonical(r) for r in roots}
    picked = [r for r in requirements if canonical(Requirement(r).name) in wanted]
    missing = wanted - {canonical(Requirement(r).name) for r in picked}
    if missing:
        raise SourceError(f"no pin in model_code/pins.py for {sorted(missing)}")
    return picked

# Never in the layer: pandas (scikit-learn imports it whenever it is importable, which costs
# every cold start) and what Lambda's Python runtime already provides.
EXCLUDED_DISTRIBUTIONS = frozenset({
    "pandas",
    "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3",
})

# Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34). The newest numpy/scipy/
# scikit-learn wheels are manylinux_2_28 only, so both tags are allowed; a runtime on
# Amazon Linux 2 (glibc 2.26: python3.8-3.11) would need AWS_PLATFORMS_LEGACY instead.
AWS_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
AWS_PLATFORMS_LEGACY = ("manylinux2014_x86_64",)
AWS_PYTHON_VERSION = "3.12"
AWS_IMPLEMENTATION = "cp"


class SourceError(RuntimeError):
    """A layer's inputs cannot be gathered (a distribution missing, pip failed)."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class InstalledDist:
    name: str          # canonical name
    version: str
    files: tuple[tuple[Path, PurePosixPath], ...]   # (absolute source, path relative to python/)


def resolve_installed(roots: Iterable[str] = PACKAGE_ROOTS,
                      excluded: Iterable[str] = EXCLUDED_DISTRIBUTIONS,
                      path: Sequence[str] | None = None) -> list[InstalledDist]:
    """The installed distributions ``roots`` need at run time, sorted by name.

    Follows Requires-Dist (markers evaluated for this interpreter, no extras), skipping
    ``excluded``. ``path`` restricts the search (default: this interpreter's sys.path).
    """
    excluded = {canonical(e) for e in excluded}
    env = dict(default_environment(), extra="")
    todo = [canonical(r) for r in roots]
    found: dict[str, InstalledDist] = {}
    while todo:
        name = todo.pop()
        if name in found or name in excluded:
            continue
        dist = _find(name, path)
        for raw in dist.requires or ():
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            todo.append(canonical(req.name))
        found[name] = InstalledDist(name, dist.version, _files_of(dist, name))
    return [found[k] for k in sorted(found)]


def _find(name: str, path: Sequence[str] | None) -> md.Distribution:
    try:
        if path is None:
            return md.distribution(name)
        for dist in md.distributions(name=name, path=list(path)):
            return dist
    except md.PackageNotFoundError:
        pass
    raise SourceError(
        f"distribution {name!r} is not installed for {sys.executable}; the local layer is "
        "assembled from installed packages: run `make setup` first")


def _files_of(dist: md.Distribution, name: str) -> tuple[tuple[Path, PurePosixPath], ...]:
    files = dist.files
    if files is None:
        raise SourceError(f"distribution {name!r} has no file list (RECORD); reinstall it with pip")
    out = []
    for f in files:
        rel = PurePosixPath(str(f).replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts:
            continue   # console scripts and data files installed outside site-packages
        src = Path(dist.locate_file(f))
        if src.is_file():
            out.append((src, rel))
    return tuple(sorted(out, key=lambda t: str(t[1])))


def copy_installed(dists: Iterable[InstalledDist], dest: Path) -> int:
    """Copy the distributions' files into ``dest`` (a layer's python/ dir); returns files copied."""
    n = 0
    for dist in dists:
        for src, rel in dist.files:
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            n += 1
    return n


def pip_command(target_dir: Path | str, requirements: Sequence[str], *,
                python_version: str = AWS_PYTHON_VERSION,
                platforms: Sequence[str] = AWS_PLATFORMS,
                implementation: str = AWS_IMPLEMENTATION,
                python: str | None = None) -> list[str]:
    """The pip command that installs Lambda's wheels (never the build machine's) into target_dir."""
    if not requirements:
        raise ValueError("no requirements to install")
    if not re.fullmatch(r"3\.\d+", python_version):
        raise ValueError(f"python_version must look like '3.12', got {python_version!r}")
    if not platforms:
        raise ValueError("at least one --platform is needed")
    cmd = [python or sys.executable, "-m", "pip", "install",
           "--disable-pip-version-check", "--no-input", "--quiet",
           "--no-compile",            # pip would write .pyc for the interpreter running pip
           "--only-binary=:all:"]
    for plat in platforms:
        cmd += ["--platform", plat]
    cmd += ["--implementation", implementation,
            "--python-version", python_version,
            "--target", str(target_dir),
            *requirements]
    return cmd


def pip_install(target_dir: Path, requirements: Sequence[str], **kw) -> None:
    cmd = pip_command(target_dir, requirements, **kw)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SourceError(
            "pip could not install the AWS layer's wheels (this target needs PyPI):\n"
            f"  {' '.join(cmd)}\n{proc.stderr.strip()[-2000:]}")


def pip_target_versions(target_dir: Path) -> dict[str, str]:
    """{canonical name: version} of what pip put in ``target_dir``."""
    return {canonical(d.metadata["Name"]): d.version
            for d in md.distributions(path=[str(target_dir)])}


def remove_excluded(target_dir: Path, excluded: Iterable[str] = EXCLUDED_DISTRIBUTIONS) -> list[str]:
    """Delete excluded distributions pip pulled in as dependencies; returns their names."""
    excluded = {canonical(e) for e in excluded}
    removed = []
    for dist in md.distributions(path=[str(target_dir)]):
        name = canonical(dist.metadata["Name"])
        if name not in excluded:
            continue
        for f in dist.files or ():
            p = Path(dist.locate_file(f))
            if p.is_file() and target_dir in p.resolve().parents:
                p.unlink()
        removed.append(name)
    return sorted(removed)
