"""Code `Location`s that can be fetched, as AWS hands them out.

GetFunction answers `Code.Location` and GetLayerVersion `Content.Location` with "a presigned
URL that you can use to download the deployment package. The URL is valid for 10 minutes"
(https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCodeLocation.html,
API_LayerVersionContentOutput.html). moto answers an address on AWS's own S3 (functions) or
`s3://` (layers), neither of which can be fetched. Here the URL points at the cloud itself:

    <endpoint>/_lambda-code/<account>/<region>/function/<name>/<version>?X-Amz-Algorithm=
        AWS4-HMAC-SHA256&X-Amz-Date=<UTC>&X-Amz-Expires=600&X-Amz-Signature=<HMAC>

(`layer/<name>/<version>` for a layer version). The signature is an HMAC of the path and date
with a secret of this cloud process; after 10 minutes, or with any part changed, the URL
answers 403 AccessDenied ("Request has expired" / "... signature ... does not match"), as an
S3 presigned URL does. Hooks: `LambdaFunction.get_code`, `LayerVersion.get_layer_version`.
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs, quote

PREFIX = "/_lambda-code/"
EXPIRES_S = 600
_SECRET = secrets.token_bytes(32)
_DATE = "%Y%m%dT%H%M%SZ"


def _sign(path: str, date: str) -> str:
    return hmac.new(_SECRET, f"{path}\n{date}\n{EXPIRES_S}".encode(), hashlib.sha256).hexdigest()


def presigned(endpoint: str, account: str, region: str, kind: str, name: str,
              version: Any, now: datetime.datetime | None = None) -> str:
    path = PREFIX + "/".join(quote(str(p), safe="") for p in
                             (account, region, kind, name, version))
    date = (now or datetime.datetime.now(datetime.timezone.utc)).strftime(_DATE)
    return (f"{endpoint.rstrip('/')}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}"
            f"&X-Amz-Expires={EXPIRES_S}&X-Amz-Signature={_sign(path, date)}")


def verify(path: str, query: str, now: datetime.datetime | None = None) -> str | None:
    """None when the URL is valid now, else the reason AWS gives for refusing it."""
    q = {k: v[0] for k, v in parse_qs(query).items()}
    date, sig = q.get("X-Amz-Date", ""), q.get("X-Amz-Signature", "")
    if not hmac.compare_digest(_sign(path, date), sig) or q.get("X-Amz-Expires") != str(EXPIRES_S):
        return "The request signature we calculated does not match the signature you provided."
    try:
        signed = datetime.datetime.strptime(date, _DATE).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "The request signature we calculated does not match the signature you provided."
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if (now - signed).total_seconds() > EXPIRES_S:
        return "Request has expired"
    return None


def _code_bytes(account: str, region: str, kind: str, name: str, version: str) -> bytes | None:
    from moto.awslambda.models import lambda_backends

    try:
        backend = lambda_backends[account][region]
        if kind == "function":
            fn = backend.get_function(name, None if version == "$LATEST" else version)
            return fn.code_bytes
        if kind == "layer":
            return backend.get_layer_version(name, version).code_bytes
    except (KeyError, ValueError, LookupError):
        return None
    except Exception as exc:  # noqa: BLE001 - moto's not-found exceptions have no common base
        if type(exc).__name__.endswith(("NotFoundException", "UnknownFunctionException",
                                        "UnknownLayerException")):
            return None
        raise
    return None


def _xml_error(start_response: Callable, status: str, code: str, message: str) -> list[bytes]:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>{uuid.uuid4().hex[:16].upper()}"
            "</RequestId></Error>").encode()
    start_response(status, [("Content-Type", "application/xml"),
                            ("Content-Length", str(len(body)))])
    return [body]


def middleware(app: Callable, _cloud: Any = None) -> Callable:
    def code_download(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _xml_error(start_response, "405 Method Not Allowed", "MethodNotAllowed",
                              "The specified method is not allowed against this resource.")
        parts = path[len(PREFIX):].split("/")  # PATH_INFO is already decoded
        signed = PREFIX + "/".join(quote(p, safe="") for p in parts)
        refused = verify(signed, environ.get("QUERY_STRING", ""))
        if refused is not None:
            return _xml_error(start_response, "403 Forbidden", "AccessDenied", refused)
        data = _code_bytes(*parts) if len(parts) == 5 else None
        if data is None:
            return _xml_error(start_response, "404 Not Found", "NoSuchKey",
                              "The specified key does not exist.")
        start_response("200 OK", [("Content-Type", "application/zip"),
                                  ("Content-Length", str(len(data)))])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [data]

    return code_download


def install(cloud: Any) -> None:
    from moto.awslambda.models import LambdaFunction, LayerVersion

    def get_code(original: Callable) -> Callable:
        def patched(self: Any) -> dict:
            resp = original(self)
            code = resp.get("Code")
            if isinstance(code, dict) and code.get("RepositoryType") == "S3":
                code["Location"] = presigned(cloud.endpoint_url, self.account_id, self.region,
                                             "function", self.function_name, self.version)
            return resp
        return patched

    def get_layer_version(original: Callable) -> Callable:
        def patched(self: Any) -> dict:
            resp = original(self)
            content = resp.get("Content")
            if isinstance(content, dict) and self._layer is not None:
                content["Location"] = presigned(cloud.endpoint_url, self.account_id,
                                                self.region, "layer", self.name, self.version)
            return resp
        return patched

    cloud.hook(LambdaFunction, "get_code", get_code)
    cloud.hook(LayerVersion, "get_layer_version", get_layer_version)
    cloud.add_middleware(middleware)
