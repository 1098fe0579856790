"""Non-proxy (`AWS`) integrations: mapping templates and integration responses (no moto, no HTTP).

API Gateway's mapping templates are Velocity (VTL) templates with the variables AWS documents
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html);
they are rendered with `airspeed` (a Python Velocity engine, the `airspeed-ext` package).
What a template sees:

- `$input.body` (the raw payload), `$input.json(x)` (a JSONPath of the payload as JSON
  text), `$input.path(x)` (the same as an object), `$input.params()` (`{path, querystring,
  header}`), `$input.params(name)` (path, then query string, then header);
- `$context` (apiId, accountId, httpMethod, path, protocol, requestId, resourceId,
  resourcePath, stage, identity.sourceIp/userAgent, requestTime(Epoch), domainName) and
  `$context.responseOverride.status` / `.header.<name>`, which a response template may set;
- `$stageVariables`; `$util.escapeJavaScript`, `base64Encode/Decode`, `urlEncode/Decode`,
  `parseJson`.

The JSONPath subset: `$`, `.name`, `['name']`, `[index]` (what AWS's examples use).

Request side (`request_body`, passthroughBehavior,
https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html):
the template for the request's content type (default `application/json`); with none for it,
WHEN_NO_MATCH passes the body through, WHEN_NO_TEMPLATES passes it only when the integration
has no templates at all, NEVER refuses: 415 `Unsupported Media Type`.

Response side (`select_response`, https://docs.aws.amazon.com/apigateway/latest/api/API_IntegrationResponse.html):
for a Lambda integration a `selectionPattern` is a regular expression matched (whole) against
the function error's `errorMessage`; a successful call, or an error no pattern matches, takes
the default response (no or an empty pattern). None at all: 500 (a configuration error).
"""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed

DEFAULT_CONTENT_TYPE = "application/json"


class UnsupportedMediaType(Exception):
    """passthroughBehavior refuses the request's content type (415)."""


class NoIntegrationResponse(Exception):
    """No integration response applies: API Gateway answers 500 (a configuration error)."""


# ---------------------------------------------------------------------------------------
# JSONPath (the subset AWS's mapping examples use)
# ---------------------------------------------------------------------------------------
_STEP = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d+)\s*\]")


def json_path(doc: Any, path: str) -> Any:
    """`$`, `$.a.b`, `$['a']`, `$.a[0]`; None where the path leads nowhere."""
    path = (path or "$").strip()
    if not path.startswith("$"):
        path = "$." + path
    rest = path[1:]
    pos = 0
    cur = doc
    while pos < len(rest):
        m = _STEP.match(rest, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r}")
        pos = m.end()
        name, q1, q2, idx = m.groups()
        key = name if name is not None else (q1 if q1 is not None else q2)
        if key is not None:
            cur = cur.get(key) if isinstance(cur, dict) else None
        else:
            i = int(idx)
            cur = cur[i] if isinstance(cur, list) and -len(cur) <= i < len(cur) else None
        if cur is None:
            return None
    return cur


# ---------------------------------------------------------------------------------------
# The template variables
# ---------------------------------------------------------------------------------------
class InputVar:
    """`$input`: the payload (a request body, or an integration's response) and the
    request's parameters."""

    def __init__(self, body: bytes | str, params: dict[str, dict[str, str]]):
        self.body = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        self._params = params
        self._doc: Any = None
        self._parsed = False

    def _json(self) -> Any:
        if not self._parsed:
            self._parsed = True
            text = self.body.strip()
            if not text:
                self._doc = {}
            else:
                try:
                    self._doc = json.loads(text)
                except ValueError:
                    self._doc = self.body  # not JSON: the body as a string
        return self._doc

    def path(self, expr: str) -> Any:
        return json_path(self._json(), expr)

    def json(self, expr: str) -> str:
        return json.dumps(self.path(expr), separators=(",", ":"))

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for where in ("path", "querystring", "header"):
            values = self._params.get(where, {})
            if name in values:
                return values[name]
            if where == "header":
                low = name.lower()
                for k, v in values.items():
                    if k.lower() == low:
                        return v
        return ""


class UtilVar:
    """`$util` (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#util-template-reference)."""

    @staticmethod
    def escapeJavaScript(s: Any) -> str:  # noqa: N802 - AWS's name
        text = "" if s is None else str(s)
        out = json.dumps(text)[1:-1]  # backslashes, quotes, control characters
        return out.replace("'", "\\'")

    @staticmethod
    def base64Encode(s: Any) -> str:  # noqa: N802
        return base64.b64encode(str(s).encode()).decode()

    @staticmethod
    def base64Decode(s: Any) -> str:  # noqa: N802
        return base64.b64decode(str(s)).decode("utf-8", "replace")

    @staticmethod
    def urlEncode(s: Any) -> str:  # noqa: N802
        return quote_plus(str(s))

    @staticmethod
    def urlDecode(s: Any) -> str:  # noqa: N802
        return unquote_plus(str(s))

    @staticmethod
    def parseJson(s: Any) -> Any:  # noqa: N802
        return json.loads(str(s))


@dataclass
class RequestInfo:
    """What the templates' `$context` and `$input.params()` say about the request."""
    api_id: str
    account_id: str
    stage: str
    http_method: str
    path: str                       # the request path under the stage, e.g. /test
    resource_path: str
    resource_id: str
    request_id: str
    source_ip: str = "127.0.0.1"
    user_agent: str = ""
    domain_name: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    stage_vars: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, dict[str, str]]:
        return {"path": dict(self.path_params), "querystring": dict(self.query),
                "header": dict(self.headers)}

    def context(self) -> dict[str, Any]:
        now = time.time()
        return {
            "apiId": self.api_id, "accountId": self.account_id, "stage": self.stage,
            "httpMethod": self.http_method, "path": f"/{self.stage}{self.path or '/'}",
            "protocol": "HTTP/1.1", "requestId": self.request_id,
            "extendedRequestId": self.request_id, "resourceId": self.resource_id,
            "resourcePath": self.resource_path, "domainName": self.domain_name,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent,
                         "accountId": "", "caller": "", "user": "", "userArn": ""},
            "responseOverride": {"status": None, "header": {}},
            "requestOverride": {"header": {}, "querystring": {}, "path": {}},
        }


_COMPILED: dict[str, Any] = {}


def render(template: str, payload: bytes | str, info: RequestInfo,
           context: dict | None = None) -> tuple[str, dict]:
    """Render one mapping template -> (text, the `$context` it ran with: a response
    template's `responseOverride` is read from it)."""
    compiled = _COMPILED.get(template)
    if compiled is None:
        compiled = airspeed.Template(template)
        if len(_COMPILED) < 512:
            _COMPILED[template] = compiled
    ctx = context if context is not None else info.context()
    namespace = {"input": InputVar(payload, info.params()), "context": ctx,
                 "util": UtilVar(), "stageVariables": dict(info.stage_vars)}
    return compiled.merge(namespace), ctx


# ---------------------------------------------------------------------------------------
# Request and response mapping
# ---------------------------------------------------------------------------------------
def _media_type(content_type: str | None) -> str:
    return (content_type or DEFAULT_CONTENT_TYPE).split(";")[0].strip().lower() \
        or DEFAULT_CONTENT_TYPE


def request_body(templates: dict | None, passthrough: str | None, content_type: str | None,
                 body: bytes, info: RequestInfo) -> bytes:
    """The integration request's body, per the request templates and passthroughBehavior."""
    templates = {k.lower(): v for k, v in (templates or {}).items()}
    media = _media_type(content_type)
    template = templates.get(media)
    if template is None:
        behaviour = (passthrough or "WHEN_NO_MATCH").upper()
        if behaviour == "NEVER" or (behaviour == "WHEN_NO_TEMPLATES" and templates):
            raise UnsupportedMediaType(media)
        return body
    if not template:
        return b""
    text, _ = render(template, body, info)
    return text.encode("utf-8")


@dataclass
class IntegrationResult:
    """What the integration answered: its body, and for a Lambda function error its
    errorMessage (what selection patterns are matched against)."""
    body: bytes
    error_message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status_code: int | None = None  # MOCK (and HTTP): what selection patterns match


def select_response(responses: dict[str, Any], result: IntegrationResult) -> Any:
    """The integration response for an integration's result (objects with `status_code`
    and `selection_pattern`): a Lambda's patterns match its error's errorMessage, a MOCK
    integration's its status code."""
    default = None
    ordered = sorted(responses.values(), key=lambda r: str(r.status_code))
    for resp in ordered:
        pattern = getattr(resp, "selection_pattern", None)
        if not pattern:
            default = default or resp
            continue
        subject = str(result.status_code) if result.status_code is not None \
            else result.error_message
        if subject is None:
            continue
        try:
            if re.fullmatch(pattern, subject, flags=re.DOTALL):
                return resp
        except re.error:
            continue
    if default is None:
        raise NoIntegrationResponse("no default integration response")
    return default


def mock_status(rendered: bytes) -> int:
    """A MOCK integration's status: the `statusCode` of its rendered request template (200
    without one; https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-mock-integration.html)."""
    try:
        doc = json.loads(rendered) if rendered.strip() else {}
    except ValueError:
        return 200
    code = doc.get("statusCode") if isinstance(doc, dict) else None
    try:
        return int(code) if code is not None else 200
    except (TypeError, ValueError):
        return 200


def _header_value(expr: str, result: IntegrationResult, doc: Any) -> str | None:
    expr = (expr or "").strip()
    if len(expr) >= 2 and expr[0] == expr[-1] == "'":
        return expr[1:-1]
    if expr.startswith("integration.response.header."):
        name = expr[len("integration.response.header."):].lower()
        return next((v for k, v in result.headers.items() if k.lower() == name), None)
    if expr.startswith("integration.response.body"):
        rest = expr[len("integration.response.body"):]
        value = json_path(doc, "$" + rest) if rest else doc
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)
    return None


def response(chosen: Any, result: IntegrationResult, info: RequestInfo,
             accept: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) the client gets from an integration response."""
    status = int(chosen.status_code)
    templates = dict(getattr(chosen, "response_templates", None) or {})
    lowered = {k.lower(): (k, v) for k, v in templates.items()}
    media = None
    for part in (accept or "").split(","):
        m = _media_type(part) if part.strip() else None
        if m and m in lowered:
            media = m
            break
    if media is None:
        media = DEFAULT_CONTENT_TYPE if DEFAULT_CONTENT_TYPE in lowered or not lowered \
            else next(iter(lowered))
    body = result.body
    headers: list[tuple[str, str]] = []
    ctx = info.context()
    if media in lowered and lowered[media][1]:
        text, ctx = render(lowered[media][1], result.body, info, ctx)
        body = text.encode("utf-8")
    override = ctx.get("responseOverride") or {}
    if override.get("status") not in (None, ""):
        try:
            status = int(override["status"])
        except (TypeError, ValueError):
            pass
    try:
        doc = json.loads(result.body) if result.body else None
    except ValueError:
        doc = None
    for name, expr in (getattr(chosen, "response_parameters", None) or {}).items():
        if not name.startswith("method.response.header.") or not isinstance(expr, str):
            continue
        value = _header_value(expr, result, doc)
        if value is not None:
            headers.append((name[len("method.response.header."):], value))
    for name, value in (override.get("header") or {}).items():
        headers.append((str(name), str(value)))
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", media))
    return status, headers, body
