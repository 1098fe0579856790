"""S3 conditional writes answered as S3 answers them (AWS's recorded responses): 412 with the
failed `Condition`, 404 `NoSuchKey` naming the key for an `If-Match` on nothing, 409
`ConditionalRequestConflict` for a multipart upload whose key changed after it began, 501 for
headers S3 does not accept."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import client_error as _error

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(local_cloud):  # noqa: F811
    client = boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1",
                          config=Config(retries={"max_attempts": 1}))
    return client


@pytest.fixture
def bucket(s3):
    name = f"cond-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def test_put_if_none_match_and_if_match(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"a", IfNoneMatch="*")["ETag"]
    status, err = _error(s3.put_object, Bucket=bucket, Key="k", Body=b"b", IfNoneMatch="*")
    assert (status, err["Code"], err["Condition"]) == (412, "PreconditionFailed", "If-None-Match")
    status, err = _error(s3.put_object, Bucket=bucket, Key="k", Body=b"b", IfMatch='"nope"')
    assert (status, err["Code"], err["Condition"]) == (412, "PreconditionFailed", "If-Match")
    s3.put_object(Bucket=bucket, Key="k", Body=b"b", IfMatch=etag.strip('"'))  # quotes optional
    s3.delete_object(Bucket=bucket, Key="k")
    status, err = _error(s3.put_object, Bucket=bucket, Key="k", Body=b"c", IfMatch=etag)
    assert (status, err["Code"], err["Key"]) == (404, "NoSuchKey", "k")


def test_delete_marker_is_no_object(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"a")["ETag"]
    s3.delete_object(Bucket=bucket, Key="k")
    status, err = _error(s3.put_object, Bucket=bucket, Key="k", Body=b"b", IfMatch=etag)
    assert (status, err["Code"]) == (404, "NoSuchKey")
    s3.put_object(Bucket=bucket, Key="k", Body=b"b", IfNoneMatch="*")


def test_copy_checks_the_destination(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"a")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", IfNoneMatch="*")
    status, err = _error(s3.copy_object, Bucket=bucket, Key="dst", CopySource=f"{bucket}/src",
                         IfNoneMatch="*")
    assert (status, err["Condition"]) == (412, "If-None-Match")
    status, err = _error(s3.copy_object, Bucket=bucket, Key="none", CopySource=f"{bucket}/src",
                         IfMatch='"abc"')
    assert (status, err["Code"], err["Key"]) == (404, "NoSuchKey", "none")


def _upload(s3, bucket, key):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, Body=b"p", PartNumber=1)
    return upload, {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}


def test_multipart_completion_conflicts_with_a_write_after_it_began(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="m", Body=b"a")["ETag"]
    upload, parts = _upload(s3, bucket, "m")
    status, err = _error(s3.complete_multipart_upload, Bucket=bucket, Key="m", UploadId=upload,
                         MultipartUpload=parts, IfNoneMatch="*")
    assert (status, err["Code"]) == (412, "PreconditionFailed")
    etag2 = s3.put_object(Bucket=bucket, Key="m", Body=b"a")["ETag"]  # same content, a write
    assert etag2 == etag
    status, err = _error(s3.complete_multipart_upload, Bucket=bucket, Key="m", UploadId=upload,
                         MultipartUpload=parts, IfMatch=etag2)
    assert (status, err["Code"], err["Condition"], err["Key"]) == \
        (409, "ConditionalRequestConflict", "If-Match", "m")
    upload, parts = _upload(s3, bucket, "m")  # restarted after the write: it completes
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload,
                                 MultipartUpload=parts, IfMatch=etag2)


def test_header_grammar(s3, bucket):
    status, err = _error(s3.put_object, Bucket=bucket, Key="g", Body=b"a", IfMatch="*")
    assert (status, err["Code"], err["Header"]) == (501, "NotImplemented", "If-Match")
    status, err = _error(s3.put_object, Bucket=bucket, Key="g", Body=b"a", IfNoneMatch="*",
                         IfMatch='"abc"')
    assert (status, err["Header"]) == (501, "If-Match,If-None-Match")
    # an If-Match value of any form is compared, not refused
    status, err = _error(s3.put_object, Bucket=bucket, Key="g", Body=b"a", IfMatch="bad-char_/")
    assert (status, err["Code"]) == (404, "NoSuchKey")


def test_racing_if_none_match_writers_one_wins(s3, bucket):
    from concurrent.futures import ThreadPoolExecutor

    def put(i):
        try:
            s3.put_object(Bucket=bucket, Key="lock", Body=str(i).encode(), IfNoneMatch="*")
            return True
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "PreconditionFailed"
            return False

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(put, range(8))) == 1


def test_upload_part_copy_source_conditions_and_range(s3, bucket):
    import datetime

    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")["ETag"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    kw = dict(Bucket=bucket, Key="dst", UploadId=upload, PartNumber=1, CopySource=f"{bucket}/src")
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    future = past + datetime.timedelta(days=2)
    for extra, condition in (({"CopySourceIfMatch": '"other"'}, "x-amz-copy-source-If-Match"),
                             ({"CopySourceIfNoneMatch": etag}, "x-amz-copy-source-If-None-Match"),
                             ({"CopySourceIfUnmodifiedSince": past},
                              "x-amz-copy-source-If-Unmodified-Since"),
                             ({"CopySourceIfNoneMatch": '"x"', "CopySourceIfUnmodifiedSince": past},
                              "x-amz-copy-source-If-Unmodified-Since"),
                             # S3's order: if-unmodified-since before if-none-match
                             ({"CopySourceIfNoneMatch": etag, "CopySourceIfUnmodifiedSince": past},
                              "x-amz-copy-source-If-Unmodified-Since")):
        status, err = _error(s3.upload_part_copy, **kw, **extra)
        assert (status, err["Code"], err["Condition"]) == (412, "PreconditionFailed", condition)
    # if-match true wins over if-unmodified-since false; a future if-modified-since is ignored
    s3.upload_part_copy(**kw, CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=past)
    s3.upload_part_copy(**kw, CopySourceIfModifiedSince=future)
    for bad in ("0-8", "bytes=1-0", "bytes=-2", "bytes=0-1,3-4"):
        status, err = _error(s3.upload_part_copy, **kw, CopySourceRange=bad)
        assert (status, err["Code"], err["ArgumentName"]) == \
            (400, "InvalidArgument", "x-amz-copy-source-range")
    status, err = _error(s3.upload_part_copy, **kw, CopySourceRange="bytes=0-100")
    assert err["Message"] == "Range specified is not valid for source object of size: 10"
    status, err = _error(s3.upload_part_copy, **kw, CopySourceRange="bytes=100-200")
    assert (status, err["Code"]) == (400, "InvalidRequest")
    s3.upload_part_copy(**kw, CopySourceRange="bytes=0-9")


def test_multipart_completion_answers_checksum_and_no_null_version(s3, bucket):
    upload, parts = _upload(s3, bucket, "c")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload,
                                        MultipartUpload=parts)
    assert "VersionId" not in done  # an unversioned bucket
    assert done["ServerSideEncryption"] == "AES256"
    assert done["ChecksumType"] == "FULL_OBJECT"
    import base64

    from awscrt import checksums
    assert done["ChecksumCRC64NVME"] == base64.b64encode(
        checksums.crc64nvme(b"p").to_bytes(8, "big")).decode()
    copied = s3.copy_object(Bucket=bucket, Key="c2", CopySource=f"{bucket}/c",
                            ChecksumAlgorithm="CRC32")
    assert copied["CopyObjectResult"]["ChecksumType"] == "FULL_OBJECT"
