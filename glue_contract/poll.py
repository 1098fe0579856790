"""One retry helper for calls AWS refuses for a while and then accepts (standard library only).

``retry_while(call, reason, timeout=..., every=...)`` calls ``call()``; when it raises and
``reason(exc)`` names why to wait (a string), it waits ``every`` seconds (doubling up to
``cap``), says so through ``say``, and calls again until ``timeout`` seconds have passed;
then, or when ``reason`` returns None, the exception is raised as it came.
"""
from __future__ import annotations

import time
from typing import Callable, Optional


def retry_while(call: Callable, reason: Callable[[BaseException], Optional[str]], *, timeout: float,
                every: float = 1.0, cap: float = 10.0, say: Callable[[str], None] = lambda _l: None,
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
    start = clock()
    delay = every
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - reason() decides, everything else re-raises
            why = reason(exc)
            waited = clock() - start
            if why is None or waited + delay > timeout:
                raise
            say(f"  {why}: waiting ({waited:.0f} s of at most {timeout:.0f} s)")
            sleep(delay)
            delay = min(cap, delay * 2)
