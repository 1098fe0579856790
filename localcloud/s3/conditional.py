"""S3 conditional writes, evaluated as S3 evaluates them
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html,
API_PutObject / API_CopyObject / API_CompleteMultipartUpload "IfMatch", "IfNoneMatch").

PutObject, CopyObject (the destination) and CompleteMultipartUpload with `If-None-Match: *`
or `If-Match: <ETag>` are checked against the key's current version (a delete marker counts
as no object), one conditional write at a time (of racing writers exactly one wins):

- `If-None-Match: *` and an object exists: `412 PreconditionFailed`, `Condition` If-None-Match;
- `If-Match` and no object: `404 NoSuchKey` naming the `Key`; another ETag:
  `412 PreconditionFailed`, `Condition` If-Match (quotes around the ETag optional);
- a CompleteMultipartUpload whose condition holds, but whose key was written or deleted after
  the upload was created: `409 ConditionalRequestConflict` ("you need to restart the whole
  multipart", as AWS's recorded answers show).

The headers' grammar (one of the two, `*` only for If-None-Match) is checked before, by the
validation layer (`localcloud.validation.rules.conditional_write`).

moto patch points (tripwires in tests/unit/test_localcloud_s3_conditional_patches.py):
`S3Backend.put_object` and `S3Backend.delete_object` (a key's last write),
`S3Backend.create_multipart_upload` (when an upload began).
"""
from __future__ import annotations

import itertools
import re
import threading
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

from .requests import is_s3_request

PATCH_POINTS = (("moto.s3.models", "S3Backend", "put_object"),
                ("moto.s3.models", "S3Backend", "delete_object"),
                ("moto.s3.models", "S3Backend", "create_multipart_upload"))

PRECONDITION = "At least one of the pre-conditions you specified did not hold"
CONFLICT = ("The conditional request cannot succeed due to a conflicting operation against "
            "this resource.")


class Writes:
    """When each key was last written or deleted, and each multipart upload began, on one
    growing sequence."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], int] = {}
        self._uploads: dict[str, int] = {}
        self.conditional = threading.Lock()  # one conditional write at a time

    def wrote(self, bucket: str, key: str) -> None:
        with self._lock:
            self._keys[(bucket, key)] = next(self._seq)

    def began(self, upload_id: str) -> None:
        with self._lock:
            self._uploads[upload_id] = next(self._seq)

    def written_since(self, bucket: str, key: str, upload_id: str) -> bool:
        with self._lock:
            start = self._uploads.get(upload_id)
            last = self._keys.get((bucket, key))
        return start is not None and last is not None and last > start


def bucket_and_key(environ: dict) -> tuple[str, str]:
    """(bucket, key) an S3 request names, path-style or virtual-hosted."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith(("http://", "https://")):
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    path = unquote(raw.split("?", 1)[0]) if raw else \
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    host = environ.get("HTTP_HOST", "").split(":")[0]
    for marker in (".s3.", ".s3-"):
        if marker in host:
            return host.split(marker)[0], path.lstrip("/")
    if host.endswith(".localhost") and host != "localhost":
        return host[: -len(".localhost")], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _operation(environ: dict) -> str | None:
    method = environ.get("REQUEST_METHOD")
    params = _query_names(environ)
    if method == "PUT" and not params - {"x-id"}:
        return "CopyObject" if environ.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    if method == "POST" and "uploadId" in params:
        return "CompleteMultipartUpload"
    return None


def _current(backend: Any, bucket: str, key: str) -> Any:
    """The key's current version (None when absent or a delete marker)."""
    from moto.s3.models import FakeKey

    b = backend.buckets.get(bucket)
    if b is None or key not in b.keys:
        return None
    obj = b.keys[key]
    return obj if isinstance(obj, FakeKey) else None


def _backend(bucket: str) -> Any:
    from moto.s3.models import s3_backends

    where = s3_backends.bucket_accounts.get(bucket)
    if where is None:
        return None
    partition, account = where
    return s3_backends[account].get(partition)


def refusal(environ: dict, writes: Writes) -> Any:
    """The Refusal S3 answers this conditional write with, or None to let it through."""
    from ..validation.rules import Refusal

    if_none = environ.get("HTTP_IF_NONE_MATCH")
    if_match = environ.get("HTTP_IF_MATCH")
    bucket, key = bucket_and_key(environ)
    backend = _backend(bucket)
    if backend is None or not key or bucket not in backend.buckets:
        return None  # moto answers NoSuchBucket
    op = _operation(environ)
    if op == "CompleteMultipartUpload":
        upload_id = _query(environ, "uploadId")
        if upload_id not in backend.buckets[bucket].multiparts:
            return None  # moto answers NoSuchUpload (or the completed upload's idempotent 200)
    current = _current(backend, bucket, key)
    if if_none is not None and current is not None:
        return Refusal("PreconditionFailed", PRECONDITION, status=412,
                       extra={"Condition": "If-None-Match"})
    if if_match is not None:
        if current is None:
            return Refusal("NoSuchKey", "The specified key does not exist.", status=404,
                           extra={"Key": key})
        wanted = {e.strip().strip('"') for e in if_match.split(",")}
        if current.etag.strip('"') not in wanted:
            return Refusal("PreconditionFailed", PRECONDITION, status=412,
                           extra={"Condition": "If-Match"})
    if op == "CompleteMultipartUpload" and writes.written_since(
            bucket, key, _query(environ, "uploadId")):
        return Refusal("ConditionalRequestConflict", CONFLICT, status=409,
                       extra={"Condition": "If-Match" if if_match is not None
                              else "If-None-Match", "Key": key})
    return None


_RANGE = re.compile(r"bytes=(\d+)-(\d+)")
RANGE_FORM = ("The x-amz-copy-source-range value must be of the form bytes=first-last where "
              "first and last are the zero-based offsets of the first and last bytes to copy")


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def copy_source_refusal(environ: dict) -> Any:
    """CopyObject / UploadPartCopy: the source's `x-amz-copy-source-if-*` conditions
    in S3's order: if-match, if-unmodified-since, if-none-match, if-modified-since
    (API_CopyObject: if-match true and if-unmodified-since false copies; if-none-match false
    fails whatever if-modified-since says; AWS's recorded answers give the order) and UploadPartCopy's `x-amz-copy-source-range`
    (API_UploadPartCopy: `bytes=first-last`, within the source)."""
    from ..validation.rules import Refusal

    source = unquote(environ.get("HTTP_X_AMZ_COPY_SOURCE", "")).lstrip("/")
    path, _, query = source.partition("?")
    bucket, _, key = path.partition("/")
    backend = _backend(bucket)
    if backend is None or bucket not in backend.buckets or not key:
        return None  # moto answers NoSuchBucket / NoSuchKey
    version = parse_qs(query).get("versionId", [None])[0]
    if version:
        obj = next((v for v in backend.buckets[bucket].keys.getlist(key, default=[])
                    if str(v.version_id) == version), None)
    else:
        obj = _current(backend, bucket, key)
    from moto.s3.models import FakeKey

    if not isinstance(obj, FakeKey):
        return None
    etag = obj.etag.strip('"')
    modified = obj.last_modified.replace(microsecond=0)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=timezone.utc)
    h = {n: environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_" + n.upper().replace("-", "_"))
         for n in ("Match", "None-Match", "Unmodified-Since", "Modified-Since")}
    failed = None
    if h["Match"] is not None and etag not in {e.strip().strip('"') for e in h["Match"].split(",")}:
        failed = "Match"
    elif h["Unmodified-Since"] is not None and h["Match"] is None and \
            (when := _http_date(h["Unmodified-Since"])) is not None and modified > when:
        failed = "Unmodified-Since"
    elif h["None-Match"] is not None and etag in {e.strip().strip('"')
                                                  for e in h["None-Match"].split(",")}:
        failed = "None-Match"
    elif h["Modified-Since"] is not None and h["None-Match"] is None and \
            (when := _http_date(h["Modified-Since"])) is not None and modified <= when \
            and when <= datetime.now(timezone.utc):  # a date in the future is ignored (RFC 9110)
        failed = "Modified-Since"
    if failed:
        return Refusal("PreconditionFailed", PRECONDITION, status=412,
                       extra={"Condition": f"x-amz-copy-source-If-{failed}"})
    wanted = environ.get("HTTP_X_AMZ_COPY_SOURCE_RANGE")
    if wanted is None or "uploadId" not in _query_names(environ):
        return None
    arg = {"ArgumentName": "x-amz-copy-source-range", "ArgumentValue": wanted}
    m = _RANGE.fullmatch(wanted.strip())
    if not m or int(m.group(1)) > int(m.group(2)):
        return Refusal("InvalidArgument", RANGE_FORM, extra=arg)
    size = obj.size
    if int(m.group(1)) >= size:
        return Refusal("InvalidRequest",
                       "The specified copy range is invalid for the source object size")
    if int(m.group(2)) >= size:
        return Refusal("InvalidArgument",
                       f"Range specified is not valid for source object of size: {size}", extra=arg)
    return None


def _query_names(environ: dict) -> set:
    return {p.split("=")[0] for p in environ.get("QUERY_STRING", "").split("&") if p}


def _query(environ: dict, name: str) -> str:
    return (parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get(name)
            or [""])[0]


def middleware_factory(writes: Writes) -> Callable[[Callable, Any], Callable]:
    def factory(app: Callable, _cloud: Any) -> Callable:
        from ..validation import error_response

        def send(start_response: Callable, found: Any) -> list[bytes]:
            status, headers, body = error_response("s3", "rest-xml", found)
            start_response(status, headers + [("Content-Length", str(len(body)))])
            return [body]

        def conditional_writes(environ: dict, start_response: Callable) -> Any:
            if environ.get("HTTP_X_AMZ_COPY_SOURCE") and environ.get("REQUEST_METHOD") == "PUT" \
                    and is_s3_request(environ):
                found = copy_source_refusal(environ)
                if found is not None:
                    return send(start_response, found)
            if (environ.get("HTTP_IF_NONE_MATCH") is None and
                    environ.get("HTTP_IF_MATCH") is None) or _operation(environ) is None:
                return app(environ, start_response)
            if not is_s3_request(environ):
                return app(environ, start_response)
            with writes.conditional:
                found = refusal(environ, writes)
                if found is not None:
                    return send(start_response, found)
                result = app(environ, start_response)
                # the write happens inside app(); materialise the body before the next one
                return list(result) if not isinstance(result, list) else result

        return conditional_writes
    return factory


def install(cloud: Any) -> Writes:
    from moto.s3.models import S3Backend

    writes = Writes()

    def put_object(original: Callable) -> Callable:
        def hooked(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
            key = original(self, bucket_name, key_name, *args, **kwargs)
            writes.wrote(bucket_name, key_name)
            return key
        return hooked

    def delete_object(original: Callable) -> Callable:
        def hooked(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
            out = original(self, bucket_name, key_name, *args, **kwargs)
            writes.wrote(bucket_name, key_name)
            return out
        return hooked

    def create_multipart_upload(original: Callable) -> Callable:
        def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
            multipart = original(self, *args, **kwargs)
            writes.began(multipart.id)
            return multipart
        return hooked

    cloud.hook(S3Backend, "put_object", put_object)
    cloud.hook(S3Backend, "delete_object", delete_object)
    cloud.hook(S3Backend, "create_multipart_upload", create_multipart_upload)
    cloud.add_middleware(middleware_factory(writes))
    return writes
