"""S3's eventual consistency for deleted buckets, under `--like-aws` (`localcloud.core.profile`,
`s3_deleted_bucket_seconds`, 0 = off by default).

AWS: "bucket configurations have an eventual consistency model ... if you delete a bucket and
immediately list all buckets, the deleted bucket might still appear in the list", and a deleted
bucket's name is not free at once: CreateBucket of it answers `409 OperationAborted` ("A
conflicting conditional operation is currently in progress against this resource. Please try
again.") until the deletion has settled. For `s3_deleted_bucket_seconds` after a DeleteBucket
the bucket is still listed by ListBuckets and its name is refused that way; every other call
answers as for a deleted bucket (`NoSuchBucket`).

It also fixes two moto 500s on valid requests (see `install_valid_bodies`).

moto patch points (tests/unit/test_localcloud_s3_patches.py fails by name if moto moves them):
`moto.s3.models.S3Backend.delete_bucket` (records the deletion) and
`moto.s3.models.S3Backend.list_buckets` (adds the recently deleted ones). The refusal is a
WSGI middleware: moto's S3 error serializer has no 409 for a code S3's model does not list.

And S3's answers where moto's differ (`install_aws_answers`):

Where the local cloud's S3 answers as S3 does, not as moto does (every moto patch of S3's
answers lives here; tests/unit/test_localcloud_s3_patches.py trips when moto moves one).

* Default encryption: since 5 January 2023 S3 encrypts every new object with SSE-S3 and says
  so (`x-amz-server-side-encryption: AES256` on PUT, GET, HEAD, copy, multipart completion)
  unless the request or the bucket asks for another algorithm
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html).
  moto stores no encryption then. Hook: `S3Backend.put_object` (copies and multipart
  completions go through it).
* Checksum type: an object uploaded with a whole-object checksum has checksum type
  `FULL_OBJECT`, and PutObject answers `x-amz-checksum-type: FULL_OBJECT` beside the
  checksum (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html,
  API_PutObject "ChecksumType"). moto leaves the type empty for a single PUT and does not
  answer it. Hook: the same `put_object`; the header is added by `middleware`.
* One event per multipart upload: a completion fires `ObjectCreated:CompleteMultipartUpload`
  only (moto's completion stored the object through `put_object`, which fired an
  `ObjectCreated:Put` too: a Lambda on `ObjectCreated:*` ran twice). Hook: the same
  `put_object` (`disable_notification` when it stores a completed upload).
* Multipart uploads: CreateMultipartUpload, UploadPart and CompleteMultipartUpload answer
  the object's encryption (`x-amz-server-side-encryption: AES256` by default) as well
  (API_CreateMultipartUpload, API_UploadPart, API_CompleteMultipartUpload: "ServerSideEncryption").
* Owner display names: since November 2025 S3 answers `Owner` and `Grantee` without
  `DisplayName` (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Owner.html: "This
  functionality is not supported ... DisplayName"; AWS's announcement of the end of display
  names); `middleware` drops them from S3's XML answers (a multipart `Initiator` keeps its).
* ListObjectVersions: with `encoding-type=url` (which the SDKs send) S3 answers
  `EncodingType: url` and URL-encodes the keys; each version names its checksum algorithm
  and type (API_ListObjectVersions, API_ObjectVersion). Replaced:
  `S3Response.list_object_versions`.
* Keys with any UTF-8 character (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html:
  "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most
  1,024 bytes long"): moto's router matches the key with `.+`, which stops at a newline, so
  `a\nb` answered 404 to PutObject and GetObject. `middleware` hands moto's router a path
  whose line breaks stay percent-encoded; moto reads the key itself from the raw URI.
* Event records (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html):
  each record carries `userIdentity.principalId` (who caused the event),
  `requestParameters.sourceIPAddress`, `responseElements` (`x-amz-request-id`,
  `x-amz-id-2`), `s3.bucket.ownerIdentity.principalId`, and for object creations and
  deletions `s3.object.sequencer` (hexadecimal, growing for one key) and `versionId` in a
  versioned bucket; the key URL-encoded with `/` left as is (moto encoded it, to every
  destination); a deletion names no size or ETag; events about tags and ACLs are
  `eventVersion` 2.3 without a size (restores stay 2.1 with the size). moto's records lack them. Hook: `moto.s3.notifications._get_s3_event`;
  the request's caller and address come from `middleware` (same thread). Principal IDs are
  stable IDs derived from the caller's key and the bucket's account (AWS's are opaque IDs).
"""
from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
import uuid
from typing import Any, Callable
from xml.sax.saxutils import escape

from ..core.body import rewrite_response
from .requests import caller_key, is_s3_request

DEFAULT_SSE = "AES256"
FULL_OBJECT = "FULL_OBJECT"


def default_encryption(original: Callable) -> Callable:
    """put_object with S3's default encryption and the whole-object checksum type."""

    def put_object(self: Any, bucket_name: str, key_name: str, value: bytes,
                   *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("multipart") is not None:
            # a multipart completion: moto sends ObjectCreated:CompleteMultipartUpload after
            # this, and S3 sends only that one (moto sent an ObjectCreated:Put as well)
            kwargs["disable_notification"] = True
        if not kwargs.get("encryption"):
            bucket = self.get_bucket(bucket_name)
            if not bucket.encryption:  # a bucket default (moto applies it) wins
                kwargs["encryption"] = DEFAULT_SSE
        key = original(self, bucket_name, key_name, value, *args, **kwargs)
        if key is not None and kwargs.get("checksum_value") and not key.checksum_type \
                and not kwargs.get("multipart"):
            key.checksum_type = FULL_OBJECT
        return key

    return put_object


def list_object_versions(original: Callable) -> Callable:
    """moto's S3Response.list_object_versions, answered as S3 does (see the module doc)."""
    from urllib.parse import quote

    def list_versions(self: Any) -> Any:
        status, headers, body = original(self)
        encoding = self.querystring.get("encoding-type", [None])[0]
        if status != 200 or not isinstance(body, (str, bytes)):
            return status, headers, body
        text = body.decode() if isinstance(body, bytes) else body
        bucket = self.backend.get_bucket(self.bucket_name)
        algos = {}
        for versions in bucket.keys.lists():
            for key in versions[1]:
                algo = getattr(key, "checksum_algorithm", None)
                if algo and key.version_id is not None:
                    algos[str(key.version_id)] = (algo, key.checksum_type or FULL_OBJECT)

        def version(m: re.Match) -> str:
            block = m.group(0)
            vid = re.search(r"<VersionId>([^<]*)</VersionId>", block)
            hit = algos.get(vid.group(1)) if vid else None
            if hit and "<ChecksumAlgorithm>" not in block:
                block = block.replace("</Version>", f"<ChecksumAlgorithm>{hit[0]}"
                                      f"</ChecksumAlgorithm><ChecksumType>{hit[1]}"
                                      "</ChecksumType></Version>")
            return block

        text = re.sub(r"<Version>.*?</Version>", version, text, flags=re.S)
        if encoding == "url" and "<EncodingType>" not in text:
            def enc(m: re.Match) -> str:
                import html
                raw = html.unescape(m.group(2))
                return f"<{m.group(1)}>{html.escape(quote(raw, safe='/'))}</{m.group(1)}>"
            text = re.sub(r"<(Key|Prefix|KeyMarker|NextKeyMarker|Delimiter)>([^<]*)</\1>",
                          enc, text)
            text = re.sub(r"(<ListVersionsResult[^>]*>)", r"\1<EncodingType>url</EncodingType>",
                          text, count=1)
        return status, headers, text

    return list_versions


_DISPLAY_NAME = re.compile(rb"(<(?:Owner|Grantee)\b[^>]*>(?:(?!</(?:Owner|Grantee)>).)*?)"
                           rb"<DisplayName>[^<]*</DisplayName>", re.S)
_MULTIPART = re.compile(r"(^|&)(uploads|uploadId=)")


_request = threading.local()
# events about an object's subresources: eventVersion 2.3 and no size (AWS's recorded events)
_SUBRESOURCE_EVENTS = ("ObjectTagging", "ObjectAcl")
_sequence = itertools.count()


def _principal_id(seed: str) -> str:
    return "A" + hashlib.sha256(seed.encode()).hexdigest()[:13].upper()


def event_record_fields(original: Callable) -> Callable:
    """moto's _get_s3_event, with the fields S3 puts in every record (see the module doc)."""

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict:
        event = original(event_name, bucket, key, notification_id)
        req = getattr(_request, "current", None) or {}
        for record in event.get("Records", []):
            caller = req.get("key") or bucket.account_id
            record["userIdentity"] = {"principalId": f"AWS:{_principal_id(caller)}"}
            record["requestParameters"] = {"sourceIPAddress": req.get("ip", "127.0.0.1")}
            record["responseElements"] = {
                "x-amz-request-id": req.get("request_id") or uuid.uuid4().hex[:16].upper(),
                "x-amz-id-2": req.get("id2") or uuid.uuid4().hex}
            s3 = record.get("s3", {})
            s3.get("bucket", {})["ownerIdentity"] = {
                "principalId": _principal_id(bucket.account_id)}
            obj = s3.get("object", {})
            if "key" in obj:  # moto's quote_plus also encodes "/", which AWS leaves as is
                from urllib.parse import quote_plus, unquote_plus
                obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
            name = event_name[3:] if event_name.startswith("s3:") else event_name
            version = getattr(key, "version_id", None)
            if version and version != "null":
                obj["versionId"] = version
            if name.startswith(_SUBRESOURCE_EVENTS):  # event version 2.3, no size
                record["eventVersion"] = "2.3"
                obj.pop("size", None)
            if name.startswith("ObjectRemoved"):  # a deletion names no size or ETag
                obj.pop("size", None)
                obj.pop("eTag", None)
            if name.startswith(("ObjectCreated", "ObjectRemoved", "ObjectRestore")):
                obj["sequencer"] = f"{time.time_ns():012X}{next(_sequence) & 0xFFFF:04X}"
        return event

    return get_s3_event


def _is_object_put(environ: dict) -> bool:
    """PutObject (not UploadPart, not a bucket sub-resource PUT)."""
    if environ.get("REQUEST_METHOD") != "PUT":
        return False
    path = environ.get("PATH_INFO", "").lstrip("/")
    host = environ.get("HTTP_HOST", "")
    virtual = ".s3." in host or host.split(":")[0].endswith(".localhost")
    if not virtual and "/" not in path.rstrip("/"):
        return False  # a bucket-level PUT
    qs = environ.get("QUERY_STRING", "")
    return "uploadId=" not in qs and "partNumber=" not in qs and not any(
        part.split("=")[0] in ("tagging", "acl", "retention", "legal-hold")
        for part in qs.split("&") if part)


def _without_display_names(app: Callable, environ: dict, start_response: Callable) -> Any:
    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        if b"<DisplayName>" in body:
            body = _DISPLAY_NAME.sub(rb"\1", body)
        return status, headers, body

    return rewrite_response(app, environ, start_response, lambda _s, _h: True, rewrite)


def _with_sse(app: Callable, environ: dict, start_response: Callable) -> Any:
    def start(status: str, headers: list, exc_info: Any = None) -> Callable:
        if status.startswith("200") and not any(
                k.lower() == "x-amz-server-side-encryption" for k, _ in headers):
            headers = headers + [("x-amz-server-side-encryption", DEFAULT_SSE)]
        return start_response(status, headers, exc_info)

    return app(environ, start)


_CHECKSUM_ELEM = re.compile(rb"<Checksum(CRC32|CRC32C|CRC64NVME|SHA1|SHA256)>")


def _copied(app: Callable, environ: dict, start_response: Callable) -> Any:
    """CopyObject: the copy's checksum is a whole-object one (`ChecksumType` FULL_OBJECT in
    `CopyObjectResult`, API_CopyObjectResult)."""
    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        if _CHECKSUM_ELEM.search(body) and b"<ChecksumType>" not in body:
            body = body.replace(b"</CopyObjectResult>",
                                b"<ChecksumType>FULL_OBJECT</ChecksumType></CopyObjectResult>", 1)
        return status, headers, body

    return rewrite_response(app, environ, start_response,
                            lambda s, _h: s.startswith("200"), rewrite)


def _completed(app: Callable, environ: dict, start_response: Callable) -> Any:
    """CompleteMultipartUpload as S3 answers it (API_CompleteMultipartUpload): the object's
    encryption, its checksum and checksum type (an upload that named no algorithm gets S3's
    default full-object CRC64NVME), and a version id only in a versioned bucket (moto answers
    `null`)."""
    from .conditional import bucket_and_key, _backend, _current

    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        headers = [(k, v) for k, v in headers
                   if not (k.lower() == "x-amz-version-id" and v == "null")]
        if not any(k.lower() == "x-amz-server-side-encryption" for k, _ in headers):
            headers.append(("x-amz-server-side-encryption", DEFAULT_SSE))
        bucket, key = bucket_and_key(environ)
        backend = _backend(bucket)
        obj = _current(backend, bucket, key) if backend is not None else None
        value = getattr(obj, "checksum_value", None)
        ctype = getattr(obj, "checksum_type", None)
        algo = getattr(obj, "checksum_algorithm", None) or (
            "CRC64NVME" if ctype == FULL_OBJECT else None)
        if value and algo and ctype and not _CHECKSUM_ELEM.search(body):
            body = body.replace(b"</CompleteMultipartUploadResult>",
                                f"<Checksum{algo}>{escape(value)}</Checksum{algo}>"
                                f"<ChecksumType>{ctype}</ChecksumType>"
                                "</CompleteMultipartUploadResult>".encode(), 1)
        return status, headers, body

    return rewrite_response(app, environ, start_response,
                            lambda s, _h: s.startswith("200"), rewrite)


_ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _range(environ: dict) -> Callable | None:
    """GetObject's `Range` as S3 reads it (AWS's recorded answers, RFC 9110 14.2): a header that
    is not one valid byte range (`1-0`, `-1-`, `0-1,3-4`, `-`) is ignored (the whole object,
    200); a range that starts past the end, or `bytes=-0`, is `416 InvalidRange` naming the
    object's size. Returns the 416 answer, or None (the header removed when ignored)."""
    from .conditional import _backend, bucket_and_key

    value = environ["HTTP_RANGE"].strip()
    m = _ONE_RANGE.fullmatch(value)
    first, last = (m.group(1), m.group(2)) if m else ("", "")
    if not m or (not first and not last) or (first and last and int(first) > int(last)):
        del environ["HTTP_RANGE"]
        return None
    bucket, key = bucket_and_key(environ)
    backend = _backend(bucket)
    if backend is None:
        return None
    version = re.search(r"(?:^|&)versionId=([^&]*)", environ.get("QUERY_STRING", ""))
    try:
        obj = backend.get_object(bucket, key, version_id=version.group(1) if version else None)
    except Exception:  # noqa: BLE001 - moto answers the missing bucket/version itself
        return None
    if obj is None:
        return None
    size = obj.size
    if (first and int(first) >= size) or (not first and int(last) == 0):
        def answer(start_response: Callable) -> list[bytes]:
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRange</Code>'
                    "<Message>The requested range is not satisfiable</Message>"
                    f"<RangeRequested>{escape(value)}</RangeRequested>"
                    f"<ActualObjectSize>{size}</ActualObjectSize>"
                    f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()
            start_response("416 Requested Range Not Satisfiable",
                           [("Content-Type", "application/xml"),
                            ("Content-Length", str(len(body)))])
            return [body]
        return answer
    return None


ALREADY_OWNED = "Your previous request to create the named bucket succeeded and you already own it."


def _create_bucket(app: Callable, environ: dict, start_response: Callable, name: str) -> Any:
    """CreateBucket as S3 answers it (API_CreateBucket): the new bucket's ARN
    (`x-amz-bucket-arn`), the tags of `CreateBucketConfiguration/Tags` set on it, and (in
    us-east-1, where creating a bucket you own again succeeds) `409 BucketAlreadyOwnedByYou`
    when that again names tags (AWS's recorded answers)."""
    from defusedxml import ElementTree as SafeET

    from ..core.body import read_body
    from ..core.moto_request import account_of
    from .conditional import _backend

    tags: dict[str, str] = {}
    body = read_body(environ)
    if b"Tags" in body:
        try:
            root = SafeET.fromstring(body, forbid_dtd=True)
            for el in root.iter():
                if el.tag.rsplit("}", 1)[-1] == "Tag":
                    fields = {c.tag.rsplit("}", 1)[-1]: c.text or "" for c in el}
                    tags[fields.get("Key", "")] = fields.get("Value", "")
        except Exception:  # noqa: BLE001 - the validation layer already refused a bad body
            tags = {}
    backend = _backend(name)
    existed = backend is not None and name in backend.buckets
    if existed and tags and backend.account_id == account_of(environ):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BucketAlreadyOwnedByYou'
                f"</Code><Message>{ALREADY_OWNED}</Message><BucketName>{escape(name)}"
                f"</BucketName><RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
                ).encode()
        start_response("409 Conflict", [("Content-Type", "application/xml"),
                                        ("Content-Length", str(len(body)))])
        return [body]

    def start(status: str, headers: list, exc_info: Any = None) -> Callable:
        if status.startswith("200"):
            if not any(k.lower() == "x-amz-bucket-arn" for k, _ in headers):
                headers = headers + [("x-amz-bucket-arn", f"arn:aws:s3:::{name}")]
            if tags and not existed:
                created = _backend(name)
                if created is not None:
                    created.put_bucket_tagging(name, tags)
        return start_response(status, headers, exc_info)

    return app(environ, start)


def _lists_owners(environ: dict) -> bool:
    """A GET whose answer may name owners or grantees (listings, ACLs, multipart lists)."""
    if environ.get("REQUEST_METHOD") != "GET":
        return False
    qs = environ.get("QUERY_STRING", "")
    return "acl" in qs or "versions" in qs or "uploads" in qs or "uploadId" in qs or \
        "list-type" in qs or "partNumber" not in qs and _bucket_level(environ)


def _bucket_level(environ: dict) -> bool:
    path = environ.get("PATH_INFO", "").strip("/")
    host = environ.get("HTTP_HOST", "")
    virtual = ".s3." in host or host.split(":")[0].endswith(".localhost")
    return (not path) if virtual else "/" not in path


def middleware(app: Callable, _cloud: Any = None) -> Callable:
    """S3's answers as S3 gives them (see the module doc)."""

    def s3_answers(environ: dict, start_response: Callable) -> Any:
        if not is_s3_request(environ):
            return app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if "\n" in path or "\r" in path:  # for moto's router; the key comes from RAW_URI
            environ["PATH_INFO"] = path.replace("\n", "%0A").replace("\r", "%0D")
        _request.current = {"key": caller_key(environ),
                            "ip": environ.get("REMOTE_ADDR", "127.0.0.1"),
                            "request_id": uuid.uuid4().hex[:16].upper(),
                            "id2": uuid.uuid4().hex}
        try:
            return _answer(app, environ, start_response)
        finally:
            _request.current = None

    def _answer(app: Callable, environ: dict, start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") == "GET" and \
                environ.get("QUERY_STRING", "").split("&")[0] in ("notification", "notification="):
            return _capitalized_filter_names(app, environ, start_response)
        if _lists_owners(environ):
            return _without_display_names(app, environ, start_response)
        method = environ.get("REQUEST_METHOD")
        qs = environ.get("QUERY_STRING", "")
        if method == "GET" and environ.get("HTTP_RANGE") is not None and \
                not _bucket_level(environ):
            unsatisfiable = _range(environ)
            if unsatisfiable is not None:
                return unsatisfiable(start_response)
        created = _create_bucket_name(environ)
        if created is not None:
            return _create_bucket(app, environ, start_response, created)
        if method == "POST" and "uploadId=" in qs and not _bucket_level(environ):
            return _completed(app, environ, start_response)
        if method in ("POST", "PUT") and _MULTIPART.search(qs) and not _bucket_level(environ):
            return _with_sse(app, environ, start_response)
        if method == "PUT" and environ.get("HTTP_X_AMZ_COPY_SOURCE") and _is_object_put(environ):
            return _copied(app, environ, start_response)
        if not _is_object_put(environ):
            return app(environ, start_response)

        def start(status: str, headers: list, exc_info: Any = None) -> Callable:
            names = {k.lower() for k, _ in headers}
            if status.startswith("200") and "x-amz-checksum-type" not in names and any(
                    n.startswith("x-amz-checksum-") for n in names):
                headers = headers + [("x-amz-checksum-type", FULL_OBJECT)]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return s3_answers


def install_aws_answers(cloud: Any) -> None:
    from moto.s3.models import S3Backend

    from moto.s3.responses import S3Response

    cloud.hook(S3Backend, "put_object", default_encryption)
    cloud.hook(S3Response, "list_object_versions", list_object_versions)
    from moto.s3 import notifications

    cloud.hook(notifications, "_get_s3_event", event_record_fields)
    cloud.add_middleware(middleware)


PATCH_POINTS = (("moto.s3.models", "S3Backend", "delete_bucket"),
                ("moto.s3.models", "S3Backend", "list_buckets"),
                ("moto.s3.responses", "S3Response", "_notification_config_from_body"),
                ("moto.s3.responses", "S3Response", "_logging_from_body"),
                ("moto.s3.responses", "S3Response", "_tagging_from_xml"),
                ("moto.s3.responses", "S3Response", "_bucket_tagging_from_body"),
                ("moto.s3.responses", "S3Response", "put_object_tagging"),
                ("moto.s3.responses", "S3Response", "get_object_tagging"),
                ("moto.s3.responses", "S3Response", "delete_object_tagging"))

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


# Filter rule names in any case (AWS stores Prefix/Suffix), empty values allowed (AWS's
# recorded answers); moto asserts lower-case names and a non-empty value.
_FILTER_NAME = re.compile(r"(<FilterRule>\s*<Name>)([^<]*)(</Name>)", re.I)
_EMPTY_VALUE = re.compile(r"<Value>\s*</Value>|<Value\s*/>")
_EMPTY = "\u2400localcloud-empty"


def _as_text(body: Any) -> str:
    return body.decode("utf-8") if isinstance(body, bytes) else body


def _restore_empty_values(parsed: Any) -> None:
    if isinstance(parsed, dict):
        for k, v in parsed.items():
            if v == _EMPTY:
                parsed[k] = ""
            else:
                _restore_empty_values(v)
    elif isinstance(parsed, list):
        for v in parsed:
            _restore_empty_values(v)


_RULE_NAME_OUT = re.compile(rb"(<FilterRule>\s*<Name>)(prefix|suffix)(</Name>)")


def _capitalized_filter_names(app: Callable, environ: dict, start_response: Callable) -> Any:
    """GetBucketNotificationConfiguration names filter rules `Prefix` / `Suffix`."""
    def rewrite(status: str, headers: list, body: bytes) -> tuple[str, list, bytes]:
        return status, headers, _RULE_NAME_OUT.sub(
            lambda m: m.group(1) + m.group(2).capitalize() + m.group(3), body)

    return rewrite_response(app, environ, start_response,
                            lambda s, _h: s.startswith("200"), rewrite)


def _empty_root(body: Any, root: str) -> bool:
    import xmltodict
    return xmltodict.parse(body).get(root) is None


def install_valid_bodies(cloud: Any) -> None:
    """moto answers valid requests with a 500 (tripwires: PATCH_POINTS):

    - `S3Response._notification_config_from_body`: an empty `<NotificationConfiguration/>`
      is how a client removes every notification (PutBucketNotificationConfiguration API
      reference); moto calls `len()` on the `None` xmltodict gives for it. Filter rule names
      in any case and empty values are valid (AWS answers `Prefix`/`Suffix`); moto asserted
      lower case and a value (500).
    - `S3Response._logging_from_body`: an empty `<BucketLoggingStatus/>` turns logging off
      (PutBucketLogging: "To disable logging, use an empty BucketLoggingStatus request
      element"); moto calls `.get` on `None`.
    - `S3Response._tagging_from_xml` / `_bucket_tagging_from_body`: a `Tagging` with an empty
      or no `TagSet` removes every tag (AWS answers 200/204); moto indexed `None` (500) or
      stored an empty `Value` as None (then answered no `Value`).
    - `S3Response.put_object_tagging`: answers the tagged version's `x-amz-version-id` in a
      versioned bucket (API_PutObjectTagging "VersionId"), which moto left out.
    - `S3Response.get_object_tagging` / `delete_object_tagging`: see `_tagged_key`.
    """
    from moto.s3.responses import S3Response

    def notification(original):
        def _notification_config_from_body(self):
            if _empty_root(self.body, "NotificationConfiguration"):
                return {}
            body = self.body
            self.body = _FILTER_NAME.sub(lambda m: m.group(1) + m.group(2).lower() + m.group(3),
                                         _as_text(body))
            self.body = _EMPTY_VALUE.sub(f"<Value>{_EMPTY}</Value>", self.body)
            try:
                parsed = original(self)
            finally:
                self.body = body
            _restore_empty_values(parsed)
            return parsed
        return _notification_config_from_body

    def logging_status(original):
        def _logging_from_body(self):
            if _empty_root(self.body, "BucketLoggingStatus"):
                return {}
            return original(self)
        return _logging_from_body

    cloud.hook(S3Response, "_notification_config_from_body", notification)
    cloud.hook(S3Response, "_logging_from_body", logging_status)

    def object_tags(original):
        def _tagging_from_xml(self):
            return tags_from_body(self.body)
        return _tagging_from_xml

    def bucket_tags(original):
        def _bucket_tagging_from_body(self):
            return tags_from_body(self.body)
        return _bucket_tagging_from_body

    def tagging_version(original):
        def put_object_tagging(self):
            status, headers, body = original(self)
            key = self.backend.get_object(self.bucket_name, self.parse_key_name(),
                                          version_id=self._get_param("versionId"))
            version = getattr(key, "version_id", None)
            if version and version != "null":
                headers = dict(headers, **{"x-amz-version-id": str(version)})
            return status, headers, body
        return put_object_tagging

    def tagging_target(method):
        def hook(original):
            def tagging(self):
                _tagged_key(self, method)
                return original(self)
            return tagging
        return hook

    cloud.hook(S3Response, "get_object_tagging", tagging_target("GET"))
    cloud.hook(S3Response, "delete_object_tagging", tagging_target("DELETE"))
    cloud.hook(S3Response, "_tagging_from_xml", object_tags)
    cloud.hook(S3Response, "_bucket_tagging_from_body", bucket_tags)
    cloud.hook(S3Response, "put_object_tagging", tagging_version)


def _tagged_key(response: Any, method: str) -> None:
    """GetObjectTagging / DeleteObjectTagging of a key or version that is not there (S3's
    recorded answers): a delete marker is `405 MethodNotAllowed` (`ResourceType`
    DeleteMarker), a missing version `NoSuchVersion`, a missing key `NoSuchKey` (GET names it
    `bucket/key`). moto answered 500 (DELETE) or NoSuchKey for a delete marker."""
    from moto.s3.exceptions import MethodNotAllowed, MissingKey, MissingVersion
    from moto.s3.models import FakeDeleteMarker

    key_name = response.parse_key_name()
    version_id = response._get_param("versionId")
    response.backend.get_bucket(response.bucket_name)  # NoSuchBucket first
    found = response.backend.get_object(response.bucket_name, key_name, version_id=version_id,
                                        return_delete_marker=True)
    if isinstance(found, FakeDeleteMarker):
        raise MethodNotAllowed(method=method, resource_type="DeleteMarker")
    if found is None and version_id:
        raise MissingVersion(key=key_name, version_id=version_id)
    if found is None:
        raise MissingKey(key=f"{response.bucket_name}/{key_name}" if method == "GET" else key_name)


def tags_from_body(body: Any) -> dict[str, str]:
    """The tags of a `Tagging` document (the validation layer checked their grammar): no
    `TagSet` or an empty one is no tags, an empty `Value` is "" (moto raised on the first two
    and stored None for the last)."""
    import xmltodict

    doc = xmltodict.parse(body, force_list={"Tag": True}) or {}
    tagset = (doc.get("Tagging") or {}).get("TagSet") or {}
    return {tag.get("Key") or "": tag.get("Value") or "" for tag in tagset.get("Tag") or []}


def install(cloud: Any) -> Callable[[], None] | None:
    from moto.s3.models import S3Backend

    install_valid_bodies(cloud)
    install_aws_answers(cloud)
    from . import bucket_rules, conditional, metrics

    conditional.install(cloud)
    metrics.install(cloud)
    bucket_rules.install(cloud)
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
