"""API Gateway's control plane names what is missing in AWS's words (localcloud.apigateway.control)."""
import json
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
    segs = control.split("/restapis/a1/resources/r1/methods/GET/responses/wrong")
    status, code, msg = control.invalid(segs, "GET", b"")
    assert (status, code) == (400, "ValidationException")
    assert msg == ("1 validation error detected: Value 'wrong' at 'statusCode' failed to satisfy "
                   "constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d")
    body = json.dumps({"patchOperations": [{"op": "wrong_op", "path": "/x"},
                                           {"op": "remove", "path": "/y"},
                                           {"op": "bad", "path": "/z"}]}).encode()
    status, code, msg = control.invalid(segs, "PATCH", body)
    assert msg.startswith("3 validation errors detected: Value 'wrong_op' at "
                          "'updateMethodResponseInput.patchOperations.1.member.op' failed")
    assert "'updateMethodResponseInput.patchOperations.3.member.op'" in msg
    assert msg.endswith("Value 'wrong' at 'statusCode' failed to satisfy constraint: Member must "
                        "satisfy regular expression pattern: [1-5]\\d\\d")
    assert control.missing(b, "DELETE", "/restapis/a1/requestvalidators/v9")[2] == control.VALIDATOR
    assert control.missing(b, "GET", "/restapis/a1/models/Other")[2] == \
        "Invalid model name specified: Other"
    assert control.missing(b, "DELETE", "/vpclinks/l9")[2] == control.VPC_LINK
    assert control.missing(b, "GET", "/vpclinks/l1") is None
