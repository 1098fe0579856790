"""Model artifacts: ``model.joblib``, ``metrics.json`` and ``model_card.json``.

The model card records what a model is and what it was built from::

    {"format": 1, "version": "v003", "model_kind": "logreg", "params": {...},
     "feature_names": [...30...], "label": "target",
     "data_fingerprint": "<sha256>", "inputs": [{"name": "batch_01.csv", "sha256": ..., "bytes": ...}],
     "libraries": {"scikit-learn": "1.9.1", "numpy": ..., "scipy": ..., "joblib": ..., "python": ...},
     "created_at": "2025-01-01T12:00:00Z", "metrics": {...},
     "export": {"file": "model_export.json", "format": "mlpipe-export", "format_version": 1,
                "kind": "logreg", "sha256": ..., "bytes": ..., "max_abs_diff": 2.2e-16,
                "tolerance": 1e-9, "verified_rows": 114}}

``save(..., holdout_X=X)`` also writes the serving export (``model_code.export``) beside
``model.joblib``, only once it reproduces ``predict_proba`` on those rows within 1e-9;
when it cannot, the card's ``export`` is ``{"error": "..."}`` and no export file is
written (such a model must not be promoted: ``export_error(card)`` says why).

A pickled scikit-learn model is only safe to load with the scikit-learn major.minor
that built it, so ``load`` refuses any other with ``IncompatibleModelError`` (before
unpickling when the card is there; from scikit-learn's own version warning when not).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import warnings
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from .schema import FEATURE_NAMES, LABEL

MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
CARD_FILE = "model_card.json"
CARD_FORMAT = 1


class IncompatibleModelError(RuntimeError):
    """The artifact was built with a scikit-learn this process cannot safely load."""

    def __init__(self, built: str, running: str, where: str = "model"):
        self.built = built
        self.running = running
        super().__init__(
            f"{where} was built with scikit-learn {built}, but this environment has "
            f"scikit-learn {running}; major.minor must match. Retrain the model with "
            f"scikit-learn {running}, or install scikit-learn=={built} where it is served."
        )


def _major_minor(version: str) -> tuple:
    parts = str(version).split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (str(version),)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _named(inputs: Iterable | Mapping) -> list:
    """[(name, path)] from a list of paths (name = basename) or a {name: path} mapping."""
    if isinstance(inputs, Mapping):
        return [(str(k), os.fspath(v)) for k, v in inputs.items()]
    return [(os.path.basename(os.fspath(p)), os.fspath(p)) for p in inputs]


def fingerprint(paths: Iterable | Mapping) -> str:
    """sha256 over the sorted (name, file sha256) pairs: same files -> same fingerprint,
    whatever the order or folder. ``paths`` is a list (names = basenames) or {name: path}."""
    pairs = sorted((name, sha256_file(path)) for name, path in _named(paths))
    h = hashlib.sha256()
    for name, digest in pairs:
        h.update(f"{name}\0{digest}\n".encode("utf-8"))
    return h.hexdigest()


def library_versions() -> dict:
    import joblib
    import numpy
    import scipy
    import sklearn

    return {
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    return repr(value)


def model_card(model, *, version: str, metrics: Mapping | None = None, inputs: Iterable | Mapping = (),
               extra: Mapping | None = None, dataset=None, encoder=None) -> dict:
    """What the model is and what it was built from. With ``dataset`` (a ``model_code.spec``
    DatasetSpec) the card carries the dataset file's schema (features, target, classes, task)
    and ``encoder`` its fitted fills, so predict needs no other copy."""
    from .train import model_kind

    named = _named(inputs)
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    card = {
        "format": CARD_FORMAT,
        "version": version,
        "model_kind": model_kind(model),
        "params": _jsonable(est.get_params()) if hasattr(est, "get_params") else {},
        "feature_names": list(dataset.feature_names) if dataset is not None else list(FEATURE_NAMES),
        "label": dataset.target if dataset is not None else LABEL,
        "data_fingerprint": fingerprint(dict(named)) if named else None,
        "inputs": [
            {"name": name, "sha256": sha256_file(path), "bytes": os.path.getsize(path)} for name, path in sorted(named)
        ],
        "libraries": library_versions(),
        "created_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "metrics": _jsonable(dict(metrics)) if metrics is not None else None,
    }
    if dataset is not None:
        card["task"] = dataset.task
        card["dataset"] = dataset.to_dict()
    if encoder is not None:
        card["encoder"] = _jsonable(encoder.to_dict())
    if extra:
        card.update(_jsonable(dict(extra)))
    return card


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def save(model, out_dir: str | os.PathLike, *, version: str, metrics: Mapping, inputs: Iterable | Mapping = (),
         extra: Mapping | None = None, holdout_X=None, dataset=None, encoder=None, holdout_rows=None) -> dict:
    """Write ``model.joblib``, ``metrics.json`` and ``model_card.json`` into ``out_dir``.

    ``inputs`` are the data files trained on (paths, or {name: path} to record e.g.
    S3 keys as names). Returns ``{"model": path, "metrics": path, "card": path}``, plus
    ``"export": path`` when ``holdout_X`` is given and the serving export verified on it.
    """
    import joblib

    from . import export

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    card = model_card(model, version=version, metrics=metrics, inputs=inputs, extra=extra, dataset=dataset,
                      encoder=encoder)
    export_path = None
    if holdout_rows is not None and encoder is not None:
        holdout_X = encoder.transform(holdout_rows)
    if holdout_X is not None:
        names = encoder.output_names if encoder is not None else FEATURE_NAMES
        try:
            card["export"] = export.write_verified(model, out_dir, holdout_X, names, encoder=encoder,
                                                   rows=holdout_rows,
                                                   task=dataset.task if dataset is not None else None)
            export_path = os.path.join(out_dir, card["export"]["file"])
        except export.ExportError as exc:
            card["export"] = {"error": str(exc)}
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    paths = {
        "model": os.path.join(out_dir, MODEL_FILE),
        "metrics": os.path.join(out_dir, METRICS_FILE),
        "card": os.path.join(out_dir, CARD_FILE),
    }
    _write_atomic(paths["model"], buf.getvalue())
    _write_atomic(paths["metrics"], (json.dumps(_jsonable(dict(metrics)), indent=2) + "\n").encode())
    _write_atomic(paths["card"], (json.dumps(card, indent=2) + "\n").encode())
    if export_path:
        paths["export"] = export_path
    return paths


def export_error(card: Mapping) -> str | None:
    """Why a model (its card) has no verified serving export, or None when it has one."""
    info = card.get("export")
    if not isinstance(info, Mapping):
        return "the model card records no serving export"
    if info.get("error"):
        return str(info["error"])
    return None


def pointer_fields(paths: Mapping, prefix: str) -> dict:
    """The export's entries of ``models/latest.json`` for a model saved under S3 ``prefix``
    (``models/v003/``): see ``model_code.export.pointer_fields``. Raises ``ValueError``
    when the model has no verified export (it must not be promoted)."""
    from . import export

    card = read_card(paths["card"])
    problem = export_error(card)
    if problem or not paths.get("export"):
        raise export.ExportError(f"no verified serving export: {problem or 'not written'}")
    return export.pointer_fields(card["export"], prefix, paths["export"])


def check_compatible(card: Mapping, where: str = "model") -> None:
    """Raise ``IncompatibleModelError`` unless the card's scikit-learn major.minor is ours."""
    import sklearn

    try:
        built = card["libraries"]["scikit-learn"]
    except (KeyError, TypeError):
        raise ValueError(f"{where}: model card has no libraries.scikit-learn version") from None
    if _major_minor(built) != _major_minor(sklearn.__version__):
        raise IncompatibleModelError(built, sklearn.__version__, where)


def read_card(path: str | os.PathLike) -> dict:
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def _unpickle(fileobj_or_path, where: str):
    import joblib
    import sklearn

    try:
        from sklearn.exceptions import InconsistentVersionWarning
    except ImportError:  # pragma: no cover - very old scikit-learn
        InconsistentVersionWarning = UserWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        model = joblib.load(fileobj_or_path)
    for w in caught:
        built = getattr(w.message, "original_sklearn_version", None)
        if built and _major_minor(built) != _major_minor(sklearn.__version__):
            raise IncompatibleModelError(built, sklearn.__version__, where)
    for w in caught:  # the rest (e.g. a patch-level difference) goes on as warnings
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model


def load(path: str | os.PathLike, *, require_card: bool = False):
    """Load a model from a folder (with ``model.joblib``) or a ``.joblib`` file.

    The card is read from beside the model (``model_card.json``) and checked first;
    without a card the check uses the version scikit-learn stores in the pickle.
    """
    path = os.fspath(path)
    model_path = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    card_path = os.path.join(os.path.dirname(model_path), CARD_FILE)
    if os.path.isfile(card_path):
        check_compatible(read_card(card_path), where=model_path)
    elif require_card:
        raise FileNotFoundError(f"no {CARD_FILE} beside {model_path}")
    return _unpickle(model_path, model_path)


def load_bytes(data: bytes, card: Mapping | bytes | str | None = None, where: str = "model"):
    """Load a model from bytes (e.g. an S3 object body), checking ``card`` first if given
    (a dict, or the card file's JSON bytes/text)."""
    if card is not None:
        if isinstance(card, (bytes, str)):
            card = json.loads(card)
        check_compatible(card, where=where)
    return _unpickle(io.BytesIO(data), where)
