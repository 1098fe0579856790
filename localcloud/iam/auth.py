"""Authentication as AWS does it: every request's SigV4 signature is checked against the keys
the cloud knows, before anything else of the cloud sees the request.

Keys: the operator's (`localcloud.core.operator`, an administrator), IAM users' access keys
(`CreateAccessKey`; Active ones, no session token), and STS sessions (the roles' sessions the
cloud gives functions and instance hosts, `AssumeRole` results: the session token must match,
and an expired session is refused). Who signed is then IAM's business (`service.py`).

Refusals, in each service's own words and format: an unknown key -> `InvalidClientTokenId`
(S3 `InvalidAccessKeyId`, Lambda/JSON services `UnrecognizedClientException`, EC2
`AuthFailure`); a wrong signature -> `SignatureDoesNotMatch` (`InvalidSignatureException`);
an expired session -> `ExpiredToken`; no signature -> `MissingAuthenticationToken`, except
S3, which serves an anonymous request only where the bucket policy or an ACL makes it
public (else `AccessDenied`). A presigned URL past its `X-Amz-Expires` -> `AccessDenied`
"Request has expired"; a header signature whose `X-Amz-Date` is more than 15 minutes from the
cloud's clock -> S3 `RequestTimeTooSkewed`, else "Signature expired: ... is now earlier than
..." in the service's signature error (EC2 `RequestExpired`); an `x-amz-content-sha256` that
is not the body's -> `XAmzContentSHA256Mismatch`. An S3 POST Object's form is held to its
signed policy (`post_policy.py`) and its key left for IAM; `GetSessionToken` sessions are
`session_tokens.py`'s.

Control paths (`/_localcloud/*`, `/moto-api/*`) answer only the operator's key (SigV4 with
any service name; the CLI signs with `localcloud`), in either mode.

Mode `any` (`localcloud up --auth any`, `LOCALCLOUD_AUTH=any`): any key the cloud does not
know is the operator, unverified (moto's and LocalStack's behaviour); keys it knows are still
verified and held to their policies.

The API Gateway data plane (`/restapis/.../_user_request_/...`) is passed on: a method's
`AWS_IAM` authorization is checked there (`check_execute_api`).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ..core import operator
from ..core.body import read_body
from . import post_policy, sigv4
from .session_tokens import SessionTokens

log = logging.getLogger("localcloud")

AUTH_MODES = ("aws", "any")
DEFAULT_AUTH = "aws"
_CONTROL_PREFIXES = ("/_localcloud/", "/moto-api")


def resolve_auth_mode(value: str | None = None) -> str:
    raw = value if value else os.environ.get("LOCALCLOUD_AUTH", "")
    mode = (raw or DEFAULT_AUTH).strip().lower()
    if mode not in AUTH_MODES:
        raise ValueError(f"LOCALCLOUD_AUTH / --auth must be one of {', '.join(AUTH_MODES)}, "
                         f"got {raw!r}")
    return mode


@dataclass(frozen=True)
class Caller:
    kind: str          # "operator", "user", "session", "anonymous"
    access_key: str = ""
    arn: str = ""


OPERATOR = "operator"


class Refusal(Exception):
    def __init__(self, kind: str, detail: str = "", service: str | None = None,
                 message: str | None = None, timestamp: str = ""):
        super().__init__(kind)
        self.kind = kind
        self.detail = detail
        self.service = service
        self.message = message
        self.timestamp = timestamp   # "skewed": the request's X-Amz-Date


@dataclass
class _Key:
    kind: str
    secret: str
    token: str | None = None
    expires: _dt.datetime | None = None
    arn: str = ""
    ref: Any = None            # moto's AccessKey object, checked live (deleted, Inactive)
    backend: Any = None


class AuthService:
    def __init__(self, cloud: Any, key: operator.OperatorKey, mode: str):
        self.cloud = cloud
        self.operator = key
        self.mode = mode
        self.verifier = sigv4.Verifier()
        self.session_tokens = SessionTokens()   # GetSessionToken's (session_tokens.py)
        self._sessions: dict[str, _Key] = {}
        self._lock = threading.Lock()

    # ---- whose key -----------------------------------------------------------------
    def key_of(self, access_key: str) -> _Key | None:
        if access_key == self.operator.access_key_id:
            return _Key(OPERATOR, self.operator.secret_access_key)
        own = self.session_tokens.get(access_key)
        if own is not None:
            secret, token, expires, identity = own
            return _Key("session", secret, token, expires,
                        identity.principal.arn if identity is not None else "")
        hit = self._sessions.get(access_key)
        if hit is not None and hit.backend.access_keys.get(access_key) is hit.ref:
            return hit
        found = _moto_key(access_key)
        if found is not None:
            with self._lock:
                if len(self._sessions) > 8192:
                    self._sessions.clear()
                self._sessions[access_key] = found
        return found

    def authenticate(self, environ: dict) -> Caller:
        """Who signed this request (or Refusal). Reads and keeps the body when it must."""
        claim = sigv4.parse(environ)  # raises sigv4.Malformed
        if claim is None:
            post = self._post_policy_caller(environ)
            return post if post is not None else Caller("anonymous")
        key = self.key_of(claim.access_key)
        if key is None:
            if self.mode == "any":
                return Caller(OPERATOR, claim.access_key)
            raise Refusal("unknown-key", claim.access_key, claim.service)
        if key.kind == "session":
            if claim.token is None or claim.token != key.token:
                raise Refusal("invalid-token", claim.access_key, claim.service)
            if key.expires is not None and key.expires <= _utcnow():
                raise Refusal("expired", claim.access_key, claim.service)
        elif claim.token is not None:
            raise Refusal("invalid-token", claim.access_key, claim.service)
        if key.kind == "user" and getattr(key.ref, "status", "Active") != "Active":
            raise Refusal("unknown-key", claim.access_key, claim.service)
        if claim.presigned:
            if sigv4.presign_expired(claim):
                raise Refusal("presign-expired", "", claim.service)
        else:
            late = sigv4.skew(claim)
            if late is not None:
                raise Refusal("skewed", claim.access_key, claim.service, late, claim.timestamp)
        content_sha = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
        needs_body = not claim.presigned and (content_sha is None or content_sha not in (
            sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER))
        body = read_body(environ) if needs_body else b""
        if not self.verifier.verify(environ, claim, key.secret, body):
            raise Refusal("bad-signature", claim.access_key, claim.service)
        if content_sha is not None and not claim.presigned:
            if content_sha in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
                if not self.verifier.verify_chunks(claim, key.secret, body):
                    raise Refusal("bad-signature", claim.access_key, claim.service)
            elif content_sha not in (sigv4.UNSIGNED_PAYLOAD, sigv4.STREAMING_UNSIGNED_TRAILER):
                if hashlib.sha256(body).hexdigest() != content_sha.lower():
                    raise Refusal("sha-mismatch", "", claim.service)
        return Caller(key.kind, claim.access_key, key.arn)

    def _post_policy_caller(self, environ: dict) -> Caller | None:
        """S3 POST Object (a browser form upload, `generate_presigned_post`): the form's
        policy is signed (v4: x-amz-credential/x-amz-signature; v2: AWSAccessKeyId/signature)
        by a key the cloud knows, and the form is what the policy allows (`post_policy`).
        The form's key is left for IAM (`requests.parse`: s3:PutObject on it)."""
        if environ.get("REQUEST_METHOD") != "POST" or \
                not environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            return None
        form = post_policy.parse_form(environ["CONTENT_TYPE"], read_body(environ))
        key_name = post_policy.object_key(form)
        if key_name is not None:
            environ["localcloud.post_key"] = key_name
        lower = form.fields
        policy = lower.get("policy")
        if policy is None:
            return None
        region = "us-east-1"
        if "x-amz-signature" in lower:
            access_key, date, region, service = sigv4._scope(lower.get("x-amz-credential", ""))
        elif "awsaccesskeyid" in lower and "signature" in lower:
            access_key, date, region, service = lower["awsaccesskeyid"], "", "us-east-1", "s3"
        else:
            return None
        key = self.key_of(access_key)
        if key is None and self.mode != "any":
            raise Refusal("unknown-key", access_key, "s3")
        if key is not None:
            if key.kind == "session":
                token = lower.get("x-amz-security-token")
                if token != key.token:
                    raise Refusal("invalid-token", access_key, "s3")
                if key.expires is not None and key.expires <= _utcnow():
                    raise Refusal("expired", access_key, "s3")
            if "x-amz-signature" in lower:
                expected = hmac.new(self.verifier.signing_key(key.secret, date, region, service),
                                    policy.encode(), hashlib.sha256).hexdigest()
                given = lower["x-amz-signature"]
            else:
                expected = base64.b64encode(hmac.new(key.secret.encode(), policy.encode(),
                                                     hashlib.sha1).digest()).decode()
                given = lower["signature"]
            if not hmac.compare_digest(expected, given):
                raise Refusal("bad-signature", access_key, "s3")
        try:
            doc = post_policy.decode(policy)
            post_policy.check(doc, form, _posted_bucket(environ), _utcnow())
        except post_policy.PolicyError as exc:
            raise Refusal("post-" + exc.kind, "", "s3", exc.message) from None
        environ["localcloud.post_credential"] = (access_key, region, "s3")
        if key is None:  # mode any: a key the cloud does not know is the operator
            return Caller(OPERATOR, access_key)
        return Caller(key.kind, access_key, key.arn)

    def is_operator_request(self, environ: dict) -> bool:
        """Does this (control) request prove the operator's key? Never in `any` mode by a
        made-up key: control paths want the real one."""
        try:
            claim = sigv4.parse(environ)
        except sigv4.Malformed:
            return False
        if claim is None or claim.access_key != self.operator.access_key_id:
            return False
        try:
            if sigv4.presign_expired(claim) if claim.presigned else sigv4.skew(claim):
                return False
        except sigv4.Malformed:
            return False
        body = read_body(environ) if not claim.presigned else b""
        return self.verifier.verify(environ, claim, self.operator.secret_access_key, body)


def _posted_bucket(environ: dict) -> str:
    from .requests import _s3_bucket_from_host

    host_bucket = _s3_bucket_from_host(environ.get("HTTP_HOST", ""))
    return host_bucket or environ.get("PATH_INFO", "/").strip("/").split("/", 1)[0]


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def _moto_key(access_key: str) -> _Key | None:
    """An IAM user's access key or an STS session's, from moto's backends (any account)."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account_id in list(iam_backends.keys()):
        iam = iam_backends[account_id]["aws"]
        ref = iam.access_keys.get(access_key)
        if ref is None:
            continue
        if getattr(ref, "role_arn", None) or getattr(ref, "user_name", None) is None:
            assumed = sts_backends[account_id]["aws"].get_assumed_role_from_access_key(access_key)
            if assumed is None:
                return None
            exp = assumed.expiration
            if exp is not None and exp.tzinfo is not None:
                exp = exp.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            return _Key("session", assumed.secret_access_key, assumed.session_token, exp,
                        assumed.arn, ref, iam)
        return _Key("user", ref.secret_access_key, None, None,
                    f"arn:aws:iam::{account_id}:user/{ref.user_name}", ref, iam)
    return None




# ---- which service, and its words ---------------------------------------------------------
_SIG_MSG = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.")
_TOKEN_MSG = "The security token included in the request is invalid."
_EXPIRED_MSG = "The security token included in the request is expired"

# kind -> (code, status, message) per protocol family
_QUERY = {
    "unknown-key": ("InvalidClientTokenId", 403, _TOKEN_MSG),
    "invalid-token": ("InvalidClientTokenId", 403, _TOKEN_MSG),
    "bad-signature": ("SignatureDoesNotMatch", 403, _SIG_MSG),
    "expired": ("ExpiredToken", 403, _EXPIRED_MSG),
    "anonymous": ("MissingAuthenticationToken", 403, "Request is missing Authentication Token"),
    "presign-expired": ("SignatureDoesNotMatch", 403, "Signature expired"),
    "malformed": ("IncompleteSignature", 400, ""),
    "sha-mismatch": ("SignatureDoesNotMatch", 403, _SIG_MSG),
    "skewed": ("SignatureDoesNotMatch", 403, "Signature expired"),
}
_EC2 = {
    "unknown-key": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
    "invalid-token": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
    "bad-signature": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
    "expired": ("RequestExpired", 400, "Request has expired."),
    "anonymous": ("MissingAuthenticationToken", 401, "The request must contain either a valid "
                  "(registered) AWS access key ID or X.509 certificate."),
    "presign-expired": ("RequestExpired", 400, "Request has expired."),
    "malformed": ("IncompleteSignature", 400, ""),
    "sha-mismatch": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
    "skewed": ("RequestExpired", 400, "Request has expired."),
}
_JSON = {
    "unknown-key": ("UnrecognizedClientException", 403, _TOKEN_MSG),
    "invalid-token": ("UnrecognizedClientException", 403, _TOKEN_MSG),
    "bad-signature": ("InvalidSignatureException", 403, _SIG_MSG),
    "expired": ("ExpiredTokenException", 403, _EXPIRED_MSG),
    "anonymous": ("MissingAuthenticationTokenException", 403, "Missing Authentication Token"),
    "presign-expired": ("InvalidSignatureException", 403, "Signature expired"),
    "malformed": ("IncompleteSignatureException", 400, ""),
    "sha-mismatch": ("InvalidSignatureException", 403, _SIG_MSG),
    "skewed": ("InvalidSignatureException", 403, "Signature expired"),
}
_S3 = {
    "unknown-key": ("InvalidAccessKeyId", 403,
                    "The AWS Access Key Id you provided does not exist in our records."),
    "invalid-token": ("InvalidToken", 400, "The provided token is malformed or otherwise invalid."),
    "bad-signature": ("SignatureDoesNotMatch", 403, "The request signature we calculated does "
                      "not match the signature you provided. Check your key and signing method."),
    "expired": ("ExpiredToken", 400, "The provided token has expired."),
    "anonymous": ("AccessDenied", 403, "Access Denied"),
    "presign-expired": ("AccessDenied", 403, "Request has expired"),
    "malformed": ("AuthorizationHeaderMalformed", 400, ""),
    "sha-mismatch": ("XAmzContentSHA256Mismatch", 400,
                     "The provided 'x-amz-content-sha256' header does not match what was computed."),
    "skewed": ("RequestTimeTooSkewed", 403,
               "The difference between the request time and the current time is too large."),
    "post-policy": ("AccessDenied", 403, "Invalid according to Policy"),
    "post-too-large": ("EntityTooLarge", 400, "Your proposed upload exceeds the maximum "
                       "allowed size"),
    "post-too-small": ("EntityTooSmall", 400, "Your proposed upload is smaller than the "
                       "minimum allowed size"),
    "post-malformed": ("InvalidPolicyDocument", 400, "Invalid Policy"),
}
_STATUS = {400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden"}


def service_of(environ: dict, signing_name: str | None) -> str:
    """The service a request is for: its credential scope's, else guessed from its shape."""
    if signing_name:
        return {"monitoring": "cloudwatch", "execute-api": "apigateway"}.get(signing_name,
                                                                           signing_name)
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    path = environ.get("PATH_INFO", "")
    qs = environ.get("QUERY_STRING", "")
    if path.startswith("/2015-03-31/") or path.startswith("/2017-") or path.startswith("/2018-"):
        return "lambda"
    if path.split("/", 2)[1:2] and path.split("/", 2)[1] in (
            "restapis", "apikeys", "usageplans", "domainnames", "account", "clientcertificates",
            "vpclinks", "apis"):
        return "apigateway"
    ctype = environ.get("CONTENT_TYPE", "")
    if "Action=" in qs or ctype.startswith("application/x-www-form-urlencoded"):
        body = read_body(environ)
        if b"Version=2016-11-15" in body or "Version=2016-11-15" in qs:
            return "ec2"
        if b"Action=" in body or "Action=" in qs:
            return "iam"
    return "s3"


def _family(service: str) -> str:
    if service in ("s3", "s3-object-lambda", "localcloud"):
        return "s3" if service != "localcloud" else "json"
    if service == "ec2":
        return "ec2"
    if service == "json":
        return "json"
    from .requests import service_model
    model = service_model(service)
    protocol = model.protocol if model is not None else "json"
    if protocol == "query":
        return "query"
    if protocol == "ec2":
        return "ec2"
    if protocol == "rest-xml":
        return "query"
    return "json"


def refusal_response(environ: dict, kind: str, service: str, detail: str = "",
                     message: str | None = None, timestamp: str = "") -> tuple[str, list, bytes]:
    family = _family(service)
    table = {"s3": _S3, "ec2": _EC2, "query": _QUERY, "json": _JSON}[family]
    code, status, msg = table[kind]
    if message and not (kind == "skewed" and family in ("s3", "ec2")):
        msg = message
    rid = str(uuid.uuid4())
    esc = _xml_escape
    if family == "s3":
        if kind == "malformed" and "QUERY_STRING" in environ and \
                "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
            code = "AuthorizationQueryParametersError"
        extra = f"<AWSAccessKeyId>{esc(detail)}</AWSAccessKeyId>" if detail else ""
        if kind == "skewed":  # S3 names both clocks and the allowed difference
            now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            extra = (f"<RequestTime>{esc(timestamp)}</RequestTime><ServerTime>{now}"
                     f"</ServerTime><MaxAllowedSkewMilliseconds>"
                     f"{sigv4.MAX_SKEW_SECONDS * 1000}</MaxAllowedSkewMilliseconds>")
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{esc(msg)}</Message>{extra}<RequestId>{rid[:16].upper()}</RequestId>"
                f"<HostId>{uuid.uuid4().hex}</HostId></Error>").encode()
        return _STATUS[status], [("Content-Type", "application/xml"),
                                 ("x-amz-request-id", rid[:16].upper())], body
    if family == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{esc(msg)}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>").encode()
        return _STATUS[status], [("Content-Type", "text/xml")], body
    if family == "query":
        body = (f'<ErrorResponse xmlns="https://{service}.amazonaws.com/doc/"><Error><Type>Sender</Type>'
                f"<Code>{code}</Code><Message>{esc(msg)}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        return _STATUS[status], [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body
    rest = service in ("lambda", "apigateway", "localcloud") or service.startswith("rest")
    if rest:
        doc = {"message": msg}
        if service == "lambda":
            doc = {"Type": "User", "message": msg}
        body = json.dumps(doc).encode()
        return _STATUS[status], [("Content-Type", "application/json"),
                                 ("x-amzn-ErrorType", code), ("x-amzn-RequestId", rid)], body
    body = json.dumps({"__type": code, "message": msg}).encode()
    # JSON-protocol services answer their auth errors with 400 (403 for an unknown key).
    status = 400 if kind not in ("unknown-key", "invalid-token") else status
    return _STATUS[status], [("Content-Type", "application/x-amz-json-1.1"),
                             ("x-amzn-RequestId", rid)], body


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# STS operations AWS serves unsigned: the caller proves who it is with the SAML assertion or
# the web identity token in the request itself.
_UNSIGNED_STS = (b"Action=AssumeRoleWithSAML", b"Action=AssumeRoleWithWebIdentity")


def _unsigned_sts_call(environ: dict) -> bool:
    data = read_body(environ) + b"&" + environ.get("QUERY_STRING", "").encode()
    return any(a + b"&" in data + b"&" for a in _UNSIGNED_STS)


# ---- anonymous S3 ----------------------------------------------------------------------
_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_READ_ACTIONS = {"s3:GetObject": "READ", "s3:ListBucket": "READ", "s3:ListBucketVersions": "READ",
                 "s3:GetObjectVersion": "READ", "s3:PutObject": "WRITE",
                 "s3:DeleteObject": "WRITE"}


def anonymous_s3_allowed(environ: dict) -> bool:
    """May an unsigned request do this S3 operation? Only where the bucket policy allows
    Principal "*" (no explicit deny) or an ACL grants AllUsers the permission."""
    from . import engine
    from .policy import Principal, evaluate
    from .requests import parse as parse_call

    if environ.get("REQUEST_METHOD") == "OPTIONS":
        return True  # a CORS preflight: S3 answers it from the bucket's CORS rules
    body = read_body(environ)
    call = parse_call(environ, body, ("", "us-east-1", "s3"))
    if not call.operation:
        return False
    authz = engine.checks_for(call, environ, "")
    if authz is None or not authz.checks:
        return False
    bucket = engine.bucket_of(authz.bucket)
    if bucket is None:
        return False  # AWS: AccessDenied for a bucket an anonymous caller cannot see
    policies = engine.bucket_policy(authz.bucket)
    anon = Principal(arn="anonymous", account="")
    ctx = {"aws:sourceip": environ.get("REMOTE_ADDR", "127.0.0.1"), "aws:securetransport": "true"}
    for check in authz.checks:
        d = evaluate(check.action, check.resources, {**ctx, **authz.context},
                     resource_policies=policies, principal=anon)
        if d.allowed:
            continue
        if d.reason != "implicit-deny" or not _acl_allows(bucket, call, check.action):
            return False
    return True


def _acl_allows(bucket: Any, call: Any, action: str) -> bool:
    perm = _READ_ACTIONS.get(action)
    if perm is None:
        return False
    acls = [getattr(bucket, "acl", None)]
    key = call.params.get("Key")
    if key and action in ("s3:GetObject", "s3:GetObjectVersion"):
        try:
            obj = bucket.keys.get(key)
        except Exception:  # noqa: BLE001
            obj = None
        acls = [getattr(obj, "acl", None)] if obj is not None else []
    for acl in acls:
        for grant in getattr(acl, "grants", None) or []:
            if any(getattr(g, "uri", None) == _ALL_USERS for g in grant.grantees) and \
                    any(p in (perm, "FULL_CONTROL") for p in grant.permissions):
                return True
    return False


# ---- the middleware ----------------------------------------------------------------------
def _send(start_response: Callable, status: str, headers: list, body: bytes) -> list[bytes]:
    start_response(status, headers + [("Content-Length", str(len(body)))])
    return [body]


def _is_control(path: str) -> bool:
    return path.startswith(_CONTROL_PREFIXES)


def _is_dataplane(path: str) -> bool:
    """Paths whose requests are checked by what serves them, not by the API's SigV4 check:
    the API Gateway data plane (its own key/AWS_IAM rules) and the Lambda code download URLs
    (`localcloud.awslambda.code_location`: signed by the cloud, verified there, 10 minutes)."""
    return (path.startswith("/restapis/") and "/_user_request_" in path) or \
        path.startswith("/_lambda-code/")


def middleware_factory(app: Callable, cloud: Any) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        svc: AuthService | None = getattr(cloud, "auth", None)
        path = environ.get("PATH_INFO", "")
        if svc is None or _is_dataplane(path):
            return app(environ, start_response)
        if _is_control(path):
            if svc.is_operator_request(environ):
                environ["localcloud.caller"] = Caller(OPERATOR)
                return app(environ, start_response)
            return _send(start_response, *refusal_response(
                environ, "anonymous", "localcloud",
                message="control paths answer only requests signed with the operator's key "
                        "(the localcloud CLI signs them; see `localcloud env`)"))
        try:
            caller = svc.authenticate(environ)
        except sigv4.Malformed as exc:
            service = service_of(environ, None)
            return _send(start_response, *refusal_response(environ, "malformed", service,
                                                           message=str(exc)))
        except Refusal as r:
            service = service_of(environ, r.service)
            log.info("auth refused (%s) %s %s key %s", r.kind, environ.get("REQUEST_METHOD"),
                     path, r.detail or "-")
            return _send(start_response, *refusal_response(environ, r.kind, service, r.detail,
                                                           r.message, r.timestamp))
        if caller.kind == "anonymous":
            service = service_of(environ, None)
            if service == "iam" and _unsigned_sts_call(environ):
                return app(environ, start_response)
            if service != "s3" or not anonymous_s3_allowed(environ):
                return _send(start_response, *refusal_response(environ, "anonymous", service))
        environ["localcloud.caller"] = caller
        if environ.get("REQUEST_METHOD") in ("GET", "HEAD") and \
                service_of(environ, _signing_name(environ)) == "s3":
            return app(environ, _sandboxed(start_response))
        return app(environ, start_response)

    return middleware


# An object served from the cloud's origin must not run as a page of that origin: S3 serves
# objects from the bucket's own domain; here the browser is told to treat it as a sandboxed,
# opaque origin (no script, no same-origin requests, no cookies) and not to sniff its type.
OBJECT_HEADERS = (("Content-Security-Policy", "sandbox"), ("X-Content-Type-Options", "nosniff"))


def _sandboxed(start_response: Callable) -> Callable:
    def wrapped(status: str, headers: list, exc_info: Any = None) -> Any:
        names = {k.lower() for k, _ in headers}
        headers = list(headers) + [(k, v) for k, v in OBJECT_HEADERS if k.lower() not in names]
        return start_response(status, headers, exc_info) if exc_info else \
            start_response(status, headers)
    return wrapped


def _signing_name(environ: dict) -> str | None:
    from .requests import credential_of
    cred = credential_of(environ)
    return cred[2] if cred else None


# ---- API Gateway's AWS_IAM authorization ---------------------------------------------------
_GATEWAY_REFUSALS = {
    "unknown-key": ("INVALID_SIGNATURE", _TOKEN_MSG),
    "invalid-token": ("INVALID_SIGNATURE", _TOKEN_MSG),
    "bad-signature": ("INVALID_SIGNATURE", _SIG_MSG),
    "sha-mismatch": ("INVALID_SIGNATURE", _SIG_MSG),
    "expired": ("EXPIRED_TOKEN", _EXPIRED_MSG),
    "presign-expired": ("INVALID_SIGNATURE", "Signature expired"),
}


def check_execute_api(cloud: Any, environ: dict, body: bytes, method_arn: str) -> tuple | None:
    """(gateway response type, message) refusing an `AWS_IAM` method's request, or None."""
    svc: AuthService | None = getattr(cloud, "auth", None)
    if svc is None:
        return None
    environ["localcloud.body"] = body
    try:
        claim = sigv4.parse(environ)
        if claim is None:
            return "MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token"
        if claim.service != "execute-api":
            return "INVALID_SIGNATURE", (f"Credential should be scoped to correct service: "
                                         f"'execute-api'. ")
        caller = svc.authenticate(environ)
    except sigv4.Malformed as exc:
        return "MISSING_AUTHENTICATION_TOKEN" if "Authorization" not in str(exc) else \
            "INVALID_SIGNATURE", str(exc)
    except Refusal as r:
        if r.kind == "skewed":
            return "INVALID_SIGNATURE", r.message
        return _GATEWAY_REFUSALS[r.kind]
    if caller.kind == OPERATOR:
        return None
    iam = getattr(cloud, "iam", None)
    identity = iam.store.identity_of(caller.access_key) if iam is not None else None
    if identity is None or iam.mode == "off":
        return None
    from . import engine
    from .policy import evaluate

    ctx = engine.base_context(identity, environ, method_arn.split(":")[3])
    d = evaluate("execute-api:Invoke", [method_arn], ctx,
                 identity=engine.identity_policies(identity) or [], principal=identity.principal)
    if d.allowed:
        return None
    msg = (f"User: {identity.principal.arn} is not authorized to perform: execute-api:Invoke "
           f"on resource: {method_arn}" + (" with an explicit deny" if d.reason != "implicit-deny"
                                           else ""))
    iam.denials.record(mode=iam.mode, principal=identity.principal.arn,
                       action="execute-api:Invoke", resource=method_arn, reason=d.reason,
                       message=msg, role_arn=identity.principal.role_arn,
                       operation="execute-api:Invoke", sid=d.sid)
    if iam.mode != "enforce":
        return None
    return "ACCESS_DENIED", msg


def install(cloud: Any) -> AuthService:
    """Make (or reuse) the operator key of this cloud and set `cloud.auth`."""
    key = getattr(cloud, "_operator_key", None)
    path = operator.key_path(cloud.port)
    if key is None:
        given = cloud.options.get("operator_key")
        if given is not None:
            key = given
            operator.write(path, key, cloud.endpoint_url)
        else:
            key = operator.load_or_create(path, cloud.endpoint_url)
        cloud._operator_key = key
        cloud.operator_key_path = path
    elif operator.read(path) != key:  # written again after a reset removed it
        operator.write(path, key, cloud.endpoint_url)
    previous = getattr(cloud, "auth", None)
    mode = previous.mode if previous is not None else resolve_auth_mode(cloud.options.get("auth"))
    cloud.auth = AuthService(cloud, key, mode)
    if hasattr(cloud, "register_state"):  # GetSessionToken's sessions outlive a restart
        cloud.register_state("auth.session_tokens", lambda: dict(cloud.auth.session_tokens.keys),
                             lambda keys: _restore_sessions(cloud, keys))
    return cloud.auth


def _restore_sessions(cloud: Any, keys: dict) -> None:
    cloud.auth.session_tokens.keys.update(keys)
    iam = getattr(cloud, "iam", None)
    for access, (_, _, _, identity) in keys.items():
        if identity is not None and iam is not None:
            iam.store.remember(access, identity)


def forget_key_file(cloud: Any) -> None:
    """A throwaway cloud (its own temporary state) takes its key file with it."""
    path = getattr(cloud, "operator_key_path", None)
    if path is not None and getattr(cloud, "_own_state_dir", False) and not cloud.running:
        try:
            if operator.read(path) == getattr(cloud, "_operator_key", None):
                path.unlink()
        except OSError:
            pass
