"""The HTTP side: moto's WSGI app, a quiet request handler, and the core's own routes.

Routes under /_localcloud/ (health, reset, shutdown) serve the CLI; a POST to moto's own
/moto-api/reset also ends the Lambda workers and instance hosts (via LocalCloud.reset).
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from .core import HEALTH_PATH, RESET_PATH, SHUTDOWN_PATH

log = logging.getLogger("localcloud")


def _cache_moto_module_list() -> None:
    """moto lists its package directory on every request to find a backend by host
    (`moto.backends.list_of_moto_modules`, ~180 stat calls, ~2 ms); the list never changes
    while we run, so compute it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_localcloud_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules():  # same contract: an iterable of module names
        return modules

    list_of_moto_modules._localcloud_cached = True
    backends.list_of_moto_modules = list_of_moto_modules


def make_moto_app() -> DomainDispatcherApplication:
    # Hook points: moto.server's WSGI app and moto.backends.list_of_moto_modules
    # (tests/integration/test_localcloud_hooks.py).
    _cache_moto_module_list()
    return DomainDispatcherApplication(create_backend_app)


class QuietRequestHandler(MotoRequestHandler):
    """moto's handler without werkzeug's per-request log line; errors go to our log."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # noqa: D102
        return

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        if type == "error":
            log.warning("http: " + message, *args)


def _json(start_response: Callable, status: str, doc: dict) -> list[bytes]:
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def core_middleware(app: Callable, cloud: Any) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not (path.startswith("/_localcloud/") or path == "/moto-api/reset"):
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH:
            return _json(start_response, "200 OK", cloud.health_doc())
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"message": "POST only"})
        if path in (RESET_PATH, "/moto-api/reset"):
            cloud.reset()
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == SHUTDOWN_PATH:
            threading.Thread(target=cloud.stop, name="localcloud-shutdown", daemon=True).start()
            return _json(start_response, "200 OK", {"status": "stopping"})
        return _json(start_response, "404 Not Found", {"message": f"unknown path {path}"})

    return middleware
