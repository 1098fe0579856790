"""The HTTP client of the predict API (notebooks 05-07, tests, benchmarks).

The HTTP side uses only ``urllib`` (what a student's own client would use), so a notebook
cell shows exactly one request and its answer:

- ``post_predict(url, key, instances)`` -> ``Reply(status, body, seconds)``; never raises for
  an HTTP error status (a 400, 403 or 429 is an answer to look at, not an exception).
- ``burst_until_429(url, key, instances)``: back-to-back requests until the usage plan says 429.
- ``latency_sample(url, key, instances, n, rate=...)``: ``n`` requests paced under the usage
  plan's rate (so none is throttled), their round-trip seconds.

Tables (what was built, predictions against the truth, ``probe_table``: one request per
named body) are in ``mlpipe.tables``; the usage plan as deployed is ``api.deployed_throttle``.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import numpy as np




# --------------------------------------------------------------------------- requests


class Reply(NamedTuple):
    status: int
    body: Any          # the parsed JSON body, or the text when it is not JSON
    seconds: float     # round trip, as the client sees it

    @property
    def message(self) -> str:
        """The ``message`` of an error body (API Gateway's and the handler's), else ''."""
        if isinstance(self.body, dict):
            return str(self.body.get("message", ""))
        return str(self.body or "")


def instances_from(X, feature_names: Optional[Sequence[str]] = None) -> list[dict]:
    """Rows of a feature matrix as the API's ``instances``: one {feature: float} dict per row."""
    if feature_names is None:
        from model_code.schema import FEATURE_NAMES

        feature_names = FEATURE_NAMES
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(feature_names):
        raise ValueError(f"expected a matrix with {len(feature_names)} columns (one per feature), "
                         f"got shape {X.shape}")
    return [{name: float(v) for name, v in zip(feature_names, row)} for row in X]


def encode(instances=None, body=None) -> bytes:
    if body is not None:
        if instances is not None:
            raise ValueError("give instances or a raw body, not both")
        return body if isinstance(body, bytes) else str(body).encode("utf-8")
    if instances is None:
        raise ValueError("nothing to send: give instances (a list of rows) or a raw body")
    # allow_nan: a careless client does send NaN; the API must refuse it, so let it through here.
    return json.dumps({"instances": instances}, allow_nan=True).encode("utf-8")


def post_predict(url: str, key: Optional[str], instances: Optional[list] = None, *,
                 body: bytes | str | None = None, timeout: float = 30.0) -> Reply:
    """POST ``{"instances": instances}`` (or a raw ``body``) to ``url`` with ``x-api-key: key``.

    ``key=None`` sends no key. Returns the status, the body (parsed JSON when it is JSON)
    and the round-trip seconds; HTTP error statuses are returned, not raised. Network
    failures (nothing listening, timeout) raise ``OSError`` subclasses as urllib does.
    """
    return send(url, key, encode(instances, body), timeout)[0]


def send(url: str, key: Optional[str], data: bytes, timeout: float,
          headers: Optional[Mapping[str, str]] = None) -> tuple["Reply", str]:
    """One POST as a client sends it -> (the reply, its body text exactly as received)."""
    if not url:
        raise ValueError("no invoke URL: deploy the backend first (notebook 05, `mlpipe deploy --part backend`)")
    headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        headers["x-api-key"] = key
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    seconds = time.perf_counter() - start
    text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return Reply(status, parsed, seconds), text


LABELS = {0: "malignant", 1: "benign"}


@dataclass
class Exchange:
    """One request a client sends and the reply it gets, as a student should see it."""

    url: str
    key: Optional[str]
    instances: list
    reply: "Reply"
    raw: str                      # the reply body exactly as received
    true_labels: Optional[list] = None

    @property
    def labels(self) -> list:
        """The predictions as words, each with the model's probability of that class (a
        regression's value with None: it has no probability)."""
        body = self.reply.body if isinstance(self.reply.body, dict) else {}
        if body.get("labels") is not None and body.get("class_probabilities") is not None:
            return [(lab, float(cp[lab])) for lab, cp in zip(body["labels"], body["class_probabilities"])]
        if body.get("target") is not None:  # regression: values
            return [(f"{body['target']} = {float(v):.4g}", None) for v in body.get("predictions") or []]
        out = []
        for pred, p_benign in zip(body.get("predictions") or [], body.get("probabilities") or []):
            p = float(p_benign) if int(pred) == 1 else 1.0 - float(p_benign)
            out.append((LABELS.get(int(pred), str(pred)), p))
        return out

    def answer(self, i: int = 0) -> str:
        """Row ``i``'s answer in words: ``benign (probability 0.981)`` or ``rent = 1234``."""
        label, p = self.labels[i]
        return label if p is None else f"{label} (probability {p:.3f})"

    def __str__(self) -> str:
        from .status import mask

        body = json.dumps({"instances": self.instances}, indent=1)
        lines = [f"POST {self.url}",
                 "Content-Type: application/json",
                 f"x-api-key: {mask(self.key) if self.key else '(none)'}",
                 "",
                 body,
                 "",
                 f"-> HTTP {self.reply.status} in {self.reply.seconds * 1000:.0f} ms",
                 self.raw]
        for i, (label, p) in enumerate(self.labels):
            truth = ""
            if self.true_labels is not None and i < len(self.true_labels):
                t = self.true_labels[i]
                if isinstance(t, float) and p is None:  # a regression's true value
                    truth = f"; true value: {t:.4g}"
                else:
                    name = t if isinstance(t, str) else LABELS.get(int(t), t)
                    truth = f"; true label: {name} ({'right' if name == label else 'wrong'})"
            version = self.reply.body.get("model_version") if isinstance(self.reply.body, dict) else None
            shown = f" (probability {p:.3f})" if p is not None else ""
            lines.append(f"prediction: {label}{shown} by model {version}{truth}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def exchange(url: str, key: Optional[str], instances: list, *, true_labels=None,
             timeout: float = 30.0) -> Exchange:
    """POST ``instances`` and keep everything a client sees: URL, headers (key masked when
    shown), body, the raw reply and the prediction as a label with its probability."""
    reply, text = send(url, key, encode(instances), timeout)
    labels = None if true_labels is None else [v.item() if hasattr(v, "item") else v for v in true_labels]
    return Exchange(url, key, list(instances), reply, text, labels)


def until_served(url: str, key: Optional[str], instances: list, version: str, *, timeout: float = 45.0,
                 every: float = 1.0, true_labels=None) -> tuple:
    """Send ``instances`` every ``every`` seconds until the reply names model ``version``
    (the predict Lambda re-reads ``models/latest.json`` at most every MODEL_REFRESH_SECONDS).
    Returns ``(exchange, seconds waited)``; the last exchange if ``timeout`` passed first."""
    start = time.perf_counter()
    while True:
        ex = exchange(url, key, instances, true_labels=true_labels)
        served = ex.reply.body.get("model_version") if isinstance(ex.reply.body, dict) else None
        waited = time.perf_counter() - start
        if served == version or waited >= timeout:
            return ex, waited
        time.sleep(every)


def raw_body(instances: list, *, row: int, feature: str, raw: str) -> str:
    """The JSON body of ``instances`` with ``instances[row][feature]`` written as the literal
    text ``raw`` (say ``1e999``, which every JSON parser reads as infinity): what no
    ``json.dumps`` of Python values produces, but a client in another language may send."""
    if not 0 <= row < len(instances):
        raise ValueError(f"row {row} is not in 0..{len(instances) - 1}")
    if feature not in instances[row]:
        raise ValueError(f"row {row} has no feature {feature!r}")
    marker = "__RAW_VALUE__"
    rows = [dict(r) for r in instances]
    rows[row][feature] = marker
    return json.dumps({"instances": rows}, allow_nan=True).replace(json.dumps(marker), raw, 1)


@dataclass
class Burst:
    """What ``burst_until_429`` saw: the statuses in order and the first 429's message."""
    statuses: list = field(default_factory=list)
    seconds: float = 0.0
    message: str = ""

    @property
    def ok_before_429(self) -> int:
        """How many 200s came before the first 429 (all of them if none came)."""
        n = 0
        for s in self.statuses:
            if s == 429:
                break
            n += s == 200
        return n

    @property
    def got_429(self) -> bool:
        return 429 in self.statuses

    def summary(self) -> str:
        if not self.got_429:
            return (f"{len(self.statuses)} requests in {self.seconds:.2f} s, no 429: "
                    "the usage plan let every one through")
        return (f"{self.ok_before_429} x 200, then 429 {self.message!r} "
                f"(request {self.statuses.index(429) + 1}, {self.seconds:.2f} s after the first)")


def burst_until_429(url: str, key: Optional[str], instances: list, *, max_requests: int = 200,
                    settle: float = 0.0, timeout: float = 30.0,
                    sleep: Callable[[float], None] = time.sleep) -> Burst:
    """Send the same request back to back, as fast as one client can, until the first 429
    (or ``max_requests``). A non-200, non-429 status stops the loop too: it is a problem
    to look at, not throttling. ``settle`` seconds are waited first, so a usage plan's
    bucket emptied by earlier requests can refill (``burst / rate`` refills it entirely)."""
    if max_requests < 1:
        raise ValueError(f"max_requests must be >= 1, got {max_requests}")
    if settle < 0:
        raise ValueError(f"settle must be >= 0 seconds, got {settle}")
    if settle:
        sleep(settle)
    burst = Burst()
    start = time.perf_counter()
    for _ in range(max_requests):
        reply = post_predict(url, key, instances, timeout=timeout)
        burst.statuses.append(reply.status)
        if reply.status != 200:
            burst.message = reply.message
            break
    burst.seconds = time.perf_counter() - start
    return burst


@dataclass
class LatencySample:
    """Round-trip seconds of the 200 answers of ``latency_sample``, and every status seen."""
    seconds: list
    statuses: Counter
    elapsed: float

    def percentile(self, q: float) -> float:
        if not self.seconds:
            raise ValueError("no successful requests to take a percentile of")
        return float(np.percentile(self.seconds, q))

    def summary(self) -> str:
        if not self.seconds:
            return f"no 200 answers: {dict(self.statuses)}"
        ms = [1000 * s for s in self.seconds]
        return (f"{len(ms)} requests answered 200 in {self.elapsed:.1f} s: "
                f"p50 {np.percentile(ms, 50):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
                f"max {max(ms):.1f} ms; statuses {dict(sorted(self.statuses.items()))}")


def latency_sample(url: str, key: Optional[str], instances: list, n: int = 50, *,
                   rate: Optional[float] = None, headroom: float = 0.8, timeout: float = 30.0,
                   clock: Callable[[], float] = time.perf_counter,
                   sleep: Callable[[float], None] = time.sleep,
                   send: Optional[Callable[..., Reply]] = None) -> LatencySample:
    """``n`` requests, started no faster than ``headroom * rate`` a second (the usage plan's
    throttle rate; None or <= 0: back to back), so the plan does not throttle them. Only
    the 200 answers' seconds are kept; ``statuses`` counts everything (a 429 here means
    the pacing was too fast for the plan)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 < headroom <= 1:
        raise ValueError(f"headroom must be in (0, 1], got {headroom}")
    send = send or post_predict
    interval = 1.0 / (rate * headroom) if rate and rate > 0 else 0.0
    seconds, statuses = [], Counter()
    start = clock()
    next_at = start + interval  # the plan's bucket may be empty (a burst just before): wait one slot
    for _ in range(n):
        if interval:
            wait = next_at - clock()
            if wait > 0:
                sleep(wait)
            next_at = max(next_at, clock()) + interval
        reply = send(url, key, instances, timeout=timeout)
        statuses[reply.status] += 1
        if reply.status == 200:
            seconds.append(reply.seconds)
    return LatencySample(seconds, statuses, clock() - start)
