"""The backend (deploy_backend: bucket, predict role, model, function, then mlpipe.api) against
moto (in-process mock_aws): create, find again, update, delete."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
from moto import mock_aws

from mlpipe import api, clients, registry
from mlpipe.deploy import deploy_backend
from mlpipe.config import Settings
from mlpipe.names import Names
from mlpipe.stack import Stack
from model_code.schema import json_schema

ACCOUNT = "123456789012"


@pytest.fixture
def cloud(aws_credentials, monkeypatch):
    """Settings aimed at moto's in-process mock (target aws: no endpoint, dummy credentials)."""
    from moto.s3.models import FakeBucket
    from moto.apigateway.responses import APIGatewayResponse
    from test_mlpipe_support import _moto_update_model, _tls_aware_get_permission  # moto reads deny-non-TLS as deny

    monkeypatch.setattr(FakeBucket, "get_permission", _tls_aware_get_permission)
    monkeypatch.setattr(APIGatewayResponse, "update_model", _moto_update_model, raising=False)
    clients.clear_cache()
    with mock_aws():
        settings = Settings(target="aws", region="us-east-1", endpoint_url=None, stack="apit",
                            throttle_rate_limit=10.0, throttle_burst_limit=20, quota_limit=1000)
        names = Names.for_stack(settings, clients.account_id(settings))
        clients.client("s3", settings).create_bucket(Bucket=names.output_bucket)
        yield settings, names
    clients.clear_cache()


@pytest.fixture
def layer_arns(cloud):
    settings, names = cloud
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/placeholder.py", "")
    lam = clients.client("lambda", settings)
    return [lam.publish_layer_version(LayerName=n, Content={"ZipFile": buf.getvalue()},
                                      CompatibleRuntimes=["python3.12"])["LayerVersionArn"]
            for n in names.layers]


def by_kind(reports):
    return {r.kind: r for r in reports}


def test_create_then_find_everything(cloud, layer_arns):
    settings, names = cloud
    first = deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    kinds = by_kind(first)
    for kind in ("rest api", "api stage", "api key", "usage plan", "usage plan key", "lambda permission", "model"):
        assert kinds[kind].action == "created", kinds[kind]
    assert kinds["lambda function"].action == "created"

    second = deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    assert all(r.action == "found" for r in second), [str(r) for r in second if r.action != "found"]
    assert by_kind(second)["rest api"].arn == kinds["rest api"].arn

    apigw = clients.client("apigateway", settings)
    assert len([a for a in apigw.get_rest_apis()["items"] if a["name"] == names.api_name]) == 1
    assert len(apigw.get_api_keys()["items"]) == 1
    assert len(apigw.get_usage_plans()["items"]) == 1
    assert len(apigw.get_deployments(restApiId=kinds["rest api"].arn)["items"]) == 1


def test_the_api_as_built(cloud, layer_arns):
    settings, names = cloud
    reports = deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    api_id = by_kind(reports)["rest api"].arn
    apigw = clients.client("apigateway", settings)
    got = apigw.get_rest_api(restApiId=api_id)
    assert got["name"] == names.api_name and got["tags"]["stack"] == names.stack

    resource = [r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/predict"][0]
    method = apigw.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="POST")
    assert method["apiKeyRequired"] is True
    assert method["requestModels"] == {"application/json": "PredictRequest"}
    validator = apigw.get_request_validator(restApiId=api_id, requestValidatorId=method["requestValidatorId"])
    assert validator["validateRequestBody"] is True
    fn_arn = by_kind(reports)["lambda function"].arn
    assert method["methodIntegration"]["type"] == "AWS_PROXY"
    assert method["methodIntegration"]["uri"] == (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations")

    # the request model is exactly the feature schema
    model = apigw.get_model(restApiId=api_id, modelName="PredictRequest")
    assert json.loads(model["schema"]) == json_schema(settings.max_rows)

    stage = apigw.get_stage(restApiId=api_id, stageName="production")
    assert stage["deploymentId"]

    plan = apigw.get_usage_plans()["items"][0]
    assert plan["name"] == names.usage_plan
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "production"}]
    assert float(plan["throttle"]["rateLimit"]) == 10 and int(plan["throttle"]["burstLimit"]) == 20
    assert int(plan["quota"]["limit"]) == 1000 and plan["quota"]["period"] == "DAY"
    key = api.find_api_key(Stack(settings, names), include_value=True)
    assert key["enabled"] is True
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert api.api_key_value(Stack(settings, names)) == key["value"] and len(key["value"]) >= 20

    # the permission names only this API's POST /predict
    policy = json.loads(clients.client("lambda", settings).get_policy(FunctionName=names.predict_function)["Policy"])
    (st,) = [s for s in policy["Statement"] if s["Sid"] == api.PERMISSION_SID]
    assert st["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert st["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/POST/predict")

    # the function: env, layers, limits
    cfg = clients.client("lambda", settings).get_function_configuration(FunctionName=names.predict_function)
    assert cfg["Environment"]["Variables"] == {
        "OUTPUT_BUCKET": names.output_bucket, "MODEL_REFRESH_SECONDS": "30", "MAX_ROWS": "1000"}
    assert [lay["Arn"] for lay in cfg["Layers"]] == layer_arns
    assert cfg["Timeout"] == 30 and cfg["MemorySize"] == 1024 and cfg["Handler"] == "handler.handler"

    out = api.backend_outputs(Stack(settings, names))
    assert out == {"api_id": api_id, "api_key": key["value"],
                   "api_url": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/production/predict"}


def test_seeded_model_is_promoted(cloud, layer_arns):
    settings, names = cloud
    deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    s3 = clients.client("s3", settings)
    pointer = json.loads(s3.get_object(Bucket=names.output_bucket, Key="models/latest.json")["Body"].read())
    assert pointer["version"] == "v001" and pointer["model_key"] == "models/v001/model.joblib"
    assert pointer["metrics"]["accuracy"] > 0.9 and pointer["promoted_at"].endswith("Z")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=names.output_bucket, Prefix="models/v001/")["Contents"]}
    assert keys == {"models/v001/model.joblib", "models/v001/metrics.json", "models/v001/model_card.json",
                    "models/v001/model_export.json", "models/v001/promoted.json"}  # the gate counts the seed
    assert pointer["export"]["key"] == "models/v001/model_export.json" and pointer["export_inline"]["kind"] == "logreg"


def test_seed_takes_the_next_free_version_and_keeps_a_promoted_one(cloud):
    settings, names = cloud
    s3 = clients.client("s3", settings)
    s3.put_object(Bucket=names.output_bucket, Key="models/v004/model.joblib", Body=b"rejected by the gate")
    report = registry.seed_model_if_missing(Stack(settings, names))
    assert report.action == "created" and report.name == "v005"
    again = registry.seed_model_if_missing(Stack(settings, names))
    assert again.action == "found" and again.name == "v005"


def test_changed_limits_are_updated_in_place(cloud, layer_arns):
    settings, names = cloud
    deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    changed = settings.with_(throttle_rate_limit=2.0, throttle_burst_limit=4, quota_limit=50, quota_period="WEEK")
    reports = by_kind(deploy_backend(Stack(changed, names), layer_arns=layer_arns))
    assert reports["usage plan"].action == "updated"
    assert set(reports["usage plan"].details["changes"]) == {"throttle", "quota"}
    assert reports["api stage"].action == "found"  # no method changed: no new deployment
    plan = clients.client("apigateway", settings).get_usage_plans()["items"][0]
    assert float(plan["throttle"]["rateLimit"]) == 2 and int(plan["throttle"]["burstLimit"]) == 4
    assert int(plan["quota"]["limit"]) == 50 and plan["quota"]["period"] == "WEEK"


def test_changed_schema_redeploys(cloud, layer_arns):
    settings, names = cloud
    first = by_kind(deploy_backend(Stack(settings, names), layer_arns=layer_arns))
    # another method naming the model (as mlpipe.access's /predict-iam does): the model
    # cannot be deleted now (AWS: 409 ConflictException), it is updated in place
    apigw = clients.client("apigateway", settings)
    api_id = first["rest api"].arn
    root = [r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/"][0]["id"]
    other = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="predict-iam")["id"]
    apigw.put_method(restApiId=api_id, resourceId=other, httpMethod="POST", authorizationType="AWS_IAM",
                     requestModels={"application/json": "PredictRequest"})
    smaller = settings.with_(max_rows=10)
    reports = by_kind(deploy_backend(Stack(smaller, names), layer_arns=layer_arns))
    assert reports["api method"].action == "updated" and "request model" in reports["api method"].details["changes"]
    assert reports["api stage"].action == "updated"
    apigw = clients.client("apigateway", settings)
    api_id = first["rest api"].arn
    assert json.loads(apigw.get_model(restApiId=api_id, modelName="PredictRequest")["schema"]) == json_schema(10)
    assert len(apigw.get_deployments(restApiId=api_id)["items"]) == 2
    assert reports["lambda function"].action == "updated"  # MAX_ROWS env follows


def test_an_api_of_another_stack_is_not_ours(cloud, layer_arns):
    settings, names = cloud
    apigw = clients.client("apigateway", settings)
    other = apigw.create_rest_api(name=names.api_name, tags={"stack": "someone-else"})
    reports = by_kind(deploy_backend(Stack(settings, names), layer_arns=layer_arns))
    assert reports["rest api"].action == "created" and reports["rest api"].arn != other["id"]
    api.delete(Stack(settings, names))
    assert [a["id"] for a in apigw.get_rest_apis()["items"]] == [other["id"]]


def test_delete_leaves_nothing(cloud, layer_arns):
    settings, names = cloud
    deploy_backend(Stack(settings, names), layer_arns=layer_arns)
    reports = api.delete(Stack(settings, names))
    assert {r.kind for r in reports if r.action == "deleted"} == {
        "usage plan", "api key", "rest api", "lambda permission"}
    apigw = clients.client("apigateway", settings)
    assert apigw.get_rest_apis()["items"] == []
    assert apigw.get_api_keys()["items"] == []
    assert apigw.get_usage_plans()["items"] == []
    # The function is the functions module's to delete (teardown does, in its step).
    assert [f["FunctionName"] for f in clients.client("lambda", settings).list_functions()["Functions"]] == [
        names.predict_function]
    assert api.backend_outputs(Stack(settings, names)) == {"api_id": None, "api_url": None, "api_key": None}
    # and again, on nothing: every step reports absent, nothing fails
    assert all(r.action == "absent" for r in api.delete(Stack(settings, names)))


def test_delete_after_a_partial_deploy(cloud):
    settings, names = cloud
    apigw = clients.client("apigateway", settings)
    apigw.create_rest_api(name=names.api_name, tags=names.tags)
    apigw.create_api_key(name=names.api_key_name, enabled=True, tags=names.tags)
    reports = by_kind(api.delete(Stack(settings, names)))
    assert reports["rest api"].action == "deleted" and reports["api key"].action == "deleted"
    assert reports["lambda permission"].action == "absent"
    assert apigw.get_rest_apis()["items"] == [] and apigw.get_api_keys()["items"] == []


def test_backend_alone_creates_the_output_bucket(cloud, layer_arns):
    settings, names = cloud
    clients.client("s3", settings).delete_bucket(Bucket=names.output_bucket)
    reports = by_kind(deploy_backend(Stack(settings, names), layer_arns=layer_arns))
    assert reports["s3 bucket"].action == "created" and reports["model"].action == "created"
    versioning = clients.client("s3", settings).get_bucket_versioning(Bucket=names.output_bucket)
    assert versioning["Status"] == "Enabled"


def test_invoke_urls():
    local = Settings(endpoint_url="http://127.0.0.1:4566")
    assert api.invoke_url(local, "abc123") == "http://127.0.0.1:4566/restapis/abc123/production/_user_request_/predict"
    aws = Settings(target="aws", region="eu-west-1", endpoint_url=None)
    assert api.invoke_url(aws, "abc123") == "https://abc123.execute-api.eu-west-1.amazonaws.com/production/predict"
    china = Settings(target="aws", region="cn-north-1", endpoint_url=None)
    assert api.invoke_url(china, "abc123") == "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/production/predict"


def test_bad_body_gateway_response_carries_the_validator_reason(cloud, layer_arns):
    settings, names = cloud
    api_id = by_kind(deploy_backend(Stack(settings, names), layer_arns=layer_arns))["rest api"].arn
    got = clients.client("apigateway", settings).get_gateway_response(restApiId=api_id, responseType="BAD_REQUEST_BODY")
    assert "$context.error.validationErrorString" in got["responseTemplates"]["application/json"]
    assert str(got["statusCode"]) == "400"
