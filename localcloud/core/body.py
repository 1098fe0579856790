"""A request's body, read from the socket once and shared by every layer that needs it.

The signature check, the validation layer, IAM, the Lambda client-error checks and the
journal each need the whole body before the service reads it. ``read_body`` reads it once,
keeps it in ``environ["localcloud.body"]`` and puts it back as a fresh stream for whoever
reads ``wsgi.input`` next; ``replace_body`` swaps it (the validation layer's normalised JSON)
for every later reader.
"""
from __future__ import annotations

import io
import json
from typing import Any, Callable

_KEY = "localcloud.body"


class BodyUnreadable(ValueError):
    """The request body could not be read (a malformed chunked encoding)."""


def read_body(environ: dict) -> bytes:
    """The whole body (cached for the request), ``wsgi.input`` put back as a BytesIO."""
    cached = environ.get(_KEY)
    if cached is not None:
        return cached
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        try:
            body = stream.read()
        except (OSError, ValueError) as exc:
            raise BodyUnreadable(str(exc)) from exc
    else:
        length = environ.get("CONTENT_LENGTH") or ""
        body = stream.read(int(length)) if length.isdigit() and int(length) > 0 else b""
    replace_body(environ, body)
    return body


def read_json_object(environ: dict) -> dict | None:
    """The body as a JSON object (``{}`` when empty), None when it is not one: what a
    JSON-protocol (X-Amz-Target) operation served by the cloud itself reads."""
    try:
        doc = json.loads(read_body(environ) or b"{}")
    except (ValueError, BodyUnreadable):
        return None
    return doc if isinstance(doc, dict) else None


def replace_body(environ: dict, body: bytes) -> None:
    """``body`` is the request's body from now on, for every layer and the service."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ[_KEY] = body


def rewrite_response(app: Callable, environ: dict, start_response: Callable,
                     wanted: Callable[[str, list], bool],
                     rewrite: Callable[[str, list, bytes], tuple[str, list, bytes]]) -> Any:
    """Run ``app``; a response ``wanted(status, headers)`` selects is buffered and sent as
    ``rewrite(status, headers, body)`` returns it (``Content-Length`` set to the new body);
    any other passes through untouched. The one way the service patches correct an answer
    moto words differently from AWS (the services' apps never use ``write()``)."""
    seen: dict = {}

    def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
        if wanted(status, headers):
            seen.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None
        return start_response(status, headers, exc_info)

    result = app(environ, capture)
    if "status" not in seen:
        return result
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    status, headers, body = rewrite(seen["status"], seen["headers"], body)
    headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
    start_response(status, headers, seen["exc_info"])
    return [body]
