"""IAM operations the local cloud answers itself (moto has none of them), in IAM's query
protocol: a form-encoded request with `Action=<Operation>`, answered
`<OperationResponse><OperationResult>...</OperationResult><ResponseMetadata/>` or IAM's
`<ErrorResponse>`.

`middleware_factory(handlers)` serves each `Action` in `handlers` (operation -> `handler(environ,
params) -> XML body`, raising `ServiceError` for IAM's errors; a handler that answers None
passes the request on to moto) and passes every other request on. It is installed inside the IAM check (the caller needs the operation's IAM action) and
after the validation layer (the botocore model's constraints are checked before).
"""
from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ..core.body import read_body

NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_STATUS = {400: "400 Bad Request", 404: "404 Not Found", 409: "409 Conflict",
           501: "501 Not Implemented"}

Handler = Callable[[dict, dict], "bytes | None"]


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return escape(str(value))


def members(doc: dict, names: Any = None) -> str:
    """`<Name>value</Name>` for each scalar member (of `names`, when given)."""
    return "".join(f"<{k}>{xml_value(v)}</{k}>" for k, v in doc.items()
                   if names is None or k in names)


def result(op: str, inner: str) -> bytes:
    rid = str(uuid.uuid4())
    body = f"<{op}Result>{inner}</{op}Result>" if inner else ""
    return (f'<{op}Response xmlns="{NS}">{body}<ResponseMetadata><RequestId>{rid}'
            f"</RequestId></ResponseMetadata></{op}Response>").encode()


def error(exc: ServiceError) -> bytes:
    return (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
            f"<Message>{escape(exc.message)}</Message></Error><RequestId>{uuid.uuid4()}"
            "</RequestId></ErrorResponse>").encode()


def params_of(environ: dict) -> dict[str, str]:
    """The request's parameters (query string and form body), each its first value."""
    raw = environ.get("QUERY_STRING", "")
    if environ.get("REQUEST_METHOD") == "POST":
        raw = read_body(environ).decode("utf-8", "replace") + "&" + raw
    return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def listed(params: dict[str, str], name: str) -> list[str]:
    """A query-protocol list member (`Name.member.1`, `Name.member.2`, ...), in order."""
    out = []
    n = 1
    while f"{name}.member.{n}" in params:
        out.append(params[f"{name}.member.{n}"])
        n += 1
    return out


def _action(environ: dict) -> str | None:
    """`Action` of an IAM query request, read only for form posts and query strings."""
    query = environ.get("QUERY_STRING", "")
    if "Action=" in query:
        return params_of(environ).get("Action")
    if environ.get("REQUEST_METHOD") != "POST" or \
            "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return None
    body = read_body(environ)
    at = body.find(b"Action=")
    if at < 0:
        return None
    end = body.find(b"&", at)
    return body[at + 7:end if end >= 0 else len(body)].decode("ascii", "replace")


def middleware_factory(handlers: dict[str, Handler]) -> Callable:
    def factory(app: Callable, _cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            if _action(environ) not in handlers or "/iam/aws4_request" not in \
                    environ.get("HTTP_AUTHORIZATION", "/iam/aws4_request"):
                return app(environ, start_response)
            params = params_of(environ)
            handler = handlers.get(params.get("Action", ""))
            if handler is None:
                return app(environ, start_response)
            try:
                body, status = handler(environ, params), "200 OK"
            except ServiceError as exc:
                body, status = error(exc), _STATUS[exc.status]
            if body is None:  # a guard that lets this request through to moto
                return app(environ, start_response)
            start_response(status, [("Content-Type", "text/xml"),
                                    ("Content-Length", str(len(body)))])
            return [body]
        return middleware
    return factory
