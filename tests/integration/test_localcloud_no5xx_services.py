"""No 5xx for anything a client can send, on every service the cloud serves: a seeded fuzz
over S3, Lambda, IAM, STS, EC2, SSM, API Gateway's control plane, Logs, Events and SQS.

Requests are generated from botocore's own models (every operation of each service, its
members filled with hostile values: empty, huge, wrong types, unicode, deep nesting) and sent
raw, signed with the operator's key, together with malformed bodies (garbage bytes, JSON to
XML APIs, XML entity attacks: billion laughs, XXE), broken headers and garbage chunked
bodies. Every answer must be below 500, or 501 `NotImplemented` naming an operation the
cloud does not implement; the server stays healthy throughout."""
from __future__ import annotations

import base64
import json
import os
import random
import socket

import botocore.session
import pytest

from localcloud.core import health
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

# a longer or different run: LOCALCLOUD_FUZZ_SEED=... LOCALCLOUD_FUZZ_N=2000 pytest this file
SEED = int(os.environ.get("LOCALCLOUD_FUZZ_SEED", "20261206"))
N_PER_SERVICE = int(os.environ.get("LOCALCLOUD_FUZZ_N", "250"))
SERVICES = ["s3", "lambda", "iam", "sts", "ec2", "ssm", "apigateway", "logs", "events", "sqs"]
AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
TARGET_PREFIX = {"ssm": "AmazonSSM", "logs": "Logs_20140328", "events": "AWSEvents",
                 "sqs": "AmazonSQS"}

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><{root}>&lol9;</{root}>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       b"<{root}><Bucket>&xxe;</Bucket></{root}>")

_STRINGS = ["", "a", "x" * 300, "my-function!", "\u00e9\u20ac\U0001F600", "../../etc/passwd",
            "arn:aws:iam::123456789012:role/nope", "arn:aws:lambda:us-east-1:123456789012:function:nope",
            "nothing-valid-in-here", "%00", "null", "*", " ", "i-0123456789abcdef0", "{not json",
            "[" * 60, "fuzz-bucket", "fuzz-fn", "arn:", "a" * 5000]


def _value(rng: random.Random, shape, depth: int = 0):
    t = shape.type_name
    if rng.random() < 0.08:  # the wrong type altogether
        return rng.choice([None, 1, "s", [], {}, True, -1.5, [[[]]]])
    if t == "string":
        if getattr(shape, "enum", None) and rng.random() < 0.6:
            return rng.choice(shape.enum)
        return rng.choice(_STRINGS)
    if t in ("integer", "long"):
        return rng.choice([0, -1, 1, 2 ** 31, 2 ** 63, 10 ** 30, 7])
    if t in ("float", "double"):
        return rng.choice([0.0, -1e308, 1e308, 0.5])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "timestamp":
        return rng.choice([0, -1, 1e12, "yesterday", "2026-01-01T00:00:00Z"])
    if t == "blob":
        return base64.b64encode(bytes(rng.randrange(256) for _ in range(rng.randrange(20)))).decode()
    if depth > 5:
        return None
    if t == "list":
        return [_value(rng, shape.member, depth + 1) for _ in range(rng.randrange(4))]
    if t == "map":
        return {rng.choice(_STRINGS[:6]) or "k": _value(rng, shape.value, depth + 1)
                for _ in range(rng.randrange(3))}
    if t == "structure":
        out = {}
        for name, sub in shape.members.items():
            if name in shape.required_members or rng.random() < 0.4:
                if rng.random() < 0.1 and name in shape.required_members:
                    continue  # a required member left out
                out[name] = _value(rng, sub, depth + 1)
        return out
    return None


def _flatten(prefix: str, value, out: list) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value, 1):
            _flatten(f"{prefix}.member.{i}", v, out)
    elif value is not None:
        out.append((prefix, str(value)))


def _to_xml(name: str, value) -> str:
    if isinstance(value, dict):
        return f"<{name}>" + "".join(_to_xml(k, v) for k, v in value.items()) + f"</{name}>"
    if isinstance(value, list):
        return f"<{name}>" + "".join(_to_xml("member", v) for v in value) + f"</{name}>"
    return f"<{name}>{'' if value is None else str(value).replace('&', '&amp;').replace('<', '&lt;')}</{name}>"


def _garbage_body(rng: random.Random, root: str = "Root") -> bytes:
    kind = rng.randrange(9)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(300)))
    if kind == 1:
        return BILLION_LAUGHS.replace(b"{root}", root.encode())
    if kind == 2:
        return XXE.replace(b"{root}", root.encode())
    if kind == 3:
        return json.dumps({"Bucket": "x", "Delete": {"Objects": []}}).encode()  # JSON to XML
    if kind == 4:
        return b"[" * 5000 + b"]" * 5000
    if kind == 5:
        return b"<" + root.encode() + b">" + b"<a>" * 2000
    if kind == 6:
        return b'{"a":' * 3000
    if kind == 7:
        return b"Action=ListRoles&Version=2010-05-08&" + b"x=%ff&" * 50
    return b""


_FRAMING = {"content-length", "transfer-encoding", "host", "connection", "expect"}


def _uri(rng: random.Random, template: str, params: dict) -> str:
    path, _, query = template.partition("?")
    out = path
    for name in [p[1:-1] for p in __import__("re").findall(r"\{[^}]+\}", path)]:
        raw = params.pop(name.rstrip("+"), None)
        value = raw if isinstance(raw, str) and raw else rng.choice(
            ["fuzz-bucket", "fuzz-fn", "nope", "a" * 300, "%ff", "..", "%2F"])
        value = "".join(c if 0x21 <= ord(c) < 0x7F and c not in "?#" else "%%%02X" % (ord(c) & 0xFF)
                        for c in value)
        out = out.replace("{" + name + "}", value)
    return out + ("?" + query if query else "")


def _request(rng: random.Random, service: str, model) -> tuple[str, str, dict, bytes]:
    op = model.operation_model(rng.choice(model.operation_names))
    shape = op.input_shape
    params = _value(rng, shape) if shape is not None else {}
    params = params if isinstance(params, dict) else {}
    headers = {"Authorization": AUTH.format(model.signing_name or service),
               "X-Amz-Date": "20260101T000000Z"}
    protocol = model.protocol
    if protocol in ("query", "ec2"):
        pairs: list = [("Action", op.name), ("Version", model.api_version)]
        _flatten("", params, pairs)
        body = "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if rng.random() < 0.15:
            body = _garbage_body(rng)
        return "POST", "/", headers, body
    if protocol == "json":
        prefix = TARGET_PREFIX.get(service, model.metadata.get("targetPrefix"))
        headers["X-Amz-Target"] = f"{model.metadata.get('targetPrefix', prefix)}.{op.name}"
        headers["Content-Type"] = "application/x-amz-json-" + model.metadata.get("jsonVersion", "1.1")
        body = json.dumps(params).encode()
        if rng.random() < 0.2:
            body = _garbage_body(rng)
        return "POST", "/", headers, body
    # REST: fill the URI, headers and query from the members' locations
    http = op.http
    query: list = []
    payload_name = shape.serialization.get("payload") if shape is not None else None
    body_doc: dict = {}
    for name, value in list(params.items()):
        sub = shape.members[name]
        loc = sub.serialization.get("location")
        wire = sub.serialization.get("name", name)
        if loc == "header" and wire.lower() in _FRAMING:
            params.pop(name)
        elif loc == "header" and isinstance(value, (str, int)):
            headers[wire] = "".join(c for c in str(value) if 0x20 <= ord(c) < 0x7F)
            params.pop(name)
        elif loc == "querystring" and value is not None:
            query.append((wire, str(value)))
            params.pop(name)
        elif loc is None and name != payload_name:
            body_doc[sub.serialization.get("name", name)] = value
    path = _uri(rng, http.get("requestUri", "/"), params)
    if query:
        path += ("&" if "?" in path else "?") + "&".join(
            f"{k}={''.join(c if c.isalnum() else '%%%02X' % (ord(c) & 0xFF) for c in v)}" for k, v in query)
    if protocol == "rest-json":
        body = json.dumps(body_doc).encode() if body_doc or http["method"] in ("POST", "PUT", "PATCH") else b""
        headers["Content-Type"] = "application/json"
    else:  # rest-xml (S3)
        body = b""
        if payload_name:
            pshape = shape.members[payload_name]
            value = params.get(payload_name)
            if pshape.type_name == "structure":
                body = _to_xml(pshape.serialization.get("name", payload_name),
                               value if isinstance(value, dict) else {}).encode()
            elif isinstance(value, str):
                body = value.encode()
        root = (shape.members[payload_name].serialization.get("name", payload_name)
                if payload_name else "Root")
        if rng.random() < 0.3:
            body = _garbage_body(rng, root)
        if rng.random() < 0.2:
            headers["Content-MD5"] = rng.choice(["", "garbage", "AAAAAAAAAAAAAAAAAAAAAA=="])
        if rng.random() < 0.2:
            headers["x-amz-content-sha256"] = rng.choice(["", "nothex", "0" * 64, "UNSIGNED-PAYLOAD"])
        if rng.random() < 0.1:
            headers["If-None-Match"] = rng.choice(["", "abc", '"x"', "*"])
        if rng.random() < 0.1:
            headers["x-amz-copy-source"] = rng.choice(["garbage", "/", "%ff%fe", "b/", "/b/k?versionId="])
    if rng.random() < 0.1:
        headers["Content-Type"] = rng.choice(["application/xml", "text/plain", "", "application/json"])
    return http["method"], path, headers, body


def _send(port: int, method: str, path: str, headers: dict, body: bytes,
          chunked_garbage: bool = False) -> tuple[int, bytes]:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for k, v in headers.items():
        lines.append(f"{k}: {v}")
    if chunked_garbage:
        lines.append("Transfer-Encoding: chunked")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + \
            b"zz\r\n" + body[:10] + b"\r\n5\r\nab"
    else:
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(data)
        if chunked_garbage:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    if not out.startswith(b"HTTP/"):
        # a request line without a target ("PUT  HTTP/1.1") reads as HTTP/0.9: the server
        # refuses it (400) in HTTP/0.9's form, a body without a status line
        return 0, out
    status_line = out.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) > 1 else 0, out.partition(b"\r\n\r\n")[2]


@pytest.fixture(scope="module")
def seeded(local_cloud):  # noqa: F811
    """A bucket and a function for the fuzz to aim at by name. The fuzz signs with a made-up
    key, so the cloud takes any key as the operator's while it runs (`--auth any`): its
    requests reach validation and the services, which are what it tests (the signature
    check has tests of its own, tests/integration/test_localcloud_auth.py)."""
    mode = local_cloud.auth.mode
    local_cloud.auth.mode = "any"
    try:
        yield _seed(local_cloud)
    finally:
        local_cloud.auth.mode = mode


def _seed(local_cloud):  # noqa: F811
    import boto3

    from localcloud.testing import lambda_role, zip_bytes
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")
    s3, lam, iam = (boto3.client(n, **kw) for n in ("s3", "lambda", "iam"))
    try:
        s3.create_bucket(Bucket="fuzz-bucket")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    try:
        lam.create_function(FunctionName="fuzz-fn", Runtime="python3.11", Role=lambda_role(iam),
                            Handler="h.handler", Timeout=5,
                            Code={"ZipFile": zip_bytes({"h.py": "def handler(e, c):\n    return 1\n"})})
    except lam.exceptions.ResourceConflictException:
        pass
    return local_cloud


@pytest.mark.parametrize("service", SERVICES)
def test_fuzz_finds_no_5xx(service, seeded):
    model = botocore.session.get_session().get_service_model(service)
    rng = random.Random(f"{SEED}-{service}")
    failures = []
    statuses: dict[int, int] = {}
    for i in range(N_PER_SERVICE):
        method, path, headers, body = _request(rng, service, model)
        if (model.protocol != "json" and "Invoke" in path) or "invocations" in path:
            headers["X-Amz-Invocation-Type"] = rng.choice(["Event", "DryRun", "bogus", ""])
        garbage_chunks = rng.random() < 0.03
        status, data = _send(seeded.port, method, path, headers, body, garbage_chunks)
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 500 and not (status == 501 and (b"is not implemented by the local cloud" in data
                                                     or b"<Code>NotImplemented</Code>" in data)):
            failures.append((i, method, path[:100], headers.get("X-Amz-Target", ""),
                             body[:80], status, data[:200]))
    assert health(seeded.endpoint_url) is not None
    assert not failures, (f"{service}: {len(failures)} 5xx of {N_PER_SERVICE} (seed {SEED}):\n"
                          + "\n".join(map(str, failures[:8])))
    assert sum(n for s, n in statuses.items() if 200 <= s < 300) > 0 or service in ("sts",), statuses
