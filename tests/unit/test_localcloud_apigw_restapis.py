"""CreateRestApi refusals and gateway responses as AWS answers them."""
from types import SimpleNamespace as NS

import pytest

from localcloud.apigateway import gatewayresponses, restapis
from localcloud.apigateway.updates import ApiError


def refused(doc):
    with pytest.raises(ApiError) as e:
        restapis.check_create(doc)
    return e.value.status, e.value.code, e.value.message


def test_create_rest_api_enum_errors_come_first_and_together():
    status, code, msg = refused({"name": "a", "description": "", "endpointConfiguration": {
        "types": ["wrong"], "ipAddressType": "wrong"}})
    assert (status, code) == (400, "ValidationException")
    assert msg == (
        "2 validation errors detected: Value '[wrong]' at 'createRestApiInput.endpointConfiguration"
        ".types' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy "
        "enum value set: [PRIVATE, EDGE, REGIONAL]]; Value 'wrong' at 'createRestApiInput."
        "endpointConfiguration.ipAddressType' failed to satisfy constraint: Member must satisfy enum "
        "value set: [ipv4, dualstack]")


@pytest.mark.parametrize("doc,message", [
    ({"description": ""}, "Description cannot be an empty string"),
    ({"minimumCompressionSize": -1}, "Invalid minimum compression size, must be between 0 and 10485760"),
    ({"endpointConfiguration": {"types": []}},
     "REGIONAL Configuration and EDGE Configuration cannot be both DISABLED."),
    ({"endpointConfiguration": {"types": ["EDGE", "REGIONAL"]}},
     "Cannot create an api with multiple Endpoint Types."),
    ({"endpointConfiguration": {"types": ["PRIVATE"], "ipAddressType": "ipv4"}},
     "Only dualstack ipAddressType is supported for Private APIs."),
])
def test_create_rest_api_bad_requests(doc, message):
    assert refused(dict(doc, name="a")) == (400, "BadRequestException", message)


def test_create_rest_api_accepts_what_aws_accepts():
    restapis.check_create({"name": "a", "minimumCompressionSize": 0,
                           "endpointConfiguration": {"types": ["PRIVATE"], "ipAddressType": "dualstack"}})


def test_gateway_responses_defaults_and_update():
    api = NS(apis=None, gateway_responses={})
    backend = NS(apis={"a": api})
    status, doc = gatewayresponses.serve(backend, "GET", ["restapis", "a", "gatewayresponses"], [])
    types = {i["responseType"]: i for i in doc["item"]}
    assert len(types) == 21 and types["THROTTLED"]["statusCode"] == "429"
    assert "statusCode" not in types["DEFAULT_4XX"] and types["DEFAULT_4XX"]["defaultResponse"]
    with pytest.raises(ApiError) as e:
        gatewayresponses.serve(backend, "GET", ["restapis", "a", "gatewayresponses", "FAKE"], [])
    assert e.value.code == "ValidationException"
    with pytest.raises(ApiError) as e:
        gatewayresponses.serve(backend, "DELETE", ["restapis", "a", "gatewayresponses", "THROTTLED"], [])
    assert e.value.message == "Gateway response type not defined on api"
    status, doc = gatewayresponses.serve(
        backend, "PATCH", ["restapis", "a", "gatewayresponses", "DEFAULT_4XX"],
        [{"op": "replace", "path": "/statusCode", "value": "444"}])
    assert doc["statusCode"] == "444" and doc["defaultResponse"] is False
    assert api.gateway_responses["DEFAULT_4XX"].status_code == "444"
    for op, msg in [({"op": "add", "path": "/statusCode", "value": "1"}, "Invalid patch path /statusCode"),
                    ({"op": "add", "value": "x"}, "Invalid patch path null"),
                    ({"op": "replace", "path": "/responseTemplates/a~1b", "value": None},
                     "Invalid null or empty value in responseTemplates")]:
        with pytest.raises(ApiError) as e:
            gatewayresponses.update(api, "DEFAULT_4XX", [op])
        assert e.value.message == msg
