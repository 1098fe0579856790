"""The predict service: request parsing, the served model, the response.

Everything the predict Lambda does lives here; ``handler.py`` only forwards the event.
Pure functions (``parse_body``, ``respond``) need no AWS; ``ModelStore`` takes its S3
client factory, clock and loader as arguments, so tests pass fakes and no flag.

Request:  ``{"instances": [{feature: number, ...}, ...]}`` (API Gateway REST proxy event).
Response: 200 ``{"predictions": [0|1, ...], "probabilities": [P(class 1), ...],
"model_version": "v003"}``. ``probabilities[i]`` is the probability of class 1
(``benign`` in scikit-learn's encoding) for row i; ``predictions[i]`` is the class
the model's ``predict_proba`` ranks first (what ``model.predict`` returns).
Bad input -> 400 ``{"message": ...}`` naming the field, row or limit; no model yet,
or a model this runtime cannot load -> 503 ``{"message": ...}``. Never a 5xx for bad input.

The model: ``models/latest.json`` in ``OUTPUT_BUCKET`` names it (``version``,
``model_key``). It is downloaded (``model.joblib`` + ``model_card.json``) to the temp
dir and loaded with ``model_code.artifacts.load`` once per execution environment; the
pointer is re-read at most every ``MODEL_REFRESH_SECONDS`` (default 30), so a newly
promoted model is served without a redeploy. While no model is loaded the pointer is
re-read on every request, so the first promotion is served at once.

Environment: ``OUTPUT_BUCKET`` (required), ``MODEL_REFRESH_SECONDS`` (30),
``MAX_ROWS`` (``model_code.schema.MAX_ROWS_PER_REQUEST``), ``LOG_LEVEL`` (INFO),
``MODEL_CACHE_DIR`` (``<tempdir>/mlpipe-models``).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable, NamedTuple, Optional

from model_code import schema

POINTER_KEY = "models/latest.json"
DEFAULT_REFRESH_SECONDS = 30.0
JSON_HEADERS = {"Content-Type": "application/json"}

log = logging.getLogger("mlpipe.predict")


# --------------------------------------------------------------------------- errors


class RequestError(ValueError):
    """The request is bad: answered with 400 and this message."""


class ModelUnavailable(RuntimeError):
    """No model can be served right now: answered with 503 and this message."""


# --------------------------------------------------------------------------- request


def _reject_constant(name: str):
    # json accepts the non-standard literals NaN, Infinity and -Infinity; JSON does not.
    raise RequestError(f"the body contains {name}, which is not valid JSON; send finite numbers")


def parse_body(event: Any, max_rows: int = schema.MAX_ROWS_PER_REQUEST):
    """The ``instances`` of an API Gateway proxy event as a float array (n, 30).

    Raises ``RequestError`` with a message for a person for every bad body.
    """
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
    try:
        return schema.validate_instances(doc["instances"], max_rows=max_rows)
    except schema.SchemaError as exc:
        raise RequestError(str(exc)) from None


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
    model: Any
    version: str
    classes: Any  # the model's classes_, so predictions come from one predict_proba
    positive: int  # column of class 1 in predict_proba's output


def _default_loader(directory: str):
    from model_code import artifacts

    return artifacts.load(directory)


def _incompatible_errors() -> tuple:
    from model_code.artifacts import IncompatibleModelError

    return (IncompatibleModelError,)


def _is_missing(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("NoSuchKey", "404", "NotFound")


class ModelStore:
    """The model named by ``models/latest.json``, loaded once, re-checked every N seconds.

    ``s3_factory()`` returns an S3 client (called once, on first use: no client at
    import time). ``clock`` is monotonic seconds. ``loader(dir)`` loads a model folder.
    """

    def __init__(
        self,
        s3_factory: Callable[[], Any],
        bucket: str,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_dir: Optional[str] = None,
        loader: Callable[[str], Any] = _default_loader,
    ):
        if not bucket:
            raise ValueError("OUTPUT_BUCKET is not set: the predict function needs the output bucket's name")
        self._s3_factory = s3_factory
        self._s3 = None
        self.bucket = bucket
        self.refresh_seconds = float(refresh_seconds)
        self._clock = clock
        self.cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), "mlpipe-models")
        self._loader = loader
        self._served: Optional[Served] = None
        self._checked_at: Optional[float] = None
        self._failed: Optional[tuple] = None  # (pointer version, message) of a refused model
        self.loads = 0  # how many models this environment has loaded (tests, logs)

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3

    @property
    def version(self) -> Optional[str]:
        return self._served.version if self._served else None

    def get(self) -> Served:
        """The model to serve now; raises ``ModelUnavailable`` when there is none."""
        now = self._clock()
        due = (
            self._served is None
            or self._checked_at is None
            or now - self._checked_at >= self.refresh_seconds
        )
        if due:
            self._refresh(now)
        if self._served is None:
            raise ModelUnavailable(self._failed[1] if self._failed else "no model is loaded")
        return self._served

    # The slow path: at most once per refresh interval (or per request while no model).
    def _refresh(self, now: float) -> None:
        try:
            pointer = self._read_pointer()
        except ModelUnavailable as exc:
            self._checked_at = now
            if self._served is not None:
                log.warning(json.dumps({"event": "pointer_unreadable", "error": str(exc),
                                        "serving": self._served.version}))
                return
            self._failed = (None, str(exc))
            raise
        self._checked_at = now
        version = pointer["version"]
        if self._served is not None and self._served.version == version:
            return
        if self._failed is not None and self._failed[0] == version:
            return  # already refused this version; keep what we serve (or nothing)
        try:
            self._served = self._load(version, pointer["model_key"])
            self._failed = None
        except ModelUnavailable as exc:
            self._failed = (version, str(exc))
            log.error(json.dumps({"event": "model_refused", "model_version": version, "error": str(exc),
                                  "serving": self.version}))
            if self._served is None:
                raise

    def _read_pointer(self) -> dict:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=POINTER_KEY)
            raw = obj["Body"].read()
        except Exception as exc:  # botocore ClientError / endpoint errors
            if _is_missing(exc):
                raise ModelUnavailable(
                    f"no model has been promoted yet: s3://{self.bucket}/{POINTER_KEY} does not exist. "
                    "Run a training (upload data) or `mlpipe deploy --part backend` to seed one."
                ) from None
            raise ModelUnavailable(f"cannot read s3://{self.bucket}/{POINTER_KEY}: {exc}") from None
        try:
            pointer = json.loads(raw)
            version, key = pointer["version"], pointer["model_key"]
            if not isinstance(version, str) or not isinstance(key, str) or not version or not key:
                raise TypeError("version and model_key must be non-empty strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"s3://{self.bucket}/{POINTER_KEY} is not a valid pointer: {exc}") from None
        return pointer

    def _download(self, key: str, path: str, required: bool) -> bool:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
            with open(path, "wb") as fh:
                shutil.copyfileobj(obj["Body"], fh, 1 << 20)
            return True
        except Exception as exc:
            if not required and _is_missing(exc):
                return False
            raise ModelUnavailable(f"cannot download s3://{self.bucket}/{key}: {exc}") from None

    def _load(self, version: str, model_key: str) -> Served:
        started = time.perf_counter()
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in version)
        directory = os.path.join(self.cache_dir, safe)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
        prefix = model_key.rsplit("/", 1)[0] + "/" if "/" in model_key else ""
        self._download(model_key, os.path.join(directory, "model.joblib"), required=True)
        self._download(prefix + "model_card.json", os.path.join(directory, "model_card.json"), required=False)
        try:
            model = self._loader(directory)
        except _incompatible_errors() as exc:
            raise ModelUnavailable(f"model {version} cannot be served: {exc}") from None
        except Exception as exc:  # a corrupt pickle or card: refuse, never crash
            raise ModelUnavailable(f"model {version} could not be loaded: {type(exc).__name__}: {exc}") from None
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # loaded into memory; keep /tmp small
        classes = getattr(model, "classes_", None)
        if classes is None or not hasattr(model, "predict_proba"):
            raise ModelUnavailable(f"model {version} is not a classifier with predict_proba")
        try:
            positive = list(classes).index(1)
        except ValueError:
            raise ModelUnavailable(f"model {version} has classes {list(classes)}; class 1 is missing") from None
        self.loads += 1
        log.info(json.dumps({"event": "model_loaded", "model_version": version, "model_key": model_key,
                             "load_ms": round((time.perf_counter() - started) * 1000, 1)}))
        return Served(model, version, classes, positive)


# --------------------------------------------------------------------------- service


def _predict(served: Served, X):
    import sklearn

    # Rows are already checked finite by the schema and the model's parameters were checked
    # when it was fitted: skip sklearn's own re-checks (~0.15 ms of ~0.65 ms for one row).
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        proba = served.model.predict_proba(X)
    labels = served.classes[proba.argmax(axis=1)]
    return labels.tolist(), proba[:, served.positive].tolist()


class PredictService:
    """Turns one API Gateway proxy event into one proxy response."""

    def __init__(self, store: ModelStore, max_rows: int = schema.MAX_ROWS_PER_REQUEST):
        self.store = store
        self.max_rows = int(max_rows)

    def handle(self, event: Any, context: Any = None) -> dict:
        started = time.perf_counter()
        status, payload, n_rows = 500, None, 0
        try:
            X = parse_body(event, self.max_rows)
            n_rows = len(X)
            served = self.store.get()
            predictions, probabilities = _predict(served, X)
            status, payload = 200, {
                "predictions": predictions,
                "probabilities": probabilities,
                "model_version": served.version,
            }
        except RequestError as exc:
            status, payload = 400, {"message": str(exc)}
        except ModelUnavailable as exc:
            status, payload = 503, {"message": str(exc)}
        except Exception:  # a bug of ours: log it with its traceback, answer 500 with no internals
            log.exception(json.dumps({"event": "internal_error", "request_id": _request_id(event, context)}))
            status, payload = 500, {"message": "internal error; see the function's logs"}
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
        "event": "predict",
        "request_id": _request_id(event, context),
        "status": status,
        "model_version": version,
        "n_rows": n_rows,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if status != 200:
        line["message"] = payload.get("message")
    log.info(json.dumps(line))


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


def _s3_client():
    import boto3

    return boto3.client("s3")


def from_environment() -> PredictService:
    """The service as the Lambda runs it, configured from its environment variables."""
    configure_logging()
    store = ModelStore(
        _s3_client,
        os.environ.get("OUTPUT_BUCKET", ""),
        _env_number("MODEL_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS, float),
        cache_dir=os.environ.get("MODEL_CACHE_DIR") or None,
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
        log.error(json.dumps({"event": "misconfigured", "error": str(exc)}))
        return respond(503, {"message": f"the predict function is misconfigured: {exc}"})
    return service.handle(event, context)
