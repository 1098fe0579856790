"""Settings, the client factory and the credential check."""
import pytest
from botocore.exceptions import ClientError

from mlpipe import clients
from mlpipe.config import ConfigError, Settings, load_settings, validate_stack
from mlpipe.names import Names

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def test_defaults_are_local_and_offline():
    s = load_settings({})
    assert s.target == "local" and s.region == "us-east-1" and s.stack == "mlpipe"
    assert s.endpoint_url == "http://127.0.0.1:4566"
    assert s.instance_type == "t3.small"


def test_localcloud_port_and_endpoint_override():
    assert load_settings({"LOCALCLOUD_PORT": "5001"}).endpoint_url == "http://127.0.0.1:5001"
    s = load_settings({"LOCALCLOUD_PORT": "5001", "AWS_ENDPOINT_URL": "http://localhost:7000/"})
    assert s.endpoint_url == "http://localhost:7000"
    with pytest.raises(ConfigError, match="LOCALCLOUD_PORT"):
        load_settings({"LOCALCLOUD_PORT": "abc"})
    with pytest.raises(ConfigError, match="TCP port"):
        load_settings({"LOCALCLOUD_PORT": "70000"})


@pytest.mark.parametrize("target", ["prod", "AWS-real", "localhost"])
def test_unknown_target_is_a_clear_error(target):
    with pytest.raises(ConfigError, match="'local'.*'aws'"):
        load_settings({"MLPIPE_TARGET": target})


def test_aws_target_needs_a_region_and_has_no_endpoint(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigError, match="AWS_REGION"):
        load_settings({"MLPIPE_TARGET": "aws"})
    s = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "eu-west-1",
                       "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})
    assert s.region == "eu-west-1" and s.endpoint_url is None


@pytest.mark.parametrize("stack", ["mlpipe", "alice", "team-7", "a" * 20, "x"])
def test_valid_stacks(stack):
    assert load_settings({"MLPIPE_STACK": stack}).stack == stack


@pytest.mark.parametrize("stack,why", [
    ("Alice", "lowercase"), ("a" * 21, "at most 20"), ("-a", "start with a letter"),
    ("a-", "not end with a hyphen"), ("a_b", "lowercase letters, digits and hyphens"),
    ("a.b", "hyphens"), ("9lives", "start with a letter"), ("a--b", "'--'"),
])
def test_invalid_stacks_explain_why(stack, why):
    with pytest.raises(ConfigError) as ex:
        validate_stack(stack)
    assert why in str(ex.value) and "S3 bucket names" in str(ex.value)


def test_numeric_settings_are_validated():
    s = load_settings({"MLPIPE_COMMAND_TIMEOUT": "120", "MLPIPE_PROMOTION_TOLERANCE": "0.05"})
    assert s.command_timeout_seconds == 120 and s.promotion_tolerance == 0.05
    with pytest.raises(ConfigError, match="MLPIPE_COMMAND_TIMEOUT"):
        load_settings({"MLPIPE_COMMAND_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="MLPIPE_PROMOTION_TOLERANCE"):
        load_settings({"MLPIPE_PROMOTION_TOLERANCE": "nan"})
    with pytest.raises(ConfigError, match="model kind"):
        load_settings({"MLPIPE_MODEL_KIND": "xgboost"})


def test_settings_are_hashable_and_frozen():
    s = load_settings({})
    assert hash(s) == hash(load_settings({}))
    with pytest.raises(Exception):
        s.stack = "other"
    with pytest.raises(ConfigError):
        s.with_(stack="BAD")


def test_local_client_uses_endpoint_and_dummy_credentials():
    s = load_settings({"LOCALCLOUD_PORT": "4999"})
    c = clients.client("s3", s)
    assert c.meta.endpoint_url == "http://127.0.0.1:4999"
    creds = c._request_signer._credentials
    assert creds.access_key == "testing" and creds.secret_key == "testing"
    assert clients.client("s3", s) is c  # cached
    assert clients.client("sqs", s) is not c


def test_clients_share_one_model_loader_across_sessions():
    """Each client has a session of its own, but AWS's service models are parsed once: a
    client made after clear_cache() finds EC2's model already loaded."""
    s = load_settings({"LOCALCLOUD_PORT": "4999"})
    first = clients.client("ec2", s)
    clients.clear_cache()
    second = clients.client("ec2", s)
    assert second is not first
    loader = second._loader
    assert loader is first._loader
    assert any(key[0] == "load_service_model" for key in loader._cache)
    assert len(loader.search_paths) == len(set(loader.search_paths))  # boto3's data dir once


def test_aws_client_ignores_endpoint_variables(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    s = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "eu-central-1"})
    clients.clear_cache()
    c = clients.client("s3", s)
    assert "amazonaws.com" in c.meta.endpoint_url and c.meta.region_name == "eu-central-1"


def test_local_cloud_not_running_is_a_clear_error():
    s = load_settings({"LOCALCLOUD_PORT": "9"})  # discard port: nothing listens
    clients.clear_cache()
    with pytest.raises(clients.CredentialsError, match="localcloud up"):
        clients.check_credentials(s)


def test_aws_credential_check_and_target_line(aws):
    settings, names = aws
    ident = clients.check_credentials(settings)
    assert ident["account"] == "123456789012" and ident["arn"].startswith("arn:aws:")
    line = clients.describe_target(settings)
    assert line.startswith("target=aws account=123456789012 region=us-east-1 stack=mlpipe")
    assert "endpoint" not in line


def test_aws_no_credentials_is_a_clear_error(monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    s = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "us-east-1"})
    clients.clear_cache()
    with pytest.raises(clients.CredentialsError, match="no AWS credentials"):
        clients.check_credentials(s)
    clients.clear_cache()


def test_aws_expired_token_is_a_clear_error(monkeypatch):
    s = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "us-east-1"})
    clients.clear_cache()
    sts = clients.client("sts", s)

    def expired(**_):
        raise ClientError({"Error": {"Code": "ExpiredToken", "Message": "The security token included "
                                     "in the request is expired"}}, "GetCallerIdentity")
    monkeypatch.setattr(sts, "get_caller_identity", expired)
    with pytest.raises(clients.CredentialsError, match="expired"):
        clients.check_credentials(s)
    clients.clear_cache()


def test_names_follow_the_contract():
    n = Names.for_stack(Settings(), "123456789012")
    assert n.input_bucket == "mlpipe-input-123456789012-us-east-1"
    assert n.output_bucket == "mlpipe-output-123456789012-us-east-1"
    assert n.functions == {"trigger": "mlpipe-trigger", "worker": "mlpipe-worker",
                           "stop_ec2": "mlpipe-stop-ec2", "reaper": "mlpipe-reaper",
                           "predict": "mlpipe-predict"}
    assert n.role("stop_ec2") == "mlpipe-stop-ec2-role" and n.role("ec2") == "mlpipe-ec2-role"
    assert n.instance_profile == "mlpipe-ec2-profile"
    assert n.layers == ("mlpipe-python-packages", "mlpipe-model-code")
    assert (n.api_name, n.api_resource, n.api_stage, n.api_key_name, n.usage_plan) == (
        "mlpipe-api", "predict", "production", "mlpipe-key", "mlpipe-plan")
    assert n.reaper_rule == "mlpipe-reaper-schedule" and n.instance_name == "mlpipe-trainer"
    assert n.tags == {"stack": "mlpipe"}
    assert (n.holdout_key, n.code_key, n.latest_key) == (
        "holdout/holdout.csv", "code/mlpipe-code.zip", "models/latest.json")


def test_longest_stack_fits_every_aws_name_limit():
    n = Names("a" * 20, "123456789012", "ap-southeast-2")
    assert all(len(b) <= 63 for b in n.buckets)
    assert all(len(r) <= 64 for r in n.roles)
    assert all(len(f) <= 64 for f in n.functions.values())
    assert len(n.reaper_rule) <= 64 and len(n.instance_profile) <= 128


def test_idle_grace_must_outlast_the_workers_wait():
    from mlpipe.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="IDLE_GRACE"):
        load_settings({"MLPIPE_IDLE_GRACE_SECONDS": "100", "MLPIPE_READY_TIMEOUT": "200"})
    with pytest.raises(ConfigError, match="900 s"):
        load_settings({"MLPIPE_READY_TIMEOUT": "870", "MLPIPE_IDLE_GRACE_SECONDS": "1000"})


def test_runtime_is_lambdas_on_aws_and_this_python_locally():
    import sys

    from layer_build import sources
    from mlpipe.config import AWS_LAMBDA_RUNTIME

    assert AWS_LAMBDA_RUNTIME == f"python{sources.AWS_PYTHON_VERSION}"  # layer built for it
    assert Settings(target="aws", endpoint_url=None).lambda_runtime == AWS_LAMBDA_RUNTIME
    assert Settings().lambda_runtime == f"python{sys.version_info[0]}.{sys.version_info[1]}"


def test_a_stack_with_other_settings_keeps_its_names_and_refuses_another_stacks():
    """``Stack.with_`` changes what a call uses (a model kind, the usage plan's limits) on the
    same stack; a setting names derive from (the stack's name, region, target) is another
    stack, made with ``Stack.load``."""
    from mlpipe.stack import Stack

    settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    stack = Stack(settings, Names.for_stack(settings, "123456789012"))
    forest = stack.with_(model_kind="forest", throttle_rate_limit=1.0)
    assert forest.settings.model_kind == "forest" and forest.settings.throttle_rate_limit == 1.0
    assert forest.names is stack.names and stack.settings.model_kind != "forest"
    for change in ({"stack": "other"}, {"region": "eu-west-1"}):
        with pytest.raises(ValueError, match="another stack"):
            stack.with_(**change)
