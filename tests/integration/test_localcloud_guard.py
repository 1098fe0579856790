"""The local cloud is closed to web pages: forged Host (DNS rebinding), cross-site browser
requests and HTML forms aimed at control paths are refused before moto sees them, and change
nothing; boto3, presigned URLs and plain HTTP clients keep working."""
from __future__ import annotations

import hashlib
import http.client
import json
import urllib.request
import uuid

import boto3
import pytest

from localcloud.core.guard import CONTROL_HEADER, host_allowed, origin_allowed
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import signed_headers

pytestmark = pytest.mark.integration


def _s3(cloud):
    key = cloud._operator_key
    return boto3.client("s3", endpoint_url=cloud.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=key.access_key_id,
                        aws_secret_access_key=key.secret_access_key, aws_session_token=None)


def _raw(cloud, method, path, body=b"", headers=None, sign=None):
    """One request as sent; `sign` ("s3" or "localcloud"): signed with the operator key over
    the headers given (Host included), as a client on that host would sign it."""
    headers = dict(headers or {})
    if sign:
        key = cloud._operator_key
        host = headers.get("Host", f"127.0.0.1:{cloud.port}")
        extra = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()} if sign == "s3" else {}
        headers = signed_headers(key.access_key_id, key.secret_access_key, method,
                                 f"http://{host}{path}", body, {**headers, **extra}, service=sign)
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.getheader("Content-Type"), data


@pytest.fixture
def bucket(local_cloud):  # noqa: F811
    name = f"guard-{uuid.uuid4().hex[:10]}"
    _s3(local_cloud).create_bucket(Bucket=name)
    return name


def _multipart(fields: dict, boundary="----formboundary") -> bytes:
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n')
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="x.csv"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--{boundary}--\r\n')
    return "".join(parts).encode()


def test_forged_host_is_refused_before_moto(local_cloud, bucket):  # noqa: F811
    for host in ("attacker.example", f"attacker.example:{local_cloud.port}",
                 f"127.0.0.1:{local_cloud.port + 1}", "127.0.0.1.nip.io", "localhost.evil.com"):
        status, ctype, body = _raw(local_cloud, "GET", f"/{bucket}", headers={"Host": host})
        assert status == 403, host
        assert ctype == "application/json" and "not served" in json.loads(body)["message"]
    for host in (f"127.0.0.1:{local_cloud.port}", f"localhost:{local_cloud.port}", "localhost",
                 f"[::1]:{local_cloud.port}", "127.0.0.1"):
        status, _, _ = _raw(local_cloud, "GET", f"/{bucket}", headers={"Host": host}, sign="s3")
        assert status == 200, host


def test_cross_site_form_post_to_a_bucket_is_refused_and_stores_nothing(local_cloud, bucket):  # noqa: F811
    body = _multipart({"key": "data/x.csv"})
    for extra in ({"Origin": "http://attacker.example"},
                  {"Origin": "null"},
                  {"Sec-Fetch-Site": "cross-site"},
                  {"Origin": "http://localhost:8888", "Sec-Fetch-Site": "same-site"}):
        status, ctype, data = _raw(local_cloud, "POST", f"/{bucket}", body=body, headers={
            "Host": f"127.0.0.1:{local_cloud.port}",
            "Content-Type": "multipart/form-data; boundary=----formboundary", **extra})
        assert status == 403, extra
        assert ctype == "application/json" and "cross-site" in json.loads(data)["message"]
    assert _s3(local_cloud).list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    # The same form from the cloud's own origin passes the guard; without a signed policy
    # (S3 POST Object's authentication) it is refused as AWS refuses it.
    status, ctype, data = _raw(local_cloud, "POST", f"/{bucket}", body=body, headers={
        "Host": f"127.0.0.1:{local_cloud.port}", "Origin": f"http://127.0.0.1:{local_cloud.port}",
        "Content-Type": "multipart/form-data; boundary=----formboundary"})
    assert status == 403 and b"<Code>AccessDenied</Code>" in data
    assert _s3(local_cloud).list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_cross_site_or_simple_posts_to_control_paths_change_nothing(local_cloud, bucket):  # noqa: F811
    host = {"Host": f"127.0.0.1:{local_cloud.port}"}
    for path in ("/_localcloud/reset", "/moto-api/reset", "/_localcloud/shutdown"):
        # a cross-site text/plain form
        status, _, _ = _raw(local_cloud, "POST", path, body=b"x=1", headers={
            **host, "Content-Type": "text/plain", "Origin": "http://attacker.example"})
        assert status == 403
        # a simple request without any browser header: still not a control request
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            status, _, data = _raw(local_cloud, "POST", path, body=b"x=1",
                                   headers={**host, "Content-Type": ctype})
            assert status == 403 and CONTROL_HEADER in json.loads(data)["message"]
    assert bucket in [b["Name"] for b in _s3(local_cloud).list_buckets()["Buckets"]]
    assert local_cloud.running
    # health with the header and the operator's signature (what the CLI sends) answers
    status, _, data = _raw(local_cloud, "GET", "/_localcloud/health",
                           headers={**host, CONTROL_HEADER: "1"}, sign="localcloud")
    assert status == 200 and json.loads(data)["localcloud"] is True
    status, _, data = _raw(local_cloud, "GET", "/_localcloud/health",
                           headers={**host, CONTROL_HEADER: "1"})
    assert status == 403  # the header alone no longer proves the operator


def test_sdk_presigned_urls_and_plain_clients_keep_working(local_cloud, bucket):  # noqa: F811
    s3 = _s3(local_cloud)
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k.txt"})
    with urllib.request.urlopen(url, timeout=10) as resp:  # curl-like
        assert resp.read() == b"hello"
    # a browser opening the presigned URL in its address bar: Sec-Fetch-Site none
    req = urllib.request.Request(url, headers={"Sec-Fetch-Site": "none"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.read() == b"hello"
    # the content type is part of what was signed (as on AWS)
    put = s3.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": "p.txt", "ContentType": "application/octet-stream"})
    req = urllib.request.Request(put, data=b"up", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    assert s3.get_object(Bucket=bucket, Key="p.txt")["Body"].read() == b"up"


def test_host_and_origin_rules():
    assert host_allowed("127.0.0.1:4603", 4603) and host_allowed("LOCALHOST", 4603)
    assert host_allowed("[::1]:4603", 4603) and host_allowed("mybucket.localhost:4603", 4603)
    assert not host_allowed("127.0.0.1:4604", 4603)
    assert not host_allowed("", 4603) and not host_allowed("[::1]x", 4603)
    assert not host_allowed("evil.com:4603", 4603)
    assert not host_allowed("127.0.0.2:4603", 4603)
    assert origin_allowed("http://127.0.0.1:4603", 4603)
    assert not origin_allowed("http://127.0.0.1", 4603)
    assert not origin_allowed("https://127.0.0.1:4603", 4603)
    assert not origin_allowed("http://evil.localhost:4603", 4603)
    assert not origin_allowed("null", 4603)
