"""TestInvokeMethod: `POST /restapis/{id}/resources/{resource_id}/methods/{http_method}`.

AWS (https://docs.aws.amazon.com/apigateway/latest/api/API_TestInvokeMethod.html) runs the
method as it is now configured (no deployment needed, stage `test-invoke-stage`) with the
request the call describes (`pathWithQueryString`, `body`, `headers`, `multiValueHeaders`,
`stageVariables`), without API keys, usage plans or authorizers, and answers 200 with what
the method would have returned: `status`, `body`, `headers`, `multiValueHeaders`, `latency`
(ms) and an execution `log` in AWS's format (the lines of AWS's recorded answers: the
method request, for a Lambda integration the endpoint request and response, the method
response, or `Execution failed due to configuration error: ...`).

The request runs through the data plane's own steps (`DataPlane.validate` and
`DataPlane.integrate`: MOCK, AWS and AWS_PROXY to Lambda; errors as `error_response` renders
them). A missing API, resource or method is refused before this by `control.missing` (404
`Invalid Resource identifier specified` / `Invalid Method identifier specified`, as AWS).
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from .dataplane import (
    RAW_HEADERS, Deployment, DataPlane, GatewayError, GatewayRequest, compile_api,
    compile_responses,
)
from .logic import Route, RouteTable
from .updates import ApiError

STAGE = "test-invoke-stage"


def is_test_invoke(verb: str, segs: list[str]) -> bool:
    return verb == "POST" and len(segs) == 6 and segs[0] == "restapis" and \
        segs[2] == "resources" and segs[4] == "methods"


def serve(plane: DataPlane, backend: Any, segs: list[str], body: bytes) -> tuple[int, dict]:
    """(200, TestInvokeMethod's answer). The API, resource and method exist (checked)."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise ApiError(400, "SerializationException", "the request body is not a JSON object")
    api = backend.apis[segs[1]]
    verb = segs[5].upper()
    routes = compile_api(api)  # as configured now, not as last deployed
    route = routes.by_resource(segs[3])
    method = (route.methods.get(verb) or route.methods.get("ANY")) if route is not None \
        else None
    if method is None:
        raise ApiError(404, "NotFoundException", "Invalid Method identifier specified")
    path_qs = str(doc.get("pathWithQueryString") or route.path)
    path, _, query = path_qs.partition("?")
    path = path or "/"
    hit = RouteTable([Route(path=route.path, segments=(), methods={})]).match(path)
    headers = _header_list(doc.get("headers"), doc.get("multiValueHeaders"))
    text = doc.get("body")
    req = GatewayRequest(
        environ=_environ(verb, path, query, headers), api_id=api.id, stage_name=STAGE,
        path=path, verb=verb, request_id=str(uuid.uuid4()),
        body=text.encode("utf-8") if isinstance(text, str) else b"", too_large=False,
        api_key=None)
    req.backend = backend
    req.deployment = Deployment(routes, compile_responses(api),
                                list(getattr(api, "binaryMediaTypes", None) or []))
    stage_vars = doc.get("stageVariables")
    req.stage_vars = {str(k): str(v) for k, v in stage_vars.items()} \
        if isinstance(stage_vars, dict) else {}
    req.method, req.resource_path = method, route.path
    req.path_params = hit[1] if hit is not None else {}
    started = time.monotonic()
    failure = None
    try:
        plane.validate(req)
        status, out_headers, out = plane.integrate(req)
    except GatewayError as err:
        failure = err
        status, out_headers, out = plane.error_response(req, err)
    latency = int((time.monotonic() - started) * 1000)
    base = set(req.base_headers)
    shown = [h for h in out_headers if h not in base]
    if failure is not None:  # AWS shows an error's type, not the default content type
        shown = [h for h in shown if h != ("Content-Type", "application/json")]
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for k, v in shown:
        single[k] = v
        multi.setdefault(k, []).append(v)
    answer = {"status": status, "body": out.decode("utf-8", "replace"), "headers": single,
              "multiValueHeaders": multi, "latency": latency,
              "log": execution_log(req, query, status, out, single, failure, latency)}
    return 200, answer


def _header_list(headers: Any, multi: Any) -> list[tuple[str, str]]:
    out = [(str(k), str(v)) for k, v in (headers or {}).items()] \
        if isinstance(headers, dict) else []
    if isinstance(multi, dict):
        seen = {k.lower() for k, _ in out}
        for k, values in multi.items():
            if str(k).lower() in seen or not isinstance(values, list):
                continue
            out += [(str(k), str(v)) for v in values]
    return out


def _environ(verb: str, path: str, query: str, headers: list[tuple[str, str]]) -> dict:
    environ: dict = {"REQUEST_METHOD": verb, "PATH_INFO": path, "QUERY_STRING": query,
                     "REMOTE_ADDR": "test-invoke-source-ip", RAW_HEADERS: headers}
    for k, v in headers:
        name = k.upper().replace("-", "_")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = v
        else:
            environ["HTTP_" + name] = v
    return environ


def java_map(items: Any) -> str:
    """A map as AWS's execution log prints it: `{a=1, b=2}`."""
    pairs = items.items() if isinstance(items, dict) else items
    return "{" + ", ".join(f"{k}={v}" for k, v in pairs) + "}"


def execution_log(req: GatewayRequest, query: str, status: int, body: bytes,
                  headers: dict[str, str], failure: GatewayError | None, latency: int) -> str:
    when = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    raw = req.environ.get(RAW_HEADERS) or []
    lines = [f"Execution log for request {req.request_id}",
             f"Starting execution for request: {req.request_id}",
             f"HTTP Method: {req.verb}, Resource Path: {req.path}",
             f"Method request path: {java_map(req.path_params)}",
             f"Method request query string: {java_map(parse_qsl(query, keep_blank_values=True))}",
             f"Method request headers: {java_map(raw)}",
             "Method request body before transformations: "
             + req.body.decode("utf-8", "replace")]
    if req.integration_body is not None:
        uri = _endpoint_uri(req)
        lines += [f"Endpoint request URI: {uri}",
                  "Endpoint request body after transformations: "
                  + req.integration_body.decode("utf-8", "replace"),
                  f"Sending request to {uri}"]
        if req.integration_status is not None:
            lines += [f"Received response. Status: {req.integration_status}, "
                      f"Integration latency: {latency} ms",
                      "Endpoint response body before transformations: "
                      + (req.integration_response or b"").decode("utf-8", "replace")]
    if failure is not None:
        if failure.status >= 500:
            detail = failure.detail or failure.message
            lines.append(f"Execution failed due to configuration error: {detail}")
        else:
            lines.append(failure.detail or failure.validation or failure.message)
    else:
        lines += ["Method response body after transformations: "
                  + body.decode("utf-8", "replace"),
                  f"Method response headers: {java_map(headers)}",
                  "Successfully completed execution"]
    lines.append(f"Method completed with status: {status}")
    return lines[0] + "\n" + "".join(f"{when} : {line}\n" for line in lines[1:])


def _endpoint_uri(req: GatewayRequest) -> str:
    """The Lambda Invoke URL a Lambda integration calls."""
    from .logic import lambda_arn_from_uri

    try:
        arn = lambda_arn_from_uri(req.method.integration_uri or "", req.stage_vars)
    except ValueError:
        return req.method.integration_uri or ""
    region = arn.split(":")[3] if arn.count(":") >= 4 else req.backend.region_name
    return f"https://lambda.{region}.amazonaws.com/2015-03-31/functions/{arn}/invocations"
