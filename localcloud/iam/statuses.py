"""Success statuses as AWS answers them: each operation's `responseCode` in botocore's model.

AWS answers a REST operation with the code its service model names (botocore's
`<service>/<version>/service-2.json`, `operations.<Op>.http.responseCode`): API Gateway's
creates 201 and deletes 202, Lambda's CreateFunction / AddPermission / PublishVersion 201,
its TagResource 204, ... moto answers some of them 200. `model_status_middleware(service)`
rewrites a 2xx status of that service's requests to the model's code; a 204 (and a 202 to a
DELETE) carries no body unless the operation has an output (Lambda's
DeleteEventSourceMapping answers 202 with the mapping, State Deleting). Operations whose code varies (Lambda Invoke) name none and are left
alone. It lives beside `requests.py`, whose botocore-model router names each request's
operation.
"""
from __future__ import annotations

from typing import Any, Callable

from .requests import credential_of, parse, service_model

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}


def expected_status(environ: dict, cred: tuple) -> int | None:
    """The status AWS answers this request's operation with, if the model names one."""
    got = _expected(environ, cred)
    return got[0] if got else None


def _expected(environ: dict, cred: tuple) -> tuple[int, bool] | None:
    """(status, has an output body) of this request's operation, if the model names a status."""
    call = parse(environ, b"", cred)
    if call.operation is None or call.service is None:
        return None
    op = service_model(call.service).operation_model(call.operation)
    code = op.http.get("responseCode")
    if code not in _REASONS:
        return None
    out = op.output_shape
    has_output = out is not None and any(
        not m.serialization.get("location") for m in out.members.values())
    return code, has_output


def model_status_middleware(signing_name: str) -> Callable:
    def factory(app: Callable, _cloud: Any = None) -> Callable:
        def statuses(environ: dict, start_response: Callable) -> Any:
            method = environ.get("REQUEST_METHOD")
            if method == "GET":
                return app(environ, start_response)
            cred = credential_of(environ)
            if cred is None or cred[2] != signing_name:
                return app(environ, start_response)
            got = _expected(environ, cred)
            if got is None or got[0] == 200:
                return app(environ, start_response)
            code, has_output = got
            empty = code == 204 or (code == 202 and method == "DELETE" and not has_output)
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

    return factory
