"""The predict service: request parsing, the served model, the response.

Everything the predict Lambda does lives here; ``handler.py`` only forwards the event.
Pure functions (``parse_body``, ``respond``) need no AWS; ``ModelStore`` takes its S3
reader factory and clock as arguments, so tests pass fakes and no flag.

Request:  ``{"instances": [{feature: value, ...}, ...]}`` (API Gateway REST proxy event), the
features of the served model's dataset file (``model_code.spec``, carried by
``models/latest.json``; the default dataset's when the pointer carries none), checked by
``model_code.table.rows_from_request`` (a wrong category: 400 naming the feature and the
allowed values).
Response: 200, classification ``{"predictions": [class value, ...], "labels": [label, ...],
"class_probabilities": [{label: p, ...}, ...], "probabilities": [...], "model_version": "v003"}``:
``predictions[i]`` is the class ranked first (what ``model.predict`` returns), ``labels[i]``
its label for a person; ``probabilities[i]`` is P(second class) for a binary target (``benign``
for the default dataset) and the list of every class's probability for a multiclass one.
Regression ``{"predictions": [value, ...], "target": name, "model_version": "v003"}``.
Bad input -> 400 ``{"message": ..., "model_version": ...}`` naming the field, row or limit;
no model promoted, or one that cannot be loaded -> 503 ``{"message": ..., "model_version":
...}``. Every response names ``model_version`` (null while this environment has none).

The model: ``models/latest.json`` in ``OUTPUT_BUCKET`` names it (``version``, ``export``,
and for a small linear model the export itself, ``export_inline``: one S3 read at a cold
start). The export (``model_code.export``) is predicted with numpy alone: no scikit-learn,
scipy or joblib is imported on any path. S3 is read with botocore's signer over plain
HTTP (``s3read.py``), not a boto3 client. See ``ModelStore`` for when the pointer is
re-read and what happens when a version fails to load or the pointer disappears.

Environment: ``OUTPUT_BUCKET`` (required), ``MODEL_REFRESH_SECONDS`` (30),
``MAX_ROWS`` (``model_code.schema.MAX_ROWS_PER_REQUEST``), ``LOG_LEVEL`` (INFO).
"""
from __future__ import annotations

import os

# numpy's BLAS runs one thread per environment: a Lambda has about one vCPU per 1769 MB,
# and for rows x 30 features a thread pool only adds start-up and contention. Set before
# numpy is first imported (below, through model_code.schema).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import base64  # noqa: E402
import binascii  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, NamedTuple, Optional  # noqa: E402

from glue_contract import logs as glue_logs  # noqa: E402
from model_code import schema  # noqa: E402
from model_code import spec as dataset_spec  # noqa: E402
from model_code import table as tables  # noqa: E402

try:  # imported as lambda_code.predict.service (tests, tools)
    from . import s3read
except ImportError:  # in Lambda the zip's root is on sys.path
    import s3read

POINTER_KEY = "models/latest.json"
DEFAULT_REFRESH_SECONDS = 30.0
DEFAULT_RETRY_BASE = 1.0
JSON_HEADERS = {"Content-Type": "application/json"}

log = glue_logs.logger("mlpipe.predict")


def _log(event: str, level: int = logging.INFO, **fields) -> None:
    """One JSON line (``glue_contract.logs``, the glue functions' logger)."""
    glue_logs.log(event, "mlpipe.predict", level, **fields)


# --------------------------------------------------------------------------- errors


class RequestError(ValueError):
    """The request is bad: answered with 400 and this message."""


class ModelUnavailable(RuntimeError):
    """No model can be served right now: answered with 503 and this message."""


# --------------------------------------------------------------------------- request


def _reject_constant(name: str):
    # json accepts the non-standard literals NaN, Infinity and -Infinity; JSON does not.
    raise RequestError(f"the body contains {name}, which is not valid JSON; send finite numbers")


def parse_body(event: Any, max_rows: int = schema.MAX_ROWS_PER_REQUEST, spec=None):
    """The ``instances`` of an API Gateway proxy event, checked against ``spec`` (default: the
    default dataset's), as a ``model_code.table.Table``.

    Raises ``RequestError`` with a message for a person for every bad body.
    """
    return rows_of(instances_of(event), spec, max_rows)


def rows_of(instances: Any, spec=None, max_rows: int = schema.MAX_ROWS_PER_REQUEST):
    """``instances`` checked against the dataset file ``spec`` (``RequestError``: 400)."""
    try:
        return tables.rows_from_request(instances, spec or _default_spec(), max_rows=max_rows)
    except tables.RequestError as exc:
        raise RequestError(str(exc)) from None


_DEFAULT_SPEC = None


def _default_spec():
    global _DEFAULT_SPEC
    if _DEFAULT_SPEC is None:
        _DEFAULT_SPEC = dataset_spec.default()
    return _DEFAULT_SPEC


def instances_of(event: Any):
    """The ``instances`` value of an API Gateway proxy event's JSON body (not yet checked)."""
    if not isinstance(event, dict):
        raise RequestError("the event is not an API Gateway proxy request")
    body = event.get("body")
    if body is None or body == "":
        raise RequestError('the request body is empty; send {"instances": [{feature: value, ...}]}')
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise RequestError("the body is marked base64-encoded but is not valid base64") from None
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("the body is not UTF-8 text") from None
    if not isinstance(body, str):
        raise RequestError("the request body is not text")
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except RequestError:
        raise
    except RecursionError:
        raise RequestError("the body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and the int-digits limit
        raise RequestError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RequestError(
            f'the body must be a JSON object {{"instances": [...]}}, got {_json_type(doc)}'
        )
    if "instances" not in doc:
        raise RequestError('the body has no "instances" field; send {"instances": [{feature: value, ...}]}')
    extra = [k for k in doc if k != "instances"]
    if extra:
        raise RequestError(f'unknown top-level field {extra[0]!r}; the body takes only "instances"')
    return doc["instances"]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def respond(status: int, payload: dict) -> dict:
    """The API Gateway proxy response envelope."""
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(payload, allow_nan=False),
        "isBase64Encoded": False,
    }


# --------------------------------------------------------------------------- model


class Served(NamedTuple):
    model: Any      # a model_code.export predictor (LinearExport or ForestExport)
    version: str
    classes: Any    # the model's classes, so predictions come from one predict_proba
    positive: int   # column of class 1 in predict_proba's output (binary)
    spec: Any = None  # the dataset file (model_code.spec.DatasetSpec) the model was trained for


class _Pending(NamedTuple):
    """A promoted version this environment could not load (yet)."""
    version: str
    message: str
    attempts: int
    first_seen: float   # when this environment first learned of it (clock seconds)
    next_retry: float


class ModelStore:
    """The promoted model: what ``models/latest.json`` names, as a numpy-only export.

    ``reader_factory()`` returns an S3 reader (``s3read.SignedS3Reader`` in Lambda,
    ``s3read.Boto3Reader`` in tests), called once, on first use. ``clock`` is monotonic
    seconds. One model at a time (docs/CONTRACTS.md, "Serving: one model at a time"):

    - the pointer is re-read (``If-None-Match``: usually a 304) at most every
      ``refresh_seconds``, and on every request while nothing can be served;
    - a new version is loaded and swapped in at once; a version that fails to load is
      retried with backoff (``retry_base`` s, doubling, at most ``refresh_seconds``), never
      refused for good; meanwhile the previous version answers for at most
      ``refresh_seconds`` after the promotion was seen, then 503 names the version and why;
    - a missing (or invalid) pointer means no model is promoted: 503, the old model dropped;
    - a pointer that cannot be read (network, S3 5xx, access) keeps the version last
      confirmed and is retried with backoff: a read error says nothing about what is promoted.
    """

    def __init__(self, reader_factory: Callable[[], Any], bucket: str,
                 refresh_seconds: float = DEFAULT_REFRESH_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic, retry_base: float = DEFAULT_RETRY_BASE):
        if not bucket:
            raise ValueError("OUTPUT_BUCKET is not set: the predict function needs the output bucket's name")
        self._reader_factory = reader_factory
        self._reader = None
        self.bucket = bucket
        self.refresh_seconds = float(refresh_seconds)
        self.retry_base = float(retry_base)
        self._clock = clock
        self._served: Optional[Served] = None
        self._pointer: Optional[dict] = None      # the last pointer read (None: none promoted)
        self._pointer_etag: Optional[str] = None
        self._no_pointer = "no model is loaded yet"
        self._pending: Optional[_Pending] = None
        self._read_errors = 0
        self._next_check: Optional[float] = None
        self.loads = 0          # models this environment has loaded (tests, logs)
        self.pointer_reads = 0  # GETs of the pointer (tests, logs)

    @property
    def reader(self):
        if self._reader is None:
            self._reader = self._reader_factory()
        return self._reader

    @property
    def version(self) -> Optional[str]:
        return self._served.version if self._served else None

    def get(self) -> Served:
        """The model to serve now; raises ``ModelUnavailable`` when there is none."""
        now = self._clock()
        if self._next_check is None or now >= self._next_check or self._current(now) is None:
            self._refresh(now)
        served = self._current(now)
        if served is None:
            raise ModelUnavailable(self._why_not(now))
        return served

    def _current(self, now: float) -> Optional[Served]:
        if self._served is None or self._pointer is None:
            return None
        if self._served.version == self._pointer["version"]:
            return self._served
        p = self._pending
        if p is not None and p.version == self._pointer["version"] and now - p.first_seen < self.refresh_seconds:
            return self._served  # the previous version, while the new one is retried (bounded)
        return None

    def _why_not(self, now: float) -> str:
        if self._pointer is None:
            return self._no_pointer
        p = self._pending
        if p is not None:
            wait = max(0.0, p.next_retry - now)
            return f"{p.message} (attempt {p.attempts}; retrying in {wait:.1f} s)"
        return f"model {self._pointer['version']} is not loaded"

    def _backoff(self, attempts: int) -> float:
        return min(self.refresh_seconds, self.retry_base * 2 ** max(0, attempts - 1)) if self.refresh_seconds else 0.0

    # The slow path: at most once per refresh interval (or per request while nothing is served).
    def _refresh(self, now: float) -> None:
        try:
            pointer = self._read_pointer()
        except _PointerGone as exc:
            if self._served is not None:
                _log("model_dropped", logging.WARNING, model_version=self._served.version, reason=str(exc))
            self._served, self._pointer, self._pending, self._pointer_etag = None, None, None, None
            self._no_pointer, self._read_errors = str(exc), 0
            self._next_check = now + self.refresh_seconds
            return
        except ModelUnavailable as exc:
            self._read_errors += 1
            self._next_check = now + self._backoff(self._read_errors)
            if self._pointer is None:
                self._no_pointer = str(exc)
            _log("pointer_unreadable", logging.WARNING, error=str(exc), serving=self.version)
            return
        self._read_errors = 0
        if pointer is not None:  # None: 304, the pointer we have is still current
            self._pointer = pointer
        version = self._pointer["version"]
        self._next_check = now + self.refresh_seconds
        if self._served is not None and self._served.version == version:
            self._pending = None
            return
        p = self._pending if self._pending is not None and self._pending.version == version else None
        if p is not None and now < p.next_retry:
            self._next_check = p.next_retry
            return
        try:
            served = self._load(self._pointer)
        except ModelUnavailable as exc:
            attempts = (p.attempts if p else 0) + 1
            retry = now + self._backoff(attempts)
            self._pending = _Pending(version, str(exc), attempts, p.first_seen if p else now, retry)
            self._next_check = retry
            _log("model_load_failed", logging.ERROR, model_version=version, error=str(exc), attempt=attempts,
                 retry_in_s=round(retry - now, 3), serving=self.version)
            return
        previous = self.version
        self._served, self._pending = served, None
        if previous and previous != version:
            _log("model_swapped", **{"from": previous, "to": version})

    def _get(self, key: str, etag: Optional[str] = None):
        self.pointer_reads += key == POINTER_KEY
        return self.reader.get(self.bucket, key, etag)

    def _read_pointer(self) -> Optional[dict]:
        """The pointer (None when unchanged since the last read); ``_PointerGone`` when absent or
        invalid; ``ModelUnavailable`` when it cannot be read now."""
        where = f"s3://{self.bucket}/{POINTER_KEY}"
        try:
            got = self._get(POINTER_KEY, self._pointer_etag if self._pointer is not None else None)
        except s3read.S3ReadError as exc:
            if exc.missing:
                raise _PointerGone(
                    f"no model is promoted: {where} does not exist. Run a training (upload data) or "
                    "`mlpipe deploy --part backend` to promote one.") from None
            raise ModelUnavailable(f"cannot read {where}: {exc}") from None
        if got.status == 304:
            return None
        try:
            pointer = json.loads(got.body)
            version, key = pointer["version"], pointer["model_key"]
            if not isinstance(version, str) or not isinstance(key, str) or not version or not key:
                raise TypeError("version and model_key must be non-empty strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise _PointerGone(f"{where} is not a valid pointer: {exc}") from None
        self._pointer_etag = got.etag
        return pointer

    def _load(self, pointer: dict) -> Served:
        from model_code import export

        started = time.perf_counter()
        version = pointer["version"]
        info = pointer.get("export")
        if not isinstance(info, dict) or not isinstance(info.get("key"), str):
            raise ModelUnavailable(
                f"model {version} has no serving export (models/latest.json names none): it was promoted "
                "by a trainer without exports; train again (upload data) to promote one")
        try:
            inline = pointer.get("export_inline")
            if inline is not None:
                model = export.from_document(inline, where=f"{version} (inline)")
                data = model.to_bytes()
            else:
                try:
                    data = self._get(info["key"]).body
                except s3read.S3ReadError as exc:
                    raise ModelUnavailable(f"model {version}: cannot read s3://{self.bucket}/{info['key']}: "
                                           f"{exc}") from None
                model = None
            if info.get("sha256") and hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise ModelUnavailable(f"model {version}: the export's sha256 is not the one models/latest.json "
                                       "names (a partial or replaced file)")
            if model is None:
                model = export.from_bytes(data, where=info["key"])
        except export.ExportError as exc:
            raise ModelUnavailable(f"model {version} could not be loaded: {exc}") from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:  # a damaged file: 503, never a crash
            raise ModelUnavailable(f"model {version} could not be loaded: {type(exc).__name__}: {exc}") from None
        try:
            spec = dataset_spec.from_dict(pointer["dataset"]) if pointer.get("dataset") else _default_spec()
        except (dataset_spec.SpecError, KeyError, TypeError, AttributeError) as exc:
            raise ModelUnavailable(f"model {version}: models/latest.json carries an invalid dataset schema: "
                                   f"{exc}") from None
        inputs = [f["name"] for f in model.encoder.features] if model.encoder is not None else \
            list(model.feature_names)
        if tuple(inputs) != spec.feature_names:
            raise ModelUnavailable(f"model {version} expects other features than its dataset file names")
        if model.task != spec.task:
            raise ModelUnavailable(f"model {version} is a {model.task} model, its dataset file a {spec.task} one")
        classes = model.classes
        positive = 0
        if spec.task != "regression":
            if len(classes) != len(spec.classes):
                raise ModelUnavailable(f"model {version} has {len(classes)} classes, its dataset file "
                                       f"{len(spec.classes)}")
            try:
                positive = classes.tolist().index(1)
            except ValueError:
                raise ModelUnavailable(f"model {version} has classes {classes.tolist()}; class 1 is missing") \
                    from None
        self.loads += 1
        _log("model_loaded", model_version=version, kind=model.kind, export_key=info["key"],
             inline=pointer.get("export_inline") is not None,
             load_ms=round((time.perf_counter() - started) * 1000, 1))
        return Served(model, version, classes, positive, spec)


class _PointerGone(Exception):
    """models/latest.json is absent or not a pointer: no model is promoted."""


# --------------------------------------------------------------------------- service


def _class_value(text: str):
    """A class's CSV value as the reply shows it: an int when it is a whole number ("1" -> 1)."""
    try:
        return int(text)
    except ValueError:
        return text


def _predict(served: Served, rows) -> dict:
    """The reply's fields for ``rows`` (a ``model_code.table.Table``)."""
    spec = served.spec
    out = served.model.output_rows(rows)
    if spec.task == "regression":
        return {"predictions": out.tolist(), "target": spec.target}
    idx = served.classes[out.argmax(axis=1)]
    labels = spec.class_labels
    values = [_class_value(v) for v in spec.class_values]
    reply = {
        "predictions": [values[i] for i in idx.tolist()],
        "labels": [labels[i] for i in idx.tolist()],
        "class_probabilities": [dict(zip((labels[c] for c in served.classes.tolist()), p)) for p in out.tolist()],
    }
    reply["probabilities"] = out[:, served.positive].tolist() if spec.task == "binary" else out.tolist()
    return reply


class PredictService:
    """Turns one API Gateway proxy event into one proxy response."""

    def __init__(self, store: ModelStore, max_rows: int = schema.MAX_ROWS_PER_REQUEST):
        self.store = store
        self.max_rows = int(max_rows)

    def _version(self) -> Optional[str]:
        """The version this environment serves now (loading it if due), or None: a bad
        request still names the model it would have been answered by."""
        try:
            return self.store.get().version
        except ModelUnavailable:
            return None

    def handle(self, event: Any, context: Any = None) -> dict:
        started = time.perf_counter()
        status, payload, n_rows = 500, None, 0
        try:
            instances = instances_of(event)
            try:
                served = self.store.get()
            except ModelUnavailable:  # a bad body still answers 400 (checked against the default dataset)
                rows_of(instances, None, self.max_rows)
                raise
            rows = rows_of(instances, served.spec, self.max_rows)
            n_rows = rows.n_rows
            status, payload = 200, {**_predict(served, rows), "model_version": served.version}
        except RequestError as exc:
            status, payload = 400, {"message": str(exc), "model_version": self._version()}
        except ModelUnavailable as exc:
            status, payload = 503, {"message": str(exc), "model_version": self.store.version}
        except Exception:  # a bug of ours: log it with its traceback, answer 500 with no internals
            glue_logs.log("internal_error", "mlpipe.predict", logging.ERROR, _exc_info=True,
                          request_id=_request_id(event, context))
            status, payload = 500, {"message": "internal error; see the function's logs",
                                    "model_version": self.store.version}
        response = respond(status, payload)
        _log_request(event, context, status, n_rows, self.store.version, started, payload)
        return response


def _request_id(event: Any, context: Any) -> Optional[str]:
    rid = getattr(context, "aws_request_id", None)
    if rid:
        return rid
    if isinstance(event, dict):
        rc = event.get("requestContext")
        if isinstance(rc, dict):
            return rc.get("requestId")
    return None


def _log_request(event, context, status, n_rows, version, started, payload) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    line = {
        "request_id": _request_id(event, context),
        "status": status,
        "model_version": version,
        "n_rows": n_rows,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if status != 200:
        line["message"] = payload.get("message")
    _log("predict", **line)


# --------------------------------------------------------------------------- wiring


def configure_logging(level: Optional[str] = None) -> None:
    """One JSON object per line on stdout (CloudWatch Logs keeps each as one event)."""
    if getattr(log, "_mlpipe_configured", False):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.propagate = False  # the Lambda runtime's root handler would print each line twice
    log.setLevel((level or os.environ.get("LOG_LEVEL") or "INFO").upper())
    log._mlpipe_configured = True


def _env_number(name: str, default, cast):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={raw!r} must not be negative")
    return value


def _s3_reader():
    return s3read.SignedS3Reader()


def from_environment() -> PredictService:
    """The service as the Lambda runs it, configured from its environment variables."""
    configure_logging()
    store = ModelStore(
        _s3_reader,
        os.environ.get("OUTPUT_BUCKET", ""),
        _env_number("MODEL_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS, float),
    )
    max_rows = _env_number("MAX_ROWS", schema.MAX_ROWS_PER_REQUEST, int)
    return PredictService(store, max_rows=max_rows or schema.MAX_ROWS_PER_REQUEST)


_service: Optional[PredictService] = None


def get_service() -> PredictService:
    """The execution environment's one service (built on the first request)."""
    global _service
    if _service is None:
        _service = from_environment()
    return _service


def handle(event: Any, context: Any = None) -> dict:
    """The Lambda entry point's work: the environment's service answers the event.

    A misconfigured function (e.g. no OUTPUT_BUCKET) answers 503 with the reason
    rather than failing every invocation with a stack trace.
    """
    try:
        service = get_service()
    except ValueError as exc:
        configure_logging()
        _log("misconfigured", logging.ERROR, error=str(exc))
        return respond(503, {"message": f"the predict function is misconfigured: {exc}", "model_version": None})
    return service.handle(event, context)
