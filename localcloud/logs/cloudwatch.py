"""Logs: the localcloud log file, and Lambda output in moto's CloudWatch Logs backend."""
from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger("localcloud")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def attach_file_log(path: Path) -> logging.Handler:
    """Send the `localcloud` logger to `path` (INFO and up). Returns the handler."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    return handler


def detach_file_log(handler: logging.Handler) -> None:
    log.removeHandler(handler)
    handler.close()


def quiet_third_party() -> None:
    """No per-request server lines, no Docker chatter."""
    for name in ("werkzeug", "docker", "urllib3.connectionpool", "moto"):
        logging.getLogger(name).setLevel(logging.ERROR)


def lambda_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def _logs_backend(account_id: str, region: str):
    from moto.logs.models import logs_backends
    return logs_backends[account_id][region]


def ensure_stream(account_id: str, region: str, group: str, stream: str) -> None:
    backend = _logs_backend(account_id, region)
    backend.ensure_log_group(group)
    if stream not in backend.groups[group].streams:
        backend.create_log_stream(group, stream)


def put_lines(account_id: str, region: str, group: str, stream: str,
              lines: list[str], timestamp_ms: int | None = None) -> None:
    """Append lines to a CloudWatch Logs stream in moto's backend (creating group/stream)."""
    if not lines:
        return
    ensure_stream(account_id, region, group, stream)
    ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    backend = _logs_backend(account_id, region)
    backend.put_log_events(group, stream, [{"timestamp": ts, "message": line} for line in lines])
