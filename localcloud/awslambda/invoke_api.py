"""The Invoke API's paths into the Lambda runtime: moto's `LambdaFunction.invoke` replaced by
`_patched_invoke` (routes to the running LocalCloud), and `_invoke_middleware`, which serves
`POST /2015-03-31/functions/NAME/invocations` straight from the runtime."""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any

from ..core import hooks
from ..core.cloud import active_cloud
from ..core.moto_request import access_key, account_of, region_of
from .client_errors import payload_error
from .concurrency import THROTTLE_MESSAGE


# ---- the moto hook ------------------------------------------------------------------------
def _original_invoke():
    from moto.awslambda.models import LambdaFunction
    return hooks.original(LambdaFunction, "invoke")


def _too_many_requests() -> Exception:
    """Invoke's throttle, for moto's own dispatch (the fast path answers it itself)."""
    from moto.awslambda.exceptions import LambdaClientError

    class TooManyRequests(LambdaClientError):
        code = 429

    return TooManyRequests("TooManyRequestsException", THROTTLE_MESSAGE)


def _patched_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    cloud = active_cloud()
    if cloud is None or cloud.runtime is None:
        return _original_invoke()(self, body, request_headers, response_headers)
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    inv_type = (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
    res = cloud.runtime.invoke(self, body, invocation_type=inv_type, source="Invoke")
    if res.status_code == 429:
        raise _too_many_requests()
    if res.function_error:
        response_headers["x-amz-function-error"] = res.function_error
    if inv_type == "RequestResponse":
        response_headers["x-amz-log-result"] = base64.b64encode(res.log_tail.encode()).decode()
        # the version that ran (an alias or qualifier resolved), as Invoke answers it
        response_headers["x-amz-executed-version"] = str(self.version)
    return res.payload


# ---- the Invoke API without moto's request dispatch ---------------------------------------
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([A-Za-z0-9_-]+)/invocations/?$")
_FAST_TYPES = {"RequestResponse": "200 OK", "Event": "202 Accepted", "DryRun": "204 No Content"}
# A RequestResponse answer's payload may be 6 MB + 100 bytes (the limit Lambda's
# Function.ResponseSizeTooLarge names; a 6 MiB answer passes on AWS)
MAX_SYNC_RESPONSE = 6_291_556


_QUALIFIER_QUERY = re.compile(r"^Qualifier=([A-Za-z0-9_$%-]+)$")


def _fast_invoke_target(environ: dict) -> tuple[str, str, str, str | None] | None:
    """(function name, account, region, qualifier) when moto would add nothing to this Invoke
    (a `Qualifier` query included: moto reads `qualifier` and would run $LATEST); else None.

    Mirrors what moto's dispatch decides for `POST /2015-03-31/functions/NAME/invocations`:
    the region from the URL host, the User-Agent or the SigV4 scope (moto's own regexes);
    the account from MOTO_ACCOUNT_ID, `x-moto-account-id` or the access key (moto's own
    `BaseResponse.get_current_account`). Anything unusual (an ARN or qualifier, a compressed
    body, IAM auth or the request recorder switched on) is left to moto.
    """
    query = environ.get("QUERY_STRING") or ""
    q = _QUALIFIER_QUERY.match(query)
    if environ.get("REQUEST_METHOD") != "POST" or (query and q is None):
        return None
    m = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
    if m is None:
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "/lambda/aws4_request" not in auth or environ.get("HTTP_CONTENT_ENCODING"):
        return None
    if environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") not in _FAST_TYPES:
        return None
    from moto import settings
    from moto.moto_api import recorder

    if settings.INITIAL_NO_AUTH_ACTION_COUNT != float("inf") or recorder._user_enabled:
        return None
    from urllib.parse import unquote

    return m.group(1), account_of(environ), region_of(environ), unquote(q.group(1)) if q else None


def _invoke_middleware(app: Any, cloud: Any) -> Any:
    """Serve Lambda Invoke straight from the runtime; moto's dispatch (Flask, request
    parsing, response serialisation: about 1 ms) adds nothing to it. The answer is the one
    moto's route gives with our invoke hook: same status, headers and payload."""

    def middleware(environ: dict, start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/2015-03-31/functions/"):
            runtime = cloud.runtime
            if runtime is not None and runtime.logs.pending and \
                    environ.get("HTTP_X_AMZ_TARGET", "").startswith("Logs_"):
                runtime.logs.flush()  # a CloudWatch Logs reader sees every finished invoke
            return app(environ, start_response)
        target = _fast_invoke_target(environ)
        if target is None:
            return app(environ, start_response)
        name, account, region, qualifier = target
        from moto.awslambda.exceptions import UnknownFunctionException
        from moto.awslambda.utils import get_backend
        from moto.iam.models import mark_account_as_visited

        try:
            fn = get_backend(account, region).get_function(name, qualifier)
        except UnknownFunctionException:
            if qualifier is None:
                return app(environ, start_response)  # moto answers its not-found error
            doc = json.dumps({"Type": "User", "Message": "Function not found: arn:aws:lambda:"
                              f"{region}:{account}:function:{name}:{qualifier}"}).encode()
            start_response("404 Not Found", [
                ("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amzn-ErrorType", "ResourceNotFoundException"),
                ("Content-Length", str(len(doc)))])
            return [doc]
        except Exception:  # noqa: BLE001 - anything else: moto answers with its own error
            return app(environ, start_response)
        runtime = cloud.runtime
        if runtime is None:
            return app(environ, start_response)
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        if environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = stream.read(int(length)) if length.isdigit() and int(length) > 0 else b""
        mark_account_as_visited(account_id=account, access_key=access_key(environ),
                                service="awslambda", region=region)
        bad = payload_error(body)
        if bad is not None:  # AWS refuses a payload that is not JSON before running anything
            doc = json.dumps({"Type": "User", "message": bad}).encode()
            start_response("400 Bad Request", [
                ("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amzn-ErrorType", "InvalidRequestContentException"),
                ("Content-Length", str(len(doc)))])
            return [doc]
        inv_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"
        res = runtime.invoke(fn, body, invocation_type=inv_type, source="Invoke")
        payload = res.payload
        if res.status_code == 429:
            start_response("429 Too Many Requests", [
                ("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amzn-ErrorType", "TooManyRequestsException"),
                ("Content-Length", str(len(payload)))])
            return [payload]
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-RequestId", res.request_id or str(uuid.uuid4())),
                   ("Access-Control-Allow-Origin", "*")]
        if inv_type == "RequestResponse":
            headers.append(("X-Amz-Executed-Version", fn.version))
            if len(payload) > MAX_SYNC_RESPONSE:
                payload = json.dumps({
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                                    "size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge"}).encode()
                headers.append(("x-amz-function-error", "Unhandled"))
            elif res.function_error:
                headers.append(("x-amz-function-error", res.function_error))
            if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
                headers.append(("x-amz-log-result",
                                base64.b64encode(res.log_tail.encode()).decode()))
        headers.append(("x-amz-crc32", str(binascii.crc32(payload))))
        headers.append(("Content-Length", str(len(payload))))
        start_response(_FAST_TYPES[inv_type], headers)
        return [payload]

    return middleware
