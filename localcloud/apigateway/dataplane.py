"""API Gateway REST data plane: `/restapis/{api_id}/{stage}/_user_request_/{path}`.

A WSGI middleware in front of moto serves invoke URLs from what moto's apigateway backend
stores, in AWS's order:

1. body over 10 MB -> 413 `{"message": "Request Too Long"}`;
2. unknown API or stage -> 403 `{"message": "Forbidden"}`; no resource+method for the path
   (literal segments win over `{param}`, which wins over `{proxy+}`; `ANY` is a fallback)
   -> 403 `{"message": "Missing Authentication Token"}`;
3. `apiKeyRequired`: `x-api-key` must name an enabled key in a usage plan that lists this API
   and stage, else 403 `{"message": "Forbidden"}`;
4. the plan's throttle (token bucket per plan+key: rateLimit/s, burstLimit) -> 429
   `{"message": "Too Many Requests"}`; its quota (limit per DAY/WEEK/MONTH, offset) -> 429
   `{"message": "Limit Exceeded"}`; every request let through is counted, and `GetUsage`
   (`GET /usageplans/{id}/usage`, which moto lacks) returns the daily counts;
5. a request validator with `validateRequestBody` and the method's request model for the
   body's content type (JSON schema draft 4) -> 400 `{"message": "Invalid request body"}`,
   before the Lambda runs;
6. AWS_PROXY: the REST v1 proxy event to `cloud.invoke_function`; the proxy result mapped to
   the response (statusCode, headers, multiValueHeaders, body, isBase64Encoded); a function
   error or malformed result -> 502 `{"message": "Internal server error"}`.

Gateway responses (PutGatewayResponse) customise these errors as on AWS: BAD_REQUEST_BODY,
MISSING_AUTHENTICATION_TOKEN, INVALID_API_KEY (a missing key too), THROTTLED, QUOTA_EXCEEDED,
REQUEST_TOO_LARGE, API_CONFIGURATION_ERROR (500s), and DEFAULT_4XX / DEFAULT_5XX for every type
without its own (the 502s have no type of their own: DEFAULT_5XX). statusCode,
`gatewayresponse.header.*` and the templates' `$context.error.*` substitution apply; with no
customisation the built-in `{"message": ...}` bodies above are sent unchanged. Like the routes,
they are frozen per deployment: a change needs a new deployment, as on AWS.

Every response carries `x-amzn-RequestId`. What is served is the API as it was when its stage's
deployment was created (as on AWS): `RestAPI.create_deployment` is hooked to compile the route
table once; an unseen deployment is compiled on first use and cached by deployment id.
Keys and usage plans are read live (a disabled key stops working at once, as on AWS).

Hook points (moto 5.2): `moto.apigateway.models.apigateway_backends`, `RestAPI.create_deployment`,
`RestAPI.resources/stages/models/request_validators/gateway_responses`, `APIGatewayBackend.keys/usage_plans/
usage_plan_keys`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from .logic import (
    MAX_BODY_BYTES, GatewayResponse, MalformedProxyResponse, Route, RouteTable, TokenBucket,
    _compile_one, compile_gateway_responses, compile_schema, find_gateway_response,
    gateway_template_vars, lambda_arn_from_uri, map_proxy_response, proxy_event,
    quota_window_start, render_gateway_response, validation_error_string,
)
from ..core.moto_request import backend_for

log = logging.getLogger("localcloud.apigateway")

_INVOKE_RE = re.compile(r"^/restapis/([^/]+)/([^/]+)/_user_request_(/.*)?$")
_USAGE_RE = re.compile(r"^/usageplans/([^/]+)/usage/?$")

MSG_MISSING_TOKEN = "Missing Authentication Token"
MSG_FORBIDDEN = "Forbidden"
MSG_THROTTLED = "Too Many Requests"
MSG_QUOTA = "Limit Exceeded"
MSG_BAD_BODY = "Invalid request body"
MSG_INTERNAL = "Internal server error"
MSG_TOO_LARGE = "Request Too Long"


# ---------------------------------------------------------------------------------------
# A deployment, compiled
# ---------------------------------------------------------------------------------------
@dataclass
class CompiledMethod:
    http_method: str
    api_key_required: bool
    integration_type: str | None
    integration_uri: str | None
    body_checks: dict[str, Callable[[Any], list[str]]] = field(default_factory=dict)
    resource_path: str = ""
    resource_id: str = ""


def compile_api(api: Any) -> RouteTable:
    validators = getattr(api, "request_validators", {}) or {}
    models = getattr(api, "models", {}) or {}
    routes = []
    for res in list(api.resources.values()):
        path = res.get_path()
        methods = {}
        for verb, m in list(res.resource_methods.items()):
            integ = m.method_integration
            checks: dict[str, Callable] = {}
            validator = validators.get(m.request_validator_id) if m.request_validator_id else None
            if validator is not None and _truthy(validator.validate_request_body):
                for ctype, model_name in (m.request_models or {}).items():
                    model = models.get(model_name)
                    if model is None or not model.schema:
                        continue
                    schema = model.schema
                    if isinstance(schema, str):
                        try:
                            schema = json.loads(schema)
                        except ValueError:
                            log.error("model %s of API %s is not JSON; not validated",
                                      model_name, api.id)
                            continue
                    checks[ctype.lower()] = compile_schema(schema)
            methods[verb.upper()] = CompiledMethod(
                http_method=verb.upper(), api_key_required=bool(m.api_key_required),
                integration_type=integ.integration_type if integ else None,
                integration_uri=integ.uri if integ else None,
                body_checks=checks, resource_path=path, resource_id=res.id)
        routes.append(Route(path=path, segments=(), methods=methods, resource_id=res.id))
    return RouteTable(routes)


@dataclass
class Deployment:
    """What one deployment serves: its routes and its gateway responses (both frozen then)."""
    routes: RouteTable
    responses: dict[str, GatewayResponse] = field(default_factory=dict)


def compile_responses(api: Any) -> dict[str, GatewayResponse]:
    raw = {}
    for rtype, r in list((getattr(api, "gateway_responses", {}) or {}).items()):
        doc = {"statusCode": r.status_code, "responseParameters": r.response_parameters,
               "responseTemplates": r.response_templates}
        try:
            _compile_one(str(rtype).upper(), doc)
        except ValueError as exc:
            log.error("API %s: gateway response ignored: %s", api.id, exc)
            continue
        raw[str(rtype).upper()] = doc
    return compile_gateway_responses(raw)


def compile_deployment(api: Any) -> Deployment:
    return Deployment(compile_api(api), compile_responses(api))


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.lower() == "true"
    return bool(v)


# ---------------------------------------------------------------------------------------
# Usage: throttle buckets, quota counters, daily counts for GetUsage
# ---------------------------------------------------------------------------------------
class Usage:
    def __init__(self, clock: Callable[[], float] = time.time):
        self._lock = threading.Lock()
        self._buckets: dict[tuple, TokenBucket] = {}
        self._daily: dict[tuple[str, str], dict[str, int]] = {}   # (plan, key) -> {date: n}
        self._window: dict[tuple[str, str], tuple[_dt.datetime, int]] = {}
        self._clock = clock

    def admit(self, plan: Any, key_id: str) -> str | None:
        """None if let through (and counted), else the 429 message."""
        throttle = plan.throttle or {}
        if throttle.get("rateLimit") is not None or throttle.get("burstLimit") is not None:
            rate = float(throttle.get("rateLimit") or 0)
            burst = int(throttle.get("burstLimit") or 0)
            bkey = (plan.id, key_id, rate, burst)
            with self._lock:
                bucket = self._buckets.get(bkey)
                if bucket is None:
                    bucket = self._buckets[bkey] = TokenBucket(rate, burst)
            if not bucket.take():
                return MSG_THROTTLED
        now = _dt.datetime.fromtimestamp(self._clock(), _dt.timezone.utc)
        quota = plan.quota or {}
        with self._lock:
            if quota.get("limit") is not None:
                limit = int(quota["limit"])
                start = quota_window_start(now, quota.get("period", "DAY"),
                                           int(quota.get("offset") or 0))
                w_start, used = self._window.get((plan.id, key_id), (start, 0))
                if w_start != start:
                    used = 0
                if used >= limit:
                    return MSG_QUOTA
                self._window[(plan.id, key_id)] = (start, used + 1)
            day = now.strftime("%Y-%m-%d")
            per_day = self._daily.setdefault((plan.id, key_id), {})
            per_day[day] = per_day.get(day, 0) + 1
        return None

    def report(self, plan: Any, key_ids: list[str], start: str, end: str) -> dict:
        """GetUsage's `values`: key id -> [[used, remaining], ...] one per day start..end."""
        d0 = _dt.date.fromisoformat(start)
        d1 = _dt.date.fromisoformat(end)
        if d1 < d0:
            raise ValueError(f"endDate {end} is before startDate {start}")
        if (d1 - d0).days > 90:
            raise ValueError("the usage date range can be at most 90 days")
        quota = plan.quota or {}
        limit = int(quota["limit"]) if quota.get("limit") is not None else None
        out = {}
        with self._lock:
            for key_id in key_ids:
                per_day = self._daily.get((plan.id, key_id), {})
                rows = []
                used_in_window = 0
                window = None
                d = d0
                while d <= d1:
                    n = per_day.get(d.isoformat(), 0)
                    if limit is not None:
                        dt = _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc)
                        w = quota_window_start(dt, quota.get("period", "DAY"),
                                               int(quota.get("offset") or 0))
                        if w != window:
                            window, used_in_window = w, _used_before(per_day, w, d)
                        used_in_window += n
                        rows.append([n, max(limit - used_in_window, 0)])
                    else:
                        rows.append([n, 0])
                    d += _dt.timedelta(days=1)
                out[key_id] = rows
        return out


def _used_before(per_day: dict[str, int], window_start: _dt.datetime, day: _dt.date) -> int:
    total = 0
    d = window_start.date()
    while d < day:
        total += per_day.get(d.isoformat(), 0)
        d += _dt.timedelta(days=1)
    return total


# ---------------------------------------------------------------------------------------
# The data plane
# ---------------------------------------------------------------------------------------
class DataPlane:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.usage = Usage()
        self._tables: dict[tuple[str, str], Deployment] = {}
        self._api_home: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    # -- lookups -----------------------------------------------------------------------
    def find_api(self, api_id: str) -> tuple[Any, Any] | None:
        from moto.apigateway.models import apigateway_backends
        home = self._api_home.get(api_id)
        if home is not None:
            try:
                backend = apigateway_backends[home[0]][home[1]]
                api = backend.apis.get(api_id)
                if api is not None:
                    return backend, api
            except KeyError:
                pass
        for account, regional in list(apigateway_backends.items()):
            for region, backend in list(regional.items()):
                api = backend.apis.get(api_id)
                if api is not None:
                    self._api_home[api_id] = (account, region)
                    return backend, api
        return None

    def deployment(self, api: Any, deployment_id: str) -> Deployment:
        key = (api.id, deployment_id)
        t = self._tables.get(key)
        if t is None:
            t = compile_deployment(api)
            with self._lock:
                self._tables[key] = t
        return t

    def snapshot(self, api: Any, deployment_id: str) -> None:
        try:
            t = compile_deployment(api)
        except Exception:  # noqa: BLE001 - compile lazily on first use instead
            log.exception("could not compile API %s deployment %s", api.id, deployment_id)
            return
        with self._lock:
            self._tables[(api.id, deployment_id)] = t

    # -- the request --------------------------------------------------------------------
    def handle(self, environ: dict, api_id: str, stage_name: str, path: str) -> tuple:
        """-> (status int, headers list, body bytes)."""
        request_id = str(uuid.uuid4())
        base = [("x-amzn-RequestId", request_id),
                ("x-amz-apigw-id", request_id[:8].upper() + "=")]

        verb = environ.get("REQUEST_METHOD", "GET").upper()
        at: dict[str, Any] = {"dep": None, "stage_vars": {}, "resource": "", "params": {}}

        def msg(rtype: str, status: int, message: str, validation: str = "") -> tuple:
            """An error API Gateway produces: the deployment's gateway response, else AWS's
            built-in `{"message": ...}`."""
            etype = ("x-amzn-ErrorType", _error_type(rtype, status))
            dep = at["dep"]
            custom = find_gateway_response(dep.responses, rtype, status) if dep else None
            if custom is None:
                return (status, base + [("Content-Type", "application/json"), etype],
                        json.dumps({"message": message}).encode())
            variables = gateway_template_vars(
                response_type=rtype, message=message, request_id=request_id,
                validation_error=validation, api_id=api_id, stage=stage_name,
                http_method=verb, resource_path=at["resource"], path=path,
                stage_vars=at["stage_vars"])
            code, hdrs, body = render_gateway_response(
                custom, status=status, variables=variables, accept=environ.get("HTTP_ACCEPT"),
                request_headers=dict(_request_headers(environ)),
                query={k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()},
                path_params=at["params"], stage_vars=at["stage_vars"])
            return code, base + hdrs + [etype], body

        length = environ.get("CONTENT_LENGTH") or ""
        try:
            n = int(length) if length else 0
        except ValueError:
            n = 0
        too_large = n > MAX_BODY_BYTES
        stream = environ.get("wsgi.input")
        body = b""
        if too_large:
            pass
        elif n:
            body = stream.read(n)
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" and stream:
            body = stream.read(MAX_BODY_BYTES + 1)
            too_large = len(body) > MAX_BODY_BYTES

        found = self.find_api(api_id)
        stage = found[1].stages.get(stage_name) if found is not None else None
        if stage is None or not stage.deployment_id:
            if too_large:
                return msg("REQUEST_TOO_LARGE", 413, MSG_TOO_LARGE)
            return msg("FORBIDDEN", 403, MSG_FORBIDDEN)
        backend, api = found
        dep = at["dep"] = self.deployment(api, stage.deployment_id)
        at["stage_vars"] = stage_vars = dict(stage.variables or {})
        if too_large:
            return msg("REQUEST_TOO_LARGE", 413, MSG_TOO_LARGE)
        hit = dep.routes.match(path)
        if hit is None:
            return msg("MISSING_AUTHENTICATION_TOKEN", 403, MSG_MISSING_TOKEN)
        route, path_params = hit
        at["params"] = path_params
        method = route.methods.get(verb) or route.methods.get("ANY")
        if method is None:
            return msg("MISSING_AUTHENTICATION_TOKEN", 403, MSG_MISSING_TOKEN)
        at["resource"] = route.path

        api_key = environ.get("HTTP_X_API_KEY")
        if method.api_key_required:
            denied = self._check_key(backend, api_id, stage_name, api_key)
            if denied is not None:
                return msg(*denied)

        if method.body_checks:
            ctype = (environ.get("CONTENT_TYPE") or "application/json").split(";")[0]
            check = method.body_checks.get(ctype.strip().lower()) or \
                method.body_checks.get("$default")
            if check is not None:
                try:
                    doc = json.loads(body) if body else None
                except ValueError as exc:
                    return msg("BAD_REQUEST_BODY", 400, MSG_BAD_BODY,
                               validation_error_string([f"request body is not JSON: {exc}"]))
                problems = check(doc)
                if problems:
                    log.info("API %s %s %s: invalid body: %s", api_id, verb, path,
                             "; ".join(problems[:3]))
                    return msg("BAD_REQUEST_BODY", 400, MSG_BAD_BODY,
                               validation_error_string(problems))

        if (method.integration_type or "").upper() != "AWS_PROXY":
            log.error("API %s %s %s: integration type %s is not served locally (AWS_PROXY is)",
                      api_id, verb, route.path, method.integration_type)
            return msg("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL)
        try:
            arn = lambda_arn_from_uri(method.integration_uri or "", stage_vars)
        except ValueError as exc:
            log.error("API %s: %s", api_id, exc)
            return msg("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL)

        headers = _request_headers(environ)
        event = proxy_event(
            method=verb, path=path or "/", resource_path=route.path, headers=headers,
            query_string=environ.get("QUERY_STRING", ""), path_params=path_params,
            stage_vars=stage_vars, body=body, api_id=api_id, stage=stage_name,
            account_id=backend.account_id, request_id=request_id,
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"), api_key=api_key,
            resource_id=method.resource_id)
        parts = arn.split(":")
        region = parts[3] if len(parts) > 4 else backend.region_name
        try:
            result = self.cloud.invoke_function(
                arn, json.dumps(event).encode(), invocation_type="RequestResponse",
                region=region, account_id=backend.account_id, source="apigateway",
                source_arn=f"arn:aws:execute-api:{backend.region_name}:{backend.account_id}:"
                           f"{api_id}/{stage_name}/{verb}{route.path}")
        except Exception as exc:  # noqa: BLE001 - no such function etc.
            log.error("API %s %s %s: invoking %s failed: %s", api_id, verb, path, arn, exc)
            return msg("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL)
        if result.function_error or result.status_code >= 300:
            log.info("API %s %s %s: function error %s: %s", api_id, verb, path,
                     result.function_error, result.payload[:500])
            return msg("DEFAULT_5XX", 502, MSG_INTERNAL)
        try:
            resp = map_proxy_response(json.loads(result.payload or b"null"))
        except (ValueError, MalformedProxyResponse) as exc:
            log.error("API %s %s %s: malformed Lambda proxy response: %s", api_id, verb, path,
                      exc)
            return msg("DEFAULT_5XX", 502, MSG_INTERNAL)
        hdrs = base + resp.headers
        if not any(k.lower() == "content-type" for k, _ in resp.headers):
            hdrs.append(("Content-Type", "application/json"))
        return resp.status, hdrs, resp.body

    def _check_key(self, backend: Any, api_id: str, stage: str,
                   value: str | None) -> tuple[str, int, str] | None:
        """None if let through, else (gateway response type, status, message). AWS answers a
        missing key and a wrong one alike: INVALID_API_KEY, 403 Forbidden."""
        if not value:
            return "INVALID_API_KEY", 403, MSG_FORBIDDEN
        key = None
        for k in list(backend.keys.values()):
            if k.value == value:
                key = k
                break
        if key is None or not _truthy(key.enabled):
            return "INVALID_API_KEY", 403, MSG_FORBIDDEN
        for plan in list(backend.usage_plans.values()):
            if not any(s.get("apiId") == api_id and s.get("stage") == stage
                       for s in (plan.api_stages or [])):
                continue
            if key.id not in backend.usage_plan_keys.get(plan.id, {}):
                continue
            refused = self.usage.admit(plan, key.id)
            if refused is not None:
                return ("THROTTLED" if refused == MSG_THROTTLED else "QUOTA_EXCEEDED"), 429, \
                    refused
            return None
        return "INVALID_API_KEY", 403, MSG_FORBIDDEN


_ERROR_TYPES = {
    "FORBIDDEN": "ForbiddenException", "INVALID_API_KEY": "ForbiddenException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "THROTTLED": "TooManyRequestsException", "QUOTA_EXCEEDED": "LimitExceededException",
    "BAD_REQUEST_BODY": "BadRequestException", "REQUEST_TOO_LARGE": "RequestTooLargeException",
}


def _error_type(response_type: str, status: int) -> str:
    """`x-amzn-ErrorType` for an error of this gateway response type."""
    return _ERROR_TYPES.get(response_type) or \
        ("InternalServerErrorException" if status >= 500 else "Exception")


def _request_headers(environ: dict) -> list[tuple[str, str]]:
    out = []
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            name = "-".join(p.capitalize() for p in k[5:].split("_"))
            if name == "X-Api-Key":
                name = "x-api-key"
            out.append((name, v))
    if environ.get("CONTENT_TYPE"):
        out.append(("Content-Type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        out.append(("Content-Length", environ["CONTENT_LENGTH"]))
    return out


_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
                400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
                415: "Unsupported Media Type", 422: "Unprocessable Entity",
                429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable", 504: "Gateway Timeout"}


def _status_line(code: int) -> str:
    return f"{code} {_STATUS_TEXT.get(code, 'Status')}"


# ---------------------------------------------------------------------------------------
# GetUsage (moto lacks it)
# ---------------------------------------------------------------------------------------
def _backend_for(environ: dict) -> Any:
    from moto.apigateway.models import apigateway_backends

    return backend_for(apigateway_backends, environ)


def get_usage(plane: DataPlane, environ: dict, plan_id: str) -> tuple[int, dict]:
    backend = _backend_for(environ)
    plan = backend.usage_plans.get(plan_id)
    if plan is None:
        return 404, {"message": f"Invalid Usage Plan ID specified: {plan_id}"}
    q = parse_qs(environ.get("QUERY_STRING", ""))
    start = (q.get("startDate") or [None])[0]
    end = (q.get("endDate") or [None])[0]
    if not start or not end:
        return 400, {"message": "startDate and endDate are required (YYYY-MM-DD)"}
    key_id = (q.get("keyId") or [None])[0]
    keys = [key_id] if key_id else list(backend.usage_plan_keys.get(plan_id, {}).keys())
    try:
        values = plane.usage.report(plan, keys, start, end)
    except ValueError as exc:
        return 400, {"message": str(exc)}
    return 200, {"usagePlanId": plan_id, "startDate": start, "endDate": end, "values": values}


# ---------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------
def install(cloud: Any) -> Callable[[], None]:
    from moto.apigateway.models import RestAPI

    plane = DataPlane(cloud)
    cloud.apigateway = plane
    orig_create_deployment = RestAPI.create_deployment

    def create_deployment(self: Any, *args: Any, **kwargs: Any) -> Any:
        deployment = orig_create_deployment(self, *args, **kwargs)
        plane.snapshot(self, deployment.id)
        return deployment

    RestAPI.create_deployment = create_deployment

    def factory(app: Callable, _cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/restapis/") and "/_user_request_" in path:
                m = _INVOKE_RE.match(path)
                if m:
                    try:
                        status, headers, body = plane.handle(
                            environ, m.group(1), m.group(2), unquote(m.group(3) or "/"))
                    except Exception:  # noqa: BLE001 - a bug here is a 500, never a hang
                        log.exception("API Gateway data plane failed on %s", path)
                        status, body = 500, b'{"message": "Internal server error"}'
                        headers = [("Content-Type", "application/json")]
                    headers = [h for h in headers if h[0].lower() != "content-length"]
                    headers.append(("Content-Length", str(len(body))))
                    start_response(_status_line(status), headers)
                    return [body]
            elif path.startswith("/usageplans/") and environ.get("REQUEST_METHOD") == "GET":
                m = _USAGE_RE.match(path)
                if m:
                    status, doc = get_usage(plane, environ, m.group(1))
                    body = json.dumps(doc).encode()
                    start_response(_status_line(status),
                                   [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(body)))])
                    return [body]
            return app(environ, start_response)
        return middleware

    cloud.add_middleware(factory)

    def uninstall() -> None:
        RestAPI.create_deployment = orig_create_deployment
        if getattr(cloud, "apigateway", None) is plane:
            cloud.apigateway = None

    return uninstall
