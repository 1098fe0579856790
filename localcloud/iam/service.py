"""The IAM side of a running cloud: role credentials for compute, enforcement, the report.

`IamService` is `cloud.iam` once `localcloud.iam.install(cloud)` ran (the last extension, so
its WSGI middleware sees every request first, the fast Invoke path and the API Gateway data
plane included). Modes: `enforce` (default) refuses what AWS refuses, `audit` lets it through
and records it, `off` checks nothing. The operator's own key (any key the cloud did not issue
to a role session or an IAM user) is an administrator.
"""
from __future__ import annotations

import json
import logging
import os
import re
import uuid
from typing import Any, Callable
from xml.etree import ElementTree

from ..core.body import read_body
from . import engine
from .credentials import CredentialStore, Identity
from .policy import ALLOWED, Decision, Principal, denial_message, evaluate
from .report import DenialLog, proposals, render
from .requests import credential_of, parse, service_model

log = logging.getLogger("localcloud")

MODES = ("enforce", "audit", "off")
DEFAULT_MODE = "enforce"
REPORT_PATH = "/_localcloud/iam-report"
MISSING_KEY_OPERATIONS = ("GetObject", "HeadObject")
MISSING_KEY_ENV = "localcloud.iam.missing_key_denial"
MODE_PATH = "/_localcloud/iam-mode"


def resolve_mode(value: str | None = None) -> str:
    """The mode from an explicit value, else LOCALCLOUD_IAM, else enforce."""
    raw = value if value else os.environ.get("LOCALCLOUD_IAM", "")
    mode = (raw or DEFAULT_MODE).strip().lower()
    if mode not in MODES:
        raise ValueError(f"LOCALCLOUD_IAM / --iam must be one of {', '.join(MODES)}, got {raw!r}")
    return mode


class InvokeDenied(PermissionError):
    """A service principal may not invoke a function (its resource policy lacks the grant)."""


class IamService:
    def __init__(self, cloud: Any, denials: DenialLog, mode: str):
        self.cloud = cloud
        self.denials = denials
        self.mode = mode
        self.store = CredentialStore()

    # ---- credentials for compute ------------------------------------------------------
    def function_env(self, fn: Any, environment: str = "") -> dict[str, str]:
        """AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN of the function's execution role, session
        named after the function (as Lambda does; a one-character name, shorter than a
        session name may be, as `<name>@lambda_function`); each execution `environment` has
        credentials of its own, as on AWS."""
        session = fn.function_name if len(fn.function_name) > 1 else \
            f"{fn.function_name}@lambda_function"
        creds = self.store.issue(fn.role, session, fn.account_id, fn.region, holder=environment)
        return creds.env()

    def instance_env(self, instance: Any) -> dict[str, str] | None:
        """The instance profile role's credentials (session = instance id), None without one."""
        role_arn = instance_role_arn(instance)
        if role_arn is None:
            return None
        account = instance.owner_id or instance.ec2_backend.account_id
        region = instance.region_name or instance.ec2_backend.region_name
        return self.store.issue(role_arn, instance.id, account, region).env()

    # ---- service principals invoking Lambda -------------------------------------------
    def service_may_invoke(self, fn: Any, service: str, source_arn: str | None,
                           source_account: str | None) -> bool:
        """Does the function's resource policy let `service` invoke it (SourceArn and
        SourceAccount conditions applied)? Records a denial; audit lets it through."""
        if self.mode == "off":
            return True
        d = service_invoke_decision(fn, service, source_arn, source_account)
        if d.allowed:
            return True
        msg = (f"{service} is not authorized to perform: lambda:InvokeFunction on resource: "
               f"{d.resource} because no resource-based policy allows it")
        self.denials.record(mode=self.mode, principal=service, action="lambda:InvokeFunction",
                            resource=d.resource, reason=d.reason, message=msg,
                            service_principal=service, source_arn=source_arn)
        log.warning("IAM %s: %s%s", self.mode, msg, " (let through: audit)" if self.mode == "audit" else "")
        return self.mode == "audit"

    def check_invoke(self, function_name_or_arn: str, region: str, account_id: str,
                     service: str, source_arn: str | None) -> None:
        """Raise InvokeDenied unless `service` may invoke the function."""
        if self.mode == "off":
            return
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.utils import get_backend

        if function_name_or_arn.startswith("arn:"):
            parts = function_name_or_arn.split(":")
            region, account_id = parts[3], parts[4]
        try:
            fn = get_backend(account_id, region).get_function(function_name_or_arn)
        except (LambdaClientError, KeyError):  # not found: the invoke itself reports it
            return
        source_account = source_arn.split(":")[4] if source_arn and source_arn.count(":") >= 4 else account_id
        if not self.service_may_invoke(fn, service, source_arn, source_account or account_id):
            raise InvokeDenied(f"{service} may not invoke {fn.function_arn}: the function's "
                               "resource policy has no matching lambda:InvokeFunction grant")

    def check_role_invoke(self, role_arn: str, function_name_or_arn: str, region: str,
                          account_id: str, service: str) -> None:
        """A service invoking with an integration's `credentials` role (API Gateway): the
        role must trust the service (sts:AssumeRole) and its policies must allow
        lambda:InvokeFunction on the function
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-request-basic-setup.html,
        "credentials"). Raises InvokeDenied otherwise; no resource policy is needed."""
        if self.mode == "off":
            return
        from .credentials import account_of_role, role_policies
        from moto.iam.models import iam_backends

        fn_arn = function_name_or_arn
        if not fn_arn.startswith("arn:"):
            fn_arn = f"arn:aws:lambda:{region}:{account_id}:function:{fn_arn}"
        account = account_of_role(role_arn, account_id)
        reason = None
        try:
            role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        except Exception:  # noqa: BLE001 - moto's NotFound: the role does not exist
            role = None
        if role is None:
            reason = f"the integration's role {role_arn} does not exist"
        else:
            principal = Principal(arn=service, account="", service=service)
            trust = evaluate("sts:AssumeRole", [role_arn], {},
                             resource_policies=[role.assume_role_policy_document],
                             principal=principal)
            if not trust.allowed:
                reason = f"{service} cannot assume {role_arn} (its trust policy)"
            else:
                d = evaluate("lambda:InvokeFunction", [fn_arn], {},
                             identity=role_policies(account, role_arn) or [])
                if not d.allowed:
                    reason = (f"{role_arn} is not authorized to perform: lambda:InvokeFunction "
                              f"on resource: {fn_arn}")
        if reason is None:
            return
        self.denials.record(mode=self.mode, principal=role_arn, action="lambda:InvokeFunction",
                            resource=fn_arn, reason="integration-credentials", message=reason,
                            service_principal=service)
        log.warning("IAM %s: %s", self.mode, reason)
        if self.mode == "enforce":
            raise InvokeDenied(reason)

    # ---- S3 destination validation ----------------------------------------------------
    def notification_refusals(self, bucket: str, body: bytes) -> list[str]:
        """Lambda destinations of a notification configuration that s3.amazonaws.com may not
        invoke for this bucket (AWS refuses the whole configuration then)."""
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return []
        destinations = [(el.tag.split("}")[-1], (el.text or "").strip()) for el in root.iter()
                        if el.tag.split("}")[-1] in _DESTINATION_SERVICE]
        if any(not _well_formed(tag, arn) for tag, arn in destinations):
            return []  # S3 answers "The ARN is not well formed" first (moto does, after us)
        arns = [arn for tag, arn in destinations if tag == "CloudFunction"]
        if not arns:
            return []
        from moto.awslambda.utils import get_backend
        from moto.awslambda.exceptions import LambdaClientError
        from moto.s3.models import s3_backends

        owner = (s3_backends.bucket_accounts.get(bucket) or ("aws", None))[1]
        bad = []
        for arn in arns:
            parts = arn.split(":")
            try:
                fn = get_backend(parts[4], parts[3]).get_function(arn)
            except (LambdaClientError, KeyError, IndexError):  # no such function (or no ARN)
                bad.append(arn)
                continue
            if not self.service_may_invoke(fn, "s3.amazonaws.com", f"arn:aws:s3:::{bucket}",
                                           owner or parts[4]):
                bad.append(arn)
        return bad

    # ---- the request check --------------------------------------------------------------
    def check_request(self, environ: dict, identity: Identity, cred: tuple) -> tuple | None:
        """(status, headers, body) of the denial to send, or None to let the request through."""
        body = read_body(environ)
        call = parse(environ, body, cred)
        authz = engine.checks_for(call, environ, identity.principal.account)
        if authz is None:
            log.debug("IAM: no check for %s %s (operation unknown)", call.signing_name,
                      environ.get("PATH_INFO"))
            return None
        denied = engine.authorize(identity, authz, environ, call.region)
        if denied is None:
            if call.service == "s3" and call.operation in MISSING_KEY_OPERATIONS:
                self._note_missing_key_rule(environ, identity, call, authz)
            return None
        check, decision = denied
        msg = denial_message(identity.principal.arn, check.action, decision)
        self.denials.record(mode=self.mode, principal=identity.principal.arn,
                            action=check.action, resource=decision.resource,
                            reason=decision.reason, message=msg,
                            role_arn=identity.principal.role_arn,
                            operation=f"{call.service}:{call.operation}", sid=decision.sid)
        if self.mode != "enforce":
            log.warning("IAM audit (let through): %s", msg)
            return None
        log.info("IAM denied: %s", msg)
        return denial_response(call.service or "", call, msg, decision)

    def _note_missing_key_rule(self, environ: dict, identity: Identity, call: Any,
                               authz: Any) -> None:
        """S3's 403/404 rule: a GET or HEAD of a key that does not exist answers 404 NoSuchKey
        only to a caller allowed s3:ListBucket on the bucket, else 403 AccessDenied
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions).
        The ListBucket decision is taken now (no s3:prefix: the request names no prefix) and
        kept in the environ for the middleware, which applies it if the answer is a 404."""
        bucket = authz.bucket
        if not bucket:
            return
        check = engine.Check("s3:ListBucket", [f"arn:aws:s3:::{bucket}"])
        denied = engine.authorize(identity, engine.Authz([check], {}, bucket=bucket),
                                  environ, call.region)
        if denied is not None:
            _, decision = denied
            msg = denial_message(identity.principal.arn, "s3:ListBucket", decision)
            environ[MISSING_KEY_ENV] = (identity, call, msg, decision)

    def missing_key_denial(self, environ: dict) -> tuple | None:
        """The 403 to send instead of a 404 (see _note_missing_key_rule), recorded."""
        identity, call, msg, decision = environ[MISSING_KEY_ENV]
        self.denials.record(mode=self.mode, principal=identity.principal.arn,
                            action="s3:ListBucket", resource=decision.resource,
                            reason=decision.reason, message=msg,
                            role_arn=identity.principal.role_arn,
                            operation=f"s3:{call.operation}", sid=decision.sid)
        if self.mode != "enforce":
            log.warning("IAM audit (404 kept; AWS answers 403 without s3:ListBucket): %s", msg)
            return None
        status, headers, body = denial_response("s3", call, msg, decision)
        return status, headers, (b"" if environ.get("REQUEST_METHOD") == "HEAD" else body)

    # ---- the report -------------------------------------------------------------------
    def report_doc(self) -> dict:
        entries = self.denials.entries()
        return {"mode": self.mode, "denials": entries, "proposals": proposals(entries)}

    def report_text(self) -> str:
        return render(self.denials.entries(), self.mode)


def instance_role_arn(instance: Any) -> str | None:
    assoc = instance.ec2_backend.iam_instance_profile_associations.get(instance.id)
    profile = assoc.iam_instance_profile if assoc is not None else None
    roles = (profile.roles if profile is not None else None) or []
    if not roles:
        return None
    return roles[0].arn


def service_invoke_decision(fn: Any, service: str, source_arn: str | None,
                            source_account: str | None) -> Decision:
    statements = list((fn.policy.statements if fn.policy is not None else None) or [])
    arn = fn.function_arn
    if arn.endswith(":$LATEST"):
        arn = arn[: -len(":$LATEST")]
    ctx = {}
    if source_arn:
        ctx["aws:sourcearn"] = source_arn
    if source_account:
        ctx["aws:sourceaccount"] = source_account
    principal = Principal(arn=service, account="", service=service)
    resources = [arn]
    d = evaluate("lambda:InvokeFunction", resources, ctx,
                 resource_policies=[{"Statement": statements}], principal=principal)
    if d.allowed or d.reason != "implicit-deny":
        return d
    # A grant on the function's "name:*" or qualified ARN also lets the unqualified call in
    # when the statement's Resource is the function itself with a wildcard qualifier.
    d2 = evaluate("lambda:InvokeFunction", [arn + ":$LATEST"], ctx,
                  resource_policies=[{"Statement": statements}], principal=principal)
    return d2 if d2.allowed else d




# A notification configuration's destination elements and the service their ARN must name.
_DESTINATION_SERVICE = {"Topic": "sns", "Queue": "sqs", "CloudFunction": "lambda"}
_ARN_PREFIX = re.compile(r"^arn:aws(-[a-z]+)*:([a-z0-9-]+):")


def _well_formed(tag: str, arn: str) -> bool:
    """The destination ARN names the service its element is for (S3's first check)."""
    m = _ARN_PREFIX.match(arn)
    return m is not None and m.group(2) == _DESTINATION_SERVICE[tag]


def _rid() -> str:
    return uuid.uuid4().hex[:16].upper()


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def denial_response(service: str, call: Any, msg: str, decision: Decision) -> tuple:
    """The denial as the service answers it on AWS."""
    model = service_model(service) if service else None
    protocol = model.protocol if model is not None else "json"
    rid = str(uuid.uuid4())
    if service == "s3":
        s3_msg = msg.replace(f"on resource: {decision.resource} ",
                             f'on resource: "{decision.resource}" ')
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                f"<Message>{_xml_escape(s3_msg)}</Message><RequestId>{_rid()}</RequestId>"
                f"<HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
        return "403 Forbidden", [("Content-Type", "application/xml"),
                                 ("x-amz-request-id", _rid())], body
    if protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>UnauthorizedOperation</Code><Message>You are not authorized to perform "
                f"this operation. {_xml_escape(msg)}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>").encode()
        return "403 Forbidden", [("Content-Type", "text/xml")], body
    if protocol == "query":
        ns = f"https://{service}.amazonaws.com/doc/{model.api_version}/"
        body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>Sender</Type><Code>AccessDenied</Code>'
                f"<Message>{_xml_escape(msg)}</Message></Error><RequestId>{rid}</RequestId>"
                f"</ErrorResponse>").encode()
        return "403 Forbidden", [("Content-Type", "text/xml")], body
    if protocol == "rest-json":
        doc = {"Type": "User", "Message": msg} if service == "lambda" else {"message": msg}
        body = json.dumps(doc).encode()
        return "403 Forbidden", [("Content-Type", "application/json"),
                                 ("x-amzn-ErrorType", "AccessDeniedException"),
                                 ("x-amzn-RequestId", rid)], body
    body = json.dumps({"__type": "AccessDeniedException", "message": msg}).encode()
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                               ("x-amzn-RequestId", rid)], body


def check_failed_response(signing_name: str) -> tuple:
    """The request refused because the IAM check itself raised: AWS's InternalFailure (500),
    so it is never allowed by accident (the log names the exception)."""
    model = service_model(signing_name)
    protocol = model.protocol if model is not None else "json"
    msg = "The request processing has failed because of an unknown error, exception or failure."
    rid = str(uuid.uuid4())
    if protocol in ("rest-xml", "query", "ec2"):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalFailure</Code>'
                f"<Message>{msg}</Message><RequestId>{rid}</RequestId></Error>").encode()
        return "500 Internal Server Error", [("Content-Type", "application/xml")], body
    body = json.dumps({"__type": "InternalFailure", "message": msg}).encode()
    return "500 Internal Server Error", [("Content-Type", "application/json"),
                                         ("x-amzn-ErrorType", "InternalFailure"),
                                         ("x-amzn-RequestId", rid)], body


def notification_refused_response(arns: list[str]) -> tuple:
    parts = "".join(
        f"<ArgumentName{i}>{_xml_escape(a)}, null</ArgumentName{i}>"
        f"<ArgumentValue{i}>Not authorized to invoke function [{_xml_escape(a)}]</ArgumentValue{i}>"
        for i, a in enumerate(arns, 1))
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
            f"<Message>Unable to validate the following destination configurations</Message>"
            f"{parts}<RequestId>{_rid()}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
    return "400 Bad Request", [("Content-Type", "application/xml")], body


def _send(start_response: Callable, status: str, headers: list, body: bytes) -> list[bytes]:
    start_response(status, headers + [("Content-Length", str(len(body)))])
    return [body]


def _is_notification_put(environ: dict) -> bool:
    if environ.get("REQUEST_METHOD") != "PUT":
        return False
    qs = environ.get("QUERY_STRING", "")
    return qs == "notification" or qs.startswith("notification&") or "&notification" in qs


def middleware_factory(app: Callable, cloud: Any) -> Callable:
    """The WSGI middleware: control paths, then (unless off) the caller's identity check."""

    def middleware(environ: dict, start_response: Callable) -> Any:
        svc: IamService | None = getattr(cloud, "iam", None)
        path = environ.get("PATH_INFO", "")
        if svc is None:
            return app(environ, start_response)
        if path.startswith("/_localcloud/iam"):
            return _control(svc, environ, start_response)
        if svc.mode == "off":
            return app(environ, start_response)
        cred = credential_of(environ)
        if cred is None:
            return app(environ, start_response)
        identity = svc.store.identity_of(cred[0])
        if identity is not None:
            try:
                denial = svc.check_request(environ, identity, cred)
            except Exception:  # noqa: BLE001 - fail closed: a check that raised allows nothing
                log.exception("IAM check failed for %s %s; refused (InternalFailure)",
                              environ.get("REQUEST_METHOD"), path)
                denial = check_failed_response(cred[2])
            if denial is not None:
                return _send(start_response, *denial)
        # (no identity: the operator's key, an administrator)
        if cred[2] == "s3" and _is_notification_put(environ):
            refusal = _validate_notification(svc, environ, cred)
            if refusal is not None:
                return _send(start_response, *refusal)
        if cred[2] in ("sts", "iam"):
            svc.store.forget_unknown()  # AssumeRole / CreateAccessKey may make a new key
        if MISSING_KEY_ENV in environ:
            return _missing_key_rule(svc, app, environ, start_response)
        return app(environ, start_response)

    return middleware


def _missing_key_rule(svc: IamService, app: Callable, environ: dict,
                      start_response: Callable) -> Any:
    """Run the request; if S3 answers 404 to a caller without s3:ListBucket, answer 403."""
    seen: dict = {}

    def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
        seen["status"], seen["headers"], seen["exc_info"] = status, headers, exc_info
        return lambda data: None  # moto never uses write()

    result = app(environ, capture)
    if "status" not in seen:  # an app that starts its response lazily
        result = list(result)
    if seen.get("status", "").startswith("404"):
        denial = svc.missing_key_denial(environ)
        if denial is not None:
            if hasattr(result, "close"):
                result.close()
            return _send(start_response, *denial)
    start_response(seen["status"], seen["headers"], seen.get("exc_info"))
    return result


def _validate_notification(svc: IamService, environ: dict, cred: tuple) -> tuple | None:
    body = read_body(environ)
    call = parse(environ, body, cred)
    bucket = call.params.get("Bucket")
    if call.operation not in ("PutBucketNotificationConfiguration", "PutBucketNotification") \
            or not bucket:
        return None
    bad = svc.notification_refusals(bucket, body)
    if bad and svc.mode == "enforce":
        return notification_refused_response(bad)
    return None


def _control(svc: IamService, environ: dict, start_response: Callable) -> Any:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    if path == REPORT_PATH and method == "GET":
        if "format=text" in environ.get("QUERY_STRING", ""):
            return _send(start_response, "200 OK", [("Content-Type", "text/plain")],
                         svc.report_text().encode())
        return _send(start_response, "200 OK", [("Content-Type", "application/json")],
                     json.dumps(svc.report_doc()).encode())
    if path == REPORT_PATH and method == "DELETE":
        n = svc.denials.clear()
        return _send(start_response, "200 OK", [("Content-Type", "application/json")],
                     json.dumps({"cleared": n}).encode())
    if path == MODE_PATH and method == "GET":
        return _send(start_response, "200 OK", [("Content-Type", "application/json")],
                     json.dumps({"mode": svc.mode}).encode())
    if path == MODE_PATH and method == "POST":
        try:
            doc = json.loads(read_body(environ) or b"{}")
            svc.mode = resolve_mode(str(doc.get("mode", "")) or None)
        except (ValueError, AttributeError) as exc:
            return _send(start_response, "400 Bad Request", [("Content-Type", "application/json")],
                         json.dumps({"message": str(exc)}).encode())
        log.info("IAM mode set to %s", svc.mode)
        return _send(start_response, "200 OK", [("Content-Type", "application/json")],
                     json.dumps({"mode": svc.mode}).encode())
    return _send(start_response, "404 Not Found", [("Content-Type", "application/json")],
                 json.dumps({"message": f"unknown path {path}"}).encode())


__all__ = ["IamService", "InvokeDenied", "MODES", "resolve_mode", "middleware_factory",
           "ALLOWED"]
