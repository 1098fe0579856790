"""Timing helpers shared by the bench modules."""
from __future__ import annotations

import time


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``samples`` by nearest rank."""
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def time_ms(fn, n: int) -> list[float]:
    """``n`` wall-clock timings of ``fn()``, in milliseconds."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out
