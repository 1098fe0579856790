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


def pytest_collection_modifyitems(session, config, items):
    """Unit tests first, then integration tests. The local cloud hooks moto's classes for the
    whole process while it runs (moto's state is process-wide), so in-process mock_aws unit
    tests must all have run before the first integration test starts it."""
    def kind(item):
        return 1 if "/integration/" in str(item.path).replace("\\", "/") else 0

    items.sort(key=kind)  # stable: keeps each group's own order
