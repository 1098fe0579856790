"""Pickling moto's backends for the durable state (`localcloud.core.state`).

`_Pickler` writes moto's `BackendDict`s by their module home, large byte strings and S3
object bodies as references to content-addressed blob files (`StateKeeper.blob_for`,
`StateKeeper.fake_key_value`), and the few moto objects pickle can't take as they are;
`_Unpickler` reverses it, restoring S3 bodies lazily (`_BlobBuffer` reads the blob file).

The pickle hooks (moto 5.2): `moto.core.base_backend.BackendDict` (and `._instances`),
`moto.s3.models.FakeKey` (its value buffer), `weakref.WeakValueDictionary` (Lambda's ARN
index), `defaultdict(lambda: ...)` (SSM tags), thread locks.

The `_restore_*` functions are named in snapshots by module and name: snapshots written
before this module existed name them in `localcloud.core.state`, which re-exports them.
"""
from __future__ import annotations

import hashlib
import importlib
import pickle
import shutil
import sys
import threading
import weakref
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

BLOB_MIN = 64 * 1024          # byte strings at least this long are stored once, as blobs
_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())


# ---------------------------------------------------------------------------------------
# Pickling moto's backends
# ---------------------------------------------------------------------------------------
class _BlobRef:
    __slots__ = ("sha",)

    def __init__(self, sha: str):
        self.sha = sha


def _weak_value_dict(items: dict) -> weakref.WeakValueDictionary:
    return weakref.WeakValueDictionary(items)


def _nested_defaultdict_dict() -> defaultdict:
    return defaultdict(dict)


def _defaultdict_of(factory: Callable | None, items: dict) -> defaultdict:
    d = defaultdict(factory)
    d.update(items)
    return d


def _restore_dd_subclass(cls: type, factory: Callable | None, attrs: dict,
                         items: dict) -> defaultdict:
    obj = cls.__new__(cls)
    defaultdict.__init__(obj, factory)
    obj.__dict__.update(attrs)
    dict.update(obj, items)
    return obj


class _LazyValue:
    """An S3 object's body in a snapshot, restored without reading it (a blob file)."""
    __slots__ = ("path", "sha")

    def __init__(self, path: Path, sha: str):
        self.path, self.sha = path, sha


class BlobDamaged(Exception):
    """A blob file is missing or does not hash to its name."""


# Where damaged S3 bodies are reported: set by the keeper, called as sink(key, sha, reason)
# once per object (it takes the object out of its bucket and names it in the status).
damage_sink: Callable[[Any, str, str], None] | None = None


def verify_file(path: Path, sha: str) -> str | None:
    """None when the file at `path` hashes to `sha`, else why not."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except FileNotFoundError:
        return "its blob file is missing"
    except OSError as exc:
        return f"its blob file cannot be read ({exc})"
    return None if h.hexdigest() == sha else "its blob file does not match its hash"


class _BlobBuffer:
    """A restored S3 object's `_value_buffer`: reads come from its blob file (opened at
    restore, so pruning the file later cannot pull it away), checked against its hash the
    first time the body is read (a damaged body is never served: the object is reported to
    `damage_sink` and the read answers NoSuchKey); the first write turns it into the
    SpooledTemporaryFile moto uses. Restoring a large object costs no copy."""

    def __init__(self, path: Path, max_size: int, sha: str = "", key: Any = None):
        self._f = open(path, "rb")  # noqa: SIM115 - lives as long as the object
        self._max = max_size
        self._spool: Any = None
        self._sha = sha
        self._verified = not sha
        self._key = weakref.ref(key) if key is not None else None

    def _check(self) -> None:
        if self._verified:
            return
        h = hashlib.sha256()
        pos = self._f.tell()
        self._f.seek(0)
        while chunk := self._f.read(1 << 20):
            h.update(chunk)
        self._f.seek(pos)
        if h.hexdigest() == self._sha:
            self._verified = True
            return
        key = self._key() if self._key is not None else None
        if damage_sink is not None and key is not None:
            damage_sink(key, self._sha, "its blob file does not match its hash")
        from moto.s3.exceptions import MissingKey

        raise MissingKey(key=getattr(key, "name", None))

    def _writable(self) -> Any:
        if self._spool is None:
            import tempfile

            self._f.seek(0)
            self._spool = tempfile.SpooledTemporaryFile(max_size=self._max)
            shutil.copyfileobj(self._f, self._spool)
            self._f.close()
        return self._spool

    def _current(self) -> Any:
        return self._spool if self._spool is not None else self._f

    def seek(self, *args: Any) -> int:
        return self._current().seek(*args)

    def tell(self) -> int:
        return self._current().tell()

    def read(self, *args: Any) -> bytes:
        if self._spool is None:
            self._check()
        return self._current().read(*args)

    def write(self, data: bytes) -> int:
        return self._writable().write(data)

    def truncate(self, *args: Any) -> int:
        return self._writable().truncate(*args)

    def close(self) -> None:
        self._current().close()

    @property
    def closed(self) -> bool:
        return self._current().closed


class _LostBuffer:
    """The body of an S3 object whose blob file was missing at restore: every read answers
    NoSuchKey (the keeper takes the object out of its bucket right after the restore)."""

    closed = False

    def __init__(self, name: str | None):
        self._name = name

    def seek(self, *args: Any) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def read(self, *args: Any) -> bytes:
        from moto.s3.exceptions import MissingKey

        raise MissingKey(key=self._name)

    def write(self, data: bytes) -> int:
        raise ValueError("a lost object's body cannot be written")

    truncate = write

    def close(self) -> None:
        pass


_restored_keys: list[tuple[Any, str]] = []
_lost_keys: list[tuple[Any, str, str]] = []      # (FakeKey, sha, why): blob missing at restore


def _restore_versioned_store(cls: type, items: list, attrs: dict) -> Any:
    store = cls()
    store.__dict__.update(attrs)
    for key, versions in items:
        dict.__setitem__(store, key, versions)
    return store


def _restore_fake_key(cls: type, state: dict) -> Any:
    obj = cls.__new__(cls)
    value = state.get("value")
    if isinstance(value, _LazyValue):
        obj.__dict__.update({k: v for k, v in state.items() if k != "value"})
        obj.lock = threading.Lock()
        try:
            obj._value_buffer = _BlobBuffer(value.path, getattr(obj, "_max_buffer_size",
                                                                16 * 1024 * 1024),
                                            value.sha, obj)
        except OSError as exc:
            obj._value_buffer = _LostBuffer(getattr(obj, "name", None))
            why = ("its blob file is missing" if isinstance(exc, FileNotFoundError)
                   else f"its blob file cannot be read ({exc})")
            _lost_keys.append((obj, value.sha, why))
            return obj
        _restored_keys.append((obj, value.sha))
        return obj
    obj.__setstate__(state)
    return obj


def _backend_dicts() -> list:
    from moto.core.base_backend import BackendDict

    return [bd for bd in list(BackendDict._instances) if len(bd)]


def _fingerprint(key: Any) -> tuple:
    return (getattr(key, "_etag", None), getattr(key, "contentsize", None),
            getattr(key, "last_modified", None))


def _module_home(bd: Any, cache: dict) -> tuple[str, str]:
    """(module, attribute) of a BackendDict: where to find the live one after a restart."""
    hit = cache.get(id(bd))
    if hit is not None:
        return hit
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is bd:
                cache[id(bd)] = (name, attr)
                return name, attr
    raise pickle.PicklingError(f"BackendDict {bd.service_name} has no module home")


class _Pickler(pickle.Pickler):
    def __init__(self, file: Any, keeper: Any):
        super().__init__(file, protocol=5)
        self.keeper = keeper
        from moto.core.base_backend import BackendDict
        from moto.s3.models import FakeKey
        from moto.s3.utils import _VersionedKeyStore

        self._bd_type = BackendDict
        self._fake_key = FakeKey
        self._versioned_store = _VersionedKeyStore

    def persistent_id(self, obj: Any) -> Any:
        t = type(obj)
        if t is bytes:
            if len(obj) >= BLOB_MIN:
                return ("blob", self.keeper.blob_for(obj), "b")
            return None
        if t is str:
            if len(obj) >= BLOB_MIN:
                return ("blob", self.keeper.blob_for(obj), "s")
            return None
        if t is _BlobRef:
            return ("blob", obj.sha, "k")
        if t is self._bd_type:
            return ("bd",) + _module_home(obj, self.keeper.homes)
        return None

    def reducer_override(self, obj: Any) -> Any:
        t = type(obj)
        if t is _LOCK_TYPE:
            return threading.Lock, ()
        if t is _RLOCK_TYPE:
            return threading.RLock, ()
        if t is weakref.WeakValueDictionary:
            return _weak_value_dict, (dict(obj.items()),)
        if t is not defaultdict and isinstance(obj, defaultdict):
            # a subclass (moto's ssm ParameterDict): defaultdict's own reduce would call
            # its __init__ with the factory alone
            return _restore_dd_subclass, (t, obj.default_factory, dict(vars(obj)), dict(obj))
        if t is defaultdict and getattr(obj.default_factory, "__name__", "") == "<lambda>":
            probe = obj.default_factory()
            if type(probe) is dict and not probe:   # defaultdict(lambda: {}) (Lambda aliases)
                return _defaultdict_of, (dict, dict(obj))
            if isinstance(probe, defaultdict) and probe.default_factory is dict:
                return _defaultdict_of, (_nested_defaultdict_dict, dict(obj))
            raise pickle.PicklingError(f"defaultdict with an unknown lambda factory: "
                                       f"{obj.default_factory}")
        if isinstance(obj, self._versioned_store):
            # a bucket's keys: its items() yield only each key's latest version, so a plain
            # pickle would drop every older version; keep the whole lists
            return _restore_versioned_store, (t, [(k, list(dict.__getitem__(obj, k)))
                                                  for k in dict.keys(obj)], dict(vars(obj)))
        if isinstance(obj, self._fake_key):
            state = {k: v for k, v in obj.__dict__.items()
                     if k not in ("_value_buffer", "lock")}
            state["value"] = self.keeper.fake_key_value(obj)
            return _restore_fake_key, (t, state)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, blobs: Path):
        super().__init__(file)
        self.blobs = blobs
        self.lost: list[tuple[str, str]] = []   # (sha, why) of values other than S3 bodies

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "blob":
            if pid[2] == "k":  # an S3 object's body: read on demand
                return _LazyValue(self.blobs / pid[1], pid[1])
            try:
                data = (self.blobs / pid[1]).read_bytes()
            except OSError:
                data, why = None, "its blob file is missing or unreadable"
            else:
                why = None if hashlib.sha256(data).hexdigest() == pid[1] else \
                    "its blob file does not match its hash"
            if why is not None:  # that value (a function's code, a large string) is lost
                self.lost.append((pid[1], why))
                data = b""
            return data.decode("utf-8") if pid[2] == "s" else data
        if pid[0] == "bd":
            return getattr(importlib.import_module(pid[1]), pid[2])
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
