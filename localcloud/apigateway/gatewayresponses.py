"""API Gateway gateway responses as AWS answers them: every type exists with its default
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html),
GetGatewayResponse(s) list the defaults beside the ones put, UpdateGatewayResponse patches a
type (put or not: a default patched becomes a put one), and a type outside AWS's enum is a
ValidationException. moto knows only the ones put (`RestAPI.gateway_responses`, which this
module reads and writes, so the data plane serves what is patched here too).

UpdateGatewayResponse paths: `replace /statusCode`; `add`/`replace`/`remove`
`/responseParameters/<name>` and `/responseTemplates/<content type>` (a null value:
`Invalid null or empty value in …`); anything else `Invalid patch path <path>`.
"""
from __future__ import annotations

from typing import Any

from .updates import ApiError, bad_request, not_found

DEFAULT_TEMPLATE = {"application/json": '{"message":$context.error.messageString}'}
# type -> default status (None: DEFAULT_4XX / DEFAULT_5XX carry none)
DEFAULTS = {
    "ACCESS_DENIED": "403", "API_CONFIGURATION_ERROR": "500",
    "AUTHORIZER_CONFIGURATION_ERROR": "500", "AUTHORIZER_FAILURE": "500",
    "BAD_REQUEST_BODY": "400", "BAD_REQUEST_PARAMETERS": "400", "DEFAULT_4XX": None,
    "DEFAULT_5XX": None, "EXPIRED_TOKEN": "403", "INTEGRATION_FAILURE": "504",
    "INTEGRATION_TIMEOUT": "504", "INVALID_API_KEY": "403", "INVALID_SIGNATURE": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403", "QUOTA_EXCEEDED": "429", "REQUEST_TOO_LARGE": "413",
    "RESOURCE_NOT_FOUND": "404", "THROTTLED": "429", "UNAUTHORIZED": "401",
    "UNSUPPORTED_MEDIA_TYPE": "415", "WAF_FILTERED": "403",
}
# the order AWS's validation message lists them in
ENUM_ORDER = ("REQUEST_TOO_LARGE, RESOURCE_NOT_FOUND, AUTHORIZER_CONFIGURATION_ERROR, "
              "MISSING_AUTHENTICATION_TOKEN, BAD_REQUEST_BODY, INVALID_SIGNATURE, INVALID_API_KEY, "
              "BAD_REQUEST_PARAMETERS, AUTHORIZER_FAILURE, UNAUTHORIZED, INTEGRATION_TIMEOUT, "
              "ACCESS_DENIED, DEFAULT_4XX, DEFAULT_5XX, WAF_FILTERED, QUOTA_EXCEEDED, THROTTLED, "
              "API_CONFIGURATION_ERROR, UNSUPPORTED_MEDIA_TYPE, INTEGRATION_FAILURE, EXPIRED_TOKEN")


def check_type(response_type: str) -> None:
    if response_type not in DEFAULTS:
        raise ApiError(400, "ValidationException", (
            f"1 validation error detected: Value '{response_type}' at 'responseType' failed to "
            f"satisfy constraint: Member must satisfy enum value set: [{ENUM_ORDER}]"))


def default(response_type: str) -> dict:
    doc = {"defaultResponse": True, "responseParameters": {},
           "responseTemplates": dict(DEFAULT_TEMPLATE), "responseType": response_type}
    if DEFAULTS[response_type]:
        doc["statusCode"] = DEFAULTS[response_type]
    return doc


def as_dict(put: Any) -> dict:
    doc = {"defaultResponse": False, "responseParameters": dict(put.response_parameters or {}),
           "responseTemplates": dict(put.response_templates or {}),
           "responseType": put.response_type}
    if put.status_code is not None:
        doc["statusCode"] = str(put.status_code)
    return doc


def update(api: Any, response_type: str, operations: list[dict]) -> dict:
    from moto.apigateway.models import GatewayResponse

    put = api.gateway_responses.get(response_type)
    base = as_dict(put) if put is not None else default(response_type)
    status = base.get("statusCode")
    params = dict(base["responseParameters"])
    templates = dict(base["responseTemplates"])
    for op in operations:
        kind, path, value = op.get("op"), op.get("path"), op.get("value")
        if path is None:
            raise bad_request("Invalid patch path null")
        if not isinstance(path, str):
            raise bad_request(f"Invalid patch path {path}")
        member, _, key = path.lstrip("/").partition("/")
        key = key.replace("~1", "/").replace("~0", "~")
        if member == "statusCode" and not key:
            if kind != "replace":
                raise bad_request(f"Invalid patch path {path}")
            status = value
        elif member in ("responseParameters", "responseTemplates") and key:
            target = params if member == "responseParameters" else templates
            if kind in ("add", "replace"):
                if value in (None, ""):
                    raise bad_request(f"Invalid null or empty value in {member}")
                if kind == "replace" and key not in target:
                    raise not_found("Invalid parameter name specified")
                target[key] = value
            elif kind == "remove":
                if key not in target:
                    raise not_found("Invalid parameter name specified")
                target.pop(key)
            else:
                raise bad_request(f"Invalid patch path {path}")
        else:
            raise bad_request(f"Invalid patch path {path}")
    api.gateway_responses[response_type] = GatewayResponse(
        response_type=response_type, status_code=status, response_parameters=params,
        response_templates=templates)
    return as_dict(api.gateway_responses[response_type])


def serve(backend: Any, verb: str, segs: list[str], operations: list[dict]) -> tuple[int, Any] | None:
    """/restapis/{id}/gatewayresponses[/{type}]: (status, document), or None for moto."""
    api = backend.apis.get(segs[1])
    if api is None:
        return None
    if len(segs) == 3:
        if verb != "GET":
            return None
        items = {t: default(t) for t in DEFAULTS}
        for t, put in (api.gateway_responses or {}).items():
            items[t] = as_dict(put)
        return 200, {"item": list(items.values())}  # the list member's wire name
    response_type = segs[3]
    check_type(response_type)
    if verb == "GET":
        put = api.gateway_responses.get(response_type)
        return 200, as_dict(put) if put is not None else default(response_type)
    if verb == "DELETE":
        if response_type not in api.gateway_responses:
            raise not_found("Gateway response type not defined on api")
        return None
    if verb == "PATCH":
        return 200, update(api, response_type, operations)
    return None  # PutGatewayResponse: moto
