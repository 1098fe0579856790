"""Watch the training chain from the operator's side: upload -> run record -> instance stopped.

``wait_for_run`` polls the output bucket for a run record newer than a moment and the
instance's state, printing one line whenever something changes (so a notebook shows
progress on a long wait), and returns the record once the instance is stopped again.
``run_timeline`` rebuilds what happened during one run from the run record, the S3
objects and the Lambdas' CloudWatch Logs, for the timeline plot.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Callable

from botocore.exceptions import ClientError

from .clients import is_not_found
from .config import MlpipeError
from .instance import find_instance, instance_state
from .runs import list_runs
from .stack import Stack


class WaitTimeout(MlpipeError):
    """The chain did not reach the expected state in time."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def runs_since(stack: Stack, since: datetime) -> list:
    """Run records whose run started at or after ``since`` (oldest first)."""
    out = []
    for record in list_runs(stack):
        started = _parse(record.get("started_at")) or _parse(record.get("finished_at"))
        if started is not None and started >= since.replace(microsecond=0):
            out.append(record)
    return out


def wait_for_run(stack: Stack, since: datetime, *, expect_inputs: list[str] | None = None,
                 timeout: float = 180, poll: float = 0.5, progress: Callable = print) -> dict:
    """Wait until a run that started after ``since`` has written its record and the
    instance is stopped again; return that record (the newest one).

    ``expect_inputs``: data keys the run must have trained on (for uploads that
    land while another run is in progress, the following run covers them).
    """
    names = stack.names
    inst = find_instance(stack)
    if inst is None:
        raise MlpipeError("no training instance: run `mlpipe deploy --part glue` (notebook 04) first")
    instance_id = inst["InstanceId"]
    t0 = time.monotonic()
    last_line = None
    wanted = set(expect_inputs or [])
    while True:
        elapsed = time.monotonic() - t0
        state = instance_state(stack, instance_id)
        records = runs_since(stack, since)
        # a run that failed before listing the data (worker, crash) names its trigger keys only
        done = [r for r in records if wanted <= set(r.get("inputs") or []) | set(r.get("trigger_keys") or [])]
        newest = done[-1] if done else None
        line = f"instance {state:<8}  runs finished since upload: {len(records)}"
        if newest:
            line += f"  last: {newest['run_id']} {newest['status']} {newest.get('model_version') or ''}"
        if line != last_line:
            progress(f"[{elapsed:5.1f} s] {line}")
            last_line = line
        if newest is not None and state == "stopped":
            return newest
        if elapsed > timeout:
            raise WaitTimeout(
                f"after {timeout:.0f} s: instance {state}, {len(records)} run record(s) since "
                f"{since.isoformat(timespec='seconds')}{runs_summary(records, wanted)}; see `mlpipe runs` "
                f"and the Lambdas' logs (`localcloud logs {names.function('worker')}` locally, "
                "CloudWatch on AWS)")
        time.sleep(poll)


def runs_summary(records: list, wanted: set) -> str:
    """What each run since the upload did with the files waited for, and the files no run
    covered: the part of a timeout's message that says where to look. Pure."""
    if not records and not wanted:
        return ""
    parts = []
    covered: set = set()
    for r in records:
        seen = set(r.get("inputs") or []) | set(r.get("trigger_keys") or [])
        covered |= seen & wanted
        what = f"{r.get('run_id')} {r.get('status')}"
        if wanted:
            what += f", {len(seen & wanted)} of the {len(wanted)} uploaded file(s)"
        if r.get("error"):
            what += f": {str(r['error'])[:200]}"
        parts.append(what)
    missing = sorted(wanted - covered)
    text = " (" + "; ".join(parts) + ")" if parts else ""
    if missing:
        text += f"; no run covered {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
    return text


def upload_and_wait(stack: Stack, paths: list, *, timeout: float = 180, force: bool = False,
                    progress: Callable = print) -> dict:
    """Upload data files and wait for the run that trains on all of them."""
    from .buckets import upload_data

    since = utcnow()
    keys = upload_data(stack.with_progress(progress), paths, force=force)
    # A file that fails validation is set aside (moved to rejected/): don't require it.
    expect = None if force else keys
    return wait_for_run(stack, since, expect_inputs=expect, timeout=timeout, progress=progress)


def _log_events(stack: Stack, group: str, start: datetime, end: datetime) -> list:
    logs = stack.client("logs")
    events = []
    kwargs = {"logGroupName": group, "startTime": int(start.timestamp() * 1000) - 1000,
              "endTime": int(end.timestamp() * 1000) + 60_000}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            events.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = token
    except ClientError as exc:
        if is_not_found(exc):
            return []
        raise
    return events


def _structured(message: str) -> dict | None:
    """The JSON object a handler logged (``[INFO]\\t<time>\\t<request id>\\t{...}``)."""
    start = message.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(message[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


def run_timeline(stack: Stack, record: dict) -> list:
    """Moments of one run, as ``[(label, seconds from upload)]`` in time order.

    Sources: the uploaded objects' LastModified (upload), the trigger, worker and
    stop_ec2 logs (trigger ran, instance running, command sent, instance stopped),
    and the run record itself (training started/finished, record written).
    """
    names = stack.names
    s3 = stack.client("s3")
    started = _parse(record.get("started_at"))
    finished = _parse(record.get("finished_at"))
    if started is None or finished is None:
        raise MlpipeError(f"run {record.get('run_id')} has no start/finish times")
    moments: list = []

    uploads = []
    for key in record.get("inputs") or []:
        try:
            head = s3.head_object(Bucket=names.input_bucket, Key=key)
        except ClientError:
            continue
        if head["LastModified"] <= started:
            uploads.append(head["LastModified"])
    upload_at = max(uploads) if uploads else started
    moments.append(("data uploaded", upload_at))

    window_end = finished
    for fn, wanted in (("trigger", {"worker_invoked": "trigger started instance, invoked worker"}),
                       ("worker", {"instance_running": "instance running",
                                   "command_sent": "SSM command sent"}),
                       ("stop_ec2", {"decision": "stop_ec2 decided"})):
        for ev in _log_events(stack, names.log_group(fn), upload_at, window_end):
            at = datetime.fromtimestamp(ev["timestamp"] / 1000, timezone.utc)
            data = _structured(ev.get("message", ""))
            if not data or data.get("event") not in wanted:
                continue
            if fn == "stop_ec2":
                if data.get("run_id") not in (None, record.get("run_id")):
                    continue
                label = f"stop_ec2: {data.get('action', data.get('decision', 'decided'))}"
            else:
                if not (upload_at <= at <= finished):
                    continue
                label = wanted[data["event"]]
            moments.append((label, at))

    timings = record.get("timings") or {}
    train_start = started
    if isinstance(timings.get("download_s"), (int, float)):
        from datetime import timedelta

        train_start = started + timedelta(seconds=timings["download_s"])
    moments.append(("training started", train_start))
    moments.append((f"run record written ({record.get('status')})", finished))
    t0 = upload_at
    out = sorted(((label, (at - t0).total_seconds()) for label, at in moments), key=lambda m: m[1])
    # keep the first of each label (the chain may log a step more than once)
    seen, unique = set(), []
    for label, secs in out:
        if label not in seen:
            seen.add(label)
            unique.append((label, round(secs, 2)))
    return unique
