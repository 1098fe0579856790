"""API Gateway: the REST API in front of the predict function, its key and usage plan.

``ensure`` (called by ``deploy``'s backend part once the predict function exists) creates,
or finds, in order:

1. the REST API ``S-api`` (found again by name and ``stack`` tag): resource ``predict``,
   ``POST`` with ``apiKeyRequired``, a body request validator and the request model
   ``PredictRequest`` (the dataset file's ``json_schema()``), an ``AWS_PROXY`` integration,
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


def find_api(stack) -> Optional[dict]:
    """This stack's REST API ``S-api`` (one tagged for another stack is never ours)."""
    return _find_one(stack, "get_rest_apis", stack.names.api_name)


def resource_id(stack, api_id: str, path: str) -> Optional[str]:
    """The id of the API's resource at ``path`` (``/`` is the root), or None."""
    for page in stack.client("apigateway").get_paginator("get_resources").paginate(restApiId=api_id):
        for res in page.get("items", []):
            if res.get("path") == path:
                return res["id"]
    return None


def ensure_validator(stack, api_id: str) -> tuple:
    """The request validator ``body`` (checks the body, not the parameters): ``(id, changed)``."""
    apigw = stack.client("apigateway")
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


def get_method(stack, api_id: str, resource_id: str) -> Optional[dict]:
    """The resource's POST method as API Gateway holds it, or None."""
    return get_or_none(stack.client("apigateway").get_method, restApiId=api_id, resourceId=resource_id,
                       httpMethod=HTTP_METHOD)


def ensure_rest_api(stack) -> Report:
    """The REST API (regional, keys from the header), found by name and tag or created."""
    names = stack.names
    api = find_api(stack)
    if api is not None:
        return Report("found", "rest api", names.api_name, api["id"], {"api_id": api["id"]})
    api = stack.client("apigateway").create_rest_api(
        name=names.api_name, description=f"{names.stack}: model predictions",
        endpointConfiguration={"types": ["REGIONAL"]}, apiKeySource="HEADER", tags=names.tags)
    return Report("created", "rest api", names.api_name, api["id"], {"api_id": api["id"]})


def ensure_resource(stack, api_id: str, path_part: str) -> tuple:
    """The resource ``/<path_part>`` under the root: ``(resource_id, created)``."""
    found = resource_id(stack, api_id, "/" + path_part)
    if found is not None:
        return found, False
    root_id = resource_id(stack, api_id, "/")
    made = stack.client("apigateway").create_resource(restApiId=api_id, parentId=root_id, pathPart=path_part)
    return made["id"], True


def ensure_request_model(stack, api_id: str, resource_id: str) -> tuple:
    """The request model (the dataset file's ``json_schema``, ``mlpipe.datasets.spec_of``):
    ``(method, changed)``, where ``method`` is the POST method as found. A changed schema is
    replaced in place (UpdateModel): a model that a method names cannot be deleted (409
    ConflictException), and both /predict and /predict-iam (``mlpipe.access``) name it."""
    from .datasets import spec_of

    apigw = stack.client("apigateway")
    schema = spec_of(stack.settings).json_schema(stack.settings.max_rows)  # from the dataset file
    method = get_method(stack, api_id, resource_id)
    current = get_or_none(apigw.get_model, restApiId=api_id, modelName=MODEL_NAME)
    if current is not None and json.loads(current.get("schema") or "null") != schema:
        apigw.update_model(restApiId=api_id, modelName=MODEL_NAME, patchOperations=[
            {"op": "replace", "path": "/schema", "value": json.dumps(schema)}])
        return method, True
    if current is not None:
        return method, False
    apigw.create_model(restApiId=api_id, name=MODEL_NAME, contentType="application/json",
                       description="The predict request body (generated from the dataset file)",
                       schema=json.dumps(schema))
    return method, True


def ensure_method(stack, api_id: str, resource_id: str, method: Optional[dict], validator_id: str) -> tuple:
    """POST with an API key, the validator and the request model: ``(integration as found or
    None, changed)``."""
    apigw = stack.client("apigateway")
    wanted_models = {"application/json": MODEL_NAME}
    if method is not None and not (
        method.get("apiKeyRequired") is True
        and method.get("requestValidatorId") == validator_id
        and (method.get("requestModels") or {}) == wanted_models
        and method.get("authorizationType", "NONE") == "NONE"
    ):
        apigw.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)
        method = None
    if method is not None:
        return method.get("methodIntegration"), False
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                     authorizationType="NONE", apiKeyRequired=True,
                     requestValidatorId=validator_id, requestModels=wanted_models)
    return None, True


def ensure_integration(stack, api_id: str, resource_id: str, integration: Optional[dict],
                       function_arn: str) -> bool:
    """The Lambda proxy integration of the method; True when it was (re)put."""
    uri = integration_uri(stack.names, function_arn)
    if integration and integration.get("type") == "AWS_PROXY" and integration.get("uri") == uri:
        return False
    stack.client("apigateway").put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                                               type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    return True


def ensure_api(stack, function_arn: str) -> list:
    """The REST API and everything in it up to the stage, one function per API Gateway
    resource. Returns reports; the API's is first."""
    names = stack.names
    api_report = ensure_rest_api(stack)
    reports = [api_report]
    api_id = api_report.arn
    changes = []  # what changed in the API's methods: a new deployment is needed
    resource_id, made = ensure_resource(stack, api_id, names.api_resource)
    if made:
        changes.append("resource")
    validator_id, changed = ensure_validator(stack, api_id)
    if changed:
        changes.append("validator")
    method, made = ensure_request_model(stack, api_id, resource_id)
    if made:
        changes.append("request model")
    integration, made = ensure_method(stack, api_id, resource_id, method, validator_id)
    if made:
        changes.append("method")
    if ensure_integration(stack, api_id, resource_id, integration, function_arn):
        changes.append("integration")
    if changes and api_report.action == "found":
        reports.append(Report("updated", "api method", f"{names.api_name} {HTTP_METHOD} /{names.api_resource}",
                              details={"changes": changes}))
    if ensure_bad_body_response(stack, api_id):
        changes.append("bad-body response")
    reports.append(ensure_permission(stack, names.predict_function, PERMISSION_SID, "apigateway.amazonaws.com",
                                     source_arn(names, api_id)))
    reports.append(ensure_stage(stack, api_id, redeploy=bool(changes)))
    return reports


# API Gateway's own 400 for a body the request model rejects says only "Invalid request
# body"; this template adds the validator's reason (e.g. which property is missing).
BAD_BODY_TEMPLATE = '{"message": "Invalid request body: $context.error.validationErrorString"}'


def ensure_bad_body_response(stack, api_id: str) -> bool:
    """The ``BAD_REQUEST_BODY`` gateway response that names the validator's reason; True when (re)put."""
    apigw = stack.client("apigateway")
    templates = {"application/json": BAD_BODY_TEMPLATE}
    got = get_or_none(apigw.get_gateway_response, restApiId=api_id, responseType="BAD_REQUEST_BODY")
    if got and (got.get("responseTemplates") or {}) == templates and str(got.get("statusCode")) == "400":
        return False
    apigw.put_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY", statusCode="400",
                               responseTemplates=templates)
    return True


def ensure_stage(stack, api_id: str, redeploy: bool) -> Report:
    """The stage ``production``; a new deployment when ``redeploy`` (a method changed)."""
    apigw, names = stack.client("apigateway"), stack.names
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


def find_api_key(stack, include_value: bool = False) -> Optional[dict]:
    return _find_one(stack, "get_api_keys", stack.names.api_key_name,
                     nameQuery=stack.names.api_key_name, includeValues=include_value)


def api_key_value(stack) -> Optional[str]:
    """The API key's value (what a client sends as ``x-api-key``), or None before deploy."""
    key = find_api_key(stack, include_value=True)
    return key.get("value") if key else None


def find_usage_plan(stack) -> Optional[dict]:
    return _find_one(stack, "get_usage_plans", stack.names.usage_plan)


def ensure_api_key(stack) -> Report:
    """The API key ``S-key`` (enabled); ``arn`` is its id."""
    apigw, names = stack.client("apigateway"), stack.names
    key = find_api_key(stack)
    if key is None:
        key = apigw.create_api_key(name=names.api_key_name, enabled=True, tags=names.tags,
                                   description=f"{names.stack}: predict API clients")
        return Report("created", "api key", names.api_key_name, key["id"])
    if not key.get("enabled"):
        apigw.update_api_key(apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}])
        return Report("updated", "api key", names.api_key_name, key["id"], {"changes": ["enabled"]})
    return Report("found", "api key", names.api_key_name, key["id"])


def ensure_usage_plan(stack, api_id: str) -> Report:
    """The usage plan ``S-plan`` (throttle and quota from the settings) bound to the API's
    stage; ``arn`` is its id."""
    settings, names = stack.settings, stack.names
    apigw = stack.client("apigateway")
    throttle = {"rateLimit": float(settings.throttle_rate_limit), "burstLimit": int(settings.throttle_burst_limit)}
    quota = {"limit": int(settings.quota_limit), "period": settings.quota_period}
    stage = {"apiId": api_id, "stage": names.api_stage}
    plan = find_usage_plan(stack)
    if plan is None:
        plan = apigw.create_usage_plan(name=names.usage_plan, description=f"{names.stack}: predict API limits",
                                       apiStages=[stage], throttle=throttle, quota=quota, tags=names.tags)
        return Report("created", "usage plan", names.usage_plan, plan["id"], {"throttle": throttle, "quota": quota})
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
    return Report("updated" if ops else "found", "usage plan", names.usage_plan, plan["id"],
                  {"changes": changes, "throttle": throttle, "quota": quota})


def ensure_usage_plan_key(stack, plan_id: str, key_id: str) -> Report:
    """The API key attached to the usage plan."""
    apigw, names = stack.client("apigateway"), stack.names
    name = f"{names.usage_plan} <- {names.api_key_name}"
    attached = {k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan_id).get("items", [])}
    if key_id in attached:
        return Report("found", "usage plan key", name)
    apigw.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType="API_KEY")
    return Report("created", "usage plan key", name)


def _api_exists(apigw, api_id: str) -> bool:
    return get_or_none(apigw.get_rest_api, restApiId=api_id) is not None


# --------------------------------------------------------------------------- the whole API


def ensure(stack, function_arn: str) -> list:
    """The REST API up to its stage, then the key and the usage plan (reports; the API's first).
    ``mlpipe deploy`` runs these as the planner's steps (``mlpipe.planner``)."""
    api_reports = ensure_api(stack, function_arn)
    key = ensure_api_key(stack)
    plan = ensure_usage_plan(stack, api_reports[0].arn)
    return api_reports + [key, plan, ensure_usage_plan_key(stack, plan.arn, key.arn)]


def backend_outputs(stack) -> dict:
    """``api_id``, ``api_url`` and ``api_key`` for ``mlpipe outputs`` (None before deploy)."""
    api = find_api(stack)
    if api is None:
        return {"api_id": None, "api_url": None, "api_key": None}
    return {
        "api_id": api["id"],
        "api_url": invoke_url(stack.settings, api["id"], stack.names.api_stage, stack.names.api_resource),
        "api_key": api_key_value(stack),
    }


def deployed_throttle(stack) -> dict:
    """The usage plan as deployed (not as the settings say): rate, burst, quota, period."""
    plan = find_usage_plan(stack)
    if plan is None:
        raise LookupError(f"no usage plan {stack.names.usage_plan} yet: run notebook 05 first")
    throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
    return {"rate": float(throttle.get("rateLimit") or 0), "burst": int(throttle.get("burstLimit") or 0),
            "quota": quota.get("limit"), "period": quota.get("period")}


def find(stack) -> list:
    """(kind, id, name) of this stack's usage plans, API keys and REST APIs (by name and tag)."""
    names = stack.names
    return ([("usage plan", p["id"], p["name"]) for p in _find_all(stack, "get_usage_plans", names.usage_plan)]
            + [("api key", k["id"], k["name"]) for k in _find_all(stack, "get_api_keys", names.api_key_name)]
            + [("rest api", a["id"], a["name"]) for a in _find_all(stack, "get_rest_apis", names.api_name)])


def leftovers(stack) -> list:
    return [f"{kind} {name}" for kind, _id, name in find(stack)]


def delete(stack) -> list:
    """Usage plans (stages detached first: a plan with stages cannot be deleted), API keys,
    REST APIs, and the predict function's API Gateway permission."""
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

