"""Access control on the predict API: an API key identifies, IAM (SigV4) authenticates.

The stack's ``POST /predict`` has ``authorizationType NONE`` and ``apiKeyRequired``: API
Gateway checks no identity at all, only that the ``x-api-key`` header names a key in a usage
plan of the stage. AWS says so itself: API keys identify and meter clients (usage plans,
throttling, quotas) and are not an authorization mechanism; to control who may call, use IAM
(SigV4-signed requests checked against ``execute-api:Invoke``), a Lambda authorizer or an
Amazon Cognito user pool.

``ensure_iam_route`` adds, beside ``/predict``, the resource ``/predict-iam`` whose ``POST``
has ``authorizationType AWS_IAM`` (no key needed: the signature is the credential), the same
request validator and model, the same ``AWS_PROXY`` integration and a Lambda permission for
that path only, then redeploys the stage when something changed. The API is deleted with all
its resources by ``mlpipe destroy``, the permission with the function.

``signed_post`` sends a request signed with SigV4 (``botocore.auth.SigV4Auth``) with the
credentials ``mlpipe.clients`` uses for every AWS call, ``post_unsigned`` the same request
without a signature.
"""
from __future__ import annotations

from typing import Optional

from .api import HTTP_METHOD, MODEL_NAME, ensure_resource, ensure_stage, ensure_validator, find_api, get_method, \
    integration_uri, invoke_url, resource_id
from .clients import credentials
from .functions import ensure_permission
from .report import Report
from .serving import Reply, encode, send

IAM_RESOURCE = "predict-iam"
IAM_PERMISSION_SID = "apigateway-invoke-predict-iam"

# AWS's documentation behind what this module and notebook 05 teach
DOCS = {
    "api keys": "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-usage-plans.html",
    "access control": "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-control-access-to-api.html",
    "iam": "https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html",
    "sigv4": "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html",
    "lambda authorizer": "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html",
    "cognito": "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html",
}


def iam_source_arn(names, api_id: str) -> str:
    """Only this API's ``POST /predict-iam`` (any stage) may invoke the function by this permission."""
    return (f"arn:{names.partition}:execute-api:{names.region}:{names.account_id}:"
            f"{api_id}/*/{HTTP_METHOD}/{IAM_RESOURCE}")


def iam_url(stack) -> Optional[str]:
    """The invoke URL of ``POST /predict-iam`` (None before the API exists)."""
    api = find_api(stack)
    if api is None:
        return None
    return invoke_url(stack.settings, api["id"], stack.names.api_stage, IAM_RESOURCE)


def ensure_iam_route(stack) -> list:
    """``POST /predict-iam`` with ``authorizationType AWS_IAM`` on the stack's API (idempotent).

    Needs the API of ``mlpipe deploy --part backend`` (notebook 05's first step)."""
    names = stack.names
    apigw = stack.client("apigateway")
    api = find_api(stack)
    if api is None:
        raise LookupError(f"no REST API {names.api_name}: deploy the backend first (notebook 05, "
                          "`mlpipe deploy --part backend`)")
    api_id = api["id"]
    path = "/" + IAM_RESOURCE
    changes = []
    resource_id, made = ensure_resource(stack, api_id, IAM_RESOURCE)
    if made:
        changes.append("resource")
    validator_id, _ = ensure_validator(stack, api_id)
    wanted_models = {"application/json": MODEL_NAME}
    method = get_method(stack, api_id, resource_id)
    if method is not None and not (method.get("authorizationType") == "AWS_IAM"
                                   and not method.get("apiKeyRequired")
                                   and method.get("requestValidatorId") == validator_id
                                   and (method.get("requestModels") or {}) == wanted_models):
        apigw.delete_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD)
        method = None
    if method is None:
        apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                         authorizationType="AWS_IAM", apiKeyRequired=False,
                         requestValidatorId=validator_id, requestModels=wanted_models)
        changes.append("method")
    integration = (method or {}).get("methodIntegration")
    uri = integration_uri(names, stack_function_arn(stack))
    if not integration or integration.get("type") != "AWS_PROXY" or integration.get("uri") != uri:
        apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=HTTP_METHOD,
                              type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
        changes.append("integration")
    reports = [Report("created" if "method" in changes else "found", "api method",
                      f"{names.api_name} {HTTP_METHOD} {path} (AWS_IAM)", details={"changes": changes})]
    reports.append(ensure_permission(stack, names.predict_function, IAM_PERMISSION_SID,
                                     "apigateway.amazonaws.com", iam_source_arn(names, api_id)))
    reports.append(ensure_stage(stack, api_id, redeploy=bool(changes)))
    return reports


def stack_function_arn(stack) -> str:
    fn = stack.client("lambda").get_function(FunctionName=stack.names.predict_function)
    return fn["Configuration"]["FunctionArn"]


def method_table(stack):
    """Both methods side by side: path, authorizationType, apiKeyRequired (read back)."""
    import pandas as pd

    api = find_api(stack)
    rows = []
    if api is not None:
        for path in ("/" + stack.names.api_resource, "/" + IAM_RESOURCE):
            rid = resource_id(stack, api["id"], path)
            m = get_method(stack, api["id"], rid) if rid else None
            if m is not None:
                rows.append({"method": f"{HTTP_METHOD} {path}", "authorizationType": m.get("authorizationType"),
                             "apiKeyRequired": bool(m.get("apiKeyRequired")),
                             "who may call": "anyone with a key in the usage plan"
                             if m.get("authorizationType") == "NONE"
                             else "a principal whose IAM policy allows execute-api:Invoke on it"})
    return pd.DataFrame(rows, columns=["method", "authorizationType", "apiKeyRequired", "who may call"])


def sign(settings, url: str, body: bytes, *, creds=None) -> dict:
    """The headers of a SigV4-signed ``POST url`` (service ``execute-api``): ``Authorization``,
    ``X-Amz-Date`` and, for temporary credentials, ``X-Amz-Security-Token``."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(creds or credentials(settings), "execute-api", settings.region).add_auth(request)
    return dict(request.headers.items())


def signed_post(settings, url: str, instances: list, *, key: Optional[str] = None,
                timeout: float = 30.0) -> Reply:
    """POST ``{"instances": ...}`` to ``url`` signed with SigV4 (and ``x-api-key: key`` if
    given); HTTP error statuses are returned, not raised."""
    body = encode(instances)
    return send(url, key, body, timeout, headers=sign(settings, url, body))[0]


def outcome_line(unsigned_status: int, signed_status: int) -> str:
    """One line: what the unsigned and the signed call show, or plainly why they show nothing."""
    if unsigned_status == 403 and signed_status == 200:
        return ("unsigned 403, signed 200: API Gateway refused the request that carried no identity, "
                "and let the signed one through after checking its IAM policy, before the function ran")
    if unsigned_status == 200:
        return ("this cloud does not verify SigV4 on AWS_IAM methods yet: the unsigned call got 200 where "
                "AWS answers 403 {\"message\":\"Missing Authentication Token\"}")
    return f"unexpected: unsigned {unsigned_status}, signed {signed_status} (AWS: 403 and 200)"


def docs_table():
    import pandas as pd

    return pd.DataFrame([{"topic": k, "AWS documentation": v} for k, v in DOCS.items()])


__all__ = ["DOCS", "IAM_RESOURCE", "ensure_iam_route", "iam_url", "method_table", "sign", "signed_post",
           "outcome_line", "docs_table"]
