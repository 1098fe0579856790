"""API Gateway: the REST API in front of the predict function, its key and usage plan.

``ensure`` (called by ``deploy``'s backend part once the predict function exists) creates,
or finds, in order:

1. the REST API ``S-api`` (found again by name and ``stack`` tag): resource ``predict``,
   ``POST`` with ``apiKeyRequired``, a body request validator and the request model
   ``PredictRequest`` (``model_code.schema.json_schema()``), an ``AWS_PROXY`` integration,
   the ``BAD_REQUEST_BODY`` gateway response that names the validator's reason, a Lambda
   permission scoped to this API's ``POST /predict``, a deployment and the stage
   ``production``;
2. the API key ``S-key`` and the usage plan ``S-plan`` (throttle and quota from the
   settings) bound to the stage, with the key attached.

Every step is idempotent: a re-run reports ``found``; changed throttle/quota are
``updated`` in place; a new deployment is made only when a method changed. ``delete``
removes the usage plans, keys and APIs of the stack (by name and ``stack`` tag) and the
function's API Gateway permission, whatever a partial deploy left.
"""
from __future__ import annotations

import json
from typing import Optional

from botocore.exceptions import ClientError

from .clients import get_or_none, is_not_found
from .functions import ensure_permission, remove_permission
from .report import Report
from .stack import as_stack

MODEL_NAME = "PredictRequest"
VALIDATOR_NAME = "body"
HTTP_METHOD = "POST"
PERMISSION_SID = "apigateway-invoke-predict"

# --------------------------------------------------------------------------- URLs and ARNs


def invoke_url(settings, api_id: str, stage: str = "production", resource: str = "predict") -> str:
    """The full URL a client POSTs to (the local cloud's form on the local target)."""
    if settings.is_local:
        return f"{settings.endpoint_url}/restapis/{api_id}/{stage}/_user_request_/{resource}"
    # China's regions answer under amazonaws.com.cn.
    domain = "amazonaws.com.cn" if settings.region.startswith("cn-") else "amazonaws.com"
    return f"https://{api_id}.execute-api.{settings.region}.{domain}/{stage}/{resource}"


def integration_uri(names, function_arn: str) -> str:
    return (f"arn:{names.partition}:apigateway:{names.region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations")


def source_arn(names, api_id: str) -> str:
    """Only this API's ``POST /predict`` (any stage) may invoke the function."""
    return (f"arn:{names.partition}:execute-api:{names.region}:{names.account_id}:"
            f"{api_id}/*/{HTTP_METHOD}/{names.api_resource}")


def _num(value) -> str:
    """A number as API Gateway's patch operations want it (``10``, not ``10.0``)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------- the REST API


def _ours(item: dict, name: str, names) -> bool:
    """Ours: tagged with this stack under its name prefix, or our exact name with no stack tag
    (never something tagged for another stack, whatever its name)."""
    tag = (item.get("tags") or {}).get("stack")
    if tag is not None:
        return tag == names.stack and item.get("name", "").startswith(names.stack + "-")
    return item.get("name") == name


def _find_all(stack, operation: str, name: str, **kwargs) -> list:
    """Items of an API Gateway list ``operation`` that are the stack's ``name`` (or tagged as the stack's)."""
    pages = stack.client("apigateway").get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page.get("items", []) if _ours(item, name, stack.names)]


def _find_one(stack, operation: str, name: str, **kwargs) -> Optional[dict]:
    return next((i for i in _find_all(stack, operation, name, **kwargs) if i.get("name") == name), None)


def find_api(stack, names=None) -> Optional[dict]:
    """This stack's REST API ``S-api`` (one tagged for another stack is never ours)."""
    stack = as_stack(stack, names)
    return _find_one(stack, "get_rest_apis", stack.names.api_name)


def _resource_id(apigw, api_id: str, path: str) -> Optional[str]:
    for page in apigw.get_paginator("get_resources").paginate(restApiId=api_id):
        for res in page.get("items", []):
            if res.get("path") == path:
                return res["id"]
    return None


def _ensure_validator(apigw, api_id: str) -> tuple:
    for v in apigw.get_request_validators(restApiId=api_id).get("items", []):
        if v.get("name") == VALIDATOR_NAME:
            if v.get("validateRequestBody") and not v.get("validateRequestParameters"):
                return v["id"], False
            apigw.update_request_validator(restApiId=api_id, requestValidatorId=v["id"], patchOperations=[
                {"op": "replace", "path": "/validateRequestBody", "value": "true"},
                {"op": "replace", "path": "/validateRequestParameters", "value": "false"}])
            return v["id"], True
    made = apigw.create_request_validator(restApiId=api_id, name=VALIDATOR_NAME,
                                          validateRequestBody=True, validateRequestParameters=False)
    return made["id"], True


def _get_method(apigw, api_id: str, resource_id: str) -> Optional[dict]:
    return get_or_none(apigw.get_method, restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)


def ensure_api(stack, function_arn: str) -> list:
    """The REST API and everything in it up to the stage. Returns reports; the API's is first."""
    from .datasets import spec_of

    settings, names = stack.settings, stack.names
    apigw = stack.client("apigateway")
    reports = []
    api = find_api(stack)
    if api is None:
        api = apigw.create_rest_api(name=names.api_name, description=f"{names.stack}: model predictions",
                                    endpointConfiguration={"types": ["REGIONAL"]}, apiKeySource="HEADER",
                                    tags=names.tags)
        reports.append(Report("created", "rest api", names.api_name, api["id"], {"api_id": api["id"]}))
    else:
        reports.append(Report("found", "rest api", names.api_name, api["id"], {"api_id": api["id"]}))
    api_id = api["id"]
    changes = []  # what changed in the API's methods: a new deployment is needed

    root_id = _resource_id(apigw, api_id, "/")
    path = "/" + names.api_resource
    resource_id = _resource_id(apigw, api_id, path)
    if resource_id is None:
        resource_id = apigw.create_resource(restApiId=api_id, parentId=root_id,
                                            pathPart=names.api_resource)["id"]
        changes.append("resource")

    validator_id, changed = _ensure_validator(apigw, api_id)
    if changed:
        changes.append("validator")

    schema = spec_of(settings).json_schema(settings.max_rows)  # from the dataset file
    method = _get_method(apigw, api_id, resource_id)
    current = get_or_none(apigw.get_model, restApiId=api_id, modelName=MODEL_NAME)
    if current is not None and json.loads(current.get("schema") or "null") != schema:
        # A method's model cannot be replaced while in use: drop the method, then the model.
        if method is not None:
            apigw.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)
            method = None
        apigw.delete_model(restApiId=api_id, modelName=MODEL_NAME)
        current = None
    if current is None:
        apigw.create_model(restApiId=api_id, name=MODEL_NAME, contentType="application/json",
                           description="The predict request body (model_code.schema.json_schema())",
                           schema=json.dumps(schema))
        changes.append("request model")

    wanted_models = {"application/json": MODEL_NAME}
    if method is not None and not (
        method.get("apiKeyRequired") is True
        and method.get("requestValidatorId") == validator_id
        and (method.get("requestModels") or {}) == wanted_models
        and method.get("authorizationType", "NONE") == "NONE"
    ):
        apigw.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)
        method = None
    if method is None:
        apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                         authorizationType="NONE", apiKeyRequired=True,
                         requestValidatorId=validator_id, requestModels=wanted_models)
        changes.append("method")
        integration = None
    else:
        integration = method.get("methodIntegration")
    uri = integration_uri(names, function_arn)
    if not integration or integration.get("type") != "AWS_PROXY" or integration.get("uri") != uri:
        apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                              type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
        changes.append("integration")
    if changes and reports[0].action == "found":
        reports.append(Report("updated", "api method", f"{names.api_name} {HTTP_METHOD} {path}",
                              details={"changes": changes}))

    if _ensure_bad_body_response(apigw, api_id):
        changes.append("bad-body response")
    reports.append(ensure_permission(stack, names.predict_function, PERMISSION_SID, "apigateway.amazonaws.com",
                                     source_arn(names, api_id)))
    reports.append(_ensure_stage(apigw, names, api_id, redeploy=bool(changes)))
    return reports


# API Gateway's own 400 for a body the request model rejects says only "Invalid request
# body"; this template adds the validator's reason (e.g. which property is missing).
BAD_BODY_TEMPLATE = '{"message": "Invalid request body: $context.error.validationErrorString"}'


def _ensure_bad_body_response(apigw, api_id: str) -> bool:
    templates = {"application/json": BAD_BODY_TEMPLATE}
    got = get_or_none(apigw.get_gateway_response, restApiId=api_id, responseType="BAD_REQUEST_BODY")
    if got and (got.get("responseTemplates") or {}) == templates and str(got.get("statusCode")) == "400":
        return False
    apigw.put_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY", statusCode="400",
                               responseTemplates=templates)
    return True


def _ensure_stage(apigw, names, api_id: str, redeploy: bool) -> Report:
    stage_name = names.api_stage
    stage = get_or_none(apigw.get_stage, restApiId=api_id, stageName=stage_name)
    if stage is not None and not redeploy:
        return Report("found", "api stage", f"{names.api_name}/{stage_name}",
                      details={"deployment": stage.get("deploymentId")})
    deployment = apigw.create_deployment(restApiId=api_id, description="mlpipe deploy --part backend")
    if stage is None:
        apigw.create_stage(restApiId=api_id, stageName=stage_name, deploymentId=deployment["id"],
                           tags=names.tags)
        return Report("created", "api stage", f"{names.api_name}/{stage_name}", details={"deployment": deployment["id"]})
    apigw.update_stage(restApiId=api_id, stageName=stage_name, patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": deployment["id"]}])
    return Report("updated", "api stage", f"{names.api_name}/{stage_name}",
                  details={"deployment": deployment["id"], "changes": ["new deployment"]})


# --------------------------------------------------------------------------- key and usage plan


def find_api_key(stack, names=None, include_value: bool = False) -> Optional[dict]:
    stack = as_stack(stack, names)
    return _find_one(stack, "get_api_keys", stack.names.api_key_name,
                     nameQuery=stack.names.api_key_name, includeValues=include_value)


def api_key_value(stack, names=None) -> Optional[str]:
    """The API key's value (what a client sends as ``x-api-key``), or None before deploy."""
    key = find_api_key(as_stack(stack, names), include_value=True)
    return key.get("value") if key else None


def find_usage_plan(stack, names=None) -> Optional[dict]:
    stack = as_stack(stack, names)
    return _find_one(stack, "get_usage_plans", stack.names.usage_plan)


def ensure_key_and_plan(stack, api_id: str) -> list:
    settings, names = stack.settings, stack.names
    apigw = stack.client("apigateway")
    reports = []
    key = find_api_key(stack)
    if key is None:
        key = apigw.create_api_key(name=names.api_key_name, enabled=True, tags=names.tags,
                                   description=f"{names.stack}: predict API clients")
        reports.append(Report("created", "api key", names.api_key_name, key["id"]))
    elif not key.get("enabled"):
        apigw.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}])
        reports.append(Report("updated", "api key", names.api_key_name, key["id"], {"changes": ["enabled"]}))
    else:
        reports.append(Report("found", "api key", names.api_key_name, key["id"]))

    throttle = {"rateLimit": float(settings.throttle_rate_limit), "burstLimit": int(settings.throttle_burst_limit)}
    quota = {"limit": int(settings.quota_limit), "period": settings.quota_period}
    stage = {"apiId": api_id, "stage": names.api_stage}
    plan = find_usage_plan(stack)
    if plan is None:
        plan = apigw.create_usage_plan(name=names.usage_plan, description=f"{names.stack}: predict API limits",
                                       apiStages=[stage], throttle=throttle, quota=quota, tags=names.tags)
        reports.append(Report("created", "usage plan", names.usage_plan, plan["id"],
                              {"throttle": throttle, "quota": quota}))
    else:
        ops, changes = [], []
        got_t, got_q = plan.get("throttle") or {}, plan.get("quota") or {}
        if float(got_t.get("rateLimit", -1)) != throttle["rateLimit"]:
            ops.append({"op": "replace", "path": "/throttle/rateLimit", "value": _num(throttle["rateLimit"])})
        if int(float(got_t.get("burstLimit", -1))) != throttle["burstLimit"]:
            ops.append({"op": "replace", "path": "/throttle/burstLimit", "value": str(throttle["burstLimit"])})
        if ops:
            changes.append("throttle")
        n = len(ops)
        if int(float(got_q.get("limit", -1))) != quota["limit"]:
            ops.append({"op": "replace", "path": "/quota/limit", "value": str(quota["limit"])})
        if got_q.get("period") != quota["period"]:
            ops.append({"op": "replace", "path": "/quota/period", "value": quota["period"]})
        if len(ops) > n:
            changes.append("quota")
        stages = plan.get("apiStages") or []
        for other in stages:  # stages of an API this stack no longer has (deleted, re-created)
            if other.get("apiId") != api_id and other.get("stage") == names.api_stage and not _api_exists(apigw, other["apiId"]):
                ops.append({"op": "remove", "path": "/apiStages", "value": f"{other['apiId']}:{other['stage']}"})
                changes.append("stale stage")
        if not any(s.get("apiId") == api_id and s.get("stage") == names.api_stage for s in stages):
            ops.append({"op": "add", "path": "/apiStages", "value": f"{api_id}:{names.api_stage}"})
            changes.append("stage")
        if ops:
            apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=ops)
        reports.append(Report("updated" if ops else "found", "usage plan", names.usage_plan, plan["id"],
                              {"changes": changes, "throttle": throttle, "quota": quota}))

    attached = {k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"]).get("items", [])}
    if key["id"] not in attached:
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        reports.append(Report("created", "usage plan key", f"{names.usage_plan} <- {names.api_key_name}"))
    else:
        reports.append(Report("found", "usage plan key", f"{names.usage_plan} <- {names.api_key_name}"))
    return reports


def _api_exists(apigw, api_id: str) -> bool:
    return get_or_none(apigw.get_rest_api, restApiId=api_id) is not None


# --------------------------------------------------------------------------- the whole API


def ensure(stack, function_arn: str) -> list:
    """The REST API up to its stage, then the key and the usage plan (reports; the API's first)."""
    api_reports = ensure_api(stack, function_arn)
    return api_reports + ensure_key_and_plan(stack, api_reports[0].arn)


def backend_outputs(stack, names=None) -> dict:
    """``api_id``, ``api_url`` and ``api_key`` for ``mlpipe outputs`` (None before deploy)."""
    stack = as_stack(stack, names)
    api = find_api(stack)
    if api is None:
        return {"api_id": None, "api_url": None, "api_key": None}
    return {
        "api_id": api["id"],
        "api_url": invoke_url(stack.settings, api["id"], stack.names.api_stage, stack.names.api_resource),
        "api_key": api_key_value(stack),
    }


def plan(stack) -> list:
    names = stack.names
    return [
        Report("found" if find_api(stack) else "planned", "rest api", names.api_name),
        Report("found" if find_api_key(stack) else "planned", "api key", names.api_key_name),
        Report("found" if find_usage_plan(stack) else "planned", "usage plan", names.usage_plan),
    ]


def find(stack) -> list:
    """(kind, id, name) of this stack's usage plans, API keys and REST APIs (by name and tag)."""
    names = stack.names
    return ([("usage plan", p["id"], p["name"]) for p in _find_all(stack, "get_usage_plans", names.usage_plan)]
            + [("api key", k["id"], k["name"]) for k in _find_all(stack, "get_api_keys", names.api_key_name)]
            + [("rest api", a["id"], a["name"]) for a in _find_all(stack, "get_rest_apis", names.api_name)])


def leftovers(stack) -> list:
    return [f"{kind} {name}" for kind, _id, name in find(stack)]


def delete(stack, names=None) -> list:
    """Usage plans (stages detached first: a plan with stages cannot be deleted), API keys,
    REST APIs, and the predict function's API Gateway permission."""
    stack = as_stack(stack, names)
    apigw = stack.client("apigateway")
    reports = []
    for kind, rid, name in find(stack):
        try:
            if kind == "usage plan":
                plan_ = apigw.get_usage_plan(usagePlanId=rid)
                for st in plan_.get("apiStages") or []:
                    apigw.update_usage_plan(usagePlanId=rid, patchOperations=[
                        {"op": "remove", "path": "/apiStages", "value": f"{st['apiId']}:{st['stage']}"}])
                apigw.delete_usage_plan(usagePlanId=rid)
            elif kind == "api key":
                apigw.delete_api_key(apiKey=rid)
            else:
                apigw.delete_rest_api(restApiId=rid)
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            continue
        reports.append(Report("deleted", kind, name, rid, {"id": rid}))
    if not reports:
        reports.append(Report("absent", "rest api", stack.names.api_name))
    reports.append(remove_permission(stack, stack.names.predict_function, PERMISSION_SID))
    return reports

