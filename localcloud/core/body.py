"""A request's body, read from the socket once and shared by every layer that needs it.

The signature check, the validation layer, IAM, the Lambda client-error checks and the
journal each need the whole body before the service reads it. ``read_body`` reads it once,
keeps it in ``environ["localcloud.body"]`` and puts it back as a fresh stream for whoever
reads ``wsgi.input`` next; ``replace_body`` swaps it (the validation layer's normalised JSON)
for every later reader.
"""
from __future__ import annotations

import io

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


def replace_body(environ: dict, body: bytes) -> None:
    """``body`` is the request's body from now on, for every layer and the service."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    environ[_KEY] = body
