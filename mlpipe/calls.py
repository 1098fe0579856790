"""The AWS API calls a step makes, recorded from botocore's own event hooks.

Every client of ``mlpipe.clients.client`` carries two handlers (``attach``):
``provide-client-params.*.*`` sees the parameters the caller passed, ``after-call.*.*``
the parsed answer (or the error) of the same call (botocore hands both handlers the
same ``context`` dict). They record only while a ``Recorder`` is active, so outside a
``with record() as calls:`` block they cost a dict lookup.

    with record() as calls:
        buckets.ensure(stack)
    calls.table()                                       # service, operation, parameters, answer
    calls.code("PutBucketNotificationConfiguration")    # the boto3 call a student could type

Secrets are masked where they are recorded (API key values, credentials, passwords),
and bodies or zip bytes are shown by size only.
"""
from __future__ import annotations

import copy
import datetime as _dt
import json
import keyword
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from botocore import xform_name

# Keys whose values are secrets, as the APIs spell them (API Gateway's key ``value``;
# a tag's ``Value`` is not one).
SECRET_KEYS = {"value", "SecretAccessKey", "secretAccessKey", "SessionToken", "sessionToken",
               "Password", "SecretString", "aws_secret_access_key", "aws_session_token"}
# Keys whose values are payloads: shown as their size.
PAYLOAD_KEYS = {"body", "zipfile", "payload", "content", "userdata"}

_lock = threading.Lock()
_active: list["Recorder"] = []
_CTX_KEY = "mlpipe_call"


def mask(secret: Any) -> str:
    text = str(secret)
    return text[:4] + "****" if len(text) > 8 else "****"


def _size(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return f"<{len(value)} characters>" if len(value) > 200 else value
    if hasattr(value, "read"):
        return "<stream>"
    return f"<{type(value).__name__}>"


def _is_patch_operation(value: dict) -> bool:
    """``{"op": "replace", "path": "/throttle/rateLimit", "value": "5"}``: its ``value`` is a
    setting (a rate, a limit), not a secret."""
    return "op" in value and "path" in value and not str(value["path"]).lower().endswith("value")


def clean(value: Any, key: str = "") -> Any:
    """A copy of ``value`` safe to show: secrets masked (only secrets), payloads by size,
    times as text."""
    low = key.lower()
    if key in SECRET_KEYS and isinstance(value, (str, bytes)):
        return mask(value)
    if low in PAYLOAD_KEYS and not isinstance(value, (dict, list)):
        return _size(value)
    if isinstance(value, dict):
        if _is_patch_operation(value):
            return {k: (v if k == "value" else clean(v, str(k))) for k, v in value.items()}
        return {k: clean(v, str(k)) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, (list, tuple)):
        return [clean(v, key) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if hasattr(value, "read"):
        return "<stream>"
    return value


@dataclass
class Call:
    """One AWS API call: who, what, with which parameters, and what came back."""

    service: str            # the boto3 client name: "s3", "apigateway", "lambda" ...
    operation: str          # the API's name: "PutBucketNotificationConfiguration"
    params: dict            # as passed by the caller (cleaned)
    status: int | None = None
    answer: Any = None      # the parsed answer without ResponseMetadata (cleaned)
    error: str | None = None  # "Code: message" when AWS answered with an error

    @property
    def method(self) -> str:
        """The boto3 method: ``put_bucket_notification_configuration``."""
        return xform_name(self.operation)

    @property
    def variable(self) -> str:
        """The client's variable name in the code: the service, unless that is a keyword."""
        name = self.service.replace("-", "_")
        return f"{name}_client" if keyword.iskeyword(name) else name

    def code(self, max_answer_lines: int = 24) -> str:
        """The call as Python a student could type, with its answer as a comment."""
        var = self.variable
        lines = [f'{var} = boto3.client("{self.service}")']
        if self.params:
            lines.append(f"{var}.{self.method}(")
            for k, v in self.params.items():
                lines.append(f"    {k}={_literal(v, 4)},")
            lines.append(")")
        else:
            lines.append(f"{var}.{self.method}()")
        if self.error:
            lines.append(f"# -> error {self.error}")
        elif self.answer:
            shown = _literal(self.answer, 0, width=84).splitlines()
            if len(shown) > max_answer_lines:
                shown = shown[:max_answer_lines] + [f"... ({len(shown) - max_answer_lines} more lines)"]
            lines.append("# -> " + "\n#    ".join(shown))
        else:
            lines.append(f"# -> HTTP {self.status}, empty answer")
        return "\n".join(lines)


def _literal(value: Any, indent: int, width: int = 88) -> str:
    """``value`` as a Python literal, one item per line where it does not fit on one."""
    flat = repr(value)
    if indent + len(flat) <= width or not isinstance(value, (dict, list, tuple)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = [f"{pad}{k!r}: {_literal(v, indent + 4, width)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_literal(v, indent + 4, width)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def _short(value: Any, width: int) -> str:
    text = json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= width else text[: width - 3] + "..."


class Code(str):
    """Python source that Jupyter shows as a highlighted block and print() as text."""

    def _repr_markdown_(self) -> str:
        return f"```python\n{self}\n```"

    def __repr__(self) -> str:
        return str(self)


@dataclass
class Recorder:
    calls: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self):
        return iter(self.calls)

    def find(self, operation: str, *, last: bool = False, **params) -> Call | None:
        """The first (or last) call of ``operation`` whose parameters include ``params``."""
        found = [c for c in self.calls if c.operation == operation
                 and all(c.params.get(k) == v for k, v in params.items())]
        if not found:
            return None
        return found[-1] if last else found[0]

    def code(self, operation: str, *, otherwise: str | None = None, **params) -> Code:
        """One recorded call in full, as the boto3 code that makes it.

        ``otherwise``: the read to show when the step found everything in place and so
        made no ``operation`` call (e.g. the Get that found the configuration)."""
        call = self.find(operation, **params)
        if call is None and otherwise:
            read = self.find(otherwise, last=True, **params)
            if read is not None:
                return Code(f"# no {operation} this time: the step found it in place; the read "
                            f"that found it:\n{read.code()}")
        if call is None:
            done = ", ".join(sorted({c.operation for c in self.calls})) or "none"
            return Code(f"# no {operation} call was made this time (the step found everything "
                        f"in place); the calls made: {done}")
        return Code(call.code())

    def table(self, *, operations: Iterable[str] | None = None, width: int = 110):
        """The calls as a table: service, operation, the parameters, the answer (compact)."""
        import pandas as pd

        keep = set(operations) if operations else None
        rows = []
        for c in self.calls:
            if keep and c.operation not in keep:
                continue
            answer = f"error {c.error}" if c.error else _short(c.answer, width) if c.answer else f"HTTP {c.status}"
            rows.append({"service": c.service, "operation": c.operation,
                         "parameters": _short(c.params, width), "answer": answer})
        return pd.DataFrame(rows, columns=["service", "operation", "parameters", "answer"])

    def counts(self):
        """How many calls of each operation (reads and writes), in the order first made."""
        import pandas as pd

        seen: dict = {}
        for c in self.calls:
            k = (c.service, c.operation)
            seen[k] = seen.get(k, 0) + 1
        return pd.DataFrame([{"service": s, "operation": o, "calls": n} for (s, o), n in seen.items()],
                            columns=["service", "operation", "calls"])

    def writes(self) -> "Recorder":
        """Only the calls that change something (not Get/List/Describe/Head)."""
        reads = ("Get", "List", "Describe", "Head")
        return Recorder([c for c in self.calls if not c.operation.startswith(reads)])

    def __enter__(self) -> "Recorder":
        with _lock:
            _active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        with _lock:
            if self in _active:
                _active.remove(self)


def record() -> Recorder:
    """``with record() as calls:`` records every call made through mlpipe's clients."""
    return Recorder()


def _service_name(model) -> str:
    return model.service_model.service_name


def _on_params(params=None, model=None, context=None, **_):
    if not _active or context is None or model is None:
        return None
    call = Call(service=_service_name(model), operation=model.name,
                params=clean(copy.copy(params or {})))
    context[_CTX_KEY] = call
    with _lock:
        for rec in _active:
            rec.calls.append(call)
    return None


def _on_after_call(http_response=None, parsed=None, model=None, context=None, **_):
    call = (context or {}).get(_CTX_KEY)
    if call is None:
        return
    call.status = getattr(http_response, "status_code", None)
    parsed = parsed or {}
    err = parsed.get("Error") if isinstance(parsed, dict) else None
    if err and (call.status or 0) >= 300:
        call.error = f"{err.get('Code')}: {err.get('Message')}"
    else:
        call.answer = clean(parsed)


def _on_after_call_error(exception=None, context=None, **_):
    call = (context or {}).get(_CTX_KEY)
    if call is not None and call.error is None:
        call.error = f"{type(exception).__name__}: {exception}"


def attach(client) -> None:
    """Register the recording hooks on one boto3 client (mlpipe.clients does it for each)."""
    events = client.meta.events
    events.register("provide-client-params.*.*", _on_params, unique_id="mlpipe-calls-params")
    events.register("after-call.*.*", _on_after_call, unique_id="mlpipe-calls-after")
    events.register("after-call-error.*.*", _on_after_call_error, unique_id="mlpipe-calls-error")
