"""A client's fault is a JSON 4xx: on the Lambda data plane (`/2015-03-31/functions/...`), the
part of moto's API that function callers (and the fuzz test) reach with arbitrary input, and
for any path moto has no route for.

moto answers some malformed requests there with a 500 (a credential scope naming a region
that does not exist raises KeyError in its backend lookup) or with Flask's HTML 404/405
page (a path or method it has no route for). Here, before moto: an unknown region in the request
is refused as AWS refuses it (403 `InvalidSignatureException`, "Credential should be scoped
to a valid region."); after moto: an HTML error page becomes `{"message": ...}` JSON with the
same status. A JSON or XML error body that moto merely labels text/html passes unchanged.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from ..core.body import read_body, rewrite_response
from ..core.moto_request import account_of, region_of

LAMBDA_PREFIX = "/2015-03-31/functions/"


def _error(doc: dict, error_type: str) -> tuple[list, bytes]:
    body = json.dumps(doc).encode()
    return [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type),
            ("Content-Length", str(len(body)))], body


def _json(start_response: Callable, status: str, doc: dict, error_type: str) -> list[bytes]:
    headers, body = _error(doc, error_type)
    start_response(status, headers)
    return [body]


def region_known(environ: dict) -> bool:
    from moto.awslambda.models import lambda_backends

    try:
        return region_of(environ) in lambda_backends[account_of(environ)]
    except Exception:  # noqa: BLE001 - an unreadable credential is not a known region
        return False


# AWS's pattern for Invoke's FunctionName (name, partial or full ARN, optional qualifier).
_FUNCTION_NAME = re.compile(
    r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$")
_INVOCATIONS = re.compile(r"^/2015-03-31/functions/([^/]*)/invocations/?$")
_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=[^/,\s]+/\d{8}/[^/,\s]+/[^/,\s]+/aws4_request")


def lambda_request_error(environ: dict) -> tuple[str, dict, str] | None:
    """(status, body, error type) when a Lambda data-plane request is malformed, else None."""
    auth = environ.get("HTTP_AUTHORIZATION")
    if auth is None:  # moto would route it by Host to S3
        return ("403 Forbidden", {"message": "Missing Authentication Token"},
                "MissingAuthenticationTokenException")
    if not _SIGV4.match(auth):
        return ("403 Forbidden", {"message": "Authorization header requires 'Credential', "
                                  "'Signature' and 'SignedHeaders' parameters (SigV4)."},
                "IncompleteSignatureException")
    if auth.split(",")[0].split("/")[3] != "lambda":
        return ("403 Forbidden", {"message": "Credential should be scoped to correct service: "
                                  "'lambda'."}, "InvalidSignatureException")
    if not region_known(environ):
        return ("403 Forbidden", {"message": "Credential should be scoped to a valid region."},
                "InvalidSignatureException")
    m = _INVOCATIONS.match(environ.get("PATH_INFO", ""))
    if m is None:
        return None
    if environ.get("REQUEST_METHOD") != "POST":
        return ("404 Not Found", {"Type": "User", "message": "Unknown operation"},
                "UnknownOperationException")
    name = m.group(1)
    if not _FUNCTION_NAME.match(name) or len(name) > 170:
        return ("400 Bad Request", {"Type": "User", "message": (
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            + _FUNCTION_NAME.pattern)}, "ValidationException")
    return None




def payload_error(body: bytes) -> str | None:
    """None if an Invoke payload is JSON (or empty), else AWS's InvalidRequestContentException
    message. A payload nested too deeply to parse is the client's fault too (400, not 500)."""
    if not body or not body.strip():
        return None
    try:
        json.loads(body)
    except RecursionError:
        return "Could not parse request body into json: nesting too deep"
    except ValueError as exc:
        return f"Could not parse request body into json: {exc}"
    return None


def looks_like_html(body: bytes) -> bool:
    """True for an HTML page (Flask's/werkzeug's error page), False for a JSON or XML error."""
    head = body.lstrip()[:15].lower()
    return head.startswith((b"<!doctype html", b"<html")) or head.startswith(b"<title>")


def _html_error(status: str, headers: list) -> bool:
    ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    return int(status.split(None, 1)[0]) >= 400 and "html" in ctype.lower()


def _as_lambda_error(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
    """An HTML error page as Lambda's JSON error; moto labels many of its JSON/XML error
    bodies text/html (a response it builds without a Content-Type): those stay as they are."""
    if not looks_like_html(body):
        return status, headers, body
    reason = status.split(None, 1)[1] if " " in status else "Error"
    error_type = {"404 ": "ResourceNotFoundException",
                  "405 ": "UnsupportedOperationException"}.get(status[:4], "ClientException")
    return (status, *_error({"Type": "User", "message": reason}, error_type))


def client_errors_middleware(app: Callable) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(LAMBDA_PREFIX):
            bad = lambda_request_error(environ)
            if bad is not None:
                return _json(start_response, *bad)
            if path.endswith(("/invocations", "/invocations/")) and \
                    not environ.get("HTTP_CONTENT_ENCODING"):
                message = payload_error(read_body(environ))
                if message is not None:
                    return _json(start_response, "400 Bad Request",
                                 {"Type": "User", "message": message},
                                 "InvalidRequestContentException")
        return rewrite_response(app, environ, start_response, _html_error, _as_lambda_error)

    return middleware
