"""The failure queue: where Lambda puts an asynchronous invocation that failed for good.

S3 invokes trigger and stop_ec2 asynchronously, and the trigger invokes the worker so;
when such an invocation fails after its retries (or is too old), Lambda sends a record to
the function's on-failure destination (``functions.ensure_async_config``): here one SQS
queue per stack, ``<stack>-failures``, tagged ``stack=<stack>``, messages kept 14 days.
``mlpipe runs`` lists what landed there (``failures``): which function, why, the S3 keys
of the event, the error.

The record's shape is AWS's ("Adding a destination", Lambda Developer Guide):
``{"version", "timestamp", "requestContext": {"requestId", "functionArn", "condition",
"approximateInvokeCount"}, "requestPayload": <the event>, "responseContext": {...},
"responsePayload": {"errorMessage", ...}}``.
"""
from __future__ import annotations

import json

from botocore.exceptions import ClientError
from glue_contract.poll import retry_while

from .clients import error_code, is_not_found
from .report import Report

RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum


def queue_url(stack) -> str | None:
    try:
        return stack.client("sqs").get_queue_url(QueueName=stack.names.failure_queue)["QueueUrl"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise


DELETED_RECENTLY = ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently")


def ensure(stack) -> Report:
    """The stack's failure queue (found or created); ``arn`` is the queue's ARN."""
    names = stack.names
    sqs = stack.client("sqs")
    url = queue_url(stack)
    action = "found"
    if url is None:
        # A queue name can't be reused for 60 s after its queue was deleted (CreateQueue:
        # QueueDeletedRecently): a deploy right after a destroy waits, saying so.
        url = retry_while(
            lambda: sqs.create_queue(QueueName=names.failure_queue, tags=names.tags, Attributes={
                "MessageRetentionPeriod": str(RETENTION_SECONDS), "SqsManagedSseEnabled": "true"})["QueueUrl"],
            lambda exc: (f"queue {names.failure_queue} was deleted less than 60 s ago (QueueDeletedRecently)"
                         if error_code(exc) in DELETED_RECENTLY else None),
            timeout=75, every=5 if stack.is_aws else 1, cap=10, say=stack.say)
        action = "created"
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Report(action, "sqs queue", names.failure_queue, arn, {"url": url})


def leftovers(stack) -> list:
    return [f"sqs queue {stack.names.failure_queue}"] if queue_url(stack) else []


def delete(stack) -> list:
    url = queue_url(stack)
    if url is None:
        return [Report("absent", "sqs queue", stack.names.failure_queue)]
    stack.client("sqs").delete_queue(QueueUrl=url)
    return [Report("deleted", "sqs queue", stack.names.failure_queue)]


def _summary(body: str, sent_at: str | None) -> dict:
    """One failure record, flattened for a table."""
    try:
        rec = json.loads(body)
    except ValueError:
        return {"function": None, "condition": None, "keys": [], "error": body[:300], "timestamp": sent_at}
    ctx = rec.get("requestContext") or {}
    payload = rec.get("requestPayload") or {}
    keys = []
    if isinstance(payload, dict):
        for r in payload.get("Records") or []:
            key = ((r.get("s3") or {}).get("object") or {}).get("key")
            if key:
                keys.append(key)
        keys += [k for k in payload.get("keys") or [] if isinstance(k, str)]
    response = rec.get("responsePayload")
    if isinstance(response, dict):
        error = response.get("errorMessage") or response.get("errorType") or json.dumps(response)[:300]
    else:
        error = (rec.get("responseContext") or {}).get("functionError") or (str(response)[:300] if response else None)
    return {"function": (ctx.get("functionArn") or "").split(":function:")[-1].split(":")[0] or None,
            "condition": ctx.get("condition"), "attempts": ctx.get("approximateInvokeCount"),
            "request_id": ctx.get("requestId"), "keys": keys, "error": error,
            "timestamp": rec.get("timestamp") or sent_at}


def list_failures(stack, *, max_messages: int = 100) -> list:
    """The records on the failure queue, oldest first, left on the queue (read, not consumed)."""
    url = queue_url(stack)
    if url is None:
        return []
    sqs = stack.client("sqs")
    seen, out = set(), []
    # VisibilityTimeout=0: the messages stay visible, so reading never hides or deletes them.
    for _ in range(max(1, max_messages // 10)):
        try:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                      WaitTimeSeconds=0, AttributeNames=["SentTimestamp"]).get("Messages", [])
        except ClientError as exc:
            if is_not_found(exc) or error_code(exc) == "AccessDenied":
                break
            raise
        new = [m for m in got if m["MessageId"] not in seen]
        if not new:
            break
        for m in new:
            seen.add(m["MessageId"])
            out.append(_summary(m.get("Body", ""), (m.get("Attributes") or {}).get("SentTimestamp")))
    return sorted(out, key=lambda r: str(r.get("timestamp") or ""))
