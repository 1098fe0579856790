"""The API Gateway REST data plane of the local cloud, tried with plain boto3 + urllib."""
import base64
import datetime as dt
import json
import urllib.error
import urllib.request
import uuid

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"

ECHO = """
import base64, json
def handler(event, context):
    body = event.get("body")
    if body == "crash":
        raise RuntimeError("boom")
    if body == "malformed":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if body == "bare":
        return "just a string"
    if body == "binary":
        return {"statusCode": 201, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\\x00\\x01\\xff").decode(), "isBase64Encoded": True}
    return {"statusCode": 200,
            "headers": {"Content-Type": "application/json", "X-Echo": "yes"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"event": event})}
"""

SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "required": ["instances"],
    "additionalProperties": False,
    "properties": {"instances": {"type": "array", "minItems": 1, "maxItems": 3,
                                 "items": {"type": "object"}}},
}


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("lambda", "iam", "apigateway")}


def make_api(aws, local_cloud, *, throttle=None, quota=None, validate=False):  # noqa: F811
    """An API like the pipeline's: POST /predict (key required), GET /items/{id}, ANY /{proxy+}."""
    lam, apigw = aws["lambda"], aws["apigateway"]
    fn = f"echo-{uuid.uuid4().hex[:8]}"
    arn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=lambda_role(aws["iam"]),
                              Handler="handler.handler", Code={"ZipFile": zip_bytes({"handler.py": ECHO})},
                              Timeout=5)["FunctionArn"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
    api = apigw.create_rest_api(name=f"api-{fn}")["id"]
    lam.add_permission(FunctionName=fn, StatementId="apigateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:123456789012:{api}/*")
    root = [r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    extra = {}
    if validate:
        apigw.create_model(restApiId=api, name="Instances", contentType="application/json",
                           schema=json.dumps(SCHEMA))
        v = apigw.create_request_validator(restApiId=api, name="body", validateRequestBody=True,
                                           validateRequestParameters=False)["id"]
        extra = dict(requestValidatorId=v, requestModels={"application/json": "Instances"})
    predict = apigw.create_resource(restApiId=api, parentId=root, pathPart="predict")["id"]
    apigw.put_method(restApiId=api, resourceId=predict, httpMethod="POST", authorizationType="NONE",
                     apiKeyRequired=True, **extra)
    apigw.put_integration(restApiId=api, resourceId=predict, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    items = apigw.create_resource(restApiId=api, parentId=root, pathPart="items")["id"]
    item = apigw.create_resource(restApiId=api, parentId=items, pathPart="{id}")["id"]
    apigw.put_method(restApiId=api, resourceId=item, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=item, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    proxy = apigw.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    apigw.create_deployment(restApiId=api, stageName="production")
    key = apigw.create_api_key(name=f"key-{fn}", enabled=True)
    plan_kw = {}
    if throttle:
        plan_kw["throttle"] = throttle
    if quota:
        plan_kw["quota"] = quota
    plan = apigw.create_usage_plan(name=f"plan-{fn}",
                                   apiStages=[{"apiId": api, "stage": "production"}], **plan_kw)["id"]
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    base = f"{local_cloud.endpoint_url}/restapis/{api}/production/_user_request_"
    return {"api": api, "base": base, "key": key["value"], "key_id": key["id"], "plan": plan,
            "fn": fn}


def call(url, *, method="POST", body=None, key=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key:
        req.add_header("x-api-key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def api(aws, local_cloud):  # noqa: F811
    return make_api(aws, local_cloud)


def test_happy_path_builds_the_rest_v1_proxy_event(aws, api):
    status, headers, body = call(api["base"] + "/predict?a=1&a=2&b=x", body={"instances": [{}]},
                                 key=api["key"], headers={"X-Trace": "t1"})
    assert status == 200, body
    assert headers["X-Echo"] == "yes" and headers["x-amzn-RequestId"]
    ev = json.loads(body)["event"]
    assert ev["resource"] == "/predict" and ev["path"] == "/predict" and ev["httpMethod"] == "POST"
    assert json.loads(ev["body"]) == {"instances": [{}]} and ev["isBase64Encoded"] is False
    assert ev["queryStringParameters"] == {"a": "2", "b": "x"}
    assert ev["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert ev["headers"]["X-Trace"] == "t1" and ev["multiValueHeaders"]["X-Trace"] == ["t1"]
    assert ev["pathParameters"] is None and ev["stageVariables"] is None
    ctx = ev["requestContext"]
    assert ctx["apiId"] == api["api"] and ctx["stage"] == "production"
    assert ctx["resourcePath"] == "/predict" and ctx["httpMethod"] == "POST"
    assert ctx["path"] == "/production/predict" and ctx["accountId"] == "123456789012"
    assert ctx["identity"]["apiKey"] == api["key"] and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["identity"]["apiKeyId"] == api["key_id"]
    assert ctx["requestId"] == headers["x-amzn-RequestId"]
    stage = aws["apigateway"].get_stage(restApiId=api["api"], stageName="production")
    assert ctx["deploymentId"] == stage["deploymentId"]
    assert abs(ctx["requestTimeEpoch"] / 1000 - dt.datetime.now().timestamp()) < 60


def test_multi_value_headers_and_binary_responses(aws, api):
    status, headers, body = call(api["base"] + "/predict", body={"instances": [{}]}, key=api["key"])
    assert status == 200
    # no binaryMediaTypes: the base64 text as the function sent it (AWS)
    binary = base64.b64encode(b"\x00\x01\xff")
    status, headers, body = call(api["base"] + "/predict", body=b"binary", key=api["key"],
                                 headers={"Accept": "application/octet-stream"})
    assert status == 201 and body == binary
    assert headers["Content-Type"] == "application/octet-stream"
    apigw = aws["apigateway"]
    apigw.update_rest_api(restApiId=api["api"], patchOperations=[
        {"op": "add", "path": "/binaryMediaTypes/application~1octet-stream"}])
    status, _, body = call(api["base"] + "/predict", body=b"binary", key=api["key"],
                           headers={"Accept": "application/octet-stream"})
    assert body == binary  # the stage still serves the old deployment
    apigw.create_deployment(restApiId=api["api"], stageName="production")
    status, _, body = call(api["base"] + "/predict", body=b"binary", key=api["key"],
                           headers={"Accept": "application/octet-stream"})
    assert status == 201 and body == b"\x00\x01\xff"
    for accept in ("*/*", "application/*", "text/plain"):  # the first Accept must be listed
        assert call(api["base"] + "/predict", body=b"binary", key=api["key"],
                    headers={"Accept": accept})[2] == binary


def test_path_parameters_and_greedy_proxy(api):
    status, _, body = call(api["base"] + "/items/42", method="GET")
    assert status == 200
    ev = json.loads(body)["event"]
    assert ev["resource"] == "/items/{id}" and ev["pathParameters"] == {"id": "42"}
    # no key required: AWS's identity has no apiKey/apiKeyId
    assert "apiKey" not in ev["requestContext"]["identity"]
    assert "apiKeyId" not in ev["requestContext"]["identity"]
    # `//production/items/42` on the API's host: served as `/production/items/42`
    doubled = api["base"].replace("/production/", "//production/")
    status, _, body = call(doubled + "/items/42", method="GET")
    assert status == 200 and json.loads(body)["event"]["path"] == "/items/42"
    status, _, body = call(api["base"] + "/a/b/c", method="DELETE")
    ev = json.loads(body)["event"]
    assert status == 200 and ev["resource"] == "/{proxy+}"
    assert ev["pathParameters"] == {"proxy": "a/b/c"} and ev["httpMethod"] == "DELETE"


def test_unknown_path_or_method_is_missing_authentication_token(aws, local_cloud, api):  # noqa: F811
    status, headers, body = call(api["base"] + "/items/42", method="POST")  # only GET on it
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-RequestId"]
    status, _, body = call(api["base"] + "/", method="GET")  # root has no method
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    status, _, body = call(f"{local_cloud.endpoint_url}/restapis/{api['api']}/nostage/_user_request_/predict")
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}


def test_api_key_checks(aws, api):
    forbidden = {"message": "Forbidden"}
    status, _, body = call(api["base"] + "/predict", body={"instances": [{}]})
    assert (status, json.loads(body)) == (403, forbidden)
    status, _, body = call(api["base"] + "/predict", body={"instances": [{}]}, key="x" * 40)
    assert (status, json.loads(body)) == (403, forbidden)
    # an enabled key that is in no plan for this API
    loose = aws["apigateway"].create_api_key(name=f"loose-{uuid.uuid4().hex[:6]}", enabled=True)
    status, _, body = call(api["base"] + "/predict", body={"instances": [{}]}, key=loose["value"])
    assert (status, json.loads(body)) == (403, forbidden)
    # a disabled key that is in the plan
    off = aws["apigateway"].create_api_key(name=f"off-{uuid.uuid4().hex[:6]}", enabled=False)
    aws["apigateway"].create_usage_plan_key(usagePlanId=api["plan"], keyId=off["id"], keyType="API_KEY")
    status, _, body = call(api["base"] + "/predict", body={"instances": [{}]}, key=off["value"])
    assert (status, json.loads(body)) == (403, forbidden)


def test_lambda_error_and_malformed_response_are_502(api):
    for payload in (b"crash", b"malformed", b"bare"):
        status, headers, body = call(api["base"] + "/predict", body=payload, key=api["key"])
        assert status == 502, payload
        assert json.loads(body) == {"message": "Internal server error"}


def test_body_over_10_mb_is_413(api):
    status, _, body = call(api["base"] + "/predict", body=b"x" * (10 * 1024 * 1024 + 1),
                           key=api["key"])
    assert status == 413


def test_request_validator_rejects_bad_bodies_before_the_lambda(aws, local_cloud):  # noqa: F811
    a = make_api(aws, local_cloud, validate=True)
    ok = call(a["base"] + "/predict", body={"instances": [{"x": 1}]}, key=a["key"])
    assert ok[0] == 200
    for bad in ({"instances": []}, {"instances": [1]}, {"rows": []},
                {"instances": [{}], "extra": 1}, {"instances": [{}, {}, {}, {}]}, [1], b"not json"):
        status, _, body = call(a["base"] + "/predict", body=bad, key=a["key"])
        assert status == 400, bad
        assert json.loads(body) == {"message": "Invalid request body"}
    # the Lambda never ran for the bad ones: only the one good call is in its logs
    logs = boto3.client("logs", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{a['fn']}")["events"]
    assert sum(1 for e in events if e["message"].startswith("START")) == 1


def test_throttle_is_a_token_bucket_per_key(aws, local_cloud):  # noqa: F811
    a = make_api(aws, local_cloud, throttle={"rateLimit": 1.0, "burstLimit": 2})
    codes = [call(a["base"] + "/predict", body={"instances": [{}]}, key=a["key"])[0] for _ in range(4)]
    assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
    status, _, body = call(a["base"] + "/predict", body={"instances": [{}]}, key=a["key"])
    assert status == 429 and json.loads(body) == {"message": "Too Many Requests"}


def test_quota_and_get_usage(aws, local_cloud):  # noqa: F811
    a = make_api(aws, local_cloud, quota={"limit": 3, "period": "DAY"})
    codes = [call(a["base"] + "/predict", body={"instances": [{}]}, key=a["key"])[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    status, _, body = call(a["base"] + "/predict", body={"instances": [{}]}, key=a["key"])
    assert json.loads(body) == {"message": "Limit Exceeded"}
    today = dt.datetime.now(dt.timezone.utc).date()
    usage = aws["apigateway"].get_usage(usagePlanId=a["plan"], keyId=a["key_id"],
                                        startDate=(today - dt.timedelta(days=1)).isoformat(),
                                        endDate=today.isoformat())
    assert usage["usagePlanId"] == a["plan"]
    assert usage["items"][a["key_id"]] == [[0, 3], [3, 0]]


def test_gateway_responses_apply_after_a_new_deployment(aws, local_cloud):  # noqa: F811
    a = make_api(aws, local_cloud, validate=True)
    apigw = aws["apigateway"]
    apigw.put_gateway_response(
        restApiId=a["api"], responseType="BAD_REQUEST_BODY", statusCode="400",
        responseTemplates={"application/json":
                           '{"message": "Invalid request body: $context.error.validationErrorString"}'})
    apigw.put_gateway_response(
        restApiId=a["api"], responseType="DEFAULT_4XX",
        responseParameters={"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
        responseTemplates={"application/json": '{"error": $context.error.messageString, '
                           '"type": "$context.error.responseType", "id": "$context.requestId"}'})
    bad = {"rows": []}
    # not deployed yet: AWS still serves the built-in responses
    status, headers, body = call(a["base"] + "/predict", body=bad, key=a["key"])
    assert (status, json.loads(body)) == (400, {"message": "Invalid request body"})
    assert "Access-Control-Allow-Origin" not in headers

    apigw.create_deployment(restApiId=a["api"], stageName="production")
    status, headers, body = call(a["base"] + "/predict", body=bad, key=a["key"])
    assert status == 400 and headers["x-amzn-ErrorType"] == "BadRequestException"
    assert json.loads(body) == {"message": "Invalid request body: ["
                                "object has missing required properties ([\"instances\"]), "
                                "object instance has properties which are not allowed by the "
                                "schema: [\"rows\"]]"}
    assert "Access-Control-Allow-Origin" not in headers   # own type: no DEFAULT_4XX headers

    # DEFAULT_4XX covers the 4xx types without their own: wrong or no key, unknown method
    for url, method, key, rtype, message in (
            ("/predict", "POST", "wrong" * 8, "INVALID_API_KEY", "Forbidden"),
            ("/predict", "POST", None, "INVALID_API_KEY", "Forbidden"),
            ("/items/1", "POST", None, "MISSING_AUTHENTICATION_TOKEN",
             "Missing Authentication Token")):
        status, headers, body = call(a["base"] + url, method=method, body={"instances": [{}]},
                                     key=key)
        assert status == 403, (rtype, body)
        assert json.loads(body) == {"error": message, "type": rtype,
                                    "id": headers["x-amzn-RequestId"]}
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert headers["Content-Type"] == "application/json"
    # 5xx are untouched by DEFAULT_4XX ({proxy+} has no validator, so the Lambda runs and fails)
    status, _, body = call(a["base"] + "/any/path", method="PUT", body=b"crash")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    # a good body still reaches the Lambda
    assert call(a["base"] + "/predict", body={"instances": [{"x": 1}]}, key=a["key"])[0] == 200


def test_proxy_event_keeps_header_names_as_sent(api):
    """REST proxy: `headers` and `multiValueHeaders` carry the names as the client wrote them."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(api["base"] + "/items/7")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("GET", url.path, skip_accept_encoding=True)
    conn.putheader("x-day", "mon")
    conn.putheader("X-Mixed-Case", "kept")
    conn.putheader("x-multi", "1")
    conn.putheader("x-multi", "2")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 200
    event = json.loads(resp.read())["event"]
    conn.close()
    headers, multi = event["headers"], event["multiValueHeaders"]
    assert headers["x-day"] == "mon" and "X-Day" not in headers
    assert headers["X-Mixed-Case"] == "kept" and "X-Mixed-case" not in headers
    assert headers["x-multi"] == "2" and multi["x-multi"] == ["1", "2"]
    assert multi["x-day"] == ["mon"] and multi["X-Mixed-Case"] == ["kept"]


SELECT = """
def handler(event, context):
    code = event["statusCode"]
    if code == "400":
        raise Exception("Error: four hundred")
    return {"echo": event}
"""


def test_aws_integration_maps_templates_and_selects_by_error_message(aws, local_cloud):  # noqa: F811
    """A non-proxy (AWS) Lambda integration with a credentials role: the request template
    builds the payload, the function error's message picks the integration response, the
    response template and responseOverride shape the answer."""
    lam, apigw, iam = aws["lambda"], aws["apigateway"], aws["iam"]
    fn = f"sel-{uuid.uuid4().hex[:8]}"
    arn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=lambda_role(iam),
                              Handler="handler.handler",
                              Code={"ZipFile": zip_bytes({"handler.py": SELECT})})["FunctionArn"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "apigateway.amazonaws.com"}}]}
    role = iam.create_role(RoleName=f"invoke-{fn}", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=f"invoke-{fn}", PolicyName="invoke", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                 "Resource": arn}]}))
    api = apigw.create_rest_api(name=f"api-{fn}")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="{statusCode}")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api, resourceId=res, httpMethod="GET", type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
        credentials=role["Role"]["Arn"],
        requestTemplates={"application/json": '{"statusCode": "$input.params(\'statusCode\')", '
                                              '"q": "$util.escapeJavaScript($input.params(\'q\'))"}'})
    for code in ("200", "405"):
        apigw.put_method_response(restApiId=api, resourceId=res, httpMethod="GET", statusCode=code)
    apigw.put_integration_response(
        restApiId=api, resourceId=res, httpMethod="GET", statusCode="200", selectionPattern="",
        responseTemplates={"application/json": '#set($r = $input.path(\'$\'))'
                                               '{"got": $input.json(\'$.echo\')}'
                                               '#if($r.echo.q == "teapot")'
                                               '#set($context.responseOverride.status = 418)#end'})
    apigw.put_integration_response(restApiId=api, resourceId=res, httpMethod="GET",
                                   statusCode="405", selectionPattern=".*four hundred.*")
    apigw.create_deployment(restApiId=api, stageName="dev")
    base = f"{local_cloud.endpoint_url}/restapis/{api}/dev/_user_request_"
    status, headers, body = call(base + '/200?q=say%20"hi"', method="GET")
    assert status == 200, body
    assert json.loads(body) == {"got": {"statusCode": "200", "q": 'say "hi"'}}
    assert headers["Content-Type"] == "application/json"
    status, _, body = call(base + "/400", method="GET")
    assert status == 405 and json.loads(body)["errorMessage"] == "Error: four hundred"
    assert call(base + "/200?q=teapot", method="GET")[0] == 418
    # the role no longer allows the invoke: IAM refuses it, API Gateway answers 500
    iam.delete_role_policy(RoleName=f"invoke-{fn}", PolicyName="invoke")
    status, _, body = call(base + "/200", method="GET")
    assert status == 500 and json.loads(body) == {"message": "Internal server error"}


def test_control_plane_answers_as_aws(aws):
    """boto3 against the cloud: AWS's words for what is missing, the Update* operations moto
    lacks, documentation parts, gateway response defaults, VPC link states."""
    from botocore.exceptions import ClientError

    apigw = aws["apigateway"]
    created = apigw.create_rest_api(name=f"ctl-{uuid.uuid4().hex[:6]}")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    api, root = created["id"], created["rootResourceId"]
    with pytest.raises(ClientError) as e:
        apigw.get_resources(restApiId="nope")
    assert e.value.response["Error"]["Message"].startswith("Invalid API identifier specified ")
    with pytest.raises(ClientError) as e:
        apigw.create_rest_api(name="x", endpointConfiguration={"types": ["EDGE", "REGIONAL"]})
    assert e.value.response["Error"]["Message"] == "Cannot create an api with multiple Endpoint Types."
    pets = apigw.create_resource(restApiId=api, parentId=root, pathPart="pets")["id"]
    sub = apigw.create_resource(restApiId=api, parentId=pets, pathPart="sub")["id"]
    moved = apigw.update_resource(restApiId=api, resourceId=pets, patchOperations=[
        {"op": "replace", "path": "/pathPart", "value": "dogs"}])
    assert moved["path"] == "/dogs"
    with pytest.raises(ClientError) as e:
        apigw.update_resource(restApiId=api, resourceId=pets, patchOperations=[
            {"op": "replace", "path": "/parentId", "value": sub}])
    assert e.value.response["Error"]["Message"] == "Resources cannot be cyclical."
    apigw.put_method(restApiId=api, resourceId=pets, httpMethod="GET", authorizationType="NONE")
    apigw.put_method_response(restApiId=api, resourceId=pets, httpMethod="GET", statusCode="200")
    with pytest.raises(ClientError) as e:
        apigw.update_method_response(restApiId=api, resourceId=pets, httpMethod="GET",
                                     statusCode="200", patchOperations=[
                                         {"op": "wrong_op", "path": "/responseModels/a"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    integ = apigw.put_integration(restApiId=api, resourceId=pets, httpMethod="GET", type="MOCK")
    assert (integ["cacheNamespace"], integ["timeoutInMillis"]) == (pets, 29000)
    part = apigw.create_documentation_part(restApiId=api, location={"type": "API"},
                                           properties='{"description": "d"}')
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert [p["id"] for p in apigw.get_documentation_parts(restApiId=api)["items"]] == [part["id"]]
    default = apigw.get_gateway_response(restApiId=api, responseType="THROTTLED")
    assert (default["defaultResponse"], default["statusCode"]) == (True, "429")
    apigw.delete_resource(restApiId=api, resourceId=pets)
    assert [r["path"] for r in apigw.get_resources(restApiId=api)["items"]] == ["/"]
    link = apigw.create_vpc_link(name="l", targetArns=["arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/y"])
    assert link["status"] == "PENDING"
    assert apigw.get_vpc_link(vpcLinkId=link["id"])["statusMessage"] == "Your vpc link is ready for use"


def _mock_api(apigw):
    """GET /pets/{petId}: a MOCK integration whose response template echoes the path
    parameter; the method requires an API key (TestInvokeMethod skips that check)."""
    api = apigw.create_rest_api(name=f"mock-{uuid.uuid4().hex[:6]}")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    pets = apigw.create_resource(restApiId=api, parentId=root, pathPart="pets")["id"]
    pet = apigw.create_resource(restApiId=api, parentId=pets, pathPart="{petId}")["id"]
    apigw.put_method(restApiId=api, resourceId=pet, httpMethod="GET", authorizationType="NONE",
                     apiKeyRequired=True)
    apigw.put_method_response(restApiId=api, resourceId=pet, httpMethod="GET", statusCode="200")
    apigw.put_integration(restApiId=api, resourceId=pet, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_integration_response(
        restApiId=api, resourceId=pet, httpMethod="GET", statusCode="200",
        responseTemplates={"application/json": '{"petId": "$input.params(\'petId\')"}'})
    return api, root, pet


def test_test_invoke_method_runs_the_integration_and_logs_it(aws):
    from botocore.exceptions import ClientError

    apigw = aws["apigateway"]
    api, root, pet = _mock_api(apigw)
    res = apigw.test_invoke_method(restApiId=api, resourceId=pet, httpMethod="GET",
                                   pathWithQueryString="/pets/123?foo=bar")
    assert res["status"] == 200 and json.loads(res["body"]) == {"petId": "123"}
    assert res["headers"] == {"Content-Type": "application/json"}
    assert res["multiValueHeaders"] == {"Content-Type": ["application/json"]}
    assert isinstance(res["latency"], int)
    lines = res["log"].split("\n")
    assert lines[0].startswith("Execution log for request ") and lines[-1] == ""
    stamp = lines[1].split(" : ")[0]
    dt.datetime.strptime(stamp, "%a %b %d %H:%M:%S UTC %Y")
    assert [line.split(" : ", 1)[1] for line in lines[2:-1]] == [
        "HTTP Method: GET, Resource Path: /pets/123",
        "Method request path: {petId=123}",
        "Method request query string: {foo=bar}",
        "Method request headers: {}",
        "Method request body before transformations: ",
        'Method response body after transformations: {"petId": "123"}',
        "Method response headers: {Content-Type=application/json}",
        "Successfully completed execution",
        "Method completed with status: 200"]
    # without a path: the resource's own path, its parameter unbound
    res = apigw.test_invoke_method(restApiId=api, resourceId=pet, httpMethod="GET")
    assert json.loads(res["body"]) == {"petId": "{petId}"}
    with pytest.raises(ClientError) as e:
        apigw.test_invoke_method(restApiId=api, resourceId=pet, httpMethod="HEAD")
    assert e.value.response["Error"] == {"Code": "NotFoundException",
                                         "Message": "Invalid Method identifier specified"}
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # an HTTP_PROXY integration whose stage variable is not given: AWS's configuration error
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="ANY", type="HTTP_PROXY",
                          uri="https://${stageVariables.testHost}", integrationHttpMethod="ANY")
    res = apigw.test_invoke_method(restApiId=api, resourceId=root, httpMethod="GET")  # ANY's
    assert res["status"] == 500 and json.loads(res["body"]) == {"message": "Internal server error"}
    assert res["headers"] == {"x-amzn-ErrorType": "InternalServerErrorException"}
    assert res["log"].split("\n")[-3].endswith(
        " : Execution failed due to configuration error: Invalid endpoint address")


def test_test_invoke_method_calls_the_lambda_without_an_api_key(api, aws):
    apigw = aws["apigateway"]
    predict = [r for r in apigw.get_resources(restApiId=api["api"])["items"]
               if r["path"] == "/predict"][0]["id"]
    res = apigw.test_invoke_method(restApiId=api["api"], resourceId=predict, httpMethod="POST",
                                   body='{"instances": [{}]}', headers={"X-Trace": "t9"})
    assert res["status"] == 200, res["log"]
    event = json.loads(res["body"])["event"]
    assert event["requestContext"]["stage"] == "test-invoke-stage"
    assert event["headers"] == {"X-Trace": "t9"}
    assert " : Endpoint request URI: https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/" \
        in res["log"]
    assert " : Received response. Status: 200, Integration latency: " in res["log"]


def test_a_deployed_mock_integration_answers(aws):
    apigw = aws["apigateway"]
    api, _, pet = _mock_api(apigw)
    apigw.update_method(restApiId=api, resourceId=pet, httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/apiKeyRequired", "value": "false"}])
    apigw.create_deployment(restApiId=api, stageName="dev")
    status, headers, body = call(
        f"{apigw.meta.endpoint_url}/restapis/{api}/dev/_user_request_/pets/7", method="GET")
    assert status == 200 and json.loads(body) == {"petId": "7"}
    assert headers["Content-Type"] == "application/json"
