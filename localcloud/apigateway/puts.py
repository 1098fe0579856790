"""Creates and puts of API Gateway's control plane refused as AWS refuses them (moto accepts
all of these). Each rule is a recorded AWS answer (LocalStack's AWS-validated
`test_apigateway_api.py` / `test_apigateway_lambda.py` snapshots), checked after the
request's validation and the existence checks (`control.missing`), all 400
`BadRequestException` unless named:

| call | AWS refuses | with |
|---|---|---|
| CreateResource | a child of a greedy resource (`{proxy+}`) | `Cannot create a child of a resource with a greedy path variable: {proxy+}` |
| CreateResource | a variable path part beside a variable sibling | `A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed` |
| PutMethod | a verb outside GET..ANY | `Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY` |
| PutMethod | a `requestParameters` key not `method.request.{querystring,header,path,multivaluequerystring,multivalueheader}.<name>` | `Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression specified: <key>]` |
| PutMethod | one parameter name in two places | `Parameter names must be unique across querystring, header and path` |
| PutMethod, UpdateMethod | authorization CUSTOM / COGNITO_USER_POOLS without an existing authorizer | `Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.` |
| PutMethod, UpdateMethod | a request validator that does not exist | `Invalid Request Validator identifier specified` |
| PutMethod | a request model that does not exist | `Invalid model identifier specified: <name>` |
| PutIntegration (AWS, AWS_PROXY) | a `uri` that is no ARN | `Invalid ARN specified in the request` |
| PutIntegration (AWS, AWS_PROXY) | an ARN without `path/` or `action/` | `AWS ARN for integration must contain path or action` |
| PutIntegration (AWS_PROXY) | anything but a Lambda function's invocations path | `Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.` |
| PutIntegrationResponse | a `responseTemplates` key that is no content type | `Validation Result: warnings : [], errors : [Invalid content type specified: <key>]` |
| CreateModel | an empty name | `Model name must be non-empty` |
| CreateModel | a name the API has | 409 `ConflictException` `Model name already exists for this REST API` |
| CreateModel, UpdateModel `/schema` | no schema, or an empty one | `Model schema must have at least 1 property or array items defined` |
| DeleteModel | a model a method's requestModels names | 409 `ConflictException` `Cannot delete model '<name>', is referenced in method request: <path>/<verb>` |
| CreateVpcLink | an empty name | `Name cannot be empty` |
| CreateVpcLink | a target that is no ARN | `Invalid ARN. ARN is not well formed <arn>` |
"""
from __future__ import annotations

import json
import re
from typing import Any

from .updates import ApiError, bad_request

HTTP_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "ANY")
_PARAM = re.compile(
    r"method\.request\.(querystring|header|path|multivaluequerystring|multivalueheader)\.(.+)")
_CONTENT_TYPE = re.compile(r"[\w.+*-]+/[\w.+*-]+(\s*;.*)?")
_LAMBDA_PATH = re.compile(r"path/[^/]+/functions/.+/invocations")
AUTHORIZER = ("Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
              "COGNITO_USER_POOLS requires a valid authorizer.")
VALIDATOR = "Invalid Request Validator identifier specified"
EMPTY_SCHEMA = "Model schema must have at least 1 property or array items defined"


def _doc(body: bytes) -> dict:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def check(backend: Any, verb: str, segs: list[str], body: bytes) -> None:
    """Raise ApiError as AWS refuses this create/put (the things it names exist)."""
    n = len(segs)
    if segs[:1] == ["vpclinks"] and n == 1 and verb == "POST":
        _vpc_link(_doc(body))
        return
    if segs[:1] != ["restapis"] or n < 3:
        return
    api = backend.apis.get(segs[1])
    if api is None:
        return
    if n == 4 and segs[2] == "resources" and verb == "POST":
        _resource(api, segs[3], _doc(body))
    elif n == 6 and segs[2] == "resources" and segs[4] == "methods" and verb == "PUT":
        _method(api, segs[5], _doc(body))
    elif n == 6 and segs[2] == "resources" and segs[4] == "methods" and verb == "PATCH":
        _method_update(api, api.resources[segs[3]].resource_methods[segs[5]], _doc(body))
    elif n == 7 and segs[6] == "integration" and verb == "PUT":
        _integration(_doc(body), backend.account_id)
    elif n == 9 and segs[6] == "integration" and segs[7] == "responses" and verb == "PUT":
        _integration_response(_doc(body))
    elif n == 3 and segs[2] == "models" and verb == "POST":
        _model(api, _doc(body))
    elif n == 4 and segs[2] == "models" and verb == "PATCH":
        for op in _doc(body).get("patchOperations") or []:
            if isinstance(op, dict) and op.get("path") == "/schema" and \
                    op.get("op") == "replace" and not _has_shape(op.get("value")):
                raise bad_request(EMPTY_SCHEMA)
    elif n == 4 and segs[2] == "models" and verb == "DELETE":
        _model_in_use(api, segs[3])


def _resource(api: Any, parent_id: str, doc: dict) -> None:
    parent = api.resources[parent_id]
    part = str(doc.get("pathPart") or "")
    parent_part = str(getattr(parent, "path_part", "") or "")
    if parent_part.startswith("{") and parent_part.endswith("+}"):
        raise bad_request("Cannot create a child of a resource with a greedy path variable: "
                          f"{parent_part}")
    if part.startswith("{") and part.endswith("}"):
        for sibling in list(api.resources.values()):
            sp = str(getattr(sibling, "path_part", "") or "")
            if sibling.parent_id == parent_id and sp.startswith("{") and sp != part:
                raise bad_request(f"A sibling ({sp}) of this resource already has a variable "
                                  "path part -- only one is allowed")


def _method(api: Any, verb: str, doc: dict) -> None:
    if verb not in HTTP_METHODS:
        raise bad_request("Invalid HttpMethod specified. Valid options are "
                          + ",".join(HTTP_METHODS))
    params = doc.get("requestParameters")
    if isinstance(params, dict):
        names: dict[str, str] = {}
        for key in params:
            m = _PARAM.fullmatch(str(key))
            if m is None:
                raise bad_request("Invalid mapping expression specified: Validation Result: "
                                  f"warnings : [], errors : [Invalid mapping expression "
                                  f"specified: {key}]")
            where = m.group(1).replace("multivalue", "")
            if names.setdefault(m.group(2), where) != where:
                raise bad_request("Parameter names must be unique across querystring, header "
                                  "and path")
    _authorizer(api, doc.get("authorizationType"), doc.get("authorizerId"))
    validator = doc.get("requestValidatorId")
    if validator and validator not in (api.request_validators or {}):
        raise bad_request(VALIDATOR)
    models = doc.get("requestModels")
    if isinstance(models, dict):
        for name in models.values():
            if name not in (api.models or {}):
                raise bad_request(f"Invalid model identifier specified: {name}")


def _authorizer(api: Any, kind: Any, authorizer_id: Any) -> None:
    if str(kind or "").upper() in ("CUSTOM", "COGNITO_USER_POOLS") and \
            (not authorizer_id or authorizer_id not in (api.authorizers or {})):
        raise bad_request(AUTHORIZER)


def _method_update(api: Any, method: Any, doc: dict) -> None:
    """UpdateMethod's authorizer and validator as the method will be after the patch."""
    kind = getattr(method, "authorization_type", None)
    authorizer = getattr(method, "authorizer_id", None)
    touched = False
    for op in doc.get("patchOperations") or []:
        if not isinstance(op, dict) or op.get("op") != "replace":
            continue
        if op.get("path") == "/authorizationType":
            kind, touched = op.get("value"), True
        elif op.get("path") == "/authorizerId":
            authorizer, touched = op.get("value"), True
        elif op.get("path") == "/requestValidatorId" and op.get("value") and \
                op.get("value") not in (api.request_validators or {}):
            raise bad_request(VALIDATOR)
    if touched:
        _authorizer(api, kind, authorizer)


def _integration(doc: dict, account: str = "") -> None:
    kind = str(doc.get("type") or "").upper()
    uri = doc.get("uri")
    role = doc.get("credentials")
    if isinstance(role, str) and role.startswith("arn:") and len(role.split(":")) > 4 and \
            account and role.split(":")[4] not in (account, "*"):
        return  # moto refuses a cross-account role first ("Cross-account pass role is not allowed.")
    # integrationHttpMethod travels as `httpMethod` in the body (the model's locationName);
    # without it moto refuses the call first (`Enumeration value ...`)
    if kind not in ("AWS", "AWS_PROXY") or not isinstance(uri, str) or not uri or \
            not (doc.get("httpMethod") or doc.get("integrationHttpMethod")):
        return
    parts = uri.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise bad_request("Invalid ARN specified in the request")
    resource = parts[5]
    if parts[2] != "apigateway" or not resource.startswith(("path/", "action/")):
        raise bad_request("AWS ARN for integration must contain path or action")
    if kind == "AWS_PROXY" and not (parts[4] == "lambda" and _LAMBDA_PATH.fullmatch(resource)):
        raise bad_request("Integrations of type 'AWS_PROXY' currently only supports Lambda "
                          "function and Firehose stream invocations.")


def _integration_response(doc: dict) -> None:
    templates = doc.get("responseTemplates")
    if isinstance(templates, dict):
        for key in templates:
            if not _CONTENT_TYPE.fullmatch(str(key)):
                raise bad_request("Validation Result: warnings : [], errors : [Invalid content "
                                  f"type specified: {key}]")


def _has_shape(schema: Any) -> bool:
    """AWS refuses a model with no schema or an empty one (`""`), with that message; a
    schema such as `{"type": "object"}` it takes (recorded answers)."""
    return isinstance(schema, str) and bool(schema.strip())


def _model(api: Any, doc: dict) -> None:
    name = doc.get("name")
    if name == "" or name is None:
        raise bad_request("Model name must be non-empty")
    if name in (api.models or {}):
        raise ApiError(409, "ConflictException", "Model name already exists for this REST API")
    if not _has_shape(doc.get("schema")):
        raise bad_request(EMPTY_SCHEMA)


def _model_in_use(api: Any, name: str) -> None:
    """The last method (in resource order) whose request models name it, as AWS names it
    (`//ANY` for the root resource's ANY, `/test/ANY` below it)."""
    where = None
    for resource in list(api.resources.values()):
        for verb, method in list((resource.resource_methods or {}).items()):
            if name in (getattr(method, "request_models", None) or {}).values():
                where = f"{resource.get_path()}/{verb}"
    if where is not None:
        raise ApiError(409, "ConflictException",
                       f"Cannot delete model '{name}', is referenced in method request: {where}")


def _vpc_link(doc: dict) -> None:
    if doc.get("name") == "":
        raise bad_request("Name cannot be empty")
    for arn in doc.get("targetArns") or []:
        if not isinstance(arn, str) or not re.fullmatch(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:.+", arn):
            raise bad_request(f"Invalid ARN. ARN is not well formed {arn}")
