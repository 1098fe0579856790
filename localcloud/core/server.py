"""The HTTP side: moto's WSGI app, a quiet request handler, and the core's own routes.

Routes under /_localcloud/ (health, reset, shutdown) serve the CLI; a POST to moto's own
/moto-api/reset also ends the Lambda workers and instance hosts (via LocalCloud.reset).
"""
from __future__ import annotations

import email.utils
import json
import logging
import socket
import threading
import time
from typing import Any, Callable

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from .paths import HEALTH_PATH, MOTO_RESET_PATH, RESET_PATH, SHUTDOWN_PATH

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


_CONNECTION_DROPPED = (ConnectionError, BrokenPipeError, TimeoutError, socket.timeout)
# Bytes of an unread request body drained after the response to keep a connection alive;
# beyond this the connection is closed instead (after reading what was sent, as werkzeug does).
_MAX_DRAIN = 64 << 20
IDLE_TIMEOUT_S = 75.0  # an idle keep-alive connection is closed after this (ALB's default 60)


class _BodyReader:
    """`wsgi.input` of a keep-alive connection: never reads past Content-Length (an app that
    reads "everything" must not swallow the next request), and remembers what is unread."""

    __slots__ = ("_f", "remaining")

    def __init__(self, rfile: Any, length: int):
        self._f = rfile
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._f.read(size)
        self.remaining = self.remaining - len(data) if data else 0
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = self._f.readline(size)
        self.remaining = self.remaining - len(data) if data else 0
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def drain(self, limit: int) -> bool:
        """Read and drop the unread rest; False if it was over `limit` or the peer went away."""
        if self.remaining > limit:
            return False
        while self.remaining > 0:
            if not self.read(min(self.remaining, 1 << 20)):
                return False
        return True


_date_cache: list = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
        _date_cache[0] = now
    return _date_cache[1]


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (its environ keeps underscored header names) with HTTP/1.1
    keep-alive that works, no per-request log line, and errors sent to our log.

    werkzeug >= 2.1 answers every request with `Connection: close`, so each request pays a
    TCP connect, an accept and a new server thread (about 1.5 ms here). This handler keeps
    the connection open: the body is read through a Content-Length-bounded reader and any
    unread rest is drained after the response; the status line, headers and a body of known
    length go out in one send with TCP_NODELAY. A request with `Connection: close`, an
    HTTP/1.0 request, an undrainable body or an error after the headers went out closes it.
    """

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conns = getattr(self.server, "_localcloud_connections", None)
        if conns is not None:
            conns.add(self.connection)

    def finish(self) -> None:
        conns = getattr(self.server, "_localcloud_connections", None)
        if conns is not None:
            conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:  # noqa: D102
        return

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Errors found before the app runs (a header line over 64 KB or more than 100
        headers -> 431, a bad request line -> 400, 414) as JSON `{"message": ...}`, the shape
        of every other error here, never http.server's HTML page. The connection is closed:
        what follows a malformed request cannot be trusted."""
        try:
            short, _ = self.responses[code]
        except KeyError:
            short = "Error"
        text = message or short
        if code == 431:
            text = "Request Header Fields Too Large"
        body = json.dumps({"message": text}).encode()
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        try:
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            if 200 <= code and code not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if getattr(self, "command", None) != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        if type == "error" and not message.startswith("Request timed out"):
            log.warning("http: " + message, *args)

    def run_wsgi(self) -> None:  # noqa: C901 - one request, start to end
        environ = self.make_environ()
        # Header names as the client sent them (WSGI's HTTP_* keys lose their case).
        environ["localcloud.raw_headers"] = list(self.headers.items())
        self.environ = environ
        body: _BodyReader | None = None
        if not environ.get("wsgi.input_terminated"):  # chunked bodies are dechunked by werkzeug
            raw_length = environ.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw_length)
                if length < 0:
                    raise ValueError
            except ValueError:
                length = 0
                self.close_connection = True
            body = _BodyReader(self.rfile, length)
            environ["wsgi.input"] = body
        is_head = environ["REQUEST_METHOD"] == "HEAD"
        state: dict[str, Any] = {"status": None, "headers": None, "sent": False, "chunked": False}

        def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
            if exc_info:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["headers"] is not None:
                raise AssertionError("Headers already set")
            state["status"], state["headers"] = status, headers
            return write

        def head_bytes() -> bytes:
            status = state["status"]
            code = int(status.split(None, 1)[0])
            lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}",
                     f"Date: {_http_date()}"]
            has_length = False
            for key, value in state["headers"]:
                lines.append(f"{key}: {value}")
                if key.lower() == "content-length":
                    has_length = True
            if not (has_length or is_head or 100 <= code < 200 or code in (204, 304)):
                if self.request_version >= "HTTP/1.1":
                    state["chunked"] = True
                    lines.append("Transfer-Encoding: chunked")
                else:
                    self.close_connection = True
            if self.close_connection:
                lines.append("Connection: close")
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        def write(data: bytes) -> None:
            assert state["status"] is not None, "write() before start_response"
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError("applications must write bytes")
            out = b""
            if not state["sent"]:
                out = head_bytes()
                state["sent"] = True
            if data and not is_head:
                if state["chunked"]:
                    out += b"%x\r\n" % len(data) + data + b"\r\n"
                else:
                    out += data
            if out:
                self.wfile.write(out)

        app_iter = None
        try:
            app_iter = self.server.app(environ, start_response)
            for data in app_iter:
                write(data)
            if not state["sent"]:
                write(b"")
            if state["chunked"]:
                self.wfile.write(b"0\r\n\r\n")
        except _CONNECTION_DROPPED:
            self.close_connection = True
            return
        except Exception:  # noqa: BLE001 - a bug below us: a 500, or a closed connection
            log.exception("http: error on %s %s", environ.get("REQUEST_METHOD"),
                          environ.get("PATH_INFO"))
            self.close_connection = True
            if not state["sent"]:
                msg = b'{"message": "Internal server error"}'
                state.update(status="500 INTERNAL SERVER ERROR", chunked=False, headers=[
                    ("Content-Type", "application/json"), ("Content-Length", str(len(msg)))])
                try:
                    write(msg)
                except _CONNECTION_DROPPED:
                    pass
            return
        finally:
            if hasattr(app_iter, "close"):
                try:
                    app_iter.close()
                except Exception:  # noqa: BLE001
                    log.exception("http: closing the response failed")
        # What the app left unread must go before the next request line can be read.
        try:
            if body is not None:
                if not body.drain(_MAX_DRAIN):
                    self.close_connection = True
            else:
                stream = environ["wsgi.input"]
                drained = 0
                while drained <= _MAX_DRAIN:
                    chunk = stream.read(1 << 20)
                    if not chunk:
                        break
                    drained += len(chunk)
                else:
                    self.close_connection = True
        except (OSError, ValueError):
            self.close_connection = True


def close_connections(server: Any) -> None:
    """End every open keep-alive connection of a server (its threads then exit)."""
    for conn in list(getattr(server, "_localcloud_connections", ())):
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _json(start_response: Callable, status: str, doc: dict) -> list[bytes]:
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def core_middleware(app: Callable, cloud: Any) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not (path.startswith("/_localcloud/") or path == MOTO_RESET_PATH):
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH:
            return _json(start_response, "200 OK", cloud.health_doc())
        if method != "POST" and path == MOTO_RESET_PATH:  # moto's own answer, word for word
            return _json(start_response, "400 Bad Request", {"Error": "Need to POST to reset Moto"})
        if method != "POST":
            return _json(start_response, "405 Method Not Allowed", {"message": "POST only"})
        if path in (RESET_PATH, MOTO_RESET_PATH):
            cloud.reset()
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == SHUTDOWN_PATH:
            threading.Thread(target=cloud.stop, name="localcloud-shutdown", daemon=True).start()
            return _json(start_response, "200 OK", {"status": "stopping"})
        return _json(start_response, "404 Not Found", {"message": f"unknown path {path}"})

    return middleware
