"""API Gateway's control-plane quotas, under `--like-aws` (`localcloud.core.profile`,
`apigateway_control_rate_scale`, 0 = off by default; the `aws` profile: 1).

AWS ("API Gateway quotas for creating, deploying and managing an API", fixed per account and
Region, cannot be increased): over a quota the call answers `429 TooManyRequestsException`
with a `Retry-After` header (seconds). The quotas, as token buckets (rate per second, burst):

| operation | AWS's quota |
|---|---|
| CreateApiKey, CreateResource, DeleteApiKey, DeleteResource | 5 per second |
| CreateDeployment | 1 every 5 seconds |
| CreateDocumentationVersion | 1 every 20 seconds |
| CreateDomainName, DeleteDomainName, UpdateDomainName | 1 every 30 seconds |
| CreateRestApi, ImportRestApi (regional or private) | 1 every 3 seconds |
| DeleteRestApi | 1 every 30 seconds |
| GetResources | 5 every 2 seconds |
| ImportDocumentationParts | 1 every 30 seconds |
| PutRestApi | 1 per second |
| UpdateAccount, UpdateUsagePlan | 1 every 20 seconds |
| every control-plane operation, together | 10 per second, burst 40 |

The scale multiplies every rate (2 = twice as many requests in the same time). The API data
plane (`/_user_request_/`, invoke URLs) is not counted: its throttling is the usage plans'.
"""
from __future__ import annotations

import math
import re
import threading
import time
from typing import Any, Callable

# operation -> (requests, per seconds)
QUOTAS: dict[str, tuple[float, float]] = {
    "CreateApiKey": (5, 1), "CreateResource": (5, 1), "DeleteApiKey": (5, 1),
    "DeleteResource": (5, 1), "CreateDeployment": (1, 5),
    "CreateDocumentationVersion": (1, 20), "CreateDomainName": (1, 30),
    "DeleteDomainName": (1, 30), "UpdateDomainName": (1, 30), "CreateRestApi": (1, 3),
    "ImportRestApi": (1, 3), "DeleteRestApi": (1, 30), "GetResources": (5, 2),
    "ImportDocumentationParts": (1, 30), "PutRestApi": (1, 1), "UpdateAccount": (1, 20),
    "UpdateUsagePlan": (1, 20),
}
TOTAL = (10.0, 1.0, 40.0)  # 10 per second, burst 40

_ROUTES: list[tuple[str, re.Pattern, str]] = [
    ("POST", re.compile(r"^/apikeys/?$"), "CreateApiKey"),
    ("DELETE", re.compile(r"^/apikeys/[^/]+/?$"), "DeleteApiKey"),
    ("POST", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "CreateResource"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "DeleteResource"),
    ("GET", re.compile(r"^/restapis/[^/]+/resources/?$"), "GetResources"),
    ("POST", re.compile(r"^/restapis/[^/]+/deployments/?$"), "CreateDeployment"),
    ("POST", re.compile(r"^/restapis/[^/]+/documentation/versions/?$"),
     "CreateDocumentationVersion"),
    ("PUT", re.compile(r"^/restapis/[^/]+/documentation/parts/?$"), "ImportDocumentationParts"),
    ("POST", re.compile(r"^/domainnames/?$"), "CreateDomainName"),
    ("DELETE", re.compile(r"^/domainnames/[^/]+/?$"), "DeleteDomainName"),
    ("PATCH", re.compile(r"^/domainnames/[^/]+/?$"), "UpdateDomainName"),
    ("POST", re.compile(r"^/restapis/?$"), "CreateRestApi"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/?$"), "DeleteRestApi"),
    ("PUT", re.compile(r"^/restapis/[^/]+/?$"), "PutRestApi"),
    ("PATCH", re.compile(r"^/account/?$"), "UpdateAccount"),
    ("PATCH", re.compile(r"^/usageplans/[^/]+/?$"), "UpdateUsagePlan"),
]
_CONTROL_PREFIXES = ("/restapis", "/apikeys", "/usageplans", "/domainnames", "/account",
                     "/clientcertificates", "/vpclinks", "/tags", "/sdktypes")


def operation(environ: dict) -> str | None:
    """The control-plane operation a request is, if it is one ("" = one without its own
    quota), else None."""
    path = environ.get("PATH_INFO", "")
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "/apigateway/aws4_request" not in auth or "/_user_request_" in path or \
            not path.startswith(_CONTROL_PREFIXES):
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    for m, pattern, name in _ROUTES:
        if m == method and pattern.match(path):
            if name == "CreateRestApi" and "mode=import" in environ.get("QUERY_STRING", ""):
                return "ImportRestApi"
            return name
    return ""


class _Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float):
        self.tokens, self.stamp = tokens, stamp


class Limiter:
    """Token buckets per (account, region, operation), and one for all operations."""

    def __init__(self, scale: Callable[[], float], clock: Callable[[], float] = time.monotonic):
        self.scale = scale
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple, _Bucket] = {}

    def _take(self, key: tuple, rate: float, burst: float, now: float) -> float:
        """0 if a token was taken, else the seconds until one is there."""
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(burst, now)
        b.tokens = min(burst, b.tokens + (now - b.stamp) * rate)
        b.stamp = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / rate

    def check(self, scope: tuple, op: str) -> float:
        """0 when the call may go on, else the seconds to wait (Retry-After)."""
        scale = self.scale()
        if scale <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            wait = 0.0
            if op in QUOTAS:
                n, per = QUOTAS[op]
                rate = n / per * scale
                wait = self._take(scope + (op,), rate, max(1.0, n), now)
                if wait:
                    return wait
            rate, per, burst = TOTAL
            wait = self._take(scope + ("*",), rate / per * scale, burst, now)
            if wait and op in QUOTAS:  # give back the operation's token: nothing happened
                self._buckets[scope + (op,)].tokens += 1
            return wait


def _scope(environ: dict) -> tuple:
    """(region,) from the SigV4 credential scope: the quotas are per account and Region, and
    the local cloud serves one account."""
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return (m.group(1) if m else "",)


def _too_many(start_response: Callable, op: str, wait: float) -> list[bytes]:
    import json

    body = json.dumps({"message": "Too Many Requests"}).encode()
    start_response("429 Too Many Requests", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("x-amzn-ErrorType", "TooManyRequestsException"),
        ("Retry-After", str(max(1, math.ceil(wait))))])
    return [body]


def install(cloud: Any) -> Callable[[], None] | None:
    limiter = Limiter(lambda: cloud.profile.apigateway_control_rate_scale)

    def middleware(app: Callable, _cloud: Any) -> Callable:
        def limited(environ: dict, start_response: Callable) -> Any:
            if cloud.profile.apigateway_control_rate_scale > 0:
                op = operation(environ)
                if op is not None:
                    wait = limiter.check(_scope(environ), op)
                    if wait:
                        return _too_many(start_response, op, wait)
            return app(environ, start_response)
        return limited

    cloud.add_middleware(middleware)
    return None
