"""Lambda's control plane answers as AWS answers (localcloud/awslambda/patches.py and the
Lambda rules in localcloud/validation/rules.py), tried with plain boto3."""
import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import LAMBDA_TRUST as TRUST
from localcloud.testing import zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture(scope="module")
def lam(local_cloud):  # noqa: F811
    return boto3.client("lambda", endpoint_url=local_cloud.endpoint_url, region_name=REGION)


@pytest.fixture(scope="module")
def role(local_cloud):  # noqa: F811
    iam = boto3.client("iam", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return iam.create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}",
                           AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]


ECHO = "def handler(event, context):\n    return event\n"


def _zip(source: str = ECHO) -> bytes:
    return zip_bytes({"h.py": source})


def _create(lam, role, source=ECHO, name=None, **kw):
    """A python3.12 function whose h.py is ``source`` (a fresh name unless one is given)."""
    return lam.create_function(FunctionName=name or f"f-{uuid.uuid4().hex[:8]}",
                               Runtime="python3.12", Role=role, Handler="h.handler",
                               Code={"ZipFile": _zip(source)}, **kw)


def _error(exc):
    return (exc.value.response["Error"]["Code"],
            exc.value.response["ResponseMetadata"]["HTTPStatusCode"],
            exc.value.response["Error"]["Message"])


def test_an_empty_environment_given_is_answered(lam, role):
    fn = _create(lam, role, Environment={"Variables": {}}, Publish=True)
    assert fn["Environment"] == {"Variables": {}}
    assert lam.get_function(FunctionName=fn["FunctionName"])["Configuration"][
        "Environment"] == {"Variables": {}}
    assert "Environment" not in _create(lam, role)


def test_listings_carry_no_states(lam, role):
    fn = _create(lam, role)
    listed = [f for f in lam.list_functions()["Functions"]
              if f["FunctionName"] == fn["FunctionName"]]
    assert listed and not {"State", "LastUpdateStatus", "RuntimeVersionConfig"} & set(listed[0])
    assert lam.get_function(FunctionName=fn["FunctionName"])["Configuration"]["State"] == "Active"


def test_function_names_and_qualifiers_are_checked_as_lambda_does(lam, role):
    fn = _create(lam, role)
    name, arn = fn["FunctionName"], fn["FunctionArn"]
    other = arn.replace(f":{REGION}:", ":eu-central-1:")
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=other)
    assert _error(e) == ("ResourceNotFoundException", 404, "Functions from 'eu-central-1' are "
                         f"not reachable in this region ('{REGION}')")
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName=f"{arn}:1", Qualifier="$LATEST")
    assert _error(e)[:2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert _error(e) == ("InvalidParameterValueException", 400,
                         "$LATEST version cannot be deleted without deleting the function.")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name + "-nope")
    assert _error(e)[2].endswith(f":function:{name}-nope:$LATEST")
    # deleting a version the function does not have succeeds, again and again
    lam.delete_function(FunctionName=name, Qualifier="42")
    lam.delete_function(FunctionName=name, Qualifier="42")
    lam.get_function(FunctionName=name)


def test_publish_version_checks_the_code_sha(lam, role):
    fn = _create(lam, role)
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName=fn["FunctionName"], CodeSha256="nope")
    assert _error(e)[:2] == ("InvalidParameterValueException", 400)
    assert lam.publish_version(FunctionName=fn["FunctionName"],
                               CodeSha256=fn["CodeSha256"])["Version"] == "1"


def test_permission_principals_name_accounts_and_arns(lam, role):
    fn = _create(lam, role)
    got = lam.add_permission(FunctionName=fn["FunctionName"], StatementId="a",
                             Action="lambda:InvokeFunction", Principal="111122223333")
    assert json.loads(got["Statement"])["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    got = lam.add_permission(FunctionName=fn["FunctionName"], StatementId="b",
                             Action="lambda:InvokeFunctionUrl", Principal="*",
                             SourceAccount="111122223333", FunctionUrlAuthType="NONE",
                             PrincipalOrgID="o-1234567890")
    assert json.loads(got["Statement"])["Condition"]["StringEquals"] == {
        "AWS:SourceAccount": "111122223333", "lambda:FunctionUrlAuthType": "NONE",
        "aws:PrincipalOrgID": "o-1234567890"}


def test_layer_versions_answer_description_not_an_empty_license(lam):
    lv = lam.publish_layer_version(LayerName=f"l-{uuid.uuid4().hex[:8]}",
                                   Content={"ZipFile": _zip()})
    assert lv["Description"] == "" and "LicenseInfo" not in lv
    got = lam.get_layer_version_by_arn(Arn=lv["LayerVersionArn"])
    assert (got["LayerVersionArn"], got["Version"]) == (lv["LayerVersionArn"], 1)
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName=lv["LayerArn"].split(":")[-1], VersionNumber=0)
    assert _error(e) == ("InvalidParameterValueException", 400,
                         "Layer Version Cannot be less than 1")


def test_code_in_s3_must_be_there(lam, role, local_cloud):  # noqa: F811
    s3 = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    bucket = f"code-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=f"f-{uuid.uuid4().hex[:8]}", Runtime="python3.12",
                            Role=role, Handler="h.handler",
                            Code={"S3Bucket": bucket, "S3Key": "missing.zip"})
    assert _error(e)[:2] == ("InvalidParameterValueException", 400)
    assert "NoSuchKey" in _error(e)[2]
    fn = _create(lam, role)
    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName=fn["FunctionName"], S3Bucket=bucket + "-nope",
                                 S3Key="k.zip")
    assert "NoSuchBucket" in _error(e)[2]


def test_remove_permission_with_the_policys_revision_id(lam, role):
    fn = _create(lam, role)
    for sid in ("a", "b"):
        lam.add_permission(FunctionName=fn["FunctionName"], StatementId=sid,
                           Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName=fn["FunctionName"], StatementId="a",
                              RevisionId=str(uuid.uuid4()))
    assert _error(e)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName=fn["FunctionName"], StatementId="zz")
    assert _error(e) == ("ResourceNotFoundException", 404,
                         "Statement zz is not found in resource policy.")
    revision = lam.get_policy(FunctionName=fn["FunctionName"])["RevisionId"]
    lam.remove_permission(FunctionName=fn["FunctionName"], StatementId="a", RevisionId=revision)
    assert lam.get_policy(FunctionName=fn["FunctionName"])["RevisionId"] != revision
    statements = json.loads(lam.get_policy(FunctionName=fn["FunctionName"])["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["b"]


def test_a_one_character_function_names_its_session_as_lambda_does(lam, role):
    source = ("import boto3\n\ndef handler(event, context):\n"
              "    return boto3.client('sts').get_caller_identity()['Arn']\n")
    name = uuid.uuid4().hex[0]
    try:
        lam.delete_function(FunctionName=name)
    except ClientError:
        pass
    _create(lam, role, source, name=name)
    arn = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert arn.endswith(f"/{name}@lambda_function")


def test_a_six_mib_answer_passes_and_one_over_the_limit_is_a_function_error(lam, role):
    source = "def handler(event, context):\n    return 'a' * event['n']\n"
    name = _create(lam, role, source)["FunctionName"]
    ok = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6 * 1024 * 1024}))
    assert "FunctionError" not in ok and len(json.loads(ok["Payload"].read())) == 6 * 1024 * 1024
    big = lam.invoke(FunctionName=name, Payload=json.dumps({"n": 6 * 1024 * 1024 + 100}))
    assert big["FunctionError"] == "Unhandled"
    assert json.loads(big["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


def test_invoke_with_a_qualifier_runs_that_version(lam, role):
    source = ("def handler(event, context):\n"
              "    return [context.function_version, context.invoked_function_arn]\n")
    name = _create(lam, role, source, Publish=True)["FunctionName"]
    out = lam.invoke(FunctionName=name, Qualifier="1")
    assert out["ExecutedVersion"] == "1"
    version, arn = json.loads(out["Payload"].read())
    assert version == "1" and arn.endswith(f":function:{name}:1")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Qualifier="7")
    assert _error(e)[:2] == ("ResourceNotFoundException", 404)
    assert _error(e)[2].endswith(f":function:{name}:7")


def test_invoke_answers_with_the_invocations_request_id_and_tab_ended_report(lam, role):
    source = "def handler(event, context):\n    return context.aws_request_id\n"
    name = _create(lam, role, source)["FunctionName"]
    out = lam.invoke(FunctionName=name, LogType="Tail")
    rid = json.loads(out["Payload"].read())
    assert out["ResponseMetadata"]["RequestId"] == rid
    import base64
    tail = base64.b64decode(out["LogResult"]).decode()
    report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
    assert report.startswith(f"REPORT RequestId: {rid}\t") and report.endswith(" ms\t")


def test_a_handler_exiting_0_gave_no_reason(lam, role):
    source = "import sys\n\ndef handler(event, context):\n    sys.exit(0)\n"
    name = _create(lam, role, source)["FunctionName"]
    out = lam.invoke(FunctionName=name)
    doc = json.loads(out["Payload"].read())
    assert out["FunctionError"] == "Unhandled" and doc["errorType"] == "Runtime.ExitError"
    assert doc["errorMessage"].endswith(" Error: Runtime exited without providing a reason")
