"""STS GetSessionToken as AWS answers it: temporary credentials of the caller itself.

moto answers every GetSessionToken with AWS's documentation example key (the same for
everyone, and known to no signature check). Here the caller gets a key of its own
(`ASIA...`, a secret, a session token, `Expiration` after `DurationSeconds`, default 12 h):

- an IAM user's session is that user: IAM holds it to the user's policies, and
  GetCallerIdentity answers the user's ARN;
- the operator's session (the account's administrator, as AWS's root user) is an
  administrator too; root sessions last at most an hour (AWS: 900-3600 s for root);
- a session may not make another: `AccessDenied` "Cannot call GetSessionToken with session
  credentials" (AWS);
- past its expiration, a request signed with it is refused `ExpiredToken`, and with the
  wrong token `InvalidClientTokenId` (auth.py).

GetSessionToken needs no permission (AWS). Its sessions are kept in the cloud's snapshot
(`register_state`), so they outlive a restart; one issued in the last second before a crash
may not (it is not in the journal, as no other STS session is).
"""
from __future__ import annotations

import base64
import datetime as _dt
import os
import threading
import uuid
from typing import Any, Callable
from urllib.parse import parse_qsl

from ..core.body import read_body
from .requests import credential_of

DEFAULT_SECONDS = 12 * 3600
ROOT_MAX_SECONDS = 3600
MAX_SECONDS = 36 * 3600
NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class SessionTokens:
    """access key -> (secret, token, expires (naive UTC), identity or None)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.keys: dict[str, tuple[str, str, _dt.datetime, Any]] = {}

    def issue(self, seconds: int, identity: Any) -> tuple[str, str, str, _dt.datetime]:
        access = "ASIA" + base64.b32encode(os.urandom(10)).decode()[:16]
        secret = base64.b64encode(os.urandom(30)).decode()
        token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(os.urandom(96)).decode()
        expires = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None, microsecond=0) + \
            _dt.timedelta(seconds=seconds)
        with self._lock:
            now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
            for k in [k for k, v in self.keys.items() if v[2] <= now]:
                del self.keys[k]  # long expired: forgotten
            self.keys[access] = (secret, token, expires, identity)
        return access, secret, token, expires

    def get(self, access_key: str) -> tuple | None:
        return self.keys.get(access_key)

    def clear(self) -> None:
        with self._lock:
            self.keys.clear()


def _params(environ: dict) -> dict:
    pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "json" not in environ.get("CONTENT_TYPE", ""):
        pairs += parse_qsl(read_body(environ).decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def _xml(start_response: Callable, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
    return [data]


def _error(start_response: Callable, code: str, message: str, status: str) -> list[bytes]:
    return _xml(start_response, status, (
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
        "</ErrorResponse>"))


def middleware_factory(app: Callable, cloud: Any) -> Callable:
    def middleware(environ: dict, start_response: Callable) -> Any:
        cred = credential_of(environ)
        if cred is None or cred[2] != "sts" or environ.get("REQUEST_METHOD") != "POST" and \
                "Action=" not in environ.get("QUERY_STRING", ""):
            return app(environ, start_response)
        auth = getattr(cloud, "auth", None)
        if auth is None:
            return app(environ, start_response)
        action = _params(environ).get("Action")
        if action == "GetSessionToken":
            return _get_session_token(cloud, auth, environ, start_response)
        if action == "GetCallerIdentity":
            hit = auth.session_tokens.get(cred[0])
            if hit is not None and hit[3] is not None:
                ident = hit[3]
                return _xml(start_response, "200 OK", (
                    f'<GetCallerIdentityResponse xmlns="{NS}"><GetCallerIdentityResult>'
                    f"<Arn>{ident.principal.arn}</Arn><UserId>{ident.user_id or ''}</UserId>"
                    f"<Account>{ident.principal.account}</Account></GetCallerIdentityResult>"
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ResponseMetadata></GetCallerIdentityResponse>"))
        return app(environ, start_response)

    return middleware


def _get_session_token(cloud: Any, auth: Any, environ: dict, start_response: Callable) -> Any:
    caller = environ.get("localcloud.caller")
    if caller is None or caller.kind not in ("operator", "user"):
        return _error(start_response, "AccessDenied",
                      "Cannot call GetSessionToken with session credentials", "403 Forbidden")
    raw = _params(environ).get("DurationSeconds")
    try:
        seconds = int(raw) if raw else DEFAULT_SECONDS
    except ValueError:
        seconds = -1
    limit = ROOT_MAX_SECONDS if caller.kind == "operator" else MAX_SECONDS
    if not 900 <= seconds <= MAX_SECONDS:
        return _error(start_response, "ValidationError",
                      f"1 validation error detected: Value '{raw}' at 'durationSeconds' failed "
                      "to satisfy constraint: Member must have value "
                      + ("greater than or equal to 900" if seconds < 900 else
                         f"less than or equal to {MAX_SECONDS}"), "400 Bad Request")
    seconds = min(seconds, limit)
    identity = None
    if caller.kind == "user":
        iam = getattr(cloud, "iam", None)
        identity = iam.store.identity_of(caller.access_key) if iam is not None else None
    access, secret, token, expires = auth.session_tokens.issue(seconds, identity)
    if identity is not None:
        cloud.iam.store.remember(access, identity)
    return _xml(start_response, "200 OK", (
        f'<GetSessionTokenResponse xmlns="{NS}"><GetSessionTokenResult><Credentials>'
        f"<SessionToken>{token}</SessionToken><SecretAccessKey>{secret}</SecretAccessKey>"
        f"<Expiration>{expires.isoformat()}Z</Expiration><AccessKeyId>{access}</AccessKeyId>"
        "</Credentials></GetSessionTokenResult><ResponseMetadata>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetSessionTokenResponse>"))
