"""Lambda's answers worded as AWS words them (localcloud/awslambda/patches.py and the Lambda
rules of localcloud/validation/rules.py), each from AWS's recorded answers."""
import json

import pytest

from localcloud.awslambda import patches
from localcloud.validation import rules

ARN = "arn:aws:lambda:us-east-1:111111111111:function"


@pytest.mark.parametrize("name,expected", [
    ("f", rules.FunctionRef("f")),
    ("f:3", rules.FunctionRef("f", "3")),
    ("111111111111:function:f:live", rules.FunctionRef("f", "live")),
    (f"{ARN}:f", rules.FunctionRef("f", None, "us-east-1")),
    (f"{ARN}:f:$LATEST", rules.FunctionRef("f", "$LATEST", "us-east-1")),
    (ARN, rules.FunctionRef("function", None, "us-east-1")),
])
def test_function_names_are_read_as_lambda_reads_them(name, expected):
    assert rules.function_ref(name) == expected


def test_another_regions_function_arn_is_not_reachable():
    refusal = rules.lambda_function_ref(
        "GetFunction", "arn:aws:lambda:eu-central-1:111111111111:function:f", None, "us-east-1")
    assert (refusal.code, refusal.status) == ("ResourceNotFoundException", 404)
    assert refusal.message == ("Functions from 'eu-central-1' are not reachable in this "
                               "region ('us-east-1')")
    assert rules.lambda_function_ref("GetFunction", f"{ARN}:f", None, "us-east-1") is None


def test_a_qualifier_differing_from_the_names_is_refused():
    refusal = rules.lambda_function_ref("GetFunction", f"{ARN}:f:1", "$LATEST", "us-east-1")
    assert (refusal.code, refusal.status, refusal.message) == (
        "InvalidParameterValueException", 400, rules.QUALIFIER_MISMATCH)
    assert rules.lambda_function_ref("GetFunction", f"{ARN}:f:1", "1", "us-east-1") is None
    assert rules.lambda_function_ref("GetFunction", "f", "7", "us-east-1") is None


@pytest.mark.parametrize("name,qualifier,message", [
    ("f", "$LATEST", "$LATEST version cannot be deleted without deleting the function."),
    (f"{ARN}:f:$LATEST", None, "$LATEST version cannot be deleted without deleting the function."),
    ("f", "live", "Deletion of aliases is not currently supported."),
])
def test_delete_function_refuses_latest_and_aliases(name, qualifier, message):
    refusal = rules.lambda_function_ref("DeleteFunction", name, qualifier, "us-east-1")
    assert (refusal.code, refusal.message) == ("InvalidParameterValueException", message)
    assert rules.lambda_function_ref("DeleteFunction", "f", "3", "us-east-1") is None


@pytest.mark.parametrize("method,path,query,message", [
    ("POST", "/2015-03-31/functions/f/invocations", "", f"Function not found: {ARN}:f:$LATEST"),
    ("POST", "/2015-03-31/functions/f/invocations", "Qualifier=2",
     f"Function not found: {ARN}:f:2"),
    ("GET", "/2015-03-31/functions/f", "", f"Function not found: {ARN}:f"),
    ("GET", "/2015-03-31/functions/f/configuration", "Qualifier=%24latest",
     f"Function not found: {ARN}:f:$latest"),
    ("DELETE", "/2015-03-31/functions/f", "Qualifier=3", f"Function not found: {ARN}:f"),
    ("GET", f"/2015-03-31/functions/{ARN}", "", f"Function not found: {ARN}:function"),
    ("GET", "/2021-10-31/functions/f/url", "", "The resource you requested does not exist."),
    ("GET", "/2019-09-25/functions/f/event-invoke-config", "Qualifier=4",
     f"The function {ARN}:f:4 doesn't have an EventInvokeConfig"),
    ("GET", "/2019-09-25/functions/f/event-invoke-config", "",
     f"The function {ARN}:f:$LATEST doesn't have an EventInvokeConfig"),
])
def test_not_found_messages_name_what_the_operation_resolved(method, path, query, message):
    assert patches.not_found_message(method, path, query, "us-east-1", "111111111111",
                                     "Function not found: whatever") == message


def test_layer_versions_name_only_a_given_license_and_publishing_a_description():
    out = patches.layer_version(lambda self: {"LicenseInfo": "", "Version": 1})(None)
    assert out == {"Version": 1}
    out = patches.layer_version(lambda self: {"LicenseInfo": "MIT", "Description": "d"})(None)
    assert out == {"LicenseInfo": "MIT", "Description": "d"}
    _, _, body = patches.published_layer(lambda self: (201, {}, '{"Version": 1}'))(None)
    assert json.loads(body) == {"Version": 1, "Description": ""}


def test_listings_leave_out_states_and_runtime_versions():
    answer = json.dumps({"Functions": [{"FunctionName": "f", "State": "Active",
                                        "LastUpdateStatus": "Successful", "RevisionId": "r",
                                        "RuntimeVersionConfig": {"RuntimeVersionArn": "a"}}]})
    out = json.loads(patches.listing("Functions")(lambda self: answer)(None))
    assert out == {"Functions": [{"FunctionName": "f", "RevisionId": "r"}]}


@pytest.mark.parametrize("given,expected", [
    ("111111111111", {"AWS": "arn:aws:iam::111111111111:root"}),
    ("arn:aws:iam::111111111111:user/u", {"AWS": "arn:aws:iam::111111111111:user/u"}),
    ("*", "*"),
])
def test_permission_principals_are_named_as_aws_names_them(given, expected):
    assert patches.principal(lambda self, obj: obj)(None, given) == expected


def test_revision_ids_change_with_every_update_and_not_with_the_arn_form():
    config = {"FunctionName": "f", "FunctionArn": f"{ARN}:f", "Version": "$LATEST"}
    same = dict(config, FunctionArn=f"{ARN}:f:$LATEST")
    assert patches.revision_id(config, 2) == patches.revision_id(same, 2)
    assert patches.revision_id(config, 2) != patches.revision_id(config, 3)


def test_tags_are_refused_on_versions_and_aliases():
    refusal = rules.lambda_tag_resource("ListTags", f"{ARN}:f:live")
    assert (refusal.code, refusal.status) == ("InvalidParameterValueException", 400)
    assert rules.lambda_tag_resource("ListTags", f"{ARN}:f") is None


def test_update_alias_names_the_alias_not_found():
    assert patches.not_found_message(
        "PUT", "/2015-03-31/functions/f/aliases/a", "", "us-east-1", "111111111111",
        f"Cannot find alias arn: {ARN}:f:a") == f"Alias not found: {ARN}:f:a"
    assert patches.not_found_message(
        "GET", "/2015-03-31/functions/f/aliases/a", "", "us-east-1", "111111111111",
        f"Cannot find alias arn: {ARN}:f:a") == f"Cannot find alias arn: {ARN}:f:a"


def test_get_alias_answers_200():
    assert patches.answered_200(lambda self: (201, {"status": 201}, "{}"))(None)[0] == 200


@pytest.mark.parametrize("principal,refused", [
    ("*", False), ("111111111111", False), ("arn:aws:iam::111111111111:user/u", False),
    ("s3.amazonaws.com", False), ("alexa-appkit.amazon.com", False),
    ("invalid.nonaws.com", True), ("someone", True),
])
def test_permission_principals_are_checked(principal, refused):
    assert (rules.lambda_principal(principal) is not None) == refused


def test_permissions_on_latest_are_refused():
    refusal = rules.lambda_function_ref("AddPermission", "f", "$LATEST", "us-east-1")
    assert refusal.message == "We currently do not support adding policies for $LATEST."


def test_request_ids_are_uuids_and_a_uuid_given_is_kept():
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["rid"] = {k.lower(): v for k, v in headers}["x-amzn-requestid"]

    patches.uuid_request_id(start_response)("200 OK", [("x-amzn-RequestId", "MOTO52CHARS")])
    assert patches._UUID.fullmatch(seen["rid"])
    rid = "0f2c7a3e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    patches.uuid_request_id(start_response)("200 OK", [("x-amzn-requestid", rid)])
    assert seen["rid"] == rid


def test_layer_versions_count_from_one():
    assert rules.lambda_layer_version("GetLayerVersion", "0").message == \
        "Layer Version Cannot be less than 1"
    assert rules.lambda_layer_version("DeleteLayerVersion", "-1") is not None
    assert rules.lambda_layer_version("GetLayerVersion", "1") is None


def test_get_layer_version_by_arn_is_served_as_get_layer_version():
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/2018-10-31/layers", "RAW_URI": "x",
               "QUERY_STRING": "find=LayerVersion&Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A"
                               "111111111111%3Alayer%3Amy-layer%3A3"}
    patches.layer_by_arn(environ)
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == (
        "/2018-10-31/layers/my-layer/versions/3", "")
    assert environ["RAW_URI"] == "/2018-10-31/layers/my-layer/versions/3"  # what moto reads
    listing = {"REQUEST_METHOD": "GET", "PATH_INFO": "/2018-10-31/layers", "QUERY_STRING": ""}
    patches.layer_by_arn(listing)
    assert listing["PATH_INFO"] == "/2018-10-31/layers"


def test_an_existing_functions_missing_event_invoke_config_keeps_its_words():
    moto_words = f"The function {ARN}:f doesn't have an EventInvokeConfig"
    assert patches.not_found_message("GET", "/2019-09-25/functions/f/event-invoke-config", "",
                                     "us-east-1", "111111111111", moto_words) == moto_words
