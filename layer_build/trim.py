"""What a Lambda layer leaves out, as named rules over paths inside the layer's ``python/`` dir.

Each rule is a pure function of a posix path relative to ``python/`` (``numpy/_core/tests/x.py``)
so it can be unit tested without a build; ``drop_reason(path)`` gives the first rule that drops a
path, or None to keep it. Keeps win over drops: they are the traps found by importing and
predicting from a trimmed layer in an isolated interpreter (tests/integration/test_layer_isolated.py).

Extension modules are shrunk by ``strip`` (``strip_extensions``); the bundled shared libraries in
``<dist>.libs/`` are never stripped: strip corrupts them (numpy then fails to import).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

# Runtime needs, each found by trying (the import fails without it):
# - scipy imports numpy/_core/tests/_natype.py (pd_NA) at run time;
# - scipy imports numpy.f2py at run time, so numpy/f2py is never a "dev tool" to drop;
# - scipy._lib._array_api imports numpy.testing, and sklearn/scipy import their vendored
#   array_api_extra.testing: a ``testing/`` package is runtime code, only ``tests/`` dirs go;
# - sklearn's bundled data sets read their descriptions (descr/*.rst), so
#   model_code's load_breast_cancer() still works from a layer.
KEEP_EXACT = frozenset({"numpy/_core/tests/_natype.py"})
KEEP_PREFIXES = ("numpy/f2py/", "sklearn/datasets/descr/")

# dist-info files that import-time code reads (importlib.metadata.version reads METADATA;
# licenses stay because the BSD-style licenses ask redistributions to carry them).
DIST_INFO_KEEP_NAMES = frozenset({"METADATA", "entry_points.txt", "top_level.txt"})

SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".cxx", ".tp", ".f", ".f90")
HEADER_SUFFIXES = (".h", ".hh", ".hpp")
DOC_SUFFIXES = (".rst", ".md")
BUILD_SUFFIXES = (".a", ".pc", ".build", ".cmake")


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    matches: Callable[[PurePosixPath], bool]


def _in_dist_info(p: PurePosixPath) -> bool:
    return bool(p.parts) and p.parts[0].endswith(".dist-info")


def _host_bytecode(p: PurePosixPath) -> bool:
    return "__pycache__" in p.parts or p.suffix in (".pyc", ".pyo")


def _test_suite(p: PurePosixPath) -> bool:
    # Directory components only (the last part is the file name); joblib names its suite test/.
    return any(part in ("tests", "test") for part in p.parts[:-1])


def _headers(p: PurePosixPath) -> bool:
    return p.suffix in HEADER_SUFFIXES or "include" in p.parts[:-1]


def _compiled_sources(p: PurePosixPath) -> bool:
    return p.suffix in SOURCE_SUFFIXES


def _docs(p: PurePosixPath) -> bool:
    if _in_dist_info(p):
        return False
    return p.suffix in DOC_SUFFIXES or any(part in ("doc", "docs") for part in p.parts[:-1])


def _type_stubs(p: PurePosixPath) -> bool:
    return p.suffix == ".pyi"


def _build_files(p: PurePosixPath) -> bool:
    return p.suffix in BUILD_SUFFIXES or p.name in ("meson.build", "CMakeLists.txt")


def _dist_info_extras(p: PurePosixPath) -> bool:
    if not _in_dist_info(p) or len(p.parts) < 2:
        return False
    if len(p.parts) > 2 and p.parts[1] == "licenses":
        return False
    name = p.parts[1]
    return name not in DIST_INFO_KEEP_NAMES and not name.upper().startswith(("LICENSE", "COPYING", "NOTICE"))


# Build-time tools shipped inside the packages; nothing imports them when a model predicts.
BUILD_TOOL_PREFIXES = ("numpy/distutils/", "numpy/_pyinstaller/", "sklearn/_build_utils/")


def _build_tools(p: PurePosixPath) -> bool:
    return p.as_posix().startswith(BUILD_TOOL_PREFIXES)


def _scripts(p: PurePosixPath) -> bool:
    # pip --target puts console scripts in bin/; they are the build machine's, not importable.
    return bool(p.parts) and p.parts[0] == "bin"


RULES: tuple[Rule, ...] = (
    Rule("host-bytecode", "__pycache__/ and .pyc of the build machine's interpreter", _host_bytecode),
    Rule("test-suites", "tests/ directories of the packages", _test_suite),
    Rule("headers", "C headers (*.h, include/)", _headers),
    Rule("compiled-sources", "Cython/C/Fortran sources and templates (*.pyx, *.pxd, *.c, *.tp, ...)", _compiled_sources),
    Rule("docs", "documentation files (*.rst, *.md, doc/) outside dist-info", _docs),
    Rule("type-stubs", "type stubs (*.pyi)", _type_stubs),
    Rule("build-files", "static libraries and build files (*.a, *.pc, meson.build)", _build_files),
    Rule("build-tools", "build-time tools (numpy.distutils, PyInstaller hooks, sklearn._build_utils)", _build_tools),
    Rule("dist-info-extras", "dist-info except METADATA, entry points, top_level and licenses", _dist_info_extras),
    Rule("scripts", "console scripts (bin/)", _scripts),
)
RULES_BY_NAME = {r.name: r for r in RULES}


def is_kept_on_purpose(path: str | PurePosixPath) -> bool:
    """Runtime needs that no rule may drop (test suites inside a kept prefix still go)."""
    p = PurePosixPath(path)
    s = p.as_posix()
    if s in KEEP_EXACT:
        return True
    return s.startswith(KEEP_PREFIXES) and not _test_suite(p)


def drop_reason(path: str | PurePosixPath, rules: Iterable[Rule] = RULES) -> str | None:
    """The name of the first rule that drops ``path`` (relative to python/), or None to keep it."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"layer paths are relative to python/ and stay inside it: {path!r}")
    keep = is_kept_on_purpose(p)
    for rule in rules:
        if rule.matches(p):
            # The runtime traps survive test-suite and doc rules; host bytecode never survives.
            if keep and rule.name != "host-bytecode":
                return None
            return rule.name
    return None


def trim_tree(root: Path, rules: Iterable[Rule] = RULES) -> dict[str, dict[str, int]]:
    """Delete every file under ``root`` (a layer's python/ dir) that a rule drops.

    Returns ``{rule: {"files": n, "bytes": b}}`` and removes directories left empty.
    """
    rules = tuple(rules)
    stats: dict[str, dict[str, int]] = {r.name: {"files": 0, "bytes": 0} for r in rules}
    for dirpath, _dirs, files in os.walk(root):
        for fname in files:
            full = Path(dirpath) / fname
            rel = full.relative_to(root).as_posix()
            reason = drop_reason(rel, rules)
            if reason:
                stats[reason]["files"] += 1
                stats[reason]["bytes"] += full.lstat().st_size
                full.unlink()
    _remove_empty_dirs(root)
    return stats


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(root), key=lambda t: -len(t[0])):
        d = Path(dirpath)
        if d != root and not any(d.iterdir()):
            d.rmdir()


def is_bundled_library(path: str | PurePosixPath) -> bool:
    """True for the shared libraries auditwheel vendors in ``<dist>.libs/`` (never strip them)."""
    return any(part.endswith(".libs") for part in PurePosixPath(path).parts[:-1])


def strippable_extensions(root: Path) -> list[Path]:
    """Extension modules (``*.so``) under ``root`` that are safe to strip, sorted."""
    out = []
    for full in root.rglob("*.so"):
        rel = full.relative_to(root).as_posix()
        if full.is_file() and not full.is_symlink() and not is_bundled_library(rel):
            out.append(full)
    return sorted(out)


def strip_extensions(root: Path, strip: str | None = None) -> dict[str, int]:
    """Run ``strip --strip-unneeded`` on the extension modules; returns files and bytes saved.

    Without a ``strip`` binary nothing is changed and ``{"skipped": 1}`` says so.
    """
    strip = strip or shutil.which("strip")
    files = strippable_extensions(root)
    if not strip:
        return {"files": 0, "bytes": 0, "skipped": 1}
    before = sum(f.stat().st_size for f in files)
    for chunk in (files[i:i + 200] for i in range(0, len(files), 200)):
        subprocess.run([strip, "--strip-unneeded", *map(str, chunk)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = sum(f.stat().st_size for f in files)
    return {"files": len(files), "bytes": before - after, "skipped": 0}
