"""nbval runs the notebooks in order (00 ... 99) against a local cloud of their own.

Each notebook runs in its own kernel; kernels inherit this process's environment,
so LOCALCLOUD_PORT / AWS_ENDPOINT_URL point them all at the cloud started here.
"""
import os

_cloud = None


def pytest_configure(config):
    global _cloud
    if os.environ.get("MLPIPE_TARGET", "local") != "local":
        raise RuntimeError("the notebook tests run on the local cloud only (unset MLPIPE_TARGET)")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    from localcloud import LocalCloud

    from localcloud.pytest_plugin import cloud_env

    _cloud = LocalCloud(port=0).start()
    os.environ.update(cloud_env(_cloud))  # endpoint, port and the cloud's operator key


def pytest_unconfigure(config):
    if _cloud is not None:
        _cloud.stop()
