"""Structured logs: one JSON line per event, with the function and the Lambda request id
(CloudWatch Logs Insights can filter on any field). The one logger of all five functions:
trigger, worker, stop_ec2 and reaper bind the invocation (``bind``); predict passes its
request id with each line."""
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
    """The named logger, at INFO unless a level was set (predict's ``LOG_LEVEL``)."""
    log = logging.getLogger(name)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    return log


def log(event: str, _logger: str = "mlpipe", _level: int = logging.INFO, _exc_info: bool = False,
        **fields) -> dict:
    """Log ``{"event": event, "request_id": ..., **fields}`` as one JSON line; returns it."""
    line = {"event": event, **_CONTEXT, **fields}
    logger(_logger).log(_level, json.dumps(line, default=str), exc_info=_exc_info)
    return line
