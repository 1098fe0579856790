"""S3 reads for the predict Lambda: botocore's own SigV4 signer and one keep-alive HTTP connection.

A cold start pays for boto3's client (its service model and endpoint rules: ~0.1 s, see
bench/predict_bench.py) only to GET one or two small objects. ``SignedS3Reader`` signs a
plain GET with ``botocore.auth.S3SigV4Auth`` on a ``botocore.awsrequest.AWSRequest`` (no
hand-written SigV4) and sends it with ``http.client`` over one reused connection.

- Credentials: the function's role credentials, which Lambda puts in the environment
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``); without them,
  botocore's standard credential chain.
- Region ``AWS_REGION`` (``AWS_DEFAULT_REGION``, else us-east-1). Endpoint
  ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (path-style ``{endpoint}/{bucket}/{key}``, as
  boto3 does for a custom endpoint), else ``https://{bucket}.s3.{region}.amazonaws.com/{key}``
  (``.amazonaws.com.cn`` in China regions; path-style for bucket names with dots).
- ``get(bucket, key, etag=None)`` -> ``Fetched(status, body, etag)``: 200 with the body, or
  304 (``If-None-Match: etag``) with none. Any other answer raises ``S3ReadError`` with S3's
  error code (``NoSuchKey``, ``AccessDenied``, ...) and HTTP status.

``Boto3Reader`` answers the same ``get`` with a boto3 client (tests under moto, and a
fallback); both raise the same errors, so the service does not know which it has.
"""
from __future__ import annotations

import http.client
import os
import re
from typing import NamedTuple, Optional
from urllib.parse import quote, urlsplit


class Fetched(NamedTuple):
    status: int            # 200, or 304 when the object still has the etag given
    body: bytes
    etag: Optional[str]


class S3ReadError(Exception):
    def __init__(self, code: str, status: int, message: str):
        self.code, self.status = code, status
        super().__init__(f"{code} ({status}): {message}" if message else f"{code} ({status})")

    @property
    def missing(self) -> bool:
        return self.code in ("NoSuchKey", "NoSuchBucket", "NotFound") or self.status == 404


def _xml_field(body: bytes, name: str) -> str:
    m = re.search(rb"<%s>(.*?)</%s>" % (name.encode(), name.encode()), body or b"", re.S)
    return m.group(1).decode("utf-8", "replace") if m else ""


def region_from_env(env=os.environ) -> str:
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_from_env(env=os.environ) -> Optional[str]:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def object_url(bucket: str, key: str, region: str, endpoint: Optional[str] = None) -> str:
    path = quote(key, safe="/~")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{path}"
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    if "." in bucket:  # a dotted name does not match the wildcard certificate: path-style
        return f"https://s3.{region}.{domain}/{bucket}/{path}"
    return f"https://{bucket}.s3.{region}.{domain}/{path}"


class EnvCredentials(NamedTuple):
    """What the signer reads of a credentials object (``botocore.credentials`` itself costs
    another ~25 ms of imports at a cold start)."""
    access_key: str
    secret_key: str
    token: Optional[str] = None


def _credentials(env=os.environ):
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return EnvCredentials(access, secret, env.get("AWS_SESSION_TOKEN") or None)
    import botocore.session

    creds = botocore.session.get_session().get_credentials()
    if creds is None:
        raise S3ReadError("NoCredentials", 0, "no AWS credentials in the environment or the standard chain")
    return creds


class SignedS3Reader:
    """GET objects signed by botocore's SigV4 signer over one reused HTTP(S) connection."""

    def __init__(self, region: Optional[str] = None, endpoint: Optional[str] = None, *,
                 credentials=None, timeout: float = 10.0):
        from botocore.auth import S3SigV4Auth

        self.region = region or region_from_env()
        self.endpoint = endpoint if endpoint is not None else endpoint_from_env()
        self._credentials = credentials or _credentials()
        self._auth_cls = S3SigV4Auth
        self.timeout = timeout
        self._conn = None
        self._netloc = None

    def _signed_headers(self, url: str, extra: dict) -> dict:
        from botocore.awsrequest import AWSRequest

        creds = self._credentials
        if hasattr(creds, "get_frozen_credentials"):  # refreshable credentials of the chain
            creds = creds.get_frozen_credentials()
        request = AWSRequest(method="GET", url=url, headers=dict(extra))
        self._auth_cls(creds, "s3", self.region).add_auth(request)
        return dict(request.headers.items())

    def _connection(self, scheme: str, netloc: str):
        if self._conn is None or self._netloc != (scheme, netloc):
            self.close()
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            self._conn, self._netloc = cls(netloc, timeout=self.timeout), (scheme, netloc)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def get(self, bucket: str, key: str, etag: Optional[str] = None) -> Fetched:
        url = object_url(bucket, key, self.region, self.endpoint)
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = self._signed_headers(url, {"If-None-Match": etag} if etag else {})
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise S3ReadError("RequestFailed", 0, f"GET s3://{bucket}/{key}: {exc}") from None
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        status = resp.status
        if status == 200:
            return Fetched(200, body, resp.getheader("ETag"))
        if status == 304:
            return Fetched(304, b"", etag)
        code = _xml_field(body, "Code") or {404: "NoSuchKey", 403: "AccessDenied"}.get(status, f"HTTP{status}")
        raise S3ReadError(code, status, _xml_field(body, "Message"))


class Boto3Reader:
    """The same ``get`` with a boto3 S3 client."""

    def __init__(self, client):
        self.client = client

    def get(self, bucket: str, key: str, etag: Optional[str] = None) -> Fetched:
        from botocore.exceptions import BotoCoreError, ClientError

        kw = {"IfNoneMatch": etag} if etag else {}
        try:
            obj = self.client.get_object(Bucket=bucket, Key=key, **kw)
            return Fetched(200, obj["Body"].read(), obj.get("ETag"))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            code = str(err.get("Code", ""))
            if code == "304" or status == 304:
                return Fetched(304, b"", etag)
            if code == "404":
                code = "NoSuchKey"
            raise S3ReadError(code or f"HTTP{status}", status, str(err.get("Message", ""))) from None
        except BotoCoreError as exc:
            raise S3ReadError("RequestFailed", 0, str(exc)) from None
