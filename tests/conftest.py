"""Shared test setup: dummy credentials everywhere, so no test can reach real AWS."""
import os

import pytest

# The `local_cloud` fixture (one real local cloud per test session, on a free port).
pytest_plugins = ["localcloud.pytest_plugin"]

# Set at import time too, before any test module builds a boto3 client.
_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
for _k, _v in _DUMMY_ENV.items():
    os.environ[_k] = _v
for _k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_k, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ.setdefault("MLPIPE_TARGET", "local")


@pytest.fixture
def aws_credentials(monkeypatch):
    """Dummy credentials for moto (already set globally; explicit for readability)."""
    for k, v in _DUMMY_ENV.items():
        monkeypatch.setenv(k, v)
