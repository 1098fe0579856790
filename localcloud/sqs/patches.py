"""moto's SQS, patched where it answers a valid request with a 500 (tripwires in
tests/unit/test_localcloud_validation_rules.py).

- `SQSBackend.list_queues`: moto compiles `QueueNamePrefix` as a regular expression, so a
  prefix such as `[` raises; AWS matches it literally (ListQueues API reference: "Queue URLs
  and names are case-sensitive ... that begin with the specified value").
"""
from __future__ import annotations

import re
from typing import Any

HOOK_POINTS = [("moto.sqs.models", "SQSBackend", "list_queues")]


def install(cloud: Any) -> None:
    from moto.sqs.models import SQSBackend

    def literal_prefix(original):
        def list_queues(self, queue_name_prefix):
            return original(self, re.escape(queue_name_prefix) if queue_name_prefix else
                            queue_name_prefix)
        return list_queues

    cloud.hook(SQSBackend, "list_queues", literal_prefix)
