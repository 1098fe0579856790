"""Durable state: what a local cloud holds survives `localcloud down`/`up` and a crash.

moto keeps every resource in process memory (`BackendDict`s: service -> account -> region ->
backend object). `StateKeeper` pickles all of them, plus the parts localcloud keeps itself
(registered with `LocalCloud.register_state`, e.g. API Gateway usage counters), into
`<dir>/snapshot.pickle`; large byte strings (S3 object bodies, function and layer zips) go
to `<dir>/blobs/<sha256>` once per content, so a snapshot of a walkthrough-sized cloud is a
few MB however large the layers are.

- **When**: a background thread writes a snapshot at most every `interval` (1 s) and only if
  something changed (`mark_dirty`: every request that may mutate, instance and command
  transitions, Lambda log lines), and once more at a clean stop. A mutating call pays one
  flag write, never a snapshot.
- **Crash-safe**: blobs and the snapshot are written to a temp file, fsynced and renamed
  into place (atomic on POSIX), then the directory is fsynced; `meta.json` (format, moto
  and Python versions, counts per kind, time, the first journal generation not in the
  snapshot) is written the same way after the snapshot. Never a half-written file in use.
- **Nothing acknowledged is lost** (`state_journal`): each successful mutating moto request
  is appended to a journal before its response is sent; `load` replays the journal written
  after the snapshot. A `kill -9` loses no acknowledged write; an OS crash at most the last
  interval (the journal is fsynced once per interval).
- **Blobs are checked**: a blob is verified against its SHA-256 when read (S3 bodies at
  their first read, other values at restore); a missing or damaged one loses that object
  only (an S3 object is taken out of its bucket, reads as NoSuchKey), named in `lost`
  (`localcloud status`) and the log.
- **Consistency**: moto's request handling runs inside a `Gate`; a snapshot waits (up to
  `GATE_WAIT_S`) for the requests in flight to finish and holds new ones back while it
  pickles (tens of ms), so it never sees half of a request's change. A background change
  racing the pickler ("dictionary changed size") makes it retry.
- **Versions**: a state written by another format, moto version or Python minor version is
  not loaded: it is moved aside to `<dir>.incompatible-<time>/` with a message that says
  so (kept, never dropped; `set_aside` says why, and `up`/`up --detach` print it), and the
  cloud starts empty.
- **On restore**: ids, ARNs, keys and timestamps are moto's own objects, unchanged. Nothing
  runs after a restart, so instances that were pending/running/stopping come back
  `stopped` (their host directories kept), and SSM commands still in flight end `Failed`.

Split by job: pickling moto's backends in `state_pickle`, the request gate in `state_gate`,
the keeper (when and where snapshots are written and loaded) here.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from . import state_pickle
from .state_gate import _READ_PREFIXES, Gate, _op_name, may_mutate  # noqa: F401
from .state_journal import Journal, _fsync_dir, install_seeded_random, journal_middleware, replay
from .state_pickle import (  # noqa: F401 - snapshots of format 2 name the _restore_* here
    BLOB_MIN,
    _backend_dicts,
    _BlobBuffer,
    _BlobRef,
    _defaultdict_of,
    _fingerprint,
    _LazyValue,
    _module_home,
    _nested_defaultdict_dict,
    _Pickler,
    _restore_dd_subclass,
    _restore_fake_key,
    _restore_versioned_store,
    _restored_keys,
    _lost_keys,
    _Unpickler,
    _weak_value_dict,
)

log = logging.getLogger("localcloud.state")

FORMAT = 2  # 2: S3 bodies restored lazily from blob files; helpers in localcloud.core.state
SNAPSHOT = "snapshot.pickle"
META = "meta.json"
DEFAULT_INTERVAL_S = 1.0
GATE_WAIT_S = 2.0



class IncompatibleState(RuntimeError):
    pass


def version_doc() -> dict:
    import moto

    return {"format": FORMAT, "moto": moto.__version__,
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}"}


# ---------------------------------------------------------------------------------------
# Files: atomic writes
# ---------------------------------------------------------------------------------------


def atomic_write(path: Path, data: bytes | memoryview) -> None:
    """Write `data` to `path` so a crash leaves either the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# The keeper
# ---------------------------------------------------------------------------------------
class StateKeeper:
    def __init__(self, directory: Path, interval: float = DEFAULT_INTERVAL_S,
                 journal: bool = True):
        self.dir = Path(directory)
        self.blobs = self.dir / "blobs"
        self.interval = interval
        self.gate = Gate()
        self.journal = Journal(self.dir / "journal")
        self.journal_enabled = journal      # False: a crash loses up to one interval
        if journal:
            install_seeded_random()
        self.lost: list[str] = []             # objects lost to a damaged or missing blob
        self.set_aside: str | None = None     # why the saved state was moved aside, if it was
        self.replayed: dict | None = None     # what the journal gave back at start
        self.homes: dict[int, tuple[str, str]] = {}
        self._dirty = False
        self._lock = threading.RLock()        # one snapshot at a time; reset holds it
        self._blob_cache: dict[int, tuple[Any, str]] = {}
        self._key_cache: dict[int, tuple[Any, tuple, Any]] = {}
        self._seen_blobs: set[str] = set()
        self._new_blobs: dict[str, Any] = {}
        self._seen_ids: set[int] = set()
        self._parts: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self._loaded_parts: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.paused = False
        self.last_saved: dict | None = None
        self.notice: str | None = None        # what happened to the saved state at start
        self.restored: dict | None = None     # counts restored at start
        self.snapshot_seconds: list[float] = []

    # -- dirty marking -------------------------------------------------------------------
    def mark_dirty(self) -> None:
        self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark_middleware(self, app: Callable) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            mutating = may_mutate(environ)
            environ["localcloud.may_mutate"] = mutating
            if mutating:
                self._dirty = True
            try:
                return app(environ, start_response)
            finally:
                # again once it is done: a snapshot that began while this request waited at
                # the gate has cleared the flag without seeing its change
                if mutating:
                    self._dirty = True
        return middleware

    def gate_middleware(self, app: Callable) -> Callable:
        """Around moto's own request handling (not around Lambda runs or the data plane):
        the gate, and inside it the journal (`state_journal`)."""
        gate = self.gate

        def is_mutating(environ: dict) -> bool:
            known = environ.get("localcloud.may_mutate")
            return may_mutate(environ) if known is None else known

        app = journal_middleware(app, self.journal, is_mutating,
                                 lambda: self.journal_enabled and not self.paused)

        def middleware(environ: dict, start_response: Callable) -> Any:
            gate.enter()
            try:
                return app(environ, start_response)
            finally:
                gate.exit()
        return middleware

    # -- parts kept by localcloud itself ------------------------------------------------
    def register(self, name: str, dump: Callable[[], Any], load: Callable[[Any], None]) -> None:
        self._parts[name] = (dump, load)
        if name in self._loaded_parts:
            try:
                load(self._loaded_parts.pop(name))
            except Exception:  # noqa: BLE001 - a part that cannot load starts empty
                log.exception("restoring %s failed; it starts empty", name)

    def forget_loaded_parts(self) -> None:
        self._loaded_parts.clear()

    # -- blobs -----------------------------------------------------------------------------
    def blob_for(self, obj: bytes | str) -> str:
        hit = self._blob_cache.get(id(obj))
        if hit is not None and hit[0] is obj:
            sha = hit[1]
        else:
            data = obj.encode("utf-8") if isinstance(obj, str) else obj
            sha = hashlib.sha256(data).hexdigest()
            self._blob_cache[id(obj)] = (obj, sha)
        self._seen_ids.add(id(obj))
        self._note_blob(sha, obj)
        return sha

    def _note_blob(self, sha: str, obj: Any) -> None:
        self._seen_blobs.add(sha)
        if sha not in self._new_blobs and not (self.blobs / sha).exists():
            self._new_blobs[sha] = obj

    def fake_key_value(self, key: Any) -> Any:
        """An S3 object's body for the pickle: the bytes, or a blob reference if large.
        Read from its buffer only when the object is new or changed."""
        fingerprint = _fingerprint(key)
        hit = self._key_cache.get(id(key))
        self._seen_ids.add(id(key))
        if hit is not None and hit[0] is key and hit[1] == fingerprint:
            ref = hit[2]
            if isinstance(ref, _BlobRef):
                self._note_blob(ref.sha, None)
                return ref
        try:
            value = key.value
        except ValueError:  # its buffer is closed: a deleted key (moto's __getstate__ too)
            return b""
        if len(value) < BLOB_MIN:
            return value
        sha = hashlib.sha256(value).hexdigest()
        ref = _BlobRef(sha)
        self._key_cache[id(key)] = (key, fingerprint, ref)
        self._note_blob(sha, value)
        return ref

    # -- saving ----------------------------------------------------------------------------
    def _collect(self) -> dict:
        backends = {}
        for bd in _backend_dicts():
            home = _module_home(bd, self.homes)
            backends[home] = {account: asb for account, asb in list(bd.items())}
        parts = {}
        for name, (dump, _load) in list(self._parts.items()):
            try:
                parts[name] = dump()
            except Exception:  # noqa: BLE001
                log.exception("saving %s failed; left out of this snapshot", name)
        return {"backends": backends, "parts": parts}

    def _pickle(self) -> tuple[bytes, dict]:
        self._seen_blobs = set()
        self._new_blobs = {}
        self._seen_ids = set()
        buf = io.BytesIO()
        doc = self._collect()
        _Pickler(buf, self).dump(doc)
        return buf.getvalue(), counts(doc["backends"])

    def save(self) -> dict | None:
        """Write a snapshot now (if not paused). Returns the meta doc written."""
        with self._lock:
            if self.paused:
                return None
            self._dirty = False
            t0 = time.perf_counter()
            data = kinds = None
            held = self.gate.close(GATE_WAIT_S)
            try:
                if not held:
                    log.info("state: requests still in flight after %.1fs; snapshot taken "
                             "beside them", GATE_WAIT_S)
                for attempt in range(5):
                    try:
                        data, kinds = self._pickle()
                        break
                    except RuntimeError as exc:  # a background change raced the pickler
                        if attempt == 4:
                            raise
                        log.debug("state: retrying snapshot (%s)", exc)
                # no request in flight: what the journal holds so far is in this snapshot
                journal_from = self.journal.rotate()
            finally:
                self.gate.open()
            self.dir.mkdir(parents=True, exist_ok=True)
            self.blobs.mkdir(exist_ok=True)
            for sha, obj in list(self._new_blobs.items()):
                if obj is None or (self.blobs / sha).exists():
                    continue
                atomic_write(self.blobs / sha,
                             obj.encode("utf-8") if isinstance(obj, str) else obj)
            _fsync_dir(self.blobs)
            atomic_write(self.dir / SNAPSHOT, data)
            meta = {**version_doc(), "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(),
                    "bytes": len(data), "blobs": len(self._seen_blobs), "counts": kinds,
                    "journal_from": journal_from}
            atomic_write(self.dir / META, json.dumps(meta, indent=1).encode())
            _fsync_dir(self.dir)
            self.journal.drop_before(journal_from)
            self._prune(self._seen_blobs)
            self.last_saved = meta
            self.snapshot_seconds.append(time.perf_counter() - t0)
            del self.snapshot_seconds[:-50]
            return meta

    def _prune(self, keep: set[str]) -> None:
        for cache in (self._blob_cache, self._key_cache):
            for k in [k for k in cache if k not in self._seen_ids]:
                del cache[k]
        try:
            for f in self.blobs.iterdir():
                if f.name not in keep and not f.name.startswith("."):
                    f.unlink()
        except OSError:
            pass

    # -- loading ---------------------------------------------------------------------------
    def saved_meta(self) -> dict | None:
        try:
            return json.loads((self.dir / META).read_text())
        except (OSError, ValueError):
            return None

    def move_aside(self, reason: str) -> Path:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        dest = self.dir.with_name(f"{self.dir.name}.incompatible-{stamp}")
        self.journal.close()
        os.replace(self.dir, dest)
        self.set_aside = reason
        self.notice = (f"saved state NOT loaded: {reason}. It was moved to {dest} "
                       "(kept, not deleted); this cloud starts empty.")
        log.warning("state: %s", self.notice)
        return dest

    def load(self) -> dict | None:
        """Restore a saved state into moto's backends (before the cloud serves).
        Returns the counts restored, or None when there was nothing (or nothing usable)."""
        snap = self.dir / SNAPSHOT
        if not snap.exists():
            return self._replay_only()
        meta = self.saved_meta() or {}
        want = version_doc()
        for field in ("format", "moto", "python"):
            if meta.get(field) != want[field]:
                self.move_aside(f"it was written by {field} {meta.get(field)!r}, this is "
                                f"{field} {want[field]!r}")
                return None
        t0 = time.perf_counter()
        _restored_keys.clear()
        _lost_keys.clear()
        try:
            with open(snap, "rb") as f:
                unpickler = _Unpickler(f, self.blobs)
                doc = unpickler.load()
        except Exception as exc:  # noqa: BLE001 - unreadable: keep it, start empty
            self.move_aside(f"it could not be read ({type(exc).__name__}: {exc})")
            return None
        for sha, why in unpickler.lost:
            self._report_lost(f"a large value (a function's or layer's code, or a long "
                              f"string) stored as blob {sha[:12]}", why)
        from moto.core.base_backend import BackendDict

        for key, sha in _restored_keys:  # known bodies: no re-read, no re-hash at next save
            self._key_cache[id(key)] = (key, _fingerprint(key), _BlobRef(sha))
        _restored_keys.clear()
        for (module, attr), accounts in doc["backends"].items():
            bd = getattr(importlib.import_module(module), attr)
            for account, asb in accounts.items():
                dict.__setitem__(bd, account, asb)
            if bd not in BackendDict._instances:
                BackendDict._instances.append(bd)
        self._loaded_parts = dict(doc.get("parts") or {})
        state_pickle.damage_sink = self._damaged_key
        for key, sha, why in list(_lost_keys):
            self._damaged_key(key, sha, why)
        _lost_keys.clear()
        self._replay(int(meta.get("journal_from") or 0))
        settle_after_restart()
        restored = counts(self._live_backends())
        self.restored = restored
        self.last_saved = meta
        self.notice = (f"restored the state saved at {meta.get('saved_at')} from {self.dir}"
                       f"{self._replay_note()} in {time.perf_counter() - t0:.2f}s"
                       + (f"; LOST {len(self.lost)}: " + "; ".join(self.lost)
                          if self.lost else ""))
        log.info("state: %s", self.notice)
        return restored

    # -- the journal and damaged blobs at restore ------------------------------------------
    def _live_backends(self) -> dict:
        return {_module_home(bd, self.homes): dict(bd.items()) for bd in _backend_dicts()}

    def _replay(self, from_gen: int) -> None:
        from .server import make_moto_app

        self.replayed = replay(self.journal.dir, from_gen, make_moto_app())
        if self.replayed["replayed"] or self.replayed["failed"]:
            self._dirty = True  # the next snapshot holds what the journal gave back
            log.info("state: journal replayed: %s", self.replayed)

    def _replay_note(self) -> str:
        r = self.replayed or {}
        if not (r.get("replayed") or r.get("failed")):
            return ""
        extra = ", ".join(f"{n} {k}" for k, n in r.items() if k != "replayed" and n)
        return (f" plus {r.get('replayed', 0)} acknowledged requests from its journal"
                + (f" ({extra})" if extra else ""))

    def _replay_only(self) -> dict | None:
        """No snapshot yet (a crash in the first interval): the journal alone."""
        from .state_journal import generations

        if not generations(self.journal.dir):
            return None
        t0 = time.perf_counter()
        self._replay(0)
        settle_after_restart()
        restored = counts(self._live_backends())
        self.restored = restored
        self.notice = (f"no snapshot in {self.dir}; restored{self._replay_note()} in "
                       f"{time.perf_counter() - t0:.2f}s")
        log.info("state: %s", self.notice)
        return restored

    def _report_lost(self, what: str, why: str) -> None:
        line = f"{what}: {why}"
        self.lost.append(line)
        log.error("state: LOST %s (the rest of the state is intact)", line)

    def _damaged_key(self, key: Any, sha: str, why: str) -> None:
        """An S3 object whose body is missing or damaged: taken out of its bucket (it reads
        as NoSuchKey, as a deleted object does) and named in the status and the log."""
        bucket_name, name = getattr(key, "bucket_name", "?"), getattr(key, "name", "?")
        version = getattr(key, "_version_id", None)
        try:
            from moto.s3.models import s3_backends

            backend = s3_backends[key.account_id][getattr(key, "partition", "aws")]
            bucket = backend.buckets[bucket_name]
            store = bucket.keys
            versions = dict.get(store, name) or []
            kept = [v for v in versions if v is not key]
            if kept:
                dict.__setitem__(store, name, kept)
            elif name in dict.keys(store):
                dict.__delitem__(store, name)
        except (KeyError, AttributeError) as exc:
            log.warning("state: could not take s3://%s/%s out of its bucket: %r",
                        bucket_name, name, exc)
        self._report_lost(f"s3://{bucket_name}/{name}"
                          + (f" (version {version})" if version not in (None, "null") else "")
                          + f" [blob {sha[:12]}]", why)
        self._dirty = True

    def wipe(self) -> None:
        """Forget the saved state (`up --fresh`, `reset`)."""
        with self._lock:
            self.journal.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            self._blob_cache.clear()
            self._key_cache.clear()
            self._loaded_parts.clear()

    # -- the background writer -----------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="localcloud-state",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.journal.sync()  # an OS crash loses at most this interval
            except OSError:
                log.exception("state: journal sync failed")
            if self._dirty:
                try:
                    self.save()
                except Exception:  # noqa: BLE001 - keep trying; the log says why
                    log.exception("state: snapshot failed")

    def stop(self, final: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if final and self._dirty:
            try:
                self.save()
            except Exception:  # noqa: BLE001
                log.exception("state: final snapshot failed")
        self.journal.close()

    def describe(self) -> dict:
        meta = self.last_saved or self.saved_meta() or {}
        return {"path": str(self.dir), "saved_at": meta.get("saved_at"),
                "counts": meta.get("counts") or {}, "notice": self.notice,
                "dirty": self._dirty, "set_aside": self.set_aside, "lost": list(self.lost),
                "journal": self.journal_enabled, "replayed": self.replayed}


# ---------------------------------------------------------------------------------------
# What a restart means for things that ran
# ---------------------------------------------------------------------------------------
_STOPPED = {"pending", "running", "stopping"}


def settle_after_restart() -> None:
    """Nothing runs across a restart: running instances are stopped, commands end Failed."""
    from moto.ec2.models import ec2_backends
    from moto.ssm.models import ssm_backends

    for _account, _region, backend in list(ec2_backends.iter_backends()):
        for reservation in list(backend.reservations.values()):
            for inst in reservation.instances:
                name = inst._state.name
                if name in _STOPPED:
                    inst._state.name, inst._state.code = "stopped", 80
                elif name == "shutting-down":
                    inst._state.name, inst._state.code = "terminated", 48
    for _account, _region, backend in list(ssm_backends.iter_backends()):
        for cmd in list(getattr(backend, "_commands", [])):
            ended = False
            for inv in getattr(cmd, "invocations", []) or []:
                if inv.get("Status") in ("Pending", "InProgress", "Delayed", "Cancelling"):
                    inv.update(Status="Failed", StatusDetails="Failed", ResponseCode=-1)
                    inv["StandardErrorContent"] = (inv.get("StandardErrorContent") or "") + \
                        "\nlocalcloud: the local cloud stopped while the command ran\n"
                    ended = True
            if ended or getattr(cmd, "status", "") in ("Pending", "InProgress"):
                cmd.status = "Failed"
                cmd.status_details = "Failed"


def counts(backends: dict) -> dict:
    """Resources per kind in a {(module, attr): {account: {region: backend}}} mapping."""
    out: dict[str, int] = {}

    def add(kind: str, n: int) -> None:
        if n:
            out[kind] = out.get(kind, 0) + n

    for (module, _attr), accounts in backends.items():
        service = module.split(".")[1]
        for _account, regions in accounts.items():
            for _region, b in list(regions.items()):
                if service == "s3":
                    buckets = list(getattr(b, "buckets", {}).values())
                    add("s3 buckets", len(buckets))
                    add("s3 object versions", sum(
                        sum(len(v) for _key, v in bk.keys.lists()) if hasattr(bk.keys, "lists")
                        else len(bk.keys) for bk in buckets))
                elif service == "awslambda":
                    add("lambda functions", len(getattr(b, "_lambdas", None)._functions
                                                if hasattr(b, "_lambdas") else []))
                    layers = getattr(b, "_layers", None)
                    add("lambda layer versions", sum(
                        len(layer.layer_versions) for layer in
                        getattr(layers, "_layers", {}).values()) if layers else 0)
                elif service == "ec2":
                    add("ec2 instances", sum(len(r.instances) for r in b.reservations.values()))
                elif service == "iam":
                    add("iam roles", len(getattr(b, "roles", {})))
                elif service == "apigateway":
                    add("api gateway rest apis", len(getattr(b, "apis", {})))
                    add("api keys", len(getattr(b, "keys", {})))
                    add("usage plans", len(getattr(b, "usage_plans", {})))
                elif service == "events":
                    add("eventbridge rules", sum(len(bus.rules) for bus in
                                                 getattr(b, "event_buses", {}).values()))
                elif service == "logs":
                    groups = getattr(b, "groups", {})
                    add("log groups", len(groups))
                    add("log events", sum(len(s.events) for g in groups.values()
                                          for s in g.streams.values()))
                elif service == "ssm":
                    add("ssm commands", len(getattr(b, "_commands", [])))
    return out
