"""Worker Lambda: waits until the training instance can take commands, then sends the SSM Run
Command that fetches the code archive from S3 and runs ``ec2_scripts/run_training.sh``.

Environment: ``INSTANCE_ID``, ``INPUT_BUCKET``, ``OUTPUT_BUCKET``, ``CODE_KEY``,
``COMMAND_TIMEOUT`` (s, the command's executionTimeout), ``READY_TIMEOUT`` (s),
``PROMOTION_TOLERANCE``, ``MODEL_KIND`` (defaults: ``glue_contract.defaults``).
Event (asynchronous, from Trigger, Stop-EC2 or the reaper):
``{"instance_id", "trigger_keys", "requested_at"}``; ``requested_at`` is a time at which the
trigger keys were already in the input bucket.

- One decision at a time: "is a run already queued?" and the send happen under a lock in
  the output bucket (``locks/worker-send.json``, S3 conditional writes, expiring), so ten
  quick uploads cannot each see "nothing queued" and each send a run.
- Coalescing: no command is sent when a pipeline command (in progress or over) was
  requested after ``requested_at`` (it listed the data after these keys arrived, so it
  trains them), nor when two are Pending/InProgress (one training, one queued on the
  instance's lock: the queued one lists the data when it starts; Stop-EC2's leftover check
  is the safety net). The first rule is checked before the instance is started too, so a
  late Worker does not start an instance its keys no longer need.
- Any failure before the command is sent writes a ``failed`` run record
  (``runs/<run_id>.json``, which fires Stop-EC2, so the instance is stopped) and re-raises.

The standard library, boto3 and ``glue_contract`` (shipped at the root of this zip).
"""
from __future__ import annotations

import os
import re
import shlex
import time

from glue_contract import aws, defaults, keys, lock, logs, poll, runs, times

POLL_S = 3.0        # the longest pause between two polls (instance state, SSM registration)
FIRST_POLL_S = 0.25  # the first pause: polls start short and double up to POLL_S


def log(event: str, **fields) -> None:
    logs.log(event, "mlpipe.worker", **fields)


# ---- configuration -------------------------------------------------------------------------

def config_from_env(env=os.environ) -> dict:
    missing = [k for k in ("INSTANCE_ID", "INPUT_BUCKET", "OUTPUT_BUCKET") if not env.get(k)]
    if missing:
        raise RuntimeError(f"worker misconfigured: environment variable(s) {', '.join(missing)} not set")
    return {
        "instance_id": env["INSTANCE_ID"],
        "input_bucket": env["INPUT_BUCKET"],
        "output_bucket": env["OUTPUT_BUCKET"],
        "code_key": env.get("CODE_KEY") or keys.CODE_KEY,
        "command_timeout": int(env.get("COMMAND_TIMEOUT") or defaults.COMMAND_TIMEOUT_S),
        "ready_timeout": float(env.get("READY_TIMEOUT") or defaults.READY_TIMEOUT_S),
        "tolerance": float(env.get("PROMOTION_TOLERANCE") or defaults.PROMOTION_TOLERANCE),
        "model_kind": env.get("MODEL_KIND") or defaults.MODEL_KIND,
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
    }


# ---- instance and commands -----------------------------------------------------------------

def wait_until_running(ec2, instance_id: str, *, deadline: float, sleep=time.sleep, clock=time.monotonic,
                       poll_s: float = POLL_S) -> str:
    """Poll until ``running``; start it if it is ``stopped`` (e.g. stopped by Stop-EC2 between
    Trigger and now), wait through ``stopping``/``pending``. TimeoutError at ``deadline``."""
    t0 = clock()
    seen = {}

    def step():
        state = seen["state"] = aws.instance_state(ec2, instance_id)
        if state == "running":
            log("instance_running", instance_id=instance_id, waited_s=round(clock() - t0, 1))
            return state
        if state in ("terminated", "shutting-down"):
            raise RuntimeError(f"training instance {instance_id} is {state}: redeploy the stack (mlpipe deploy)")
        if state == "stopped":
            try:
                ec2.start_instances(InstanceIds=[instance_id])
                log("instance_started", instance_id=instance_id)
            except Exception as exc:  # botocore ClientError
                if aws.error_code(exc) != "IncorrectInstanceState":
                    raise
        if clock() < deadline:
            log("waiting_for_instance", instance_id=instance_id, state=state, waited_s=round(clock() - t0, 1))
        return None

    def timed_out():
        raise TimeoutError(f"instance {instance_id} not running after {clock() - t0:.0f} s (state {seen['state']!r})")

    return poll.poll(step, deadline=deadline, first=FIRST_POLL_S, cap=poll_s, on_timeout=timed_out,
                     sleep=sleep, clock=clock)


def trained_by(commands: list, requested_at) -> dict | None:
    """A pipeline command requested after ``requested_at`` (it lists the keys), or None. Pure."""
    since = times.parse(requested_at)
    if since is None:
        return None
    return next((c for c in commands if (times.parse(c.get("RequestedDateTime")) or since) > since), None)


def coalesce_reason(commands: list, requested_at) -> str | None:
    """Why no command need be sent (None: send one). Pure.

    ``commands``: the instance's pipeline commands. One requested after ``requested_at``
    (when the trigger keys were in the bucket), running or over, listed the data after that,
    so it trains (or trained) them: a run that ends without training them is re-run by
    Stop-EC2 (files set aside) or the reaper (a lost run). Two active commands mean one is
    queued, which lists the data when it starts."""
    c = trained_by(commands, requested_at)
    if c is not None:
        return (f"command {c.get('CommandId')} ({runs.run_id_of(c)}, {c.get('Status')}) was requested "
                f"after these keys arrived ({requested_at}): it trains them")
    active = [c for c in commands if runs.is_active(c)]
    if len(active) >= defaults.COALESCE_AT:
        return f"{len(active)} pipeline commands already pending/in progress; the queued one will see this data"
    return None


# Runs on the instance: fetch the code archive and unpack it into the run dir; with an ETag,
# fetch exactly that object (If-Match) and keep an unpacked copy in $MLPIPE_HOME/code/<etag>,
# so later runs of the same code skip this python + boto3 start (~0.5-2 s) and the download.
FETCH_CODE = """\
import os, shutil, tempfile, zipfile
import boto3
from botocore.exceptions import ClientError
bucket, key = os.environ['MLPIPE_INPUT_BUCKET'], os.environ['MLPIPE_CODE_KEY']
etag = os.environ.get('MLPIPE_CODE_ETAG', '')
s3 = boto3.client('s3')
try:
    body = s3.get_object(Bucket=bucket, Key=key, **({'IfMatch': '"%s"' % etag} if etag else {}))['Body'].read()
except ClientError as exc:
    if exc.response.get('Error', {}).get('Code') not in ('PreconditionFailed', '412'):
        raise
    body, etag = s3.get_object(Bucket=bucket, Key=key)['Body'].read(), ''  # replaced meanwhile: no cache
with open('mlpipe-code.zip', 'wb') as fh:
    fh.write(body)
zipfile.ZipFile('mlpipe-code.zip').extractall('.')
if etag:
    cache = os.path.join(os.environ['MLPIPE_HOME'], 'code')
    os.makedirs(cache, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=cache, prefix='.partial-')
    zipfile.ZipFile('mlpipe-code.zip').extractall(tmp)
    try:
        os.rename(tmp, os.path.join(cache, etag))
    except OSError:  # another run cached it first
        shutil.rmtree(tmp, ignore_errors=True)
"""
_ETAG_RE = re.compile(r"^[0-9A-Za-z-]{1,64}$")


def code_etag(s3, bucket: str, key: str) -> str:
    """The code archive's ETag (no quotes), or "" when it cannot be read (then the instance
    downloads the archive without caching it)."""
    try:
        etag = s3.head_object(Bucket=bucket, Key=key).get("ETag", "").strip('"')
    except Exception as exc:  # noqa: BLE001 - caching is an optimisation; the fetch reports real errors
        log("code_etag_unavailable", bucket=bucket, key=key, error=str(exc))
        return ""
    return etag if _ETAG_RE.match(etag) else ""


def build_commands(*, run_id: str, input_bucket: str, output_bucket: str, code_key: str, tolerance: float,
                   model_kind: str, instance_id: str, trigger_keys, region: str, code_etag: str = "",
                   retry_of: str = "") -> list:
    """The AWS-RunShellScript lines: into a per-run dir under $HOME/mlpipe, copy the unpacked
    code archive cached for ``code_etag`` or fetch and unzip it with python3+boto3 (no aws CLI
    needed); then run ec2_scripts/run_training.sh."""
    q = shlex.quote
    if code_etag and not _ETAG_RE.match(code_etag):
        raise ValueError(f"code_etag {code_etag!r} is not an S3 ETag")
    env = {
        "MLPIPE_RUN_ID": run_id,
        "MLPIPE_INPUT_BUCKET": input_bucket,
        "MLPIPE_OUTPUT_BUCKET": output_bucket,
        "MLPIPE_CODE_KEY": code_key,
        "MLPIPE_CODE_ETAG": code_etag,
        "MLPIPE_PROMOTION_TOLERANCE": repr(float(tolerance)),
        "MLPIPE_MODEL_KIND": model_kind,
        "MLPIPE_INSTANCE_ID": instance_id,
        "MLPIPE_TRIGGER_KEYS": " ".join(trigger_keys),
        "MLPIPE_RETRY_OF": retry_of,  # the lost run this one re-does (the reaper retries once)
    }
    return [
        "set -euo pipefail",
        'export HOME="${HOME:-/root}"',
        'export PATH="/opt/mlpipe/venv/bin:$PATH"',
        f'export AWS_DEFAULT_REGION="${{AWS_DEFAULT_REGION:-{region}}}"',
        *[f"export {k}={q(v)}" for k, v in env.items()],
        'export MLPIPE_HOME="$HOME/mlpipe"',
        # runs and cached code older than a day are removed, so the disk does not fill up
        'mkdir -p "$MLPIPE_HOME/runs" "$MLPIPE_HOME/code"',
        'find "$MLPIPE_HOME/runs" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + || true',
        'find "$MLPIPE_HOME/code" -mindepth 1 -maxdepth 1 ! -name "${MLPIPE_CODE_ETAG:-.}" -mmin +1440 '
        '-exec rm -rf {} + || true',
        'cd "$MLPIPE_HOME/runs" && mkdir "$MLPIPE_RUN_ID" && cd "$MLPIPE_RUN_ID"',
        'if [ -n "$MLPIPE_CODE_ETAG" ] && [ -d "$MLPIPE_HOME/code/$MLPIPE_CODE_ETAG" ]; then',
        '  cp -R "$MLPIPE_HOME/code/$MLPIPE_CODE_ETAG/." .',
        "else",
        f"  python3 -c {q(FETCH_CODE)}",
        "fi",
        "bash ec2_scripts/run_training.sh",
    ]


def send_command(ssm, instance_id: str, commands: list, *, comment: str, execution_timeout: int,
                 output_bucket: str | None = None) -> str:
    """One SendCommand (AWS-RunShellScript); returns the command id. With ``output_bucket``,
    SSM also writes the whole stdout/stderr to ``ssm-output/`` there (GetCommandInvocation
    cuts stderr at 8,000 characters; the reaper reads the tail from S3)."""
    extra = {"OutputS3BucketName": output_bucket,
             "OutputS3KeyPrefix": keys.SSM_OUTPUT_PREFIX.rstrip("/")} if output_bucket else {}
    resp = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Comment=comment,
        Parameters={"commands": commands, "executionTimeout": [str(int(execution_timeout))]},
        TimeoutSeconds=defaults.DELIVERY_TIMEOUT_S,
        **extra,
    )
    return resp["Command"]["CommandId"]


def until_ssm_accepts(attempt, instance_id: str, *, deadline: float, sleep=time.sleep, clock=time.monotonic,
                      poll_s: float = POLL_S, ensure_running=None):
    """``attempt()``, repeated while SSM answers InvalidInstanceId (what it answers until the
    instance's agent has registered), until ``deadline``; returns what ``attempt`` returns.
    The wait is ``glue_contract.poll.poll``'s.

    ``ensure_running()`` is called before each retry: if the instance was stopped meanwhile
    (a Stop-EC2 or reaper decision that raced with this run), it is started again."""
    t0 = clock()
    seen = {"tries": 0, "error": None}

    def step():
        if seen["tries"] and ensure_running is not None:
            ensure_running()
        seen["tries"] += 1
        try:
            return attempt()
        except Exception as exc:  # botocore ClientError
            if aws.error_code(exc) != "InvalidInstanceId":
                raise
            seen["error"] = exc
        if clock() < deadline:
            log("waiting_for_ssm", instance_id=instance_id, attempt=seen["tries"], waited_s=round(clock() - t0, 1))
        return None

    def timed_out():
        raise TimeoutError(
            f"SSM did not accept commands for {instance_id} within {clock() - t0:.0f} s "
            f"({seen['tries']} attempts; is the SSM agent running and the instance profile attached?)"
        ) from seen["error"]

    return poll.poll(step, deadline=deadline, first=FIRST_POLL_S, cap=poll_s, on_timeout=timed_out,
                     sleep=sleep, clock=clock)


def decide_and_send(*, ssm, s3, config: dict, instance_id: str, run_id: str, trigger_keys: list,
                    requested_at, commands: list, deadline: float, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Under the send lock (held for one listing and one SendCommand): coalesce, or send."""
    bucket = config["output_bucket"]
    held = lock.acquire(s3, bucket, keys.SEND_LOCK_KEY, run_id, ttl_s=defaults.SEND_LOCK_TTL_S,
                        deadline=deadline, sleep=sleep, clock=clock)
    try:
        commands_now = runs.pipeline_commands(ssm, instance_id)
        reason = coalesce_reason(commands_now, requested_at)
        if reason:
            ids = [c["CommandId"] for c in commands_now if runs.is_active(c)]
            log("coalesced", instance_id=instance_id, trigger_keys=trigger_keys, active=ids, reason=reason)
            return {"action": "coalesced", "run_id": None, "active": ids, "reason": reason}
        command_id = send_command(ssm, instance_id, commands, comment=runs.command_comment(run_id, trigger_keys),
                                  execution_timeout=config["command_timeout"], output_bucket=bucket)
        return {"action": "sent", "run_id": run_id, "command_id": command_id}
    finally:
        lock.release(s3, bucket, keys.SEND_LOCK_KEY, run_id, held)


def handle(event: dict, *, ec2, ssm, s3, config: dict, deadline: float | None = None, sleep=time.sleep,
           clock=time.monotonic) -> dict:
    """Wait for the instance; then coalesce or send (under the send lock), repeated until SSM
    accepts commands. Returns what it did; on failure records it and raises."""
    run_id = runs.new_run_id()
    started_at = times.iso()
    instance_id = event.get("instance_id") or config["instance_id"]
    trigger_keys = list(event.get("trigger_keys") or [])
    if deadline is None:
        deadline = clock() + config["ready_timeout"]
    log("request", run_id=run_id, instance_id=instance_id, trigger_keys=trigger_keys,
        requested_at=event.get("requested_at"), retry_of=event.get("retry_of"))

    def running():
        return wait_until_running(ec2, instance_id, deadline=deadline, sleep=sleep, clock=clock)

    try:
        # A command requested after these keys arrived stays so: decide that before starting
        # the instance (a late Worker must not start an instance its run no longer needs).
        commands_before = runs.pipeline_commands(ssm, instance_id)
        early = trained_by(commands_before, event.get("requested_at")) and coalesce_reason(
            commands_before, event.get("requested_at"))
        if early:
            log("coalesced", instance_id=instance_id, trigger_keys=trigger_keys, reason=early, before_start=True)
            return {"action": "coalesced", "run_id": None, "active": [], "reason": early}
        running()
        commands = build_commands(
            run_id=run_id, input_bucket=config["input_bucket"], output_bucket=config["output_bucket"],
            code_key=config["code_key"], tolerance=config["tolerance"], model_kind=config["model_kind"],
            instance_id=instance_id, trigger_keys=trigger_keys, region=config["region"],
            code_etag=code_etag(s3, config["input_bucket"], config["code_key"]),
            retry_of=event.get("retry_of") or "",
        )
        result = until_ssm_accepts(
            lambda: decide_and_send(ssm=ssm, s3=s3, config=config, instance_id=instance_id, run_id=run_id,
                                    trigger_keys=trigger_keys, requested_at=event.get("requested_at"),
                                    commands=commands, deadline=deadline, sleep=sleep, clock=clock),
            instance_id, deadline=deadline, sleep=sleep, clock=clock, ensure_running=running,
        )
    except Exception as exc:
        error = f"worker could not start the training run: {type(exc).__name__}: {exc}"
        log("failed", run_id=run_id, error=error)
        try:
            runs.write_record(s3, config["output_bucket"], runs.failed_record(
                run_id, source="worker", error=error, started_at=started_at, instance_id=instance_id,
                trigger_keys=trigger_keys))
        except Exception as exc2:  # noqa: BLE001 - the reaper stops the instance anyway
            log("record_write_failed", run_id=run_id, error=str(exc2))
        raise
    if result["action"] == "sent":
        log("command_sent", run_id=run_id, command_id=result["command_id"], instance_id=instance_id,
            execution_timeout=config["command_timeout"])
    return result


def handler(event, context):
    logs.bind(context, function="worker")
    config = config_from_env()
    deadline = time.monotonic() + config["ready_timeout"]
    if context is not None:  # leave time to write the failure record before Lambda's timeout
        deadline = min(deadline, time.monotonic() + context.get_remaining_time_in_millis() / 1000.0 - 10.0)
    return handle(event, ec2=aws.client("ec2"), ssm=aws.client("ssm"), s3=aws.client("s3"), config=config,
                  deadline=deadline)
