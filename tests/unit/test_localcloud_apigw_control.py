"""API Gateway's control plane names what is missing in AWS's words (localcloud.apigateway.control)."""
from types import SimpleNamespace as NS

from localcloud.apigateway import control


def backend():
    integ = NS(integration_responses={"200": object()})
    method = NS(method_responses={"200": object()}, method_integration=integ)
    bare = NS(method_responses={}, method_integration=None)
    res = NS(resource_methods={"GET": method, "POST": bare})
    api = NS(resources={"r1": res}, request_validators={"v1": object()}, models={"M": object()})
    return NS(account_id="111111111111", apis={"a1": api}, vpc_links={"l1": object()})


def test_missing_rest_api_per_operation():
    b = backend()
    assert control.missing(b, "PATCH", "/restapis/nope") == (
        404, "NotFoundException", "Invalid API identifier specified 111111111111:nope")
    assert control.missing(b, "GET", "/restapis/nope/resources/r1/methods/GET/integration")[2] \
        == control.RESOURCE
    assert control.missing(b, "POST", "/restapis/nope/requestvalidators") == (
        400, "BadRequestException", "Invalid REST API identifier specified")
    assert control.missing(b, "POST", "/restapis/nope/authorizers")[:2] == (409, "ConflictException")
    assert control.missing(b, "GET", "/restapis/nope/requestvalidators/v1")[2] == control.VALIDATOR
    assert control.missing(b, "GET", "/restapis") is None
    assert control.missing(b, "GET", "/restapis/a1") is None


def test_missing_resource_method_integration_and_responses():
    b = backend()
    assert control.missing(b, "POST", "/restapis/a1/resources/zz")[2] == control.RESOURCE
    assert control.missing(b, "PUT", "/restapis/a1/resources/r1/methods/PATCH") is None
    assert control.missing(b, "GET", "/restapis/a1/resources/r1/methods/PATCH")[2] == control.METHOD
    assert control.missing(b, "DELETE", "/restapis/a1/resources/r1/methods/PATCH/integration/responses/200")[2] \
        == control.INTEGRATION
    assert control.missing(b, "GET", "/restapis/a1/resources/r1/methods/PATCH/integration/responses/200")[2] \
        == control.METHOD
    assert control.missing(b, "GET", "/restapis/a1/resources/r1/methods/POST/integration")[2] \
        == control.INTEGRATION
    assert control.missing(b, "PUT", "/restapis/a1/resources/r1/methods/POST/integration") is None
    assert control.missing(b, "GET", "/restapis/a1/resources/r1/methods/GET/integration/responses/404")[2] \
        == control.STATUS
    assert control.missing(b, "GET", "/restapis/a1/resources/r1/methods/GET/integration/responses/200") is None
    assert control.missing(b, "PATCH", "/restapis/a1/resources/r1/methods/GET/responses/500")[2] \
        == control.STATUS
    assert control.missing(b, "PUT", "/restapis/a1/resources/r1/methods/GET/responses/500") is None


def test_status_code_pattern_validators_models_vpc_links():
    b = backend()
    status, code, msg = control.missing(b, "GET", "/restapis/a1/resources/r1/methods/GET/responses/wrong")
    assert (status, code) == (400, "ValidationException")
    assert msg.endswith("Member must satisfy regular expression pattern: [1-5]\\d\\d")
    assert control.missing(b, "DELETE", "/restapis/a1/requestvalidators/v9")[2] == control.VALIDATOR
    assert control.missing(b, "GET", "/restapis/a1/models/Other")[2] == \
        "Invalid model name specified: Other"
    assert control.missing(b, "DELETE", "/vpclinks/l9")[2] == control.VPC_LINK
    assert control.missing(b, "GET", "/vpclinks/l1") is None
