"""The Lambda code cache: function and layer zips extracted once per content hash
(the runtime's own SDK is `runtime_sdk`'s).

- Code: the function's zip and its layers, read from moto's backend (`LambdaFunction.code_bytes`,
  `LayerVersion.code_bytes`), extracted once per code sha under the code cache
  ($LOCALCLOUD_HOME/code), shared across restarts; unused entries are pruned.
"""
from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import time
import uuid
import zipfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

log = logging.getLogger("localcloud")

CODE_CACHE_MAX_AGE_S = 14 * 86400  # an extracted package unused this long is removed


def _extract_zip(data: bytes, dest: Path) -> Path:
    """Extract a zip once into dest (atomic: a temp dir renamed into place, so concurrent
    extractions, even by two local clouds sharing the cache, never see a half-written dir)."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"the deployment package is not a valid zip file: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, dest)
    except OSError:  # another thread or process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def default_code_cache() -> Path:
    """Where extracted function and layer zips are kept across local cloud restarts:
    $LOCALCLOUD_HOME/code (default ~/.cache/localcloud/code), one dir per content hash."""
    return Path(os.environ.get("LOCALCLOUD_HOME") or Path.home() / ".cache" / "localcloud") / "code"


def prune_code_cache(root: Path, max_age_s: float = CODE_CACHE_MAX_AGE_S) -> int:
    """Remove extracted packages unused (mtime, touched on use) for max_age_s; returns count."""
    removed = 0
    cutoff = time.time() - max_age_s
    for kind in ("code", "layers"):
        d = root / kind
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            except OSError:
                pass
    return removed


class CodeCache:
    """LambdaRuntime's part that makes packages ready (mixin: uses self._lock, self._dirs,
    self.code_cache, self.extractions, self._closed, self._prepare)."""

    def _code_dir(self, kind: str, sha: str, data_fn) -> Path:
        """The extracted package of this content (sha), extracting it on first use.

        Content-addressed under the code cache, so a package is extracted once per content,
        not per function, invoke or restart; a concurrent caller waits for the one
        extraction in flight (a layer published a moment ago is being extracted already).
        """
        if not sha:
            sha = base64.b64encode(hashlib.sha256(data_fn()).digest()).decode()
        name = hashlib.sha256(sha.encode()).hexdigest()[:32]
        with self._lock:
            fut = self._dirs.get(name)
            owner = fut is None
            if owner:
                fut = self._dirs[name] = Future()
        if not owner:
            return fut.result()
        try:
            dest = self.code_cache / kind / name
            cached = dest.is_dir()
            t0 = time.perf_counter()
            data = data_fn()
            _extract_zip(data, dest)
            seconds = 0.0 if cached else time.perf_counter() - t0
            try:
                os.utime(dest)  # last use, for prune_code_cache
            except OSError:
                pass
            self.extractions.append({"kind": kind, "sha": sha, "zipped_bytes": len(data),
                                     "seconds": round(seconds, 3), "cached": cached,
                                     "path": str(dest)})
            if not cached:
                log.info("extracted %s %s (%d bytes zipped) in %.2fs", kind, sha,
                         len(data), seconds)
        except BaseException as exc:
            with self._lock:
                self._dirs.pop(name, None)  # let a later call try again
            fut.set_exception(exc)
            raise
        fut.set_result(dest)
        return dest

    def prepare_layer(self, lv: Any) -> None:
        """Extract a just-published layer version in the background (a deploy-time cost,
        as on AWS, rather than the first invoke's)."""
        if self._closed or not getattr(lv, "code_bytes", b""):
            return

        def work() -> None:
            try:
                self._code_dir("layers", lv.code_sha_256, lambda: lv.code_bytes)
            except Exception as exc:  # noqa: BLE001 - the invoke reports it if it matters
                log.warning("could not extract layer %s: %s", getattr(lv, "arn", "?"), exc)

        self._prepare.submit(work)
