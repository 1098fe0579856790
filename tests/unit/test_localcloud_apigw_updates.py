"""API Gateway Update* operations moto lacks, answered as AWS does (localcloud.apigateway.updates)."""
from types import SimpleNamespace as NS

import pytest

from localcloud.apigateway import updates


class Res(NS):
    def to_dict(self):
        return {"id": self.id, "parentId": self.parent_id, "pathPart": self.path_part}


def api():
    rs = {"root": Res(id="root", parent_id=None, path_part="/"),
          "pets": Res(id="pets", parent_id="root", path_part="pets"),
          "sub": Res(id="sub", parent_id="pets", path_part="subpets")}
    return NS(resources=rs, request_validators={"v1": 1}, models={"Empty": 1})


def err(fn, *args):
    with pytest.raises(updates.ApiError) as e:
        fn(*args)
    return e.value.status, e.value.message


def test_update_resource_rules():
    a = api()
    assert err(updates.update_resource, a, a.resources["pets"],
               [{"op": "add", "path": "/pathPart", "value": "x"}]) == (
        400, "Invalid patch path  '/pathPart' specified for op 'add'. Please choose supported operations")
    assert err(updates.update_resource, a, a.resources["pets"],
               [{"op": "replace", "path": "/invalid", "value": "x"}])[1].endswith(
        "Must be one of: [/parentId, /pathPart]")
    assert err(updates.update_resource, a, a.resources["root"],
               [{"op": "replace", "path": "/pathPart", "value": "x"}]) == (
        400, "Root resource cannot update its pathPart.")
    assert err(updates.update_resource, a, a.resources["pets"],
               [{"op": "replace", "path": "/parentId", "value": "sub"}]) == (
        400, "Resources cannot be cyclical.")
    assert err(updates.update_resource, a, a.resources["pets"],
               [{"op": "replace", "path": "/parentId", "value": "nope"}])[0] == 404
    assert err(updates.update_resource, a, a.resources["sub"],
               [{"op": "replace", "path": "/parentId", "value": "root"},
                {"op": "replace", "path": "/pathPart", "value": "pets"}]) == (
        409, "Another resource with the same parent already has this name: pets")
    doc = updates.update_resource(a, a.resources["sub"],
                                  [{"op": "replace", "path": "/parentId", "value": "root"}])
    assert doc["parentId"] == "root" and a.resources["sub"].parent_id == "root"


def test_delete_resource_takes_descendants():
    a = api()
    assert sorted(updates.descendants(a, "pets")) == ["sub"]
    assert sorted(updates.descendants(a, "root")) == ["pets", "sub"]


def test_method_response_maps():
    r = NS(status_code="200", response_parameters={"method.response.header.h": False},
           response_models={"application/json": "Empty"})
    assert err(updates.update_method_response, r,
               [{"op": "replace", "path": "/responseParameters/wrong", "value": "true"}]) == (
        404, "Invalid parameter name specified")
    assert err(updates.update_method_response, r,
               [{"op": "remove", "path": "/responseModels/wrong"}]) == (
        404, "Content-Type specified was not found")
    assert err(updates.update_method_response, r,
               [{"op": "remove", "path": "/wrong/x"}]) == (400, "Invalid patch path /wrong/x")
    doc = updates.update_method_response(r, [
        {"op": "remove", "path": "/responseParameters/method.response.header.h"},
        {"op": "remove", "path": "/responseModels/application~1json"}])
    assert doc == {"statusCode": "200"}
    doc = updates.update_method_response(r, [
        {"op": "add", "path": "/responseParameters/method.response.header.h", "value": "true"}])
    assert doc["responseParameters"] == {"method.response.header.h": True}


def test_op_errors_name_the_operation_input():
    segs = ["restapis", "a", "resources", "r", "methods", "GET", "integration"]
    assert updates.op_errors(segs, [{"op": "replace"}, {"op": "nope"}]) == [
        "Value 'nope' at 'updateIntegrationInput.patchOperations.2.member.op' failed to satisfy "
        "constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]"]
    assert updates.input_name(["restapis", "a"]) == "updateRestApiInput"
    assert updates.input_name(["vpclinks", "l"]) == "updateVpcLinkInput"


def rest_api():
    return NS(binaryMediaTypes=[], endpoint_configuration={"types": ["EDGE"], "ipAddressType": "ipv4"},
              name="n", description="d", minimum_compression_size=None,
              to_dict=lambda: {})


def test_update_rest_api_rules():
    a = rest_api()
    updates.update_rest_api(a, [{"op": "add", "path": "/binaryMediaTypes/image~1png"},
                                {"op": "add", "path": "/binaryMediaTypes/image~1jpeg"}])
    updates.update_rest_api(a, [{"op": "replace", "path": "/binaryMediaTypes/image~1png",
                                 "value": "image/gif"}])
    assert a.binaryMediaTypes == ["image/jpeg", "image/gif"]
    assert err(updates.update_rest_api, a, [{"op": "add", "path": "/binaryMediaTypes"}]) == (
        400, "Invalid patch path /binaryMediaTypes")
    assert err(updates.update_rest_api, a, [{"op": "add", "path": "/minimumCompressionSize",
                                             "value": "1"}])[1] == \
        "Invalid patch operation specified. Must be one of: [replace]"
    for bad in ("-1", "test", "10485761"):
        assert err(updates.update_rest_api, a, [{"op": "replace", "path": "/minimumCompressionSize",
                                                 "value": bad}])[1].startswith("Invalid minimum compression")
    updates.update_rest_api(a, [{"op": "replace", "path": "/endpointConfiguration/types/0",
                                 "value": "PRIVATE"}])
    assert a.endpoint_configuration == {"types": ["PRIVATE"], "ipAddressType": "dualstack"}
    assert err(updates.update_rest_api, a, [{"op": "replace", "path": "/endpointConfiguration/ipAddressType",
                                             "value": "ipv4"}])[1] == \
        "Only dualstack ipAddressType is supported for Private APIs."
    assert err(updates.update_rest_api, a, [{"op": "replace", "path": "/endpointConfiguration/types/0",
                                             "value": "wrong"}])[1].startswith("Invalid EndpointTypes")
    updates.update_rest_api(a, [{"op": "remove", "path": "/description"}])
    assert a.description is None
