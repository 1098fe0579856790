"""Parameter Store reads as AWS answers them (localcloud/ssm/parameters.py): a top-level name
with or without its leading slash, a path only fully qualified, Secrets Manager references."""
from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import client_error

pytestmark = pytest.mark.integration
REF = "/aws/reference/secretsmanager/"


@pytest.fixture(scope="module")
def clients(local_cloud):  # noqa: F811
    def client(service):
        return boto3.client(service, endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")
    return client("ssm"), client("secretsmanager")


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_a_top_level_name_is_found_with_or_without_its_slash_under_the_name_asked(clients):
    ssm, _ = clients
    name = f"param-{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=name, Value="123", Type="String")
    for asked in (name, "/" + name):
        assert ssm.get_parameter(Name=asked)["Parameter"]["Name"] == asked
        [got] = ssm.get_parameters(Names=[asked])["Parameters"]
        assert (got["Name"], got["Value"]) == (asked, "123")


def test_a_path_is_read_only_fully_qualified(clients):
    ssm, _ = clients
    top = uuid.uuid4().hex[:8]
    ssm.put_parameter(Name=f"/{top}/b/c", Value="123", Type="String")
    assert ssm.get_parameter(Name=f"/{top}/b/c")["Parameter"]["Value"] == "123"
    for wrong in (f"{top}/b/c", f"/{top}//b//c"):
        with pytest.raises(ClientError) as exc:
            ssm.get_parameter(Name=wrong)
        assert _code(exc) == "ValidationException"
        assert "sub-paths divided by slash symbol" in str(exc.value)
        with pytest.raises(ClientError) as exc:
            ssm.get_parameters(Names=[wrong])
        assert _code(exc) == "ValidationException"


def test_a_secrets_manager_reference_reads_the_secret(clients):
    ssm, secrets = clients
    secret = f"test_secret-{uuid.uuid4().hex[:8]}"
    arn = secrets.create_secret(Name=secret, SecretString="my_secret")["ARN"]
    got = ssm.get_parameter(Name=REF + secret, WithDecryption=True)["Parameter"]
    assert (got["Name"], got["Value"], got["Type"]) == (REF + secret, "my_secret", "SecureString")
    source = json.loads(got["SourceResult"])
    assert (source["name"], source["ARN"], source["secretString"]) == (secret, arn, "my_secret")
    # the secret's own name is not a parameter
    with pytest.raises(ClientError) as exc:
        ssm.get_parameter(Name=secret, WithDecryption=True)
    assert _code(exc) == "ParameterNotFound"
    with pytest.raises(ClientError) as exc:
        ssm.get_parameter(Name=REF + "no-such-secret", WithDecryption=True)
    assert _code(exc) == "ParameterNotFound" and f"Secret {REF}no-such-secret not found" in str(exc.value)


def test_get_parameters_mixes_parameters_and_secrets_and_lists_what_is_missing(clients):
    ssm, secrets = clients
    name, secret = f"param-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=name, Value="123", Type="String")
    secrets.create_secret(Name=secret, SecretString="s3cr3t")
    answer = ssm.get_parameters(Names=[name, REF + secret, "inexistent_param", REF + "inexistent"],
                                WithDecryption=True)
    assert sorted((p["Name"], p["Value"]) for p in answer["Parameters"]) == \
        sorted([(name, "123"), (REF + secret, "s3cr3t")])
    assert sorted(answer["InvalidParameters"]) == sorted(["inexistent_param", REF + "inexistent"])
    only_secrets = ssm.get_parameters(Names=[REF + "inexistent"], WithDecryption=True)
    assert (only_secrets["Parameters"], only_secrets["InvalidParameters"]) == ([], [REF + "inexistent"])


def test_an_empty_path_is_refused_not_a_server_error(local_cloud):  # noqa: F811
    """botocore refuses Path="" itself; sent raw (as the fuzz does), the cloud answers AWS's
    ValidationException."""
    ssm = boto3.client("ssm", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1",
                       config=Config(parameter_validation=False))
    status, error = client_error(ssm.get_parameters_by_path, Path="")
    assert (status, error["Code"]) == (400, "ValidationException")
    assert "at 'path' failed to satisfy constraint" in error["Message"]


def test_a_secret_is_read_only_with_decryption_and_by_version_or_label(clients):
    ssm, secrets = clients
    secret = f"versions-{uuid.uuid4().hex[:8]}"
    first = secrets.create_secret(Name=secret, SecretString="1st")["VersionId"]
    secrets.put_secret_value(SecretId=secret, SecretString="2nd", VersionStages=["AWSCURRENT"])
    for call in (lambda: ssm.get_parameter(Name=REF + secret),
                 lambda: ssm.get_parameters(Names=[REF + secret], WithDecryption=False)):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "ValidationException" and "WithDecryption flag must be True" in str(exc.value)

    def value(name):
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    assert value(REF + secret) == "2nd"
    assert value(f"{REF}{secret}:{first}") == "1st"
    assert value(f"{REF}{secret}:AWSPREVIOUS") == "1st"


def test_a_read_of_a_missing_name_never_poisons_later_reads(clients):
    """moto leaves an empty version list behind a read of a missing name (a history, a
    label); GetParameter, GetParameters and DescribeParameters still answer as AWS does."""
    ssm, _ = clients
    name = f"/missing-{uuid.uuid4().hex[:8]}"
    for read in (lambda: ssm.get_parameter_history(Name=name),
                 lambda: ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["x"])):
        with pytest.raises(ClientError) as exc:
            read()
        assert _code(exc) == "ParameterNotFound"
    with pytest.raises(ClientError) as exc:
        ssm.get_parameter(Name=name)
    assert _code(exc) == "ParameterNotFound"
    assert ssm.get_parameters(Names=[name])["InvalidParameters"] == [name]
    listed = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])
    assert listed["Parameters"] == []


def test_aws_public_parameters_are_read_by_path_in_one_call(local_cloud):  # noqa: F811
    """GetParametersByPath over moto's tens of thousands of global-infrastructure defaults
    answered only after 40 s (a scan of every parameter per parameter read) and failed
    botocore's default 60 s read timeout on a loaded machine."""
    ssm = boto3.client("ssm", endpoint_url=local_cloud.endpoint_url, region_name="us-west-1",
                       config=Config(read_timeout=20, retries={"max_attempts": 1}))
    path = "/aws/service/global-infrastructure/services"
    params = ssm.get_parameters_by_path(Path=path)["Parameters"]
    assert params and all(p["Name"].startswith(path + "/") for p in params)
    assert ssm.get_parameter(Name=f"{path}/ssm")["Parameter"]["Value"] == "ssm"
