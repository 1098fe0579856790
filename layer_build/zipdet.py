"""Deterministic zips: same files in, same bytes out (sorted entries, fixed time and modes)."""
from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)   # the earliest a zip can store
MODE_FILE = 0o644
MODE_EXEC = 0o755


def entry_mode(path: Path) -> int:
    """0o755 for anything executable or a shared object, else 0o644: no umask leaks in."""
    st = path.stat()
    if st.st_mode & stat.S_IXUSR or path.name.endswith(".so") or ".so." in path.name:
        return MODE_EXEC
    return MODE_FILE


def write_zip(root: Path, zip_path: Path, *, prefix: str = "", compresslevel: int = 6) -> dict:
    """Zip every file under ``root`` as ``prefix + relative path``; returns counts and sizes.

    No directory entries (Lambda creates them), no symlinks (they are followed).
    """
    files = []
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            full = Path(dirpath) / n
            files.append((prefix + full.relative_to(root).as_posix(), full))
    files.sort(key=lambda t: t[0])
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_suffix(zip_path.suffix + ".part")
    unzipped = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for arcname, full in files:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = 3   # unix, so external_attr's mode is honoured
            info.external_attr = (stat.S_IFREG | entry_mode(full)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = full.read_bytes()
            unzipped += len(data)
            zf.writestr(info, data, compresslevel=compresslevel)
    os.replace(tmp, zip_path)
    return {"files": len(files), "unzipped_bytes": unzipped, "zipped_bytes": zip_path.stat().st_size,
            "sha256": sha256_file(zip_path)}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unzipped_size(zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path) as zf:
        return sum(i.file_size for i in zf.infolist())
