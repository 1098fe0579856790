"""From a raw request to what IAM decides on: the service, the operation and its parameters.

The operation comes from botocore's service models (the same API definitions the SDK sends
with): `X-Amz-Target` for JSON services, `Action=` for query services (EC2, IAM, STS), and the
HTTP method + request URI templates for REST services (S3, Lambda, API Gateway). Parameters
are the body's (JSON or form) plus the URI's and query string's named members.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

_SIGNING_TO_SERVICE = {"monitoring": "cloudwatch", "email": "ses"}
_CRED = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_CRED = re.compile(r"^([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request$")
_INDEXED = re.compile(r"^(.*?)(?:\.member)?\.\d+$")


@dataclass
class Call:
    access_key: str
    region: str
    signing_name: str
    service: str | None = None       # botocore service name
    operation: str | None = None     # botocore operation name (e.g. ListObjectsV2)
    params: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    body: bytes = b""


def credential_of(environ: dict) -> tuple[str, str, str] | None:
    """(access key, region, signing name) of a signed request (SigV4 header or presigned, or
    S3's v2 presigned URL)."""
    m = _CRED.search(environ.get("HTTP_AUTHORIZATION", ""))
    if m:
        return m.group(1), m.group(2), m.group(3)
    qs = environ.get("QUERY_STRING", "")
    if "AWSAccessKeyId=" in qs:  # S3's signature version 2 presigned URL
        for k, v in parse_qsl(qs):
            if k == "AWSAccessKeyId":
                return v, "us-east-1", "s3"
    if "X-Amz-Credential" in qs:
        for k, v in parse_qsl(qs):
            if k == "X-Amz-Credential":
                m = _QUERY_CRED.match(v)
                if m:
                    return m.group(1), m.group(2), m.group(3)
    return environ.get("localcloud.post_credential")  # a POST Object's policy signer (auth.py)


_MODELS: dict[str, Any] = {}
_ROUTES: dict[str, list] = {}
_MODELS_LOCK = threading.Lock()


def service_model(name: str) -> Any | None:
    if name in _MODELS:
        return _MODELS[name]
    with _MODELS_LOCK:
        if name not in _MODELS:
            import botocore.session
            from botocore.exceptions import UnknownServiceError

            try:
                _MODELS[name] = botocore.session.get_session().get_service_model(name)
            except UnknownServiceError:
                _MODELS[name] = None
    return _MODELS[name]


def _rest_routes(model: Any, method: str) -> list:
    """The routes of one HTTP method: [(method, path regex, (required query keys, the
    query keys with a fixed value as ((key, value), ...)), operation, specificity, required
    header environ names)], most specific first."""
    by_method = _ROUTES.get(model.service_name)
    if by_method is None:
        by_method = _ROUTES[model.service_name] = _routes_by_method(model)
    return by_method.get(method, ())


def _routes_by_method(model: Any) -> dict[str, list]:
    routes = []
    for op_name in model.operation_names:
        http = model.operation_model(op_name).http
        uri = http.get("requestUri", "/")
        path, _, query = uri.partition("?")
        regex = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{"):
                name = part[1:-1]
                if name.endswith("+"):
                    regex += f"(?P<{name[:-1]}>.+)"
                else:
                    regex += f"(?P<{name}>[^/]+)"
            else:
                regex += re.escape(part)
                literal += len(part)
        if regex.endswith("/") and len(regex) > 1:
            regex = regex[:-1]
        regex += "/?"
        qkeys: dict = {}
        for item in filter(None, query.split("&")):
            k, eq, v = item.partition("=")
            qkeys[k] = v if eq else None
        shape = model.operation_model(op_name).input_shape
        headers = []
        if shape is not None:  # required query and header members (uploadId, x-amz-copy-source)
            for name in shape.required_members:
                ser = shape.members[name].serialization
                if ser.get("location") == "querystring":
                    qkeys.setdefault(ser.get("name", name), None)
                elif ser.get("location") == "header":
                    headers.append("HTTP_" + ser.get("name", name).upper().replace("-", "_"))
        routes.append((http.get("method", "GET"), re.compile(regex + r"\Z"), qkeys, op_name,
                       (len(qkeys) + len(headers), literal), tuple(headers)))
    routes.sort(key=lambda r: r[4], reverse=True)
    by_method: dict[str, list] = {}
    for method, regex, qkeys, op_name, specificity, headers in routes:
        # the query keys as a set (one subset test per route) and the keys with a fixed value
        valued = tuple((k, v) for k, v in qkeys.items() if v is not None)
        by_method.setdefault(method, []).append(
            (method, regex, (frozenset(qkeys), valued), op_name, specificity, headers))
    return by_method


_LOCATED: dict[tuple[str, str], tuple] = {}


def _located_members(model: Any, op_name: str) -> tuple:
    """The operation's input members carried in the query string or a header:
    ((member, "querystring", query key) | (member, "header", environ key), ...)."""
    key = (model.service_name, op_name)
    got = _LOCATED.get(key)
    if got is None:
        shape = model.operation_model(op_name).input_shape
        out = []
        for name, member in (shape.members.items() if shape is not None else ()):
            loc, loc_name = member.serialization.get("location"), member.serialization.get("name")
            if loc == "querystring":
                out.append((name, loc, loc_name))
            elif loc == "header" and loc_name:
                out.append((name, loc, "HTTP_" + loc_name.upper().replace("-", "_")))
        got = _LOCATED[key] = tuple(out)
    return got


def _flatten_form(pairs: list[tuple[str, str]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        m = _INDEXED.match(k)
        if m:
            out.setdefault(m.group(1), [])
            if isinstance(out[m.group(1)], list):
                out[m.group(1)].append(v)
        else:
            out[k] = v
    return out


def _s3_bucket_from_host(host: str) -> str | None:
    """Virtual-hosted style: `bucket.s3.<...>` or `bucket.localhost[:port]`."""
    name = host.split(":", 1)[0]
    if re.fullmatch(r"[\d.]+", name) or name in ("localhost",) or "." not in name:
        return None
    first, rest = name.split(".", 1)
    if rest.startswith("s3.") or rest.startswith("s3-") or rest == "localhost" or \
            rest.startswith("s3.localhost") or rest.startswith("localhost"):
        if first in ("s3",):
            return None
        return first
    return None


def parse(environ: dict, body: bytes, cred: tuple[str, str, str]) -> Call:
    access_key, region, signing = cred
    call = Call(access_key=access_key, region=region, signing_name=signing, body=body)
    call.query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    service = _SIGNING_TO_SERVICE.get(signing, signing)
    model = service_model(service)
    if model is None:
        return call
    call.service = service
    protocol = model.protocol
    if protocol == "json":
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        call.operation = target.rsplit(".", 1)[-1] if target else None
        try:
            doc = json.loads(body) if body else {}
            call.params = doc if isinstance(doc, dict) else {}
        except ValueError:
            call.params = {}
        return call
    if protocol in ("query", "ec2"):
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        ctype = environ.get("CONTENT_TYPE", "")
        if body and "json" not in ctype:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        call.params = _flatten_form(pairs)
        call.operation = call.params.get("Action")
        return call
    # REST: match the method and path against the operations' request URIs.
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/") or "/"
    if service == "s3":
        bucket = _s3_bucket_from_host(environ.get("HTTP_HOST", ""))
        if bucket:
            path = "/" + bucket + (path if path != "/" else "")
    post_key = environ.get("localcloud.post_key")
    if service == "s3" and method == "POST" and post_key is not None and \
            path.strip("/") and "/" not in path.strip("/") and not call.query:
        # POST Object (a browser form upload): a PutObject of the form's key
        call.operation = "PutObject"
        call.params = {"Bucket": path.strip("/"), "Key": post_key}
        return call
    query = call.query
    present = query.keys()
    for _, regex, (need_keys, valued), op_name, _, need_headers in _rest_routes(model, method):
        if not need_keys <= present or (valued and any(query[k] != v for k, v in valued)):
            continue
        if need_headers and any(h not in environ for h in need_headers):
            continue
        m = regex.match(path)
        if m is None:
            continue
        call.operation = op_name
        call.params = {k: unquote(v) if service != "s3" else v for k, v in m.groupdict().items()}
        break
    if call.operation is None:
        return call
    for name, loc, where in _located_members(model, call.operation):
        v = (call.query if loc == "querystring" else environ).get(where)
        if v is not None:
            call.params.setdefault(name, v)
    if protocol == "rest-json" and body:
        try:
            doc = json.loads(body)
            if isinstance(doc, dict):
                for k, v in doc.items():
                    call.params.setdefault(k, v)
        except ValueError:
            pass
    return call
