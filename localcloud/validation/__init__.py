"""Requests checked as AWS checks them, before moto sees them.

`install(cloud)` adds one WSGI middleware (outside the IAM check: AWS refuses a malformed
request before it authorizes it, and the IAM engine never parses a poisoned document). For a
signed request it finds the service (the SigV4 scope) and the operation (botocore's model:
method + request URI for REST protocols, `Action` / `X-Amz-Target` otherwise), then:

- the model's constraints (`model`): required members, `min`/`max`, `pattern`, `enum`, for
  the services in `MODEL_CHECKED`, refused with the service's validation code;
- the rules the models lack (`rules`, with the AWS documentation of each): S3 bucket names,
  key lengths, digests, integer arguments, conditional writes, XML bodies (parsed with
  defusedxml: no DTDs, no entities), bucket policies; IAM policy documents; Lambda payloads.

Downstream, an operation moto does not implement (`NotImplementedError`) answers 501
`NotImplemented` naming it. A body that cannot be read (a malformed chunked body) is 400.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Callable

from ..core.body import BodyUnreadable, read_body, replace_body
from . import model as model_checks
from . import rules
from .rules import Refusal

log = logging.getLogger("localcloud")

# Services whose models' constraints are enforced, and the code each answers with
# (https://docs.aws.amazon.com/<service>/latest/APIReference/CommonErrors.html). Not SSM:
# moto's SSM checks its constraints itself, in SSM's own words (its tests were written
# against AWS's answers: "Value 23 at 'maxResults'", "InvalidResourceType", label limits),
# which a generic check from the model words differently; SSM gets the required members,
# types and the parameter-name rule here.
MODEL_CHECKED = {
    "lambda": "ValidationException",
    "iam": "ValidationError",
    "sts": "ValidationError",
    "logs": "InvalidParameterException",
    "events": "ValidationException",
}
# JSON that does not parse, per service (Lambda: InvalidRequestContentException).
_BAD_JSON = {"lambda": ("InvalidRequestContentException",
                        "Could not parse request body into json: {}")}

# Services whose models' required members and JSON types (not the other constraints) are
# enforced answer with these codes; EC2 and SQS name a missing parameter as AWS does
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
_VALIDATION_CODE = {"apigateway": "BadRequestException", "query": "ValidationError",
                    "rest-json": "ValidationException", "json": "ValidationException"}
_MISSING_PARAMETER = {"ec2", "sqs"}


def _raw_payload(op_model: Any) -> bool:
    """Is the operation's body a blob (Invoke's payload, PutRestApi's document), not JSON?"""
    shape = op_model.input_shape
    if shape is None:
        return False
    payload = shape.serialization.get("payload")
    return bool(payload) and shape.members[payload].type_name in ("blob", "string")


ENABLED = True  # the bench measures the request path with this off and on


def _rid() -> str:
    return str(uuid.uuid4())


def _xml_escape(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


_STATUS_TEXT = {400: "Bad Request", 404: "Not Found", 413: "Request Entity Too Large", 501: "Not Implemented",
                411: "Length Required"}


def error_response(service: str, protocol: str, refusal: Refusal) -> tuple[str, list, bytes]:
    """(status line, headers, body) of `refusal` in the service's own error shape."""
    status = f"{refusal.status} {_STATUS_TEXT.get(refusal.status, 'Error')}"
    rid = _rid()
    if protocol == "rest-xml":  # S3
        extra = "".join(f"<{k}>{_xml_escape(str(v))}</{k}>" for k, v in refusal.extra.items())
        rid16 = uuid.uuid4().hex[:16].upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
                f"<Message>{_xml_escape(refusal.message)}</Message>{extra}"
                f"<RequestId>{rid16}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
        return status, [("Content-Type", "application/xml"), ("x-amz-request-id", rid16)], body
    if protocol in ("query", "ec2"):
        if protocol == "ec2":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                    f"<Code>{refusal.code}</Code><Message>{_xml_escape(refusal.message)}</Message>"
                    f"</Error></Errors><RequestID>{rid}</RequestID></Response>").encode()
        else:
            body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error>'
                    f"<Type>Sender</Type><Code>{refusal.code}</Code>"
                    f"<Message>{_xml_escape(refusal.message)}</Message></Error>"
                    f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    if protocol == "rest-json":
        if service == "lambda":
            from localcloud.awslambda.patches import error_body
            doc = error_body(refusal.code, {"message": refusal.message})
        else:
            doc = {"message": refusal.message}
        return status, [("Content-Type", "application/json"),
                        ("x-amzn-ErrorType", refusal.code), ("x-amzn-RequestId", rid)], \
            json.dumps(doc).encode()
    doc = {"__type": refusal.code, "message": refusal.message}
    return status, [("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", rid)], json.dumps(doc).encode()




_SSM_NAMED = {"PutParameter": False, "GetParameter": True, "DeleteParameter": False,
              "GetParameterHistory": False, "LabelParameterVersion": False,
              "UnlabelParameterVersion": False}


def _service_rule(service: str, call: Any) -> Refusal | None:
    op, params = call.operation, call.params
    if service == "ssm":
        if op in _SSM_NAMED and isinstance(params.get("Name"), str):
            return rules.ssm_parameter_name(params["Name"], _SSM_NAMED[op], read=op == "GetParameter")
        if op == "GetParametersByPath" and params.get("Path") == "":
            return Refusal("ValidationException", "1 validation error detected: Value '' at 'path' "
                           "failed to satisfy constraint: Member must have length greater than or equal to 1")
        if op in ("GetParameters", "DeleteParameters") and isinstance(params.get("Names"), list):
            for name in params["Names"]:
                if isinstance(name, str):
                    refusal = rules.ssm_parameter_name(name, op == "GetParameters", read=op == "GetParameters")
                    if refusal:
                        return refusal
    elif service == "logs" and op == "StartQuery":
        return rules.logs_start_query(params)
    elif service == "logs":
        return rules.logs_names(op, params)
    elif service == "events" and op in ("PutRule", "TestEventPattern"):
        return rules.event_pattern(params.get("EventPattern"))
    elif service == "sts" and op in ("AssumeRole", "AssumeRoleWithSAML",
                                     "AssumeRoleWithWebIdentity"):
        refusal = rules.role_arn(params.get("RoleArn"))
        if refusal or op != "AssumeRoleWithSAML":
            return refusal
        return rules.saml_assertion(params.get("SAMLAssertion"))
    return None


_LAMBDA_CODE = {"CreateFunction": "Code", "PublishLayerVersion": "Content"}




def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _normalize_json(environ: dict, doc: dict, body: bytes, service: str, op_model: Any) -> None:
    """What AWS's JSON protocols treat as equal, made equal for moto: a member set to null is
    a member left out; an API Gateway Update* without `patchOperations` patches nothing."""
    changed = False
    if b"null" in body:
        if service == "apigateway":  # a template set to null is kept (AWS answers it null)
            for key in ("requestTemplates", "responseTemplates"):
                templates = doc.get(key)
                if isinstance(templates, dict) and None in templates.values():
                    doc = dict(doc, **{key: {k: "" if v is None else v
                                             for k, v in templates.items()}})
        cleaned = _drop_nulls(doc)
        changed = cleaned != doc
        doc = cleaned
    if service == "apigateway" and op_model.name.startswith("Update") and \
            "patchOperations" not in doc:
        doc = dict(doc, patchOperations=[])
        changed = True
    if changed:
        replace_body(environ, json.dumps(doc).encode())


def _s3_unrouted(call: Any, environ: dict, body: bytes) -> Refusal | None:
    """An S3 request no operation's method + URI matches."""
    method = environ.get("REQUEST_METHOD")
    path = environ.get("PATH_INFO", "/")
    bucket, _, key = path.lstrip("/").partition("/")
    if method in ("PUT", "POST", "DELETE") and not bucket:
        return rules.METHOD_NOT_ALLOWED
    if method == "POST" and key:
        return rules.METHOD_NOT_ALLOWED
    if method == "POST":  # a browser form upload (POST Object): a multipart form with a key
        ctype = environ.get("CONTENT_TYPE", "")
        if not ctype.startswith("multipart/form-data") or b'name="key"' not in body:
            return Refusal("InvalidArgument", "Bucket POST must contain a field named 'key'.  "
                           "If it is specified, please check the order of the fields.",
                           extra={"ArgumentName": "key", "ArgumentValue": ""})
    if body.lstrip().startswith(b"<") or (body.strip() and environ.get("QUERY_STRING")):
        return rules.xml_payload(body, None, "", False)
    return None


_CURRENT: dict[str, Any] = {}


def _current_op(smodel: Any, op_model: Any) -> Any:
    """A deprecated operation's current twin on the same method + URI (PutBucketNotification
    -> PutBucketNotificationConfiguration): what today's SDKs send there."""
    if not op_model.deprecated:
        return op_model
    got = _CURRENT.get(op_model.name)
    if got is None:
        got = op_model
        for name in smodel.operation_names:
            other = smodel.operation_model(name)
            if not other.deprecated and other.http.get("method") == op_model.http.get("method") \
                    and other.http.get("requestUri") == op_model.http.get("requestUri"):
                got = other
                break
        _CURRENT[op_model.name] = got
    return got


def _s3_rules(call: Any, environ: dict, body: bytes, op_model: Any) -> Refusal | None:
    op = call.operation
    params = call.params
    query = call.query
    bucket = params.get("Bucket")
    if op == "CreateBucket" and bucket is not None:
        refusal = rules.bucket_name(bucket) or (
            rules.create_bucket_tags(body) if b"Tags" in body else None)
        if refusal:
            return refusal
    key = params.get("Key")
    if key is not None and op in ("PutObject", "CopyObject", "CreateMultipartUpload"):
        from urllib.parse import unquote
        refusal = rules.key_length(unquote(key))
        if refusal:
            return refusal
    refusal = rules.int_arguments(query) or rules.grant_headers(environ) or \
        rules.part_number(query)
    if refusal:
        return refusal
    if op == "RestoreObject" and body.strip():
        from xml.etree.ElementTree import ParseError

        from defusedxml import ElementTree as SafeET
        from defusedxml.common import DefusedXmlException
        try:
            root = SafeET.fromstring(body, forbid_dtd=True)
            kids = {rules._local(c.tag) for c in root}
            if "Days" not in kids and "SelectParameters" not in kids and \
                    (root.findtext("{*}Type") or root.findtext("Type")) != "SELECT":
                return Refusal("MalformedXML", rules.MALFORMED_XML)
        except (ParseError, DefusedXmlException, ValueError):
            pass  # unparsable: the payload check below says so
    if op == "PutBucketAccelerateConfiguration" and "." in (bucket or ""):
        return Refusal("InvalidRequest", rules.ACCELERATE_DOTS)
    if op == "PutBucketVersioning" and body.strip():
        refusal = rules.versioning_configuration(body)
        if refusal:
            return refusal
    if op == "PutObjectLockConfiguration" and body.strip():
        refusal = rules.object_lock_configuration(body)
        if refusal:
            return refusal
    if op == "PutBucketAccelerateConfiguration" and body.strip() and b"Status" not in body:
        return Refusal("MalformedXML", rules.MALFORMED_XML)
    if op in ("CopyObject", "UploadPartCopy"):
        source = environ.get("HTTP_X_AMZ_COPY_SOURCE", "")
        from urllib.parse import unquote
        src = unquote(source.split("?", 1)[0]).lstrip("/")
        if "/" not in src or src.startswith("/") or not src.split("/", 1)[1]:
            return Refusal("InvalidArgument", "Invalid copy source object key",
                           extra={"ArgumentName": "x-amz-copy-source",
                                  "ArgumentValue": source})
    if op in ("PutObject", "CopyObject", "CompleteMultipartUpload"):
        refusal = rules.conditional_write(environ.get("HTTP_IF_NONE_MATCH"),
                                          environ.get("HTTP_IF_MATCH"))
        if refusal:
            return refusal
    encoding = environ.get("HTTP_CONTENT_ENCODING", "")
    chunked_sig = "aws-chunked" in encoding
    sha = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if sha is not None and not chunked_sig:
        refusal = rules.content_sha256(sha, body)
        if refusal:
            return refusal
    md5 = environ.get("HTTP_CONTENT_MD5")
    if md5 is not None and not chunked_sig and not (sha or "").startswith("STREAMING-"):
        refusal = rules.content_md5(md5, body)
        if refusal:
            return refusal
    if op == "PutBucketPolicy":
        return rules.bucket_policy(body, bucket or "")
    tagging = environ.get("HTTP_X_AMZ_TAGGING")
    if tagging is not None and op in ("PutObject", "CopyObject", "CreateMultipartUpload"):
        refusal = rules.tagging_header(tagging)
        if refusal:
            return refusal
    if op == "PutBucketNotificationConfiguration" and b"FilterRule" in body:
        refusal = rules.notification_filters(body)
        if refusal:
            return refusal
    if op in ("PutBucketTagging", "PutObjectTagging") and body.strip():
        refusal, has_tag_set = rules.tag_set(body, op == "PutBucketTagging")
        if refusal or not has_tag_set:
            return refusal
    if environ.get("REQUEST_METHOD") == "POST" and key is None and op != "DeleteObjects":
        # moto's S3 answers a bucket-level POST only for DeleteObjects (and form uploads)
        return Refusal("NotImplemented", f"The {op} operation is not implemented by the local "
                       "cloud", status=501)
    shape = op_model.input_shape
    payload = shape.serialization.get("payload") if shape is not None else None
    if shape is not None and not payload and environ.get("REQUEST_METHOD") in ("PUT", "POST") \
            and any(not sub.serialization.get("location") for sub in shape.members.values()):
        # the input's own members are the XML body, under the input's root name
        root_name = shape.serialization.get("name") or op_model.input_shape.name
        required = any(not shape.members[n].serialization.get("location")
                       for n in shape.required_members)
        return rules.xml_payload(body, shape, root_name, required)
    if not payload and body and environ.get("REQUEST_METHOD") in ("GET", "HEAD", "DELETE"):
        replace_body(environ, b"")  # S3 ignores a body where the operation has none
    if op == "PutObjectLockConfiguration" and not body.strip():
        # moto's AWS-verified test_put_object_lock_misconfiguration records this answer
        return Refusal("MissingRequestBodyError", "Request Body is empty")
    if payload and shape.members[payload].type_name == "structure":
        pshape = shape.members[payload]
        root_name = pshape.serialization.get("name", payload)
        # a configuration PUT needs its document (an ACL may come as headers instead)
        required = payload in shape.required_members or (
            environ.get("REQUEST_METHOD") == "PUT" and op != "CreateBucket"
            and not op.endswith("Acl"))
        return rules.xml_payload(body, pshape, root_name, required)
    return None


_LAMBDA_EPHEMERAL = ("CreateFunction", "UpdateFunctionConfiguration")


def _iam_rules(call: Any) -> Refusal | None:
    refusal = rules.iam_policy_arn(call.operation, call.params.get("PolicyArn"))
    if refusal:
        return refusal
    member = rules.IAM_DOCUMENTS.get(call.operation or "")
    if member:
        doc = call.params.get(member)
        if isinstance(doc, str):
            return rules.iam_policy_document(doc)
    return None


# API Gateway names the Java class it could not read as a string (recorded AWS answers,
# LocalStack's test_apigateway_api.snapshot.json: PutIntegration, PutIntegrationResponse)
_APIGATEWAY_JAVA_CLASSES = {bool: "java.lang.Boolean",
                            int: "com.amazon.coral.value.json.numbers.TruncatingBigNumber",
                            float: "com.amazon.coral.value.json.numbers.TruncatingBigNumber"}


def _wrong_type_message(service: str, exc: model_checks.WrongType) -> str:
    java = _APIGATEWAY_JAVA_CLASSES.get(type(exc.value)) if service == "apigateway" else None
    if java is not None and exc.expected == "string":
        return f"class {java} can not be converted to an String"
    return f"Unexpected value type for '{exc.path}': expected {exc.expected}"


def check(environ: dict, body: bytes, cred: tuple) -> tuple[str, str, Refusal] | None:
    """(service, protocol, refusal) if the request is refused, else None."""
    from localcloud.iam.requests import parse, service_model

    try:
        call = parse(environ, body, cred)
    except RecursionError as exc:  # a JSON body nested past Python's recursion limit
        smodel = service_model(cred[2])
        if smodel is None:
            return None
        code, msg = _BAD_JSON.get(smodel.service_name, ("SerializationException", "{}"))
        return smodel.service_name, smodel.protocol, Refusal(code, msg.format(exc))
    service = call.service
    if service is None:
        return None
    smodel = service_model(service)
    protocol = smodel.protocol
    if call.operation is None:
        if service == "s3":
            refusal = _s3_unrouted(call, environ, body)
            return (service, protocol, refusal) if refusal else None
        return None
    if call.operation not in smodel.operation_names:
        # https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html (InvalidAction)
        # and the JSON protocol's UnknownOperationException
        if protocol in ("query", "ec2"):
            return service, protocol, Refusal(
                "InvalidAction", f"The action {call.operation} is not valid for this web service.")
        if protocol == "json":
            return service, protocol, Refusal("UnknownOperationException", "")
        return None
    op_model = smodel.operation_model(call.operation)
    if service == "apigateway" and call.operation.startswith("Update") and not body.strip():
        replace_body(environ, b'{"patchOperations": []}')
    if protocol in ("json", "rest-json") and body and not _raw_payload(op_model):
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            code, msg = _BAD_JSON.get(service, ("SerializationException", "{}"))
            return service, protocol, Refusal(
                code, msg.format(exc) if service in _BAD_JSON else "Malformed request body")
        if not isinstance(doc, dict):
            code = _BAD_JSON.get(service, ("SerializationException",))[0]
            return service, protocol, Refusal(code, "Start of list found where not expected"
                                              if isinstance(doc, list) else "Malformed request body")
        _normalize_json(environ, doc, body, service, op_model)
    elif protocol in ("query", "ec2") and body:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return service, protocol, Refusal("MalformedQueryString",
                                              "The request body is not valid UTF-8")
    if service == "apigateway" and call.operation in ("PutRestApi", "ImportRestApi"):
        refusal = rules.openapi_document(body)
        if refusal:
            return service, protocol, refusal
    if service == "lambda" and call.operation == "Invoke":
        refusal = rules.invoke_payload(len(body), environ.get("HTTP_X_AMZ_INVOCATION_TYPE"))
        if refusal:
            return service, protocol, refusal
    if service == "s3":
        op_model = _current_op(smodel, op_model)
        call.operation = op_model.name
        refusal = _s3_rules(call, environ, body, op_model)
        return (service, protocol, refusal) if refusal else None
    if service == "lambda" and call.operation in _LAMBDA_CODE:
        refusal = rules.code_source(call.params.get(_LAMBDA_CODE[call.operation]))
        if refusal:
            return service, protocol, refusal
    refusal = _service_rule(service, call)
    if refusal:
        return service, protocol, refusal
    if service == "apigateway" and call.operation in ("GetTags", "TagResource", "UntagResource"):
        from urllib.parse import unquote
        refusal = rules.apigateway_arn(unquote(call.params.get("resource_arn", "")))
        if refusal:
            return service, protocol, refusal
    constraints = service in MODEL_CHECKED
    scalar_only = protocol in ("query", "ec2")
    checker = model_checks.checker(service, op_model, scalar_only, constraints)
    params = call.params
    if scalar_only:
        params = {k: v for k, v in params.items() if k not in ("Action", "Version")}
    try:
        errors = checker.errors(params, ec2=protocol == "ec2")
        if body and _raw_payload(op_model):  # the body is that member (InvokeAsync's InvokeArgs)
            member = op_model.input_shape.serialization["payload"]
            errors = [e for e in errors if not e.startswith(f"Value null at '{member[:1].lower()}{member[1:]}'")]
    except model_checks.WrongType as exc:
        if protocol == "ec2":
            return service, protocol, Refusal(
                "InvalidParameterValue", f"Invalid value '{exc.value}' for {exc.path}")
        if protocol == "query":
            return service, protocol, Refusal(
                MODEL_CHECKED.get(service, "ValidationError"),
                f"1 validation error detected: Value '{exc.value}' at '{exc.path}' failed to "
                f"satisfy constraint: Member must be of type {exc.expected}")
        code = _BAD_JSON.get(service, ("SerializationException",))[0]
        return service, protocol, Refusal(code, _wrong_type_message(service, exc))
    if service == "lambda" and call.operation in _LAMBDA_EPHEMERAL:
        errors = rules.lambda_ephemeral_storage(call.params, errors)
    if errors:
        if service in _MISSING_PARAMETER:
            missing = [e for e in errors if e.startswith("Value null at ")]
            if missing:
                name = missing[0].split("'")[1]
                name = name[:1].upper() + name[1:]
                return service, protocol, Refusal(
                    "MissingParameter", f"The request must contain the parameter {name}")
        elif service == "iam" and any(e.startswith("Value ") and " at 'path' failed" in e
                                      and "regular expression pattern" in e for e in errors):
            return service, protocol, Refusal("ValidationError", rules.IAM_PATH_INVALID)
        else:
            if service == "iam":
                errors = rules.iam_unquoted(call.operation, errors)
            code = MODEL_CHECKED.get(service) or _VALIDATION_CODE.get(protocol, "ValidationException")
            code = _VALIDATION_CODE.get(service, code)
            return service, protocol, Refusal(code, model_checks.message(errors))
    if service == "lambda" and "Resource" in params:
        refusal = rules.lambda_tag_resource(call.operation, params.get("Resource"))
        if refusal:
            return service, protocol, refusal
    if service == "lambda" and "VersionNumber" in params:
        refusal = rules.lambda_layer_version(call.operation, params.get("VersionNumber"))
        if refusal:
            return service, protocol, refusal
    if service == "lambda" and call.operation == "AddPermission":
        refusal = rules.lambda_principal(params.get("Principal"))
        if refusal:
            return service, protocol, refusal
    if service == "lambda" and "FunctionName" in params:
        refusal = rules.lambda_function_ref(call.operation, params.get("FunctionName"),
                                            params.get("Qualifier"), call.region)
        if refusal:
            return service, protocol, refusal
    if service == "iam":
        refusal = _iam_rules(call)
        if refusal:
            return service, protocol, refusal
    return None


def _not_implemented(service: str, protocol: str, operation: str) -> tuple:
    return error_response(service, protocol, Refusal(
        "NotImplemented", f"The {operation} operation is not implemented by the local cloud",
        status=501))


def _values(value: Any, out: set) -> set:
    if isinstance(value, dict):
        for v in value.values():
            _values(v, out)
    elif isinstance(value, list):
        for v in value:
            _values(v, out)
    elif isinstance(value, (str, int)):
        out.add(str(value))
    return out


def _member_names(shape: Any, out: set, depth: int = 0) -> set:
    if depth > 8 or shape is None:
        return out
    if shape.type_name == "structure":
        for name, sub in shape.members.items():
            if name not in out:
                out.add(name)
                out.add(sub.serialization.get("name", name))
                _member_names(sub, out, depth + 1)
    elif shape.type_name == "list":
        _member_names(shape.member, out, depth + 1)
    elif shape.type_name == "map":
        _member_names(shape.value, out, depth + 1)
    return out


def _bad_token(environ: dict, body: bytes, cred: tuple, exc: ValueError) -> tuple | None:
    """A ValueError from moto reading a NextToken the request carried: AWS's answer to a
    token it did not issue (the operation's InvalidNextToken, else its validation error)."""
    from localcloud.iam.requests import parse, service_model

    text = str(exc)
    if not text.startswith("invalid literal for int()"):
        return None
    try:
        call = parse(environ, body, cred)
    except RecursionError:
        return None
    if call.service is None or call.operation is None:
        return None
    smodel = service_model(call.service)
    op = smodel.operation_model(call.operation)
    token = next((v for k, v in call.params.items() if k.lower() in ("nexttoken", "marker")), None)
    if isinstance(token, str) and repr(token)[:100] in text:  # CPython cuts long literals
        code = next((e.name for e in op.error_shapes if "Token" in e.name), None) or \
            MODEL_CHECKED.get(call.service, "ValidationException")
        return error_response(call.service, smodel.protocol, Refusal(
            code, "The specified nextToken is not valid."))
    # another value the request sent that moto reads as a number (e.g. EC2's MinVersion)
    member = next((k for k, v in call.params.items()
                   if isinstance(v, str) and repr(v)[:100] in text), None)
    if member is None:
        return None
    code = "InvalidParameterValue" if smodel.protocol == "ec2" else (
        MODEL_CHECKED.get(call.service) or _VALIDATION_CODE.get(
            call.service, _VALIDATION_CODE.get(smodel.protocol, "ValidationException")))
    return error_response(call.service, smodel.protocol, Refusal(
        code, f"Value ({call.params[member]}) for parameter {member} is invalid."))


def _not_found(environ: dict, body: bytes, cred: tuple, exc: KeyError) -> tuple | None:
    """The not-found answer for a KeyError whose key is a value the request sent, in the
    operation's own modeled not-found error (e.g. Lambda's ResourceNotFoundException, API
    Gateway's NotFoundException; EC2's Invalid<Thing>ID.NotFound by its documented pattern)."""
    from localcloud.iam.requests import parse, service_model

    if not exc.args or not isinstance(exc.args[0], (str, int)):
        return None
    key = str(exc.args[0])
    try:
        call = parse(environ, body, cred)
    except RecursionError:
        return None
    if call.service is None or call.operation is None:
        return None
    smodel = service_model(call.service)
    op = smodel.operation_model(call.operation)
    sent = _values(call.params, set())
    from urllib.parse import quote
    sent |= {quote(v, safe="").lower() for v in sent} | {quote(v.encode("latin-1", "replace"), safe="").lower() for v in sent}
    raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    sent |= {seg.lower() for seg in raw_path.split("?", 1)[0].split("/") if seg}
    if key not in sent and key.lower() not in sent and \
            not any(key in v.split("/") for v in sent if "/" in v):
        if op.input_shape is not None and key in _member_names(op.input_shape, set()):
            code = MODEL_CHECKED.get(call.service) or _VALIDATION_CODE.get(
                call.service, _VALIDATION_CODE.get(smodel.protocol, "ValidationException"))
            if smodel.protocol == "rest-xml":
                code = "InvalidRequest"
            return error_response(call.service, smodel.protocol, Refusal(
                code, model_checks.message([
                    f"Value null at '{model_checks._camel(key)}' failed to satisfy constraint: "
                    "Member must not be null"])))
        return None
    code = next((e.name for e in op.error_shapes if "NotFound" in e.name), None)
    status = 404 if smodel.protocol == "rest-json" else 400
    if code is None:
        member = next((k for k, v in call.params.items() if str(v) == key), "Resource")
        if smodel.protocol == "ec2" and member.endswith("Id"):
            code = f"Invalid{member[:-2]}ID.NotFound"
        else:
            code = "ResourceNotFoundException"
    if smodel.protocol == "rest-xml":
        code, status = "NoSuchKey" if "Key" in call.params else "NoSuchBucket", 404
    return error_response(call.service, smodel.protocol, Refusal(
        code, f"The resource '{key}' does not exist", status=status))


def middleware_factory(app: Callable, cloud: Any) -> Callable:
    from localcloud.iam.requests import credential_of, parse, service_model

    def send(start_response: Callable, status: str, headers: list, body: bytes) -> list[bytes]:
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def middleware(environ: dict, start_response: Callable) -> Any:
        if not ENABLED:
            return app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/_localcloud/", "/moto-api")):
            return app(environ, start_response)
        cred = credential_of(environ)
        if cred is None:
            return app(environ, start_response)
        try:
            body = read_body(environ)
        except BodyUnreadable as exc:
            smodel = service_model(cred[2])
            protocol = smodel.protocol if smodel is not None else "json"
            return send(start_response, *error_response(cred[2], protocol, Refusal(
                "IncompleteBody" if protocol == "rest-xml" else "SerializationException",
                f"The request body could not be read: {exc}")))
        found = check(environ, body, cred)
        if found is not None:
            service, protocol, refusal = found
            log.info("refused %s %s: %s %s", environ.get("REQUEST_METHOD"), path,
                     refusal.code, refusal.message[:200])
            return send(start_response, *error_response(service, protocol, refusal))
        try:
            return app(environ, start_response)
        except ValueError as exc:
            # moto read a pagination token the cloud never issued
            answer = _bad_token(environ, body, cred, exc)
            if answer is None:
                raise
            return send(start_response, *answer)
        except KeyError as exc:
            # moto looked a resource up by a name or id the request carried and it is not
            # there: the operation's own not-found error, never a 500; or it read a member
            # the request left out. Any other KeyError is the cloud's own bug and stays a
            # (logged) 500.
            answer = _not_found(environ, body, cred, exc)
            if answer is None:
                raise
            log.warning("not found (moto raised KeyError %r): %s %s", exc.args[0] if exc.args
                        else None, environ.get("REQUEST_METHOD"), path)
            return send(start_response, *answer)
        except NotImplementedError as exc:
            smodel = service_model(cred[2])
            protocol = smodel.protocol if smodel is not None else "json"
            try:
                operation = parse(environ, body, cred).operation or path
            except RecursionError:
                operation = path
            log.warning("not implemented: %s %s (%s)", environ.get("REQUEST_METHOD"), path, exc)
            return send(start_response, *_not_implemented(cred[2], protocol, operation))

    return middleware


def install(cloud: Any) -> None:
    # (S3's and SQS's 500 fixes are installed with their patches.py extensions)
    from localcloud.ec2 import patches as ec2_patches
    from localcloud.ssm import patches as ssm_patches

    for patches in (ssm_patches, ec2_patches):
        patches.install(cloud)
    cloud.add_middleware(middleware_factory)


def timed_check(environ: dict, body: bytes, cred: tuple) -> float:
    """Seconds one check takes (the bench's side-by-side row)."""
    t0 = time.perf_counter()
    check(environ, body, cred)
    return time.perf_counter() - t0
