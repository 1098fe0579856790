"""pytest fixture `local_cloud`: one LocalCloud per test session, on a free port.

Enable it with `pytest_plugins = ["localcloud.pytest_plugin"]` in a conftest.py, or import
the fixture into a test module (`from localcloud.pytest_plugin import local_cloud`): the
cloud is shared either way (moto's state is process-wide), and stopped at session end.
For the session it sets AWS_ENDPOINT_URL and LOCALCLOUD_PORT, and the cloud's operator key
as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (no session token), so plain boto3 reaches it
and is the operator there (the cloud verifies signatures).
"""
from __future__ import annotations

import os
import threading

import pytest

from .core.cloud import LocalCloud

_lock = threading.Lock()
_shared: dict = {"cloud": None, "users": 0, "saved_env": None}


_ENV_SET = ("AWS_ENDPOINT_URL", "LOCALCLOUD_PORT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def cloud_env(cloud: LocalCloud) -> dict[str, str]:
    """What plain boto3 needs to reach `cloud` as its operator."""
    env = {"AWS_ENDPOINT_URL": cloud.endpoint_url, "LOCALCLOUD_PORT": str(cloud.port)}
    key = getattr(cloud, "_operator_key", None)
    if key is not None:
        env.update(key.env())
    return env


def acquire_shared_cloud(**options) -> LocalCloud:
    with _lock:
        if _shared["cloud"] is None:
            cloud = LocalCloud(port=0, **options).start()
            _shared["saved_env"] = {k: os.environ.get(k) for k in _ENV_SET}
            os.environ.update(cloud_env(cloud))
            for k in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
                os.environ.pop(k, None)
            _shared["cloud"] = cloud
        _shared["users"] += 1
        return _shared["cloud"]


def release_shared_cloud() -> None:
    with _lock:
        _shared["users"] -= 1
        if _shared["users"] > 0 or _shared["cloud"] is None:
            return
        cloud, _shared["cloud"] = _shared["cloud"], None
        for k, v in (_shared["saved_env"] or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    cloud.stop()


@pytest.fixture(scope="session")
def local_cloud():
    """A running LocalCloud (session-scoped); AWS_ENDPOINT_URL points at it."""
    cloud = acquire_shared_cloud(async_retry_delays=(0.2, 0.4))
    try:
        yield cloud
    finally:
        release_shared_cloud()
