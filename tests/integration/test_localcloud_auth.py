"""Authentication as AWS does it, tried against a real local cloud as an attacker would: an
unknown key, a wrong signature, an expired session, no signature at all; a hostile function
signing with every key it can make or find; a page opened from a bucket; an AWS_IAM method."""
import base64
import datetime
import json
import os
import time
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from localcloud.core import operator
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import LAMBDA_TRUST, zip_bytes

pytestmark = pytest.mark.integration
REGION = "us-east-1"

# One harmless read per service, and the code AWS answers each refusal with there.
CALLS = {
    "s3": (lambda c: c.list_buckets(),
           {"unknown": "InvalidAccessKeyId", "badsig": "SignatureDoesNotMatch",
            "expired": "ExpiredToken", "anonymous": "AccessDenied"}),
    "lambda": (lambda c: c.list_functions(),
               {"unknown": "UnrecognizedClientException", "badsig": "InvalidSignatureException",
                "expired": "ExpiredTokenException",
                "anonymous": "MissingAuthenticationTokenException"}),
    "iam": (lambda c: c.list_roles(),
            {"unknown": "InvalidClientTokenId", "badsig": "SignatureDoesNotMatch",
             "expired": "ExpiredToken", "anonymous": "MissingAuthenticationToken"}),
    "ec2": (lambda c: c.describe_instances(),
            {"unknown": "AuthFailure", "badsig": "AuthFailure", "expired": "RequestExpired",
             "anonymous": "MissingAuthenticationToken"}),
    "ssm": (lambda c: c.describe_parameters(),
            {"unknown": "UnrecognizedClientException", "badsig": "InvalidSignatureException",
             "expired": "ExpiredTokenException",
             "anonymous": "MissingAuthenticationTokenException"}),
    "apigateway": (lambda c: c.get_rest_apis(),
                   {"unknown": "UnrecognizedClientException",
                    "badsig": "InvalidSignatureException", "expired": "ExpiredTokenException",
                    "anonymous": "MissingAuthenticationTokenException"}),
}


def client(cloud, service, key=None, secret=None, token=None, unsigned=False):
    from botocore import UNSIGNED
    cfg = Config(retries={"max_attempts": 1}, signature_version=UNSIGNED) if unsigned else \
        Config(retries={"max_attempts": 1})
    k = cloud._operator_key
    return boto3.client(service, endpoint_url=cloud.endpoint_url, region_name=REGION,
                        aws_access_key_id=key or k.access_key_id,
                        aws_secret_access_key=secret or k.secret_access_key,
                        aws_session_token=token, config=cfg)


@pytest.fixture(scope="module")
def expired_session(local_cloud):  # noqa: F811
    """Credentials of an AssumeRole session whose expiry has passed (moved into the past in
    the cloud's STS backend: a real session lasts at least 15 minutes)."""
    iam = client(local_cloud, "iam")
    name = f"auth-exp-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "*"}}]}))["Role"]["Arn"]
    creds = client(local_cloud, "sts").assume_role(RoleArn=arn, RoleSessionName="expired",
                                                   DurationSeconds=900)["Credentials"]
    from moto.sts.models import sts_backends
    for r in sts_backends["123456789012"]["aws"].assumed_roles:
        if r.access_key_id == creds["AccessKeyId"]:
            r.expiration = r.expiration - datetime.timedelta(hours=2)
    return creds


@pytest.mark.parametrize("service", sorted(CALLS))
def test_each_service_refuses_what_aws_refuses(local_cloud, expired_session, service):  # noqa: F811
    call, codes = CALLS[service]
    call(client(local_cloud, service))  # the operator's key is served
    cases = {
        "unknown": client(local_cloud, service, "AKIAMADEUPKEY0000000", "madeup"),
        "badsig": client(local_cloud, service, secret="not-the-secret"),
        "expired": client(local_cloud, service, expired_session["AccessKeyId"],
                          expired_session["SecretAccessKey"], expired_session["SessionToken"]),
        "anonymous": client(local_cloud, service, unsigned=True),
    }
    for case, c in cases.items():
        with pytest.raises(ClientError) as exc:
            call(c)
        assert exc.value.response["Error"]["Code"] == codes[case], (service, case)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 401, 403)


def test_testing_key_is_not_the_operator(local_cloud):  # noqa: F811
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "s3", "testing", "testing").list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def _control(cloud, path, method="GET", key=None, secret=None, sign=True):
    url = cloud.endpoint_url + path
    headers = {"X-Localcloud-Control": "1"}
    if sign:
        req = AWSRequest(method=method, url=url, data=b"", headers=headers)
        SigV4Auth(Credentials(key, secret), "localcloud", REGION).add_auth(req)
        headers = dict(req.headers.items())
    return requests.request(method, url, headers=headers, timeout=10)


@pytest.mark.parametrize("path,method", [("/_localcloud/health", "GET"),
                                         ("/_localcloud/reset", "POST"),
                                         ("/_localcloud/iam-report", "GET"),
                                         ("/moto-api/reset", "POST")])
def test_control_paths_answer_only_the_operator(local_cloud, expired_session, path, method):  # noqa: F811
    k = local_cloud._operator_key
    for key, secret in (("testing", "testing"), ("AKIAMADEUPKEY0000000", "x"),
                        (k.access_key_id, "wrong"),
                        (expired_session["AccessKeyId"], expired_session["SecretAccessKey"])):
        assert _control(local_cloud, path, method, key, secret).status_code == 403, (path, key)
    assert _control(local_cloud, path, method, sign=False).status_code == 403
    if method == "GET":
        assert _control(local_cloud, path, method, k.access_key_id,
                        k.secret_access_key).status_code == 200


def test_operator_key_file_is_private_and_named(local_cloud):  # noqa: F811
    path = local_cloud.operator_key_path
    assert path == operator.key_path(local_cloud.port)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert operator.read(path) == local_cloud._operator_key


def test_operator_key_is_reused(tmp_path):
    path = tmp_path / "4999" / "credentials"
    first = operator.load_or_create(path)
    os.chmod(path, 0o644)
    assert operator.load_or_create(path) == first
    assert (path.stat().st_mode & 0o777) == 0o600


# A function whose role may only write CloudWatch Logs, trying every key it can get.
HOSTILE = """
import json, os, urllib.request, boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
EP = os.environ["AWS_ENDPOINT_URL"]
def attempt(f):
    try:
        f(); return "served"
    except ClientError as e:
        return e.response["Error"]["Code"]
    except Exception as e:
        return type(e).__name__
def handler(event, context):
    keys = {"own": (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                    os.environ.get("AWS_SESSION_TOKEN")),
            "testing": ("testing", "testing", None), "own-no-token":
            (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], None),
            "made-up": ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None)}
    out = {}
    for name, (k, s, t) in keys.items():
        kw = dict(aws_access_key_id=k, aws_secret_access_key=s, aws_session_token=t)
        out[name] = {
            "list": attempt(lambda: boto3.client("s3", **kw).list_objects_v2(Bucket=event["bucket"])),
            "policy": attempt(lambda: boto3.client("iam", **kw).put_role_policy(
                RoleName=event["role"], PolicyName="pwn", PolicyDocument=json.dumps(
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                             "Resource": "*"}]}))),
        }
        req = AWSRequest(method="POST", url=EP + "/_localcloud/reset", data=b"",
                         headers={"X-Localcloud-Control": "1"})
        SigV4Auth(Credentials(k, s, t), "localcloud", "us-east-1").add_auth(req)
        try:
            with urllib.request.urlopen(urllib.request.Request(
                    req.url, data=b"", method="POST", headers=dict(req.headers.items()))) as r:
                out[name]["reset"] = r.status
        except urllib.error.HTTPError as e:
            out[name]["reset"] = e.code
    return out
"""


def test_hostile_function_changes_nothing_outside_its_policy(local_cloud):  # noqa: F811
    iam, s3, lam = (client(local_cloud, n) for n in ("iam", "s3", "lambda"))
    bucket = f"private-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"s")
    role = f"logs-only-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/service-role/"
                                                    "AWSLambdaBasicExecutionRole")
    fn = f"hostile-{uuid.uuid4().hex[:6]}"
    lam.create_function(FunctionName=fn, Runtime="python3.11", Role=arn, Handler="h.handler",
                        Timeout=60, Code={"ZipFile": zip_bytes({"h.py": HOSTILE})})
    resp = lam.invoke(FunctionName=fn, Payload=json.dumps({"bucket": bucket, "role": role}))
    out = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, out
    assert out["own"]["list"] == "AccessDenied" and out["own"]["policy"] == "AccessDenied", out
    assert out["own-no-token"]["list"] == "InvalidToken", out
    for name in ("testing", "made-up"):
        assert out[name]["list"] == "InvalidAccessKeyId", out
        assert out[name]["policy"] == "InvalidClientTokenId", out
    assert all(v["reset"] == 403 for v in out.values()), out
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"s"


def test_anonymous_s3_only_where_public(local_cloud):  # noqa: F811
    s3 = client(local_cloud, "s3")
    private, public = (f"anon-{n}-{uuid.uuid4().hex[:6]}" for n in ("priv", "pub"))
    for b in (private, public):
        s3.create_bucket(Bucket=b)
        s3.put_object(Bucket=b, Key="k.txt", Body=b"hello")
    s3.put_bucket_policy(Bucket=public, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{public}/*"}]}))
    base = local_cloud.endpoint_url
    r = requests.get(f"{base}/{private}?list-type=2", timeout=10)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert requests.get(f"{base}/{private}/k.txt", timeout=10).status_code == 403
    assert requests.get(f"{base}/{public}/k.txt", timeout=10).text == "hello"
    assert requests.get(f"{base}/{public}?list-type=2", timeout=10).status_code == 403
    assert requests.put(f"{base}/{public}/new.txt", data=b"x", timeout=10).status_code == 403


def test_presigned_urls_work_and_expire(local_cloud):  # noqa: F811
    s3 = client(local_cloud, "s3")
    b = f"presign-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="a b/c.txt", Body=b"data")
    v4 = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                      aws_access_key_id=local_cloud._operator_key.access_key_id,
                      aws_secret_access_key=local_cloud._operator_key.secret_access_key,
                      config=Config(signature_version="s3v4"))
    for c in (s3, v4):
        url = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "a b/c.txt"})
        assert requests.get(url, timeout=10).content == b"data"
        assert requests.get(url.replace("Signature=", "Signature=0"), timeout=10).status_code == 403
        short = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "a b/c.txt"},
                                         ExpiresIn=1)
        time.sleep(2.1)
        r = requests.get(short, timeout=10)
        assert r.status_code == 403 and "Request has expired" in r.text
    put = v4.generate_presigned_url("put_object", Params={"Bucket": b, "Key": "up.txt"})
    assert requests.put(put, data=b"up", timeout=10).status_code == 200
    assert s3.get_object(Bucket=b, Key="up.txt")["Body"].read() == b"up"


def test_content_sha256_must_match_the_body(local_cloud):  # noqa: F811
    s3 = client(local_cloud, "s3")
    b = f"sha-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    k = local_cloud._operator_key
    url = f"{local_cloud.endpoint_url}/{b}/x.txt"
    req = AWSRequest(method="PUT", url=url, data=b"real body",
                     headers={"X-Amz-Content-SHA256": "0" * 64})
    SigV4Auth(Credentials(k.access_key_id, k.secret_access_key), "s3", REGION).add_auth(req)
    r = requests.put(url, data=b"real body", headers=dict(req.headers.items()), timeout=10)
    assert r.status_code == 400 and "XAmzContentSHA256Mismatch" in r.text


def test_html_object_is_sandboxed(local_cloud):  # noqa: F811
    s3 = client(local_cloud, "s3")
    b = f"page-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="p.html", Body=b"<script>fetch('/_localcloud/reset')</script>",
                  ContentType="text/html")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "p.html"})
    r = requests.get(url, headers={"Sec-Fetch-Site": "none"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Security-Policy"] == "sandbox"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    obj = s3.get_object(Bucket=b, Key="p.html")
    assert obj["ResponseMetadata"]["HTTPHeaders"]["content-security-policy"] == "sandbox"


PREDICT = """
def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
"""


def test_aws_iam_method(local_cloud):  # noqa: F811
    iam, lam, apigw = (client(local_cloud, n) for n in ("iam", "lambda", "apigateway"))
    role = iam.create_role(RoleName=f"fn-{uuid.uuid4().hex[:6]}",
                           AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    fn = f"iamapi-{uuid.uuid4().hex[:6]}"
    fn_arn = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=role,
                                 Handler="h.handler",
                                 Code={"ZipFile": zip_bytes({"h.py": PREDICT})})["FunctionArn"]
    api = apigw.create_rest_api(name=fn)["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="predict")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="AWS_IAM")
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                              f"{fn_arn}/invocations")
    lam.add_permission(FunctionName=fn, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{REGION}:123456789012:{api}/*/*/*")
    apigw.create_deployment(restApiId=api, stageName="prod")
    url = f"{local_cloud.endpoint_url}/restapis/{api}/prod/_user_request_/predict"
    method_arn = f"arn:aws:execute-api:{REGION}:123456789012:{api}/prod/POST/predict"

    def signed(key, secret, token=None, service="execute-api"):
        req = AWSRequest(method="POST", url=url, data=b"{}")
        SigV4Auth(Credentials(key, secret, token), service, REGION).add_auth(req)
        return requests.post(url, data=b"{}", headers=dict(req.headers.items()), timeout=30)

    r = requests.post(url, data=b"{}", timeout=30)
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}
    k = local_cloud._operator_key
    r = signed(k.access_key_id, "wrong")
    assert r.status_code == 403 and r.json()["message"].startswith(
        "The request signature we calculated does not match")
    user = f"caller-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    ak = iam.create_access_key(UserName=user)["AccessKey"]
    time.sleep(0)  # the key is live at once in the local cloud
    r = signed(ak["AccessKeyId"], ak["SecretAccessKey"])
    assert r.status_code == 403
    assert r.json()["message"] == (f"User: arn:aws:iam::123456789012:user/{user} is not authorized "
                                   f"to perform: execute-api:Invoke on resource: {method_arn}")
    iam.put_user_policy(UserName=user, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                "Resource": method_arn}]}))
    r = signed(ak["AccessKeyId"], ak["SecretAccessKey"])
    assert r.status_code == 200 and r.text == "ok"
    assert signed(k.access_key_id, k.secret_access_key).status_code == 200


def test_v2_presigned_url_of_a_role_session_is_held_to_its_policy(local_cloud):  # noqa: F811
    """S3's older presigned URLs (what boto3 makes by default) are checked by IAM too."""
    s3, iam = client(local_cloud, "s3"), client(local_cloud, "iam")
    b = f"v2-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"v")
    name = f"v2-role-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    creds = local_cloud.iam.store.issue(arn, "v2", "123456789012", REGION)
    c = client(local_cloud, "s3", creds.access_key_id, creds.secret_access_key,
               creds.session_token)
    url = c.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"})
    assert "AWSAccessKeyId=" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text


def test_iam_user_keys_are_verified_and_held_to_the_users_policies(local_cloud):  # noqa: F811
    iam = client(local_cloud, "iam")
    user = f"key-user-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    ak = iam.create_access_key(UserName=user)["AccessKey"]
    s3 = client(local_cloud, "s3", ak["AccessKeyId"], ak["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"  # known key, no policy
    iam.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                "Resource": "*"}]}))
    s3.list_buckets()
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "s3", ak["AccessKeyId"], "wrong-secret").list_buckets()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    iam.update_access_key(UserName=user, AccessKeyId=ak["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    iam.delete_access_key(UserName=user, AccessKeyId=ak["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


# A signature more than 15 minutes from the cloud's clock, per service, as AWS answers it.
SKEWED = {"s3": ("RequestTimeTooSkewed", 403), "lambda": ("InvalidSignatureException", 403),
          "iam": ("SignatureDoesNotMatch", 403), "ec2": ("RequestExpired", 400),
          "ssm": ("InvalidSignatureException", 400),
          "apigateway": ("InvalidSignatureException", 403)}


def _signing_clock(monkeypatch, minutes):
    """boto3 signs as if its clock were ``minutes`` off: botocore's own signers and, when
    awscrt is installed (moto's CRC64NVME checksums need it), the CRT signers botocore then
    prefers, which read the clock through their own import."""
    import botocore.auth
    import botocore.crt.auth
    for module in (botocore.auth, botocore.crt.auth):
        current = module.get_current_datetime
        real = getattr(current, "__wrapped__", current)
        shifted = lambda *a, _real=real, **kw: _real(*a, **kw) + datetime.timedelta(minutes=minutes)  # noqa: E731
        shifted.__wrapped__ = real
        monkeypatch.setattr(module, "get_current_datetime", shifted)


@pytest.mark.parametrize("service", sorted(CALLS))
def test_a_signature_more_than_15_minutes_off_is_refused(local_cloud, service, monkeypatch):  # noqa: F811
    call, _ = CALLS[service]
    c = client(local_cloud, service)
    code, status = SKEWED[service]
    for minutes, words in ((-16, "Signature expired: "), (16, "Signature not yet current: ")):
        _signing_clock(monkeypatch, minutes)
        with pytest.raises(ClientError) as exc:
            call(c)
        err = exc.value.response
        assert err["Error"]["Code"] == code, (service, minutes)
        assert err["ResponseMetadata"]["HTTPStatusCode"] == status, (service, minutes)
        if service not in ("s3", "ec2"):
            assert err["Error"]["Message"].startswith(words) and "15 min.)" in \
                err["Error"]["Message"], err["Error"]["Message"]
    _signing_clock(monkeypatch, -14)  # within 15 minutes: served
    call(c)


def test_s3_skew_names_both_clocks(local_cloud, monkeypatch):  # noqa: F811
    _signing_clock(monkeypatch, -30)
    k = local_cloud._operator_key
    req = AWSRequest(method="GET", url=f"{local_cloud.endpoint_url}/",
                     headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(k.access_key_id, k.secret_access_key), "s3", REGION).add_auth(req)
    r = requests.get(req.url, headers=dict(req.headers), timeout=10)
    assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text
    assert f"<RequestTime>{req.headers['X-Amz-Date']}</RequestTime>" in r.text
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in r.text


def test_a_presigned_url_is_held_to_its_expiry_not_to_the_skew(local_cloud, monkeypatch):  # noqa: F811
    s3 = client(local_cloud, "s3")
    b = f"skew-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="k", Body=b"data")
    k = local_cloud._operator_key
    v4 = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                      aws_access_key_id=k.access_key_id, aws_secret_access_key=k.secret_access_key,
                      config=Config(signature_version="s3v4"))
    _signing_clock(monkeypatch, -30)  # signed half an hour ago
    long = v4.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=3600)
    short = v4.generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=600)
    assert requests.get(long, timeout=10).content == b"data"
    r = requests.get(short, timeout=10)
    assert r.status_code == 403 and "Request has expired" in r.text


def _post(post, data=b"hello", **extra_fields):
    fields = {**post["fields"], **extra_fields}
    return requests.post(post["url"], data=fields, files={"file": ("f.txt", data)}, timeout=10)


def _code(r):
    return r.text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in r.text else None


@pytest.mark.parametrize("version", ["v2", "s3v4"])
def test_presigned_post_is_held_to_its_policy_and_its_signature(local_cloud, version):  # noqa: F811
    k = local_cloud._operator_key
    s3 = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                      aws_access_key_id=k.access_key_id, aws_secret_access_key=k.secret_access_key,
                      config=Config(signature_version="s3v4") if version == "s3v4" else None)
    b = f"post-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    assert ("x-amz-signature" in s3.generate_presigned_post(b, "k")["fields"]) == \
        (version == "s3v4")
    conds = [["content-length-range", 1, 10], ["starts-with", "$Content-Type", "text/"]]
    post = s3.generate_presigned_post(b, "up/a.txt", Fields={"Content-Type": "text/plain"},
                                      Conditions=conds, ExpiresIn=300)
    r = _post(post)
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=b, Key="up/a.txt")["Body"].read() == b"hello"
    r = _post(post, key="up/other.txt")  # a field the policy pins
    assert r.status_code == 403 and _code(r) == "AccessDenied"
    assert 'Policy Condition failed: ["eq", "$key", "up/a.txt"]' in r.text
    r = _post(post, **{"x-amz-meta-extra": "1"})
    assert r.status_code == 403 and "Extra input fields: x-amz-meta-extra" in r.text
    r = _post(post, **{"Content-Type": "application/x-sh"})
    assert r.status_code == 403 and "Policy Condition failed" in r.text
    r = _post(post, data=b"x" * 11)
    assert r.status_code == 400 and _code(r) == "EntityTooLarge"
    r = _post(post, data=b"")
    assert r.status_code == 400 and _code(r) == "EntityTooSmall"
    sig_field = "signature" if "signature" in post["fields"] else "x-amz-signature"
    r = _post(post, **{sig_field: "0" * 40})
    assert r.status_code == 403 and _code(r) == "SignatureDoesNotMatch"
    forged = dict(post["fields"])  # a policy of one's own, signature of another
    forged["policy"] = base64.b64encode(json.dumps({
        "expiration": "2099-01-01T00:00:00Z", "conditions": [{"bucket": b}, ["starts-with", "$key", ""]]
    }).encode()).decode()
    r = requests.post(post["url"], data={**forged, "key": "anything"},
                      files={"file": ("f", b"x")}, timeout=10)
    assert r.status_code == 403 and _code(r) == "SignatureDoesNotMatch"
    made_up = client(local_cloud, "s3", "AKIAMADEUPKEY0000000", "madeup")
    r = _post(made_up.generate_presigned_post(b, "up/m.txt"))
    assert r.status_code == 403 and _code(r) == "InvalidAccessKeyId"
    short = s3.generate_presigned_post(b, "up/s.txt", ExpiresIn=1)
    time.sleep(2.1)
    r = _post(short)
    assert r.status_code == 403 and "Invalid according to Policy: Policy expired." in r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["up/a.txt"]


def test_presigned_post_of_a_role_session_is_held_to_its_policy(local_cloud):  # noqa: F811
    s3, iam = client(local_cloud, "s3"), client(local_cloud, "iam")
    b = f"post-role-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=b)
    name = f"post-role-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                                "Resource": f"arn:aws:s3:::{b}/allowed/*"}]}))
    creds = local_cloud.iam.store.issue(arn, "post", "123456789012", REGION)
    c = client(local_cloud, "s3", creds.access_key_id, creds.secret_access_key,
               creds.session_token)
    assert _post(c.generate_presigned_post(b, "allowed/x.txt")).status_code == 204
    r = _post(c.generate_presigned_post(b, "elsewhere/x.txt"))
    assert r.status_code == 403 and _code(r) == "AccessDenied" and "s3:PutObject" in r.text
    # IAM judges the key the object gets: ${filename} is the uploaded file's name
    assert _post(c.generate_presigned_post(b, "allowed/${filename}")).status_code == 204
    r = _post(c.generate_presigned_post(b, "${filename}"))
    assert r.status_code == 403 and f"arn:aws:s3:::{b}/f.txt" in r.text
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"])
    assert "elsewhere/x.txt" not in keys and "f.txt" not in keys


def test_get_session_token_gives_the_user_a_session_of_its_own(local_cloud):  # noqa: F811
    iam = client(local_cloud, "iam")
    user = f"sess-user-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                "Resource": "*"}]}))
    ak = iam.create_access_key(UserName=user)["AccessKey"]
    sts = client(local_cloud, "sts", ak["AccessKeyId"], ak["SecretAccessKey"])
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["AccessKeyId"] != "AKIAIOSFODNN7EXAMPLE"
    assert 800 < (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 900
    key = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    client(local_cloud, "s3", *key).list_buckets()                    # the user's policy
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "iam", *key).list_roles()                 # not in it
    assert exc.value.response["Error"]["Code"] == "AccessDenied" and user in \
        exc.value.response["Error"]["Message"]
    who = client(local_cloud, "sts", *key).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::123456789012:user/{user}"
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "sts", *key).get_session_token()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "s3", key[0], key[1], "not-the-token").list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidToken"
    with pytest.raises(ClientError) as exc:  # moto's one documentation key is no one's
        client(local_cloud, "s3", "AKIAIOSFODNN7EXAMPLE",
               "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY").list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    op = client(local_cloud, "sts").get_session_token()["Credentials"]  # the operator's: root's
    assert (op["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() <= 3600
    client(local_cloud, "iam", op["AccessKeyId"], op["SecretAccessKey"],
           op["SessionToken"]).list_roles()


def test_an_expired_get_session_token_session_is_refused(local_cloud):  # noqa: F811
    creds = client(local_cloud, "sts").get_session_token(DurationSeconds=900)["Credentials"]
    secret, token, _, ident = local_cloud.auth.session_tokens.keys[creds["AccessKeyId"]]
    local_cloud.auth.session_tokens.keys[creds["AccessKeyId"]] = (
        secret, token, datetime.datetime(2000, 1, 1), ident)
    with pytest.raises(ClientError) as exc:
        client(local_cloud, "s3", creds["AccessKeyId"], creds["SecretAccessKey"],
               creds["SessionToken"]).list_buckets()
    assert exc.value.response["Error"]["Code"] == "ExpiredToken"
