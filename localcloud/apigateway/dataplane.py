"""API Gateway REST data plane: `/restapis/{api_id}/{stage}/_user_request_/{path}`.

A WSGI middleware in front of moto serves invoke URLs from what moto's apigateway backend
stores. `DataPlane.handle` runs named steps, route -> key -> throttle -> validate -> invoke ->
map, each of which refuses with one `GatewayError` (gateway response type, status, message),
in AWS's order:

1. body over 10 MB -> 413 `{"message": "Request Too Long"}`;
2. unknown API or stage -> 403 `{"message": "Forbidden"}`; no resource+method for the path
   (literal segments win over `{param}`, which wins over `{proxy+}`; `ANY` is a fallback)
   -> 403 `{"message": "Missing Authentication Token"}`; a method with `authorizationType:
   AWS_IAM`: unsigned -> 403 MISSING_AUTHENTICATION_TOKEN, an unknown key or a wrong
   signature -> 403 INVALID_SIGNATURE, an expired session -> 403 EXPIRED_TOKEN, a signer
   whose policies do not allow `execute-api:Invoke` on the method ARN -> 403 ACCESS_DENIED
   `User: <arn> is not authorized to perform: execute-api:Invoke on resource: <arn>`;
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
from . import mapping
from ..core.moto_request import backend_for

log = logging.getLogger("localcloud.apigateway")

# `//stage/path` on the API's host (AWS serves it as `/stage/path`) is `/restapis/id//stage/...`
_INVOKE_RE = re.compile(r"^/restapis/([^/]+)/+([^/]+)/_user_request_(/.*)?$")
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
    integration_credentials: str | None = None
    integration_http_method: str | None = None
    body_checks: dict[str, Callable[[Any], list[str]]] = field(default_factory=dict)
    resource_path: str = ""
    resource_id: str = ""
    authorization_type: str = "NONE"
    request_templates: dict = field(default_factory=dict)
    passthrough_behavior: str | None = None
    # statusCode -> FrozenIntegrationResponse (non-proxy integrations)
    integration_responses: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FrozenIntegrationResponse:
    """An integration response as it was when the deployment was made."""
    status_code: str
    selection_pattern: str | None
    response_templates: dict
    response_parameters: dict


def _freeze_responses(integ: Any) -> dict:
    out = {}
    for code, r in dict(getattr(integ, "integration_responses", None) or {}).items():
        out[str(code)] = FrozenIntegrationResponse(
            status_code=str(r.status_code), selection_pattern=r.selection_pattern,
            response_templates=dict(r.response_templates or {}),
            response_parameters=dict(r.response_parameters or {}))
    return out


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
                integration_credentials=getattr(integ, "credentials", None) if integ else None,
                integration_http_method=getattr(integ, "http_method", None) if integ else None,
                body_checks=checks, resource_path=path, resource_id=res.id,
                authorization_type=str(getattr(m, "authorization_type", None) or "NONE").upper(),
                request_templates=dict(integ.request_templates or {}) if integ else {},
                passthrough_behavior=integ.passthrough_behaviour if integ else None,
                integration_responses=_freeze_responses(integ) if integ else {})
        routes.append(Route(path=path, segments=(), methods=methods, resource_id=res.id))
    return RouteTable(routes)


@dataclass
class Deployment:
    """What one deployment serves: its routes and its gateway responses (both frozen then)."""
    routes: RouteTable
    responses: dict[str, GatewayResponse] = field(default_factory=dict)
    binary_types: list[str] = field(default_factory=list)  # the API's binaryMediaTypes


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
    return Deployment(compile_api(api), compile_responses(api),
                      list(getattr(api, "binaryMediaTypes", None) or []))


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

    def dump(self) -> dict:
        """The counters that survive a restart (throttle buckets refill anyway)."""
        with self._lock:
            return {"daily": {k: dict(v) for k, v in self._daily.items()},
                    "window": dict(self._window)}

    def load(self, doc: dict) -> None:
        with self._lock:
            self._daily = {k: dict(v) for k, v in doc.get("daily", {}).items()}
            self._window = dict(doc.get("window", {}))

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

    # -- the request: route -> key -> throttle -> validate -> invoke -> map --------------
    def handle(self, environ: dict, api_id: str, stage_name: str, path: str) -> tuple:
        """-> (status int, headers list, body bytes). Each step either fills in `req` or
        raises GatewayError, which becomes the gateway's error response."""
        req = read_request(environ, api_id, stage_name, path)
        try:
            self.route(req)
            self.authorize(req)
            self.key(req)
            self.throttle(req)
            self.validate(req)
            return self.integrate(req)
        except GatewayError as err:
            return self.error_response(req, err)

    def integrate(self, req: "GatewayRequest") -> tuple:
        """The method's integration: AWS (non-proxy Lambda), MOCK, AWS_PROXY."""
        kind = (req.method.integration_type or "").upper()
        if kind == "AWS":
            return self.invoke_aws(req)
        if kind == "MOCK":
            return self.invoke_mock(req)
        return self.map(req, self.invoke(req))

    def route(self, req: "GatewayRequest") -> None:
        """API and stage (403 Forbidden), body size (413), resource+method (403 Missing
        Authentication Token)."""
        found = self.find_api(req.api_id)
        stage = found[1].stages.get(req.stage_name) if found is not None else None
        if stage is None or not stage.deployment_id:
            if req.too_large:
                raise GatewayError("REQUEST_TOO_LARGE", 413, MSG_TOO_LARGE)
            raise GatewayError("FORBIDDEN", 403, MSG_FORBIDDEN)
        req.backend, api = found
        req.deployment_id = stage.deployment_id
        req.deployment = self.deployment(api, stage.deployment_id)
        req.stage_vars = dict(stage.variables or {})
        if req.too_large:
            raise GatewayError("REQUEST_TOO_LARGE", 413, MSG_TOO_LARGE)
        hit = req.deployment.routes.match(req.path)
        if hit is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", 403, MSG_MISSING_TOKEN)
        route, req.path_params = hit
        method = route.methods.get(req.verb) or route.methods.get("ANY")
        if method is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", 403, MSG_MISSING_TOKEN)
        req.method = method
        req.resource_path = route.path

    def authorize(self, req: "GatewayRequest") -> None:
        """`authorizationType: AWS_IAM`: the request must be SigV4-signed (service
        `execute-api`) by a principal whose policies allow `execute-api:Invoke` on the method
        ARN (`localcloud.iam.auth.check_execute_api`)."""
        if req.method.authorization_type != "AWS_IAM":
            return
        from ..iam.auth import check_execute_api

        backend = req.backend
        arn = (f"arn:aws:execute-api:{backend.region_name}:{backend.account_id}:{req.api_id}/"
               f"{req.stage_name}/{req.verb}{req.path if req.path.startswith('/') else '/' + req.path}")
        refused = check_execute_api(self.cloud, req.environ, req.body, arn)
        if refused is not None:
            response_type, message = refused
            raise GatewayError(response_type, 403, message)

    def key(self, req: "GatewayRequest") -> None:
        """`apiKeyRequired`: x-api-key must name an enabled key in a usage plan for this API
        and stage. AWS answers a missing key and a wrong one alike: INVALID_API_KEY, 403."""
        if not req.method.api_key_required:
            return
        value = req.api_key
        if not value:
            raise GatewayError("INVALID_API_KEY", 403, MSG_FORBIDDEN)
        backend = req.backend
        key = next((k for k in list(backend.keys.values()) if k.value == value), None)
        if key is None or not _truthy(key.enabled):
            raise GatewayError("INVALID_API_KEY", 403, MSG_FORBIDDEN)
        for plan in list(backend.usage_plans.values()):
            if not any(s.get("apiId") == req.api_id and s.get("stage") == req.stage_name
                       for s in (plan.api_stages or [])):
                continue
            if key.id in backend.usage_plan_keys.get(plan.id, {}):
                req.plan, req.key_id = plan, key.id
                return
        raise GatewayError("INVALID_API_KEY", 403, MSG_FORBIDDEN)

    def throttle(self, req: "GatewayRequest") -> None:
        """The key's usage plan: throttle (429 Too Many Requests), quota (429 Limit
        Exceeded); a request let through is counted for GetUsage."""
        if req.plan is None:
            return
        refused = self.usage.admit(req.plan, req.key_id)
        if refused is not None:
            raise GatewayError("THROTTLED" if refused == MSG_THROTTLED else "QUOTA_EXCEEDED",
                               429, refused)

    def validate(self, req: "GatewayRequest") -> None:
        """A request validator with validateRequestBody: the body against the method's
        model for its content type (400 Invalid request body), before the Lambda runs."""
        checks = req.method.body_checks
        if not checks:
            return
        ctype = (req.environ.get("CONTENT_TYPE") or "application/json").split(";")[0]
        check = checks.get(ctype.strip().lower()) or checks.get("$default")
        if check is None:
            return
        try:
            doc = json.loads(req.body) if req.body else None
            problems = check(doc)
        except ValueError as exc:
            raise GatewayError("BAD_REQUEST_BODY", 400, MSG_BAD_BODY,
                               validation_error_string([f"request body is not JSON: {exc}"]))
        except RecursionError:  # a client's fault: never a 500
            raise GatewayError("BAD_REQUEST_BODY", 400, MSG_BAD_BODY,
                               validation_error_string(["request body is nested too deeply"]))
        if problems:
            log.info("API %s %s %s: invalid body: %s", req.api_id, req.verb, req.path,
                     "; ".join(problems[:3]))
            raise GatewayError("BAD_REQUEST_BODY", 400, MSG_BAD_BODY,
                               validation_error_string(problems))

    def invoke(self, req: "GatewayRequest") -> Any:
        """AWS_PROXY: the REST proxy event to the integration's function (500 when the
        integration cannot be served, 502 on a function error)."""
        method = req.method
        kind = (method.integration_type or "").upper()
        if kind != "AWS_PROXY":
            detail = f"integration type {kind or 'none'} is not served by the local cloud"
            if kind in ("HTTP", "HTTP_PROXY") and not _endpoint_address(
                    method.integration_uri or "", req.stage_vars):
                detail = "Invalid endpoint address"  # AWS's words
            log.error("API %s %s %s: %s (AWS_PROXY, AWS to Lambda and MOCK are)", req.api_id,
                      req.verb, req.resource_path, detail)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL, detail=detail)
        arn = self._lambda_arn(req)
        backend = req.backend
        event = proxy_event(
            method=req.verb, path=req.path or "/", resource_path=req.resource_path,
            headers=_request_headers(req.environ),
            query_string=req.environ.get("QUERY_STRING", ""), path_params=req.path_params,
            stage_vars=req.stage_vars, body=req.body, api_id=req.api_id, stage=req.stage_name,
            account_id=backend.account_id, request_id=req.request_id,
            source_ip=req.environ.get("REMOTE_ADDR", "127.0.0.1"),
            api_key=req.api_key if method.api_key_required else None, api_key_id=req.key_id,
            deployment_id=req.deployment_id,
            resource_id=method.resource_id)
        req.integration_body = json.dumps(event).encode()
        result = self._call_lambda(req, arn, req.integration_body)
        req.integration_status = result.status_code
        req.integration_response = result.payload
        if result.function_error or result.status_code >= 300:
            log.info("API %s %s %s: function error %s: %s", req.api_id, req.verb, req.path,
                     result.function_error, result.payload[:500])
            raise GatewayError("DEFAULT_5XX", 502, MSG_INTERNAL)
        return result

    def _lambda_arn(self, req: "GatewayRequest") -> str:
        method = req.method
        if (method.integration_http_method or "POST").upper() != "POST":
            # Lambda's Invoke API is POST .../invocations: an integration calling it with
            # another method fails, and API Gateway answers 500
            log.error("API %s %s %s: a Lambda integration must call it with POST, not %s",
                      req.api_id, req.verb, req.resource_path, method.integration_http_method)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL)
        try:
            return lambda_arn_from_uri(method.integration_uri or "", req.stage_vars)
        except ValueError as exc:
            log.error("API %s: %s (only Lambda is served as an AWS integration)", req.api_id,
                      exc)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL) from None

    def invoke_aws(self, req: "GatewayRequest") -> tuple:
        """A non-proxy Lambda integration (`type: AWS`): the request template renders the
        payload, the function's result (or its error's errorMessage) selects the
        integration response, whose template renders the answer
        (`localcloud.apigateway.mapping`)."""
        arn = self._lambda_arn(req)
        info = self._request_info(req)
        payload = self._request_payload(req, info)
        req.integration_body = payload
        result = self._call_lambda(req, arn, payload)
        error_message = None
        if result.function_error:
            try:
                error_message = str(json.loads(result.payload or b"{}").get("errorMessage", ""))
            except (ValueError, AttributeError):
                error_message = (result.payload or b"").decode("utf-8", "replace")
        outcome = mapping.IntegrationResult(body=result.payload or b"",
                                            error_message=error_message)
        return self._respond(req, outcome, info)

    def invoke_mock(self, req: "GatewayRequest") -> tuple:
        """A MOCK integration: the request template's `statusCode` selects the integration
        response (selection patterns match the status code), whose template renders the
        answer; nothing is called."""
        info = self._request_info(req)
        payload = self._request_payload(req, info)
        outcome = mapping.IntegrationResult(body=b"", status_code=mapping.mock_status(payload))
        return self._respond(req, outcome, info)

    def _request_info(self, req: "GatewayRequest") -> mapping.RequestInfo:
        method = req.method
        env = req.environ
        return mapping.RequestInfo(
            api_id=req.api_id, account_id=req.backend.account_id, stage=req.stage_name,
            http_method=req.verb, path=req.path or "/", resource_path=req.resource_path,
            resource_id=method.resource_id, request_id=req.request_id,
            source_ip=env.get("REMOTE_ADDR", "127.0.0.1"),
            user_agent=env.get("HTTP_USER_AGENT", ""), domain_name=env.get("HTTP_HOST", ""),
            path_params=dict(req.path_params),
            query={k: v[-1] for k, v in parse_qs(env.get("QUERY_STRING", ""),
                                                 keep_blank_values=True).items()},
            headers=dict(_request_headers(env)), stage_vars=dict(req.stage_vars))

    def _request_payload(self, req: "GatewayRequest", info: mapping.RequestInfo) -> bytes:
        method = req.method
        try:
            return mapping.request_body(method.request_templates, method.passthrough_behavior,
                                        req.environ.get("CONTENT_TYPE"), req.body, info)
        except mapping.UnsupportedMediaType:
            raise GatewayError("UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported Media Type") from None
        except Exception as exc:  # noqa: BLE001 - a template that does not render
            log.error("API %s %s %s: request template failed: %s", req.api_id, req.verb,
                      req.path, exc)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL) from None

    def _respond(self, req: "GatewayRequest", outcome: mapping.IntegrationResult,
                 info: mapping.RequestInfo) -> tuple:
        """The integration response the outcome selects, rendered."""
        req.integration_status = outcome.status_code
        req.integration_response = outcome.body
        try:
            chosen = mapping.select_response(req.method.integration_responses, outcome)
            status, hdrs, body = mapping.response(chosen, outcome, info,
                                                  req.environ.get("HTTP_ACCEPT"))
        except mapping.NoIntegrationResponse:
            log.error("API %s %s %s: no integration response applies", req.api_id, req.verb,
                      req.resource_path)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL,
                               detail="No match for output mapping and no default output "
                                      "mapping configured") from None
        except Exception as exc:  # noqa: BLE001 - a template that does not render
            log.error("API %s %s %s: response template failed: %s", req.api_id, req.verb,
                      req.path, exc)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL) from None
        return status, req.base_headers + hdrs, body

    def _call_lambda(self, req: "GatewayRequest", arn: str, payload: bytes) -> Any:
        backend = req.backend
        parts = arn.split(":")
        region = parts[3] if len(parts) > 4 else backend.region_name
        try:
            result = self.cloud.invoke_function(
                arn, payload, invocation_type="RequestResponse",
                region=region, account_id=backend.account_id, source="apigateway",
                credentials_role=req.method.integration_credentials,
                source_arn=f"arn:aws:execute-api:{backend.region_name}:{backend.account_id}:"
                           f"{req.api_id}/{req.stage_name}/{req.verb}{req.resource_path}")
        except Exception as exc:  # noqa: BLE001 - no such function, not allowed etc.
            log.error("API %s %s %s: invoking %s failed: %s", req.api_id, req.verb, req.path,
                      arn, exc)
            raise GatewayError("API_CONFIGURATION_ERROR", 500, MSG_INTERNAL) from None
        if result.status_code == 429:
            # the function is throttled (no environment freed up within the integration
            # timeout): AWS answers 500 Internal server error
            log.warning("API %s %s %s: %s throttled: %s", req.api_id, req.verb, req.path, arn,
                        result.payload[:200])
            raise GatewayError("DEFAULT_5XX", 500, MSG_INTERNAL)
        return result

    def map(self, req: "GatewayRequest", result: Any) -> tuple:
        """The proxy result (statusCode, headers, multiValueHeaders, body, isBase64Encoded)
        to the response; a malformed one is a 502."""
        try:
            resp = map_proxy_response(json.loads(result.payload or b"null"))
        except (ValueError, MalformedProxyResponse) as exc:
            log.error("API %s %s %s: malformed Lambda proxy response: %s", req.api_id,
                      req.verb, req.path, exc)
            raise GatewayError("DEFAULT_5XX", 502, MSG_INTERNAL) from None
        hdrs = req.base_headers + resp.headers
        if not any(k.lower() == "content-type" for k, _ in resp.headers):
            hdrs.append(("Content-Type", "application/json"))
        binary_types = req.deployment.binary_types if req.deployment else []
        try:
            body = resp.for_accept(req.environ.get("HTTP_ACCEPT"), binary_types)
        except ValueError as exc:  # AWS: a body to convert that is not base64 is a 500
            log.error("API %s %s %s: %s", req.api_id, req.verb, req.path, exc)
            raise GatewayError("DEFAULT_5XX", 500, MSG_INTERNAL) from None
        return resp.status, hdrs, body

    def error_response(self, req: "GatewayRequest", err: "GatewayError") -> tuple:
        """An error API Gateway produces: the deployment's gateway response for its type,
        else AWS's built-in `{"message": ...}`."""
        etype = ("x-amzn-ErrorType", _error_type(err.response_type, err.status))
        dep = req.deployment
        custom = find_gateway_response(dep.responses, err.response_type, err.status) \
            if dep else None
        if custom is None:
            return (err.status, req.base_headers + [("Content-Type", "application/json"), etype],
                    json.dumps({"message": err.message}).encode())
        environ = req.environ
        variables = gateway_template_vars(
            response_type=err.response_type, message=err.message, request_id=req.request_id,
            validation_error=err.validation, api_id=req.api_id, stage=req.stage_name,
            http_method=req.verb, resource_path=req.resource_path, path=req.path,
            stage_vars=req.stage_vars)
        code, hdrs, body = render_gateway_response(
            custom, status=err.status, variables=variables, accept=environ.get("HTTP_ACCEPT"),
            request_headers=dict(_request_headers(environ)),
            query={k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()},
            path_params=req.path_params, stage_vars=req.stage_vars)
        return code, req.base_headers + hdrs + [etype], body


_STAGE_VAR = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.:/?#&=,-]+)\}")


def _endpoint_address(uri: str, stage_vars: dict) -> str:
    """An HTTP integration's URI with its `${stageVariables.x}` filled in; "" when what is
    left names no host (AWS: `Invalid endpoint address`)."""
    from urllib.parse import urlsplit

    filled = _STAGE_VAR.sub(lambda m: str(stage_vars.get(m.group(1), "")), uri)
    try:
        parts = urlsplit(filled)
    except ValueError:
        return ""
    return filled if parts.scheme in ("http", "https") and parts.hostname else ""


class GatewayError(Exception):
    """What a data plane step refuses a request with: a gateway response type (AWS's names:
    FORBIDDEN, INVALID_API_KEY, THROTTLED, ...), the status and the built-in message."""

    def __init__(self, response_type: str, status: int, message: str, validation: str = "",
                 detail: str = ""):
        super().__init__(f"{status} {response_type}: {message}")
        self.response_type = response_type
        self.status = status
        self.message = message
        self.validation = validation  # $context.error.validationErrorString
        self.detail = detail  # what the execution log says (TestInvokeMethod's `log`)


@dataclass
class GatewayRequest:
    """One invoke-URL request as the data plane's steps fill it in."""
    environ: dict
    api_id: str
    stage_name: str
    path: str
    verb: str
    request_id: str
    body: bytes
    too_large: bool
    api_key: str | None
    backend: Any = None
    deployment: Deployment | None = None
    stage_vars: dict = field(default_factory=dict)
    method: CompiledMethod | None = None
    resource_path: str = ""
    path_params: dict = field(default_factory=dict)
    plan: Any = None
    key_id: str | None = None
    deployment_id: str | None = None
    # what the integration was sent and answered (TestInvokeMethod's execution log)
    integration_body: bytes | None = None
    integration_status: int | None = None
    integration_response: bytes | None = None

    @property
    def base_headers(self) -> list[tuple[str, str]]:
        return [("x-amzn-RequestId", self.request_id),
                ("x-amz-apigw-id", self.request_id[:8].upper() + "=")]


def read_request(environ: dict, api_id: str, stage_name: str, path: str) -> GatewayRequest:
    """The request with its body read (up to 10 MB; beyond, `too_large` and no body)."""
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
    return GatewayRequest(environ=environ, api_id=api_id, stage_name=stage_name, path=path,
                          verb=environ.get("REQUEST_METHOD", "GET").upper(),
                          request_id=str(uuid.uuid4()), body=body, too_large=too_large,
                          api_key=environ.get("HTTP_X_API_KEY"))


_ERROR_TYPES = {
    "FORBIDDEN": "ForbiddenException", "INVALID_API_KEY": "ForbiddenException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "THROTTLED": "TooManyRequestsException", "QUOTA_EXCEEDED": "LimitExceededException",
    "BAD_REQUEST_BODY": "BadRequestException", "REQUEST_TOO_LARGE": "RequestTooLargeException",
    "ACCESS_DENIED": "AccessDeniedException", "INVALID_SIGNATURE": "InvalidSignatureException",
    "EXPIRED_TOKEN": "ExpiredTokenException",
}


def _error_type(response_type: str, status: int) -> str:
    """`x-amzn-ErrorType` for an error of this gateway response type."""
    return _ERROR_TYPES.get(response_type) or \
        ("InternalServerErrorException" if status >= 500 else "Exception")


RAW_HEADERS = "localcloud.raw_headers"  # environ key: [(name as sent, value)] from the server


def _request_headers(environ: dict) -> list[tuple[str, str]]:
    """The request's headers with their names as the client sent them (the REST proxy event
    keeps them so); a WSGI environ without the server's raw list falls back to CGI names."""
    raw = environ.get(RAW_HEADERS)
    if raw is not None:
        return [(str(k), str(v)) for k, v in raw]
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
    if hasattr(cloud, "register_state"):
        cloud.register_state("apigateway.usage", plane.usage.dump, plane.usage.load)

    def create_deployment(original: Any) -> Any:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            deployment = original(self, *args, **kwargs)
            plane.snapshot(self, deployment.id)
            return deployment
        return patched

    cloud.hook(RestAPI, "create_deployment", create_deployment)

    def factory(app: Callable, _cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            path = environ.get("PATH_INFO", "")
            if path.startswith("/restapis/") and "/_user_request_" in path:
                m = _INVOKE_RE.match(path)
                if m is None:  # e.g. a `..` segment before the stage: no route, as on AWS
                    body = json.dumps({"message": MSG_MISSING_TOKEN}).encode()
                    start_response(_status_line(403), [
                        ("Content-Type", "application/json"),
                        ("x-amzn-ErrorType", "MissingAuthenticationTokenException"),
                        ("Content-Length", str(len(body)))])
                    return [body]
                else:
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
        if getattr(cloud, "apigateway", None) is plane:
            cloud.apigateway = None

    return uninstall
