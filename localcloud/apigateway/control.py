"""API Gateway's control plane refuses a call on something that does not exist as AWS does.

AWS names what is missing, from the outside in, in its own words (recorded AWS answers,
LocalStack's AWS-validated `test_apigateway_api.py` snapshots; moto answers "Invalid Rest API
Id specified" for all of them, and for some nothing at all):

| what is missing | AWS's answer |
|---|---|
| a `statusCode` in the path that is not `[1-5]\\d\\d` | 400 `ValidationException` `1 validation error detected: Value '…' at 'statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [1-5]\\d\\d` |
| the REST API (the API itself, its resources, authorizers, validators, models, gateway responses, documentation; not stages or deployments, whose answer is not recorded) | 404 `NotFoundException` `Invalid API identifier specified <account>:<id>` |
| the REST API, under `/resources/{id}` | 404 `Invalid Resource identifier specified` |
| the REST API, under `/requestvalidators/{id}` | 404 `Invalid Request Validator identifier specified` |
| the REST API, under `/documentation/parts/{id}` (not DeleteDocumentationPart) | 404 `Invalid Documentation part identifier specified` |
| the REST API, CreateRequestValidator | 400 `BadRequestException` `Invalid REST API identifier specified` |
| the REST API, CreateAuthorizer | 409 `ConflictException` `Unable to complete operation due to concurrent modification. Please try again later.` |
| the resource (CreateResource's parent too) | 404 `Invalid Resource identifier specified` |
| the method (all but PutMethod) | 404 `Invalid Method identifier specified` (DeleteIntegrationResponse: `Invalid Integration identifier specified`) |
| the integration (all but PutIntegration) | 404 `Invalid Integration identifier specified` |
| a method or integration response (Get/Update/Delete) | 404 `Invalid Response status code specified` |
| a request validator | 404 `Invalid Request Validator identifier specified` |
| a model (Get/Update/Delete), also when the REST API is missing | 404 `Invalid model name specified: <name>` |
| a VPC link (Get/Update/Delete) | 404 `Invalid Vpc Link identifier specified` |

The check runs after the request's validation and IAM authorization (AWS's order) and
reads moto's apigateway backend (`APIGatewayBackend.apis/vpc_links`, `RestAPI.resources/
request_validators/models`, `Resource.resource_methods`, `Method.method_responses/
method_integration`, `Integration.integration_responses`; tripwire in
tests/unit/test_localcloud_apigw_hooks.py).
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from . import docparts, gatewayresponses, puts, restapis, testinvoke, updates

INTEGRATION_TYPES = ("HTTP", "MOCK", "AWS_PROXY", "HTTP_PROXY", "AWS")
_REASONS = {200: "OK", 201: "Created", 202: "Accepted"}
_STATUS_CODE = re.compile(r"[1-5]\d\d")

NOT_FOUND = "NotFoundException"
RESOURCE = "Invalid Resource identifier specified"
METHOD = "Invalid Method identifier specified"
INTEGRATION = "Invalid Integration identifier specified"
STATUS = "Invalid Response status code specified"
VALIDATOR = "Invalid Request Validator identifier specified"
VPC_LINK = "Invalid Vpc Link identifier specified"


# the sub-resources whose answer to a missing REST API is recorded (the rest stays moto's)
_RECORDED = ("resources", "authorizers", "requestvalidators", "models", "gatewayresponses",
             "documentation")


def split(path: str) -> list[str]:
    return [unquote(s) for s in path.strip("/").split("/")]


def invalid(segs: list[str], verb: str, body: bytes) -> tuple[int, str, str] | None:
    """AWS's ValidationException for a patch `op` outside the enum and a path `statusCode`
    that is not `[1-5]\\d\\d`, all named in one message (ops first)."""
    errors: list[str] = []
    if verb == "PATCH" and body:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            errors += updates.op_errors(segs, doc.get("patchOperations"))
    for i, seg in enumerate(segs[:-1]):
        if seg == "responses" and i >= 5 and not _STATUS_CODE.fullmatch(segs[i + 1]):
            errors.append(
                f"Value '{segs[i + 1]}' at 'statusCode' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: [1-5]\\d\\d")
    if verb == "PUT" and len(segs) == 7 and segs[0] == "restapis" and segs[6] == "integration":
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = None
        kind = doc.get("type") if isinstance(doc, dict) else None
        if isinstance(kind, str) and kind not in INTEGRATION_TYPES:
            errors.append(f"Value '{kind}' at 'putIntegrationInput.type' failed to satisfy "
                          "constraint: Member must satisfy enum value set: "
                          "[HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]")
    if len(segs) == 4 and segs[0] == "restapis" and segs[2] == "gatewayresponses":
        try:
            gatewayresponses.check_type(segs[3])
        except updates.ApiError as err:
            return err.status, err.code, err.message
    if not errors:
        return None
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
    return 400, "ValidationException", count + "; ".join(errors)


def missing(backend: Any, verb: str, path: str) -> tuple[int, str, str] | None:
    """(status, code, message) when the call names something that does not exist."""
    segs = split(path)
    if not segs or segs[0] not in ("restapis", "vpclinks"):
        return None
    if segs[0] == "vpclinks":
        if len(segs) == 2 and verb in ("GET", "PATCH", "DELETE") and \
                segs[1] not in backend.vpc_links:
            return 404, NOT_FOUND, VPC_LINK
        return None
    if len(segs) < 2 or not segs[1]:
        return None
    api = backend.apis.get(segs[1])
    if api is None:
        if len(segs) > 2 and segs[2] not in _RECORDED:
            return None  # no recorded AWS answer (stages, deployments, exports...): moto's
        return _api_missing(backend, verb, segs)
    n = len(segs)
    if n >= 4 and segs[2] == "resources":
        resource = api.resources.get(segs[3])
        if resource is None:
            return 404, NOT_FOUND, RESOURCE
        if n >= 6 and segs[4] == "methods":
            return _method_missing(resource, verb, segs)
        return None
    if n == 4 and segs[2] == "requestvalidators" and verb in ("GET", "PATCH", "DELETE"):
        if segs[3] not in (api.request_validators or {}):
            return 404, NOT_FOUND, VALIDATOR
    if n == 4 and segs[2] == "models" and verb in ("GET", "PATCH", "DELETE"):
        if segs[3] not in (api.models or {}):
            return 404, NOT_FOUND, f"Invalid model name specified: {segs[3]}"
    return None


def _api_missing(backend: Any, verb: str, segs: list[str]) -> tuple[int, str, str]:
    n = len(segs)
    if n >= 4 and segs[2] == "resources":
        return 404, NOT_FOUND, RESOURCE
    if n >= 4 and segs[2] == "requestvalidators":
        return 404, NOT_FOUND, VALIDATOR
    if n >= 5 and segs[2:4] == ["documentation", "parts"] and verb != "DELETE":
        return 404, NOT_FOUND, docparts.MISSING
    if n == 4 and segs[2] == "models" and verb in ("GET", "PATCH", "DELETE"):
        return 404, NOT_FOUND, f"Invalid model name specified: {segs[3]}"
    if n == 3 and verb == "POST" and segs[2] == "requestvalidators":
        return 400, "BadRequestException", "Invalid REST API identifier specified"
    if n == 3 and verb == "POST" and segs[2] == "authorizers":
        return 409, "ConflictException", ("Unable to complete operation due to concurrent "
                                          "modification. Please try again later.")
    return 404, NOT_FOUND, f"Invalid API identifier specified {backend.account_id}:{segs[1]}"


def _method_missing(resource: Any, verb: str, segs: list[str]) -> tuple[int, str, str] | None:
    n = len(segs)
    methods = resource.resource_methods or {}
    method = methods.get(segs[5])
    if method is None and n == 6 and verb == "POST" and "ANY" in methods:
        return None  # TestInvokeMethod of a verb an ANY method serves
    integration_response = n == 9 and segs[6] == "integration" and segs[7] == "responses"
    if method is None:
        if n == 6 and verb == "PUT":
            return None  # PutMethod creates it
        if integration_response and verb == "DELETE":
            return 404, NOT_FOUND, INTEGRATION
        return 404, NOT_FOUND, METHOD
    if n == 8 and segs[6] == "responses":
        if verb != "PUT" and segs[7] not in (method.method_responses or {}):
            return 404, NOT_FOUND, STATUS
        return None
    if n >= 7 and segs[6] == "integration":
        integration = method.method_integration
        if integration is None:
            if n == 7 and verb == "PUT":
                return None  # PutIntegration creates it
            return 404, NOT_FOUND, INTEGRATION
        if integration_response and verb != "PUT" and \
                segs[8] not in (integration.integration_responses or {}):
            return 404, NOT_FOUND, STATUS
    return None


def _operations(body: bytes) -> list:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return []
    ops = doc.get("patchOperations") if isinstance(doc, dict) else None
    return [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []


def middleware(app: Callable, cloud: Any = None) -> Callable:
    from ..core.body import read_body
    from ..core.moto_request import backend_for
    from ..iam.requests import credential_of
    from ..validation import error_response
    from ..validation.rules import Refusal

    def precheck(environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(("/restapis/", "/vpclinks/")) or path in (
                "/restapis", "/restapis/", "/vpclinks")) \
                or "/_user_request_" in path:
            return app(environ, start_response)
        cred = credential_of(environ)
        if cred is None or cred[2] != "apigateway":
            return app(environ, start_response)
        from moto.apigateway.models import apigateway_backends

        verb = environ.get("REQUEST_METHOD", "GET").upper()
        body = read_body(environ) if verb in ("PATCH", "POST", "PUT") else b""
        segs = split(path)
        found = invalid(segs, verb, body)
        if found is None:
            try:
                restapis.serve(verb, segs, body, environ.get("CONTENT_TYPE", ""))
            except updates.ApiError as err:
                found = err.status, err.code, err.message
        backend = None
        if found is None:
            backend = backend_for(apigateway_backends, environ)
            found = missing(backend, verb, path)
        if found is None:
            try:
                puts.check(backend, verb, segs, body)
            except updates.ApiError as err:
                found = err.status, err.code, err.message
        if found is None:
            try:
                if len(segs) in (4, 5) and segs[0] == "restapis" and \
                        segs[2:4] == ["documentation", "parts"]:
                    mode = (parse_qs(environ.get("QUERY_STRING", "")).get("mode")
                            or ["merge"])[0]
                    served = docparts.serve(backend, verb, segs, body, mode)
                elif testinvoke.is_test_invoke(verb, segs) and \
                        getattr(cloud, "apigateway", None) is not None:
                    served = testinvoke.serve(cloud.apigateway, backend, segs, body)
                elif len(segs) in (3, 4) and segs[0] == "restapis" and \
                        segs[2] == "gatewayresponses":
                    served = gatewayresponses.serve(backend, verb, segs, _operations(body))
                else:
                    served = updates.serve(backend, verb, segs, body)
            except updates.ApiError as err:
                found = err.status, err.code, err.message
            else:
                if served is None:
                    return app(environ, start_response)
                status, doc = served
                out = json.dumps(doc).encode()
                start_response(f"{status} {_REASONS.get(status, 'OK')}", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(out)))])
                return [out]
        status, code, message = found
        line, headers, out = error_response("apigateway", "rest-json",
                                            Refusal(code, message, status=status))
        if code == "ValidationException":  # AWS's body names it `Message` (no `message`)
            out = json.dumps({"Message": message}).encode()
        start_response(line, headers + [("Content-Length", str(len(out)))])
        return [out]

    return precheck
