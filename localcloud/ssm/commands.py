"""EC2 instance hosts and SSM Run Command (AWS-RunShellScript), run for real.

moto keeps an instance's state as a flag and reports every SSM command as Success at once.
This module adds what an outside user of EC2 + SSM sees:

* **A host per instance**: `state_dir/instances/<instance-id>/`, created with the instance,
  kept while it exists (stopped included), deleted when it is terminated. It runs commands
  only while the instance is `running`.
* **Real transitions**: run/start keep the instance `pending`, stop keeps it `stopping`,
  terminate keeps it `shutting-down` for `instance_transition_seconds` (LocalCloud option,
  default 0.5 s) before moto's final state, so waiters and pollers see what they see on AWS.
  A start (from stopped) sets `LaunchTime` to now, as AWS does (moto keeps the first one).
* **SendCommand with AWS-RunShellScript** runs the `commands` lines as one bash script with
  `set -e` (stops at the first failing line) on the host: cwd = the host dir (or
  `workingDirectory`, relative to it, if that exists), env = the cloud's compute env
  (`AWS_ENDPOINT_URL`, region, dummy credentials) + `HOME`=host dir + PATH whose first dir
  holds `python3`/`python` = the Python running the cloud (the one with the training
  dependencies, standing in for what the AMI's user data installs). `executionTimeout`
  (default 3600 s) kills the process group -> `TimedOut`. Commands on one instance run
  concurrently, as the SSM agent runs them.
* **Statuses** as AWS reports them: Pending -> InProgress -> Success | Failed | TimedOut |
  Cancelled, ResponseCode = exit code (-1 while none), stdout/stderr (first 24000 chars, as
  GetCommandInvocation truncates), in GetCommandInvocation, ListCommands and
  ListCommandInvocations (moto lacks it; served here, `Details=True` gives CommandPlugins with
  the 2500-char Output), plus CancelCommand (moto lacks it too).
* **Non-running instances**: SendCommand naming an instance that does not exist or is not
  `running` raises `InvalidInstanceId` ("Instances [[i-...]] not in a valid state for account
  ...", what AWS answers when the instance's agent is not online) and nothing runs.
* **Stopping or terminating an instance kills its running commands** (process group). Choice,
  documented: the invocation ends `Failed` (StatusDetails `Failed`, ResponseCode -1, a line
  on stderr saying the instance stopped): AWS reports a command whose agent went away as
  failed/undeliverable, never as Success, and `Cancelled` is kept for CancelCommand.

Hook points (moto 5.2): `moto.ec2.models.instances.Instance.start/stop/terminate`,
`InstanceBackend.run_instances`, `moto.ssm.models.SimpleSystemManagerBackend.send_command`,
the `Command` object's `status`/`invocations`, and a WSGI middleware for the SSM JSON targets
`AmazonSSM.ListCommandInvocations` and `AmazonSSM.CancelCommand`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from ..core.moto_request import backend_for

log = logging.getLogger("localcloud.ssm")

OUTPUT_LIMIT = 24000          # GetCommandInvocation StandardOutputContent/StandardErrorContent
PLUGIN_OUTPUT_LIMIT = 2500    # ListCommandInvocations CommandPlugins[].Output
DEFAULT_EXECUTION_TIMEOUT = 3600
DEFAULT_TRANSITION_SECONDS = 0.5
RUN_SHELL_SCRIPT = "AWS-RunShellScript"
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")

_STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
                "stopping": 64, "stopped": 80}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _iso(t: _dt.datetime) -> str:
    return t.isoformat()


def _elapsed_iso(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def build_script(commands: list[str]) -> str:
    """The commands parameter as one bash script that stops at the first failing line."""
    body = "\n".join(str(c) for c in commands)
    return "#!/bin/bash\nset -e\n" + body + "\n"


def plugin_output(stdout: str, stderr: str) -> str:
    """CommandPlugins[].Output as AWS shapes it: stdout, then stderr under a marker, 2500 chars."""
    out = stdout
    if stderr:
        out += "\n----------ERROR-------\n" + stderr
    return out[:PLUGIN_OUTPUT_LIMIT]


def _service_error(code: str, message: str) -> Exception:
    """A moto ServiceException serialized with SSM's error model (its module is not moto's)."""
    from moto.core.exceptions import ServiceException

    class SSMError(ServiceException):
        pass

    SSMError.__module__ = __name__
    return SSMError(code, message)


# ---------------------------------------------------------------------------------------
# One invocation = one command on one instance.
# ---------------------------------------------------------------------------------------
class Invocation:
    def __init__(self, hosts: "InstanceHosts", command: Any, record: dict, instance: Any):
        self.hosts = hosts
        self.command = command
        self.record = record            # moto's invocation dict, updated in place (same keys)
        self.instance = instance
        self.instance_id = instance.id
        self.proc: subprocess.Popen | None = None
        self.kill_reason: str | None = None  # "stopped" | "cancelled"
        self.lock = threading.Lock()
        self.started_at: _dt.datetime | None = None
        self.finished_at: _dt.datetime | None = None
        self.stdout = ""
        self.stderr = ""

    # Status fields written only by whole-value assignment: moto serializes the same dict.
    def _set(self, **fields: Any) -> None:
        for k, v in fields.items():
            self.record[k] = v

    def kill(self, reason: str) -> None:
        with self.lock:
            if self.kill_reason is None:
                self.kill_reason = reason
            proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - the invocation must end in a terminal state
            log.exception("SSM invocation %s on %s crashed", self.command.command_id,
                          self.instance_id)
            self._finish("Failed", "Failed", -1, self.stdout,
                         self.stderr + f"\nlocalcloud: internal error: {exc}\n")
        finally:
            self.hosts._invocation_done(self)

    def _run(self) -> None:
        params = self.command.parameters or {}
        if self.command.document_name != RUN_SHELL_SCRIPT:
            self._finish("Failed", "Failed", -1, "",
                         f"localcloud runs only {RUN_SHELL_SCRIPT}; document "
                         f"{self.command.document_name!r} is not executed locally\n")
            return
        commands = params.get("commands") or []
        if isinstance(commands, str):
            commands = [commands]
        timeout = _first_int(params.get("executionTimeout"), DEFAULT_EXECUTION_TIMEOUT)
        host = self.hosts.host_dir(self.instance_id)
        cwd = host
        wd = _first(params.get("workingDirectory"))
        if wd:
            candidate = (host / wd) if not os.path.isabs(wd) else Path(wd)
            if candidate.is_dir():
                cwd = candidate
        run_dir = host / ".ssm" / self.command.command_id
        run_dir.mkdir(parents=True, exist_ok=True)
        script = run_dir / "_script.sh"
        script.write_text(build_script(commands))
        env = self.hosts.env_for(self.instance)

        with self.lock:
            if self.kill_reason is not None:  # stopped/cancelled before it began
                reason = self.kill_reason
            else:
                reason = None
                self.started_at = _now()
                self._set(Status="InProgress", StatusDetails="InProgress",
                          ExecutionStartDateTime=_iso(self.started_at))
                self.hosts._command_changed(self.command)
                self.proc = subprocess.Popen(
                    ["bash", str(script)], cwd=str(cwd), env=env,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    start_new_session=True)
        if reason is not None:
            self._finish_killed(reason, None)
            return
        assert self.proc is not None
        timed_out = False
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = self.proc.communicate()
        self.stdout = out.decode("utf-8", "replace")
        self.stderr = err.decode("utf-8", "replace")
        code = self.proc.returncode
        if self.kill_reason is not None:
            self._finish_killed(self.kill_reason, code)
        elif timed_out:
            self._finish("TimedOut", "ExecutionTimedOut", -1, self.stdout,
                         self.stderr + f"\nfailed to run commands: exit status -1 (execution "
                         f"timed out after {timeout} seconds)\n")
        elif code == 0:
            self._finish("Success", "Success", 0, self.stdout, self.stderr)
        else:
            self._finish("Failed", "Failed", code, self.stdout,
                         self.stderr + f"failed to run commands: exit status {code}\n")

    def _finish_killed(self, reason: str, code: int | None) -> None:
        if reason == "cancelled":
            self._finish("Cancelled", "Cancelled", -1, self.stdout, self.stderr)
        else:
            self._finish("Failed", "Failed", -1, self.stdout,
                         self.stderr + f"\nlocalcloud: the instance {reason} while the command "
                         "ran; the command was ended\n")

    def _finish(self, status: str, details: str, code: int, stdout: str, stderr: str) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.finished_at = _now()
        start = self.started_at or self.finished_at
        fields = dict(Status=status, StatusDetails=details, ResponseCode=code,
                      StandardOutputContent=stdout[:OUTPUT_LIMIT],
                      StandardErrorContent=stderr[:OUTPUT_LIMIT],
                      ExecutionEndDateTime=_iso(self.finished_at),
                      ExecutionElapsedTime=_elapsed_iso(
                          (self.finished_at - start).total_seconds()))
        if self.started_at is None:
            fields["ExecutionStartDateTime"] = ""
        self._set(**fields)
        self.hosts._command_changed(self.command)


def _first(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else None
    return str(value)


def _first_int(value: Any, default: int) -> int:
    raw = _first(value)
    if raw is None or raw.strip() == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"executionTimeout must be a whole number of seconds, got {raw!r}")
    if n < 1:
        raise ValueError(f"executionTimeout must be at least 1 second, got {n}")
    return n


# ---------------------------------------------------------------------------------------
# The hosts and the moto hooks.
# ---------------------------------------------------------------------------------------
class InstanceHosts:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.root = Path(cloud.state_dir) / "instances"
        self.bin_dir = Path(cloud.state_dir) / "instance-bin"
        self._delay = float(cloud.options.get("instance_transition_seconds",
                                              DEFAULT_TRANSITION_SECONDS))
        self._lock = threading.RLock()
        self._generation: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._running: dict[str, set[Invocation]] = {}
        self._invocations: dict[tuple[str, str], Invocation] = {}
        self._closed = False

    # -- host dirs ---------------------------------------------------------------------
    def prepare(self) -> None:
        # moto keeps no state across processes or resets: a leftover host belongs to nobody.
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python3", "python"):
            p = self.bin_dir / name
            p.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
            p.chmod(0o755)

    def host_dir(self, instance_id: str) -> Path:
        return self.root / instance_id

    def env_for(self, instance: Any) -> dict[str, str]:
        region = getattr(instance, "region_name", None) or "us-east-1"
        try:
            env = dict(self.cloud.env_for_compute(region))
        except TypeError:
            env = dict(self.cloud.env_for_compute())
        host = str(self.host_dir(instance.id))
        env.update({
            "HOME": host,
            "PATH": f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "USER": "root",
            "SHELL": "/bin/bash",
            "PYTHONUNBUFFERED": "1",
            "INSTANCE_ID": instance.id,  # local-only convenience; real hosts read IMDS
        })
        iam = getattr(self.cloud, "iam", None)
        if iam is not None:  # the instance profile role's session, or no credentials at all
            for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
                env.pop(k, None)
            env.update(iam.instance_env(instance) or {})
            env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                        "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
        return env

    # -- transitions -------------------------------------------------------------------
    def _bump(self, instance_id: str) -> int:
        with self._lock:
            gen = self._generation.get(instance_id, 0) + 1
            self._generation[instance_id] = gen
            old = self._timers.pop(instance_id, None)
        if old is not None:
            old.cancel()
        return gen

    def transition(self, instance: Any, interim: str, final: str,
                   then: Callable[[], None] | None = None) -> None:
        """Show `interim` now, `final` after the configured delay (moto already set final)."""
        gen = self._bump(instance.id)
        if self.transition_seconds <= 0:
            _set_state(instance, final)
            if then:
                then()
            return
        _set_state(instance, interim)

        def finish() -> None:
            with self._lock:
                if self._generation.get(instance.id) != gen or self._closed:
                    return
                self._timers.pop(instance.id, None)
                _set_state(instance, final)
            if then:
                then()

        t = threading.Timer(self.transition_seconds, finish)
        t.daemon = True
        with self._lock:
            self._timers[instance.id] = t
        t.start()

    @property
    def transition_seconds(self) -> float:
        return self._delay

    def created(self, instance: Any) -> None:
        self.host_dir(instance.id).mkdir(parents=True, exist_ok=True)
        self.transition(instance, "pending", "running")

    def started(self, instance: Any, previous: str) -> None:
        self.host_dir(instance.id).mkdir(parents=True, exist_ok=True)
        if previous == "running":
            self._bump(instance.id)
            _set_state(instance, "running")
            return
        if previous != "pending":
            # AWS sets LaunchTime anew on every start (moto keeps the first launch's).
            _set_launch_time(instance, _now())
        self.transition(instance, "pending", "running")

    def stopped(self, instance: Any, previous: str) -> None:
        self.kill_commands(instance.id, "stopped")
        if previous in ("stopped", "terminated"):
            _set_state(instance, previous)
            return
        self.transition(instance, "stopping", "stopped")

    def terminated(self, instance: Any, previous: str) -> None:
        self.kill_commands(instance.id, "terminated")
        if previous == "terminated":
            return
        host = self.host_dir(instance.id)
        self.transition(instance, "shutting-down", "terminated",
                        then=lambda: shutil.rmtree(host, ignore_errors=True))

    # -- commands ----------------------------------------------------------------------
    def kill_commands(self, instance_id: str, reason: str) -> None:
        with self._lock:
            running = list(self._running.get(instance_id, ()))
        for inv in running:
            inv.kill(reason)

    def launch(self, command: Any, instances: dict[str, Any]) -> None:
        command.status = "Pending"
        command.status_details = "Pending"
        command.completed_count = 0
        command.error_count = 0
        command.target_count = len(command.instance_ids)
        invs = []
        for record in command.invocations:
            iid = record["InstanceId"]
            record.update(Status="Pending", StatusDetails="Pending", ResponseCode=-1,
                          ExecutionStartDateTime="", ExecutionEndDateTime="",
                          ExecutionElapsedTime="", StandardOutputContent="",
                          StandardErrorContent="", StandardErrorUrl="",
                          CloudWatchOutputConfig={"CloudWatchOutputEnabled": False,
                                                  "CloudWatchLogGroupName": ""})
            inv = Invocation(self, command, record, instances[iid])
            invs.append(inv)
            with self._lock:
                self._running.setdefault(iid, set()).add(inv)
                self._invocations[(command.command_id, iid)] = inv
        command.status = "InProgress" if invs else "Success"
        command.status_details = "InProgress" if invs else "Success"
        for inv in invs:
            threading.Thread(target=inv.run, daemon=True,
                             name=f"ssm-{command.command_id[:8]}-{inv.instance_id}").start()

    def invocation(self, command_id: str, instance_id: str) -> Invocation | None:
        return self._invocations.get((command_id, instance_id))

    def cancel(self, command: Any, instance_ids: list[str] | None) -> None:
        for record in command.invocations:
            iid = record["InstanceId"]
            if instance_ids and iid not in instance_ids:
                continue
            inv = self.invocation(command.command_id, iid)
            if inv is not None and record["Status"] not in TERMINAL:
                inv.kill("cancelled")

    def _invocation_done(self, inv: Invocation) -> None:
        with self._lock:
            s = self._running.get(inv.instance_id)
            if s is not None:
                s.discard(inv)

    def _command_changed(self, command: Any) -> None:
        statuses = [r["Status"] for r in command.invocations]
        done = [s for s in statuses if s in TERMINAL]
        command.completed_count = len(done)
        command.error_count = sum(1 for s in done if s in ("Failed", "TimedOut"))
        if len(done) < len(statuses):
            status = "InProgress" if any(s != "Pending" for s in statuses) else "Pending"
            details = "In Progress" if status == "InProgress" else "Pending"
        elif all(s == "Success" for s in statuses):
            status, details = "Success", "Success"
        elif "Cancelled" in statuses:
            status, details = "Cancelled", "Cancelled"
        elif "TimedOut" in statuses:
            status, details = "TimedOut", "Execution Timed Out"
        else:
            status, details = "Failed", "Failed"
        command.status = status
        command.status_details = details

    def close(self) -> None:
        with self._lock:
            self._closed = True
            timers = list(self._timers.values())
            self._timers.clear()
            running = [inv for s in self._running.values() for inv in s]
        for t in timers:
            t.cancel()
        for inv in running:
            inv.kill("stopped")


def _set_launch_time(instance: Any, when: _dt.datetime) -> None:
    """moto keeps ``launch_time`` as a naive UTC datetime; keep its type."""
    current = getattr(instance, "launch_time", None)
    if isinstance(current, _dt.datetime) and current.tzinfo is None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(current, str):
        when = when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    instance.launch_time = when


def _set_state(instance: Any, name: str) -> None:
    instance._state.name = name
    instance._state.code = _STATE_CODES[name]


# ---------------------------------------------------------------------------------------
# SSM JSON targets moto does not serve.
# ---------------------------------------------------------------------------------------
def _ssm_backend_for(environ: dict) -> Any:
    from moto.ssm.models import ssm_backends

    return backend_for(ssm_backends, environ)


def _epoch(value: Any) -> float | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            t = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.timestamp()
    return None


def list_command_invocations(backend: Any, hosts: InstanceHosts, req: dict) -> dict:
    command_id = req.get("CommandId")
    instance_id = req.get("InstanceId")
    details = bool(req.get("Details"))
    commands = backend.list_commands(command_id, None)
    items = []
    for cmd in commands:
        for r in cmd.invocations:
            if instance_id and r["InstanceId"] != instance_id:
                continue
            item = {
                "CommandId": cmd.command_id,
                "InstanceId": r["InstanceId"],
                "InstanceName": "",
                "Comment": cmd.comment or "",
                "DocumentName": cmd.document_name,
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": _epoch(cmd.requested_date_time),
                "Status": r["Status"],
                "StatusDetails": r["StatusDetails"],
                "TraceOutput": "",
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "CommandPlugins": [],
                "ServiceRole": cmd.service_role_arn or "",
                "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [],
                                       "NotificationType": ""},
                "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "",
                                           "CloudWatchOutputEnabled": False},
            }
            if details:
                plugin: dict[str, Any] = {
                    "Name": r.get("PluginName", "aws:runShellScript"),
                    "Status": r["Status"],
                    "StatusDetails": r["StatusDetails"],
                    "ResponseCode": r["ResponseCode"],
                    "Output": plugin_output(r.get("StandardOutputContent", ""),
                                            r.get("StandardErrorContent", "")),
                    "StandardOutputUrl": "",
                    "StandardErrorUrl": "",
                    "OutputS3Region": cmd.output_s3_region or "",
                    "OutputS3BucketName": cmd.output_s3_bucket_name or "",
                    "OutputS3KeyPrefix": cmd.output_s3_key_prefix or "",
                }
                start = _epoch(r.get("ExecutionStartDateTime"))
                end = _epoch(r.get("ExecutionEndDateTime"))
                if start is not None:
                    plugin["ResponseStartDateTime"] = start
                if end is not None:
                    plugin["ResponseFinishDateTime"] = end
                item["CommandPlugins"] = [plugin]
            items.append(item)
    return {"CommandInvocations": items}


def _ssm_middleware_factory(hosts: InstanceHosts) -> Callable:
    def factory(app: Callable, cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target not in ("AmazonSSM.ListCommandInvocations", "AmazonSSM.CancelCommand"):
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                req = json.loads(raw or b"{}")
            except ValueError:
                return _json_error(start_response, "ValidationException", "body is not JSON")
            backend = _ssm_backend_for(environ)
            try:
                if target == "AmazonSSM.ListCommandInvocations":
                    doc = list_command_invocations(backend, hosts, req)
                else:
                    cmd = backend.get_command_by_id(req.get("CommandId", ""))
                    hosts.cancel(cmd, req.get("InstanceIds"))
                    doc = {}
            except Exception as exc:  # noqa: BLE001 - moto's RESTError etc.
                code = getattr(exc, "error_type", None) or getattr(exc, "code", None) \
                    or "InvalidCommandId"
                return _json_error(start_response, str(code), getattr(exc, "message", str(exc)))
            body = json.dumps(doc).encode()
            start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return middleware
    return factory


def _json_error(start_response: Callable, code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                       ("Content-Length", str(len(body)))])
    return [body]


# ---------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------
def install(cloud: Any) -> Callable[[], None]:
    """Hook moto's EC2 instances and SSM commands; returns the uninstall."""
    from moto.ec2.models.instances import Instance, InstanceBackend
    from moto.ssm.models import SimpleSystemManagerBackend

    hosts = InstanceHosts(cloud)
    hosts.prepare()
    cloud.ec2_hosts = hosts  # for tests and the CLI: cloud.ec2_hosts.host_dir(id)

    orig = {
        "run_instances": InstanceBackend.run_instances,
        "start": Instance.start,
        "stop": Instance.stop,
        "terminate": Instance.terminate,
        "send_command": SimpleSystemManagerBackend.send_command,
    }

    def run_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
        reservation = orig["run_instances"](self, *args, **kwargs)
        for inst in reservation.instances:
            hosts.created(inst)
        return reservation

    def start(self: Any) -> Any:
        previous = self._state.name
        result = orig["start"](self)
        hosts.started(self, previous)
        return result

    def stop(self: Any) -> Any:
        previous = self._state.name
        result = orig["stop"](self)
        hosts.stopped(self, previous)
        return result

    def terminate(self: Any) -> Any:
        previous = self._state.name
        result = orig["terminate"](self)
        hosts.terminated(self, previous)
        return result

    def send_command(self: Any, **kwargs: Any) -> Any:
        from moto.ec2 import ec2_backends
        ec2 = ec2_backends[self.account_id][self.region_name]
        explicit = list(kwargs.get("instance_ids") or [])
        bad = []
        for iid in explicit:
            try:
                inst = ec2.get_instance(iid)
            except Exception:  # noqa: BLE001 - InvalidInstanceID.NotFound
                inst = None
            if inst is None or inst._state.name != "running":
                bad.append(iid)
        if bad:
            raise _service_error(
                "InvalidInstanceId",
                f"Instances [[{', '.join(bad)}]] not in a valid state for account "
                f"{self.account_id}")
        try:
            _first_int((kwargs.get("parameters") or {}).get("executionTimeout"),
                       DEFAULT_EXECUTION_TIMEOUT)
        except ValueError as exc:
            raise _service_error("InvalidParameters", str(exc)) from None
        command = orig["send_command"](self, **kwargs)
        instances = {}
        keep = []
        for iid in command.instance_ids:
            try:
                inst = ec2.get_instance(iid)
            except Exception:  # noqa: BLE001
                inst = None
            if inst is not None and inst._state.name == "running":
                instances[iid] = inst
                keep.append(iid)
        # Instances picked by Targets that are not running are not targeted (agent offline).
        command.instance_ids = keep
        command.invocations = [r for r in command.invocations if r["InstanceId"] in instances]
        hosts.launch(command, instances)
        return command

    InstanceBackend.run_instances = run_instances
    Instance.start = start
    Instance.stop = stop
    Instance.terminate = terminate
    SimpleSystemManagerBackend.send_command = send_command
    cloud.add_middleware(_ssm_middleware_factory(hosts))

    def uninstall() -> None:
        InstanceBackend.run_instances = orig["run_instances"]
        Instance.start = orig["start"]
        Instance.stop = orig["stop"]
        Instance.terminate = orig["terminate"]
        SimpleSystemManagerBackend.send_command = orig["send_command"]
        hosts.close()
        if getattr(cloud, "ec2_hosts", None) is hosts:
            cloud.ec2_hosts = None

    return uninstall
