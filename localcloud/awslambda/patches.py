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
`LambdaBackend.create_function`, `.update_function_configuration` (the LoggingConfig and
Environment given; code in S3 must exist), `.update_function_code` (same), `.delete_function`
(a missing version of an existing function deletes idempotently), `LayerVersion.get_layer_version`
(Description always, LicenseInfo when given), `LambdaResponse.list_functions` /
`.list_versions_by_function` (no states or runtime versions in listings), `.publish_version`
(CodeSha256 checked), `.get_alias` (200), `Policy.principal_formatter` (accounts and ARNs as
`{"AWS": ...}`), `.decode_policy` (PrincipalOrgID, FunctionUrlAuthType, EventSourceToken as
conditions), `.del_statement` (RevisionId compared as a string).

Not-found messages (`not_found_message`) name what the operation resolved, as AWS's recorded
answers do: Invoke `...:function:<name>:$LATEST`, GetFunction the qualifier given,
DeleteFunction none; UpdateAlias "Alias not found". Request ids are UUIDs. What Lambda refuses
from a FunctionName alone is in localcloud/validation/rules.py (`lambda_function_ref`).

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
ENVIRONMENT_ATTR = "localcloud_environment_given"  # the function was given an Environment
GENERATION_ATTR = "localcloud_updates"  # how many update calls the function has had
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


def revision_id(config: dict, generation: int = 0) -> str:
    """A UUID that changes with the function's code, configuration or state and with every
    update call (AWS gives a redundant update a new RevisionId too). The same for $LATEST
    however it is addressed (its ARN with or without `:$LATEST`)."""
    stable = {k: v for k, v in config.items() if k not in ("RevisionId", "FunctionArn")}
    stable["-generation"] = generation
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
        if getattr(self, ENVIRONMENT_ATTR, False) and "Environment" not in config:
            config["Environment"] = {"Variables": {}}
        if on_create:
            config.update(CREATING)
        config["RevisionId"] = revision_id(config, getattr(self, GENERATION_ATTR, 0))
        return config

    return get_configuration


def layer_version(original: Callable) -> Callable:
    """A layer version names its LicenseInfo only when one was given (AWS's recorded
    PublishLayerVersion answers)."""
    def get_layer_version(self: Any) -> dict:
        out = original(self)
        if not out.get("LicenseInfo"):
            out.pop("LicenseInfo", None)
        return out

    return get_layer_version


def published_layer(original: Callable) -> Callable:
    """PublishLayerVersion answers a Description ("" when none was given), as AWS recorded."""
    def publish_layer_version(self: Any) -> Any:
        status, headers, body = original(self)
        doc = json.loads(body)
        doc.setdefault("Description", "")
        return status, headers, json.dumps(doc)

    return publish_layer_version


# Members a function's configuration carries in GetFunction*/Create/Update answers but not in
# ListFunctions / ListVersionsByFunction (AWS's recorded list answers).
NOT_LISTED = ("State", "StateReason", "StateReasonCode", "LastUpdateStatus",
              "LastUpdateStatusReason", "LastUpdateStatusReasonCode", "RuntimeVersionConfig")


def listing(key: str) -> Callable[[Callable], Callable]:
    def make(original: Callable) -> Callable:
        def list_configurations(self: Any) -> Any:
            answer = original(self)
            if not isinstance(answer, str):
                return answer
            doc = json.loads(answer)
            for config in doc.get(key, []):
                for member in NOT_LISTED:
                    config.pop(member, None)
            return json.dumps(doc)

        return list_configurations

    return make


def idempotent_version_delete(original: Callable) -> Callable:
    """DeleteFunction of a version the (existing) function does not have succeeds, as on AWS
    (a repeated delete of a version answers 204 again); an unknown function stays 404."""
    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> Any:
        from moto.awslambda.exceptions import UnknownFunctionException

        if qualifier and qualifier.isdigit() and ":" not in function_name.split(":function:")[-1]:
            try:
                self.get_function(function_name)
            except UnknownFunctionException:
                return original(self, function_name, qualifier)
            try:
                self.get_function(function_name, qualifier)
            except UnknownFunctionException:
                return None
        return original(self, function_name, qualifier)

    return delete_function


def code_sha_checked(original: Callable) -> Callable:
    """PublishVersion with a `CodeSha256` that is not $LATEST's is refused (API_PublishVersion:
    "Only publish a version if the hash value matches the value that's specified")."""
    def publish_version(self: Any) -> Any:
        from urllib.parse import unquote

        from moto.awslambda.exceptions import InvalidParameterValueException

        sha = self._get_param("CodeSha256")
        if sha:
            latest = self.backend.get_function(unquote(self.path.split("/")[-2]))
            if sha != latest.code_sha_256:
                raise InvalidParameterValueException(
                    f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                    f"({latest.code_sha_256}). Please try again with the CodeSHA256 in $LATEST.")
        return original(self)

    return publish_version


_ACCOUNT = re.compile(r"\d{12}")


def principal(original: Callable) -> Callable:
    """AddPermission's Principal as the statement names it (API_AddPermission; AWS's recorded
    statements): an account id is `{"AWS": "arn:aws:iam::<account>:root"}`, an IAM ARN
    `{"AWS": <arn>}`; a service and `*` as moto words them."""
    def principal_formatter(self: Any, obj: Any) -> Any:
        if isinstance(obj, str):
            if _ACCOUNT.fullmatch(obj):
                return {"AWS": f"arn:aws:iam::{obj}:root"}
            if obj.startswith("arn:"):
                return {"AWS": obj}
        return original(self, obj)

    return principal_formatter


def answered_200(original: Callable) -> Callable:
    """GetAlias answers 200 (moto: 201, CreateAlias's status)."""
    def get_alias(self: Any) -> Any:
        status, headers, body = original(self)
        return 200, {**headers, "status": 200}, body

    return get_alias


def revision_unwrapped(original: Callable) -> Callable:
    """RemovePermission / RemoveLayerVersionPermission: the RevisionId compared as the string
    it is (moto passes the query's list, which never matches: every guarded remove failed); a
    statement id the policy lacks is "not found in resource policy"; a removal gives the
    policy a new RevisionId (AWS's recorded answers)."""
    def del_statement(self: Any, sid: str, revision: Any = "") -> None:
        from moto.awslambda.exceptions import LambdaClientError

        if isinstance(revision, list):
            revision = revision[0] if revision else ""
        if self.statements and not any(st.get("Sid") == sid for st in self.statements):
            missing = LambdaClientError("ResourceNotFoundException",
                                        f"Statement {sid} is not found in resource policy.")
            missing.code = 404
            raise missing
        original(self, sid, revision)
        self.revision = str(uuid.uuid4())

    return del_statement


# AddPermission members that become StringEquals conditions of the statement (API_AddPermission;
# AWS's recorded statements keep all of them beside AWS:SourceAccount)
_STRING_CONDITIONS = {"PrincipalOrgID": "aws:PrincipalOrgID",
                      "FunctionUrlAuthType": "lambda:FunctionUrlAuthType",
                      "EventSourceToken": "lambda:EventSourceToken"}


def statement_conditions(original: Callable) -> Callable:
    def decode_policy(self: Any, obj: dict) -> Any:
        given = {key: obj.pop(member) for member, key in _STRING_CONDITIONS.items()
                 if isinstance(obj.get(member), str)}
        policy = original(self, obj)
        if given:
            statement = policy.statements[0]
            statement.setdefault("Condition", {}).setdefault("StringEquals", {}).update(given)
        return policy

    return decode_policy


def updating(original: Callable) -> Callable:
    def update(self: Any, *args: Any, **kwargs: Any) -> dict:
        setattr(self, GENERATION_ATTR, getattr(self, GENERATION_ATTR, 0) + 1)
        config = original(self, *args, **kwargs)
        if isinstance(config, dict) and config.get("LastUpdateStatus"):
            config.update(UPDATING)
            config["RevisionId"] = revision_id(config, getattr(self, GENERATION_ATTR))
        return config

    return update


def s3_code_exists(backend: Any, code: Any) -> None:
    """Code in S3 must be there: Lambda's GetObject errors, as AWS words them (moto creates a
    function with no code for a missing key)."""
    if not (isinstance(code, dict) and code.get("S3Bucket") and code.get("S3Key")):
        return
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    s3 = s3_backends[backend.account_id][get_partition(backend.region_name)]
    try:
        key = s3.get_object(code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion"))
    except MissingBucket:
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: "
            "The specified bucket does not exist") from None
    if key is None:
        raise InvalidParameterValueException(
            "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: "
            "The specified key does not exist.")


def code_checked(original: Callable) -> Callable:
    def update_function_code(self: Any, function_name: str, qualifier: str, body: dict) -> Any:
        s3_code_exists(self, body)
        return original(self, function_name, qualifier, body)

    return update_function_code


def keep_logging_config(original: Callable) -> Callable:
    def create_function(self: Any, spec: dict) -> Any:
        try:
            s3_code_exists(self, spec.get("Code"))
        except Exception as exc:  # noqa: BLE001 - re-raised below unless moto words it
            if "NoSuchBucket" not in str(getattr(exc, "message", "")):
                raise
            # a missing bucket moto refuses itself, in the same words, after checking the
            # layers first (its order)
        fn = original(self, spec)
        given = {}
        if spec.get("LoggingConfig"):
            given[LOGGING_ATTR] = dict(spec["LoggingConfig"])
        if isinstance(spec.get("Environment"), dict):
            given[ENVIRONMENT_ATTR] = True
        if given:
            # $LATEST, a version published with it (Publish=True) and the answer (a copy)
            versions = list(self.list_versions_by_function(fn.function_name))[1:]
            for each in [fn, self.get_function(fn.function_name), *versions]:
                for attr, value in given.items():
                    setattr(each, attr, value)
        return fn

    return create_function


def update_logging_config(original: Callable) -> Callable:
    def update_function_configuration(self: Any, function_name: str, qualifier: str,
                                      body: dict) -> Any:
        if body and body.get("LoggingConfig"):
            fn = self.get_function(function_name, qualifier)
            setattr(fn, LOGGING_ATTR,
                    {**(getattr(fn, LOGGING_ATTR, None) or {}), **body["LoggingConfig"]})
        if body and isinstance(body.get("Environment"), dict):
            setattr(self.get_function(function_name, qualifier), ENVIRONMENT_ATTR, True)
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


_ALIAS_PATH = re.compile(r"^/\d{4}-\d\d-\d\d/functions/[^/]+/aliases/[^/]+$")
_FUNCTION_PATH = re.compile(r"^/\d{4}-\d\d-\d\d/functions/([^/]+)(/[a-z-]+)?/?$")


def not_found_message(method: str, path: str, query: str, region: str, account: str,
                      message: str) -> str:
    """A function's not-found message as Lambda words it for the operation (AWS's recorded
    answers): Invoke names the qualifier it resolved (`$LATEST` by default), DeleteFunction
    none, the other reads the one given; a function URL config is "the resource"; an event
    invoke config is the function's (`:$LATEST` by default)."""
    if method == "PUT" and _ALIAS_PATH.match(path) and message.startswith("Cannot find alias arn: "):
        return "Alias not found: " + message[len("Cannot find alias arn: "):]  # UpdateAlias
    m = _FUNCTION_PATH.match(path)
    if m is None:
        return message
    from urllib.parse import parse_qs, unquote

    from ..validation.rules import function_ref

    ref = function_ref(unquote(m.group(1)))
    if ref is None:
        return message
    suffix = m.group(2) or ""
    qualifier = parse_qs(query).get("Qualifier", [None])[0] or ref.qualifier
    arn = f"arn:aws:lambda:{region}:{account}:function:{ref.name}"
    if suffix == "/url":
        return "The resource you requested does not exist."
    if suffix == "/event-invoke-config":
        if message.startswith("Function not found") or qualifier:  # AWS's recorded answers
            return f"The function {arn}:{qualifier or '$LATEST'} doesn't have an EventInvokeConfig"
        return message
    if not (message.startswith("Function not found") or message == "NOT FOUND"):
        return message  # (NOT FOUND: a path moto has no route for, e.g. `...:$LATEST`)
    if suffix == "/invocations" and method == "POST":
        qualifier = qualifier or "$LATEST"
    elif suffix == "" and method == "DELETE":
        qualifier = None
    return f"Function not found: {arn}" + (f":{qualifier}" if qualifier else "")


def _lambda_error(status: str, headers: list, body: bytes,
                  environ: dict | None = None) -> tuple[str, list, bytes]:
    """A 4xx answer's body worded as AWS words that error."""
    code = next((v for k, v in headers if k.lower() == "x-amzn-errortype"), "")
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        code = (code or str(doc.get("__type", ""))).split(":")[0].split("#")[-1]
        if code and ("message" in doc or "Message" in doc):
            if code == "ResourceNotFoundException" and environ is not None:
                from ..core.moto_request import account_of, region_of

                key = "Message" if "Message" in doc else "message"
                doc[key] = not_found_message(
                    environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""), region_of(environ), account_of(environ),
                    str(doc[key]))
            body = json.dumps(error_body(code, doc)).encode()
    return status, headers, body


_UUID = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")


def uuid_request_id(start_response: Callable) -> Callable:
    """Lambda's request ids are UUIDs (x-amzn-RequestId); one moto words otherwise is
    replaced, one the cloud set (an invocation's, as the function's context saw it) kept."""
    def start(status: str, headers: list, exc_info: Any = None) -> Callable:
        rid = next((v for k, v in headers if k.lower() == "x-amzn-requestid"), "")
        if not _UUID.fullmatch(rid):
            headers = [(k, v) for k, v in headers if k.lower() != "x-amzn-requestid"]
            headers.append(("x-amzn-RequestId", str(uuid.uuid4())))
        return start_response(status, headers, exc_info)

    return start


_LAYER_ARN = re.compile(r"arn:[^:]+:lambda:[^:]+:\d{12}:layer:([a-zA-Z0-9-_]+):([0-9]+)")


def layer_by_arn(environ: dict) -> None:
    """GetLayerVersionByArn (`GET /2018-10-31/layers?find=LayerVersion&Arn=<arn>`), which moto
    lacks, served as the GetLayerVersion it names (an Arn without a version is refused by the
    model's pattern before it gets here)."""
    if environ.get("REQUEST_METHOD") != "GET" or \
            not environ.get("PATH_INFO", "").rstrip("/").endswith("/layers"):
        return
    from urllib.parse import parse_qs

    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("find") != ["LayerVersion"]:
        return
    m = _LAYER_ARN.fullmatch(query.get("Arn", [""])[0])
    if m:
        version = environ["PATH_INFO"].split("/layers")[0]
        path = f"{version}/layers/{m.group(1)}/versions/{m.group(2)}"
        environ["PATH_INFO"] = path
        environ["QUERY_STRING"] = ""
        for raw in ("RAW_URI", "REQUEST_URI"):  # moto reads the raw URL
            if raw in environ:
                environ[raw] = path


def error_middleware(app: Callable, _cloud: Any = None) -> Callable:
    def lambda_errors(environ: dict, start_response: Callable) -> Any:
        if not (_LAMBDA_PATH.match(environ.get("PATH_INFO", "")) and
                _LAMBDA_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))):
            return app(environ, start_response)
        layer_by_arn(environ)
        return rewrite_response(app, environ, uuid_request_id(start_response),
                                lambda status, _headers: status[:1] == "4",
                                lambda s, h, b: _lambda_error(s, h, b, environ))

    return lambda_errors


def install(cloud: Any) -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion
    from moto.awslambda.policy import Policy
    from moto.awslambda.responses import LambdaResponse

    from ..iam.statuses import model_status_middleware

    cloud.add_middleware(error_middleware)
    cloud.add_middleware(model_status_middleware("lambda"))
    cloud.hook(LambdaFunction, "get_configuration", configuration)
    cloud.hook(LambdaFunction, "update_configuration", updating)
    cloud.hook(LambdaFunction, "update_function_code", updating)
    cloud.hook(LambdaBackend, "create_function", keep_logging_config)
    cloud.hook(LambdaBackend, "update_function_configuration", update_logging_config)
    cloud.hook(LayerVersion, "get_layer_version", layer_version)
    cloud.hook(LambdaBackend, "delete_function", idempotent_version_delete)
    cloud.hook(LambdaBackend, "update_function_code", code_checked)
    cloud.hook(LambdaResponse, "publish_version", code_sha_checked)
    cloud.hook(Policy, "principal_formatter", principal)
    cloud.hook(Policy, "del_statement", revision_unwrapped)
    cloud.hook(Policy, "decode_policy", statement_conditions)
    cloud.hook(LambdaResponse, "get_alias", answered_200)
    cloud.hook(LambdaResponse, "publish_layer_version", published_layer)
    cloud.hook(LambdaResponse, "list_functions", listing("Functions"))
    cloud.hook(LambdaResponse, "list_versions_by_function", listing("Versions"))
