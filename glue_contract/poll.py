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
                sleep: Optional[Callable[[float], None]] = None, clock: Callable[[], float] = time.monotonic):
    sleep = sleep or time.sleep  # looked up per call, so a test's patched time.sleep is used
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


def delays(first: float, cap: float):
    """Pauses between polls: ``first``, doubling, then ``cap`` forever (0.25, 0.5, 1, 2, 3, 3...).

    A warm instance (or the local cloud) answers within a second, so short first polls cut
    the wait there; a slow one (a cold boot on AWS) soon polls every ``cap``."""
    delay = min(first, cap)
    while True:
        yield delay
        delay = min(delay * 2, cap)


def poll(step: Callable[[], object], *, deadline: float, first: float, cap: float,
         on_timeout: Callable[[], object], sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic):
    """``step()`` until it returns something other than None (returned), pausing per
    ``delays(first, cap)``; once ``clock()`` reaches ``deadline`` after a step that returned
    None, ``on_timeout()`` (which may raise) is returned. The one wait loop of the glue:
    the trigger, the worker, stop_ec2 and the S3 lock use it."""
    for delay in delays(first, cap):
        done = step()
        if done is not None:
            return done
        if clock() >= deadline:
            return on_timeout()
        sleep(delay)
