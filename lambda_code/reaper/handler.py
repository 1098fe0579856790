"""Reaper Lambda (EventBridge schedule, every minute): the safety net that stops a training
instance nobody else will stop.

Environment: ``INSTANCE_ID``, ``OUTPUT_BUCKET``, ``IDLE_GRACE_SECONDS`` (default 360; keep it
above the Worker's READY_TIMEOUT so an instance still booting for a Worker is not stopped).
Event: an EventBridge "Scheduled Event" (see events/scheduled.json); its content is not used.

If the instance is ``running``, no pipeline command is Pending/InProgress, and it has been
idle longer than the grace (since the last pipeline command ended, or since its LaunchTime
when no command ran since then), the reaper
- writes a ``failed`` run record for the last command if it ended TimedOut/Failed/Cancelled
  (or its run wrote no record), e.g. ``command timed out after 3600 s``; or, when no command
  was ever sent since the launch (a Worker that crashed or timed out before sending), a
  ``failed`` record saying so;
- stops the instance.

Bounds: a hung command is stopped within COMMAND_TIMEOUT + IDLE_GRACE_SECONDS + 60 s (the
executionTimeout ends it, then grace, then the next tick); a Worker that crashed before
sending within IDLE_GRACE_SECONDS + 60 s of the instance's start.

Only the standard library and boto3.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import re
import secrets

logger = logging.getLogger("mlpipe.reaper")
logger.setLevel(logging.INFO)

PIPELINE_COMMENT = "mlpipe training"
ACTIVE_STATUSES = ("Pending", "InProgress", "Delayed", "Cancelling")
BAD_END_STATUSES = ("TimedOut", "Failed", "Cancelled", "DeliveryTimedOut", "Undeliverable", "Terminated")
DEFAULT_GRACE_S = 360
_RUN_ID_RE = re.compile(r"run-\d{8}T\d{6}Z-[0-9a-f]{8}")
_CLIENTS: dict = {}


def log(event: str, **fields) -> None:
    logger.info(json.dumps({"event": event, **fields}, default=str))


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def iso(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(value) -> _dt.datetime | None:
    """A boto3 datetime or an SSM ISO string ('2024-05-01T12:00:00.123Z', '' when unset)."""
    if value in (None, ""):
        return None
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


def run_id_of(command: dict) -> str | None:
    m = _RUN_ID_RE.search(command.get("Comment") or "")
    return m.group(0) if m else None


def pipeline_commands(ssm, instance_id: str) -> list:
    out, kwargs = [], {"InstanceId": instance_id}
    while True:
        resp = ssm.list_commands(**kwargs)
        out += [c for c in resp.get("Commands", []) if (c.get("Comment") or "").startswith(PIPELINE_COMMENT)]
        if not resp.get("NextToken"):
            return out
        kwargs["NextToken"] = resp["NextToken"]


def describe_instance(ec2, instance_id: str) -> dict:
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {"state": inst["State"]["Name"], "launch_time": as_utc(inst.get("LaunchTime"))}


def invocation(ssm, command: dict, instance_id: str) -> dict:
    try:
        return ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
    except Exception as exc:  # noqa: BLE001 - invocation details are a nicety
        log("no_invocation", command_id=command.get("CommandId"), error=str(exc))
        return {}


def execution_timeout(command: dict) -> str:
    value = (command.get("Parameters") or {}).get("executionTimeout") or ["?"]
    return value[0]


def describe_failure(command: dict, inv: dict) -> str:
    status = inv.get("Status") or command.get("Status")
    run_id = run_id_of(command) or command.get("CommandId")
    if status == "TimedOut":
        head = f"command timed out after {execution_timeout(command)} s (run {run_id})"
    elif status in ("DeliveryTimedOut", "Undeliverable"):
        head = f"command was never delivered to the instance ({status}; run {run_id})"
    elif status == "Cancelled":
        head = f"command was cancelled (run {run_id})"
    else:
        code = inv.get("ResponseCode")
        head = f"command ended {status}" + (f" with exit code {code}" if code not in (None, -1) else "") + \
            f" and wrote no run record (run {run_id})"
    tail = (inv.get("StandardErrorContent") or "").strip().splitlines()[-10:]
    return head + ("; last lines of stderr:\n" + "\n".join(tail) if tail else "")


def decide(*, state: str, launch_time, commands: list, end_times: dict, now: _dt.datetime,
           grace_s: float) -> tuple:
    """``(action, reason, last_command)`` with action in none | wait | stop. Pure.

    ``end_times`` maps CommandId -> end datetime (or None when unknown)."""
    if state != "running":
        return "none", f"instance is {state}", None
    active = [c for c in commands if c.get("Status") in ACTIVE_STATUSES]
    if active:
        return "none", f"{len(active)} pipeline command(s) pending or in progress", None
    launch = as_utc(launch_time) or now
    last = max(commands, key=lambda c: as_utc(c.get("RequestedDateTime")) or launch, default=None)
    if last is not None and (as_utc(last.get("RequestedDateTime")) or launch) < launch:
        last = None  # it ran before this start of the instance
    if last is None:
        idle_since, what = launch, "the instance started and no training command was sent"
    else:
        end = end_times.get(last.get("CommandId")) or as_utc(last.get("RequestedDateTime")) or launch
        idle_since, what = max(end, launch), f"the last command ({last.get('Status')}) ended"
    idle_s = (now - idle_since).total_seconds()
    if idle_s <= grace_s:
        return "wait", f"{what} {idle_s:.0f} s ago (grace {grace_s:.0f} s)", last
    return "stop", f"idle: {what} {idle_s:.0f} s ago (grace {grace_s:.0f} s)", last


def failed_record(run_id: str, *, error: str, started_at: str, instance_id: str) -> dict:
    return {
        "run_id": run_id, "status": "failed", "started_at": started_at, "finished_at": iso(utcnow()),
        "inputs": [], "model_version": None, "metrics": {}, "error": error, "instance_id": instance_id,
        "trigger_keys": [], "timings": {}, "promoted": False, "previous_version": None,
        "rejected_files": [], "source": "reaper",
    }


def record_exists(s3, bucket: str, run_id: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=f"runs/{run_id}.json")
        return True
    except Exception as exc:  # botocore ClientError
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def handle(*, ec2, ssm, s3, instance_id: str, output_bucket: str, grace_s: float = DEFAULT_GRACE_S,
           now: _dt.datetime | None = None) -> dict:
    now = now or utcnow()
    inst = describe_instance(ec2, instance_id)
    commands = pipeline_commands(ssm, instance_id) if inst["state"] == "running" else []
    end_times, invs = {}, {}
    if inst["state"] == "running" and commands and not any(c.get("Status") in ACTIVE_STATUSES for c in commands):
        last = max(commands, key=lambda c: as_utc(c.get("RequestedDateTime")) or now)
        invs[last["CommandId"]] = inv = invocation(ssm, last, instance_id)
        end_times[last["CommandId"]] = as_utc(inv.get("ExecutionEndDateTime"))
    action, reason, last = decide(state=inst["state"], launch_time=inst["launch_time"], commands=commands,
                                  end_times=end_times, now=now, grace_s=grace_s)
    result = {"instance_id": instance_id, "state": inst["state"], "action": action, "reason": reason}
    if action == "stop":
        record = None
        if last is None:
            run_id = f"run-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"
            record = failed_record(
                run_id, instance_id=instance_id, started_at=iso(inst["launch_time"] or now),
                error=f"no training command was sent since the instance started ({reason}); the Worker "
                      "crashed or timed out before sending: stopped by the reaper",
            )
        else:
            run_id = run_id_of(last)
            inv = invs.get(last["CommandId"], {})
            status = inv.get("Status") or last.get("Status")
            if run_id and not record_exists(s3, output_bucket, run_id):
                error = describe_failure(last, inv) if status in BAD_END_STATUSES else (
                    f"command ended {status} but run {run_id} wrote no run record")
                started = as_utc(inv.get("ExecutionStartDateTime")) or as_utc(last.get("RequestedDateTime")) or now
                record = failed_record(run_id, instance_id=instance_id, started_at=iso(started),
                                       error=error + ": stopped by the reaper")
        if record is not None:
            s3.put_object(Bucket=output_bucket, Key=f"runs/{record['run_id']}.json",
                          Body=json.dumps(record, indent=2).encode(), ContentType="application/json")
            result["record"] = f"runs/{record['run_id']}.json"
            result["error"] = record["error"]
        ec2.stop_instances(InstanceIds=[instance_id])
        result["stopped"] = True
    log("decision", **result)
    return result


def _client(name: str):
    if name not in _CLIENTS:
        import boto3

        _CLIENTS[name] = boto3.client(name)
    return _CLIENTS[name]


def handler(event, context):
    return handle(
        ec2=_client("ec2"), ssm=_client("ssm"), s3=_client("s3"),
        instance_id=os.environ["INSTANCE_ID"], output_bucket=os.environ["OUTPUT_BUCKET"],
        grace_s=float(os.environ.get("IDLE_GRACE_SECONDS") or DEFAULT_GRACE_S),
    )
