"""SQS's rule for a deleted queue's name, under `--like-aws` (`localcloud.core.profile`,
`sqs_queue_deleted_recently_seconds`, 0 = off by default; AWS: 60).

AWS (CreateQueue, DeleteQueue): "After you delete a queue, you must wait at least 60 seconds
before creating a queue with the same name." CreateQueue of such a name answers
`QueueDeletedRecently` ("You must wait 60 seconds after deleting a queue before you can create
another with the same name."; `AWS.SimpleQueueService.QueueDeletedRecently` in the query
protocol), 400.

moto patch points (tests/unit/test_localcloud_sqs_patches.py fails by name if moto moves them):
`moto.sqs.models.SQSBackend.delete_queue` and `moto.sqs.models.SQSBackend.create_queue`.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

PATCH_POINTS = (("moto.sqs.models", "SQSBackend", "delete_queue"),
                ("moto.sqs.models", "SQSBackend", "create_queue"))

MESSAGE = ("You must wait 60 seconds after deleting a queue before you can create another "
           "with the same name.")


def queue_deleted_recently() -> Exception:
    from moto.sqs.exceptions import SQSException

    return SQSException("AWS.SimpleQueueService.QueueDeletedRecently", MESSAGE)


def install(cloud: Any) -> Callable[[], None] | None:
    from moto.sqs.models import SQSBackend

    lock = threading.Lock()
    deleted: dict[tuple[str, str, str], float] = {}   # (account, region, name) -> when

    def seconds() -> float:
        return cloud.profile.sqs_queue_deleted_recently_seconds

    def delete_queue(original: Callable) -> Callable:
        def hooked(self: Any, queue_name: str) -> Any:
            out = original(self, queue_name)
            if seconds() > 0:
                with lock:
                    deleted[(self.account_id, self.region_name, queue_name)] = time.monotonic()
            return out
        return hooked

    def create_queue(original: Callable) -> Callable:
        def hooked(self: Any, name: str, tags: Any = None, **kwargs: Any) -> Any:
            window = seconds()
            if window > 0:
                key = (self.account_id, self.region_name, name)
                with lock:
                    when = deleted.get(key)
                    if when is not None and time.monotonic() - when >= window:
                        del deleted[key]
                        when = None
                if when is not None and name not in self.queues:
                    raise queue_deleted_recently()
            return original(self, name, tags, **kwargs)
        return hooked

    cloud.hook(SQSBackend, "delete_queue", delete_queue)
    cloud.hook(SQSBackend, "create_queue", create_queue)
    return None
