"""What the local cloud's fast paths must keep exactly as before: HTTP/1.1 keep-alive on the
server, Lambda Invoke served without moto's dispatch (same answers as moto's route), Lambda
logs shipped off the invoke path (still visible at once to a CloudWatch Logs reader),
layers extracted when published into a content-addressed cache, a private /tmp per
execution environment; plus guards naming each moto/werkzeug internal the fast paths use."""
import base64
import http.client
import json
import os
from pathlib import Path
import socket
import time
import uuid

import boto3
import pytest

from localcloud.awslambda import invoke_api as lambda_runtime
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.core.operator import for_port
from localcloud.testing import lambda_role, signed_headers, zip_bytes
from localcloud.core.guard import CONTROL_HEADER

CONTROL = {CONTROL_HEADER: "1"}

pytestmark = pytest.mark.integration

REGION = "us-east-1"
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host, Signature=0")
ECHO = ("import os, tempfile, time, uuid\n"
        "ENV = uuid.uuid4().hex\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('asked to fail')\n"
        "    print('echo', event)\n"
        "    time.sleep(event.get('sleep', 0))\n"
        "    open(os.path.join(tempfile.gettempdir(), ENV), 'w').close()\n"
        "    return {'event': event, 'tmp': tempfile.gettempdir(), 'env': ENV,\n"
        "            'tmp_files': sorted(os.listdir(tempfile.gettempdir()))}\n")


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {name: boto3.client(name, **kw) for name in ("lambda", "iam", "logs")}


@pytest.fixture(scope="module")
def echo(aws):
    name = f"echo-{uuid.uuid4().hex[:8]}"
    aws["lambda"].create_function(FunctionName=name, Runtime="python3.11",
                                  Role=lambda_role(aws["iam"]), Handler="handler.handler",
                                  Code={"ZipFile": zip_bytes({"handler.py": ECHO})}, Timeout=5)
    return name


def _control(conn):
    """A signed health request's headers (control paths answer only the operator's key)."""
    key = for_port(conn.port)
    return signed_headers(key.access_key_id, key.secret_access_key, "GET",
                          f"http://{conn.host}:{conn.port}/_localcloud/health", b"", CONTROL,
                          service="localcloud")


def _post(conn, path, body=b"{}", **headers):
    """POST signed with the cloud's operator key (the cloud verifies signatures)."""
    key = for_port(conn.port)
    headers = signed_headers(key.access_key_id, key.secret_access_key, "POST",
                             f"http://{conn.host}:{conn.port}{path}", body,
                             {k.replace("_", "-"): v for k, v in headers.items()})
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp, resp.read()


# ---- keep-alive ---------------------------------------------------------------------------
def test_connections_are_kept_alive_and_close_is_honoured(local_cloud, echo):  # noqa: F811
    conn = http.client.HTTPConnection("127.0.0.1", local_cloud.port, timeout=10)
    path = f"/2015-03-31/functions/{echo}/invocations"
    resp, _ = _post(conn, path)
    sock = conn.sock
    assert resp.status == 200 and resp.getheader("Connection") is None
    for _ in range(3):  # moto's own routes and ours, on one connection
        resp, _ = _post(conn, path)
        conn.request("GET", "/_localcloud/health", headers=_control(conn))
        health = conn.getresponse()
        assert json.loads(health.read())["localcloud"] is True
    assert conn.sock is sock, "the server closed a keep-alive connection"
    resp, _ = _post(conn, path, **{"Connection": "close"})
    assert resp.status == 200 and resp.getheader("Connection") == "close"
    conn.close()


def test_an_unread_body_is_drained_before_the_next_request(local_cloud):  # noqa: F811
    # An unsigned control request is refused without reading its body: the next request
    # must still parse.
    conn = http.client.HTTPConnection("127.0.0.1", local_cloud.port, timeout=10)
    conn.request("GET", "/_localcloud/health", body=b"x" * 200_000,
                 headers={"Content-Type": "application/octet-stream", **CONTROL})
    assert conn.getresponse().read()
    sock = conn.sock
    conn.request("GET", "/_localcloud/health", headers=_control(conn))
    assert json.loads(conn.getresponse().read())["localcloud"] is True
    assert conn.sock is sock
    conn.close()


def test_http_1_0_client_gets_connection_close(local_cloud):  # noqa: F811
    with socket.create_connection(("127.0.0.1", local_cloud.port), timeout=10) as s:
        key = for_port(local_cloud.port)
        headers = signed_headers(key.access_key_id, key.secret_access_key, "GET",
                                 "http://127.0.0.1/_localcloud/health", b"",
                                 {"Host": "127.0.0.1", **CONTROL}, service="localcloud")
        s.sendall(b"GET /_localcloud/health HTTP/1.0\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()).encode() + b"\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert json.loads(body)["localcloud"] is True


# ---- Invoke without moto's dispatch: the same answers -------------------------------------
def test_fast_invoke_answers_as_moto_route_did(aws, echo):
    resp = aws["lambda"].invoke(FunctionName=echo, Payload=b'{"a": 1}', LogType="Tail")
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert resp["ExecutedVersion"] == "$LATEST"
    assert json.loads(resp["Payload"].read())["event"] == {"a": 1}
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert "START RequestId:" in tail and "echo {'a': 1}" in tail and "REPORT RequestId:" in tail

    resp = aws["lambda"].invoke(FunctionName=echo, Payload=b'{"fail": true}')
    assert resp["FunctionError"] == "Unhandled" and "LogResult" not in resp
    assert json.loads(resp["Payload"].read())["errorMessage"] == "asked to fail"

    resp = aws["lambda"].invoke(FunctionName=echo, Payload=b"{}", InvocationType="Event")
    assert resp["StatusCode"] == 202 and resp["Payload"].read() == b""
    resp = aws["lambda"].invoke(FunctionName=echo, Payload=b"{}", InvocationType="DryRun")
    assert resp["StatusCode"] == 204


def test_invoke_cases_the_fast_path_leaves_to_moto(aws, echo):
    with pytest.raises(aws["lambda"].exceptions.ResourceNotFoundException):
        aws["lambda"].invoke(FunctionName=f"missing-{uuid.uuid4().hex[:6]}", Payload=b"{}")
    arn = aws["lambda"].get_function(FunctionName=echo)["Configuration"]["FunctionArn"]
    resp = aws["lambda"].invoke(FunctionName=arn, Payload=b'{"b": 2}')  # an ARN: moto's route
    assert json.loads(resp["Payload"].read())["event"] == {"b": 2}
    resp = aws["lambda"].invoke(FunctionName=echo, Qualifier="$LATEST", Payload=b'{"c": 3}')
    assert json.loads(resp["Payload"].read())["event"] == {"c": 3}


def test_fast_invoke_target_mirrors_moto_region_and_account(monkeypatch):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/f/invocations",
               "HTTP_AUTHORIZATION": AUTH.replace("us-east-1", "eu-west-1"), "HTTP_HOST": "x"}
    assert lambda_runtime._fast_invoke_target(environ) == ("f", "123456789012", "eu-west-1", None)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    assert lambda_runtime._fast_invoke_target(environ)[1] == "111122223333"
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    # a Qualifier is served here (moto reads `qualifier` and would run $LATEST); more is moto's
    assert lambda_runtime._fast_invoke_target(
        {**environ, "QUERY_STRING": "Qualifier=%24LATEST"})[3] == "$LATEST"
    assert lambda_runtime._fast_invoke_target({**environ, "QUERY_STRING": "Qualifier=1&x=2"}) is None
    assert lambda_runtime._fast_invoke_target(
        {**environ, "HTTP_AUTHORIZATION": AUTH.replace("/lambda/", "/s3/")}) is None
    assert lambda_runtime._fast_invoke_target(
        {**environ, "HTTP_X_AMZ_INVOCATION_TYPE": "Bogus"}) is None


# ---- logs off the hot path, still read-your-writes -----------------------------------------
def test_logs_are_visible_to_a_reader_right_after_the_invoke(aws, echo):
    marker = uuid.uuid4().hex
    for _ in range(3):
        aws["lambda"].invoke(FunctionName=echo, Payload=json.dumps({"m": marker}).encode())
        events = aws["logs"].filter_log_events(logGroupName=f"/aws/lambda/{echo}")["events"]
        assert any(marker in e["message"] for e in events)


def test_logs_reach_cloudwatch_on_their_own_within_the_flush_interval(local_cloud, aws, echo):  # noqa: F811
    from moto.logs.models import logs_backends

    marker = uuid.uuid4().hex
    aws["lambda"].invoke(FunctionName=echo, Payload=json.dumps({"m": marker}).encode())
    group = logs_backends["123456789012"][REGION].groups[f"/aws/lambda/{echo}"]

    def seen():
        return any(marker in e.message for s in list(group.streams.values())
                   for e in list(s.events))
    deadline = time.monotonic() + 2
    while not seen() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen()


# ---- per-environment /tmp ------------------------------------------------------------------
def test_each_execution_environment_has_its_own_tmp(aws, echo, local_cloud):  # noqa: F811
    import concurrent.futures as cf
    import tempfile

    def call(sleep):  # overlapping calls (sleep > 0) need environments of their own
        resp = aws["lambda"].invoke(FunctionName=echo, Payload=json.dumps({"sleep": sleep}).encode())
        return json.loads(resp["Payload"].read())

    first = call(0)
    if local_cloud.runtime.isolate:  # the environment's own tmpfs, mounted at /tmp
        assert first["tmp"] == "/tmp"
        # nothing of the host's /tmp, but for the empty directories that lead to what the
        # environment runs from when those live under /tmp (a clone or state dir there)
        tmp = Path(tempfile.gettempdir()).resolve()
        leading = {Path(p).resolve().relative_to(tmp).parts[0]
                   for p in (Path(__file__).resolve().parents[2], local_cloud.state_dir)
                   if p is not None and Path(p).resolve().is_relative_to(tmp)}
        assert not (set(first["tmp_files"]) & set(os.listdir(tmp))) - leading
    else:
        assert first["tmp"] != tempfile.gettempdir()
        assert first["tmp"].startswith(str(local_cloud.state_dir))
    with cf.ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(call, [0.5] * 3))
    # every environment sees the files its own invokes wrote in /tmp, and no other's
    envs = {o["env"] for o in outs + [first]}
    assert len(envs) >= 2
    for o in outs + [first]:
        assert o["env"] in o["tmp_files"]
        assert not (set(o["tmp_files"]) & envs) - {o["env"]}, o


# ---- layers extracted at publish, content-addressed ----------------------------------------
def test_a_published_layer_is_extracted_once_per_content(aws, local_cloud):  # noqa: F811
    runtime = local_cloud.runtime
    content = zip_bytes({"python/mod_" + uuid.uuid4().hex[:6] + ".py": "X = 1\n"})
    a = aws["lambda"].publish_layer_version(LayerName=f"l-{uuid.uuid4().hex[:6]}",
                                            Content={"ZipFile": content})
    b = aws["lambda"].publish_layer_version(LayerName=f"l-{uuid.uuid4().hex[:6]}",
                                            Content={"ZipFile": content})
    assert a["Content"]["CodeSha256"] == b["Content"]["CodeSha256"]
    sha = a["Content"]["CodeSha256"]
    deadline = time.monotonic() + 10
    while not any(e["sha"] == sha for e in runtime.extractions) and time.monotonic() < deadline:
        time.sleep(0.02)
    records = [e for e in runtime.extractions if e["sha"] == sha]
    assert len(records) == 1, records  # two versions, one content: one extraction
    assert (runtime.code_cache / "layers").is_dir()


# ---- guards: the internals the fast paths read ---------------------------------------------
def test_hook_moto_internals_used_by_the_fast_invoke():
    from moto import settings
    from moto.awslambda.models import LambdaBackend
    from moto.core.responses import BaseResponse
    from moto.iam.models import get_account_id_from, mark_account_as_visited
    from moto.moto_api import recorder

    assert BaseResponse.region_regex.search("http://lambda.eu-west-1.amazonaws.com/x")
    assert BaseResponse.region_from_useragent_regex.pattern
    assert BaseResponse.access_key_regex.search(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/lambda/aws4_request")
    assert BaseResponse.default_region == "us-east-1"
    assert isinstance(recorder._user_enabled, bool)
    assert settings.INITIAL_NO_AUTH_ACTION_COUNT is not None
    assert callable(get_account_id_from) and callable(mark_account_as_visited)
    assert callable(LambdaBackend.publish_layer_version)


def test_hook_werkzeug_request_handler_used_by_the_keep_alive_server():
    from werkzeug.serving import DechunkedInput, WSGIRequestHandler

    from localcloud.core.server import QuietRequestHandler

    assert issubclass(QuietRequestHandler, WSGIRequestHandler)
    assert callable(WSGIRequestHandler.make_environ) and callable(DechunkedInput.read)
    assert QuietRequestHandler.protocol_version == "HTTP/1.1"
