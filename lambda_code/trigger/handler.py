"""Trigger Lambda: an upload to the input bucket (``data/*.csv``) starts the training instance
and hands over to the Worker (asynchronous invoke).

Environment: ``INSTANCE_ID``, ``WORKER_FUNCTION``.
Event: an S3 ``ObjectCreated`` notification (see events/s3_put.json).

The standard library, boto3 and ``glue_contract`` (shipped at the root of this zip).
"""
from __future__ import annotations

import json
import os
import time

from glue_contract import aws, keys, logs, poll, runs, times

STOP_WAIT_POLL_S = 2.0
STOP_WAIT_MAX_S = 240.0  # never wait longer than this for a `stopping` instance


def log(event: str, **fields) -> None:
    logs.log(event, "mlpipe.trigger", **fields)


def ensure_started(ec2, instance_id: str, *, max_wait_s: float = STOP_WAIT_MAX_S, sleep=time.sleep,
                   clock=time.monotonic, poll_s: float = STOP_WAIT_POLL_S) -> dict:
    """Start the instance unless it is already running or starting.

    ``stopping``: wait (bounded by ``max_wait_s``) until ``stopped``, then start.
    Returns ``{"before": state, "action": "none"|"started"|"gave_up", "waited_s": ...}``;
    ``gave_up`` leaves the start to the Worker, which repeats this check while it waits.
    """
    t0 = clock()
    before = aws.instance_state(ec2, instance_id)
    seen = {"state": before, "fresh": True}

    def result(action: str, state: str) -> dict:
        return {"before": before, "action": action, "state": state, "waited_s": round(clock() - t0, 1)}

    def step():
        if not seen["fresh"]:
            seen["state"] = aws.instance_state(ec2, instance_id)
        seen["fresh"] = False
        state = seen["state"]
        if state in ("running", "pending"):
            return result("none", state)
        if state == "stopped":
            try:
                ec2.start_instances(InstanceIds=[instance_id])
            except Exception as exc:  # raced with another start/stop: look again at once
                if aws.error_code(exc) != "IncorrectInstanceState":
                    raise
                seen["fresh"] = False
                return step()
            return result("started", "pending")
        if state in ("terminated", "shutting-down"):
            raise RuntimeError(f"training instance {instance_id} is {state}: redeploy the stack (mlpipe deploy)")
        return None  # stopping (or an unknown transitional state): wait, bounded

    return poll.poll(step, deadline=t0 + max_wait_s, first=poll_s, cap=poll_s,
                     on_timeout=lambda: result("gave_up", seen["state"]), sleep=sleep, clock=clock)


def keys_in_bucket_at(event: dict) -> str:
    """A time at which every object of the event was in the bucket: the latest ``eventTime``
    (when S3 finished the PUT), else now. The Worker sends nothing when a command was
    requested after it (that run listed these keys), so it must be tight: a Trigger that
    runs late would otherwise make a second run of the same data."""
    stamps = [times.parse(r.get("eventTime")) for r in event.get("Records") or []]
    stamps = [t for t in stamps if t is not None]
    return times.iso(max(stamps)) if stamps else times.iso()


def handle(event: dict, *, ec2, lam, instance_id: str, worker_function: str,
           max_wait_s: float = STOP_WAIT_MAX_S, sleep=time.sleep, clock=time.monotonic) -> dict:
    records = runs.s3_records(event)
    for bucket, key, etag in records:
        log("upload", bucket=bucket, key=key, etag=etag)
    data_keys = [k for _, k, _ in records if keys.is_data_key(k)]
    ignored = [k for _, k, _ in records if not keys.is_data_key(k)]
    if ignored:
        log("ignored", keys=ignored, reason=f"not {keys.DATA_PREFIX}*{keys.DATA_SUFFIX}")
    if not data_keys:
        return {"started": False, "invoked": False, "trigger_keys": []}
    requested_at = keys_in_bucket_at(event)
    start = ensure_started(ec2, instance_id, max_wait_s=max_wait_s, sleep=sleep, clock=clock)
    log("instance", instance_id=instance_id, **start)
    payload = {"instance_id": instance_id, "trigger_keys": data_keys, "requested_at": requested_at}
    resp = lam.invoke(FunctionName=worker_function, InvocationType="Event", Payload=json.dumps(payload).encode())
    log("worker_invoked", function=worker_function, status=int(resp.get("StatusCode", 0)), payload=payload)
    return {"started": start["action"] == "started", "instance": start, "invoked": True, **payload}


def handler(event, context):
    logs.bind(context, function="trigger")
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else STOP_WAIT_MAX_S
    return handle(
        event, ec2=aws.client("ec2"), lam=aws.client("lambda"), instance_id=os.environ["INSTANCE_ID"],
        worker_function=os.environ["WORKER_FUNCTION"], max_wait_s=max(0.0, min(STOP_WAIT_MAX_S, remaining - 15.0)),
    )
