"""Pure logic of the API Gateway REST data plane (no moto, no HTTP): testable on its own.

- `RouteTable`: resource paths (`/a/{id}/{proxy+}`) -> (resource, path parameters).
- `TokenBucket`: usage-plan throttle (rateLimit requests/s refill, burstLimit capacity).
- `quota_window_start`: where a DAY/WEEK/MONTH quota period (with offset) begins.
- `compile_schema` / `schema_errors`: request-model JSON schema (draft 4) checks; uses
  `jsonschema` when installed, else the subset API Gateway users rely on (type, properties,
  required, additionalProperties, items, minItems, maxItems, enum, minimum, maximum,
  exclusiveMinimum/Maximum (draft-4 booleans), minLength, maxLength, pattern).
- `proxy_event` / `map_proxy_response`: the REST (v1) AWS_PROXY event and response mapping.
"""
from __future__ import annotations

import base64
import datetime as _dt
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 10 * 1024 * 1024


# ---------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------
@dataclass
class Route:
    path: str                   # the resource path, e.g. /items/{id}
    segments: tuple             # ("items", "{id}")
    methods: dict               # HTTP method (or ANY) -> compiled method (opaque here)
    resource_id: str = ""
    rank: tuple = ()            # sort key: literal segments before {param} before {proxy+}


def _segment_kind(seg: str) -> int:
    if seg.startswith("{") and seg.endswith("+}"):
        return 2
    if seg.startswith("{") and seg.endswith("}"):
        return 1
    return 0


def split_path(path: str) -> tuple:
    return tuple(s for s in path.split("/") if s)


class RouteTable:
    """Routes of one deployment. `match(path)` -> (Route, path params) or None."""

    def __init__(self, routes: list[Route]):
        for r in routes:
            r.segments = split_path(r.path)
            r.rank = tuple(_segment_kind(s) for s in r.segments) + (3,)
        self._exact: dict[tuple, Route] = {}
        self._patterns: list[Route] = []
        for r in routes:
            if all(_segment_kind(s) == 0 for s in r.segments):
                self._exact[r.segments] = r
            else:
                self._patterns.append(r)
        self._patterns.sort(key=lambda r: r.rank)

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        segs = split_path(path)
        hit = self._exact.get(segs)
        if hit is not None:
            return hit, {}
        for r in self._patterns:
            params = _match_segments(r.segments, segs)
            if params is not None:
                return r, params
        return None


def _match_segments(pattern: tuple, segs: tuple) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, p in enumerate(pattern):
        kind = _segment_kind(p)
        if kind == 2:
            rest = segs[i:]
            if not rest:
                return None
            params[p[1:-2]] = "/".join(rest)
            return params
        if i >= len(segs):
            return None
        if kind == 1:
            params[p[1:-1]] = segs[i]
        elif p != segs[i]:
            return None
    return params if len(pattern) == len(segs) else None


# ---------------------------------------------------------------------------------------
# Throttle and quota
# ---------------------------------------------------------------------------------------
class TokenBucket:
    """Starts full (burst tokens); refills `rate` tokens a second up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate < 0 or burst < 0:
            raise ValueError(f"throttle rate and burst must be >= 0, got {rate}, {burst}")
        self.rate = float(rate)
        # AWS: a burst below 1 with a positive rate still lets a request through now and then.
        self.burst = float(max(burst, 1 if rate > 0 else 0))
        self.tokens = self.burst
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
            self._last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


def quota_window_start(now: _dt.datetime, period: str, offset: int = 0) -> _dt.datetime:
    """Start (UTC) of the quota period containing `now`.

    AWS: DAY periods start at 00:00 UTC (offset must be 0); WEEK periods start on the day
    `offset` days after Sunday; MONTH periods start on day `1 + offset` of the month.
    """
    period = (period or "").upper()
    day = now.astimezone(_dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        return day
    if period == "WEEK":
        if not 0 <= offset <= 6:
            raise ValueError(f"a WEEK quota offset is 0 (Sunday) to 6, got {offset}")
        since_sunday = (day.isoweekday() % 7)
        back = (since_sunday - offset) % 7
        return day - _dt.timedelta(days=back)
    if period == "MONTH":
        if not 0 <= offset <= 27:
            raise ValueError(f"a MONTH quota offset is 0 to 27, got {offset}")
        start = day.replace(day=1 + offset)
        if start > day:
            prev = (day.replace(day=1) - _dt.timedelta(days=1)).replace(day=1 + offset)
            return prev
        return start
    raise ValueError(f"quota period must be DAY, WEEK or MONTH, got {period!r}")


# ---------------------------------------------------------------------------------------
# Request body schema (draft 4)
# ---------------------------------------------------------------------------------------
def compile_schema(schema: dict, use_jsonschema: bool = True) -> Callable[[Any], list[str]]:
    """A function body -> list of problems (empty = valid)."""
    if use_jsonschema:
        try:
            import jsonschema  # type: ignore
        except ImportError:
            jsonschema = None
        if jsonschema is not None:
            validator = jsonschema.Draft4Validator(schema)

            def check(doc: Any) -> list[str]:
                return [e.message for e in validator.iter_errors(doc)]
            return check
    return lambda doc: schema_errors(schema, doc)


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def schema_errors(schema: dict, doc: Any, where: str = "$") -> list[str]:
    """The draft-4 subset, without jsonschema. Returns problems, each naming where."""
    errs: list[str] = []
    if not isinstance(schema, dict):
        return errs
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_TYPES.get(x, lambda v: True)(doc) for x in types):
            return [f"{where}: expected {' or '.join(types)}"]
    if "enum" in schema and doc not in schema["enum"]:
        errs.append(f"{where}: {doc!r} is not one of {schema['enum']!r}")
    if _TYPES["number"](doc):
        if "minimum" in schema:
            lo = schema["minimum"]
            if doc < lo or (schema.get("exclusiveMinimum") is True and doc == lo):
                errs.append(f"{where}: {doc} is below the minimum {lo}")
        if "maximum" in schema:
            hi = schema["maximum"]
            if doc > hi or (schema.get("exclusiveMaximum") is True and doc == hi):
                errs.append(f"{where}: {doc} is above the maximum {hi}")
        if isinstance(doc, float) and not math.isfinite(doc):
            errs.append(f"{where}: not a finite number")
    if isinstance(doc, str):
        if "minLength" in schema and len(doc) < schema["minLength"]:
            errs.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(doc) > schema["maxLength"]:
            errs.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            errs.append(f"{where}: does not match {schema['pattern']!r}")
    if isinstance(doc, dict):
        props = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in doc:
                errs.append(f"{where}: {name!r} is required")
        addl = schema.get("additionalProperties", True)
        for k, v in doc.items():
            if k in props:
                errs.extend(schema_errors(props[k], v, f"{where}.{k}"))
            elif addl is False:
                errs.append(f"{where}: additional property {k!r} is not allowed")
            elif isinstance(addl, dict):
                errs.extend(schema_errors(addl, v, f"{where}.{k}"))
    if isinstance(doc, list):
        if "minItems" in schema and len(doc) < schema["minItems"]:
            errs.append(f"{where}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(doc) > schema["maxItems"]:
            errs.append(f"{where}: more than {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, v in enumerate(doc):
                errs.extend(schema_errors(items, v, f"{where}[{i}]"))
                if len(errs) > 20:
                    break
        elif isinstance(items, list):
            for i, (s, v) in enumerate(zip(items, doc)):
                errs.extend(schema_errors(s, v, f"{where}[{i}]"))
    return errs


# ---------------------------------------------------------------------------------------
# AWS_PROXY event and response
# ---------------------------------------------------------------------------------------
def _multi(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        single[k] = v            # the last value wins, as in the REST proxy event
        multi.setdefault(k, []).append(v)
    return single, multi


def proxy_event(*, method: str, path: str, resource_path: str, headers: list[tuple[str, str]],
                query_string: str, path_params: dict[str, str], stage_vars: dict[str, str],
                body: bytes, api_id: str, stage: str, account_id: str, request_id: str,
                source_ip: str, api_key: str | None, now: float | None = None,
                resource_id: str = "", binary: bool | None = None) -> dict:
    now = time.time() if now is None else now
    hdrs, mhdrs = _multi(headers)
    qs, mqs = _multi(parse_qsl(query_string, keep_blank_values=True)) if query_string \
        else (None, None)
    if body:
        if binary is None:
            try:
                text = body.decode("utf-8")
                binary = False
            except UnicodeDecodeError:
                binary = True
        body_value: str | None = base64.b64encode(body).decode() if binary else \
            body.decode("utf-8")
    else:
        body_value, binary = None, False
    ts = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    return {
        "resource": resource_path,
        "path": path,
        "httpMethod": method,
        "headers": hdrs,
        "multiValueHeaders": mhdrs,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": mqs,
        "pathParameters": path_params or None,
        "stageVariables": stage_vars or None,
        "requestContext": {
            "resourceId": resource_id,
            "resourcePath": resource_path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": ts.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage}{path}",
            "accountId": account_id,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": api_id,
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                "caller": None, "sourceIp": source_ip, "principalOrgId": None,
                "accessKey": None, "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None, "userArn": None,
                "userAgent": hdrs.get("User-Agent") if hdrs else None, "user": None,
                "apiKey": api_key, "apiKeyId": None,
            },
            "domainName": f"{api_id}.execute-api.localhost",
            "apiId": api_id,
        },
        "body": body_value,
        "isBase64Encoded": bool(binary),
    }


class MalformedProxyResponse(ValueError):
    pass


_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


@dataclass
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def map_proxy_response(doc: Any) -> ProxyResponse:
    """The Lambda's proxy result -> HTTP response; raises MalformedProxyResponse as AWS would 502."""
    if not isinstance(doc, dict):
        raise MalformedProxyResponse(f"the result is a {type(doc).__name__}, not an object")
    extra = set(doc) - _PROXY_KEYS
    if extra:
        raise MalformedProxyResponse(f"unexpected fields {sorted(extra)}")
    if "statusCode" not in doc:
        raise MalformedProxyResponse("statusCode is missing")
    code = doc["statusCode"]
    try:
        status = int(code)
    except (TypeError, ValueError):
        raise MalformedProxyResponse(f"statusCode {code!r} is not a number") from None
    if not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    h = doc.get("headers") or {}
    mh = doc.get("multiValueHeaders") or {}
    if not isinstance(h, dict) or not isinstance(mh, dict):
        raise MalformedProxyResponse("headers and multiValueHeaders must be objects")
    seen = set()
    for k, vs in mh.items():
        if not isinstance(vs, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{k!r}] must be a list")
        for v in vs:
            headers.append((str(k), _header_value(v)))
        seen.add(str(k).lower())
    for k, v in h.items():
        if str(k).lower() in seen:
            continue  # AWS: multiValueHeaders and headers merge; keep one copy
        headers.append((str(k), _header_value(v)))
    body = doc.get("body")
    b64 = doc.get("isBase64Encoded", False)
    if not isinstance(b64, bool):
        raise MalformedProxyResponse("isBase64Encoded must be a boolean")
    if body is None:
        raw = b""
    elif isinstance(body, str):
        if b64:
            try:
                raw = base64.b64decode(body, validate=True)
            except ValueError:
                raise MalformedProxyResponse("body is not valid base64") from None
        else:
            raw = body.encode("utf-8")
    else:
        raise MalformedProxyResponse(f"body must be a string, got {type(body).__name__}")
    return ProxyResponse(status, headers, raw)


def _header_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (str, int, float)):
        return str(v)
    raise MalformedProxyResponse(f"header value {v!r} is not a string")


_LAMBDA_URI = re.compile(r"^arn:[^:]+:apigateway:([^:]+):lambda:path/[^/]+/functions/(.+)/invocations$")


def lambda_arn_from_uri(uri: str, stage_vars: dict[str, str] | None = None) -> str:
    """The function ARN inside an AWS_PROXY integration uri (stage variables substituted)."""
    m = _LAMBDA_URI.match(uri or "")
    if not m:
        raise ValueError(f"not a Lambda integration uri: {uri!r}")
    arn = m.group(2)
    for k, v in (stage_vars or {}).items():
        arn = arn.replace("${stageVariables." + k + "}", v)
    return arn
