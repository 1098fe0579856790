"""Lambda concurrency, held as AWS holds it.

- **Account limit**: at most `account_limit` execution environments run at once in the
  cloud (AWS: 1000 per Region by default; here sized to this machine: LocalCloud option
  `lambda_concurrency`, or `$LOCALCLOUD_LAMBDA_CONCURRENCY`, default 4 x CPU cores, at least 4).
- **Reserved concurrency** (PutFunctionConcurrency): a function with N reserved runs at most
  N at once, from its own pool; the others share what is left of the account limit
  (`account_limit` minus every reservation). N = 0 throttles every invoke, as on AWS.
- **Beyond the limit** a synchronous Invoke is refused at once: 429
  `TooManyRequestsException`, `{"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"
  | "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}`.
  Asynchronous invokes (Event, S3 notifications, schedules) wait for capacity, as AWS's
  internal queue retries throttled events. API Gateway waits up to its integration timeout
  (29 s) for an environment to free up (AWS would scale out instead; a laptop reuses warm
  ones), and only then answers as AWS does for a throttled Lambda: 500 Internal server error.
- **Initialisation** is bounded separately from the function's timeout: at most
  `init_slots` environments (default: CPU cores) start at once, so a burst of cold starts
  on a small machine does not make every one of them slow; waiting for a slot or for init
  never counts against the function's timeout.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

THROTTLE_MESSAGE = "Rate Exceeded."
RESERVED_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_REASON = "ConcurrentInvocationLimitExceeded"
RESERVED_TTL_S = 1.0


class Throttled(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_account_limit() -> int:
    raw = os.environ.get("LOCALCLOUD_LAMBDA_CONCURRENCY", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(4, 4 * cores())


def _reserved(fn: Any) -> int | None:
    value = fn.reserved_concurrency
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _reserved_total() -> int:
    """Every function's reserved concurrency, summed over the cloud."""
    from moto.awslambda.models import lambda_backends

    total = 0
    for _account, _region, backend in list(lambda_backends.iter_backends()):
        for entry in list(backend._lambdas._functions.values()):
            latest = entry.get("latest") if isinstance(entry, dict) else None
            n = _reserved(latest) if latest is not None else None
            total += n or 0
    return total


class Concurrency:
    def __init__(self, account_limit: int | None = None, init_slots: int | None = None):
        self.account_limit = int(account_limit or default_account_limit())
        self.init_slots = int(init_slots or cores())
        self._cv = threading.Condition()
        self._unreserved = 0
        self._per_function: dict[str, int] = {}
        self._reserved_cache: tuple[float, int] = (0.0, 0)
        self._inits = threading.BoundedSemaphore(self.init_slots)
        self.throttles = 0
        self.peak = 0

    def changed(self) -> None:
        """A reservation was put or deleted: recount at the next acquire."""
        self._reserved_cache = (0.0, 0)

    def _unreserved_limit(self) -> int:
        at, total = self._reserved_cache
        now = time.monotonic()
        if now - at > RESERVED_TTL_S:
            total = _reserved_total()
            self._reserved_cache = (now, total)
        return max(self.account_limit - total, 0)

    def acquire(self, fn: Any, wait_s: float = 0.0) -> tuple[str, bool]:
        """A slot for one invoke of fn; raises Throttled after wait_s without one."""
        key = f"{fn.account_id}:{fn.region}:{fn.function_name}"
        reserved = _reserved(fn)
        deadline = time.monotonic() + wait_s
        with self._cv:
            while True:
                running = self._per_function.get(key, 0)
                if reserved is not None:
                    if running < reserved:
                        self._per_function[key] = running + 1
                        return key, True
                    reason = RESERVED_REASON
                else:
                    if self._unreserved < self._unreserved_limit():
                        self._unreserved += 1
                        self._per_function[key] = running + 1
                        self.peak = max(self.peak, self._unreserved)
                        return key, False
                    reason = ACCOUNT_REASON
                left = deadline - time.monotonic()
                if left <= 0:
                    self.throttles += 1
                    raise Throttled(reason)
                self._cv.wait(min(left, RESERVED_TTL_S))

    def release(self, token: tuple[str, bool]) -> None:
        key, reserved = token
        with self._cv:
            n = self._per_function.get(key, 1) - 1
            if n > 0:
                self._per_function[key] = n
            else:
                self._per_function.pop(key, None)
            if not reserved:
                self._unreserved = max(self._unreserved - 1, 0)
            self._cv.notify_all()

    def init_slot(self) -> threading.BoundedSemaphore:
        """`with concurrency.init_slot():` around starting an execution environment."""
        return self._inits

    def in_flight(self) -> int:
        with self._cv:
            return sum(self._per_function.values())
