"""API Gateway's control plane answers with the status codes AWS gives (moto answers 200).

AWS answers each operation with the code its service model names (botocore's
`apigateway/2015-07-09/service-2.json`, the `responseCode` of each operation's `http`):
201 Created for the Create*/Put*/Import*/Generate* operations (CreateRestApi, CreateResource,
PutMethod, PutIntegration, CreateDeployment, ...), 202 Accepted for most Delete* operations,
204 for the others (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html:
"If the action is successful, the service sends back an HTTP 201 response."). A 202/204
answer has no body. `middleware` rewrites moto's 2xx status to the model's.
"""
from __future__ import annotations

from typing import Any, Callable

from ..iam.requests import credential_of, parse, service_model

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}


def expected_status(environ: dict, cred: tuple) -> int | None:
    """The status AWS answers the API Gateway operation of this request with, if the model
    names one."""
    call = parse(environ, b"", cred)
    if call.operation is None:
        return None
    model = service_model("apigateway")
    return model.operation_model(call.operation).http.get("responseCode")


def middleware(app: Callable, _cloud: Any = None) -> Callable:
    def statuses(environ: dict, start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") == "GET":
            return app(environ, start_response)
        cred = credential_of(environ)
        if cred is None or cred[2] != "apigateway":
            return app(environ, start_response)
        code = expected_status(environ, cred)
        if code is None or code == 200:
            return app(environ, start_response)
        empty = code in (202, 204)
        rewritten: list = []

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            if status[:1] == "2":
                status = f"{code} {_REASONS[code]}"
                rewritten.append(True)
                if empty:
                    headers = [(k, "0" if k.lower() == "content-length" else v)
                               for k, v in headers]
            return start_response(status, headers, exc_info)

        result = app(environ, start)
        if empty and rewritten:
            if hasattr(result, "close"):
                result.close()
            return [b""]
        return result

    return statuses


def install(cloud: Any) -> None:
    cloud.add_middleware(middleware)
