"""The one zip builder of the project: same files in, same bytes out.

Used for every zip that is deployed or measured: the Lambda function zips and the code
archive (``mlpipe.functions``, ``mlpipe.buckets``), the layer zips and the function size
that the layer build checks against AWS's limits (``layer_build.build``). Entries are
sorted, dated 1980-01-01, with fixed modes (0755 for executables, scripts and shared
objects, 0644 otherwise) and no directory entries (Lambda creates them).

``source_files`` applies the one exclude list of source trees (tests, caches, sample
events, bytecode, dot-files), so the function zip that is measured is the one deployed.
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest a zip can store
MODE_FILE = 0o644
MODE_EXEC = 0o755

# The one exclude list for source trees (function folders, model_code, ec2_scripts).
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "events", ".pytest_cache", ".ipynb_checkpoints"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


def excluded(rel_parts: Sequence[str]) -> bool:
    """Whether a source path (its parts, relative to the tree's root) stays out of zips."""
    *dirs, name = rel_parts
    return (any(d in EXCLUDED_DIRS or d.startswith(".") for d in dirs)
            or name.startswith((".", "test_")) or name.endswith(EXCLUDED_SUFFIXES))


def source_files(root: Path | str, *, prefix: str = "") -> list[tuple[str, Path]]:
    """``(arcname, path)`` of the files under ``root`` that ship, sorted; arcname = prefix + relative path."""
    root = Path(root)
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not excluded(rel.parts):
            out.append((prefix + rel.as_posix(), path))
    return sorted(out)


def function_files(function_dir: Path | str) -> list[tuple[str, Path]]:
    """A function's deployment files: its folder, plus ``glue_contract/`` at the zip's root
    when its code imports it (all five functions), as Chalice bundles ``chalicelib/``. What
    ``mlpipe.functions.build_zip`` deploys and ``layer_build.build.function_size`` measures."""
    function_dir = Path(function_dir)
    files = source_files(function_dir)
    if any("glue_contract" in py.read_text() for py in function_dir.glob("*.py")):
        files += source_files(Path(__file__).resolve().parents[1] / "glue_contract", prefix="glue_contract/")
    return files


def tree_files(root: Path | str, *, prefix: str = "") -> list[tuple[str, Path]]:
    """Every file under ``root`` (a built tree, e.g. a layer's staging dir with its .pyc), sorted."""
    root = Path(root)
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            full = Path(dirpath) / n
            files.append((prefix + full.relative_to(root).as_posix(), full))
    return sorted(files)


def entry_mode(path: Path) -> int:
    """0o755 for anything executable, a shell script or a shared object, else 0o644."""
    st = path.stat()
    if (st.st_mode & stat.S_IXUSR or path.suffix == ".sh" or path.name.endswith(".so")
            or ".so." in path.name):
        return MODE_EXEC
    return MODE_FILE


def _write(zf: zipfile.ZipFile, files: Iterable[tuple[str, Path]], compresslevel: int) -> tuple[int, int]:
    count = unzipped = 0
    for arcname, full in sorted(files, key=lambda t: t[0]):
        info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
        info.create_system = 3   # unix, so external_attr's mode is honoured
        info.external_attr = (stat.S_IFREG | entry_mode(full)) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        data = full.read_bytes()
        unzipped += len(data)
        count += 1
        zf.writestr(info, data, compresslevel=compresslevel)
    return count, unzipped


def zip_bytes(files: Iterable[tuple[str, Path]], *, compresslevel: int = 6) -> bytes:
    """A deterministic zip of ``(arcname, path)`` pairs, in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        _write(zf, files, compresslevel)
    return buf.getvalue()


def write_zip_files(files: Iterable[tuple[str, Path]], zip_path: Path, *, compresslevel: int = 6) -> dict:
    """Write ``files`` to ``zip_path`` (atomically); returns counts, sizes and the sha256."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(zip_path.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        count, unzipped = _write(zf, files, compresslevel)
    os.replace(tmp, zip_path)
    return {"files": count, "unzipped_bytes": unzipped, "zipped_bytes": zip_path.stat().st_size,
            "sha256": sha256_file(zip_path)}


def write_zip(root: Path, zip_path: Path, *, prefix: str = "", compresslevel: int = 6) -> dict:
    """Zip every file under ``root`` (a built tree) as ``prefix + relative path``."""
    return write_zip_files(tree_files(root, prefix=prefix), zip_path, compresslevel=compresslevel)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unzipped_size(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as zf:
        return sum(i.file_size for i in zf.infolist())
