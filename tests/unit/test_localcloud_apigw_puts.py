"""API Gateway creates and puts refused as AWS refuses them (localcloud.apigateway.puts), and
UpdateStage's access log paths (updates.update_stage); each case a recorded AWS answer."""
import json
from types import SimpleNamespace as NS

import pytest

from localcloud.apigateway import puts, updates
from localcloud.apigateway.updates import ApiError


class Res(NS):
    def get_path(self):
        return self.path


def backend():
    root = Res(id="r0", path="/", path_part="", parent_id=None, resource_methods={})
    proxy = Res(id="r1", path="/{proxy+}", path_part="{proxy+}", parent_id="r0",
                resource_methods={})
    test = Res(id="r2", path="/test", path_part="test", parent_id="r0",
               resource_methods={"ANY": NS(request_models={"application/json": "M"},
                                           authorization_type="NONE", authorizer_id=None)})
    root.resource_methods["ANY"] = NS(request_models={"application/json": "M"},
                                      authorization_type="NONE", authorizer_id=None)
    api = NS(resources={"r0": root, "r1": proxy, "r2": test}, models={"M": object()},
             request_validators={"v1": object()}, authorizers={"a1": object()})
    return NS(apis={"api": api}, account_id="111111111111")


def refused(verb, path, doc):
    with pytest.raises(ApiError) as e:
        puts.check(backend(), verb, path.strip("/").split("/"), json.dumps(doc).encode())
    return e.value.status, e.value.code, e.value.message


def accepted(verb, path, doc):
    puts.check(backend(), verb, path.strip("/").split("/"), json.dumps(doc).encode())


def test_proxy_resource_rules():
    assert refused("POST", "/restapis/api/resources/r1", {"pathPart": "child"})[2] == \
        "Cannot create a child of a resource with a greedy path variable: {proxy+}"
    assert refused("POST", "/restapis/api/resources/r0", {"pathPart": "{dynamic}"})[2] == \
        "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed"
    accepted("POST", "/restapis/api/resources/r2", {"pathPart": "{child+}"})


def test_put_method_rules():
    m = "/restapis/api/resources/r0/methods/"
    assert refused("PUT", m + "WRONG", {})[2].startswith("Invalid HttpMethod specified.")
    assert refused("PUT", m + "GET", {"requestParameters": {"method.request.path.p": True,
                                                             "true": True}})[2] == (
        "Invalid mapping expression specified: Validation Result: warnings : [], errors : "
        "[Invalid mapping expression specified: true]")
    assert refused("PUT", m + "GET", {"requestParameters": {
        "method.request.querystring.o": False, "method.request.header.o": False}})[2] == \
        "Parameter names must be unique across querystring, header and path"
    assert refused("PUT", m + "GET", {"authorizationType": "CUSTOM"})[2] == puts.AUTHORIZER
    assert refused("PUT", m + "GET", {"authorizationType": "COGNITO_USER_POOLS",
                                      "authorizerId": "nope"})[2] == puts.AUTHORIZER
    assert refused("PUT", m + "GET", {"requestValidatorId": "x"})[2] == puts.VALIDATOR
    assert refused("PUT", m + "GET", {"requestModels": {"application/json": "petModel"}}) == (
        400, "BadRequestException", "Invalid model identifier specified: petModel")
    accepted("PUT", m + "GET", {"authorizationType": "CUSTOM", "authorizerId": "a1",
                                "requestValidatorId": "v1",
                                "requestModels": {"application/json": "M"},
                                "requestParameters": {"method.request.path.p": True}})


def test_update_method_authorizer_as_it_will_be():
    m = "/restapis/api/resources/r0/methods/ANY"
    assert refused("PATCH", m, {"patchOperations": [
        {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"}]})[2] == puts.AUTHORIZER
    accepted("PATCH", m, {"patchOperations": [
        {"op": "replace", "path": "/authorizerId", "value": "a1"},
        {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"}]})


def test_put_integration_uris():
    i = "/restapis/api/resources/r0/methods/ANY/integration"
    fn = "arn:aws:lambda:us-east-1:111111111111:function:f"
    assert refused("PUT", i, {"type": "AWS_PROXY", "httpMethod": "POST", "uri": fn})[2] == \
        "AWS ARN for integration must contain path or action"
    assert refused("PUT", i, {"type": "AWS_PROXY", "httpMethod": "POST", "uri": f"bad-arn:lambda:path/x/{fn}"})[2] == \
        "Invalid ARN specified in the request"
    assert refused("PUT", i, {"type": "AWS", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:lambda:test/x"})[2] \
        == "AWS ARN for integration must contain path or action"
    for uri in (f"arn:aws:apigateway:us-east-1:firehose:path/2015-03-31/functions/{fn}/invocations",
                f"arn:aws:apigateway:us-east-1:lambda:path/random/value/{fn}/invocations"):
        assert refused("PUT", i, {"type": "AWS_PROXY", "httpMethod": "POST", "uri": uri})[2].startswith(
            "Integrations of type 'AWS_PROXY' currently only supports Lambda function")
    accepted("PUT", i, {"type": "AWS_PROXY", "httpMethod": "POST", "uri": f"arn:aws:apigateway:us-east-1:lambda:path"
                                                    f"/2015-03-31/functions/{fn}/invocations"})
    accepted("PUT", i, {"type": "AWS", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:s3:path/b/k"})
    accepted("PUT", i, {"type": "HTTP", "uri": "https://example.com"})
    # a role of another account: moto's own refusal (cross-account pass role) comes first
    accepted("PUT", i, {"type": "AWS_PROXY", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:s3:path/b/k",
                        "credentials": "arn:aws:iam::000000000000:role/r"})
    # no integrationHttpMethod: moto's own refusal (`Enumeration value for HttpMethod must be
    # non-empty`) comes first
    accepted("PUT", i, {"type": "AWS_PROXY", "uri": fn})


def test_integration_response_content_types():
    r = "/restapis/api/resources/r0/methods/ANY/integration/responses/200"
    assert refused("PUT", r, {"responseTemplates": {"123": "x"}})[2] == \
        "Validation Result: warnings : [], errors : [Invalid content type specified: 123]"
    accepted("PUT", r, {"responseTemplates": {"application/json": "", "text/plain": "x"}})


def test_models():
    assert refused("POST", "/restapis/api/models", {"name": "M", "schema": "{}"}) == (
        409, "ConflictException", "Model name already exists for this REST API")
    assert refused("POST", "/restapis/api/models", {"name": "", "schema": "{}"})[2] == \
        "Model name must be non-empty"
    for doc in ({"name": "N"}, {"name": "N", "schema": ""}):
        assert refused("POST", "/restapis/api/models", doc)[2] == puts.EMPTY_SCHEMA
    accepted("POST", "/restapis/api/models", {"name": "N", "schema": '{"type": "object"}'})
    assert refused("PATCH", "/restapis/api/models/M", {"patchOperations": [
        {"op": "replace", "path": "/schema", "value": ""}]})[2] == puts.EMPTY_SCHEMA
    # the last method naming it, as AWS names it
    assert refused("DELETE", "/restapis/api/models/M", {}) == (
        409, "ConflictException",
        "Cannot delete model 'M', is referenced in method request: /test/ANY")


def test_vpc_links():
    assert refused("POST", "/vpclinks", {"name": "", "targetArns": []})[2] == "Name cannot be empty"
    assert refused("POST", "/vpclinks", {"name": "l", "targetArns": ["invalid-arn"]})[2] == \
        "Invalid ARN. ARN is not well formed invalid-arn"


def test_update_stage_access_log_settings():
    applied = []
    stage = NS(access_log_settings=None, apply_operations=applied.append,
               to_json=lambda: {"accessLogSettings": stage.access_log_settings})
    arn = "arn:aws:logs:us-east-1:111111111111:log-group:g"
    doc = updates.update_stage(stage, [
        {"op": "add", "path": "/accessLogSettings/destinationArn", "value": arn},
        {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"},
        {"op": "replace", "path": "/description", "value": "d"}])
    assert doc == {"accessLogSettings": {"destinationArn": arn, "format": "$context.requestId"}}
    assert applied == [[{"op": "replace", "path": "/description", "value": "d"}]]
    for op in ("add", "replace"):
        for path in ("/accessLogSettings/randomValue", "/accessLogSettings/*", "/accessLogSettings"):
            with pytest.raises(ApiError) as e:
                updates.update_stage(stage, [{"op": op, "path": path, "value": "v"}])
            assert e.value.message.startswith("Invalid accessLogSettings path. Must be one of : "
                                              "[/accessLogSettings/destinationArn, ")
    with pytest.raises(ApiError) as e:
        updates.update_stage(stage, [{"op": "remove", "path": "/accessLogSettings/destinationArn"}])
    assert e.value.message == ("Cannot remove method setting accessLogSettings/destinationArn "
                               "because there is no method setting for this method ")
    with pytest.raises(ApiError) as e:
        updates.update_stage(stage, [{"op": "replace", "path": "/accessLogSettings/format",
                                      "value": ""}])
    assert e.value.message == "Access Log value must not be empty"
    assert updates.update_stage(stage, [{"op": "remove", "path": "/accessLogSettings"}]) == \
        {"accessLogSettings": None}


def test_documentation_parts_import_from_openapi():
    from localcloud.apigateway import docparts

    api = NS()
    doc = {"openapi": "3.0.1", "x-amazon-apigateway-documentation": {"documentationParts": [
        {"location": {"type": "API"}, "properties": {"description": "d"}},
        {"location": {"type": "METHOD", "method": "GET"}, "properties": {"description": "m"}},
        {"location": {"type": "MODEL", "name": "Empty"}, "properties": {"title": "t"}}]}}
    ids = docparts.import_parts(api, doc, "overwrite")
    stored = docparts.parts(api)
    assert list(stored) == ids and len(ids) == 3
    assert [p["location"] for p in stored.values()] == [
        {"type": "API"}, {"type": "METHOD", "method": "GET", "path": "/"},
        {"type": "MODEL", "name": "Empty"}]
    assert all(isinstance(p["properties"], str) for p in stored.values())  # JSON text, as AWS
    # merge: the part at the same location is replaced, the others kept
    again = docparts.import_parts(api, {"x-amazon-apigateway-documentation": {
        "documentationParts": [{"location": {"type": "API"}, "properties": {"v": 2}}]}})
    assert len(docparts.parts(api)) == 3 and again[0] in docparts.parts(api)
    assert json.loads(docparts.parts(api)[again[0]]["properties"]) == {"v": 2}
    status, answer = docparts.serve(NS(apis={"a": api}), "PUT",
                                    ["restapis", "a", "documentation", "parts"],
                                    json.dumps(doc).encode(), "overwrite")
    assert status == 200 and len(answer["ids"]) == 3 and len(docparts.parts(api)) == 3
    with pytest.raises(ApiError) as e:
        docparts.serve(NS(apis={"a": api}), "PUT", ["restapis", "a", "documentation", "parts"],
                       b"{not json", "merge")
    assert e.value.message == "Unable to build importer with provided input."
