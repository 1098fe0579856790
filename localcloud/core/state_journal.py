"""The journal of the durable state (`localcloud.core.state`): nothing acknowledged is lost.

A snapshot is written at most once a second; what a `kill -9` between two snapshots would
lose is kept here. Every mutating request that reaches moto and succeeds (status < 400) is
appended to `<dir>/journal/<generation>.log` with one `write()` before its response is sent
(the bytes are then the kernel's: a `kill -9` of the cloud loses none of them); the keeper
fsyncs the journal once per interval, so an OS crash loses at most the last second.

An entry is the request as moto saw it (method, path, headers, body), its wall-clock time and
the seed of the random numbers moto drew while handling it. moto draws every id, ARN suffix
and version id from one `MotoRandom` (`moto.moto_api._internal.mock_random`); while a
journaled request runs, that object draws from a `random.Random` seeded for this request
only (per thread: concurrent requests do not disturb each other), so replaying the request
with the same seed gives the same ids. Replay (at `up`, after the snapshot is loaded and
before anything else runs) feeds the entries to moto's own WSGI app in order, with the clock
frozen at each entry's time (freezegun), so creation dates and LastModified come back too.

A snapshot taken while the gate is closed (no request in flight) starts a new generation;
the snapshot's meta records the first generation it does not contain, and older journal
files are deleted once the snapshot is on disk.

What replay cannot give back (said in the README): values moto draws outside `mock_random`
(S3 multipart upload ids and STS session tokens come from `os.urandom`), and changes made
outside requests (instance and command transitions, Lambda log lines: the snapshot's, at
most one interval old). Lambda invokes are not journaled: replay never runs code.
"""
from __future__ import annotations

import io
import logging
import os
import pickle
import random
import struct
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

from .body import read_body

log = logging.getLogger("localcloud.state")

MAGIC = b"LCJ1"
_HEAD = struct.Struct("<4sII")   # magic, payload length, crc32 of the payload
# Not journaled: operations that run code (replay would run it again), and SQS's
# ReceiveMessage (it long-polls on the clock; a message received just before a crash is
# visible again after `up`, as if its visibility timeout had passed -- SQS delivers at least
# once anyway).
NOT_JOURNALED = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream",
                           "ReceiveMessage"})
_INVOKE_PATH = "/invocations"

# ---------------------------------------------------------------------------------------
# moto's random numbers, per request
# ---------------------------------------------------------------------------------------
_tl = threading.local()
_installed = False


def _seeded_class(base: type) -> type:
    class ThreadSeededRandom(base):  # type: ignore[misc, valid-type]
        """moto's MotoRandom; inside `seeded(seed)` it draws from that thread's own
        random.Random(seed) instead of the shared state."""

        def random(self) -> float:
            rng = getattr(_tl, "rng", None)
            return rng.random() if rng is not None else super().random()

        def getrandbits(self, k: int) -> int:
            rng = getattr(_tl, "rng", None)
            return rng.getrandbits(k) if rng is not None else super().getrandbits(k)

    return ThreadSeededRandom


def install_seeded_random() -> None:
    """Patch point: `moto.moto_api._internal.mock_random` (a `MotoRandom`, the one source of
    moto's ids) gets a subclass that honours `seeded()`. Idempotent."""
    global _installed
    if _installed:
        return
    from moto.moto_api._internal import mock_random
    from moto.moto_api._internal.moto_random import MotoRandom

    if not isinstance(mock_random, MotoRandom):
        raise RuntimeError("moto.moto_api._internal.mock_random is no longer a MotoRandom: "
                           "the journal cannot replay moto's ids (see state_journal.py)")
    mock_random.__class__ = _seeded_class(MotoRandom)
    _installed = True


class seeded:
    """`with seeded(seed):` moto's ids in this thread come from random.Random(seed)."""

    __slots__ = ("seed", "_prev")

    def __init__(self, seed: int):
        self.seed = seed

    def __enter__(self) -> "seeded":
        self._prev = getattr(_tl, "rng", None)
        _tl.rng = random.Random(self.seed)
        return self

    def __exit__(self, *exc: Any) -> None:
        _tl.rng = self._prev


# ---------------------------------------------------------------------------------------
# The journal files
# ---------------------------------------------------------------------------------------
def _gen_of(path: Path) -> int | None:
    stem = path.name[:-4] if path.name.endswith(".log") else ""
    return int(stem) if stem.isdigit() else None


def generations(directory: Path) -> list[tuple[int, Path]]:
    try:
        found = [(g, p) for p in directory.iterdir() if (g := _gen_of(p)) is not None]
    except OSError:
        return []
    return sorted(found)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """Append-only files of framed entries, one per generation."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.gen = 0
        self._unsynced = False
        self.entries = 0
        self.seconds: list[float] = []   # time each append took (capture + write)

    def _open(self, gen: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / f"{gen:08d}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o600)
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self.gen = fd, gen
        _fsync_dir(self.dir)

    def _ensure_open(self) -> None:
        if self._fd is None:
            existing = generations(self.dir)
            self._open(existing[-1][0] + 1 if existing else 1)

    def append(self, payload: bytes) -> None:
        frame = _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            self._ensure_open()
            view = memoryview(frame)
            while view:
                n = os.write(self._fd, view)  # type: ignore[arg-type]
                view = view[n:]
            self._unsynced = True
            self.entries += 1

    def rotate(self) -> int:
        """Start a new generation; returns it (entries from now on go there)."""
        with self._lock:
            self._ensure_open()
            self._open(self.gen + 1)
            return self.gen

    def sync(self) -> None:
        with self._lock:
            if self._fd is not None and self._unsynced:
                os.fdatasync(self._fd)
                self._unsynced = False

    def drop_before(self, gen: int) -> None:
        for g, path in generations(self.dir):
            if g < gen:
                try:
                    path.unlink()
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                try:
                    os.fdatasync(self._fd)
                except OSError:
                    pass
                os.close(self._fd)
                self._fd = None


def read_entries(path: Path) -> Iterator[tuple]:
    """The entries of one journal file; stops at a torn or damaged tail (an OS crash in the
    middle of a write), which was never acknowledged."""
    data = path.read_bytes()
    pos = 0
    while pos + _HEAD.size <= len(data):
        magic, length, crc = _HEAD.unpack_from(data, pos)
        start = pos + _HEAD.size
        payload = data[start:start + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            log.warning("state: journal %s ends with %d unreadable bytes (a write cut short); "
                        "ignored", path, len(data) - pos)
            return
        yield pickle.loads(payload)
        pos = start + length


# ---------------------------------------------------------------------------------------
# Capture and replay
# ---------------------------------------------------------------------------------------
def _journaled(environ: dict) -> bool:
    path = environ.get("PATH_INFO", "")
    if path.endswith(_INVOKE_PATH) or path.endswith("/invoke-async/") or \
            path.endswith("/response-streaming-invocations"):
        return False
    from .state_gate import _op_name

    return _op_name(environ) not in NOT_JOURNALED




def journal_middleware(app: Callable, journal: Journal, is_mutating: Callable[[dict], bool],
                       enabled: Callable[[], bool]) -> Callable:
    """Around moto's own request handling, inside the gate: a successful mutating request is
    in the journal before its response goes out."""
    seeds = random.Random()

    def middleware(environ: dict, start_response: Callable) -> Any:
        if not enabled() or not is_mutating(environ) or not _journaled(environ):
            return app(environ, start_response)
        t0 = time.perf_counter()
        body = read_body(environ)
        seed = seeds.getrandbits(63)
        wall = time.time()
        status: list[str] = []

        def recording_start_response(s: str, headers: list, exc_info: Any = None) -> Any:
            status.append(s)
            if exc_info is not None:
                return start_response(s, headers, exc_info)
            return start_response(s, headers)

        spent = time.perf_counter() - t0
        with seeded(seed):
            result = app(environ, recording_start_response)
        t1 = time.perf_counter()
        if status and status[-1][:1] in "123":
            env = {k: v for k, v in environ.items() if type(v) is str}
            journal.append(pickle.dumps((wall, seed, env, body), protocol=5))
            spent += time.perf_counter() - t1
            journal.seconds.append(spent)
            if len(journal.seconds) > 2000:
                del journal.seconds[:-1000]
        return result
    return middleware


def replay(directory: Path, from_gen: int, app: Callable) -> dict:
    """Feed the journal's entries (generations >= from_gen) to moto's WSGI `app`, in order,
    each with its own seed and its own time. Returns {"replayed", "differed", "failed"}."""
    import datetime as dt

    files = [p for g, p in generations(directory) if g >= from_gen]
    done = {"replayed": 0, "differed": 0, "failed": 0}
    if not files:
        return done
    from freezegun import freeze_time

    entries = (e for p in files for e in read_entries(p))
    first = next(entries, None)
    if first is None:
        return done
    with freeze_time(dt.datetime.fromtimestamp(first[0], dt.timezone.utc)) as frozen:
        entry: tuple | None = first
        while entry is not None:
            wall, seed, env, body = entry
            frozen.move_to(dt.datetime.fromtimestamp(wall, dt.timezone.utc))
            environ = dict(env)
            environ.update({"wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
                            "wsgi.version": (1, 0), "wsgi.multithread": False,
                            "wsgi.multiprocess": False, "wsgi.run_once": False,
                            "wsgi.input_terminated": True,
                            "CONTENT_LENGTH": str(len(body))})
            status: list[str] = []
            try:
                with seeded(seed):
                    out = app(environ, lambda s, h, e=None: status.append(s))
                    try:
                        for _chunk in out:
                            pass
                    finally:
                        close = getattr(out, "close", None)
                        if close is not None:
                            close()
                done["replayed"] += 1
                if not status or status[-1][:1] not in "123":
                    done["differed"] += 1
                    log.warning("state: replaying %s %s answered %s (it answered 2xx "
                                "before)", env.get("REQUEST_METHOD"), env.get("PATH_INFO"),
                                status[-1] if status else "nothing")
            except Exception:  # noqa: BLE001 - one entry must not stop the others
                done["failed"] += 1
                log.exception("state: replaying %s %s failed", env.get("REQUEST_METHOD"),
                              env.get("PATH_INFO"))
            entry = next(entries, None)
    return done
