"""Exercises whose outcome needs a state a notebook cell should not make (no region, no
credentials): their expected outcome, as docs/instructor/answers.md states it."""
from __future__ import annotations

import pytest

from mlpipe import clients
from mlpipe.config import ConfigError, load_settings


def test_e00_4_aws_without_a_region_is_one_line(monkeypatch, tmp_path):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ConfigError) as caught:
        load_settings({"MLPIPE_TARGET": "aws"})
    shown = caught.value._render_traceback_()          # what Jupyter prints instead of a traceback
    assert len(shown) == 1 and shown[0].startswith("ConfigError: MLPIPE_TARGET=aws needs a region")


def test_e00_4_aws_without_credentials_is_one_line(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")   # no instance-metadata lookup either
    clients.clear_cache()
    settings = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "us-east-1"})
    try:
        with pytest.raises(clients.CredentialsError) as caught:
            clients.check_credentials(settings)
    finally:
        clients.clear_cache()
    shown = caught.value._render_traceback_()
    assert len(shown) == 1 and "no AWS credentials were found" in shown[0]
