"""Gateway responses (PutGatewayResponse) and the validator's wording: pure logic."""
import json

import pytest

from localcloud.apigateway.logic import (
    DEFAULT_GATEWAY_TEMPLATE, compile_gateway_responses, compile_schema, find_gateway_response,
    gateway_template_vars, render_gateway_response, render_gateway_template,
    validation_error_string,
)


def variables(rtype="BAD_REQUEST_BODY", message="Invalid request body", validation=""):
    return gateway_template_vars(response_type=rtype, message=message, request_id="rid-1",
                                 validation_error=validation, api_id="a1", stage="production",
                                 stage_vars={"env": "dev"})


def test_substitution_of_context_variables():
    v = variables(validation='[object has missing required properties (["mean radius"])]')
    out = render_gateway_template(
        '{"m":$context.error.messageString,"raw":"$context.error.message",'
        '"v":"$context.error.validationErrorString","t":"$context.error.responseType",'
        '"id":"${context.requestId}","env":"$stageVariables.env","x":"$context.nope"}', v)
    assert json.loads(out) == {
        "m": "Invalid request body", "raw": "Invalid request body",
        "v": '[object has missing required properties (["mean radius"])]',
        "t": "BAD_REQUEST_BODY", "id": "rid-1", "env": "dev", "x": ""}


def test_substitution_leaves_other_dollars_and_keeps_a_dotted_tail():
    v = variables()
    assert render_gateway_template("cost $5 $other.thing", v) == "cost $5 $other.thing"
    assert render_gateway_template("id=$context.requestId.", v) == "id=rid-1."
    assert render_gateway_template("$context.requestId.tail", v) == "rid-1.tail"
    # messageString is a JSON string, quotes and all; message is raw
    v = variables(message='say "hi"')
    assert render_gateway_template("$context.error.messageString", v) == '"say \\"hi\\""'
    assert render_gateway_template("$context.error.message", v) == 'say "hi"'


def test_no_customisation_means_builtin_responses():
    r = compile_gateway_responses({})
    assert r == {} and find_gateway_response(r, "BAD_REQUEST_BODY", 400) is None


def test_own_type_wins_and_fallbacks_fill_the_rest():
    r = compile_gateway_responses({
        "BAD_REQUEST_BODY": {"statusCode": "422",
                             "responseTemplates": {"application/json": '{"bad":true}'}},
        "DEFAULT_4XX": {"responseParameters": {"gatewayresponse.header.X-Four": "'4'"},
                        "responseTemplates": {"application/json": '{"four":$context.error.messageString}'}},
    })
    own = find_gateway_response(r, "BAD_REQUEST_BODY", 400)
    assert own.status == 422 and own.templates == (("application/json", '{"bad":true}'),)
    assert own.headers == ()   # an own customisation does not inherit DEFAULT_4XX's headers
    for rtype, status in (("MISSING_AUTHENTICATION_TOKEN", 403), ("INVALID_API_KEY", 403),
                          ("THROTTLED", 429), ("QUOTA_EXCEEDED", 429), ("REQUEST_TOO_LARGE", 413)):
        fb = find_gateway_response(r, rtype, status)
        assert fb.response_type == rtype and fb.status == status  # keeps its own status
        assert fb.headers == (("X-Four", "static", "4"),)
    # 5xx types are not touched by DEFAULT_4XX
    assert find_gateway_response(r, "API_CONFIGURATION_ERROR", 500) is None
    assert find_gateway_response(r, "DEFAULT_5XX", 502) is None


def test_fallback_status_code_overrides_the_types_it_covers():
    r = compile_gateway_responses({"DEFAULT_4XX": {"statusCode": "400"},
                                   "DEFAULT_5XX": {"statusCode": "503"},
                                   "THROTTLED": {"responseTemplates": {"application/json": "t"}}})
    assert find_gateway_response(r, "MISSING_AUTHENTICATION_TOKEN", 403).status == 400
    assert find_gateway_response(r, "THROTTLED", 429).status == 429   # own, no statusCode
    assert find_gateway_response(r, "API_CONFIGURATION_ERROR", 500).status == 503
    # DEFAULT_5XX itself (the 502s for a bad Lambda result)
    five = find_gateway_response(r, "DEFAULT_5XX", 502)
    assert five.status == 503 and five.templates == (("application/json", DEFAULT_GATEWAY_TEMPLATE),)


def test_render_status_headers_and_template_choice():
    r = compile_gateway_responses({"DEFAULT_5XX": {
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                               "gatewayresponse.header.X-Echo": "method.request.header.X-Trace",
                               "gatewayresponse.header.X-Q": "method.request.querystring.q",
                               "gatewayresponse.header.X-Env": "stageVariables.env"},
        "responseTemplates": {"application/json": '{"e":$context.error.messageString}',
                              "text/plain": "oops $context.requestId"}}})
    resp = find_gateway_response(r, "DEFAULT_5XX", 502)
    status, headers, body = render_gateway_response(
        resp, status=502, variables=variables("DEFAULT_5XX", "Internal server error"),
        request_headers={"x-trace": "t9"}, query={"q": "1"}, stage_vars={"env": "dev"})
    assert status == 502 and json.loads(body) == {"e": "Internal server error"}
    assert headers[0] == ("Content-Type", "application/json")
    assert dict(headers)["Access-Control-Allow-Origin"] == "*"
    assert dict(headers)["X-Echo"] == "t9" and dict(headers)["X-Q"] == "1"
    assert dict(headers)["X-Env"] == "dev"
    status, headers, body = render_gateway_response(
        resp, status=502, variables=variables("DEFAULT_5XX", "x"), accept="text/plain")
    assert body == b"oops rid-1" and headers[0] == ("Content-Type", "text/plain")
    assert "X-Echo" not in dict(headers)   # no such request header: not sent


@pytest.mark.parametrize("bad", [
    {"statusCode": "abc"}, {"statusCode": "700"},
    {"responseParameters": {"method.response.header.X": "'a'"}},
    {"responseParameters": {"gatewayresponse.header.X": "unquoted"}}])
def test_customisations_aws_refuses_are_errors(bad):
    with pytest.raises(ValueError, match="gateway response BAD_REQUEST_BODY"):
        compile_gateway_responses({"BAD_REQUEST_BODY": bad})


SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object", "required": ["instances"], "additionalProperties": False,
    "properties": {
        "instances": {"type": "array", "minItems": 1, "maxItems": 2,
                      "items": {"type": "object", "required": ["mean radius", "mean area"],
                                "properties": {"mean radius": {"type": "number", "minimum": 0},
                                               "mean area": {"type": "number", "maximum": 10}}}},
        "mode": {"enum": ["fast", "slow"]}, "name": {"type": "string", "minLength": 2,
                                                     "pattern": "^[a-z]+$"}}}


@pytest.mark.parametrize("doc,expected", [
    ({}, ['object has missing required properties (["instances"])']),
    ({"instances": [{}]}, ['object has missing required properties (["mean radius","mean area"])']),
    ({"instances": [], "x": 1}, [
        "object instance has properties which are not allowed by the schema: [\"x\"]",
        "array is too short: must have at least 1 elements but instance has 0 elements"]),
    ({"instances": [{"mean radius": "a", "mean area": 1}]},
     ['instance type (string) does not match any allowed primitive type (allowed: ["number"])']),
    ({"instances": [{"mean radius": -1, "mean area": 11}]}, [
        "numeric instance is lower than the required minimum (minimum: 0, found: -1)",
        "numeric instance is greater than the required maximum (maximum: 10, found: 11)"]),
    ({"instances": [{"mean radius": 1, "mean area": 1}] * 3},
     ["array is too long: must have at most 2 elements but instance has 3 elements"]),
    ({"instances": [{"mean radius": 1, "mean area": 1}], "mode": "x"},
     ['instance value ("x") not found in enum (possible values: ["fast","slow"])']),
    ({"instances": [{"mean radius": 1, "mean area": 1}], "name": "A"}, [
        'string "A" is too short (length: 1, required minimum: 2)',
        'ECMA 262 regex "^[a-z]+$" does not match input string "A"']),
    ([1], ['instance type (array) does not match any allowed primitive type (allowed: ["object"])']),
])
def test_validator_words_errors_like_aws(doc, expected):
    assert sorted(compile_schema(SCHEMA)(doc)) == sorted(expected)


def test_validation_error_string_is_a_bracketed_list():
    assert validation_error_string(["a", "b"]) == "[a, b]"
    assert validation_error_string(['object has missing required properties (["x"])']) == \
        '[object has missing required properties (["x"])]'


def test_mlpipe_style_template_stays_json():
    # a template that puts the validator's text inside a JSON string, as mlpipe/api.py does
    tpl = '{"message": "Invalid request body: $context.error.validationErrorString"}'
    v = variables(validation=validation_error_string(
        compile_schema(SCHEMA)({"instances": [{"mean area": 1}]})))
    assert json.loads(render_gateway_template(tpl, v)) == {
        "message": 'Invalid request body: [object has missing required properties (["mean radius"])]'}
