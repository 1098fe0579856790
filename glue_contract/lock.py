"""A lock in S3 with an expiry, built only on what S3 guarantees to be atomic: a conditional
PutObject. ``If-None-Match: *`` creates the lock object only if there is none; a lock whose
expiry has passed is taken over with ``If-Match: <its ETag>`` (only one of several racing
writers wins either way: S3 answers the others 412 PreconditionFailed, or 409
ConditionalRequestConflict while a write to the key is in flight). Releasing overwrites the
holder's own version (``If-Match``) with an expired one, so nobody deletes a lock it no
longer holds.

The SDK inside the Lambda runtime may predate PutObject's ``IfNoneMatch``/``IfMatch``
parameters (botocore added them in late 2024; a runtime's bundled boto3 lags). S3 itself
reads the HTTP headers, so when the client's model lacks the parameter the same header is
added to the request before it is signed (``_put``): the lock works on either SDK."""
from __future__ import annotations

import datetime as _dt
import json
import time

from . import aws, poll, times

CONFLICT = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404")
_HEADERS = {"IfNoneMatch": "If-None-Match", "IfMatch": "If-Match"}
_EVENT = "before-sign.s3.PutObject"


def supports(s3, params) -> bool:
    """Does this client's PutObject model know the conditional parameters?"""
    members = s3.meta.service_model.operation_model("PutObject").input_shape.members
    return all(p in members for p in params)


def _put(s3, condition: dict, **kwargs) -> dict:
    """PutObject with ``IfNoneMatch``/``IfMatch``: as parameters when the SDK has them, else
    as the HTTP headers S3 reads (added just before signing, so they are signed too)."""
    if supports(s3, condition):
        return s3.put_object(**kwargs, **condition)
    headers = {_HEADERS[k]: v for k, v in condition.items()}

    def add_headers(request, **_):
        for name, value in headers.items():
            request.headers[name] = value

    s3.meta.events.register_first(_EVENT, add_headers, unique_id="mlpipe-lock-condition")
    try:
        return s3.put_object(**kwargs)
    finally:
        s3.meta.events.unregister(_EVENT, unique_id="mlpipe-lock-condition")


def _body(owner: str, expires_at: _dt.datetime) -> bytes:
    return json.dumps({"owner": owner, "expires_at": times.iso(expires_at)}).encode()


def try_acquire(s3, bucket: str, key: str, owner: str, *, ttl_s: float, now: _dt.datetime | None = None) -> str | None:
    """Take the lock once: its ETag when taken, None when someone else holds it."""
    now = now or times.utcnow()
    body = _body(owner, now + _dt.timedelta(seconds=ttl_s))
    try:
        return _put(s3, {"IfNoneMatch": "*"}, Bucket=bucket, Key=key, Body=body,
                    ContentType="application/json")["ETag"]
    except Exception as exc:  # botocore ClientError
        if aws.error_code(exc) not in CONFLICT:
            raise
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return None  # released and deleted meanwhile: the next try creates it
        raise
    try:
        expires = times.parse(json.loads(got["Body"].read()).get("expires_at"))
    except ValueError:
        expires = None  # unreadable: treat it as expired
    if expires is not None and expires > now:
        return None
    try:
        return _put(s3, {"IfMatch": got["ETag"]}, Bucket=bucket, Key=key, Body=body,
                    ContentType="application/json")["ETag"]
    except Exception as exc:
        if aws.error_code(exc) in CONFLICT:
            return None  # another writer took the expired lock first
        raise


def acquire(s3, bucket: str, key: str, owner: str, *, ttl_s: float, deadline: float, sleep=time.sleep,
            clock=time.monotonic, first_s: float = 0.05, cap_s: float = 1.0) -> str:
    """Wait (polls doubling from ``first_s`` to ``cap_s``) until the lock is ours; returns its
    ETag. TimeoutError at ``deadline`` (``clock()`` time)."""
    def timed_out():
        raise TimeoutError(f"s3://{bucket}/{key} is held by another invocation (waited until the deadline)")

    return poll.poll(lambda: try_acquire(s3, bucket, key, owner, ttl_s=ttl_s), deadline=deadline,
                     first=first_s, cap=cap_s, on_timeout=timed_out, sleep=sleep, clock=clock)


def release(s3, bucket: str, key: str, owner: str, etag: str) -> bool:
    """Give the lock back (only if it is still this holder's version). True when released."""
    try:
        _put(s3, {"IfMatch": etag}, Bucket=bucket, Key=key,
             Body=_body(owner, _dt.datetime(1970, 1, 1, tzinfo=times.UTC)), ContentType="application/json")
        return True
    except Exception as exc:
        if aws.error_code(exc) in CONFLICT:
            return False  # it expired and someone else holds it now
        raise
