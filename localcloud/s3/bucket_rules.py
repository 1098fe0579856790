"""Bucket states S3 enforces and answers that moto words differently (AWS's recorded answers,
API reference of each operation):

- Object Lock: a bucket with an Object Lock configuration keeps its versioning
  (`PutBucketVersioning` Suspended: `409 InvalidBucketState`); `x-amz-bypass-governance-retention`
  on a delete in a bucket without Object Lock is `400 InvalidArgument`;
  `InvalidBucketState` is a 409 (moto: 400); `ObjectLockConfigurationNotFoundError` names the
  bucket; a default retention names only the `Days` or `Years` it was given (moto adds `0`).
- `PutBucketPolicy` answers `204 No Content` (moto: 200).

A WSGI middleware (no moto attribute is patched); the bucket's state is read from moto's
backend (`S3Backend.buckets`, `FakeBucket.object_lock_enabled`: tripwires in
tests/unit/test_localcloud_s3_conditional_patches.py).
"""
from __future__ import annotations

import re
from typing import Any, Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from ..core.body import read_body, rewrite_response
from .requests import is_s3_request

LOCKED_VERSIONING = ("An Object Lock configuration is present on this bucket, so the versioning "
                     "state cannot be changed.")
BYPASS = "x-amz-bypass-governance-retention"
BYPASS_MESSAGE = f"{BYPASS} is only applicable to Object Lock enabled buckets."


def _bucket(environ: dict) -> tuple[str, Any]:
    from .conditional import _backend, bucket_and_key

    name, _key = bucket_and_key(environ)
    backend = _backend(name)
    return name, (backend.buckets.get(name) if backend is not None else None)


def refusal(environ: dict) -> Any:
    from ..validation.rules import Refusal

    method = environ.get("REQUEST_METHOD")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if method == "PUT" and "versioning" in query:
        _name, bucket = _bucket(environ)
        if bucket is not None and bucket.object_lock_enabled and \
                b"<Status>Enabled</Status>" not in read_body(environ):
            return Refusal("InvalidBucketState", LOCKED_VERSIONING, status=409)
    deleting = method == "DELETE" or (method == "POST" and "delete" in query)
    if deleting and environ.get("HTTP_X_AMZ_BYPASS_GOVERNANCE_RETENTION") is not None:
        _name, bucket = _bucket(environ)
        if bucket is not None and not bucket.object_lock_enabled:
            return Refusal("InvalidArgument", BYPASS_MESSAGE, extra={"ArgumentName": BYPASS})
    return None


_ZERO_PERIOD = re.compile(rb"<(Days|Years)>0</\1>")


def _rewrite(environ: dict) -> Callable[[str, list, bytes], tuple[str, list, bytes]]:
    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        if b"<Code>InvalidBucketState</Code>" in body and status.startswith("400"):
            status = "409 Conflict"
        elif b"<Code>ObjectLockConfigurationNotFoundError</Code>" in body and \
                b"<BucketName>" not in body:
            name, _bucket_obj = _bucket(environ)
            body = body.replace(b"</Message>", b"</Message><BucketName>"
                                + escape(name).encode() + b"</BucketName>", 1)
        elif status.startswith("200") and b"<ObjectLockConfiguration" in body:
            body = _ZERO_PERIOD.sub(b"", body)
        elif status.startswith("200") and environ.get("REQUEST_METHOD") == "PUT" and \
                "policy" in environ.get("QUERY_STRING", ""):
            status, body = "204 No Content", b""
        return status, headers, body
    return rewrite


def middleware(app: Callable, _cloud: Any) -> Callable:
    from ..validation import error_response

    def bucket_rules(environ: dict, start_response: Callable) -> Any:
        if not is_s3_request(environ):
            return app(environ, start_response)
        found = refusal(environ)
        if found is not None:
            status, headers, body = error_response("s3", "rest-xml", found)
            start_response(status, headers + [("Content-Length", str(len(body)))])
            return [body]
        qs = environ.get("QUERY_STRING", "")
        if "object-lock" not in qs and "policy" not in qs:
            return app(environ, start_response)
        return rewrite_response(app, environ, start_response,
                                lambda s, _h: True, _rewrite(environ))

    return bucket_rules


def install(cloud: Any) -> None:
    cloud.add_middleware(middleware)
