"""Requests checked as AWS checks them, before moto sees them.

`install(cloud)` adds one WSGI middleware (outside the IAM check: AWS refuses a malformed
request before it authorizes it, and the IAM engine never parses a poisoned document). For a
signed request it finds the service (the SigV4 scope) and the operation (botocore's model:
method + request URI for REST protocols, `Action` / `X-Amz-Target` otherwise), then:

- the model's constraints (`model`): required members, `min`/`max`, `pattern`, `enum`, for
  the services in `MODEL_CHECKED`, refused with the service's validation code;
- the rules the models lack (`rules`, with the AWS documentation of each): S3 bucket names,
  key lengths, digests, integer arguments, conditional writes, XML bodies (parsed with
  defusedxml: no DTDs, no entities), bucket policies; IAM policy documents; Lambda payloads.

Downstream, an operation moto does not implement (`NotImplementedError`) answers 501
`NotImplemented` naming it. A body that cannot be read (a malformed chunked body) is 400.
"""
from __future__ import annotations

import io
import json
import logging
import time
import uuid
from typing import Any, Callable

from . import model as model_checks
from . import rules
from .rules import Refusal

log = logging.getLogger("localcloud")

# Services whose models' constraints are enforced, and the code each answers with
# (https://docs.aws.amazon.com/<service>/latest/APIReference/CommonErrors.html).
MODEL_CHECKED = {
    "lambda": "ValidationException",
    "iam": "ValidationError",
    "sts": "ValidationError",
    "ssm": "ValidationException",
    "logs": "InvalidParameterException",
    "events": "ValidationException",
}
# JSON that does not parse, per service (Lambda: InvalidRequestContentException).
_BAD_JSON = {"lambda": ("InvalidRequestContentException",
                        "Could not parse request body into json: {}")}

ENABLED = True  # the bench measures the request path with this off and on


def _rid() -> str:
    return str(uuid.uuid4())


def _xml_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


_STATUS_TEXT = {400: "Bad Request", 413: "Request Entity Too Large", 501: "Not Implemented",
                411: "Length Required"}


def error_response(service: str, protocol: str, refusal: Refusal) -> tuple[str, list, bytes]:
    """(status line, headers, body) of `refusal` in the service's own error shape."""
    status = f"{refusal.status} {_STATUS_TEXT.get(refusal.status, 'Error')}"
    rid = _rid()
    if protocol == "rest-xml":  # S3
        extra = "".join(f"<{k}>{_xml_escape(str(v))}</{k}>" for k, v in refusal.extra.items())
        rid16 = uuid.uuid4().hex[:16].upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
                f"<Message>{_xml_escape(refusal.message)}</Message>{extra}"
                f"<RequestId>{rid16}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
        return status, [("Content-Type", "application/xml"), ("x-amz-request-id", rid16)], body
    if protocol in ("query", "ec2"):
        if protocol == "ec2":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                    f"<Code>{refusal.code}</Code><Message>{_xml_escape(refusal.message)}</Message>"
                    f"</Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        else:
            body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error>'
                    f"<Type>Sender</Type><Code>{refusal.code}</Code>"
                    f"<Message>{_xml_escape(refusal.message)}</Message></Error>"
                    f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    if protocol == "rest-json":
        doc = ({"Type": "User", "message": refusal.message} if service == "lambda"
               else {"message": refusal.message})
        return status, [("Content-Type", "application/json"),
                        ("x-amzn-ErrorType", refusal.code), ("x-amzn-RequestId", rid)], \
            json.dumps(doc).encode()
    doc = {"__type": refusal.code, "message": refusal.message}
    return status, [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", rid)], json.dumps(doc).encode()


class BodyUnreadable(Exception):
    """The request body could not be read (a malformed chunked encoding)."""


def read_body(environ: dict) -> bytes:
    """The whole body, put back as a BytesIO for whoever reads it next."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):
        try:
            body = stream.read()
        except (OSError, ValueError) as exc:
            raise BodyUnreadable(str(exc)) from exc
    else:
        length = environ.get("CONTENT_LENGTH") or ""
        body = stream.read(int(length)) if length.isdigit() and int(length) > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("wsgi.input_terminated", None)
    return body


def _s3_rules(call: Any, environ: dict, body: bytes, op_model: Any) -> Refusal | None:
    op = call.operation
    params = call.params
    query = call.query
    bucket = params.get("Bucket")
    if op == "CreateBucket" and bucket is not None:
        refusal = rules.bucket_name(bucket)
        if refusal:
            return refusal
    key = params.get("Key")
    if key is not None and op in ("PutObject", "CopyObject", "CreateMultipartUpload"):
        from urllib.parse import unquote
        refusal = rules.key_length(unquote(key))
        if refusal:
            return refusal
    refusal = rules.int_arguments(query)
    if refusal:
        return refusal
    if op == "CopyObject":
        source = environ.get("HTTP_X_AMZ_COPY_SOURCE", "")
        from urllib.parse import unquote
        src = unquote(source.split("?", 1)[0]).lstrip("/")
        if "/" not in src or src.startswith("/") or not src.split("/", 1)[1]:
            return Refusal("InvalidArgument", "Invalid copy source object key",
                           extra={"ArgumentName": "x-amz-copy-source",
                                  "ArgumentValue": source})
    if op in ("PutObject", "CopyObject", "CompleteMultipartUpload"):
        refusal = rules.conditional_write(environ.get("HTTP_IF_NONE_MATCH"),
                                          environ.get("HTTP_IF_MATCH"))
        if refusal:
            return refusal
    encoding = environ.get("HTTP_CONTENT_ENCODING", "")
    chunked_sig = "aws-chunked" in encoding
    sha = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if sha is not None and not chunked_sig:
        refusal = rules.content_sha256(sha, body)
        if refusal:
            return refusal
    md5 = environ.get("HTTP_CONTENT_MD5")
    if md5 is not None and not chunked_sig and not (sha or "").startswith("STREAMING-"):
        refusal = rules.content_md5(md5, body)
        if refusal:
            return refusal
    if op == "PutBucketPolicy":
        return rules.bucket_policy(body, bucket or "")
    shape = op_model.input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if payload and shape.members[payload].type_name == "structure":
        pshape = shape.members[payload]
        root_name = pshape.serialization.get("name", payload)
        required = payload in shape.required_members
        return rules.xml_payload(body, pshape, root_name, required)
    return None


def _iam_rules(call: Any) -> Refusal | None:
    member = rules.IAM_DOCUMENTS.get(call.operation or "")
    if member:
        doc = call.params.get(member)
        if isinstance(doc, str):
            return rules.iam_policy_document(doc)
    return None


def check(environ: dict, body: bytes, cred: tuple) -> tuple[str, str, Refusal] | None:
    """(service, protocol, refusal) if the request is refused, else None."""
    from localcloud.iam.requests import parse, service_model

    call = parse(environ, body, cred)
    service = call.service
    if service is None:
        return None
    smodel = service_model(service)
    protocol = smodel.protocol
    if call.operation is None:
        return None
    if call.operation not in smodel.operation_names:
        # https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html (InvalidAction)
        # and the JSON protocol's UnknownOperationException
        if protocol in ("query", "ec2"):
            return service, protocol, Refusal(
                "InvalidAction", f"The action {call.operation} is not valid for this web service.")
        if protocol == "json":
            return service, protocol, Refusal("UnknownOperationException", "")
        return None
    op_model = smodel.operation_model(call.operation)
    if protocol in ("json", "rest-json") and body and service in MODEL_CHECKED and not (
            service == "lambda" and call.operation == "Invoke"):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            code, msg = _BAD_JSON.get(service, ("SerializationException", "{}"))
            return service, protocol, Refusal(code, msg.format(exc) if "{}" in msg else
                                              "Malformed request body")
        if not isinstance(doc, dict):
            code = _BAD_JSON.get(service, ("SerializationException",))[0]
            return service, protocol, Refusal(code, "Start of list found where not expected")
    if service == "lambda" and call.operation == "Invoke":
        refusal = rules.invoke_payload(len(body), environ.get("HTTP_X_AMZ_INVOCATION_TYPE"))
        if refusal:
            return service, protocol, refusal
    if service == "s3":
        refusal = _s3_rules(call, environ, body, op_model)
        return (service, protocol, refusal) if refusal else None
    code = MODEL_CHECKED.get(service)
    if code is not None:
        checker = model_checks.checker(service, op_model, protocol in ("query", "ec2"))
        params = call.params
        if protocol in ("query", "ec2"):
            params = {k: v for k, v in params.items() if k not in ("Action", "Version")}
        errors = checker.errors(params)
        if errors:
            return service, protocol, Refusal(code, model_checks.message(errors))
    if service == "iam":
        refusal = _iam_rules(call)
        if refusal:
            return service, protocol, refusal
    return None


def _not_implemented(service: str, protocol: str, operation: str) -> tuple:
    return error_response(service, protocol, Refusal(
        "NotImplemented", f"The {operation} operation is not implemented by the local cloud",
        status=501))


def middleware_factory(app: Callable, cloud: Any) -> Callable:
    from localcloud.iam.requests import credential_of, service_model

    def send(start_response: Callable, status: str, headers: list, body: bytes) -> list[bytes]:
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def middleware(environ: dict, start_response: Callable) -> Any:
        if not ENABLED:
            return app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/_localcloud/", "/moto-api")):
            return app(environ, start_response)
        cred = credential_of(environ)
        if cred is None:
            return app(environ, start_response)
        try:
            body = read_body(environ)
        except BodyUnreadable as exc:
            smodel = service_model(cred[2])
            protocol = smodel.protocol if smodel is not None else "json"
            return send(start_response, *error_response(cred[2], protocol, Refusal(
                "IncompleteBody" if protocol == "rest-xml" else "SerializationException",
                f"The request body could not be read: {exc}")))
        found = check(environ, body, cred)
        if found is not None:
            service, protocol, refusal = found
            log.info("refused %s %s: %s %s", environ.get("REQUEST_METHOD"), path,
                     refusal.code, refusal.message[:200])
            return send(start_response, *error_response(service, protocol, refusal))
        try:
            return app(environ, start_response)
        except NotImplementedError as exc:
            smodel = service_model(cred[2])
            protocol = smodel.protocol if smodel is not None else "json"
            operation = (environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
                         or str(exc) or path)
            log.warning("not implemented: %s %s (%s)", environ.get("REQUEST_METHOD"), path, exc)
            return send(start_response, *_not_implemented(cred[2], protocol, operation))

    return middleware


def install(cloud: Any) -> None:
    cloud.add_middleware(middleware_factory)


def timed_check(environ: dict, body: bytes, cred: tuple) -> float:
    """Seconds one check takes (the bench's side-by-side row)."""
    t0 = time.perf_counter()
    check(environ, body, cred)
    return time.perf_counter() - t0
