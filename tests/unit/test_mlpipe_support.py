"""Shared fixtures of the mlpipe unit tests (imported by the test_mlpipe_* modules).

Everything runs in-process against moto's ``mock_aws``. The aws target is used for
most tests because mock_aws intercepts AWS's own endpoints (the local target's
``http://127.0.0.1:P`` endpoint is a real socket; the local path is covered by the
integration test against the local cloud).
"""
import json

import pytest

from mlpipe import clients
from mlpipe.config import load_settings
from mlpipe.names import Names


def _tls_aware_get_permission(self, action, resource):
    """moto ignores policy conditions, so it reads our deny-non-TLS statement as a plain
    deny. mock_aws requests are HTTPS, so on AWS that statement never applies: drop it."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(self.policy)
    kept = [s for s in policy.get("Statement", [])
            if s.get("Condition") != {"Bool": {"aws:SecureTransport": "false"}}]
    if not kept:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)


def _moto_update_model(self):
    """UpdateModel's `replace /schema` and `/description`, which moto lacks (AWS:
    https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateModel.html; the local cloud
    serves it in localcloud/apigateway/updates.py)."""
    parts = self.path.split("/")
    model = self.backend.get_model(parts[2], parts[4])
    for op in self._get_param("patchOperations") or []:
        assert op["op"] == "replace" and op["path"] in ("/schema", "/description"), op
        setattr(model, op["path"][1:], op["value"])
    return 200, {}, json.dumps(model.to_json())


@pytest.fixture
def aws(monkeypatch, aws_credentials):
    """(settings, names) for MLPIPE_TARGET=aws inside mock_aws, with fresh client caches."""
    from moto import mock_aws
    from moto.s3.models import FakeBucket

    monkeypatch.setattr(FakeBucket, "get_permission", _tls_aware_get_permission)
    for k in ("AWS_ENDPOINT_URL", "MLPIPE_STACK"):
        monkeypatch.delenv(k, raising=False)
    settings = load_settings({"MLPIPE_TARGET": "aws", "AWS_REGION": "us-east-1",
                              "MLPIPE_READY_TIMEOUT": "60", "MLPIPE_WAITER_TIMEOUT": "30"})
    clients.clear_cache()
    with mock_aws():
        names = Names.for_stack(settings, clients.account_id(settings))
        yield settings, names
    clients.clear_cache()


def quiet(_msg):
    pass
