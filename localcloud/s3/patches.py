"""S3's eventual consistency for deleted buckets, under `--like-aws` (`localcloud.core.profile`,
`s3_deleted_bucket_seconds`, 0 = off by default).

AWS: "bucket configurations have an eventual consistency model ... if you delete a bucket and
immediately list all buckets, the deleted bucket might still appear in the list", and a deleted
bucket's name is not free at once: CreateBucket of it answers `409 OperationAborted` ("A
conflicting conditional operation is currently in progress against this resource. Please try
again.") until the deletion has settled. For `s3_deleted_bucket_seconds` after a DeleteBucket
the bucket is still listed by ListBuckets and its name is refused that way; every other call
answers as for a deleted bucket (`NoSuchBucket`).

moto patch points (tests/unit/test_localcloud_s3_patches.py fails by name if moto moves them):
`moto.s3.models.S3Backend.delete_bucket` (records the deletion) and
`moto.s3.models.S3Backend.list_buckets` (adds the recently deleted ones). The refusal is a
WSGI middleware: moto's S3 error serializer has no 409 for a code S3's model does not list.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable
from xml.sax.saxutils import escape

PATCH_POINTS = (("moto.s3.models", "S3Backend", "delete_bucket"),
                ("moto.s3.models", "S3Backend", "list_buckets"))

OPERATION_ABORTED = ("A conflicting conditional operation is currently in progress against "
                     "this resource. Please try again.")


class DeletedBuckets:
    """Buckets deleted less than `seconds` ago: name -> (account, bucket object, when)."""

    def __init__(self, seconds: Callable[[], float]):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._gone: dict[str, tuple[str, Any, float]] = {}

    def add(self, account: str, bucket: Any) -> None:
        if self.seconds() > 0:
            with self._lock:
                self._gone[bucket.name] = (account, bucket, time.monotonic())

    def _live(self) -> dict[str, tuple[str, Any, float]]:
        horizon = time.monotonic() - self.seconds()
        with self._lock:
            for name in [n for n, (_a, _b, t) in self._gone.items() if t < horizon]:
                del self._gone[name]
            return dict(self._gone)

    def recently_deleted(self, name: str) -> bool:
        return name in self._live()

    def listed(self, account: str, prefix: str | None) -> list[Any]:
        return [b for name, (a, b, _t) in sorted(self._live().items())
                if a == account and (not prefix or name.startswith(prefix))]

    def forget(self, name: str) -> None:
        with self._lock:
            self._gone.pop(name, None)


def _create_bucket_name(environ: dict) -> str | None:
    """The bucket a path-style S3 CreateBucket names (PUT /<bucket> with no subresource)."""
    if environ.get("REQUEST_METHOD") != "PUT" or environ.get("QUERY_STRING"):
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth and "/s3/aws4_request" not in auth:
        return None
    path = environ.get("PATH_INFO", "").strip("/")
    if not path or "/" in path:
        return None
    return path


def _aborted(start_response: Callable, bucket: str) -> list[bytes]:
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>OperationAborted</Code>'
            f"<Message>{OPERATION_ABORTED}</Message><BucketName>{escape(bucket)}</BucketName>"
            "<RequestId>localcloud</RequestId></Error>").encode()
    start_response("409 Conflict", [("Content-Type", "application/xml"),
                                    ("Content-Length", str(len(body)))])
    return [body]


def install(cloud: Any) -> Callable[[], None] | None:
    from moto.s3.models import S3Backend

    deleted = DeletedBuckets(lambda: cloud.profile.s3_deleted_bucket_seconds)

    def delete_bucket(original: Callable) -> Callable:
        def hooked(self: Any, bucket_name: str) -> Any:
            bucket = original(self, bucket_name)
            if bucket is not None:
                deleted.add(self.account_id, bucket)
            return bucket
        return hooked

    def list_buckets(original: Callable) -> Callable:
        def hooked(self: Any, prefix: str | None = None, bucket_region: str | None = None,
                   max_buckets: str | None = None) -> Any:
            live = original(self, prefix, bucket_region, max_buckets)
            if cloud.profile.s3_deleted_bucket_seconds <= 0:
                return live
            names = {b.name for b in live}
            gone = [b for b in deleted.listed(self.account_id, prefix)
                    if b.name not in names and (not bucket_region or
                                                 b.region_name == bucket_region)]
            out = list(live) + gone
            return out[: int(max_buckets)] if max_buckets else out
        return hooked

    cloud.hook(S3Backend, "delete_bucket", delete_bucket)
    cloud.hook(S3Backend, "list_buckets", list_buckets)

    def middleware(app: Callable, _cloud: Any) -> Callable:
        def refuse_recent_names(environ: dict, start_response: Callable) -> Any:
            name = _create_bucket_name(environ)
            if name is not None and cloud.profile.s3_deleted_bucket_seconds > 0 and \
                    deleted.recently_deleted(name):
                return _aborted(start_response, name)
            return app(environ, start_response)
        return refuse_recent_names

    cloud.add_middleware(middleware)
    return None
