"""API Gateway Update* operations moto does not serve, answered as AWS answers them.

Every Update* call takes `patchOperations` (RFC 6902 style, `~1` for `/` in a path segment;
https://docs.aws.amazon.com/apigateway/latest/api/API_PatchOperation.html). AWS first checks
each `op` against the enum `[add, remove, move, test, replace, copy]` (a ValidationException
naming each bad one, `update<Operation>Input.patchOperations.<n>.member.op`), then what each
operation allows. Served here (moto 5.2 lacks them, or, for UpdateRequestValidator, applies any op and fails on a missing value), with the paths and errors AWS
answers (recorded AWS responses):

| operation | paths |
|---|---|
| UpdateResource | `replace` `/pathPart`, `/parentId` (not on the root; the parent must exist, not be a descendant: `Resources cannot be cyclical.`; no sibling of that name: 409) |
| UpdateMethodResponse | `add`/`replace`/`remove` `/responseParameters/<name>` (`true`/`false`), `/responseModels/<content type>` |
| UpdateIntegrationResponse | `add`/`replace`/`remove` `/responseTemplates/<type>`, `/responseParameters/<name>`; `replace` `/selectionPattern`, `/contentHandling` |
| UpdateIntegration | `replace` `/uri`, `/httpMethod`, `/type`, `/connectionId`, `/connectionType`, `/credentials`, `/passthroughBehavior`, `/timeoutInMillis`, `/contentHandling`, `/cacheNamespace`; `add`/`replace`/`remove` `/requestTemplates/<type>`, `/requestParameters/<name>` |
| UpdateMethod | `replace` `/authorizationType`, `/authorizerId`, `/apiKeyRequired`, `/operationName`, `/requestValidatorId` (another op: `Invalid patch operation specified. Must be one of: [replace]`); `add`/`replace`/`remove` `/requestParameters/<name>`, `/requestModels/<type>` (a type's `/` written `~1`) |
| UpdateModel | `replace` `/schema`, `/description` |
| UpdateVpcLink | `replace` `/name`, `/description` |
| UpdateRestApi | `replace` `/name`, `/description`, `/policy`, `/apiKeySource`, `/version`, `/disableExecuteApiEndpoint`, `/minimumCompressionSize` (0..10485760; empty: off), `/endpointConfiguration/types/0` (PRIVATE makes it dualstack), `/endpointConfiguration/ipAddressType`; `add`/`remove`/`replace` `/binaryMediaTypes/<type>`; `remove` `/description` |
| UpdateRequestValidator | `replace` `/name` (not blank), `/validateRequestParameters`, `/validateRequestBody` (no value: false) |
| UpdateStage (with `/accessLogSettings` paths) | `add`/`replace` `/accessLogSettings/destinationArn`, `/accessLogSettings/format` (not empty); `remove` `/accessLogSettings`; other paths moto's |

DeleteResource deletes the resource's descendants too (moto leaves them orphaned and
GetResources then fails).
"""
from __future__ import annotations

import json
from typing import Any

OPS = ("add", "remove", "move", "test", "replace", "copy")
_ENUM = "[add, remove, move, test, replace, copy]"

# the path shape of each Update* operation -> its input name
_INPUTS = {
    ("restapis", 2): "updateRestApiInput", ("resources", 4): "updateResourceInput",
    ("methods", 6): "updateMethodInput", ("responses", 8): "updateMethodResponseInput",
    ("integration", 7): "updateIntegrationInput",
    ("integration-responses", 9): "updateIntegrationResponseInput",
    ("models", 4): "updateModelInput", ("requestvalidators", 4): "updateRequestValidatorInput",
    ("gatewayresponses", 4): "updateGatewayResponseInput", ("stages", 4): "updateStageInput",
    ("deployments", 4): "updateDeploymentInput", ("authorizers", 4): "updateAuthorizerInput",
    ("documentation", 5): "updateDocumentationPartInput", ("vpclinks", 2): "updateVpcLinkInput",
    ("apikeys", 2): "updateApiKeyInput", ("usageplans", 2): "updateUsagePlanInput",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequestException", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFoundException", message)


def input_name(segs: list[str]) -> str | None:
    n = len(segs)
    if not segs:
        return None
    if segs[0] != "restapis":
        return _INPUTS.get((segs[0], n))
    if n < 2:
        return None
    if n == 2:
        return _INPUTS[("restapis", 2)]
    if n == 9 and segs[6] == "integration":
        return _INPUTS[("integration-responses", 9)]
    if n == 8 and segs[6] == "responses":
        return _INPUTS[("responses", 8)]
    if n == 7 and segs[6] == "integration":
        return _INPUTS[("integration", 7)]
    if n == 6 and segs[4] == "methods":
        return _INPUTS[("methods", 6)]
    return _INPUTS.get((segs[2], n)) if n > 2 else None


def op_errors(segs: list[str], operations: Any) -> list[str]:
    """The ValidationException items for ops outside the enum."""
    name = input_name(segs)
    if name is None or not isinstance(operations, list):
        return []
    errors = []
    for i, op in enumerate(operations, 1):
        value = op.get("op") if isinstance(op, dict) else None
        if value is not None and value not in OPS:
            errors.append(f"Value '{value}' at '{name}.patchOperations.{i}.member.op' failed to "
                          f"satisfy constraint: Member must satisfy enum value set: {_ENUM}")
    return errors


def _unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def _split(path: str | None) -> tuple[str, str | None]:
    """'/responseModels/application~1json' -> ('responseModels', 'application/json')."""
    parts = (path or "").lstrip("/").split("/", 1)
    return parts[0], (_unescape(parts[1]) if len(parts) > 1 else None)


def replaced_path(op: dict, allowed) -> str:
    """The path of a patch operation that may only `replace` one of ``allowed`` (named in
    AWS's message in that order); anything else refused in API Gateway's words."""
    kind, path = op.get("op"), op.get("path")
    if kind != "replace":
        raise bad_request(f"Invalid patch path  '{path}' specified for op '{kind}'. "
                          "Please choose supported operations")
    if path not in allowed:
        raise bad_request(f"Invalid patch path  '{path}' specified for op 'replace'. "
                          f"Must be one of: [{', '.join(allowed)}]")
    return path


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


# ---------------------------------------------------------------------------------------
# UpdateResource, DeleteResource
# ---------------------------------------------------------------------------------------
def update_resource(api: Any, resource: Any, operations: list[dict]) -> dict:
    for op in operations:
        path = replaced_path(op, ("/parentId", "/pathPart"))
        if not resource.parent_id:
            raise bad_request(f"Root resource cannot update its {path[1:]}.")
    parent_id, path_part = resource.parent_id, resource.path_part
    for op in operations:
        if op["path"] == "/parentId":
            parent_id = op.get("value")
            if parent_id not in api.resources:
                raise not_found("Invalid Resource identifier specified")
            node = api.resources[parent_id]
            while node is not None:
                if node.id == resource.id:
                    raise bad_request("Resources cannot be cyclical.")
                node = api.resources.get(node.parent_id) if node.parent_id else None
        else:
            path_part = op.get("value")
    for other in api.resources.values():
        if other.id != resource.id and other.parent_id == parent_id and \
                other.path_part == path_part:
            raise ApiError(409, "ConflictException",
                           f"Another resource with the same parent already has this name: "
                           f"{path_part}")
    resource.parent_id, resource.path_part = parent_id, path_part
    return resource.to_dict()


def descendants(api: Any, resource_id: str) -> list[str]:
    out, todo = [], [resource_id]
    while todo:
        current = todo.pop()
        for other in list(api.resources.values()):
            if other.parent_id == current:
                out.append(other.id)
                todo.append(other.id)
    return out


# ---------------------------------------------------------------------------------------
# Maps patched by add/replace/remove /<member>/<key>
# ---------------------------------------------------------------------------------------
def _map_op(obj: Any, attr: str, kind: str, key: str, value: Any, missing: str,
            convert: Any = None) -> None:
    current = dict(getattr(obj, attr, None) or {})
    if kind in ("add", "replace"):
        if kind == "replace" and key not in current:
            raise not_found(missing)
        current[key] = convert(value) if convert else value
    elif kind == "remove":
        if key not in current:
            raise not_found(missing)
        current.pop(key)
    else:
        raise bad_request("Invalid patch operation specified. Must be 'add'|'remove'|'replace'")
    setattr(obj, attr, current)


def update_method_response(response: Any, operations: list[dict]) -> dict:
    for op in operations:
        kind, (member, key) = op.get("op"), _split(op.get("path"))
        if member == "responseParameters" and key:
            _map_op(response, "response_parameters", kind, key, op.get("value"),
                    "Invalid parameter name specified", _bool)
        elif member == "responseModels" and key:
            _map_op(response, "response_models", kind, key, op.get("value"),
                    "Content-Type specified was not found")
        else:
            raise bad_request(f"Invalid patch path {op.get('path')}")
    return _method_response_dict(response)


def _method_response_dict(response: Any) -> dict:
    doc = {"statusCode": str(response.status_code)}
    if response.response_models:
        doc["responseModels"] = dict(response.response_models)
    if response.response_parameters:
        doc["responseParameters"] = dict(response.response_parameters)
    return doc


def update_integration_response(response: Any, operations: list[dict]) -> dict:
    for op in operations:
        kind, (member, key) = op.get("op"), _split(op.get("path"))
        if member == "responseTemplates" and key:
            _map_op(response, "response_templates", kind, key, op.get("value"),
                    "Content-Type specified was not found")
        elif member == "responseParameters" and key:
            _map_op(response, "response_parameters", kind, key, op.get("value"),
                    "Invalid parameter name specified")
        elif member in ("selectionPattern", "contentHandling") and key is None and \
                kind == "replace":
            setattr(response, "selection_pattern" if member == "selectionPattern"
                    else "content_handling", op.get("value"))
        else:
            raise bad_request(f"Invalid patch path {op.get('path')}")
    return response.to_json()


_INTEGRATION_SCALARS = {
    "uri": "uri", "httpMethod": "http_method", "type": "integration_type",
    "connectionId": "localcloud_connection_id", "connectionType": "connection_type",
    "credentials": "credentials", "passthroughBehavior": "passthrough_behaviour",
    "timeoutInMillis": "timeout_in_millis", "contentHandling": "content_handling",
    "cacheNamespace": "cache_namespace",
}


def update_integration(integration: Any, operations: list[dict]) -> dict:
    for op in operations:
        kind, (member, key) = op.get("op"), _split(op.get("path"))
        if member in ("requestTemplates", "requestParameters") and key:
            attr = "request_templates" if member == "requestTemplates" else "request_parameters"
            _map_op(integration, attr, kind, key, op.get("value"),
                    "Content-Type specified was not found" if member == "requestTemplates"
                    else "Invalid parameter name specified")
        elif member in _INTEGRATION_SCALARS and key is None and kind == "replace":
            value = op.get("value")
            if member == "timeoutInMillis":
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise bad_request(f"Invalid timeout value {value}") from None
            setattr(integration, _INTEGRATION_SCALARS[member], value)
        else:
            raise bad_request(f"Invalid patch path {op.get('path')}")
    return integration.to_json()


_METHOD_SCALARS = {"authorizationType": "authorization_type", "authorizerId": "authorizer_id",
                   "apiKeyRequired": "api_key_required", "operationName": "operation_name",
                   "requestValidatorId": "request_validator_id"}


def update_method(api: Any, method: Any, operations: list[dict]) -> dict:
    for op in operations:
        kind, (member, key) = op.get("op"), _split(op.get("path"))
        value = op.get("value")
        if member in _METHOD_SCALARS and key is None and kind == "replace":
            if member == "apiKeyRequired":
                value = _bool(value)
            if member == "requestValidatorId" and value and \
                    value not in (api.request_validators or {}):
                raise bad_request("Invalid Request Validator identifier specified")
            setattr(method, _METHOD_SCALARS[member], value)
        elif member in _METHOD_SCALARS and key is None:
            raise bad_request(_ONLY_REPLACE)
        elif member == "requestParameters" and key and kind in ("add", "remove", "replace"):
            _map_op(method, "request_parameters", kind, key, value,
                    "Invalid parameter name specified", _bool)
        elif member == "requestModels" and key and \
                "/" not in str(op.get("path")).lstrip("/").partition("/")[2] and \
                kind in ("add", "remove", "replace"):
            if kind != "remove" and value not in (api.models or {}):
                raise bad_request(f"Invalid model identifier specified: {value}")
            _map_op(method, "request_models", kind, key, value,
                    "Content-Type specified was not found")
        else:
            raise bad_request(f"Invalid patch path {op.get('path')}")
    if str(getattr(method, "authorization_type", "") or "").upper() not in (
            "CUSTOM", "COGNITO_USER_POOLS"):
        method.authorizer_id = None  # AWS ignores an authorizer for other types
    return method.to_json()


def update_model(model: Any, operations: list[dict]) -> dict:
    for op in operations:
        path = replaced_path(op, ("/description", "/schema"))
        if path == "/schema":
            model.schema = op.get("value")
        else:
            model.description = op.get("value")
    return model.to_json()


_ACCESS_LOG_PATHS = ("/accessLogSettings/destinationArn", "/accessLogSettings/format")


def update_stage(stage: Any, operations: list[dict]) -> dict:
    """UpdateStage's `/accessLogSettings` paths as AWS answers them (recorded answers): `add`
    or `replace` of `/destinationArn` or `/format` with a value, `remove` of the whole
    `/accessLogSettings` only; the other paths are moto's (`Stage.apply_operations`)."""
    settings = dict(stage.access_log_settings or {})
    rest = []
    for op in operations:
        path, kind = str(op.get("path") or ""), op.get("op")
        if not path.startswith("/accessLogSettings"):
            rest.append(op)
        elif kind == "remove":
            if path != "/accessLogSettings":
                raise bad_request(f"Cannot remove method setting {path[1:]} because there is no "
                                  "method setting for this method ")
            settings = {}
        elif kind in ("add", "replace") and path in _ACCESS_LOG_PATHS:
            if not op.get("value"):
                raise bad_request("Access Log value must not be empty")
            settings[path.rsplit("/", 1)[1]] = op["value"]
        else:
            raise bad_request("Invalid accessLogSettings path. Must be one of : ["
                              + ", ".join(_ACCESS_LOG_PATHS) + "]")
    if rest:
        stage.apply_operations(rest)
    stage.access_log_settings = settings or None
    return stage.to_json()


_VALIDATOR_PATHS = {"/name": "name", "/validateRequestParameters": "validate_request_parameters",
                    "/validateRequestBody": "validate_request_body"}


def update_request_validator(validator: Any, operations: list[dict]) -> dict:
    for op in operations:
        path = replaced_path(op, tuple(_VALIDATOR_PATHS))
        value = op.get("value")
        if path == "/name":
            if not value:
                raise bad_request("Request Validator name cannot be blank")
            validator.name = value
        else:  # a flag replaced without a value is false
            setattr(validator, _VALIDATOR_PATHS[path], _bool(value))
    doc = validator.to_dict()
    for flag in ("validateRequestBody", "validateRequestParameters"):
        doc[flag] = bool(doc.get(flag))
    return doc


_REST_API_SCALARS = {"/name": "name", "/description": "description", "/policy": "policy",
                     "/apiKeySource": "api_key_source", "/version": "version"}
_ONLY_REPLACE = "Invalid patch operation specified. Must be one of: [replace]"


def update_rest_api(api: Any, operations: list[dict]) -> dict:
    """UpdateRestApi with AWS's rules for each path (moto's applies any op anywhere)."""
    media = list(api.binaryMediaTypes or [])
    conf = dict(api.endpoint_configuration or {})
    changes: dict[str, Any] = {}
    for op in operations:
        kind, path, value = op.get("op"), op.get("path") or "", op.get("value")
        member, key = _split(path)
        if path == "/minimumCompressionSize":
            if kind != "replace":
                raise bad_request(_ONLY_REPLACE)
            if value in (None, ""):
                changes["minimum_compression_size"] = None
            else:
                try:
                    size = int(value)
                except (TypeError, ValueError):
                    size = -1
                if not 0 <= size <= 10485760:
                    raise bad_request("Invalid minimum compression size, must be between 0 "
                                      "and 10485760")
                changes["minimum_compression_size"] = size
        elif member == "binaryMediaTypes":
            if key is None:
                raise bad_request(f"Invalid patch path {path}")
            if kind == "add":
                if key not in media:
                    media.append(key)
            elif kind == "remove":
                if key in media:
                    media.remove(key)
            elif kind == "replace":
                if key in media:
                    media.remove(key)
                if value and value not in media:
                    media.append(value)
            else:
                raise bad_request("Invalid patch operation specified. Must be 'add'|'remove'|"
                                  "'replace'")
        elif path == "/endpointConfiguration/ipAddressType":
            if kind != "replace":
                raise bad_request(_ONLY_REPLACE)
            if value not in ("ipv4", "dualstack"):
                raise bad_request("ipAddressType must be either ipv4 or dualstack.")
            if "PRIVATE" in (conf.get("types") or []) and value != "dualstack":
                raise bad_request("Only dualstack ipAddressType is supported for Private APIs.")
            conf["ipAddressType"] = value
        elif path.startswith("/endpointConfiguration/types/"):
            if kind != "replace":
                raise bad_request("Invalid patch operation specified. Must be 'add'|'remove'|"
                                  "'replace'")
            if value not in ("REGIONAL", "EDGE", "PRIVATE"):
                raise bad_request("Invalid EndpointTypes specified. Valid options are "
                                  "REGIONAL,EDGE,PRIVATE")
            conf["types"] = [value]
            if value == "PRIVATE":
                conf["ipAddressType"] = "dualstack"
        elif path == "/disableExecuteApiEndpoint":
            if kind != "replace":
                raise bad_request(_ONLY_REPLACE)
            changes["disableExecuteApiEndpoint"] = _bool(value)
        elif path in _REST_API_SCALARS:
            attr = _REST_API_SCALARS[path]
            if kind == "remove" and path in ("/description", "/policy", "/version"):
                changes[attr] = None
            elif kind == "replace":
                if path == "/apiKeySource" and value not in ("HEADER", "AUTHORIZER"):
                    raise bad_request(f"Invalid apiKeySource {value}. Valid options are "
                                      "HEADER,AUTHORIZER")
                if path == "/name" and not value:
                    raise bad_request("Name cannot be empty")
                changes[attr] = value
            else:
                raise bad_request(f"Invalid patch path {path}")
        else:
            raise bad_request(f"Invalid patch path {path}")
    for attr, value in changes.items():
        setattr(api, attr, value)
    api.binaryMediaTypes = media
    api.endpoint_configuration = conf
    doc = api.to_dict()
    doc.setdefault("tags", {})  # AWS's UpdateRestApi answer carries them, even none
    return doc


def update_vpc_link(link: Any, operations: list[dict]) -> dict:
    for op in operations:
        kind, path = op.get("op"), op.get("path")
        if kind != "replace" or path not in ("/name", "/description"):
            raise bad_request(f"Invalid patch path {path}")
        setattr(link, path[1:], op.get("value"))
    return link.to_json()


# ---------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------
def _get(mapping: Any, key: str) -> Any:
    return (mapping or {}).get(key)


def serve(backend: Any, verb: str, segs: list[str], body: bytes) -> tuple[int, Any] | None:
    """(status, document) for a call served here; None for moto to serve (also whatever the
    existence check did not vouch for: moto answers that as not found)."""
    n = len(segs)
    if n < 2 or segs[0] not in ("restapis", "vpclinks"):
        return None
    if verb == "DELETE" and n == 4 and segs[0] == "restapis" and segs[2] == "resources":
        api = _get(backend.apis, segs[1])
        if api is not None and segs[3] in api.resources:
            for rid in descendants(api, segs[3]):
                api.resources.pop(rid, None)
        return None  # moto deletes the resource itself
    if verb != "PATCH":
        return None
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return None
    operations = (doc.get("patchOperations") or []) if isinstance(doc, dict) else []
    if not isinstance(operations, list) or not all(
            isinstance(op, dict) and all(isinstance(op.get(k), (str, type(None)))
                                         for k in ("op", "path", "from"))
            for op in operations):
        raise ApiError(400, "SerializationException",
                       "patchOperations must be a list of PatchOperation objects")
    if segs[0] == "vpclinks":
        link = _get(backend.vpc_links, segs[1]) if n == 2 else None
        return (200, update_vpc_link(link, operations)) if link is not None else None
    api = _get(backend.apis, segs[1])
    if api is None:
        return None
    if n == 2:
        return 200, update_rest_api(api, operations)
    if n != 4 and not (n >= 6 and segs[2] == "resources"):
        return None
    if segs[2] == "stages":
        stage = _get(api.stages, segs[3])
        if stage is None or not any(str(op.get("path") or "").startswith("/accessLogSettings")
                                    for op in operations):
            return None  # moto serves the other stage paths
        return 200, update_stage(stage, operations)
    if segs[2] == "requestvalidators":
        validator = _get(api.request_validators, segs[3])
        return (200, update_request_validator(validator, operations)) if validator else None
    if segs[2] == "models":
        model = _get(api.models, segs[3])
        return (200, update_model(model, operations)) if model else None
    if segs[2] != "resources":
        return None
    resource = _get(api.resources, segs[3])
    if resource is None:
        return None
    if n == 4:
        return 200, update_resource(api, resource, operations)
    method = _get(resource.resource_methods, segs[5]) if segs[4] == "methods" else None
    if method is None:
        return None
    if n == 6:
        return 200, update_method(api, method, operations)
    if n == 8 and segs[6] == "responses":
        response = _get(method.method_responses, segs[7])
        return (200, update_method_response(response, operations)) if response else None
    integration = method.method_integration if segs[6] == "integration" else None
    if integration is None:
        return None
    if n == 7:
        return 200, update_integration(integration, operations)
    if n == 9 and segs[7] == "responses":
        response = _get(integration.integration_responses, segs[8])
        return (200, update_integration_response(response, operations)) if response else None
    return None
