"""Non-proxy (AWS) integrations: mapping templates, passthrough, integration response selection."""
import json
from types import SimpleNamespace

import pytest

from localcloud.apigateway import mapping


def info(**kw):
    base = dict(api_id="abc123", account_id="000000000000", stage="api", http_method="GET",
                path="/test", resource_path="/test", resource_id="r1", request_id="req-1",
                path_params={"id": "7"}, query={"param1": "foobar"},
                headers={"User-Agent": "ua", "X-Thing": "x"}, stage_vars={"v": "1"})
    base.update(kw)
    return mapping.RequestInfo(**base)


def test_json_path_subset():
    doc = {"a": {"b": [10, {"c": "d"}]}, "k-1": 2}
    assert mapping.json_path(doc, "$") is doc
    assert mapping.json_path(doc, "$.a.b[0]") == 10
    assert mapping.json_path(doc, "$.a.b[1]['c']") == "d"
    assert mapping.json_path(doc, "$.missing.x") is None
    with pytest.raises(ValueError):
        mapping.json_path(doc, "$..a")


def test_request_template_params_and_context():
    tpl = ('{"param1": "$input.params(\'param1\')", "id": "$input.params(\'id\')", '
           '"h": "$input.params(\'x-thing\')", "stage": "$context.stage", '
           '"path": "$context.path", "v": "$stageVariables.v", "body": $input.json(\'$\')}')
    out = mapping.request_body({"application/json": tpl}, None, None, b'{"q": [1]}', info())
    assert json.loads(out) == {"param1": "foobar", "id": "7", "h": "x", "stage": "api",
                               "path": "/api/test", "v": "1", "body": {"q": [1]}}


def test_request_template_foreach_and_escape():
    tpl = ('#set($qs = $input.params().get(\'querystring\'))'
           '{#foreach($k in $qs.keySet())"$k": "$util.escapeJavaScript($qs.get($k))"'
           '#if($foreach.hasNext),#end#end}')
    out = mapping.request_body({"application/json": tpl}, None, "application/json", b"",
                               info(query={"a": 'say "hi"', "b": "2"}))
    assert json.loads(out) == {"a": 'say "hi"', "b": "2"}


def test_passthrough_behaviours():
    body = b"<x/>"
    templates = {"application/json": "{}"}
    assert mapping.request_body(templates, "WHEN_NO_MATCH", "text/xml", body, info()) == body
    assert mapping.request_body({}, "WHEN_NO_TEMPLATES", "text/xml", body, info()) == body
    with pytest.raises(mapping.UnsupportedMediaType):
        mapping.request_body(templates, "WHEN_NO_TEMPLATES", "text/xml", body, info())
    with pytest.raises(mapping.UnsupportedMediaType):
        mapping.request_body({}, "NEVER", "text/xml", body, info())


def resp(code, pattern=None, templates=None, params=None):
    return SimpleNamespace(status_code=code, selection_pattern=pattern,
                           response_templates=templates or {}, response_parameters=params or {})


def test_selection_matches_error_message_only():
    responses = {"200": resp("200", ""), "405": resp("405", ".*four hundred.*"),
                 "502": resp("502", ".+"), "504": resp("504", "200")}
    ok = mapping.IntegrationResult(body=b'"Pass"')
    assert mapping.select_response(responses, ok).status_code == "200"
    e4 = mapping.IntegrationResult(body=b"{}", error_message="Raising four hundred here")
    assert mapping.select_response(responses, e4).status_code == "405"
    e5 = mapping.IntegrationResult(body=b"{}", error_message="five hundred")
    assert mapping.select_response(responses, e5).status_code == "502"
    # the whole message must match
    only = {"200": resp("200"), "400": resp("400", "four")}
    assert mapping.select_response(
        only, mapping.IntegrationResult(b"{}", "four hundred")).status_code == "200"
    with pytest.raises(mapping.NoIntegrationResponse):
        mapping.select_response({"400": resp("400", "x")}, ok)


def test_response_template_override_and_headers():
    tpl = ('#set($inputRoot = $input.path(\'$\'))$input.json("$")'
           '#if($inputRoot.toString().contains("customerror"))'
           '#set($context.responseOverride.status = 400)#end')
    chosen = resp("200", "", {"application/json": tpl},
                  {"method.response.header.X-Static": "'yes'",
                   "method.response.header.X-Body": "integration.response.body.body"})
    result = mapping.IntegrationResult(body=b'{"statusCode": 200, "body": "customerror"}')
    status, headers, body = mapping.response(chosen, result, info(), None)
    assert status == 400
    assert json.loads(body) == {"statusCode": 200, "body": "customerror"}
    assert ("X-Static", "yes") in headers and ("X-Body", "customerror") in headers
    assert ("Content-Type", "application/json") in headers
    ok = mapping.IntegrationResult(body=b'{"body": "fine"}')
    assert mapping.response(chosen, ok, info(), None)[0] == 200


def test_response_without_template_passes_the_result():
    status, _, body = mapping.response(resp("200"), mapping.IntegrationResult(b'{"a": 1}'),
                                       info(), "application/json")
    assert (status, body) == (200, b'{"a": 1}')
