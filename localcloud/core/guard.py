"""The outermost WSGI layer: the local cloud is closed to web pages.

A student's browser runs beside the cloud. Any web page can make it send requests to
127.0.0.1: DNS rebinding (a hostile name resolving to 127.0.0.1, so the browser sends
`Host: attacker.example`) and "simple" cross-site requests (HTML forms: GET/POST with
`application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`, no custom
header) reach a server without a CORS preflight. So, before moto or any control path sees
a request:

1. **Host**: only the loopback names `127.0.0.1`, `localhost`, `[::1]` (and, for S3's
   virtual-hosted style, `<bucket>.localhost`, reserved for loopback by RFC 6761), with the
   cloud's port or none. Anything else -> 403 JSON.
2. **Cross-site**: an `Origin` that is not this cloud itself (`http://<loopback name>:<port>`),
   or a `Sec-Fetch-Site` other than `same-origin`/`none` -> 403 JSON. SDKs, the AWS CLI and
   curl send neither header; presigned URLs opened in a browser's address bar send
   `Sec-Fetch-Site: none`.
3. **Control paths** (`/_localcloud/*`, moto's `/moto-api/*`): only non-simple requests,
   i.e. ones carrying the `X-Localcloud-Control` header (any value) or a JSON content type;
   no HTML form can send either, and a page's script would need a CORS preflight, which this
   server never grants. The CLI and `localcloud.core.health` send the header.
"""
from __future__ import annotations

import json
from typing import Any, Callable

CONTROL_HEADER = "X-Localcloud-Control"
_CONTROL_ENV = "HTTP_X_LOCALCLOUD_CONTROL"
CONTROL_PREFIXES = ("/_localcloud/", "/moto-api/")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_FETCH_SITE_OK = ("same-origin", "none")


def _refuse(start_response: Callable, message: str, status: str = "403 Forbidden") -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("x-amzn-ErrorType", "ForbiddenException"),
                            ("Content-Length", str(len(body)))])
    return [body]


def host_allowed(host: str, port: int) -> bool:
    """Is `host` (a Host header value) a loopback name with this port or none?"""
    host = host.strip().lower()
    if not host:
        return False
    if host.startswith("["):  # [::1] or [::1]:port
        name, _, rest = host.partition("]")
        name += "]"
        if rest and not rest.startswith(":"):
            return False
        port_part = rest[1:] if rest else None
    else:
        name, sep, port_part = host.rpartition(":")
        if not sep:
            name, port_part = host, None
    if port_part is not None and port_part != str(port):
        return False
    if name.endswith("."):
        name = name[:-1]
    if name in _LOOPBACK:
        return True
    # S3 virtual-hosted style: <bucket>.localhost (RFC 6761: always loopback, never a
    # name an attacker can point at).
    return name.endswith(".localhost") and len(name) > len(".localhost") and \
        all(c.isalnum() or c in "-." for c in name)


def origin_allowed(origin: str, port: int) -> bool:
    """Is a browser's `Origin` this cloud itself?"""
    if not origin.startswith("http://"):
        return False  # "null", https://, another scheme: never this cloud
    host = origin[len("http://"):]
    has_port = ":" in host.rpartition("]")[2]
    return host_allowed(host, port) and (has_port or port == 80) and \
        not host.lower().split(":")[0].endswith(".localhost")


def is_control_path(path: str) -> bool:
    return path.startswith(CONTROL_PREFIXES) or path == "/moto-api"


def control_request_ok(environ: dict) -> bool:
    """A request no HTML form can produce: the control header or a JSON content type."""
    if _CONTROL_ENV in environ:
        return True
    ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    return ctype == "application/json" or (ctype.startswith("application/") and
                                            ctype.endswith("+json"))


def check(environ: dict, port: int) -> str | None:
    """None if the request may go on, else why it is refused (for the 403 body)."""
    host = environ.get("HTTP_HOST")
    if host is None or not host_allowed(host, port):
        return (f"Host {host!r} is not served: the local cloud answers only "
                f"127.0.0.1, localhost or [::1] (port {port})")
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and not origin_allowed(origin, port):
        return f"cross-site request from Origin {origin!r} refused"
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None and site.strip().lower() not in _FETCH_SITE_OK:
        return f"cross-site request (Sec-Fetch-Site: {site}) refused"
    if is_control_path(environ.get("PATH_INFO", "")) and not control_request_ok(environ):
        return (f"control path: send the {CONTROL_HEADER} header or a JSON content type "
                "(the localcloud CLI does)")
    return None


def guard_middleware(app: Callable, cloud: Any) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        reason = check(environ, cloud.port)
        if reason is not None:
            return _refuse(start_response, reason)
        return app(environ, start_response)

    return middleware
