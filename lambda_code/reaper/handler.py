"""Reaper Lambda (EventBridge schedule, every minute): the safety net that records runs nobody
recorded and stops a training instance nobody else will stop.

Environment: ``INSTANCE_ID``, ``OUTPUT_BUCKET``, ``WORKER_FUNCTION``, ``IDLE_GRACE_SECONDS``
(default ``glue_contract.defaults.IDLE_GRACE_S``, 420; keep it above the Worker's
READY_TIMEOUT so an instance still booting for a Worker is not stopped).
Event: an EventBridge "Scheduled Event" (see events/scheduled.json); its content is not used.

Every tick, whatever the instance's state:
1. **lost runs**: a pipeline command that is over and left no ``runs/<run_id>.json`` gets a
   ``failed`` record saying why (timed out, failed with exit code N, the instance stopped or
   restarted under it) and the Worker is invoked once for its keys (``retry_of``), so its
   data is trained by a following run. A command is over when it ended, or when it is still
   listed as active but the instance is not running (stopped by hand, crashed) or was
   started again since (an active command from before the instance's current launch), and
   was requested more than the grace ago. A retry that is lost again is recorded, not retried.
2. **idle instance**: ``running``, no pipeline command Pending/InProgress, idle longer than
   the grace (since the last command ended, or since its LaunchTime when no command ran since
   then) -> stopped; with no command since the launch (a Worker that crashed before sending),
   a ``failed`` record says so.

Bounds: a hung command is stopped within COMMAND_TIMEOUT + IDLE_GRACE_SECONDS + 60 s; a run
whose instance was stopped under it is recorded within IDLE_GRACE_SECONDS + 60 s of its
request; a Worker that crashed before sending within IDLE_GRACE_SECONDS + 60 s of the start.

The standard library, boto3 and ``glue_contract`` (shipped at the root of this zip).
"""
from __future__ import annotations

import datetime as _dt
import json
import os

from glue_contract import aws, defaults, keys, logs, runs, times


def log(event: str, **fields) -> None:
    logs.log(event, "mlpipe.reaper", **fields)


def describe_instance(ec2, instance_id: str) -> dict:
    inst = aws.describe_instance(ec2, instance_id)
    return {"state": inst["State"]["Name"], "launch_time": times.parse(inst.get("LaunchTime"))}


def invocation(ssm, command: dict, instance_id: str) -> dict:
    try:
        return ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
    except Exception as exc:  # noqa: BLE001 - invocation details are a nicety
        log("no_invocation", command_id=command.get("CommandId"), error=str(exc))
        return {}


def execution_timeout(command: dict) -> str:
    value = (command.get("Parameters") or {}).get("executionTimeout") or ["?"]
    return value[0]


def _requested(command: dict, default):
    return times.parse(command.get("RequestedDateTime")) or default


# ---- lost runs -----------------------------------------------------------------------------

def lost_candidates(commands: list, *, state: str, launch_time, now: _dt.datetime, grace_s: float) -> list:
    """``[(command, why)]``: pipeline commands that are over, may have left no record, and are
    recent enough to look at. Pure (the record check is the caller's)."""
    launch = times.parse(launch_time)
    out = []
    for c in commands:
        requested = _requested(c, None)
        if requested is None or not runs.run_id_of(c):
            continue
        try:
            window = float(execution_timeout(c)) + grace_s + 3600
        except ValueError:
            window = defaults.COMMAND_TIMEOUT_S + grace_s + 3600
        age = (now - requested).total_seconds()
        if age > min(window, defaults.LOST_RUN_WINDOW_S):
            continue
        if not runs.is_active(c):
            out.append((c, "ended"))
        elif age > grace_s and state != "running":
            out.append((c, f"instance_{state}"))
        elif age > grace_s and launch is not None and requested < launch:
            out.append((c, "instance_restarted"))
    return out


def stderr_tail(s3, bucket: str | None, command: dict, instance_id: str, inv: dict, lines: int = 10) -> list:
    """The last ``lines`` of the command's stderr: from the full copy SSM wrote to S3 when it
    is there (GetCommandInvocation's StandardErrorContent stops at 8,000 characters, so its
    "last" lines may be from the middle), else from the invocation."""
    text = None
    if s3 is not None and bucket and command.get("CommandId"):
        key = keys.ssm_stderr_key(command["CommandId"], instance_id)
        try:
            text = s3.get_object(Bucket=bucket, Key=key)["Body"].read()[-65536:].decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - absent (no stderr, or an old command): use the invocation
            if aws.error_code(exc) not in aws.NOT_FOUND:
                log("no_stderr_copy", command_id=command.get("CommandId"), error=str(exc))
    if text is None:
        text = inv.get("StandardErrorContent") or ""
    return text.strip().splitlines()[-lines:]


def describe_failure(command: dict, inv: dict, why: str, tail: list | None = None) -> str:
    status = inv.get("Status") or command.get("Status")
    run_id = runs.run_id_of(command) or command.get("CommandId")
    if why.startswith("instance_") and why != "instance_restarted":
        head = (f"the instance was {why[len('instance_'):]} under run {run_id} (command still {status}): "
                "stopped by hand or crashed, the run wrote no record")
    elif why == "instance_restarted":
        head = f"the instance stopped and started again under run {run_id} (command still {status}); no record"
    elif status == "TimedOut":
        head = f"command timed out after {execution_timeout(command)} s (run {run_id})"
    elif status in ("DeliveryTimedOut", "Undeliverable"):
        head = f"command was never delivered to the instance ({status}; run {run_id})"
    elif status == "Cancelled":
        head = f"command was cancelled (run {run_id})"
    elif status in runs.BAD_END_STATUSES:
        code = inv.get("ResponseCode")
        head = f"command ended {status}" + (f" with exit code {code}" if code not in (None, -1) else "") + \
            f" and wrote no run record (run {run_id})"
    else:
        head = f"command ended {status} but run {run_id} wrote no run record"
    if tail is None:
        tail = (inv.get("StandardErrorContent") or "").strip().splitlines()[-10:]
    return head + ("; last lines of stderr:\n" + "\n".join(tail) if tail else "")


def record_lost_runs(commands: list, *, ssm, s3, lam, instance_id: str, output_bucket: str,
                     worker_function: str | None, state: str, launch_time, now, grace_s: float) -> list:
    """Write a failed record for every lost run and re-invoke the Worker once for its keys."""
    done = []
    for command, why in lost_candidates(commands, state=state, launch_time=launch_time, now=now, grace_s=grace_s):
        run_id = runs.run_id_of(command)
        if runs.record_exists(s3, output_bucket, run_id):
            continue
        inv = invocation(ssm, command, instance_id)
        trigger_keys = (runs.command_env(command, "MLPIPE_TRIGGER_KEYS") or "").split()
        retry_of = runs.command_env(command, "MLPIPE_RETRY_OF") or ""
        started = times.parse(inv.get("ExecutionStartDateTime")) or _requested(command, now)
        record = runs.failed_record(
            run_id, source="reaper",
            error=describe_failure(command, inv, why, stderr_tail(s3, output_bucket, command, instance_id, inv))
            + ": recorded by the reaper",
            started_at=times.iso(started), instance_id=instance_id, trigger_keys=trigger_keys,
            command_id=command.get("CommandId"), **({"retry_of": retry_of} if retry_of else {}))
        key = runs.write_record(s3, output_bucket, record)
        item = {"record": key, "error": record["error"], "why": why}
        if worker_function and not retry_of:
            payload = {"instance_id": instance_id, "trigger_keys": trigger_keys, "requested_at": times.iso(),
                       "retry_of": run_id, "reason": f"run {run_id} was lost ({why})"}
            lam.invoke(FunctionName=worker_function, InvocationType="Event", Payload=json.dumps(payload).encode())
            item["worker_invoked"] = worker_function
        elif retry_of:
            item["not_retried"] = f"run {run_id} was already the retry of {retry_of}"
        log("lost_run", run_id=run_id, **item)
        done.append(item)
    return done


# ---- the idle instance ---------------------------------------------------------------------

def decide(*, state: str, launch_time, commands: list, end_times: dict, now: _dt.datetime,
           grace_s: float) -> tuple:
    """``(action, reason, last_command)`` with action in none | wait | stop. Pure.

    ``end_times`` maps CommandId -> end datetime (or None when unknown)."""
    if state != "running":
        return "none", f"instance is {state}", None
    launch = times.parse(launch_time) or now
    current = [c for c in commands if _requested(c, launch) >= launch]  # sent since this start
    active = [c for c in current if runs.is_active(c)]
    if active:
        return "none", f"{len(active)} pipeline command(s) pending or in progress", None
    last = max(current, key=lambda c: _requested(c, launch), default=None)
    if last is None:
        idle_since, what = launch, "the instance started and no training command was sent"
    else:
        end = end_times.get(last.get("CommandId")) or _requested(last, launch)
        idle_since, what = max(end, launch), f"the last command ({last.get('Status')}) ended"
    idle_s = (now - idle_since).total_seconds()
    if idle_s <= grace_s:
        return "wait", f"{what} {idle_s:.0f} s ago (grace {grace_s:.0f} s)", last
    return "stop", f"idle: {what} {idle_s:.0f} s ago (grace {grace_s:.0f} s)", last


def handle(*, ec2, ssm, s3, lam=None, instance_id: str, output_bucket: str, worker_function: str | None = None,
           grace_s: float = defaults.IDLE_GRACE_S, now: _dt.datetime | None = None) -> dict:
    now = now or times.utcnow()
    inst = describe_instance(ec2, instance_id)
    commands = runs.pipeline_commands(ssm, instance_id)
    lost = record_lost_runs(commands, ssm=ssm, s3=s3, lam=lam, instance_id=instance_id, output_bucket=output_bucket,
                            worker_function=worker_function, state=inst["state"], launch_time=inst["launch_time"],
                            now=now, grace_s=grace_s)
    end_times = {}
    launch = inst["launch_time"] or now
    current = [c for c in commands if _requested(c, launch) >= launch]
    if inst["state"] == "running" and current and not any(runs.is_active(c) for c in current):
        last = max(current, key=lambda c: _requested(c, now))
        end_times[last["CommandId"]] = times.parse(invocation(ssm, last, instance_id).get("ExecutionEndDateTime"))
    action, reason, last = decide(state=inst["state"], launch_time=inst["launch_time"], commands=commands,
                                  end_times=end_times, now=now, grace_s=grace_s)
    if action == "stop" and any("worker_invoked" in item for item in lost):
        action, reason = "wait", "a lost run was just handed to the Worker, which uses the instance"
    result = {"instance_id": instance_id, "state": inst["state"], "action": action, "reason": reason}
    if lost:
        result["lost_runs"] = lost
    if action == "stop":
        if last is None:
            record = runs.failed_record(
                runs.new_run_id(now), source="reaper", instance_id=instance_id,
                started_at=times.iso(inst["launch_time"] or now),
                error=f"no training command was sent since the instance started ({reason}); the Worker "
                      "crashed or timed out before sending: stopped by the reaper",
            )
            result["record"] = runs.write_record(s3, output_bucket, record)
            result["error"] = record["error"]
        ec2.stop_instances(InstanceIds=[instance_id])
        result["stopped"] = True
    log("decision", **result)
    return result


def handler(event, context):
    logs.bind(context, function="reaper")
    return handle(
        ec2=aws.client("ec2"), ssm=aws.client("ssm"), s3=aws.client("s3"), lam=aws.client("lambda"),
        instance_id=os.environ["INSTANCE_ID"], output_bucket=os.environ["OUTPUT_BUCKET"],
        worker_function=os.environ.get("WORKER_FUNCTION") or None,
        grace_s=float(os.environ.get("IDLE_GRACE_SECONDS") or defaults.IDLE_GRACE_S),
    )
