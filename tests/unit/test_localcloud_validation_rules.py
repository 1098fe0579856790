"""localcloud.validation without a cloud: the model checks' wording, the documented rules,
and tripwires for every moto patch the validation work installs (and werkzeug's pin)."""
from __future__ import annotations

import base64
import hashlib
import importlib
import json
import pathlib
import tomllib

import botocore.session
import pytest

from localcloud.validation import model, rules

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SESSION = botocore.session.get_session()


def _op(service: str, name: str):
    return _SESSION.get_service_model(service).operation_model(name)


def test_pattern_failure_is_worded_as_aws_words_it():
    checker = model.checker("lambda", _op("lambda", "GetFunction"), scalar_only=False)
    errors = checker.errors({"FunctionName": "my-function!"})
    assert len(errors) == 1
    msg = model.message(errors)
    assert msg.startswith("1 validation error detected: Value 'my-function!' at 'functionName' "
                          "failed to satisfy constraint: Member must satisfy regular expression "
                          "pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?")


def test_several_errors_are_counted_and_joined():
    checker = model.checker("lambda", _op("lambda", "CreateFunction"), scalar_only=False)
    errors = checker.errors({"FunctionName": "a" * 200 + "!", "Role": "r", "MemorySize": 1,
                             "Runtime": "cobol"})
    msg = model.message(errors)
    assert msg.startswith(f"{len(errors)} validation errors detected: ")
    assert "; Value" in msg
    assert "at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128" in msg
    assert "at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [" in msg
    assert "Member must have length less than or equal to" in msg


def test_required_members_are_not_null():
    checker = model.checker("sts", _op("sts", "AssumeRole"), scalar_only=True)
    errors = checker.errors({"RoleArn": "nothing-valid-in-here"})
    assert "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null" in errors


def test_a_null_list_member_is_refused_not_passed_on():
    """Lists are not sparse: `Entries: [null]` is refused (moto read null["Id"]: a 500)."""
    checker = model.checker("sqs", _op("sqs", "ChangeMessageVisibilityBatch"), scalar_only=False,
                            constraints=False)
    errors = checker.errors({"QueueUrl": "q", "Entries": [None]})
    assert "Value null at 'entries.1.member' failed to satisfy constraint: Member must not be null" in errors


def test_wrong_json_type_is_a_serialization_error():
    checker = model.checker("ssm", _op("ssm", "PutParameter"), scalar_only=False)
    with pytest.raises(model.WrongType) as exc:
        checker.errors({"Name": "p", "Value": "v", "Overwrite": "yes"})
    assert exc.value.path == "overwrite"


def test_query_numbers_are_read_and_checked():
    checker = model.checker("iam", _op("iam", "ListRoles"), scalar_only=True)
    assert "Member must have value greater than or equal to 1" in " ".join(
        checker.errors({"MaxItems": "0"}))
    with pytest.raises(model.WrongType):
        checker.errors({"MaxItems": "many"})


def test_checkers_are_compiled_once_per_operation():
    a = model.checker("lambda", _op("lambda", "Invoke"), scalar_only=False)
    assert model.checker("lambda", _op("lambda", "Invoke"), scalar_only=False) is a


@pytest.mark.parametrize("name", ["UpperCase", "ab", "a" * 64, "-abc", "abc-", "a..b",
                                  "192.168.5.4", "xn--abc", "bucket-s3alias", "my_bucket"])
def test_bucket_names_aws_refuses(name):
    refusal = rules.bucket_name(name)
    assert refusal is not None and refusal.code == "InvalidBucketName" and refusal.status == 400


@pytest.mark.parametrize("name", ["abc", "my.bucket-1", "a" * 63, "mlpipe-data-123456789012"])
def test_bucket_names_aws_accepts(name):
    assert rules.bucket_name(name) is None


def test_key_length_counts_utf8_bytes():
    assert rules.key_length("k" * 1024) is None
    refusal = rules.key_length("\u00e9" * 513)  # 1026 bytes
    assert refusal.code == "KeyTooLongError" and refusal.extra["Size"] == "1026"


def test_content_md5():
    body = b"hello"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    assert rules.content_md5(good, body) is None
    assert rules.content_md5(good, b"other").code == "BadDigest"
    assert rules.content_md5("not-base64!", body).code == "InvalidDigest"


def test_content_sha256():
    body = b"hello"
    assert rules.content_sha256(hashlib.sha256(body).hexdigest(), body) is None
    assert rules.content_sha256("UNSIGNED-PAYLOAD", body) is None
    assert rules.content_sha256("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", body) is None
    assert rules.content_sha256("0" * 64, body).code == "XAmzContentSHA256Mismatch"
    assert rules.content_sha256("nothex", body).code == "InvalidArgument"


def test_max_keys():
    assert rules.int_arguments({"max-keys": "10"}) is None
    assert rules.int_arguments({"max-keys": "-1"}).code == "InvalidArgument"
    assert rules.int_arguments({"max-keys": "ten"}).code == "InvalidArgument"


def test_list_parts_arguments_are_worded_by_their_query_names():
    # moto's test_multipart_list_parts_invalid_argument records S3's wording
    assert rules.int_arguments({"max-parts": "-42"}).message == \
        "Argument max-parts must be an integer between 0 and 2147483647"
    assert rules.int_arguments({"part-number-marker": "2147483689"}).message == \
        "Provided part-number-marker not an integer or within integer range"
    assert rules.int_arguments({"max-keys": "-1"}).message == \
        "Argument maxKeys must be an integer between 0 and 2147483647"


def test_conditional_writes():
    assert rules.conditional_write("*", None) is None
    refusal = rules.conditional_write('"abc"', None)
    assert refusal.code == "NotImplemented" and refusal.status == 501
    assert refusal.extra["Header"] == "If-None-Match"
    assert rules.conditional_write(None, '"0123abc"') is None
    # S3 does not check an If-Match value's form: it compares it (AWS answers NoSuchKey/412)
    assert rules.conditional_write(None, "bad-char_/") is None
    star = rules.conditional_write(None, "*")
    assert (star.code, star.status, star.extra["Header"]) == ("NotImplemented", 501, "If-Match")
    both = rules.conditional_write("*", '"abc"')
    assert both.extra == {"Header": "If-Match,If-None-Match", "additionalMessage":
                          "Multiple conditional request headers present in the request"}


@pytest.mark.parametrize("value", [
    'uri="http://acs.amazonaws.com/groups/global/AllUsers"',
    "uri=http://acs.amazonaws.com/groups/global/AllUsers",          # the AWS CLI's own example
    "emailaddress=user1@example.com,emailaddress=user2@example.com",
    "id=" + "a" * 64 + ', id="' + "0" * 64 + '"',
])
def test_grant_headers_aws_accepts(value):
    assert rules.grant_headers({"HTTP_X_AMZ_GRANT_READ": value}) is None


@pytest.mark.parametrize("value", [
    "id=AllUsers", 'id="AllUsers"', "id=http://acs.amazonaws.com/groups/global/AllUsers",
    "url=http://acs.amazonaws.com/groups/global/AllUsers", "nonsense",
])
def test_grant_headers_aws_refuses(value):
    refusal = rules.grant_headers({"HTTP_X_AMZ_GRANT_WRITE": value})
    assert refusal.code == "InvalidArgument" and refusal.message == "Invalid id"
    assert refusal.extra["ArgumentName"] == "x-amz-grant-write"


def test_acl_body_with_an_owner_id_and_group_grantees_fits_the_schema():
    # Grantee's xsi:type is an XML attribute, not a child element; Owner may carry only ID
    shape, root = _payload("PutBucketAcl")
    body = (b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<AccessControlList><Grant><Grantee xmlns:xsi="
            b'"http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">'
            b"<URI>http://acs.amazonaws.com/groups/s3/LogDelivery</URI></Grantee>"
            b"<Permission>WRITE</Permission></Grant></AccessControlList>"
            b"<Owner><ID>" + b"7" * 64 + b"</ID></Owner></AccessControlPolicy>")
    assert rules.xml_payload(body, shape, root, True) is None


def test_lambda_ephemeral_storage_is_bounded_as_documented():
    errs = rules.lambda_ephemeral_storage({"EphemeralStorage": {"Size": 3000000}},
                                          ["Value '3000000' at 'ephemeralStorage.size' failed to "
                                           "satisfy constraint: Member must have value less than "
                                           "or equal to 32768"])
    assert errs == ["Value '3000000' at 'ephemeralStorage.size' failed to satisfy constraint: "
                    "Member must have value less than or equal to 10240"]
    assert rules.lambda_ephemeral_storage({"EphemeralStorage": {"Size": 20000}}, []) == [
        "Value '20000' at 'ephemeralStorage.size' failed to satisfy constraint: "
        "Member must have value less than or equal to 10240"]
    assert rules.lambda_ephemeral_storage({"EphemeralStorage": {"Size": 10240}}, []) == []


def _payload(op_name: str):
    shape = _op("s3", op_name).input_shape
    name = shape.serialization["payload"]
    return shape.members[name], shape.members[name].serialization.get("name", name)


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
    b"<Delete><Object><Key>&lol2;</Key></Object></Delete>",
    b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<Delete><Object><Key>&xxe;</Key></Object></Delete>",
    b'{"Objects": [{"Key": "a"}]}',
    b"<Delete><Object><Key>a</Key></Object>",
    b"<Wrong><Object><Key>a</Key></Object></Wrong>",
    b"<Delete><Object><Nope>a</Nope></Object></Delete>",
    b"<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
])
def test_malformed_xml_and_entity_attacks(body):
    shape, root = _payload("DeleteObjects")
    refusal = rules.xml_payload(body, shape, root, True)
    assert refusal is not None and refusal.code == "MalformedXML"


def test_well_formed_xml_passes():
    shape, root = _payload("DeleteObjects")
    body = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key>'
            b"</Object><Quiet>true</Quiet></Delete>")
    assert rules.xml_payload(body, shape, root, True) is None
    shape, root = _payload("PutBucketNotificationConfiguration")
    body = (b"<NotificationConfiguration><CloudFunctionConfiguration><Id>x</Id>"
            b"<CloudFunction>arn:aws:lambda:us-east-1:123456789012:function:f</CloudFunction>"
            b"<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name>"
            b"<Value>in/</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>"
            b"</NotificationConfiguration>")
    assert rules.xml_payload(body, shape, root, True) is None


def test_bucket_policy_grammar():
    ok = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*"}]}).encode()
    assert rules.bucket_policy(ok, "b") is None
    assert rules.bucket_policy(b"{not json", "b").code == "MalformedPolicy"
    assert rules.bucket_policy(b"[]", "b").code == "MalformedPolicy"
    no_principal = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*",
                                              "Resource": "arn:aws:s3:::b"}]}).encode()
    assert rules.bucket_policy(no_principal, "b").message == "Missing required field Principal"
    other_bucket = ok.replace(b"arn:aws:s3:::b/*", b"arn:aws:s3:::other/*")
    assert rules.bucket_policy(other_bucket, "b").message == "Policy has invalid resource"


def test_iam_documents():
    assert rules.iam_policy_document('{"Version": "2012-10-17"}') is not None
    assert rules.iam_policy_document('{"Statement": ["x"]}') is not None
    assert rules.iam_policy_document("[" * 50_000 + "]" * 50_000).code == "MalformedPolicyDocument"
    assert rules.iam_policy_document("{not json").message == "This policy contains invalid Json"
    good = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": ["1"]}}}]})
    assert rules.iam_policy_document(good) is None


def test_invoke_payload_limits():
    assert rules.invoke_payload(6 * 1024 * 1024, "RequestResponse") is None
    refusal = rules.invoke_payload(6 * 1024 * 1024 + 1, None)
    assert refusal.status == 413 and refusal.code == "RequestEntityTooLargeException"
    assert rules.invoke_payload(1024 * 1024 + 1, "Event").status == 413
    assert rules.invoke_payload(1024 * 1024, "Event") is None


def test_ssm_parameter_names():
    assert rules.ssm_parameter_name("/mlpipe/run/latest", False) is None
    assert rules.ssm_parameter_name("name:3", True) is None
    assert rules.ssm_parameter_name(" ", False).code == "ValidationException"
    assert rules.ssm_parameter_name("aws-thing", False) is None  # the prefix: SSM (moto) answers it in its own words


def test_rules_table_names_a_doc_for_each_rule():
    doc = rules.__doc__
    rows = [line for line in doc.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 15
    assert all("https://docs.aws.amazon.com/" in row for row in rows)


# ---- tripwires: every moto attribute these patches hook ------------------------------------
@pytest.mark.parametrize("module", ["localcloud.s3.patches", "localcloud.sqs.patches", "localcloud.events.patches",
                                    "localcloud.ssm.patches", "localcloud.ec2.patches"])
def test_patch_hook_points_exist(module):
    for mod_name, cls_name, attr in importlib.import_module(module).PATCH_POINTS:
        owner = getattr(importlib.import_module(mod_name), cls_name, None)
        assert owner is not None, f"hook moved: {mod_name}.{cls_name}"
        assert hasattr(owner, attr), f"hook moved: {mod_name}.{cls_name}.{attr}"


def test_ssm_backend_keeps_parameters_as_version_lists():
    from moto.ssm.models import SimpleSystemManagerBackend
    backend = SimpleSystemManagerBackend("us-east-1", "123456789012")
    assert isinstance(backend._parameters, dict), "hook moved: SimpleSystemManagerBackend._parameters"


def test_werkzeug_is_pinned_to_the_handler_server_py_forks():
    """core/server.py replaces werkzeug's WSGIRequestHandler.run_wsgi: the pin in pyproject
    is the version installed, and what it relies on is there."""
    from importlib.metadata import version

    from werkzeug import serving
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.lower().startswith("werkzeug"))
    assert pin == f"werkzeug=={version('werkzeug')}"
    for name in ("run_wsgi", "make_environ", "send_error"):
        assert hasattr(serving.WSGIRequestHandler, name), f"werkzeug moved {name}"
    assert hasattr(serving, "DechunkedInput")


def test_tripwire_moto_maintenance_window_attributes():
    from moto.ssm.models import FakeMaintenanceWindow

    from localcloud.ssm import patches as ssm_patches
    window = FakeMaintenanceWindow("w", "", 2, 1, "cron(0 1 * * ? *)", None, None, None, None)
    for attr in ssm_patches.WINDOW_ATTRIBUTES.values():
        assert attr in vars(window), f"hook moved: FakeMaintenanceWindow.{attr}"
    ssm_patches.update_window(window, {"Name": "w2", "Enabled": False})
    assert window.name == "w2" and window.localcloud_flags == {"Enabled": False}
