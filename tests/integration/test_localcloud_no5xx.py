"""Never a 5xx for a client's fault in the data plane (API invoke URLs, Lambda Invoke): the
cases of issue 10 answer JSON 4xx, and a bounded, seeded fuzz of thousands of generated
paths, bodies and header sets against a real local cloud finds no 5xx; the server stays
healthy throughout."""
from __future__ import annotations

import http.client
import json
import random
import socket
import uuid

import boto3
import pytest

from localcloud.core import health
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"
ECHO = """
import json
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"n": len(event.get("body") or "")})}
"""
SCHEMA = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
          "required": ["instances"],
          "properties": {"instances": {"type": "array", "items": {"type": "object"}}}}
SEED = 20261130
N_FUZZ = 3000


@pytest.fixture(scope="module")
def api(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    lam, apigw, iam = (boto3.client(n, **kw) for n in ("lambda", "apigateway", "iam"))
    fn = f"fuzz-{uuid.uuid4().hex[:8]}"
    arn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=lambda_role(iam),
                              Handler="h.handler", Code={"ZipFile": zip_bytes({"h.py": ECHO})},
                              Timeout=10)["FunctionArn"]
    uri = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
    api_id = apigw.create_rest_api(name=f"api-{fn}")["id"]
    root = [r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/"][0]["id"]
    apigw.create_model(restApiId=api_id, name="Instances", contentType="application/json",
                       schema=json.dumps(SCHEMA))
    v = apigw.create_request_validator(restApiId=api_id, name="body", validateRequestBody=True,
                                       validateRequestParameters=False)["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="predict")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="POST", authorizationType="NONE",
                     apiKeyRequired=True, requestValidatorId=v,
                     requestModels={"application/json": "Instances"})
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)
    apigw.create_deployment(restApiId=api_id, stageName="production")
    # as on AWS, API Gateway may invoke the function only with its permission
    lam.add_permission(FunctionName=fn, StatementId="apigateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:{arn.split(':')[4]}:{api_id}/*")
    key = apigw.create_api_key(name=f"key-{fn}", enabled=True)
    plan = apigw.create_usage_plan(name=f"plan-{fn}",
                                   apiStages=[{"apiId": api_id, "stage": "production"}])["id"]
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    return {"id": api_id, "key": key["value"], "fn": fn, "port": local_cloud.port}


def _req(port, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type") or "", resp.read()
    finally:
        conn.close()


def _raw(port, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _predict(api):
    return f"/restapis/{api['id']}/production/_user_request_/predict"


def test_too_deep_body_is_400_not_500(api):
    deep = ('{"instances": ' + "[" * 995 + "]" * 995 + "}").encode()
    assert 1900 < len(deep) < 2100
    status, ctype, body = _req(api["port"], "POST", _predict(api), deep,
                               {"x-api-key": api["key"], "Content-Type": "application/json"})
    assert status == 400 and ctype == "application/json"
    assert json.loads(body) == {"message": "Invalid request body"}
    # the Invoke API: AWS's InvalidRequestContentException, 400
    status, _, body = _req(api["port"], "POST",
                           f"/2015-03-31/functions/{api['fn']}/invocations", deep,
                           _signed(api["port"], f"/2015-03-31/functions/{api['fn']}/invocations",
                                   deep))
    assert status == 400 and "Could not parse request body into json" in json.loads(body)["message"]


def test_dot_dot_before_the_stage_is_missing_authentication_token(api):
    for path in (f"/restapis/{api['id']}/x/../production/_user_request_/predict",
                 f"/restapis/{api['id']}/production/../production/_user_request_/predict",
                 f"/restapis/{api['id']}/_user_request_/predict",
                 f"/restapis/{api['id']}/x/%2e%2e/production/_user_request_/predict"):
        status, ctype, body = _req(api["port"], "POST", path, b"{}",
                                   {"x-api-key": api["key"], "Content-Type": "application/json"})
        assert status == 403, path
        assert ctype == "application/json"
        assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_huge_or_many_headers_are_431_json_and_the_server_stays_up(api, local_cloud):  # noqa: F811
    head = f"POST {_predict(api)} HTTP/1.1\r\nHost: 127.0.0.1:{api['port']}\r\n".encode()
    for extra in (b"X-Big: " + b"a" * 70_000 + b"\r\n",
                  b"".join(b"X-H%d: v\r\n" % i for i in range(200))):
        out = _raw(api["port"], head + extra + b"Content-Length: 0\r\n\r\n")
        status_line, _, rest = out.partition(b"\r\n")
        assert status_line.split()[1] in (b"431", b"400")
        hdrs, _, body = rest.partition(b"\r\n\r\n")
        assert b"Content-Type: application/json" in hdrs
        assert "message" in json.loads(body)
    assert health(local_cloud.endpoint_url) is not None


def test_oversize_body_is_413_json(api):
    status, ctype, body = _req(api["port"], "POST", _predict(api), b"x" * (10 * 1024 * 1024 + 1),
                               {"x-api-key": api["key"], "Content-Type": "application/json"})
    assert status == 413 and ctype == "application/json" and json.loads(body)["message"]


def _signed(port, path, body):
    """Headers of a POST signed with the cloud's operator key."""
    from localcloud.core.operator import for_port
    from localcloud.testing import signed_headers
    key = for_port(port)
    return signed_headers(key.access_key_id, key.secret_access_key, "POST",
                          f"http://127.0.0.1:{port}{path}", body)


_LAMBDA_AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, "
                "SignedHeaders=host, Signature=0")


def _fuzz_body(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind == 0:
        d = rng.randrange(1, 3000)
        return (rng.choice("[{") * d).replace("{", '{"a":').encode() + b"1" + b"]" * d
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    if kind == 2:
        return json.dumps({"instances": [{"x": rng.random()} for _ in range(rng.randrange(4))]}).encode()
    if kind == 3:
        return rng.choice([b"NaN", b"[Infinity]", b"1e999999", b"-" * 50, b'"\\ud800"',
                           b'{"instances": "x"}', b"null", b"{}", b"[]", b'{"a":' * 50])
    if kind == 4:
        return ("\u20ac" * rng.randrange(50)).encode("utf-16")
    if kind == 5:
        return b"9" * rng.randrange(1, 5000)
    if kind == 6:
        return json.dumps({"instances": [[[]] * rng.randrange(10)]}).encode()
    if kind == 7:
        return b""
    if kind == 8:
        return b"{" + b'"k":{' * rng.randrange(100, 1200) + b"}" * 10
    return "".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(60))).encode("utf-8", "surrogatepass")


_SEGMENTS = ["predict", "..", ".", "", "%2e%2e", "%00", "%ff", "%", "%zz", "items", "{proxy+}",
             "_user_request_", "production", "restapis", "a" * 300, "\u00e9", "%C3%A9",
             ";x=1", "%3Fa=b", "%23f", "~", "//", "%2F", "%20", "x%20y"]


def _fuzz_path(rng: random.Random, api: dict) -> str:
    segs = [rng.choice(_SEGMENTS) for _ in range(rng.randrange(0, 6))]
    tail = "/".join(segs)
    kind = rng.randrange(4)
    if kind == 0:
        path = f"/restapis/{api['id']}/production/_user_request_/{tail}"
    elif kind == 1:
        path = f"/restapis/{rng.choice([api['id'], 'nope', '..', ''])}/{tail}/_user_request_/{tail}"
    elif kind == 2:
        path = f"/restapis/{api['id']}/{rng.choice(['production', 'prod', '..', '%2e'])}/_user_request_/predict"
    else:
        path = f"/2015-03-31/functions/{rng.choice([api['fn'], 'nope', api['fn'] + '%00'])}/invocations"
    if rng.random() < 0.2:
        path += "?" + rng.choice(["a=1&a=2", "%zz", "=", "&&", "a" * 500, "x=%ff"])
    return "".join(c if 0x21 <= ord(c) < 0x7F else "%%%02X" % (ord(c) & 0xFF) for c in path)


def _fuzz_headers(rng: random.Random, api: dict) -> dict:
    h = {}
    if rng.random() < 0.7:
        h["x-api-key"] = rng.choice([api["key"], "wrong", "", " " + api["key"], "\u00e9".encode().decode("latin-1")])
    if rng.random() < 0.7:
        h["Content-Type"] = rng.choice(["application/json", "text/plain", "application/json; charset=utf-16",
                                        "multipart/form-data; boundary=x", "", "*/*", "application/x-amz-json-1.1"])
    if rng.random() < 0.3:
        h["Authorization"] = rng.choice([_LAMBDA_AUTH, "AWS4-HMAC-SHA256 Credential=a/b/c/lambda/aws4_request",
                                         "garbage", "AWS4"])
    if rng.random() < 0.2:
        h["X-Amz-Invocation-Type"] = rng.choice(["Event", "DryRun", "RequestResponse", "bogus", ""])
    if rng.random() < 0.2:
        h["Content-Encoding"] = rng.choice(["gzip", "br", "identity"])
    if rng.random() < 0.2:
        h["Accept"] = rng.choice(["text/html", "*/*", "application/xml", ""])
    for i in range(rng.randrange(0, 30)):
        h[f"X-Fuzz-{i}"] = "".join(chr(rng.randrange(0x20, 0xFF)) for _ in range(rng.randrange(0, 200)))
    return h


def test_fuzz_finds_no_5xx(api, local_cloud):  # noqa: F811
    rng = random.Random(SEED)
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
    failures = []
    statuses: dict[int, int] = {}
    for i in range(N_FUZZ):
        method = rng.choice(methods)
        path = _fuzz_path(rng, api)
        body = _fuzz_body(rng) if method not in ("GET", "HEAD") or rng.random() < 0.1 else b""
        headers = _fuzz_headers(rng, api)
        status, ctype, data = _req(api["port"], method, path, body, headers)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500:
            failures.append((i, method, path[:120], status, data[:200]))
        elif status >= 400 and method != "HEAD":
            assert "json" in ctype or "xml" in ctype, (method, path, status, ctype, data[:200])
    assert health(local_cloud.endpoint_url) is not None
    assert not failures, f"{len(failures)} 5xx of {N_FUZZ} (seed {SEED}): {failures[:5]}"
    assert statuses.get(200, 0) > 50 and statuses.get(403, 0) > 50 and statuses.get(400, 0) > 10, statuses
