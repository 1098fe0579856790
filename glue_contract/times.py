"""Times: ISO 8601 UTC with milliseconds and a Z (``2024-05-01T12:00:00.123Z``)."""
from __future__ import annotations

import datetime as _dt

UTC = _dt.timezone.utc


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def iso(t: _dt.datetime | None = None) -> str:
    """``t`` (default now) as ISO 8601 UTC to the millisecond: a run's timeline is a few
    seconds long, whole seconds would blur it."""
    t = (t or utcnow())
    t = (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse(value) -> _dt.datetime | None:
    """A boto3 datetime, an ISO string (``...Z``, ``+00:00``, ``''`` when unset) or epoch
    seconds, as an aware UTC datetime; None when empty or unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return _dt.datetime.fromtimestamp(value, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)
