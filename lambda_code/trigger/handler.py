"""Trigger Lambda: an upload to the input bucket (``data/*.csv``) starts the training instance
and hands over to the Worker (asynchronous invoke).

Environment: ``INSTANCE_ID``, ``WORKER_FUNCTION``.
Event: an S3 ``ObjectCreated`` notification (see events/s3_put.json).

Only the standard library and boto3: nothing else exists in this function's runtime.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from urllib.parse import unquote_plus

logger = logging.getLogger("mlpipe.trigger")
logger.setLevel(logging.INFO)

DATA_PREFIX = "data/"
DATA_SUFFIX = ".csv"
STOP_WAIT_POLL_S = 2.0
STOP_WAIT_MAX_S = 240.0  # never wait longer than this for a `stopping` instance
_CLIENTS: dict = {}


def log(event: str, **fields) -> None:
    """One structured JSON log line."""
    logger.info(json.dumps({"event": event, **fields}, default=str))


def utcnow_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- pure logic (clients passed in) --------------------------------------------------------

def s3_records(event: dict) -> list:
    """``[(bucket, key, etag)]`` of an S3 notification, keys URL-decoded as S3 encodes them."""
    out = []
    for r in event.get("Records") or []:
        s3 = r.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        obj = s3.get("object") or {}
        if not bucket or "key" not in obj:
            continue
        out.append((bucket, unquote_plus(obj["key"]), obj.get("eTag")))
    return out


def is_data_key(key: str) -> bool:
    return key.startswith(DATA_PREFIX) and key.endswith(DATA_SUFFIX)


def instance_state(ec2, instance_id: str) -> str:
    resp = ec2.describe_instances(InstanceIds=[instance_id])
    return resp["Reservations"][0]["Instances"][0]["State"]["Name"]


def ensure_started(ec2, instance_id: str, *, max_wait_s: float = STOP_WAIT_MAX_S, sleep=time.sleep,
                   clock=time.monotonic, poll_s: float = STOP_WAIT_POLL_S) -> dict:
    """Start the instance unless it is already running or starting.

    ``stopping``: wait (bounded by ``max_wait_s``) until ``stopped``, then start.
    Returns ``{"before": state, "action": "none"|"started"|"gave_up", "waited_s": ...}``;
    ``gave_up`` leaves the start to the Worker, which repeats this check while it waits.
    """
    t0 = clock()
    before = state = instance_state(ec2, instance_id)
    while True:
        if state in ("running", "pending"):
            return {"before": before, "action": "none", "state": state, "waited_s": round(clock() - t0, 1)}
        if state == "stopped":
            from botocore.exceptions import ClientError

            try:
                ec2.start_instances(InstanceIds=[instance_id])
            except ClientError as exc:  # raced with another start/stop: look again
                if exc.response.get("Error", {}).get("Code") != "IncorrectInstanceState":
                    raise
                state = instance_state(ec2, instance_id)
                continue
            return {"before": before, "action": "started", "state": "pending", "waited_s": round(clock() - t0, 1)}
        if state in ("terminated", "shutting-down"):
            raise RuntimeError(f"training instance {instance_id} is {state}: redeploy the stack (mlpipe deploy)")
        # stopping (or an unknown transitional state): wait, bounded
        if clock() - t0 >= max_wait_s:
            return {"before": before, "action": "gave_up", "state": state, "waited_s": round(clock() - t0, 1)}
        sleep(poll_s)
        state = instance_state(ec2, instance_id)


def invoke_worker(lam, function_name: str, payload: dict) -> int:
    """Asynchronous invoke (InvocationType=Event); returns the HTTP status (202)."""
    resp = lam.invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode())
    return int(resp.get("StatusCode", 0))


def handle(event: dict, *, ec2, lam, instance_id: str, worker_function: str,
           max_wait_s: float = STOP_WAIT_MAX_S, sleep=time.sleep, clock=time.monotonic) -> dict:
    records = s3_records(event)
    for bucket, key, etag in records:
        log("upload", bucket=bucket, key=key, etag=etag)
    keys = [k for _, k, _ in records if is_data_key(k)]
    ignored = [k for _, k, _ in records if not is_data_key(k)]
    if ignored:
        log("ignored", keys=ignored, reason=f"not {DATA_PREFIX}*{DATA_SUFFIX}")
    if not keys:
        return {"started": False, "invoked": False, "trigger_keys": []}
    start = ensure_started(ec2, instance_id, max_wait_s=max_wait_s, sleep=sleep, clock=clock)
    log("instance", instance_id=instance_id, **start)
    payload = {"instance_id": instance_id, "trigger_keys": keys, "requested_at": utcnow_iso()}
    status = invoke_worker(lam, worker_function, payload)
    log("worker_invoked", function=worker_function, status=status, payload=payload)
    return {"started": start["action"] == "started", "instance": start, "invoked": True, **payload}


# ---- the handler ---------------------------------------------------------------------------

def _client(name: str):
    if name not in _CLIENTS:
        import boto3

        _CLIENTS[name] = boto3.client(name)
    return _CLIENTS[name]


def handler(event, context):
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context is not None else STOP_WAIT_MAX_S
    return handle(
        event,
        ec2=_client("ec2"),
        lam=_client("lambda"),
        instance_id=os.environ["INSTANCE_ID"],
        worker_function=os.environ["WORKER_FUNCTION"],
        max_wait_s=max(0.0, min(STOP_WAIT_MAX_S, remaining - 15.0)),
    )
