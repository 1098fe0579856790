"""Pure logic of the API Gateway REST data plane (no moto, no HTTP): testable on its own.

- `RouteTable`: resource paths (`/a/{id}/{proxy+}`) -> (resource, path parameters).
- `TokenBucket`: usage-plan throttle (rateLimit requests/s refill, burstLimit capacity).
- `quota_window_start`: where a DAY/WEEK/MONTH quota period (with offset) begins.
- `compile_schema` / `schema_errors`: request-model JSON schema (draft 4) checks; uses
  `jsonschema` when installed, else the subset API Gateway users rely on (type, properties,
  required, additionalProperties, items, minItems, maxItems, enum, minimum, maximum,
  exclusiveMinimum/Maximum (draft-4 booleans), minLength, maxLength, pattern).
- `proxy_event` / `map_proxy_response`: the REST (v1) AWS_PROXY event and response mapping.
- `compile_gateway_responses` / `find_gateway_response` / `render_gateway_response`:
  PutGatewayResponse customisations (own type, else DEFAULT_4XX/5XX), statusCode,
  `gatewayresponse.header.*` parameters and the templates' simple `$context...` substitution;
  `describe_schema_error` / `validation_error_string`: the validator's wording
  (`[object has missing required properties (["a"])]`).
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

    def by_resource(self, resource_id: str) -> Route | None:
        return next((r for r in list(self._exact.values()) + self._patterns
                     if r.resource_id == resource_id), None)

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
            is_valid = _fast_validator(schema)

            def check(doc: Any) -> list[str]:
                if is_valid is not None and is_valid(doc):
                    return []  # the common case, ~20x faster than iter_errors on 1000 rows
                out: list[str] = []
                seen = set()
                for e in validator.iter_errors(doc):
                    text = describe_schema_error(e)
                    key = (tuple(e.absolute_path), text)
                    if key not in seen:   # `required` reports each missing name: one line
                        seen.add(key)
                        out.append(text)
                return out
            return check
    return lambda doc: schema_errors(schema, doc)


def _fast_validator(schema: dict) -> Callable[[Any], bool] | None:
    """A compiled draft-4 validity test (fastjsonschema) for the valid path; the error texts
    still come from jsonschema. None when fastjsonschema is missing or can't compile it."""
    try:
        import fastjsonschema  # type: ignore
        validate = fastjsonschema.compile(schema)
    except Exception:  # noqa: BLE001 - not installed, or a schema it does not support
        return None

    def is_valid(doc: Any) -> bool:
        try:
            validate(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True
    return is_valid


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


def _header(headers: dict | None, name: str) -> str | None:
    """A header's value by case-insensitive name (the event keeps names as sent)."""
    for k, v in (headers or {}).items():
        if k.lower() == name:
            return v
    return None


def proxy_event(*, method: str, path: str, resource_path: str, headers: list[tuple[str, str]],
                query_string: str, path_params: dict[str, str], stage_vars: dict[str, str],
                body: bytes, api_id: str, stage: str, account_id: str, request_id: str,
                source_ip: str, api_key: str | None, now: float | None = None,
                resource_id: str = "", binary: bool | None = None,
                api_key_id: str | None = None, deployment_id: str | None = None) -> dict:
    now = time.time() if now is None else now
    hdrs, mhdrs = _multi(headers)
    qs, mqs = _multi(parse_qsl(query_string, keep_blank_values=True)) if query_string \
        else (None, None)
    if body:
        text = None
        if not binary:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                if binary is False:
                    raise
        binary = text is None
        body_value: str | None = base64.b64encode(body).decode() if binary else text
    else:
        body_value, binary = None, False
    ts = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    event = {
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
                "userAgent": _header(hdrs, "user-agent"), "user": None,
            },
            "domainName": f"{api_id}.execute-api.localhost",
            "apiId": api_id,
        },
        "body": body_value,
        "isBase64Encoded": bool(binary),
    }
    if deployment_id:  # the stage's deployment (TestInvokeMethod has none)
        event["requestContext"]["deploymentId"] = deployment_id
    if api_key is not None:  # a method that requires a key (AWS omits both otherwise)
        event["requestContext"]["identity"].update(apiKey=api_key, apiKeyId=api_key_id)
    return event


class MalformedProxyResponse(ValueError):
    pass


_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


@dataclass
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # isBase64Encoded: the body as the function sent it (base64 text), which API Gateway
    # answers unless the request's Accept names one of the API's binaryMediaTypes
    base64_text: str | None = None

    bad_base64: bool = False

    def for_accept(self, accept: str | None, binary_types: list[str]) -> bytes:
        """The body to send; ValueError when it is to be binary and is not valid base64
        (AWS answers 500)."""
        if self.base64_text is None:
            return self.body
        if not wants_binary(accept, binary_types):
            return self.base64_text.encode()
        if self.bad_base64:
            raise ValueError("the proxy response's body is not valid base64")
        return self.body


def wants_binary(accept: str | None, binary_types: list[str]) -> bool:
    """Whether API Gateway turns a proxy response's base64 body into binary: the request's
    first Accept media type is one of the API's binaryMediaTypes, as written (`*/*` there
    takes any; a wildcard on the left such as `*/test` matches nothing, and an Accept of
    `image/*` or `*/*` does not match `image/png`: AWS's recorded answers in LocalStack's
    test_aws_proxy_binary_response: `application/*` there takes `application/whatever`;
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html)."""
    if not binary_types:
        return False
    first = (accept or "").split(",")[0].split(";")[0].strip().lower()
    if not first:
        return False
    for t in (str(t).strip().lower() for t in binary_types):
        if t.startswith("*/") and t != "*/*":
            continue  # a wildcard on the left is not supported
        if t in (first, "*/*"):
            return True
        if t.endswith("/*") and first.split("/")[0] == t[:-2] and "/" in first:
            return True  # `application/*` takes any application/ type
    return False


def map_proxy_response(doc: Any) -> ProxyResponse:
    """The Lambda's proxy result -> HTTP response; raises MalformedProxyResponse as AWS would
    502. AWS's recorded answers: no `statusCode` is a 200 (`{}` too); a key outside the five
    is a 502; `headers` and `multiValueHeaders` merge (the multi-value name's spelling kept,
    its values first)."""
    if not isinstance(doc, dict):
        raise MalformedProxyResponse(f"the result is a {type(doc).__name__}, not an object")
    extra = set(doc) - _PROXY_KEYS
    if extra:
        raise MalformedProxyResponse(f"unexpected fields {sorted(extra)}")
    code = doc.get("statusCode", 200)
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
    names: dict[str, str] = {}
    for k, vs in mh.items():
        if not isinstance(vs, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{k!r}] must be a list")
        for v in vs:
            headers.append((str(k), _header_value(v)))
        names[str(k).lower()] = str(k)
    for k, v in h.items():
        headers.append((names.get(str(k).lower(), str(k)), _header_value(v)))
    body = doc.get("body")
    b64 = doc.get("isBase64Encoded", False)
    if not isinstance(b64, bool):
        raise MalformedProxyResponse("isBase64Encoded must be a boolean")
    bad = False
    if body is None:
        raw = b""
    elif isinstance(body, str):
        if b64:
            try:
                raw = base64.b64decode(body, validate=True)
            except ValueError:
                raw, bad = b"", True
        else:
            raw = body.encode("utf-8")
    else:
        raise MalformedProxyResponse(f"body must be a string, got {type(body).__name__}")
    return ProxyResponse(status, headers, raw, base64_text=body if b64 and body else None,
                         bad_base64=bad)


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


# ---------------------------------------------------------------------------------------
# Gateway responses (PutGatewayResponse): AWS's customisable error responses
# ---------------------------------------------------------------------------------------
# Each type's own status when neither it nor its DEFAULT_4XX/5XX sets one (AWS's table
# "Gateway response types"). DEFAULT_4XX / DEFAULT_5XX have none: they are fallbacks.
GATEWAY_RESPONSE_STATUS = {
    "ACCESS_DENIED": 403, "API_CONFIGURATION_ERROR": 500, "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500, "BAD_REQUEST_PARAMETERS": 400, "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403, "INTEGRATION_FAILURE": 504, "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403, "INVALID_SIGNATURE": 403, "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429, "REQUEST_TOO_LARGE": 413, "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429, "UNAUTHORIZED": 401, "UNSUPPORTED_MEDIA_TYPE": 415, "WAF_FILTERED": 403,
}
DEFAULT_GATEWAY_TEMPLATE = '{"message":$context.error.messageString}'


@dataclass(frozen=True)
class GatewayResponse:
    """One response type as it applies in a deployment (its own, or its DEFAULT_xXX)."""
    response_type: str
    status: int | None                   # None: the error's own status
    headers: tuple = ()                  # ((name, source kind, key or static value), ...)
    templates: tuple = ()                # ((content type, template), ...), first = fallback


def _fallback_type(response_type: str, status: int | None = None) -> str:
    code = GATEWAY_RESPONSE_STATUS.get(response_type, status or 500)
    return "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX"


_PARAM_SOURCES = (("method.request.header.", "header"), ("method.request.querystring.", "query"),
                  ("method.request.path.", "path"), ("stageVariables.", "stage"),
                  ("context.", "context"))


def _compile_one(rtype: str, raw: dict, status_from: dict | None = None) -> GatewayResponse:
    def status_of(doc: dict | None) -> int | None:
        code = (doc or {}).get("statusCode")
        if code in (None, ""):
            return None
        try:
            code = int(code)
        except (TypeError, ValueError):
            raise ValueError(f"gateway response {rtype}: statusCode {code!r} is not a number") \
                from None
        if not 100 <= code <= 599:
            raise ValueError(f"gateway response {rtype}: statusCode {code} is not an HTTP status")
        return code

    status = status_of(raw)
    if status is None and status_from is not None:
        status = status_of(status_from)
    if status is None:
        status = GATEWAY_RESPONSE_STATUS.get(rtype)
    headers = []
    for key, value in (raw.get("responseParameters") or {}).items():
        if not key.startswith("gatewayresponse.header."):
            raise ValueError(f"gateway response {rtype}: parameter {key!r} is not "
                             "gatewayresponse.header.<name>")
        name = key[len("gatewayresponse.header."):]
        value = str(value)
        if len(value) >= 2 and value[0] == value[-1] == "'":
            headers.append((name, "static", value[1:-1]))
            continue
        for prefix, kind in _PARAM_SOURCES:
            if value.startswith(prefix):
                headers.append((name, kind, value[len(prefix):]))
                break
        else:
            raise ValueError(f"gateway response {rtype}: header {name} value {value!r} is neither "
                             "'static' nor method.request.header|querystring|path.X, "
                             "stageVariables.X or context.X")
    templates = tuple((k.strip().lower(), v) for k, v in
                      (raw.get("responseTemplates") or {}).items() if v is not None)
    if not templates:
        templates = (("application/json", DEFAULT_GATEWAY_TEMPLATE),)
    return GatewayResponse(rtype, status, tuple(headers), templates)


def compile_gateway_responses(raw: dict[str, dict]) -> dict[str, GatewayResponse]:
    """The API's customised gateway responses -> the response for every type they affect.

    A type with its own customisation uses it; any other type uses DEFAULT_4XX or
    DEFAULT_5XX (by its default status) when that is customised, keeping its own status
    unless the fallback sets one. Types not in the result keep API Gateway's built-in
    response. Raises ValueError for a customisation AWS would refuse.
    """
    raw = {k.upper(): v for k, v in (raw or {}).items() if v is not None}
    out: dict[str, GatewayResponse] = {}
    for fallback in ("DEFAULT_4XX", "DEFAULT_5XX"):
        if fallback in raw:
            out[fallback] = _compile_one(fallback, raw[fallback])
    for rtype in GATEWAY_RESPONSE_STATUS:
        if rtype in raw:
            out[rtype] = _compile_one(rtype, raw[rtype])
            continue
        fb = raw.get(_fallback_type(rtype))
        if fb is not None:
            out[rtype] = _compile_one(rtype, {"responseParameters": fb.get("responseParameters"),
                                              "responseTemplates": fb.get("responseTemplates")},
                                      status_from=fb)
    return out


def find_gateway_response(responses: dict[str, GatewayResponse], response_type: str,
                          status: int) -> GatewayResponse | None:
    """The customisation for an error of `response_type` (None: the built-in response).

    An error with no type of its own (e.g. a 502 for a bad Lambda result) is DEFAULT_5XX or
    DEFAULT_4XX by its status.
    """
    if not responses:
        return None
    hit = responses.get(response_type)
    if hit is None and response_type not in GATEWAY_RESPONSE_STATUS:
        hit = responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    return hit


_VAR = re.compile(r"\$(?:\{([A-Za-z_][\w.]*)\}|([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*))")


def _json_escape(text: str) -> str:
    import json
    return json.dumps(text)[1:-1]


def gateway_template_vars(*, response_type: str, message: str, request_id: str,
                          validation_error: str = "", api_id: str = "", stage: str = "",
                          http_method: str = "", resource_path: str = "", path: str = "",
                          stage_vars: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a gateway response template may use, already in their text form.

    `$context.error.messageString` is the message as a quoted JSON string;
    `$context.error.validationErrorString` is the validator's description, JSON-escaped
    (no quotes added) so that `"...$context.error.validationErrorString..."` stays JSON.
    """
    import json
    out = {
        "context.error.message": message,
        "context.error.messageString": json.dumps(message),
        "context.error.responseType": response_type,
        "context.error.validationErrorString": _json_escape(validation_error),
        "context.requestId": request_id, "context.extendedRequestId": request_id,
        "context.apiId": api_id, "context.stage": stage, "context.httpMethod": http_method,
        "context.resourcePath": resource_path, "context.path": f"/{stage}{path}" if stage else path,
    }
    for k, v in (stage_vars or {}).items():
        out[f"stageVariables.{k}"] = v
    return out


def render_gateway_template(template: str, variables: dict[str, str]) -> str:
    """API Gateway's simple variable substitution (no VTL): `$a.b.c` and `${a.b.c}`.

    An unknown `$context.*` / `$stageVariables.*` renders empty (as AWS renders an unset
    variable); any other `$word` stays as written. A longer dotted run than any variable
    keeps its tail (`$context.requestId.x` -> `<id>.x`).
    """
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name in variables:
            return variables[name]
        parts = name.split(".")
        for n in range(len(parts) - 1, 0, -1):
            head = ".".join(parts[:n])
            if head in variables:
                return variables[head] + "." + ".".join(parts[n:]) if m.group(2) else \
                    variables[head]
        if parts[0] in ("context", "stageVariables"):
            return ""
        return m.group(0)
    return _VAR.sub(sub, template)


def render_gateway_response(resp: GatewayResponse, *, status: int, variables: dict[str, str],
                            accept: str | None = None,
                            request_headers: dict[str, str] | None = None,
                            query: dict[str, str] | None = None,
                            path_params: dict[str, str] | None = None,
                            stage_vars: dict[str, str] | None = None,
                            ) -> tuple[int, list[tuple[str, str]], bytes]:
    """-> (status, headers (Content-Type first), body) for an error of `status`."""
    ctype, template = resp.templates[0]
    if accept:
        wanted = [a.split(";")[0].strip().lower() for a in accept.split(",")]
        for ct, tpl in resp.templates:
            if ct in wanted:
                ctype, template = ct, tpl
                break
    body = render_gateway_template(template, variables).encode("utf-8")
    headers = [("Content-Type", ctype)]
    lower_req = {k.lower(): v for k, v in (request_headers or {}).items()}
    for name, kind, key in resp.headers:
        if kind == "static":
            value = key
        elif kind == "header":
            value = lower_req.get(key.lower())
        elif kind == "query":
            value = (query or {}).get(key)
        elif kind == "path":
            value = (path_params or {}).get(key)
        elif kind == "stage":
            value = (stage_vars or {}).get(key)
        else:
            value = variables.get(f"context.{key}")
        if value is not None:
            headers = [h for h in headers if h[0].lower() != name.lower()] + [(name, value)]
    return (resp.status if resp.status is not None else status), headers, body


# ---------------------------------------------------------------------------------------
# Validation error text, as API Gateway's validator (a Java draft-4 validator) words it
# ---------------------------------------------------------------------------------------
def _compact(v: Any) -> str:
    import json
    return json.dumps(v, separators=(",", ":"), sort_keys=False, default=str)


def _instance_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() and math.isfinite(v) else "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def describe_schema_error(err: Any) -> str:
    """One `jsonschema.ValidationError` -> the sentence AWS's validator uses for it."""
    kw, want, inst = err.validator, err.validator_value, err.instance
    if kw == "required":
        missing = [p for p in want if isinstance(inst, dict) and p not in inst]
        return f"object has missing required properties ({_compact(missing)})"
    if kw == "type":
        allowed = sorted(want if isinstance(want, list) else [want])
        return (f"instance type ({_instance_type(inst)}) does not match any allowed primitive "
                f"type (allowed: {_compact(allowed)})")
    if kw == "additionalProperties":
        props = set((err.schema or {}).get("properties") or {})
        pats = list(((err.schema or {}).get("patternProperties") or {}).keys())
        extra = sorted(k for k in inst if k not in props
                       and not any(re.search(p, k) for p in pats))
        return f"object instance has properties which are not allowed by the schema: {_compact(extra)}"
    if kw == "minimum":
        if (err.schema or {}).get("exclusiveMinimum") is True:
            return f"numeric instance is not strictly greater than the required minimum {want}"
        return f"numeric instance is lower than the required minimum (minimum: {want}, found: {inst})"
    if kw == "maximum":
        if (err.schema or {}).get("exclusiveMaximum") is True:
            return f"numeric instance is not strictly lower than the required maximum {want}"
        return f"numeric instance is greater than the required maximum (maximum: {want}, found: {inst})"
    if kw == "minItems":
        return (f"array is too short: must have at least {want} elements but instance has "
                f"{len(inst)} elements")
    if kw == "maxItems":
        return (f"array is too long: must have at most {want} elements but instance has "
                f"{len(inst)} elements")
    if kw == "enum":
        return f"instance value ({_compact(inst)}) not found in enum (possible values: {_compact(want)})"
    if kw == "minLength":
        return f"string {_compact(inst)} is too short (length: {len(inst)}, required minimum: {want})"
    if kw == "maxLength":
        return f"string {_compact(inst)} is too long (length: {len(inst)}, maximum allowed: {want})"
    if kw == "pattern":
        return f"ECMA 262 regex {_compact(want)} does not match input string {_compact(inst)}"
    if kw == "minProperties":
        return (f"object has too few properties (found {len(inst)} but schema requires at least "
                f"{want})")
    if kw == "maxProperties":
        return (f"object has too many properties (found {len(inst)} but schema requires at most "
                f"{want})")
    if kw in ("anyOf", "oneOf"):
        return f"instance failed to match at least one required schema among {len(want)}"
    return str(err.message)


def validation_error_string(problems: list[str]) -> str:
    """`$context.error.validationErrorString`: the problems as a bracketed list, as AWS prints it."""
    return "[" + ", ".join(problems) + "]"
