"""Lambda log shipping: START / the function's output / END / REPORT lines to CloudWatch Logs
/aws/lambda/<name>, off the invoke's path."""
from __future__ import annotations

import logging
import threading
import time

from ..logs import cloudwatch as logs

log = logging.getLogger("localcloud")

LOG_FLUSH_INTERVAL_S = 0.02  # Lambda log lines reach CloudWatch Logs within about this


class LogShipper:
    """Lambda log lines to CloudWatch Logs (moto's backend) off the invoke's path.

    `put` queues an invoke's lines (timestamped when queued); a background thread writes
    what has queued every LOG_FLUSH_INTERVAL_S, in order. `flush` writes everything queued
    now: the runtime calls it before any CloudWatch Logs API request is served, so a reader
    always sees the lines of every invoke that has returned.
    """

    def __init__(self, interval: float = LOG_FLUSH_INTERVAL_S):
        self.interval = interval
        self._pending: list[tuple] = []
        self._cv = threading.Condition()
        self._flush_lock = threading.Lock()  # keeps batches in order
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="localcloud-lambda-logs",
                                        daemon=True)
        self._thread.start()

    def put(self, account_id: str, region: str, group: str, stream: str,
            lines: list[str]) -> None:
        item = (account_id, region, group, stream, lines, int(time.time() * 1000))
        with self._cv:
            if self._closed:
                self._write([item])
                return
            self._pending.append(item)
            if len(self._pending) == 1:
                self._cv.notify()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        with self._flush_lock:
            with self._cv:
                batch, self._pending = self._pending, []
            if batch:
                self._write(batch)

    @staticmethod
    def _write(batch: list[tuple]) -> None:
        for account, region, group, stream, lines, ts in batch:
            try:
                logs.put_lines(account, region, group, stream, lines, timestamp_ms=ts)
            except Exception:  # noqa: BLE001 - logging must not fail anything else
                log.exception("writing Lambda logs to %s failed", group)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
            time.sleep(self.interval)  # let an invoke burst gather into one batch
            self.flush()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5)
        self.flush()
