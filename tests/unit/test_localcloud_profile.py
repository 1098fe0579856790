"""localcloud.core.profile: the timing/account profile (`--like-aws`, LOCALCLOUD_PROFILE=aws),
its overrides, and the CLI that starts a cloud with it."""
import os
import subprocess
import sys

import boto3
import pytest

from localcloud.core import free_port, health
from localcloud.core.profile import AWS, Profile, resolve_profile
from localcloud.testing import LAMBDA_TRUST, zip_bytes


def test_default_profile_adds_no_aws_delay():
    p = resolve_profile({}, environ={})
    assert p == Profile()
    assert (p.role_propagation_seconds, p.instance_profile_propagation_seconds) == (0, 0)
    assert p.default_vpc is True


def test_aws_profile_by_env_or_option():
    assert resolve_profile({}, environ={"LOCALCLOUD_PROFILE": "aws"}) == AWS
    assert resolve_profile({"profile": "aws"}, environ={}) == AWS
    assert AWS.role_propagation_seconds > 0 and AWS.instance_profile_propagation_seconds > 0
    assert AWS.ec2_transition_seconds > 1 and AWS.ssm_registration_seconds > 1


def test_every_delay_is_configurable_env_then_options():
    env = {"LOCALCLOUD_PROFILE": "aws", "LOCALCLOUD_ROLE_PROPAGATION_SECONDS": "2",
           "LOCALCLOUD_INSTANCE_PROFILE_PROPAGATION_SECONDS": "3",
           "LOCALCLOUD_EC2_TRANSITION_SECONDS": "0", "LOCALCLOUD_SSM_REGISTRATION_SECONDS": "4.5",
           "LOCALCLOUD_DEFAULT_VPC": "0"}
    p = resolve_profile({}, environ=env)
    assert (p.name, p.role_propagation_seconds, p.instance_profile_propagation_seconds,
            p.ec2_transition_seconds, p.ssm_registration_seconds, p.default_vpc) == \
        ("aws", 2.0, 3.0, 0.0, 4.5, False)
    p = resolve_profile({"ssm_registration_seconds": 1, "instance_transition_seconds": 0.1,
                         "default_vpc": True}, environ=env)
    assert (p.ssm_registration_seconds, p.ec2_transition_seconds, p.default_vpc) == (1.0, 0.1, True)


@pytest.mark.parametrize("env, fragment", [
    ({"LOCALCLOUD_PROFILE": "azure"}, "LOCALCLOUD_PROFILE must be one of default, aws"),
    ({"LOCALCLOUD_SSM_REGISTRATION_SECONDS": "soon"}, "must be a number of seconds"),
    ({"LOCALCLOUD_ROLE_PROPAGATION_SECONDS": "-1"}, "0 or more seconds"),
    ({"LOCALCLOUD_DEFAULT_VPC": "maybe"}, "true or false"),
])
def test_bad_settings_are_refused_clearly(env, fragment):
    with pytest.raises(ValueError, match=fragment):
        resolve_profile({}, environ=env)


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "localcloud", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_up_like_aws_runs_the_aws_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_HOME", str(tmp_path))  # health() finds the cloud's key there
    port = free_port()
    env = {**os.environ, "LOCALCLOUD_HOME": str(tmp_path), "LOCALCLOUD_PORT": str(port),
           "LOCALCLOUD_ROLE_PROPAGATION_SECONDS": "30"}
    env.pop("LOCALCLOUD_PROFILE", None)
    endpoint = f"http://127.0.0.1:{port}"
    up = _cli("up", "--detach", "--like-aws", "--no-default-vpc", env=env)
    try:
        assert up.returncode == 0, up.stderr
        doc = health(endpoint)
        assert doc["profile"]["name"] == "aws" and doc["profile"]["default_vpc"] is False
        assert doc["profile"]["role_propagation_seconds"] == 30.0  # env overrides the profile
        status = _cli("status", env=env)
        assert "profile aws:" in status.stdout and "default_vpc=False" in status.stdout
        again = _cli("up", "--detach", env={**env, "LOCALCLOUD_PROFILE": ""})
        assert again.returncode == 0 and "already up" in again.stdout

        from localcloud.core.operator import for_port
        key = for_port(port)
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_session_token=None,
                  aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret_access_key)
        iam, lam = boto3.client("iam", **kw), boto3.client("lambda", **kw)
        role = iam.create_role(RoleName="fresh", AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
        with pytest.raises(lam.exceptions.InvalidParameterValueException, match="cannot be assumed"):
            lam.create_function(FunctionName="f", Runtime="python3.11", Role=role, Handler="h.h",
                                Code={"ZipFile": zip_bytes({"h.py": "def h(e, c): return 1"})})
    finally:
        down = _cli("down", env=env)
    assert down.returncode == 0


def test_cli_refuses_a_bad_profile(tmp_path):
    env = {**os.environ, "LOCALCLOUD_HOME": str(tmp_path), "LOCALCLOUD_PORT": str(free_port()),
           "LOCALCLOUD_PROFILE": "azure"}
    out = _cli("up", env=env)
    assert out.returncode == 2 and "LOCALCLOUD_PROFILE must be one of" in out.stderr


def test_ensure_running_like_aws_starts_the_aws_profile(tmp_path, monkeypatch):
    from localcloud import ensure_running
    from localcloud.cli import stop_detached

    monkeypatch.setenv("LOCALCLOUD_HOME", str(tmp_path))
    monkeypatch.delenv("LOCALCLOUD_PROFILE", raising=False)
    port = free_port()
    try:
        endpoint = ensure_running(port, like_aws=True)
        assert health(endpoint)["profile"]["name"] == "aws"
    finally:
        stop_detached(port)
