"""Key names in the input and output buckets (docs/CONTRACTS.md, "Names")."""
from __future__ import annotations

import posixpath

# input bucket
DATA_PREFIX = "data/"
DATA_SUFFIX = ".csv"
HOLDOUT_KEY = "holdout/holdout.csv"
DATASET_KEY = "dataset/dataset.toml"  # the dataset file (model_code.spec); absent: the default dataset
CODE_KEY = "code/mlpipe-code.zip"
REJECTED_PREFIX = "rejected/"
# output bucket
RUNS_PREFIX = "runs/"
RUN_SUFFIX = ".json"
MODELS_PREFIX = "models/"
LATEST_KEY = "models/latest.json"
LOCKS_PREFIX = "locks/"
SEND_LOCK_KEY = LOCKS_PREFIX + "worker-send.json"


def is_data_key(key: str) -> bool:
    """A key that fires training: ``data/<anything>.csv``."""
    return key.startswith(DATA_PREFIX) and key.endswith(DATA_SUFFIX)


def unsafe_key_reason(key: str) -> str | None:
    """Why a data key cannot name a file on the instance (``..`` or ``.`` segments, a
    backslash, a NUL), or None when it is safe. Such a key fails its run and is set aside."""
    rest = key[len(DATA_PREFIX):] if key.startswith(DATA_PREFIX) else key
    parts = rest.split("/")
    if any(p in (".", "..") for p in parts):
        return f"the key {key!r} has a '.' or '..' path segment"
    if "\\" in key or "\x00" in key:
        return f"the key {key!r} has a backslash or a NUL character"
    return None


def record_key(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}{RUN_SUFFIX}"


def is_record_key(key: str) -> bool:
    return key.startswith(RUNS_PREFIX) and key.endswith(RUN_SUFFIX)


def rejected_key(key: str, run_id: str | None = None) -> str:
    """Where a set-aside data file goes: ``data/a/x.csv`` -> ``rejected/a/x.csv`` (with
    ``run_id``: ``rejected/a/x-<run_id>.csv``). Unsafe segments and empty ones are dropped,
    so ``data/../../x.csv`` goes to ``rejected/x.csv`` and ``data//x.csv`` to ``rejected/x.csv``."""
    rest = key[len(DATA_PREFIX):] if key.startswith(DATA_PREFIX) else posixpath.basename(key)
    parts = [p for p in rest.replace("\\", "/").replace("\x00", "").split("/") if p not in ("", ".", "..")]
    rel = "/".join(parts) or "unnamed.csv"
    if run_id:
        stem, ext = posixpath.splitext(rel)
        rel = f"{stem}-{run_id}{ext}"
    return REJECTED_PREFIX + rel
