"""Stop-EC2 Lambda: a run record landed (``runs/*.json`` in the output bucket); stop the training
instance unless more work is pending.

Environment: ``INSTANCE_ID``, ``INPUT_BUCKET``, ``WORKER_FUNCTION``.
Event: an S3 ``ObjectCreated`` notification (see events/s3_run_record.json).

Decision, per record (one structured JSON log line each):
1. another pipeline command is Pending/InProgress on the instance -> ``keep_running``
   (that run writes its own record later, which comes back here);
2. the run listed its inputs and ``data/*.csv`` now holds keys (or new versions of keys) it did
   not train on (they arrived during the run; or the run failed by setting a bad file aside,
   and the last model, per the newest succeeded/rejected training record, lacks them) -> ``rerun``: invoke the Worker, don't stop;
3. otherwise -> ``stop`` (already stopped/stopping: nothing to do; ``pending``: someone
   just started it for new data, leave it).

The standard library, boto3 and ``glue_contract`` (shipped at the root of this zip).
"""
from __future__ import annotations

import json
import os
import time

from glue_contract import aws, keys, logs, poll, runs, times

OWN_COMMAND_WAIT_S = 20.0  # let the run's own command finish reporting before stopping
# Polls for that: the record is the run's last step, so its command usually ends within a
# fraction of a second (locally) or a few seconds (SSM's status lag on AWS): start short,
# double up to the cap.
OWN_POLL_FIRST_S = 0.1
OWN_POLL_MAX_S = 0.5


def log(event: str, **fields) -> None:
    logs.log(event, "mlpipe.stop_ec2", **fields)


def read_json(s3, bucket: str, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def is_own(command: dict, run_id: str | None) -> bool:
    """The command that ran ``run_id`` (the Worker puts the run id in the Comment)."""
    return bool(run_id) and run_id in (command.get("Comment") or "")


def other_active(commands: list, run_id: str | None) -> list:
    return [c for c in commands if runs.is_active(c) and not is_own(c, run_id)]


def data_objects(s3, bucket: str) -> dict:
    """``{key: etag}`` of every ``data/*.csv`` now in the input bucket."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.DATA_PREFIX):
        for obj in page.get("Contents", []):
            if keys.is_data_key(obj["Key"]):
                out[obj["Key"]] = obj.get("ETag", "").strip('"')
    return out


def set_files_aside(record: dict) -> bool:
    """The run failed because it set files aside: it trained none of its other inputs."""
    return record.get("status") == "failed" and any(r.get("moved_to") for r in record.get("rejected_files") or [])


LAST_TRAINED_LOOKBACK = 20  # run records read, newest first, to find the last model's inputs


def last_trained(s3, bucket: str, before_key: str) -> dict:
    """``{key: etag}`` the newest model (a training record ``succeeded`` or ``rejected``, older
    than ``before_key``) was trained on; ``{}`` when none is found among the last records."""
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=keys.RUNS_PREFIX):
        names += [o["Key"] for o in page.get("Contents", []) if keys.is_record_key(o["Key"]) and o["Key"] < before_key]
    for name in sorted(names, reverse=True)[:LAST_TRAINED_LOOKBACK]:
        rec = read_json(s3, bucket, name)
        if rec.get("source", "training") == "training" and rec.get("status") in ("succeeded", "rejected"):
            return dict(rec.get("input_etags") or {})
    return {}


def leftovers(record: dict, current: dict, trained: dict | None = None) -> list:
    """Data keys the run did not train on: new keys, or keys whose ETag changed since it listed
    them. After a run that failed by setting files aside (it trained none of its inputs):
    the keys the last model (``trained``) was not trained on; each such re-run sets at least
    one more file aside, so this ends."""
    if set_files_aside(record):
        trained = trained or {}
        return [k for k, etag in sorted(current.items()) if trained.get(k) != etag]
    inputs = set(record.get("inputs") or [])
    etags = record.get("input_etags") or {}
    out = []
    for key, etag in sorted(current.items()):
        if key not in inputs or (key in etags and etags[key] and etag and etags[key] != etag):
            out.append(key)
    return out


def checks_leftovers(record: dict) -> bool:
    """Only a training run that listed its inputs can have left data out. Records written by the
    Worker, the reaper or the shell trap list none; re-running on them could loop on a failure
    that repeats, so the next upload (or the reaper) takes over instead."""
    return record.get("source", "training") == "training" and bool(record.get("inputs"))


def wait_own_command(ssm, instance_id: str, run_id: str, *, max_wait_s: float, sleep=time.sleep,
                     clock=time.monotonic) -> list:
    """Poll (bounded) until the run's own command has finished; returns the last listing."""
    last = []

    def step():
        last[:] = [runs.pipeline_commands(ssm, instance_id)]
        own_active = [c for c in last[0] if is_own(c, run_id) and runs.is_active(c)]
        return None if own_active else last[0]

    return poll.poll(step, deadline=clock() + max_wait_s, first=OWN_POLL_FIRST_S, cap=OWN_POLL_MAX_S,
                     on_timeout=lambda: last[0], sleep=sleep, clock=clock)


def killed(record: dict) -> bool:
    """The instance's exit trap recorded a training step killed by a signal (``kill -9``, the
    OOM killer): what a hand stop is to the reaper, a lost run to re-do once."""
    code = record.get("exit_code")
    return record.get("source") == "run_training.sh" and isinstance(code, int) and code >= 128


def decide(record: dict, *, commands: list, current_data: dict | None, trained: dict | None = None) -> tuple:
    """``(action, reason, details)`` with action in keep_running | rerun | stop. Pure."""
    run_id = record.get("run_id")
    busy = other_active(commands, run_id)
    if busy:
        ids = [c.get("CommandId") for c in busy]
        return "keep_running", f"{len(busy)} other training command(s) pending or in progress", {"commands": ids}
    if killed(record):
        if record.get("retry_of"):  # a killed retry is recorded, not retried again (no loop)
            return "stop", (f"run {run_id} was killed (exit {record['exit_code']}) and was already the retry "
                            f"of {record['retry_of']}: not re-run again"), {}
        keys_ = sorted(record.get("trigger_keys") or (current_data or {}))
        if keys_:
            return "rerun", f"run {run_id} was killed (exit {record['exit_code']}): its data is trained once more", {
                "leftovers": keys_, "retry_of": run_id}
    if current_data is not None and checks_leftovers(record):
        left = leftovers(record, current_data, trained)
        if left:
            why = "are not in the last model (this run set a file aside)" if set_files_aside(record) else \
                f"arrived during run {run_id} and were not trained on"
            return "rerun", f"{len(left)} data file(s) {why}", {
                "leftovers": left}
    return "stop", f"run {run_id} ended {record.get('status')}; no other run pending", {}


def handle_record(bucket: str, key: str, *, s3, ec2, ssm, lam, instance_id: str, input_bucket: str,
                  worker_function: str, own_wait_s: float = OWN_COMMAND_WAIT_S, sleep=time.sleep,
                  clock=time.monotonic) -> dict:
    record = read_json(s3, bucket, key)
    run_id = record.get("run_id")
    commands = wait_own_command(ssm, instance_id, run_id, max_wait_s=own_wait_s, sleep=sleep, clock=clock)
    current = data_objects(s3, input_bucket) if checks_leftovers(record) or killed(record) else None
    listed_at = times.iso()  # every leftover was in the bucket by now
    trained = last_trained(s3, bucket, key) if current and set_files_aside(record) else None
    action, reason, details = decide(record, commands=commands, current_data=current, trained=trained)
    result = {"record": key, "run_id": run_id, "status": record.get("status"), "action": action,
              "reason": reason, **details}
    if action == "rerun":
        payload = {"instance_id": instance_id, "trigger_keys": details["leftovers"],
                   "requested_at": listed_at,
                   "reason": f"leftovers after {run_id}" if "retry_of" not in details else reason,
                   **({"retry_of": details["retry_of"]} if "retry_of" in details else {})}
        lam.invoke(FunctionName=worker_function, InvocationType="Event", Payload=json.dumps(payload).encode())
        result["worker_invoked"] = worker_function
    elif action == "stop":
        state = aws.instance_state(ec2, instance_id)
        result["state_before"] = state
        if state == "running":
            ec2.stop_instances(InstanceIds=[instance_id])
            result["stopped"] = True
        else:
            result["stopped"] = False
            result["note"] = {
                "stopped": "already stopped", "stopping": "already stopping",
                "pending": "starting for new data: left running",
            }.get(state, f"state {state}: nothing to stop")
    log("decision", **result)
    return result


def handle(event: dict, **kwargs) -> dict:
    results = [handle_record(b, k, **kwargs) for b, k, _ in runs.s3_records(event) if keys.is_record_key(k)]
    return {"decisions": results}


def handler(event, context):
    logs.bind(context, function="stop_ec2")
    return handle(
        event, s3=aws.client("s3"), ec2=aws.client("ec2"), ssm=aws.client("ssm"), lam=aws.client("lambda"),
        instance_id=os.environ["INSTANCE_ID"], input_bucket=os.environ["INPUT_BUCKET"],
        worker_function=os.environ["WORKER_FUNCTION"],
    )
