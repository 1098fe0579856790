"""mlpipe.access: the AWS_IAM route beside the keyed one (against moto, in-process), and the
SigV4 headers a signed request carries."""
from __future__ import annotations

import pytest

from mlpipe import access, clients
from mlpipe.config import Settings
from mlpipe.deploy import deploy_backend
from mlpipe.stack import Stack
from test_mlpipe_api import by_kind, cloud, layer_arns  # noqa: F401  (fixtures)


def test_iam_route_created_then_found(cloud, layer_arns):  # noqa: F811
    settings, names = cloud
    api_id = by_kind(deploy_backend(Stack(settings, names), layer_arns=layer_arns))["rest api"].arn
    first = access.ensure_iam_route(Stack(settings, names))
    assert [r.action for r in first] == ["created", "created", "updated"], [str(r) for r in first]
    second = access.ensure_iam_route(Stack(settings, names))
    assert [r.action for r in second] == ["found", "found", "found"], [str(r) for r in second]

    table = access.method_table(Stack(settings, names)).set_index("method")
    assert table.loc["POST /predict", "authorizationType"] == "NONE"
    assert bool(table.loc["POST /predict", "apiKeyRequired"]) is True
    assert table.loc["POST /predict-iam", "authorizationType"] == "AWS_IAM"
    assert bool(table.loc["POST /predict-iam", "apiKeyRequired"]) is False

    policy = clients.client("lambda", settings).get_policy(FunctionName=names.predict_function)["Policy"]
    assert f"{api_id}/*/POST/predict-iam" in policy
    assert access.iam_url(Stack(settings, names)).endswith("/production/predict-iam")
    # the keyed method is untouched: a backend re-deploy still finds everything
    assert all(r.action == "found" for r in deploy_backend(Stack(settings, names), layer_arns=layer_arns))


def test_iam_route_needs_the_api(cloud):  # noqa: F811
    settings, names = cloud
    with pytest.raises(LookupError, match="deploy the backend first"):
        access.ensure_iam_route(Stack(settings, names))


def test_sign_adds_a_sigv4_authorization_for_execute_api():
    settings = Settings(target="local", region="us-east-1", endpoint_url="http://127.0.0.1:1", stack="s")
    headers = access.sign(settings, "http://127.0.0.1:1/restapis/a/production/_user_request_/predict-iam", b"{}")
    auth = headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-east-1/execute-api/aws4_request" in auth
    assert "SignedHeaders=" in auth and "Signature=" in auth
    assert headers["X-Amz-Date"]


def test_outcome_line_says_plainly_when_signatures_are_not_checked():
    assert access.outcome_line(403, 200).startswith("unsigned 403, signed 200")
    assert "does not verify SigV4" in access.outcome_line(200, 200)
    assert access.outcome_line(403, 403).startswith("unexpected")
