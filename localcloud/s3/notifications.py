"""S3 event notifications -> Lambda, delivered asynchronously as AWS does.

moto builds the event inside the request (`moto.s3.notifications.send_event`, called by
S3Backend.put_object, copy_object, complete_multipart_upload, ...) and delivers it to every
matching destination: SQS queues, SNS topics and EventBridge are moto's to deliver and we
leave them alone. For each matching CloudFunction configuration (prefix/suffix filters and
event names already applied) moto calls `moto.s3.notifications._invoke_awslambda`, which
runs the function synchronously inside the PUT and swallows errors. We replace only that
call with an enqueue: a delivery thread checks the function's resource policy
(s3.amazonaws.com must be allowed) and hands the event to the Lambda runtime's async invoke
(two retries with backoff on a function error).

A completed multipart upload sends only ObjectCreated:CompleteMultipartUpload, to every
destination, as AWS does (s3/patches.py stops the inner Put moto's completion sent).
"""
from __future__ import annotations

import fnmatch
import functools
import itertools
import json
import logging
import queue
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from ..core.cloud import active_cloud

log = logging.getLogger("localcloud")

_sequence = itertools.count(1)


def _sequencer() -> str:
    return f"{time.time_ns():016X}{next(_sequence) & 0xFFFF:04X}"


def complete_event_shape(event_body: dict, account_id: str) -> dict:
    """Add the fields AWS sends that moto's event lacks (sequencer, identities, ids)."""
    for record in event_body.get("Records", []):
        record.setdefault("userIdentity", {"principalId": f"AWS:{account_id}"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": uuid.uuid4().hex})
        s3 = record.setdefault("s3", {})
        s3.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": account_id})
        obj = s3.setdefault("object", {})
        obj.setdefault("sequencer", _sequencer())
        if "key" in obj:  # moto's quote_plus also encodes "/", which AWS leaves as is
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event_body


def s3_may_invoke(fn: Any, bucket_arn: str, account_id: str) -> bool:
    """Does the function's resource policy let s3.amazonaws.com invoke it for this bucket?"""
    cloud = active_cloud()
    iam = getattr(cloud, "iam", None) if cloud is not None else None
    if iam is not None:  # the IAM engine decides (and records), mode-aware
        return iam.service_may_invoke(fn, "s3.amazonaws.com", bucket_arn, account_id)
    for st in (fn.policy.statements if fn.policy is not None else None) or []:
        if st.get("Effect", "Allow") != "Allow":
            continue
        principal = st.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        if isinstance(services, str):
            services = [services]
        if "s3.amazonaws.com" not in (services or []) and "*" not in (services or []):
            continue
        actions = st.get("Action")
        actions = [actions] if isinstance(actions, str) else (actions or [])
        if not any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
            continue
        if not _conditions_hold(st.get("Condition") or {}, bucket_arn, account_id):
            continue
        return True
    return False


def _conditions_hold(conditions: dict, bucket_arn: str, account_id: str) -> bool:
    values = {"aws:sourcearn": bucket_arn, "aws:sourceaccount": account_id}
    for op, block in conditions.items():
        for key, expected in (block or {}).items():
            actual = values.get(key.lower())
            if actual is None:
                continue
            expected_list = expected if isinstance(expected, list) else [expected]
            if op in ("ArnLike", "StringLike"):
                ok = any(fnmatch.fnmatchcase(actual, e) for e in expected_list)
            else:
                ok = actual in expected_list
            if not ok:
                return False
    return True


class S3EventDelivery:
    """The queue between an S3 write and the notified Lambda's async invoke."""

    def __init__(self, cloud: Any):
        self.cloud = cloud
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="localcloud-s3-events",
                                        daemon=True)
        self._stopping = False
        self.delivered = 0
        self.refused = 0
        self._thread.start()

    def enqueue(self, account_id: str, event_body: dict, fn_arn: str, region: str) -> None:
        self._queue.put((account_id, event_body, fn_arn, region))

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stopping:
                return
            try:
                self._deliver(*item)
            except Exception:  # noqa: BLE001 - one bad delivery must not stop the others
                log.exception("S3 event delivery failed")

    def _deliver(self, account_id: str, event_body: dict, fn_arn: str, region: str) -> None:
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.utils import get_backend

        record = event_body["Records"][0]
        where = f"s3://{record['s3']['bucket']['name']}/{record['s3']['object']['key']}"
        try:
            fn = get_backend(account_id, region).get_function(fn_arn)
        except (LambdaClientError, KeyError):  # no such function (or region/account)
            log.warning("S3 event %s for %s not delivered: function %s does not exist",
                        record["eventName"], where, fn_arn)
            self.refused += 1
            return
        if not s3_may_invoke(fn, record["s3"]["bucket"]["arn"], account_id):
            log.warning("S3 event %s for %s REFUSED: function %s has no resource policy "
                        "statement allowing s3.amazonaws.com to invoke it (add it with "
                        "lambda add-permission --principal s3.amazonaws.com)",
                        record["eventName"], where, fn.function_name)
            self.refused += 1
            return
        self.delivered += 1
        log.info("S3 event %s for %s -> %s", record["eventName"], where, fn.function_name)
        self.cloud.runtime.invoke_async(fn, json.dumps(event_body).encode(), source="s3")

    def close(self) -> None:
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=5)


# ---- the moto hooks ---------------------------------------------------------------------
def _patched_invoke_awslambda(original: Any, account_id: str, event_body: Any, fn_arn: str,
                              region_name: str) -> None:
    cloud = active_cloud()
    if cloud is None or cloud.s3_events is None:
        return original(account_id, event_body, fn_arn, region_name)
    complete_event_shape(event_body, account_id)
    cloud.s3_events.enqueue(account_id, event_body, fn_arn, region_name)
    return None


def install(cloud: Any):
    """Give the cloud its S3 event delivery (`cloud.s3_events`), patch moto's S3 -> Lambda
    delivery (restored when the cloud stops). Returns the uninstall."""
    from moto.s3 import notifications

    cloud.hook(notifications, "_invoke_awslambda",
               lambda original: functools.partial(_patched_invoke_awslambda, original))
    delivery = cloud.s3_events = S3EventDelivery(cloud)
    return delivery.close
