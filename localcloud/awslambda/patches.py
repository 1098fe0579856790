"""Where the local cloud's Lambda API answers as Lambda does, not as moto does (each moto patch
here; tests/unit/test_localcloud_lambda_patches.py trips by name when moto moves one).

A function's configuration (CreateFunction, GetFunction, GetFunctionConfiguration, Update*,
PublishVersion; API_FunctionConfiguration) carries, as AWS answers it:

* `LoggingConfig`: `{"LogFormat": "Text", "LogGroup": "/aws/lambda/<name>"}` unless the
  function was given its own (https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html);
* `RevisionId`: changes whenever the function's code, configuration or state changes,
  stable otherwise (here: derived from them);
* `RuntimeVersionConfig.RuntimeVersionArn` for a managed runtime
  (`arn:aws:lambda:<region>::runtime:<id>`, API_RuntimeVersionConfig);
* the states of https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html: the
  CreateFunction answer says `State: Pending` (`StateReasonCode: Creating`), the
  Update* answers `LastUpdateStatus: InProgress`; the function is usable at once, so the
  next GetFunction says Active / Successful (what a waiter sees on AWS a moment later).

Hooks: `LambdaFunction.get_configuration`, `.update_configuration`, `.update_function_code`,
`LambdaBackend.create_function`, `.update_function_configuration` (the LoggingConfig given).

Statuses: each operation's code from botocore's model (AddPermission, PublishVersion,
CreateAlias 201; TagResource 204; iam/statuses.py).

Errors (`error_middleware`): Lambda's error bodies name the fault's type and message as AWS
recorded them: `{"Type": "User", "Message": ...}` for ResourceNotFoundException (and
CodeSigningConfigNotFoundException), `{"Type": "User", "message": ...}` for the other
modelled exceptions (InvalidParameterValueException, ResourceConflictException,
PreconditionFailedException, ...), `{"message": ...}` for ValidationException
(https://docs.aws.amazon.com/lambda/latest/api/CommonErrors.html; LocalStack's AWS-recorded
snapshots of each).
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any, Callable

from ..core.body import rewrite_response

LOGGING_ATTR = "localcloud_logging_config"  # set on moto's LambdaFunction by the hooks below
_NS = uuid.UUID("9c1c0a52-3a55-4c1f-9a55-6c6f63616c63")
CREATING = {"State": "Pending", "StateReason": "The function is being created.",
            "StateReasonCode": "Creating"}
UPDATING = {"LastUpdateStatus": "InProgress",
            "LastUpdateStatusReason": "The function is being created.",
            "LastUpdateStatusReasonCode": "Creating"}


def logging_config(fn: Any) -> dict:
    given = getattr(fn, LOGGING_ATTR, None) or {}
    out = {"LogFormat": given.get("LogFormat", "Text"),
           "LogGroup": given.get("LogGroup") or f"/aws/lambda/{fn.function_name}"}
    if out["LogFormat"] == "JSON":
        out["ApplicationLogLevel"] = given.get("ApplicationLogLevel", "INFO")
        out["SystemLogLevel"] = given.get("SystemLogLevel", "INFO")
    return out


def runtime_version_arn(region: str, runtime: str) -> str:
    return f"arn:aws:lambda:{region}::runtime:{hashlib.sha256(runtime.encode()).hexdigest()}"


def revision_id(config: dict) -> str:
    """A UUID that changes with the function's code or configuration."""
    stable = {k: v for k, v in config.items() if k != "RevisionId"}
    return str(uuid.uuid5(_NS, json.dumps(stable, sort_keys=True, default=str)))


def configuration(original: Callable) -> Callable:
    def get_configuration(self: Any, on_create: bool = False) -> dict:
        config = original(self, on_create=on_create)
        config["LoggingConfig"] = logging_config(self)
        if self.package_type == "Zip" and self.run_time:
            config["RuntimeVersionConfig"] = {
                "RuntimeVersionArn": runtime_version_arn(self.region, self.run_time)}
        for key in ("KMSKeyArn", "SigningProfileVersionArn", "SigningJobArn"):
            if config.get(key) is None:
                config.pop(key, None)
        if not config.get("Layers"):
            config.pop("Layers", None)
        if on_create:
            config.update(CREATING)
        config["RevisionId"] = revision_id(config)
        return config

    return get_configuration


def updating(original: Callable) -> Callable:
    def update(self: Any, *args: Any, **kwargs: Any) -> dict:
        config = original(self, *args, **kwargs)
        if isinstance(config, dict) and config.get("LastUpdateStatus"):
            config.update(UPDATING)
            config["RevisionId"] = revision_id(config)
        return config

    return update


def keep_logging_config(original: Callable) -> Callable:
    def create_function(self: Any, spec: dict) -> Any:
        fn = original(self, spec)
        if spec.get("LoggingConfig"):
            setattr(fn, LOGGING_ATTR, dict(spec["LoggingConfig"]))
        return fn

    return create_function


def update_logging_config(original: Callable) -> Callable:
    def update_function_configuration(self: Any, function_name: str, qualifier: str,
                                      body: dict) -> Any:
        if body and body.get("LoggingConfig"):
            fn = self.get_function(function_name, qualifier)
            setattr(fn, LOGGING_ATTR,
                    {**(getattr(fn, LOGGING_ATTR, None) or {}), **body["LoggingConfig"]})
        return original(self, function_name, qualifier, body)

    return update_function_configuration


_CAPITAL_MESSAGE = ("ResourceNotFoundException", "CodeSigningConfigNotFoundException")
_UNTYPED = ("ValidationException", "AccessDeniedException", "UnrecognizedClientException")
_LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/")
_LAMBDA_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/lambda/aws4_request")


def error_body(code: str, doc: dict) -> dict:
    """A Lambda error body as AWS words it for the error `code`."""
    msg = doc.get("Message", doc.get("message"))
    out = {k: v for k, v in doc.items() if k not in ("Message", "message", "Type", "__type")}
    if code in _UNTYPED:
        return {**out, "message": msg}
    if code in _CAPITAL_MESSAGE:
        return {**out, "Type": doc.get("Type", "User"), "Message": msg}
    return {**out, "Type": doc.get("Type", "User"), "message": msg}


def _lambda_error(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
    """A 4xx answer's body worded as AWS words that error."""
    code = next((v for k, v in headers if k.lower() == "x-amzn-errortype"), "")
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        code = (code or str(doc.get("__type", ""))).split(":")[0].split("#")[-1]
        if code and ("message" in doc or "Message" in doc):
            body = json.dumps(error_body(code, doc)).encode()
    return status, headers, body


def error_middleware(app: Callable, _cloud: Any = None) -> Callable:
    def lambda_errors(environ: dict, start_response: Callable) -> Any:
        if not (_LAMBDA_PATH.match(environ.get("PATH_INFO", "")) and
                _LAMBDA_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))):
            return app(environ, start_response)
        return rewrite_response(app, environ, start_response,
                                lambda status, _headers: status[:1] == "4", _lambda_error)

    return lambda_errors


def install(cloud: Any) -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    from ..iam.statuses import model_status_middleware

    cloud.add_middleware(error_middleware)
    cloud.add_middleware(model_status_middleware("lambda"))
    cloud.hook(LambdaFunction, "get_configuration", configuration)
    cloud.hook(LambdaFunction, "update_configuration", updating)
    cloud.hook(LambdaFunction, "update_function_code", updating)
    cloud.hook(LambdaBackend, "create_function", keep_logging_config)
    cloud.hook(LambdaBackend, "update_function_configuration", update_logging_config)
