"""Requests AWS refuses are refused by the local cloud with AWS's code, status and wording,
before moto sees them, and a refused document never poisons a later call."""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration
REGION = "us-east-1"
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, "
        "SignedHeaders=host, Signature=" + "0" * 64)


@pytest.fixture(scope="module")
def clients(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION,
              config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    names = ("s3", "lambda", "iam", "sts", "ssm", "logs", "events", "apigateway")
    c = {n: boto3.client(n, **kw) for n in names}
    c["bucket"] = f"val-{uuid.uuid4().hex[:12]}"
    c["s3"].create_bucket(Bucket=c["bucket"])
    c["port"] = local_cloud.port
    return c


def _err(call, *a, **k):
    with pytest.raises(ClientError) as exc:
        call(*a, **k)
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")


def _raw(port, method, path, body=b"", headers=None, creds=None):
    """One raw HTTP request; a placeholder `AUTH` header is replaced by a real SigV4 signature
    (the cloud verifies signatures) with `creds` (key, secret, token), by default the
    operator's key that the `local_cloud` fixture put in the environment."""
    import os

    from localcloud.testing import signed_headers

    headers = dict(headers or {})
    auth = headers.pop("Authorization", None)
    if auth is not None and auth.endswith("Signature=" + "0" * 64):
        service = auth.split("/")[3]
        key, secret, token = creds or (os.environ["AWS_ACCESS_KEY_ID"],
                                       os.environ["AWS_SECRET_ACCESS_KEY"], None)
        headers = signed_headers(key, secret, method, f"http://127.0.0.1:{port}{path}", body,
                                 headers, service=service, token=token)
    elif auth is not None:
        headers["Authorization"] = auth
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---- JSON services: ValidationException, AWS's wording ---------------------------------------
def test_lambda_function_name_pattern(clients):
    status, code, msg = _err(clients["lambda"].create_function, FunctionName="my-function!",
                             Runtime="python3.11", Role="arn:aws:iam::123456789012:role/r",
                             Handler="h.handler", Code={"ZipFile": b"x"})
    assert (status, code) == (400, "ValidationException")
    assert msg.startswith("1 validation error detected: Value 'my-function!' at 'functionName' "
                          "failed to satisfy constraint: Member must satisfy regular expression "
                          "pattern: ")


def test_lambda_bad_invocation_type_is_400(clients):
    status, code, msg = _err(clients["lambda"].invoke, FunctionName="nope",
                             InvocationType="bogus", Payload=b"{}")
    assert (status, code) == (400, "ValidationException")
    assert "at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set" in msg


def test_lambda_malformed_json_is_400(clients):
    for path in ("/2015-03-31/functions", "/2015-03-31/functions/nope/policy"):
        status, body = _raw(clients["port"], "POST", path, b"{bad",
                            {"Authorization": AUTH.format("lambda")})
        assert status == 400
        assert json.loads(body)["message"].startswith("Could not parse request body into json")


def test_lambda_invoke_payload_limits_are_413(clients, local_cloud):  # noqa: F811
    lam = clients["lambda"]
    iam = boto3.client("iam", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    fn = f"val-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=fn, Runtime="python3.11", Role=lambda_role(iam),
                        Handler="h.handler", Timeout=10,
                        Code={"ZipFile": zip_bytes({"h.py": "def handler(e, c):\n    return 1\n"})})
    big = b'"' + b"a" * (6 * 1024 * 1024) + b'"'
    status, code, msg = _err(lam.invoke, FunctionName=fn, Payload=big)
    assert (status, code) == (413, "RequestEntityTooLargeException")
    assert msg == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    status, code, _ = _err(lam.invoke, FunctionName=fn, InvocationType="Event",
                           Payload=b'"' + b"a" * (1024 * 1024) + b'"')
    assert (status, code) == (413, "RequestEntityTooLargeException")
    assert lam.invoke(FunctionName=fn, Payload=b"{}")["StatusCode"] == 200


def test_logs_and_ssm_and_events_validate(clients):
    status, code, msg = _err(clients["logs"].create_log_group, logGroupName="a:b")
    assert (status, code) == (400, "InvalidParameterException")
    assert "at 'logGroupName' failed to satisfy constraint" in msg
    status, code, msg = _err(clients["ssm"].put_parameter, Name="bad name", Value="v", Type="String")
    assert (status, code) == (400, "ValidationException")
    status, code, msg = _err(clients["events"].put_events, Entries=[])
    assert (status, code) == (400, "ValidationException")
    assert "Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1" in msg


# ---- query services: ValidationError -------------------------------------------------------
def test_assume_role_with_an_invalid_arn(clients):
    status, body = _raw(clients["port"], "POST", "/",
                        b"Action=AssumeRole&Version=2011-06-15&RoleArn=nothing-valid-in-here"
                        b"&RoleSessionName=session",
                        {"Authorization": AUTH.format("sts"),
                         "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"<Code>ValidationError</Code>" in body
    assert b"<Message>Request ARN is invalid</Message>" in body
    status, body = _raw(clients["port"], "POST", "/",
                        b"Action=AssumeRole&Version=2011-06-15&RoleSessionName=s&RoleArn="
                        b"arn:aws:iam::123456789012:role/r",
                        {"Authorization": AUTH.format("sts"),
                         "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and (b"1 validation error detected: Value &apos;s&apos; at "
                              b"&apos;roleSessionName&apos;" in body or
                              b"1 validation error detected: Value 's' at 'roleSessionName'" in body)


def test_iam_malformed_documents_never_poison_list_roles(clients):
    iam = clients["iam"]
    deep = "[" * 50_000 + "]" * 50_000
    status, code, _ = _err(iam.create_role, RoleName=f"deep-{uuid.uuid4().hex[:6]}",
                           AssumeRolePolicyDocument=deep)
    assert (status, code) == (400, "MalformedPolicyDocument")
    status, code, msg = _err(iam.create_role, RoleName="bad-json", AssumeRolePolicyDocument="{not json")
    assert (status, code, msg) == (400, "MalformedPolicyDocument", "This policy contains invalid Json")
    role = lambda_role(iam, name=f"val-{uuid.uuid4().hex[:6]}")
    status, code, _ = _err(iam.put_role_policy, RoleName=role.rsplit("/", 1)[1],
                           PolicyName="p", PolicyDocument=deep)
    assert code == "MalformedPolicyDocument"
    iam.list_roles()  # still parses


def test_iam_unknown_action_is_invalid_action(clients):
    status, body = _raw(clients["port"], "POST", "/", b"Action=NoSuchThing&Version=2010-05-08",
                        {"Authorization": AUTH.format("iam"),
                         "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


# ---- S3's own codes ------------------------------------------------------------------------
def test_s3_bucket_name(clients):
    status, code, _ = _err(clients["s3"].create_bucket, Bucket="UpperCase")
    assert (status, code) == (400, "InvalidBucketName")


def test_s3_key_too_long(clients):
    status, code, msg = _err(clients["s3"].put_object, Bucket=clients["bucket"], Key="k" * 2000,
                             Body=b"x")
    assert (status, code, msg) == (400, "KeyTooLongError", "Your key is too long")


def test_s3_digests(clients):
    s3, b = clients["s3"], clients["bucket"]
    wrong = base64.b64encode(hashlib.md5(b"y").digest()).decode()
    status, code, _ = _err(s3.put_object, Bucket=b, Key="a", Body=b"x", ContentMD5=wrong)
    assert (status, code) == (400, "BadDigest")
    status, body = _raw(clients["port"], "PUT", f"/{b}/a", b"x",
                        {"Authorization": AUTH.format("s3"), "x-amz-content-sha256": "0" * 64})
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body


def test_s3_max_keys_and_conditional_headers(clients):
    s3, b = clients["s3"], clients["bucket"]
    status, code, _ = _err(s3.list_objects_v2, Bucket=b, MaxKeys=-1)
    assert (status, code) == (400, "InvalidArgument")
    status, code, _ = _err(s3.put_object, Bucket=b, Key="c", Body=b"x", IfNoneMatch="abc")
    assert (status, code) == (501, "NotImplemented")
    s3.put_object(Bucket=b, Key="c", Body=b"x", IfNoneMatch="*")


def test_s3_garbage_copy_source(clients):
    status, code, _ = _err(clients["s3"].copy_object, Bucket=clients["bucket"], Key="d",
                           CopySource="garbage")
    assert (status, code) == (400, "InvalidArgument")


@pytest.mark.parametrize("query,body", [
    ("", b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
         b"<CreateBucketConfiguration><LocationConstraint>&lol2;</LocationConstraint>"
         b"</CreateBucketConfiguration>"),
    ("?notification", b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                      b"<NotificationConfiguration>&xxe;</NotificationConfiguration>"),
    ("?lifecycle", b"<LifecycleConfiguration><Rule><Status>x"),
    ("?cors", b'{"CORSRules": []}'),
    ("?delete", b"<Delete><Object><Key>a</Key>"),
    ("?tagging", b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"),
])
def test_s3_malformed_xml(clients, query, body):
    bucket = clients["bucket"] if query else f"new-{uuid.uuid4().hex[:8]}"
    method = "POST" if query == "?delete" else "PUT"
    status, data = _raw(clients["port"], method, f"/{bucket}{query}", body,
                        {"Authorization": AUTH.format("s3")})
    assert status == 400 and b"<Code>MalformedXML</Code>" in data, data[:300]


def test_s3_notification_with_filters_and_an_empty_configuration(clients):
    s3, b = clients["s3"], clients["bucket"]
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=b)


def test_s3_malformed_policy_does_not_break_the_bucket(clients):
    s3, b = clients["s3"], clients["bucket"]
    status, code, msg = _err(s3.put_bucket_policy, Bucket=b, Policy="{not json")
    assert (status, code) == (400, "MalformedPolicy")
    assert msg == "Policies must be valid JSON and the first byte must be '{'"
    s3.put_object(Bucket=b, Key="after", Body=b"x")
    assert s3.get_object(Bucket=b, Key="after")["Body"].read() == b"x"


def test_s3_put_object_tagging(clients):
    s3, b = clients["s3"], clients["bucket"]
    s3.put_object(Bucket=b, Key="t", Body=b"x")
    s3.put_object_tagging(Bucket=b, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=b, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]


# ---- no 500 for the operations the issue lists ----------------------------------------------
def test_api_gateway_update_without_patch_operations_and_unknown_ids(clients):
    status, body = _raw(clients["port"], "PATCH", "/account", b"{}",
                     {"Authorization": AUTH.format("apigateway"), "Content-Type": "application/json"})
    assert status == 200, body
    status, body = _raw(clients["port"], "DELETE", "/restapis/%ff", b"",
                        {"Authorization": AUTH.format("apigateway")})
    assert status == 404


def test_unimplemented_operations_are_501_naming_them(clients):
    status, body = _raw(clients["port"], "POST", "/", b'{"ResourceId": "arn:aws:ssm:us-east-1:123456789012:document/d"}',
                        {"Authorization": AUTH.format("ssm"), "X-Amz-Target": "AmazonSSM.CreateOpsMetadata",
                         "Content-Type": "application/x-amz-json-1.1"})
    assert status == 501
    doc = json.loads(body)
    assert doc["__type"] == "NotImplemented" and "CreateOpsMetadata" in doc["message"]


def test_malformed_chunked_body_is_400(clients):
    import socket
    with socket.create_connection(("127.0.0.1", clients["port"]), timeout=30) as s:
        s.sendall((f"PUT /{clients['bucket']}/chunked HTTP/1.1\r\nHost: 127.0.0.1:{clients['port']}\r\n"
                   f"Authorization: {AUTH.format('s3')}\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: close\r\n\r\nzz\r\nabc\r\n").encode())
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    assert out.split(b"\r\n", 1)[0].split()[1] == b"400", out[:300]


def test_iam_check_that_raises_refuses_the_request(local_cloud, monkeypatch, caplog):  # noqa: F811
    """Fail closed: when the IAM check itself raises, the request is refused with AWS's
    InternalFailure (named in the log), never let through."""
    from localcloud.iam.service import IamService

    iam = boto3.client("iam", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    role = lambda_role(iam, name=f"val-closed-{uuid.uuid4().hex[:6]}", statements=[
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}])
    session = local_cloud.iam.store.issue(role, "closed", "123456789012", REGION)

    def broken(self, environ, identity, cred):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(IamService, "check_request", broken)
    status, body = _raw(local_cloud.port, "GET", "/", b"", {"Authorization": AUTH.format("s3")},
                        creds=(session.access_key_id, session.secret_access_key, session.session_token))
    assert status == 500 and b"InternalFailure" in body
    assert "IAM check failed" in caplog.text and "engine bug" in caplog.text


def test_s3_if_match_is_compared_not_refused(clients):
    s3, b = clients["s3"], clients["bucket"]
    etag = s3.put_object(Bucket=b, Key="im", Body=b"x")["ETag"]
    status, code, _ = _err(s3.put_object, Bucket=b, Key="im", Body=b"y", IfMatch="test")
    assert (status, code) == (412, "PreconditionFailed")
    s3.put_object(Bucket=b, Key="im", Body=b"y", IfMatch=etag.strip('"'))  # unquoted matches
    status, code, _ = _err(s3.put_object, Bucket=b, Key="im", Body=b"z", IfMatch="*")
    assert (status, code) == (501, "NotImplemented")


def test_s3_acls_as_aws_accepts_and_refuses_them(clients):
    s3, b = clients["s3"], clients["bucket"]
    owner = s3.get_bucket_acl(Bucket=b)["Owner"]  # ID only, as AWS answers since 2025
    grant = {"Grantee": {"URI": "http://acs.amazonaws.com/groups/s3/LogDelivery",
                         "Type": "Group"}, "Permission": "WRITE"}
    s3.put_bucket_acl(Bucket=b, AccessControlPolicy={"Grants": [grant], "Owner": owner})
    assert s3.get_bucket_acl(Bucket=b)["Grants"][0]["Grantee"]["Type"] == "Group"
    s3.put_object(Bucket=b, Key="acl", Body=b"x")
    s3.put_object_acl(Bucket=b, Key="acl",
                      GrantRead="uri=http://acs.amazonaws.com/groups/global/AllUsers")
    status, code, msg = _err(s3.put_object_acl, Bucket=b, Key="acl", GrantRead="id=AllUsers")
    assert (status, code, msg) == (400, "InvalidArgument", "Invalid id")


def test_s3_object_lock_configuration_without_a_body(clients):
    status, code, msg = _err(clients["s3"].put_object_lock_configuration, Bucket=clients["bucket"])
    assert (status, code, msg) == (400, "MissingRequestBodyError", "Request Body is empty")


def test_iam_path_is_refused_in_iams_words(clients):
    status, code, msg = _err(clients["iam"].create_user, UserName=f"u{uuid.uuid4().hex[:8]}",
                             Path="my/path")
    assert (status, code) == (400, "ValidationError")
    assert msg.startswith("The specified value for path is invalid. It must begin and end with /")


def test_lambda_ephemeral_storage_is_at_most_10240_mb(clients):
    status, code, msg = _err(clients["lambda"].create_function, FunctionName="eph",
                             Runtime="python3.11", Role=lambda_role(clients["iam"]), Handler="h.h",
                             Code={"ZipFile": zip_bytes({"h.py": "def h(e, c): pass\n"})},
                             EphemeralStorage={"Size": 20000})
    assert (status, code) == (400, "ValidationException")
    assert msg.endswith("Member must have value less than or equal to 10240")
