"""Verify an AWS Signature Version 4 on a request as the WSGI server received it.

`parse(environ)` reads what the client claims (access key, scope, signed headers, signature;
from the `Authorization` header or a presigned URL's query); `Verifier.verify(...)` rebuilds
the request the client signed (raw path and query as sent, only the signed headers, the
`Host` header with its port) and lets botocore's own signers (`SigV4Auth`, `S3SigV4Auth`, and
the query variants for presigned URLs) compute the canonical request and string to sign, so
the canonicalisation is botocore's, never a copy. Only the last HMAC uses a cached signing
key (derived once per secret, day, region and service).

S3's streaming uploads (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, the `aws-chunked` encoding)
are checked chunk by chunk: each chunk's signature chains from the previous one, starting at
the header's seed signature (AWS's "Signature Calculations for the Authorization Header:
Transferring Payload in Multiple Chunks").
"""
from __future__ import annotations

import calendar
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600  # AWS: at most 7 days
MAX_SKEW_SECONDS = 15 * 60  # AWS: a signed request's time within 15 minutes of the service's


class Malformed(ValueError):
    """The Authorization header or presigned query is not a well-formed SigV4 signature
    (AWS: IncompleteSignature / AuthorizationQueryParametersError)."""


@dataclass
class Claim:
    """What a signed request says about itself."""
    access_key: str
    date: str              # yyyymmdd of the scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str         # X-Amz-Date, yyyymmddThhmmssZ
    token: str | None      # X-Amz-Security-Token
    presigned: bool
    expires: int | None = None   # presigned: X-Amz-Expires seconds (v2: Expires, epoch)
    v2: bool = False             # S3's older query signature (AWSAccessKeyId/Signature/Expires)


def _query_pairs(qs: str) -> list[tuple[str, str]]:
    out = []
    for part in qs.split("&"):
        if part:
            k, _, v = part.partition("=")
            out.append((k, v))
    return out


def _header(environ: dict, name: str) -> str | None:
    key = "HTTP_" + name.upper().replace("-", "_")
    return environ.get(key)


def is_signed(environ: dict) -> bool:
    return "HTTP_AUTHORIZATION" in environ or "X-Amz-Credential" in environ.get("QUERY_STRING", "") \
        or "X-Amz-Signature" in environ.get("QUERY_STRING", "")


def parse(environ: dict) -> Claim | None:
    """The request's SigV4 claim; None if it carries no signature at all (anonymous)."""
    auth = environ.get("HTTP_AUTHORIZATION")
    if auth is not None:
        return _parse_header(auth, environ)
    qs = environ.get("QUERY_STRING", "")
    if "AWSAccessKeyId=" in qs and "Signature=" in qs:
        return _parse_v2_query(qs)
    if "X-Amz-" not in qs:
        return None
    params = {unquote(k): unquote(v) for k, v in _query_pairs(qs)}
    if "X-Amz-Signature" not in params and "X-Amz-Credential" not in params:
        return None
    missing = [k for k in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                           "X-Amz-Date", "X-Amz-SignedHeaders") if k not in params]
    if missing:
        raise Malformed("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                        "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                        "and X-Amz-Expires parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise Malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
    access_key, date, region, service = _scope(params["X-Amz-Credential"])
    try:
        expires = int(params.get("X-Amz-Expires", "900"))
    except ValueError:
        raise Malformed("X-Amz-Expires should be a number") from None
    if expires < 0 or expires > MAX_PRESIGN_EXPIRES:
        raise Malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    return Claim(access_key, date, region, service,
                 tuple(params["X-Amz-SignedHeaders"].lower().split(";")),
                 params["X-Amz-Signature"], params["X-Amz-Date"],
                 params.get("X-Amz-Security-Token"), True, expires)


def _parse_v2_query(qs: str) -> Claim:
    """S3's signature version 2 presigned URL (what boto3 makes for S3 unless told s3v4)."""
    params = {unquote(k): unquote(v) for k, v in _query_pairs(qs)}
    try:
        expires = int(params.get("Expires", ""))
    except ValueError:
        raise Malformed("Query-string authentication requires the Signature, Expires and "
                        "AWSAccessKeyId parameters") from None
    return Claim(params.get("AWSAccessKeyId", ""), "", "us-east-1", "s3", (),
                 params.get("Signature", ""), "", params.get("x-amz-security-token"), True,
                 expires, v2=True)


def _scope(credential: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise Malformed(f"Credential should be scoped to a valid region and service: "
                        f"'{credential}'")
    return parts[0], parts[1], parts[2], parts[3]


def _parse_header(auth: str, environ: dict) -> Claim:
    algorithm, _, rest = auth.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise Malformed(f"Unsupported authorization type: {algorithm or auth!r} "
                        "(only AWS4-HMAC-SHA256 is accepted)")
    fields = {}
    for item in rest.split(","):
        k, eq, v = item.strip().partition("=")
        if eq:
            fields[k.strip()] = v.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    timestamp = _header(environ, "X-Amz-Date")
    if missing or timestamp is None:
        names = missing + ([] if timestamp is not None else ["X-Amz-Date"])
        raise Malformed("Authorization header requires " +
                        ", ".join(f"'{n}' parameter" for n in names) +
                        f". Authorization={auth[:200]}")
    access_key, date, region, service = _scope(fields["Credential"])
    return Claim(access_key, date, region, service,
                 tuple(fields["SignedHeaders"].lower().split(";")), fields["Signature"],
                 timestamp, _header(environ, "X-Amz-Security-Token"), False)


def timestamp_epoch(ts: str) -> float | None:
    """yyyymmddThhmmssZ -> seconds since the epoch (None if it is not one)."""
    if len(ts) != 16 or ts[8] != "T" or ts[15] != "Z":
        return None
    try:
        fields = (int(ts[0:4]), int(ts[4:6]), int(ts[6:8]), int(ts[9:11]), int(ts[11:13]),
                  int(ts[13:15]))
    except ValueError:
        return None
    if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and
            fields[4] < 60 and fields[5] < 61):
        return None
    return calendar.timegm(fields + (0, 0, 0))


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def skew(claim: Claim, now: float | None = None) -> str | None:
    """AWS refuses a header-signed request whose X-Amz-Date is more than 15 minutes from its
    own clock (a captured request cannot be replayed later; presigned URLs have their
    X-Amz-Expires instead). The message, in AWS's words, or None when it is in time."""
    if claim.presigned:
        return None
    now = time.time() if now is None else now
    at = timestamp_epoch(claim.timestamp)
    if at is None:
        raise Malformed(f"Date must be in ISO-8601 'basic format'. Got '{claim.timestamp}'. "
                        "See http://en.wikipedia.org/wiki/ISO_8601")
    if at < now - MAX_SKEW_SECONDS:
        return (f"Signature expired: {claim.timestamp} is now earlier than "
                f"{_stamp(now - MAX_SKEW_SECONDS)} ({_stamp(now)} - 15 min.)")
    if at > now + MAX_SKEW_SECONDS:
        return (f"Signature not yet current: {claim.timestamp} is still later than "
                f"{_stamp(now + MAX_SKEW_SECONDS)} ({_stamp(now)} + 15 min.)")
    return None


def presign_expired(claim: Claim, now: float | None = None) -> bool:
    if claim.v2:
        return (now if now is not None else time.time()) > (claim.expires or 0)
    start = timestamp_epoch(claim.timestamp)
    if start is None:
        return True
    return (now if now is not None else time.time()) > start + (claim.expires or 0)


class Verifier:
    """Checks signatures; derived signing keys are cached (4 HMACs saved per request)."""

    def __init__(self) -> None:
        self._keys: dict[tuple, bytes] = {}
        self._lock = threading.Lock()

    def signing_key(self, secret: str, date: str, region: str, service: str) -> bytes:
        ck = (secret, date, region, service)
        key = self._keys.get(ck)
        if key is None:
            key = ("AWS4" + secret).encode()
            for part in (date, region, service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            with self._lock:
                if len(self._keys) > 4096:
                    self._keys.clear()
                self._keys[ck] = key
        return key

    def string_to_sign(self, environ: dict, claim: Claim, body: bytes) -> str:
        """The string the client signed, by botocore's signer, from the request as received."""
        raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if raw_uri:
            path = raw_uri.split("?", 1)[0]
            if "://" in path:  # an absolute-form request line
                path = "/" + path.split("://", 1)[1].partition("/")[2]
        else:
            path = quote(environ.get("PATH_INFO", "/") or "/", safe="/~")
        query = environ.get("QUERY_STRING", "")
        if claim.presigned:
            query = "&".join(p for p in query.split("&") if p and
                             not p.startswith("X-Amz-Signature="))
        headers = {}
        signed = set(claim.signed_headers)
        for name, value in _raw_headers(environ):
            lname = name.lower()
            if lname in signed:
                headers[lname] = value if lname not in headers else headers[lname] + "," + value
        host = headers.get("host") or environ.get("HTTP_HOST", "")
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"), url=url,
                             data=body, headers=headers)
        request.context["timestamp"] = claim.timestamp
        s3 = claim.service in ("s3", "s3-object-lambda")
        if claim.presigned:
            cls = S3SigV4QueryAuth if s3 else SigV4QueryAuth
        else:
            cls = S3SigV4Auth if s3 else SigV4Auth
        signer = cls(Credentials(claim.access_key, "-"), claim.service, claim.region)
        canonical = signer.canonical_request(request)
        return signer.string_to_sign(request, canonical)

    def signature(self, environ: dict, claim: Claim, secret: str, body: bytes) -> str:
        sts = self.string_to_sign(environ, claim, body)
        key = self.signing_key(secret, claim.date, claim.region, claim.service)
        return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, environ: dict, claim: Claim, secret: str, body: bytes) -> bool:
        if claim.v2:
            return hmac.compare_digest(_v2_signature(environ, claim, secret), claim.signature)
        if claim.timestamp[:8] != claim.date:
            return False
        return hmac.compare_digest(self.signature(environ, claim, secret, body), claim.signature)

    def verify_chunks(self, claim: Claim, secret: str, body: bytes) -> bool:
        """An `aws-chunked` body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD request: every
        chunk's `chunk-signature` chains from the seed (the Authorization header's)."""
        key = self.signing_key(secret, claim.date, claim.region, claim.service)
        scope = f"{claim.date}/{claim.region}/{claim.service}/aws4_request"
        prev = claim.signature
        pos = 0
        while True:
            eol = body.find(b"\r\n", pos)
            if eol < 0:
                return False
            head = body[pos:eol].decode("latin-1")
            size_hex, _, ext = head.partition(";")
            if not ext.startswith("chunk-signature="):
                return False
            try:
                size = int(size_hex, 16)
            except ValueError:
                return False
            data = body[eol + 2: eol + 2 + size]
            if len(data) != size:
                return False
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", claim.timestamp, scope, prev,
                             EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
            sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sig, ext[len("chunk-signature="):].strip()):
                return False
            prev = sig
            pos = eol + 2 + size
            if size == 0:
                return True  # trailing headers (if any) follow the final chunk
            if body[pos:pos + 2] != b"\r\n":
                return False
            pos += 2


class _V2QueryAuth(HmacV1QueryAuth):
    def __init__(self, credentials: Credentials, expires: str):
        super().__init__(credentials)
        self._expires_value = expires

    def _get_date(self) -> str:
        return self._expires_value


def _v2_signature(environ: dict, claim: Claim, secret: str) -> str:
    """botocore's HmacV1 string to sign (method, Content-MD5, Content-Type, Expires,
    x-amz-* query parameters, the resource and its sub-resources), signed with `secret`."""
    from urllib.parse import urlsplit

    from botocore.awsrequest import HTTPHeaders

    raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or \
        quote(environ.get("PATH_INFO", "/") or "/", safe="/~")
    path = raw_uri.split("?", 1)[0]
    headers = HTTPHeaders()
    for name in ("CONTENT_MD5", "CONTENT_TYPE"):
        value = environ.get(name) or environ.get("HTTP_" + name)
        if value:
            headers[name.replace("_", "-").lower()] = value
    for k, v in _query_pairs(environ.get("QUERY_STRING", "")):
        if unquote(k).lower().startswith("x-amz-"):
            headers[unquote(k).lower()] = unquote(v)
    signer = _V2QueryAuth(Credentials(claim.access_key, secret), str(claim.expires))
    split = urlsplit("http://h" + path + "?" + environ.get("QUERY_STRING", ""))
    return signer.sign_string(signer.canonical_string(environ.get("REQUEST_METHOD", "GET"),
                                                      split, headers, auth_path=path))


def _raw_headers(environ: dict):
    raw = environ.get("localcloud.raw_headers")
    if raw is not None:
        return raw
    out = []
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            out.append((k[5:].replace("_", "-"), v))
    if environ.get("CONTENT_TYPE"):
        out.append(("Content-Type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        out.append(("Content-Length", environ["CONTENT_LENGTH"]))
    return out
