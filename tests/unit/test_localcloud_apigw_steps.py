"""DataPlane.handle as named steps (route -> key -> throttle -> validate -> invoke -> map), each
refusing with the one GatewayError type; exercised on fakes of moto's stored objects."""
import io
import json
from types import SimpleNamespace as NS

import pytest

from localcloud.apigateway.dataplane import (
    CompiledMethod, DataPlane, Deployment, GatewayError, GatewayRequest, read_request,
)
from localcloud.apigateway.logic import Route, RouteTable


def request(**kw) -> GatewayRequest:
    base = dict(environ={}, api_id="a1", stage_name="prod", path="/p", verb="POST",
                request_id="0123456789", body=b"", too_large=False, api_key=None)
    base.update(kw)
    return GatewayRequest(**base)


def plane_with(api=None, invoke=None) -> DataPlane:
    plane = DataPlane(NS(invoke_function=invoke))
    plane.find_api = lambda api_id: (NS(account_id="123456789012", region_name="us-east-1",
                                        keys={}, usage_plans={}, usage_plan_keys={}), api) \
        if api is not None and api_id == "a1" else None
    return plane


def method(**kw) -> CompiledMethod:
    base = dict(http_method="POST", api_key_required=False, integration_type="AWS_PROXY",
                integration_uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                                "arn:aws:lambda:us-east-1:123456789012:function:f/invocations")
    base.update(kw)
    return CompiledMethod(**base)


def test_read_request_reads_the_body_and_flags_one_over_10_mb():
    env = {"REQUEST_METHOD": "post", "CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}"),
           "HTTP_X_API_KEY": "k"}
    req = read_request(env, "a1", "prod", "/p")
    assert (req.verb, req.body, req.too_large, req.api_key) == ("POST", b"{}", False, "k")
    big = read_request({"CONTENT_LENGTH": str(10 * 1024 * 1024 + 1),
                        "wsgi.input": io.BytesIO(b"")}, "a1", "prod", "/p")
    assert big.too_large and big.body == b""


def test_route_refuses_an_unknown_api_stage_and_path():
    plane = plane_with(api=None)
    with pytest.raises(GatewayError) as e:
        plane.route(request())
    assert (e.value.response_type, e.value.status, e.value.message) == ("FORBIDDEN", 403, "Forbidden")

    api = NS(id="a1", stages={"prod": NS(deployment_id="d1", variables={"v": "1"})})
    plane = plane_with(api=api)
    plane._tables[("a1", "d1")] = Deployment(RouteTable([
        Route(path="/p", segments=(), methods={"POST": method()})]))
    req = request()
    plane.route(req)
    assert req.resource_path == "/p" and req.stage_vars == {"v": "1"} and req.method.http_method == "POST"
    with pytest.raises(GatewayError) as e:
        plane.route(request(path="/nope"))
    assert (e.value.response_type, e.value.status) == ("MISSING_AUTHENTICATION_TOKEN", 403)
    with pytest.raises(GatewayError) as e:
        plane.route(request(too_large=True))
    assert (e.value.response_type, e.value.status) == ("REQUEST_TOO_LARGE", 413)


def test_key_then_throttle():
    plan = NS(id="up1", api_stages=[{"apiId": "a1", "stage": "prod"}],
              throttle={"rateLimit": 1, "burstLimit": 1}, quota={})
    backend = NS(keys={"k1": NS(id="k1", value="secret", enabled=True)},
                 usage_plans={"up1": plan}, usage_plan_keys={"up1": {"k1": object()}})
    plane = plane_with()
    needs_key = method(api_key_required=True)
    for value in (None, "wrong"):
        with pytest.raises(GatewayError) as e:
            plane.key(request(method=needs_key, backend=backend, api_key=value))
        assert (e.value.response_type, e.value.status, e.value.message) == \
            ("INVALID_API_KEY", 403, "Forbidden")
    req = request(method=needs_key, backend=backend, api_key="secret")
    plane.key(req)
    assert (req.plan, req.key_id) == (plan, "k1")
    plane.throttle(req)  # the one token of the burst
    with pytest.raises(GatewayError) as e:
        plane.throttle(req)
    assert (e.value.response_type, e.value.status, e.value.message) == \
        ("THROTTLED", 429, "Too Many Requests")
    open_req = request(method=method(), backend=backend)
    plane.key(open_req)
    plane.throttle(open_req)  # no key required: no plan, never throttled
    assert open_req.plan is None


def test_validate_refuses_a_body_against_the_model():
    check = lambda doc: [] if isinstance(doc, dict) else ["$: not an object"]  # noqa: E731
    m = method(body_checks={"application/json": check})
    plane = plane_with()
    plane.validate(request(method=m, body=b'{"a": 1}', environ={"CONTENT_TYPE": "application/json"}))
    for body in (b"[1]", b"not json"):
        with pytest.raises(GatewayError) as e:
            plane.validate(request(method=m, body=body, environ={}))
        assert (e.value.response_type, e.value.status, e.value.message) == \
            ("BAD_REQUEST_BODY", 400, "Invalid request body")
        assert e.value.validation


def test_invoke_and_map():
    calls = []

    def invoke(arn, payload, **kw):
        calls.append((arn, json.loads(payload), kw))
        return NS(function_error=None, status_code=200,
                  payload=json.dumps({"statusCode": 201, "body": "ok"}).encode())

    plane = plane_with(invoke=invoke)
    backend = NS(account_id="123456789012", region_name="us-east-1")
    req = request(method=method(), backend=backend, resource_path="/p", body=b"x")
    status, headers, body = plane.map(req, plane.invoke(req))
    assert (status, body) == (201, b"ok")
    assert ("x-amzn-RequestId", "0123456789") in headers
    arn, event, kw = calls[0]
    assert arn.endswith(":function:f") and event["resource"] == "/p" and event["body"] == "x"
    assert kw["source"] == "apigateway"

    with pytest.raises(GatewayError) as e:
        plane.invoke(request(method=method(integration_type="HTTP"), backend=backend))
    assert (e.value.response_type, e.value.status) == ("API_CONFIGURATION_ERROR", 500)
    failing = plane_with(invoke=lambda *a, **k: NS(function_error="Unhandled", status_code=200,
                                                    payload=b"{}"))
    with pytest.raises(GatewayError) as e:
        failing.invoke(request(method=method(), backend=backend))
    assert (e.value.status, e.value.message) == (502, "Internal server error")
    with pytest.raises(GatewayError) as e:
        plane.map(req, NS(payload=b'{"statusCode": "x", "nope": 1}'))
    assert e.value.status == 502


def test_handle_turns_a_step_error_into_the_builtin_response():
    status, headers, body = plane_with(api=None).handle(
        {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}, "zz", "prod", "/")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    assert ("x-amzn-ErrorType", "ForbiddenException") in headers
