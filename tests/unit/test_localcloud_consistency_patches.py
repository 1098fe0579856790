"""Tripwires for the moto attributes the `--like-aws` consistency patches hook (each fails by
name if a moto upgrade moves one), and the API Gateway quota table's arithmetic."""
import importlib

import pytest

from localcloud.apigateway import ratelimit
from localcloud.s3 import patches as s3_patches
from localcloud.sqs import patches as sqs_patches


@pytest.mark.parametrize("module,owner,attr", s3_patches.PATCH_POINTS + sqs_patches.PATCH_POINTS,
                         ids=lambda v: str(v))
def test_tripwire_moto_patch_point_exists(module, owner, attr):
    cls = getattr(importlib.import_module(module), owner, None)
    assert cls is not None, f"{module}.{owner} moved"
    assert callable(getattr(cls, attr, None)), f"{module}.{owner}.{attr} moved"


def test_tripwire_patched_signatures():
    import inspect

    from moto.s3.models import S3Backend
    from moto.sqs.models import SQSBackend

    def params(fn):
        return list(inspect.signature(fn).parameters)
    assert params(S3Backend.delete_bucket) == ["self", "bucket_name"], \
        "moto.s3.models.S3Backend.delete_bucket signature changed"
    assert params(S3Backend.list_buckets) == ["self", "prefix", "bucket_region", "max_buckets"], \
        "moto.s3.models.S3Backend.list_buckets signature changed"
    assert params(SQSBackend.delete_queue) == ["self", "queue_name"], \
        "moto.sqs.models.SQSBackend.delete_queue signature changed"
    assert params(SQSBackend.create_queue) == ["self", "name", "tags", "kwargs"], \
        "moto.sqs.models.SQSBackend.create_queue signature changed"


def test_tripwire_sqs_exception_and_queues_map():
    from moto.sqs.exceptions import SQSException
    from moto.sqs.models import SQSBackend

    err = sqs_patches.queue_deleted_recently()
    assert isinstance(err, SQSException) and "QueueDeletedRecently" in err.code
    assert "queues" in SQSBackend("us-east-1", "123456789012").__dict__, \
        "moto.sqs.models.SQSBackend.queues moved"


def test_operations_are_told_from_paths():
    auth = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/apigateway/aws4_request, x"
    def op(method, path, qs=""):
        return ratelimit.operation({"REQUEST_METHOD": method, "PATH_INFO": path,
                                    "QUERY_STRING": qs, "HTTP_AUTHORIZATION": auth})
    assert op("POST", "/restapis") == "CreateRestApi"
    assert op("POST", "/restapis", "mode=import") == "ImportRestApi"
    assert op("DELETE", "/restapis/abc") == "DeleteRestApi"
    assert op("POST", "/restapis/abc/deployments") == "CreateDeployment"
    assert op("PATCH", "/usageplans/p1") == "UpdateUsagePlan"
    assert op("GET", "/restapis") == ""          # counted in the total only
    assert op("POST", "/restapis/abc/s/_user_request_/x") is None  # the data plane
    assert ratelimit.operation({"REQUEST_METHOD": "POST", "PATH_INFO": "/restapis",
                                "HTTP_AUTHORIZATION": auth.replace("apigateway", "s3")}) is None


def test_token_buckets_refill_at_the_scaled_rate():
    now = [100.0]
    lim = ratelimit.Limiter(lambda: 1.0, clock=lambda: now[0])
    assert lim.check(("r",), "DeleteRestApi") == 0
    wait = lim.check(("r",), "DeleteRestApi")
    assert 29.9 < wait <= 30
    now[0] += 30
    assert lim.check(("r",), "DeleteRestApi") == 0
    # the total: 40 at once, then 10 per second
    for _ in range(40 - 1):  # one token went to the DeleteRestApi above... and refilled
        assert lim.check(("r",), "") == 0
    assert lim.check(("r",), "") > 0
    fast = ratelimit.Limiter(lambda: 10.0, clock=lambda: now[0])
    assert fast.check(("r",), "DeleteRestApi") == 0
    assert 2.9 < fast.check(("r",), "DeleteRestApi") <= 3.0
    off = ratelimit.Limiter(lambda: 0.0, clock=lambda: now[0])
    assert all(off.check(("r",), "DeleteRestApi") == 0 for _ in range(5))


def test_deleted_buckets_window():
    import time

    seconds = [5.0]
    d = s3_patches.DeletedBuckets(lambda: seconds[0])

    class B:
        name, region_name = "b-one", "us-east-1"
    d.add("123", B())
    assert d.recently_deleted("b-one") and [b.name for b in d.listed("123", None)] == ["b-one"]
    assert d.listed("999", None) == [] and d.listed("123", "x") == []
    seconds[0] = 0.0  # off: nothing kept
    assert not d.recently_deleted("b-one")
    d.add("123", B())
    assert not d.recently_deleted("b-one")
    assert time  # noqa
