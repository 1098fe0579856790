"""CloudWatch Logs: Lambda output in moto's CloudWatch Logs backend."""
from __future__ import annotations

import time


def lambda_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def _logs_backend(account_id: str, region: str):
    from moto.logs.models import logs_backends
    return logs_backends[account_id][region]


def ensure_stream(account_id: str, region: str, group: str, stream: str) -> None:
    backend = _logs_backend(account_id, region)
    backend.ensure_log_group(group)
    if stream not in backend.groups[group].streams:
        backend.create_log_stream(group, stream)


def put_lines(account_id: str, region: str, group: str, stream: str,
              lines: list[str], timestamp_ms: int | None = None) -> None:
    """Append lines to a CloudWatch Logs stream in moto's backend (creating group/stream)."""
    if not lines:
        return
    ensure_stream(account_id, region, group, stream)
    ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    backend = _logs_backend(account_id, region)
    backend.put_log_events(group, stream, [{"timestamp": ts, "message": line} for line in lines])
    from ..core.cloud import state_changed
    state_changed()
