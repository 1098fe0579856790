"""Lambda's on-failure destination for asynchronous invocations (what moto stores, never sends).

When an Event invoke has failed after its retries, AWS sends a record to the function's
``DestinationConfig.OnFailure.Destination`` (PutFunctionEventInvokeConfig). Its shape
(Lambda Developer Guide, "Capturing records of Lambda asynchronous invocations"):

    {"version": "1.0", "timestamp": "...Z",
     "requestContext": {"requestId", "functionArn": "<arn>:$LATEST", "condition": "RetriesExhausted",
                        "approximateInvokeCount": N},
     "requestPayload": <the event>,
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
     "responsePayload": <the function's error document>}

Only SQS destinations are delivered here (the kind the pipeline uses); another kind is logged.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)


def on_failure_destination(fn: Any) -> str | None:
    """The function's on-failure destination ARN from its event invoke config, or None."""
    for cfg in getattr(fn, "event_invoke_config", []) or []:
        doc = getattr(cfg, "config", cfg)
        if isinstance(doc, dict):
            dest = ((doc.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if dest:
                return dest
    return None


def failure_record(fn: Any, payload: bytes, attempts: int, error: bytes | None) -> dict:
    try:
        request = json.loads(payload or b"null")
    except ValueError:
        request = (payload or b"").decode("utf-8", "replace")
    try:
        response = json.loads(error) if error else {"errorMessage": "internal error", "errorType": "Runtime.Unknown"}
    except ValueError:
        response = {"errorMessage": error.decode("utf-8", "replace"), "errorType": "Runtime.Unknown"}
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "version": "1.0",
        "timestamp": now,
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": f"{fn.function_arn}:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
        "requestPayload": request,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": response,
    }


def deliver_failure(fn: Any, payload: bytes, attempts: int, error: bytes | None) -> bool:
    """Send the failure record to the function's SQS on-failure destination; True if sent."""
    dest = on_failure_destination(fn)
    if not dest:
        return False
    parts = dest.split(":")
    if len(parts) < 6 or parts[2] != "sqs":
        log.warning("on-failure destination %s of %s is not an SQS queue: not delivered", dest, fn.function_name)
        return False
    region, account, queue = parts[3], parts[4], parts[5]
    from moto.sqs.models import sqs_backends

    try:
        sqs_backends[account][region].send_message(queue, json.dumps(failure_record(fn, payload, attempts, error)))
    except Exception as exc:  # noqa: BLE001 - AWS drops the record too when the queue is gone
        log.warning("on-failure destination %s of %s: not delivered (%s)", dest, fn.function_name, exc)
        return False
    return True
