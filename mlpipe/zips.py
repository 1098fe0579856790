"""Deterministic zips: the same files give the same bytes, so an unchanged function or
code archive is recognised by its hash and never re-uploaded."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Iterable

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def deterministic_zip(files: Iterable[tuple[str, Path]]) -> bytes:
    """Zip ``(arcname, path)`` pairs sorted by name, with fixed times and permissions
    (0755 for scripts and executables, 0644 otherwise)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(files):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_DATE)
            mode = 0o755 if path.suffix == ".sh" or os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()
