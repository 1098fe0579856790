"""The request gate of the durable state (`localcloud.core.state`): a snapshot waits for the
moto requests in flight and holds new ones back, so it never sees half of a request; and
`may_mutate`, which tells the requests that only read from those that may change something.
"""
from __future__ import annotations

import threading
import time
from .body import BodyUnreadable, read_body

_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Filter", "Lookup", "Search", "Query",
                  "Batch Get", "Scan", "Test", "Simulate", "Preview", "Check")


# ---------------------------------------------------------------------------------------
# The gate: snapshots never see half of a request
# ---------------------------------------------------------------------------------------
class Gate:
    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._active = 0
        self._closed = False

    def enter(self) -> None:
        with self._cv:
            while self._closed:
                self._cv.wait()
            self._active += 1

    def exit(self) -> None:
        with self._cv:
            self._active -= 1
            if self._active == 0:
                self._cv.notify_all()

    def close(self, wait_s: float) -> bool:
        """Hold new requests back; True once none is in flight (False after wait_s)."""
        deadline = time.monotonic() + wait_s
        with self._cv:
            self._closed = True
            while self._active > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            return True

    def open(self) -> None:
        with self._cv:
            self._closed = False
            self._cv.notify_all()


def _op_name(environ: dict) -> str | None:
    """The AWS operation of a JSON- or query-protocol request, when cheap to tell."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rpartition(".")[2]
    qs = environ.get("QUERY_STRING", "")
    if "Action=" in qs:
        for part in qs.split("&"):
            if part.startswith("Action="):
                return part[7:]
    ctype = environ.get("CONTENT_TYPE", "")
    length = environ.get("CONTENT_LENGTH") or ""
    if ctype.startswith("application/x-www-form-urlencoded") and length.isdigit() and \
            0 < int(length) <= 65536:
        try:
            body = read_body(environ)
        except BodyUnreadable:
            return None
        for part in body.split(b"&"):
            if part.startswith(b"Action="):
                return part[7:].decode("latin-1")
    return None


def may_mutate(environ: dict) -> bool:
    """False for requests that only read (GET/HEAD/OPTIONS outside the API data plane, and
    Describe*/List*/Get*... operations), True for everything else."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if method in ("GET", "HEAD", "OPTIONS"):
        return "/_user_request_" in path  # API data plane: usage counters move
    if path.startswith("/_localcloud/"):
        return False
    op = _op_name(environ)
    return not (op and op.startswith(_READ_PREFIXES))
