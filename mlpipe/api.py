"""Part 2, the backend: the predict function and the REST API in front of it.

``ensure_backend`` (``mlpipe deploy --part backend``) creates, or finds, in order:

1. the output bucket (as the foundation makes it; found when Part 1 is deployed), the
   predict role (``mlpipe.iam``) and the two layers (``mlpipe.layers``: the newest
   published versions, built and published first if missing);
2. a served model: when ``models/latest.json`` is absent (Part 1 not deployed or not
   run yet) ``seed_model_if_missing`` trains one with ``model_code`` on the dataset's
   batches, uploads it as the next ``models/vNNN/`` and writes the pointer;
3. the function ``S-predict`` (``lambda_code/predict``, both layers, env
   ``OUTPUT_BUCKET``/``MODEL_REFRESH_SECONDS``/``MAX_ROWS``, 30 s, 1024 MB);
4. the REST API ``S-api`` (found again by name and ``stack`` tag): resource
   ``predict``, ``POST`` with ``apiKeyRequired``, a body request validator and the
   request model ``PredictRequest`` (``model_code.schema.json_schema()``), an
   ``AWS_PROXY`` integration, a Lambda permission scoped to this API's
   ``POST /predict``, a deployment and the stage ``production``;
5. the API key ``S-key`` and the usage plan ``S-plan`` (throttle and quota from the
   settings) bound to the stage, with the key attached.

Every step is idempotent: a re-run reports ``found``; changed throttle/quota are
``updated`` in place; a new deployment is made only when a method changed.
``delete_backend`` removes what ``ensure_backend`` made (layers excepted: see
``mlpipe.layers``), whatever a partial deploy left.
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Optional

from botocore.exceptions import ClientError

from .clients import client
from .config import Settings
from .names import Names
from .report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
PREDICT_SOURCE = REPO_ROOT / "lambda_code" / "predict"
PREDICT_TIMEOUT = 30
PREDICT_MEMORY = 1024
MODEL_NAME = "PredictRequest"
VALIDATOR_NAME = "body"
HTTP_METHOD = "POST"
PERMISSION_SID = "apigateway-invoke-predict"

Progress = Optional[Callable[[str], None]]


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _missing(exc: ClientError) -> bool:
    return _code(exc) in ("NotFoundException", "ResourceNotFoundException", "NoSuchKey", "404", "NotFound")


# --------------------------------------------------------------------------- URLs and ARNs


def invoke_url(settings: Settings, api_id: str, stage: str = "production", resource: str = "predict") -> str:
    """The full URL a client POSTs to (the local cloud's form on the local target)."""
    if settings.is_local:
        return f"{settings.endpoint_url}/restapis/{api_id}/{stage}/_user_request_/{resource}"
    return f"https://{api_id}.execute-api.{settings.region}.amazonaws.com/{stage}/{resource}"


def integration_uri(names: Names, function_arn: str) -> str:
    return (f"arn:{names.partition}:apigateway:{names.region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations")


def source_arn(names: Names, api_id: str) -> str:
    """Only this API's ``POST /predict`` (any stage) may invoke the function."""
    return (f"arn:{names.partition}:execute-api:{names.region}:{names.account_id}:"
            f"{api_id}/*/{HTTP_METHOD}/{names.api_resource}")


def _num(value) -> str:
    """A number as API Gateway's patch operations want it (``10``, not ``10.0``)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# --------------------------------------------------------------------------- model seeding


def _next_version(s3, bucket: str, prefix: str) -> str:
    highest = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for cp in page.get("CommonPrefixes", []):
            part = cp["Prefix"][len(prefix):].strip("/")
            if part.startswith("v") and part[1:].isdigit():
                highest = max(highest, int(part[1:]))
    return f"v{highest + 1:03d}"


def latest_pointer(settings: Settings, names: Names) -> Optional[dict]:
    """``models/latest.json`` of the output bucket, or None when no model is promoted."""
    s3 = client("s3", settings)
    try:
        raw = s3.get_object(Bucket=names.output_bucket, Key=names.latest_key)["Body"].read()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return json.loads(raw)


def seed_model_if_missing(settings: Settings, names: Names, progress: Progress = None) -> Report:
    """Make sure a model is promoted: train and upload one when ``models/latest.json`` is absent.

    The model is what notebook 01 trains: ``settings.model_kind`` on all arrival
    batches of ``model_code.dataset``'s split, evaluated on its fixed holdout. It goes
    to the next free ``models/vNNN/`` (never overwriting a version Part 1 wrote).
    """
    pointer = latest_pointer(settings, names)
    if pointer is not None and pointer.get("export"):  # a pointer without a serving export cannot be served
        return Report("found", "model", pointer.get("version", "?"),
                      details={"model_key": pointer.get("model_key")})
    from model_code import artifacts, dataset, evaluate, train
    from model_code.data import load_csv, load_many

    s3 = client("s3", settings)
    bucket = names.output_bucket
    version = _next_version(s3, bucket, names.models_prefix)
    _say(progress, f"no model promoted yet: training {settings.model_kind} as {version}")
    with tempfile.TemporaryDirectory(prefix="mlpipe-seed-") as tmp:
        files = dataset.write_split(os.path.join(tmp, "data"))
        data, holdout = load_many(files["batches"]), load_csv(files["holdout"])
        fitted = train.train(data.X, data.y, model=settings.model_kind)
        metrics = evaluate.evaluate(fitted, holdout.X, holdout.y)
        paths = artifacts.save(fitted, os.path.join(tmp, "model"), version=version, metrics=metrics,
                               inputs=files["batches"], extra={"seeded_by": "mlpipe deploy --part backend"},
                               holdout_X=holdout.X)
        prefix = f"{names.models_prefix}{version}/"
        served = artifacts.pointer_fields(paths, prefix)  # raises when the export did not verify
        for path in sorted(set(paths.values())):
            s3.upload_file(path, bucket, prefix + os.path.basename(path))
    model_key = prefix + artifacts.MODEL_FILE
    pointer = {
        "version": version,
        "model_key": model_key,
        "metrics": {k: metrics[k] for k in ("accuracy", "precision", "recall", "f1", "roc_auc") if k in metrics},
        "promoted_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        **served,
    }
    # Written last: the predict function only ever sees a pointer to a complete model.
    s3.put_object(Bucket=bucket, Key=names.latest_key, Body=json.dumps(pointer, indent=2).encode(),
                  ContentType="application/json")
    return Report("created", "model", version, details={"model_key": model_key, "accuracy": metrics.get("accuracy")})


# --------------------------------------------------------------------------- the function


def function_env(settings: Settings, names: Names) -> dict:
    return {
        "OUTPUT_BUCKET": names.output_bucket,
        "MODEL_REFRESH_SECONDS": str(settings.model_refresh_seconds),
        "MAX_ROWS": str(settings.max_rows),
    }


def published_layer_arns(settings: Settings, names: Names) -> Optional[list]:
    """The newest version ARN of each of the stack's layers, or None if one is missing."""
    lam = client("lambda", settings)
    arns = []
    for layer in names.layers:
        try:
            versions = lam.list_layer_versions(LayerName=layer).get("LayerVersions", [])
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        if not versions:
            return None
        arns.append(max(versions, key=lambda v: v["Version"])["LayerVersionArn"])
    return arns


def ensure_predict_function(settings: Settings, names: Names, layer_arns: Iterable[str],
                            progress: Progress = None) -> Report:
    from . import functions, iam

    role = iam.role_arn(settings, names, "predict")
    _say(progress, f"function {names.predict_function}")
    return functions.ensure_function(
        settings, names.predict_function, str(PREDICT_SOURCE), role, function_env(settings, names),
        layers=tuple(layer_arns), timeout=PREDICT_TIMEOUT, memory=PREDICT_MEMORY, handler="handler.handler",
        names=names, progress=progress or (lambda message: None),
    )


# --------------------------------------------------------------------------- the REST API


def find_api(settings: Settings, names: Names) -> Optional[dict]:
    """This stack's REST API: named ``S-api`` and tagged ``stack=S`` (another's is never ours)."""
    apigw = client("apigateway", settings)
    for page in apigw.get_paginator("get_rest_apis").paginate():
        for api in page.get("items", []):
            if api.get("name") == names.api_name and (api.get("tags") or {}).get("stack") == names.stack:
                return api
    return None


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
    try:
        return apigw.get_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def ensure_api(settings: Settings, names: Names, function_arn: str, progress: Progress = None) -> list:
    """The REST API and everything in it up to the stage. Returns reports; the API's is first."""
    from model_code.schema import json_schema

    apigw = client("apigateway", settings)
    reports = []
    api = find_api(settings, names)
    if api is None:
        _say(progress, f"REST API {names.api_name}")
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

    schema = json_schema(settings.max_rows)
    method = _get_method(apigw, api_id, resource_id)
    try:
        current = apigw.get_model(restApiId=api_id, modelName=MODEL_NAME)
    except ClientError as exc:
        if not _missing(exc):
            raise
        current = None
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
    reports.append(_ensure_permission(settings, names, api_id))
    reports.append(_ensure_stage(apigw, names, api_id, redeploy=bool(changes)))
    return reports


# API Gateway's own 400 for a body the request model rejects says only "Invalid request
# body"; this template adds the validator's reason (e.g. which property is missing).
BAD_BODY_TEMPLATE = '{"message": "Invalid request body: $context.error.validationErrorString"}'


def _ensure_bad_body_response(apigw, api_id: str) -> bool:
    templates = {"application/json": BAD_BODY_TEMPLATE}
    try:
        got = apigw.get_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY")
        if (got.get("responseTemplates") or {}) == templates and str(got.get("statusCode")) == "400":
            return False
    except ClientError as exc:
        if not _missing(exc):
            raise
    apigw.put_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY", statusCode="400",
                               responseTemplates=templates)
    return True


def _ensure_permission(settings: Settings, names: Names, api_id: str) -> Report:
    from .functions import ensure_permission

    return ensure_permission(settings, names.predict_function, PERMISSION_SID, "apigateway.amazonaws.com",
                             source_arn(names, api_id))


def _ensure_stage(apigw, names: Names, api_id: str, redeploy: bool) -> Report:
    stage_name = names.api_stage
    try:
        stage = apigw.get_stage(restApiId=api_id, stageName=stage_name)
    except ClientError as exc:
        if not _missing(exc):
            raise
        stage = None
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


def find_api_key(settings: Settings, names: Names, include_value: bool = False) -> Optional[dict]:
    apigw = client("apigateway", settings)
    for page in apigw.get_paginator("get_api_keys").paginate(nameQuery=names.api_key_name,
                                                             includeValues=include_value):
        for key in page.get("items", []):
            if key.get("name") == names.api_key_name and (key.get("tags") or {}).get("stack") == names.stack:
                return key
    return None


def api_key_value(settings: Settings, names: Names) -> Optional[str]:
    """The API key's value (what a client sends as ``x-api-key``), or None before deploy."""
    key = find_api_key(settings, names, include_value=True)
    return key.get("value") if key else None


def find_usage_plan(settings: Settings, names: Names) -> Optional[dict]:
    apigw = client("apigateway", settings)
    for page in apigw.get_paginator("get_usage_plans").paginate():
        for plan in page.get("items", []):
            if plan.get("name") == names.usage_plan:
                tags = plan.get("tags") or {}
                if tags.get("stack", names.stack) == names.stack:
                    return plan
    return None


def ensure_key_and_plan(settings: Settings, names: Names, api_id: str) -> list:
    apigw = client("apigateway", settings)
    reports = []
    key = find_api_key(settings, names)
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
    plan = find_usage_plan(settings, names)
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
    try:
        apigw.get_rest_api(restApiId=api_id)
        return True
    except ClientError as exc:
        if _missing(exc):
            return False
        raise


# --------------------------------------------------------------------------- the whole backend


def ensure_backend(settings: Settings, names: Names, progress: Progress = None, *,
                   layer_arns: Optional[Iterable[str]] = None) -> list:
    """Everything of Part 2, created or found. ``layer_arns`` skips the layer build (tests)."""
    from . import iam

    from .buckets import ensure_bucket

    # The backend stands alone (Part 1 not deployed): the models live in the output bucket.
    reports = [ensure_bucket(settings, names, names.output_bucket, versioned=True)]
    reports += iam.ensure_roles(settings, names, keys=("predict",))
    if layer_arns is None:
        layer_arns = published_layer_arns(settings, names)
    if layer_arns is None:  # not published yet (deploy runs mlpipe.layers first; alone, we do)
        from . import layers

        layer_reports = list(layers.ensure_layers(settings, names, progress))
        reports += layer_reports
        layer_arns = [r.arn for r in layer_reports if r.arn]
    reports.append(seed_model_if_missing(settings, names, progress))
    function = ensure_predict_function(settings, names, layer_arns, progress)
    reports.append(function)
    api_reports = ensure_api(settings, names, function.arn, progress)
    reports += api_reports
    reports += ensure_key_and_plan(settings, names, api_reports[0].arn)
    return reports


def backend_outputs(settings: Settings, names: Names) -> dict:
    """``api_id``, ``api_url`` and ``api_key`` for ``mlpipe outputs`` (None before deploy)."""
    api = find_api(settings, names)
    if api is None:
        return {"api_id": None, "api_url": None, "api_key": None}
    return {
        "api_id": api["id"],
        "api_url": invoke_url(settings, api["id"], names.api_stage, names.api_resource),
        "api_key": api_key_value(settings, names),
    }


def delete_backend(settings: Settings, names: Names, progress: Progress = None) -> list:
    """Remove the usage plan, the API key, the REST API, the permission and the function."""
    apigw = client("apigateway", settings)
    reports = []

    plan = find_usage_plan(settings, names)
    if plan is not None:
        for st in plan.get("apiStages") or []:  # a plan with stages cannot be deleted
            apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
                {"op": "remove", "path": "/apiStages", "value": f"{st['apiId']}:{st['stage']}"}])
        apigw.delete_usage_plan(usagePlanId=plan["id"])
        reports.append(Report("deleted", "usage plan", names.usage_plan, plan["id"]))
    else:
        reports.append(Report("absent", "usage plan", names.usage_plan))

    key = find_api_key(settings, names)
    if key is not None:
        apigw.delete_api_key(apiKey=key["id"])
        reports.append(Report("deleted", "api key", names.api_key_name, key["id"]))
    else:
        reports.append(Report("absent", "api key", names.api_key_name))

    while True:
        api = find_api(settings, names)
        if api is None:
            break
        _say(progress, f"deleting REST API {names.api_name} ({api['id']})")
        apigw.delete_rest_api(restApiId=api["id"])
        reports.append(Report("deleted", "rest api", names.api_name, api["id"]))
    if not any(r.kind == "rest api" for r in reports):
        reports.append(Report("absent", "rest api", names.api_name))

    from .functions import delete_function

    lam = client("lambda", settings)
    fn = names.predict_function
    try:
        lam.remove_permission(FunctionName=fn, StatementId=PERMISSION_SID)
        reports.append(Report("deleted", "lambda permission", f"{fn}/{PERMISSION_SID}"))
    except ClientError as exc:
        if not _missing(exc):
            raise
        reports.append(Report("absent", "lambda permission", f"{fn}/{PERMISSION_SID}"))
    reports.append(delete_function(settings, fn))
    return reports
