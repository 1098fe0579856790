"""Issue 19, destroy then deploy at once, and API Gateway's per-account throttling: what AWS
answers for a while after a delete (QueueDeletedRecently for 60 s, a deleted bucket still
answering HeadBucket, OperationAborted while its name is released) is waited out, saying so;
TooManyRequestsException is retried by the client. The moto-backed tests inject AWS's
documented answers where moto does not give them (the local cloud's --like-aws adds some)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.exceptions import ClientError

from glue_contract.poll import retry_while
from mlpipe import buckets, clients, queues
from mlpipe.config import Settings
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def _error(code, op, status=400):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, op)


def test_retry_while_waits_then_gives_up_with_the_original_error():
    now = [0.0]
    said = []
    calls = []

    def call():
        calls.append(now[0])
        raise _error("QueueDeletedRecently", "CreateQueue")

    with pytest.raises(ClientError):
        retry_while(call, lambda e: "deleted recently", timeout=10, every=1, cap=4, say=said.append,
                    sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert calls == [0, 1, 3, 7]  # 1, 2, 4 s apart; the next wait (4 s) would pass 10 s
    assert len(said) == 3 and "deleted recently" in said[0]
    with pytest.raises(ValueError):  # not a reason to wait: raised at once
        retry_while(lambda: (_ for _ in ()).throw(ValueError("x")), lambda e: None, timeout=10)


def test_the_failure_queue_waits_out_queue_deleted_recently(aws, monkeypatch):
    settings, names = aws
    stack = Stack.load(settings)
    sqs = stack.client("sqs")
    real, refused = sqs.create_queue, []

    def create_queue(**kw):
        if len(refused) < 2:
            refused.append(1)
            raise _error("AWS.SimpleQueueService.QueueDeletedRecently", "CreateQueue")
        return real(**kw)

    monkeypatch.setattr(sqs, "create_queue", create_queue)
    monkeypatch.setattr("time.sleep", lambda s: None)
    msgs = []
    rep = queues.ensure(stack.with_progress(msgs.append))
    assert rep.action == "created" and len(refused) == 2
    assert any("QueueDeletedRecently" in m and "waiting" in m for m in msgs)


def test_a_bucket_still_listed_after_its_delete_is_created_again(aws, monkeypatch):
    settings, names = aws
    stack = Stack.load(settings)
    s3 = stack.client("s3")
    real_head, real_create, aborted = s3.head_bucket, s3.create_bucket, []
    monkeypatch.setattr(s3, "head_bucket", lambda **kw: {})  # HeadBucket still answers for the deleted bucket

    def create_bucket(**kw):
        if not aborted:
            aborted.append(1)
            raise _error("OperationAborted", "CreateBucket", 409)
        return real_create(**kw)

    monkeypatch.setattr(s3, "create_bucket", create_bucket)
    monkeypatch.setattr("time.sleep", lambda s: None)
    msgs = []
    rep = buckets.ensure_bucket(stack.with_progress(msgs.append), names.input_bucket, versioned=True)
    assert rep.action == "created" and aborted
    assert any("still listed but gone" in m for m in msgs) and any("OperationAborted" in m for m in msgs)
    monkeypatch.setattr(s3, "head_bucket", real_head)
    assert boto3.client("s3").get_bucket_versioning(Bucket=names.input_bucket)["Status"] == "Enabled"


class _Throttling(BaseHTTPRequestHandler):
    answers: list = []

    def do_GET(self):  # noqa: N802
        status = self.answers.pop(0) if self.answers else 200
        if status == 429:
            body = json.dumps({"message": "Too Many Requests"}).encode()
            self.send_response(429)
            self.send_header("x-amzn-ErrorType", "TooManyRequestsException")
        else:
            body = json.dumps({"item": []}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_api_gateway_throttling_is_retried_with_backoff(monkeypatch):
    """A server answering API Gateway's 429 TooManyRequestsException three times, then 200:
    the apigateway client gets through (other services' clients would have given up after 2)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(target="local", endpoint_url=f"http://127.0.0.1:{server.server_port}")
        clients.clear_cache()
        monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0.01)
        _Throttling.answers = [429, 429, 429]
        assert clients.client("apigateway", settings).get_rest_apis()["items"] == []
        assert _Throttling.answers == []
        assert clients.max_attempts("apigateway", Settings(target="aws")) >= 10
    finally:
        server.shutdown()
        clients.clear_cache()
