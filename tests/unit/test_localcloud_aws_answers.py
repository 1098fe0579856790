"""Where the local cloud answers as AWS does and moto does not: the moto attributes each
patches.py hooks (a tripwire that fails by name when a moto upgrade moves one) and the pure
pieces of those answers."""
import datetime
import json

import pytest

from localcloud.apigateway import patches as apigw_patches
from localcloud.awslambda import code_location
from localcloud.awslambda import patches as lambda_patches
from localcloud.iam import patches as iam_patches
from localcloud.iam.policy import evaluate
from localcloud.iam.service_linked import SERVICE_LINKED_ROLES
from localcloud.s3 import patches as s3_patches

# (module that hooks it, owner, attribute): every moto attribute these patches replace
HOOK_POINTS = [
    ("localcloud.s3.patches", "moto.s3.models", "S3Backend", "put_object"),
    ("localcloud.s3.patches", "moto.s3.responses", "S3Response", "list_object_versions"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaFunction", "get_configuration"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaFunction", "update_configuration"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaFunction", "update_function_code"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend", "create_function"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend",
     "update_function_configuration"),
    ("localcloud.awslambda.code_location", "moto.awslambda.models", "LambdaFunction", "get_code"),
    ("localcloud.awslambda.code_location", "moto.awslambda.models", "LayerVersion",
     "get_layer_version"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "RestAPI", "to_dict"),
    ("localcloud.apigateway.patches", "moto.apigateway.responses", "APIGatewayResponse",
     "create_rest_api"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "Method", "to_json"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "Integration", "to_json"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "IntegrationResponse", "to_json"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "APIGatewayBackend", "put_integration"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "RequestValidator", "to_dict"),
    ("localcloud.apigateway.patches", "moto.apigateway.models", "VpcLink", "to_json"),
    ("localcloud.apigateway.patches", "moto.apigateway.responses", "APIGatewayResponse", "get_stages"),
    ("localcloud.apigateway.patches", "moto.apigateway.responses", "APIGatewayResponse", "create_vpc_link"),
    ("localcloud.apigateway.patches", "moto.apigateway.responses", "APIGatewayResponse", "get_vpc_links"),
    ("localcloud.apigateway.patches", "moto.apigateway.responses", "APIGatewayResponse", "put_integration"),
    ("localcloud.iam.patches", "moto.iam.models", "IAMBackend", "create_service_linked_role"),
    ("localcloud.iam.patches", "moto.iam.models", "IAMBackend", "delete_service_linked_role"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LayerVersion", "get_layer_version"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend", "delete_function"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend", "update_function_code"),
    ("localcloud.awslambda.patches", "moto.s3.models", "S3Backend", "get_object"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend",
     "list_versions_by_function"),
    ("localcloud.awslambda.patches", "moto.awslambda.models", "LambdaBackend", "get_function"),
    ("localcloud.awslambda.patches", "moto.awslambda.responses", "LambdaResponse", "list_functions"),
    ("localcloud.awslambda.patches", "moto.awslambda.responses", "LambdaResponse", "publish_version"),
    ("localcloud.awslambda.patches", "moto.awslambda.policy", "Policy", "principal_formatter"),
    ("localcloud.awslambda.patches", "moto.awslambda.policy", "Policy", "del_statement"),
    ("localcloud.awslambda.patches", "moto.awslambda.policy", "Policy", "decode_policy"),
    ("localcloud.awslambda.patches", "moto.awslambda.responses", "LambdaResponse", "get_alias"),
    ("localcloud.awslambda.patches", "moto.awslambda.responses", "LambdaResponse",
     "publish_layer_version"),
    ("localcloud.awslambda.patches", "moto.awslambda.responses", "LambdaResponse",
     "list_versions_by_function"),
]


@pytest.mark.parametrize("patcher,module,owner,attr", HOOK_POINTS,
                         ids=[f"{o}.{a}" for _, _, o, a in HOOK_POINTS])
def test_moto_still_has_each_hook_point(patcher, module, owner, attr):
    import importlib

    cls = getattr(importlib.import_module(module), owner, None)
    assert cls is not None, f"{patcher}: moto moved {module}.{owner}"
    assert callable(getattr(cls, attr, None)), f"{patcher}: moto moved {module}.{owner}.{attr}"


def test_moto_keys_still_carry_what_the_s3_patches_read():
    from moto.s3.models import FakeKey

    key = FakeKey("k", b"x", account_id="123456789012", region_name="us-east-1",
                  encryption="AES256", checksum_value="abc")
    for attr in ("encryption", "checksum_type", "checksum_algorithm", "version_id"):
        assert hasattr(key, attr), f"localcloud.s3.patches reads FakeKey.{attr}"
    assert key.response_dict["x-amz-server-side-encryption"] == "AES256"


# ---- IAM: actions without resource-level permissions ---------------------------------------
def _allow(resource):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": resource}]})


@pytest.mark.parametrize("resource,allowed", [
    ("arn:aws:s3:::*", True), ("*", True), ("arn:aws:s3:::my-bucket", False),
    ("arn:aws:s3:::my-bucket/*", False)])
def test_list_all_my_buckets_is_granted_on_every_bucket_or_star(resource, allowed):
    d = evaluate("s3:ListAllMyBuckets", ["*"], {}, identity=[_allow(resource)])
    assert d.allowed is allowed


# ---- S3 ------------------------------------------------------------------------------------
def test_display_names_leave_owners_and_grantees_but_not_initiators():
    body = (b"<Initiator><ID>i</ID><DisplayName>me</DisplayName></Initiator>"
            b"<Owner><ID>o</ID><DisplayName>webfile</DisplayName></Owner>"
            b"<Grantee xsi:type='CanonicalUser'><ID>g</ID><DisplayName>w</DisplayName></Grantee>")
    out = s3_patches._DISPLAY_NAME.sub(rb"\1", body)
    assert out == (b"<Initiator><ID>i</ID><DisplayName>me</DisplayName></Initiator>"
                   b"<Owner><ID>o</ID></Owner><Grantee xsi:type='CanonicalUser'><ID>g</ID></Grantee>")


@pytest.mark.parametrize("method,path,qs,expected", [
    ("PUT", "/bucket/key", "", True), ("PUT", "/bucket", "", False),
    ("PUT", "/bucket/key", "uploadId=1&partNumber=1", False),
    ("PUT", "/bucket/key", "tagging", False), ("GET", "/bucket/key", "", False)])
def test_object_put_is_told_from_parts_and_subresources(method, path, qs, expected):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": qs,
           "HTTP_HOST": "127.0.0.1:4566"}
    assert s3_patches._is_object_put(env) is expected


# ---- Lambda ---------------------------------------------------------------------------------
@pytest.mark.parametrize("code,doc,expected", [
    ("ResourceNotFoundException", {"message": "Function not found: x"},
     {"Type": "User", "Message": "Function not found: x"}),
    ("InvalidParameterValueException", {"Type": "User", "Message": "bad"},
     {"Type": "User", "message": "bad"}),
    ("ValidationException", {"message": "1 validation error"}, {"message": "1 validation error"}),
    ("TooManyRequestsException", {"message": "Rate", "Reason": "X"},
     {"Reason": "X", "Type": "User", "message": "Rate"}),
])
def test_lambda_error_bodies_are_worded_per_error(code, doc, expected):
    assert lambda_patches.error_body(code, doc) == expected


def test_revision_id_follows_code_configuration_and_state():
    a = {"FunctionName": "f", "Timeout": 3, "State": "Active"}
    assert lambda_patches.revision_id(a) == lambda_patches.revision_id(dict(a))
    assert lambda_patches.revision_id(a) != lambda_patches.revision_id({**a, "Timeout": 4})
    assert lambda_patches.revision_id(a) != lambda_patches.revision_id({**a, "State": "Pending"})


def test_logging_config_defaults_to_the_functions_log_group():
    class Fn:
        function_name = "f"
    assert lambda_patches.logging_config(Fn()) == {"LogFormat": "Text",
                                                   "LogGroup": "/aws/lambda/f"}
    fn = Fn()
    setattr(fn, lambda_patches.LOGGING_ATTR, {"LogFormat": "JSON", "LogGroup": "/custom"})
    assert lambda_patches.logging_config(fn) == {
        "LogFormat": "JSON", "LogGroup": "/custom", "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO"}


def test_code_urls_are_valid_for_ten_minutes_and_only_as_signed():
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    url = code_location.presigned("http://127.0.0.1:1", "123456789012", "us-east-1",
                                  "function", "f", "$LATEST", now=t0)
    path, query = url[len("http://127.0.0.1:1"):].split("?")
    assert "X-Amz-Expires=600" in query and "X-Amz-Signature=" in query
    assert code_location.verify(path, query, now=t0 + datetime.timedelta(seconds=599)) is None
    assert code_location.verify(path, query, now=t0 + datetime.timedelta(seconds=601)) == \
        "Request has expired"
    assert "does not match" in code_location.verify(path.replace("/f/", "/g/"), query, now=t0)


# ---- API Gateway ---------------------------------------------------------------------------
def test_rest_api_answers_without_unset_members_and_with_its_ip_address_type():
    class Api:
        def __init__(self, given=False):
            if given:
                setattr(self, apigw_patches.VERSION_GIVEN, True)

    doc = {"id": "a", "name": "n", "version": "V1", "binaryMediaTypes": [], "tags": {},
           "description": None, "policy": None, "endpointConfiguration": {"types": ["PRIVATE"]}}
    out = apigw_patches.rest_api_dict(lambda self: json.loads(json.dumps(doc)))(Api())
    assert out == {"id": "a", "name": "n",
                   "endpointConfiguration": {"types": ["PRIVATE"], "ipAddressType": "dualstack"}}
    kept = apigw_patches.rest_api_dict(lambda self: json.loads(json.dumps(doc)))(Api(True))
    assert kept["version"] == "V1"


# ---- IAM service-linked roles -------------------------------------------------------------
def test_service_linked_roles_are_named_as_aws_names_them():
    name, policies, suffix = SERVICE_LINKED_ROLES["accountdiscovery.ssm.amazonaws.com"]
    assert name == "AWSServiceRoleForAmazonSSM_AccountDiscovery"
    assert policies == ("aws-service-role/AWSSystemsManagerAccountDiscoveryServicePolicy",)
    assert suffix is False
    assert SERVICE_LINKED_ROLES["lexv2.amazonaws.com"][2] is True
    trust = json.loads(iam_patches.trust_policy("ecs.amazonaws.com"))
    assert trust["Statement"] == [{"Action": "sts:AssumeRole", "Effect": "Allow",
                                   "Principal": {"Service": "ecs.amazonaws.com"}}]
