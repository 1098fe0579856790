"""Guards for the moto internals localcloud hooks. Each test is named after its hook point and
fails with a message naming it if a moto upgrade moves or changes it.
Pinned: moto==5.2.5 (pyproject.toml; tests/unit/test_compat_gate.py keeps the gate on it)."""
import inspect
import re
from pathlib import Path

import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _original(owner, name):
    from localcloud.core import hooks
    return hooks.original(owner, name)


def _params(fn):
    return list(inspect.signature(fn).parameters)


def test_moto_version_is_in_the_pinned_range():
    import moto
    major, minor = (int(x) for x in moto.__version__.split(".")[:2])
    assert (major, minor) == (5, 2), (
        f"moto {moto.__version__} installed; localcloud's hooks were written for 5.2")
    assert '"moto[server]==5.2.' in (ROOT / "pyproject.toml").read_text(), \
        "pyproject.toml must pin moto to the version the hooks (and make compat) were run on"


def test_hook_moto_server_DomainDispatcherApplication():
    from moto.moto_server import werkzeug_app
    for name in ("DomainDispatcherApplication", "create_backend_app", "MotoRequestHandler"):
        assert hasattr(werkzeug_app, name), f"hook moved: moto.moto_server.werkzeug_app.{name}"
    app = werkzeug_app.DomainDispatcherApplication(werkzeug_app.create_backend_app)
    assert _params(type(app).__call__)[1:] == ["environ", "start_response"], \
        "hook changed: DomainDispatcherApplication is no longer a plain WSGI app"


def test_hook_moto_backends_list_of_moto_modules():
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    assert callable(backends.list_of_moto_modules), "hook moved: moto.backends.list_of_moto_modules"
    src = inspect.getsource(DomainDispatcherApplication.get_backend_for_host)
    assert "backends.list_of_moto_modules()" in src, (
        "hook changed: DomainDispatcherApplication.get_backend_for_host no longer calls "
        "backends.list_of_moto_modules() (localcloud caches it for speed)")
    assert {"s3", "awslambda", "logs"} <= set(backends.list_of_moto_modules())


def test_hook_LambdaFunction_invoke():
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    invoke = _original(LambdaFunction, "invoke")
    assert _params(invoke) == ["self", "body", "request_headers", "response_headers"], \
        "hook changed: moto.awslambda.models.LambdaFunction.invoke signature"
    assert "fn.invoke(body, headers, response_headers)" in inspect.getsource(LambdaBackend.invoke), \
        "hook changed: LambdaBackend.invoke no longer ends in LambdaFunction.invoke"
    assert hasattr(LambdaFunction, "_invoke_lambda"), "hook moved: LambdaFunction._invoke_lambda"


def test_hook_LambdaFunction_invoke_is_routed_to_localcloud(local_cloud):  # noqa: F811
    from moto.awslambda.models import LambdaFunction
    from localcloud.awslambda.runtime import _patched_invoke
    assert LambdaFunction.invoke is _patched_invoke, "hook not installed: LambdaFunction.invoke"


def test_hook_LambdaFunction_configuration_attributes(local_cloud):  # noqa: F811
    """The attributes the runtime reads from moto's function model."""
    import boto3
    from moto.awslambda.utils import get_backend
    from localcloud.testing import lambda_role, zip_bytes
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")
    lam, iam = boto3.client("lambda", **kw), boto3.client("iam", **kw)
    layer = lam.publish_layer_version(LayerName="hook-layer",
                                      Content={"ZipFile": zip_bytes({"python/x.py": "X=1"})})
    code = zip_bytes({"h.py": "def h(e, c): return 1"})
    lam.create_function(FunctionName="hook-fn", Runtime="python3.11", Role=lambda_role(iam),
                        Handler="h.h", Code={"ZipFile": code}, Layers=[layer["LayerVersionArn"]],
                        Environment={"Variables": {"AB": "1"}})
    lam.add_permission(FunctionName="hook-fn", StatementId="s", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    backend = get_backend("123456789012", "us-east-1")
    fn = backend.get_function("hook-fn")
    assert fn.code_bytes == code, "hook changed: LambdaFunction.code_bytes"
    for attr in ("code_sha_256", "handler", "timeout", "memory_size", "run_time",
                 "function_arn", "function_name", "account_id", "region", "version",
                 "event_invoke_config"):
        assert hasattr(fn, attr), f"hook changed: LambdaFunction.{attr}"
    assert fn.environment_vars == {"AB": "1"}, "hook changed: LambdaFunction.environment_vars"
    assert fn.layers[0]["Arn"] == layer["LayerVersionArn"], "hook changed: LambdaFunction.layers"
    assert fn.policy.statements[0]["Principal"] == {"Service": "s3.amazonaws.com"}, \
        "hook changed: LambdaFunction.policy.statements"
    lv = backend.layers_versions_by_arn(layer["LayerVersionArn"])
    assert lv is not None and lv.code_bytes.startswith(b"PK"), \
        "hook changed: LambdaBackend.layers_versions_by_arn(...).code_bytes"
    assert lv.code_sha_256, "hook changed: LayerVersion.code_sha_256"


def test_hook_s3_notifications_invoke_awslambda():
    from moto.s3 import notifications
    assert hasattr(notifications, "_invoke_awslambda"), \
        "hook moved: moto.s3.notifications._invoke_awslambda"
    fn = _original(notifications, "_invoke_awslambda")
    assert _params(fn) == ["account_id", "event_body", "fn_arn", "region_name"], \
        "hook changed: moto.s3.notifications._invoke_awslambda signature"
    send = _original(notifications, "send_event")
    src = inspect.getsource(send)
    assert "_invoke_awslambda(" in src and "notification.matches(" in src, \
        "hook changed: send_event no longer filters then calls _invoke_awslambda"


def test_hook_s3_notifications_send_event():
    from moto.s3 import models
    for method, event in (("put_object", "OBJECT_CREATED_PUT_EVENT"),
                          ("copy_object", "OBJECT_CREATED_COPY_EVENT"),
                          ("complete_multipart_upload",
                           "OBJECT_CREATED_COMPLETE_MULTIPART_UPLOAD_EVENT")):
        fn = _original(models.S3Backend, method)
        src = inspect.getsource(fn)
        assert "notifications.send_event(" in src and event in src, \
            f"hook changed: S3Backend.{method} no longer calls notifications.send_event({event})"
    src = inspect.getsource(_original(models.S3Backend, "complete_multipart_upload"))
    assert re.search(r"self\.put_object\(", src), (
        "hook changed: complete_multipart_upload no longer stores via put_object; "
        "localcloud's duplicate-Put suppression may be obsolete")


def test_hook_logs_backend():
    from moto.logs.models import logs_backends
    backend = logs_backends["123456789012"]["us-east-1"]
    for name in ("ensure_log_group", "create_log_stream", "put_log_events"):
        assert hasattr(backend, name), f"hook moved: moto logs backend .{name}"
    assert isinstance(backend.groups, dict), "hook changed: moto logs backend .groups"


def test_hook_moto_api_reset():
    from moto.moto_api._internal.models import moto_api_backend
    assert callable(moto_api_backend.reset), "hook moved: moto_api_backend.reset"


def test_hook_lambda_get_backend():
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.utils import get_backend
    assert isinstance(get_backend("123456789012", "us-east-1"), LambdaBackend), \
        "hook changed: moto.awslambda.utils.get_backend"


def test_moto_api_reset_answers_get_as_moto_does(local_cloud):  # noqa: F811
    """moto's tests POST /moto-api/reset; a GET gets moto's own 400, word for word."""
    import json
    import urllib.error
    import urllib.request
    from localcloud.core.operator import control_request
    with pytest.raises(urllib.error.HTTPError) as err:  # signed with the operator's key
        control_request(local_cloud.endpoint_url, "/moto-api/reset", timeout=10)
    assert err.value.code == 400
    assert json.loads(err.value.read()) == {"Error": "Need to POST to reset Moto"}
