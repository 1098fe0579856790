"""The signature verifier against AWS's own documented examples (S3 API reference,
"Signature Calculations for the Authorization Header" and "... in Multiple Chunks"), and
against botocore's signer for the other services."""
import time

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.iam import sigv4

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _environ(method, raw_uri, headers, query=""):
    env = {"REQUEST_METHOD": method, "REQUEST_URI": raw_uri + (f"?{query}" if query else ""),
           "PATH_INFO": raw_uri, "QUERY_STRING": query,
           "localcloud.raw_headers": list(headers.items())}
    for k, v in headers.items():
        env["HTTP_" + k.upper().replace("-", "_")] = v
    return env


def test_aws_get_object_example_verifies():
    sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    headers = {"Host": "examplebucket.s3.amazonaws.com", "Range": "bytes=0-9",
               "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": "20130524T000000Z",
               "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/"
                                "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;"
                                f"x-amz-date,Signature={sig}"}
    env = _environ("GET", "/test.txt", headers)
    claim = sigv4.parse(env)
    v = sigv4.Verifier()
    assert claim.access_key == KEY and claim.service == "s3"
    assert v.verify(env, claim, SECRET, b"")
    assert not v.verify(env, claim, SECRET[:-1] + "X", b"")
    env["HTTP_RANGE"] = "bytes=0-10"
    env["localcloud.raw_headers"] = [(k, "bytes=0-10" if k == "Range" else v)
                                     for k, v in headers.items()]
    assert not v.verify(env, claim, SECRET, b"")


def test_aws_chunked_upload_example_verifies():
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers = {"Host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z",
               "x-amz-storage-class": "REDUCED_REDUNDANCY",
               "x-amz-content-sha256": sigv4.STREAMING_SIGNED, "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": "66560", "Content-Length": "66824",
               "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/"
                                "aws4_request,SignedHeaders=content-encoding;content-length;host;"
                                "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                                f"x-amz-storage-class,Signature={seed}"}
    env = _environ("PUT", "/examplebucket/chunkObject.txt", headers)
    claim = sigv4.parse(env)
    v = sigv4.Verifier()
    assert v.verify(env, claim, SECRET, b"")
    body = (b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
            b"\r\n" + b"a" * 65536 + b"\r\n"
            b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
            b"\r\n" + b"a" * 1024 + b"\r\n"
            b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
            b"\r\n\r\n")
    assert len(body) == 66824
    assert v.verify_chunks(claim, SECRET, body)
    assert not v.verify_chunks(claim, SECRET, body.replace(b"a" * 1024, b"b" + b"a" * 1023))


def _botocore_signed(service, method, url, body=b"", headers=None):
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth  # as botocore's clients sign
    signer(Credentials(KEY, SECRET), service, "eu-west-1").add_auth(req)
    path, _, query = url.split("127.0.0.1:4601", 1)[1].partition("?")
    return _environ(method, path, {"Host": "127.0.0.1:4601", **dict(req.headers.items())}, query)


def test_botocore_signed_requests_of_other_services_verify():
    v = sigv4.Verifier()
    cases = [("lambda", "POST", "http://127.0.0.1:4601/2015-03-31/functions/"
                                "arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/invocations",
              b'{"a": 1}'),
             ("iam", "POST", "http://127.0.0.1:4601/", b"Action=ListRoles&Version=2010-05-08"),
             ("s3", "GET", "http://127.0.0.1:4601/b/a%20b/c?list-type=2&prefix=a%2Fb", b"")]
    for service, method, url, body in cases:
        env = _botocore_signed(service, method, url, body)
        claim = sigv4.parse(env)
        assert claim.region == "eu-west-1" and claim.service == service
        assert v.verify(env, claim, SECRET, body), service
        if service != "s3":  # S3 signs x-amz-content-sha256; the body is checked against it
            assert not v.verify(env, claim, SECRET, body + b" "), service
        tampered = dict(env, QUERY_STRING=env["QUERY_STRING"] + "&x=1")
        assert not v.verify(tampered, claim, SECRET, body), service


def test_presigned_query_and_expiry():
    req = AWSRequest(method="GET", url="http://127.0.0.1:4601/b/k%20x.txt")
    S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60).add_auth(req)
    path, _, query = req.url.split("127.0.0.1:4601", 1)[1].partition("?")
    env = _environ("GET", path, {"Host": "127.0.0.1:4601"}, query)
    claim = sigv4.parse(env)
    assert claim.presigned and claim.expires == 60
    assert sigv4.Verifier().verify(env, claim, SECRET, b"")
    assert not sigv4.presign_expired(claim)
    assert sigv4.presign_expired(claim, now=time.time() + 120)


def test_malformed_signatures_are_told_apart():
    import pytest
    for auth in ("AWS4-HMAC-SHA256 Credential=a/b/c/lambda/aws4_request", "garbage",
                 "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=0"):
        with pytest.raises(sigv4.Malformed):
            sigv4.parse({"HTTP_AUTHORIZATION": auth, "HTTP_X_AMZ_DATE": "20250101T000000Z"})
    assert sigv4.parse({"QUERY_STRING": "a=1"}) is None


def test_skew_is_fifteen_minutes_either_way_and_worded_as_aws_words_it():
    claim = sigv4.Claim("AK", "20240101", "us-east-1", "lambda", ("host",), "sig",
                        "20240101T000000Z", None, False)
    at = sigv4.timestamp_epoch("20240101T000000Z")
    assert at == 1704067200
    assert sigv4.skew(claim, now=at + 900) is None and sigv4.skew(claim, now=at - 900) is None
    assert sigv4.skew(claim, now=at + 901) == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000001Z "
        "(20240101T001501Z - 15 min.)")
    assert sigv4.skew(claim, now=at - 901) == (
        "Signature not yet current: 20240101T000000Z is still later than 20231231T235959Z "
        "(20231231T234459Z + 15 min.)")
    presigned = sigv4.Claim("AK", "20240101", "us-east-1", "s3", ("host",), "sig",
                            "20240101T000000Z", None, True, 3600)
    assert sigv4.skew(presigned, now=at + 1800) is None          # its expiry governs
    assert not sigv4.presign_expired(presigned, now=at + 3600)
    assert sigv4.presign_expired(presigned, now=at + 3601)
    claim.timestamp = "2024-01-01T00:00:00Z"
    try:
        sigv4.skew(claim)
    except sigv4.Malformed as exc:
        assert "ISO-8601" in str(exc)
    else:
        raise AssertionError("a malformed X-Amz-Date was accepted")
