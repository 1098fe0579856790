"""The localcloud log file (the `localcloud` logger) and quieter third-party loggers."""
from __future__ import annotations

import logging
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
