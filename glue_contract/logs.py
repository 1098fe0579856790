"""Structured logs: one JSON line per event, with the function and the Lambda request id
(CloudWatch Logs Insights can filter on any field)."""
from __future__ import annotations

import json
import logging

_CONTEXT: dict = {}


def bind(context=None, **fields) -> None:
    """Start of an invocation: later lines carry ``request_id`` (from the Lambda context)
    and ``fields`` (e.g. ``function="worker"``)."""
    _CONTEXT.clear()
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        _CONTEXT["request_id"] = request_id
    _CONTEXT.update(fields)


def logger(name: str) -> logging.Logger:
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    return log


def log(event: str, _logger: str = "mlpipe", **fields) -> dict:
    """Log ``{"event": event, "request_id": ..., **fields}`` as one JSON line; returns it."""
    line = {"event": event, **_CONTEXT, **fields}
    logger(_logger).info(json.dumps(line, default=str))
    return line
