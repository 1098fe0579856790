"""Which requests are S3's, and which access key signed one.

Used by every S3 middleware (patches, conditional writes, metrics, bucket rules) to tell S3's
requests from the other services' on the one shared endpoint. It imports nothing from the
other S3 modules, so each of them can import it.
"""
from __future__ import annotations

import re

_S3_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/s3/aws4_request")
_KEY_OF = re.compile(r"Credential=([^/]+)/")
_PRESIGNED_KEY_OF = re.compile(r"X-Amz-Credential=([^/%&]+)(?:/|%2F)")

_FORM_KEY_OF = re.compile(rb'name="(?:x-amz-credential|X-Amz-Credential)"\r?\n\r?\n([^/\r\n]+)/'
                          rb'[^\r\n]*/s3/aws4_request')
_FORM_V2_KEY_OF = re.compile(rb'name="AWSAccessKeyId"\r?\n\r?\n([^\r\n]+)')
_SIGV2_KEY_OF = re.compile(r"(?:^|&)AWSAccessKeyId=([^&]+)")


def form_upload(environ: dict) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and \
        environ.get("CONTENT_TYPE", "").startswith("multipart/form-data")


def caller_key(environ: dict) -> str | None:
    """The access key that signed the request: the Authorization header, a presigned URL's
    query (SigV4 or SigV2), or a browser form upload's `x-amz-credential` (or SigV2
    `AWSAccessKeyId`) field."""
    found = _KEY_OF.search(environ.get("HTTP_AUTHORIZATION", "")) or \
        _PRESIGNED_KEY_OF.search(environ.get("QUERY_STRING", "")) or \
        _SIGV2_KEY_OF.search(environ.get("QUERY_STRING", ""))
    if found:
        return found.group(1)
    if form_upload(environ):
        from ..core.body import read_body

        head = read_body(environ)[:65536]
        form = _FORM_KEY_OF.search(head) or _FORM_V2_KEY_OF.search(head)
        if form:
            return form.group(1).decode("ascii", "replace")
    return None


def is_s3_request(environ: dict) -> bool:
    """An S3 request: signed for S3 (header, presigned SigV4 or SigV2) or a signed form upload."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth:
        return _S3_SCOPE.search(auth) is not None
    qs = environ.get("QUERY_STRING", "")
    if "%2Fs3%2Faws4_request" in qs or ("AWSAccessKeyId=" in qs and "Signature=" in qs):
        return True  # presigned, SigV4 or (S3 only) SigV2
    return form_upload(environ) and caller_key(environ) is not None
