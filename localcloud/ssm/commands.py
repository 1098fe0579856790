"""EC2 instance hosts and SSM Run Command (AWS-RunShellScript), run for real.

moto keeps an instance's state as a flag and reports every SSM command as Success at once.
This module adds what an outside user of EC2 + SSM sees:

* **A host per instance**: `state_dir/instances/<instance-id>/`, created with the instance,
  kept while it exists (stopped included), deleted when it is terminated. It runs commands
  only while the instance is `running`.
* **Real transitions**: run/start keep the instance `pending`, stop keeps it `stopping`,
  terminate keeps it `shutting-down` for the profile's `ec2_transition_seconds` (default
  0.5 s; `LOCALCLOUD_EC2_TRANSITION_SECONDS`, `--like-aws`: localcloud.core.profile) before
  moto's final state, so waiters and pollers see what they see on AWS.
  A start (from stopped) sets `LaunchTime` to now, as AWS does (moto keeps the first one).
* **SendCommand runs on exactly the instances it names**: its InstanceIds (each must be a
  managed node that is online, else `InvalidInstanceId` and nothing runs) and the online
  managed nodes its Targets select (`InstanceIds`, `tag:<key>`, `tag-key`; moto alone turns
  empty Targets into "every instance"). ListCommands, ListCommandInvocations and
  GetCommandInvocation list those and only those.
* **Managed nodes**: an instance's SSM agent registers the profile's `ssm_registration_seconds`
  (default 0.5 s; `LOCALCLOUD_SSM_REGISTRATION_SECONDS`, `--like-aws`) after it reaches running,
  and only if it has an instance profile; DescribeInstanceInformation (served here; moto lacks
  it) lists it `Online`, `ConnectionLost` once stopped, and no more once terminated.
* **Documents** (`documents.py`): AWS-RunShellScript and the account's own Command documents
  (schema 1.2 / 2.x) with `aws:runShellScript` steps, parameters checked and substituted at
  SendCommand (`InvalidParameters`, `InvalidDocument` as AWS answers). Each step's commands run
  as one bash script with `set -e` (stops at the first failing line) on the host: cwd = the
  host dir (or the step's `workingDirectory`, relative to it, if that exists), env = the
  cloud's compute env (`AWS_ENDPOINT_URL`, region, the instance profile role's session) +
  `HOME`=host dir + PATH whose first dir is the hosts' own Python (`localcloud.ec2.runtime`:
  a venv with only what an instance's user data installs, never the operator's venv). Where
  hosts are contained (`core/_contain.py`), each step runs in an environment of its own: own
  root file system (system dirs, the Python installation and the runtime read-only, the host
  dir writable, a private /tmp), own pid namespace, root of its own user namespace without
  capabilities (nobody outside when the operator is root), at most `sandbox.HOST_NPROC`
  processes, and memory bounded by the instance type's (`MemoryInfo.SizeInMiB`; over it the
  environment is killed and the step fails with 137, what bash reports for the kernel OOM
  killer's SIGKILL). The step's
  timeout (`executionTimeout` / `timeoutSeconds`, default 3600 s) kills the process group (the
  environment's supervisor: its death ends every process in the environment's pid namespace,
  `setsid` ones too) -> `TimedOut`. Steps run in order (a failed step does not stop the next,
  AWS's default); each
  is a CommandPlugin (GetCommandInvocation `PluginName`, ListCommandInvocations `Details`).
  Commands on one instance run concurrently, as the SSM agent runs them.
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
`Command.get_invocation`, the `Command` object's `status`/`invocations`, and a WSGI middleware
for the SSM JSON targets `AmazonSSM.ListCommandInvocations`, `AmazonSSM.CancelCommand` and
`AmazonSSM.DescribeInstanceInformation`.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..core import sandbox
from ..core.body import read_json_object
from ..core._contain import MEMORY_EXIT
from ..ec2 import runtime as instance_runtime
from ..core.cloud import state_changed
from ..core.moto_request import backend_for
from .documents import (RUN_SHELL_ACTION, RUN_SHELL_SCRIPT, RUN_SHELL_SCRIPT_CONTENT,
                        DocumentError, Step, build_script, steps_for)

log = logging.getLogger("localcloud.ssm")

OUTPUT_LIMIT = 24000          # GetCommandInvocation StandardOutputContent/StandardErrorContent
PLUGIN_OUTPUT_LIMIT = 2500    # ListCommandInvocations CommandPlugins[].Output
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")

_STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
                "stopping": 64, "stopped": 80}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _iso(t: _dt.datetime) -> str:
    return t.isoformat()


def _elapsed_iso(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


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
    """One command on one instance: its document's steps run one after another on the host
    (a failed step does not stop the next: AWS's default for Command documents)."""

    def __init__(self, hosts: "InstanceHosts", command: Any, record: dict, instance: Any,
                 steps: list[Step] | None = None):
        self.hosts = hosts
        self.command = command
        self.record = record            # moto's invocation dict, updated in place (same keys)
        self.instance = instance
        self.instance_id = instance.id
        self.steps = list(steps or [])
        # One result per step (CommandPlugins): Name, Status, StatusDetails, ResponseCode,
        # Output pieces and times; written by whole-value assignment.
        self.plugins: list[dict] = [
            {"Name": st.name, "Status": "Pending", "StatusDetails": "Pending", "ResponseCode": -1,
             "stdout": "", "stderr": "", "start": None, "end": None} for st in self.steps]
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
        state_changed()

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
        if not self.steps:
            self._finish("Failed", "Failed", -1, "",
                         f"localcloud runs {RUN_SHELL_SCRIPT} and Command documents of this "
                         f"account with {RUN_SHELL_ACTION} steps; document "
                         f"{self.command.document_name!r} is not executed locally\n")
            return
        with self.lock:
            if self.kill_reason is not None:  # stopped/cancelled before it began
                reason = self.kill_reason
            else:
                reason = None
                self.started_at = _now()
                self._set(Status="InProgress", StatusDetails="InProgress",
                          ExecutionStartDateTime=_iso(self.started_at))
                self.hosts._command_changed(self.command)
        if reason is not None:
            self._finish_killed(reason, None)
            return
        outs, errs = [], []
        worst: tuple[str, str, int] | None = None
        last_code = 0
        for index, step in enumerate(self.steps):
            if self.kill_reason is not None:
                break
            status, details, code, out, err = self._run_step(index, step)
            outs.append(out)
            errs.append(err)
            last_code = code
            if status != "Success" and worst is None:
                worst = (status, details, code)
        self.stdout, self.stderr = "".join(outs), "".join(errs)
        if self.kill_reason is not None:
            self._finish_killed(self.kill_reason, None)
        elif worst is None:
            self._finish("Success", "Success", last_code, self.stdout, self.stderr)
        else:
            self._finish(worst[0], worst[1], worst[2], self.stdout, self.stderr)

    def _plugin(self, index: int, **fields: Any) -> None:
        self.plugins[index] = {**self.plugins[index], **fields}

    def _run_step(self, index: int, step: Step) -> tuple[str, str, int, str, str]:
        """Run one step on the host -> (status, details, response code, stdout, stderr)."""
        started = _now()
        self._plugin(index, Status="InProgress", StatusDetails="InProgress", start=started)
        if step.action != RUN_SHELL_ACTION:
            result = ("Failed", "Failed", -1, "",
                      f"localcloud runs only {RUN_SHELL_ACTION} steps; step {step.name!r} is "
                      f"{step.action}\n")
            self._plugin(index, Status="Failed", StatusDetails="Failed", ResponseCode=-1,
                         stderr=result[4], end=_now())
            return result
        host = self.hosts.host_dir(self.instance_id)
        cwd = host
        wd = step.working_directory
        if wd:
            candidate = (host / wd) if not os.path.isabs(wd) else Path(wd)
            if candidate.is_dir():
                cwd = candidate
        run_dir = host / ".ssm" / self.command.command_id / f"{index}"
        run_dir.mkdir(parents=True, exist_ok=True)
        script = run_dir / "_script.sh"
        script.write_text(build_script(step.commands))
        env = self.hosts.env_for(self.instance)
        with self.lock:
            if self.kill_reason is not None:
                return ("Failed", "Failed", -1, "", "")
            argv = ["bash", str(script)]
            memory_mb = self.hosts.memory_mb(self.instance)
            if self.hosts.isolate:  # own root, runtime, /tmp, pid namespace; memory bounded
                argv = sandbox.wrap(argv, self.hosts.runtime_paths(), rw=[host], cwd=str(cwd),
                                    user="root", tmp_mb=HOST_TMP_MB, memory_mb=memory_mb,
                                    nproc=sandbox.HOST_NPROC)
            self.proc = subprocess.Popen(
                argv, cwd=str(cwd), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True)
        timed_out = False
        try:
            out_b, err_b = self.proc.communicate(timeout=step.timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out_b, err_b = self.proc.communicate()
        out = out_b.decode("utf-8", "replace")
        err = err_b.decode("utf-8", "replace")
        code = self.proc.returncode
        if self.hosts.isolate and code == MEMORY_EXIT and _OOM_LINE in err:
            # what the instance's kernel does when its memory is exhausted: the OOM killer's
            # SIGKILL (bash reports 137); here the whole command's environment is ended
            code = 128 + signal.SIGKILL
            err += (f"localcloud: out of memory: the command used more than the instance's "
                    f"{memory_mb} MiB ({self.instance.instance_type}) and was killed\n"
                    f"failed to run commands: exit status {code}\n")
            self._plugin(index, Status="Failed", StatusDetails="Failed", ResponseCode=code,
                         stdout=out, stderr=err, end=_now())
            return "Failed", "Failed", code, out, err
        if self.kill_reason is not None:
            status, details, code = ("Cancelled", "Cancelled", -1) \
                if self.kill_reason == "cancelled" else ("Failed", "Failed", -1)
        elif timed_out:
            status, details, code = "TimedOut", "ExecutionTimedOut", -1
            err += (f"\nfailed to run commands: exit status -1 (execution timed out after "
                    f"{step.timeout_seconds} seconds)\n")
        elif code == 0:
            status, details = "Success", "Success"
        else:
            status, details = "Failed", "Failed"
            err += f"failed to run commands: exit status {code}\n"
        self._plugin(index, Status=status, StatusDetails=details, ResponseCode=code,
                     stdout=out, stderr=err, end=_now())
        return status, details, code, out, err

    def _finish_killed(self, reason: str, code: int | None) -> None:
        for i, plugin in enumerate(self.plugins):
            if plugin["Status"] not in TERMINAL:
                self._plugin(i, Status="Cancelled" if reason == "cancelled" else "Failed",
                             StatusDetails="Cancelled" if reason == "cancelled" else "Failed",
                             end=plugin["end"] or _now())
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

    def plugin_record(self, name: str) -> dict | None:
        """GetCommandInvocation for one step (PluginName): the record with that step's
        status, code and output."""
        for plugin in self.plugins:
            if plugin["Name"] == name:
                start, end = plugin["start"], plugin["end"]
                return {**self.record, "PluginName": name, "Status": plugin["Status"],
                        "StatusDetails": plugin["StatusDetails"],
                        "ResponseCode": plugin["ResponseCode"],
                        "StandardOutputContent": plugin["stdout"][:OUTPUT_LIMIT],
                        "StandardErrorContent": plugin["stderr"][:OUTPUT_LIMIT],
                        "ExecutionStartDateTime": _iso(start) if start else "",
                        "ExecutionEndDateTime": _iso(end) if end else "",
                        "ExecutionElapsedTime": _elapsed_iso((end - start).total_seconds())
                        if start and end else ""}
        return None


# ---------------------------------------------------------------------------------------
# The hosts and the moto hooks.
# ---------------------------------------------------------------------------------------
HOST_TMP_MB = 1024  # a contained host's private /tmp (a tmpfs)
DEFAULT_INSTANCE_MIB = 2048  # an instance type moto does not know: a t3.small's memory
_OOM_LINE = "MB: killed\n"  # what core/_contain.py's supervisor writes when it kills for memory


def instance_memory_mib(instance_type: str | None) -> int:
    """The memory of an EC2 instance type (MemoryInfo.SizeInMiB, moto's copy of
    DescribeInstanceTypes)."""
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type or "", {}).get("MemoryInfo") or {}
    return int(info.get("SizeInMiB") or DEFAULT_INSTANCE_MIB)


class InstanceHosts:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.root = Path(cloud.state_dir) / "instances"
        self.runtime: Path | None = None  # the hosts' own Python (localcloud.ec2.runtime)
        self._online_at: dict[str, float] = {}     # instance id -> monotonic time it registers
        self._registered: dict[str, _dt.datetime] = {}  # instance id -> when it first did
        self._lock = threading.RLock()
        self._generation: dict[str, int] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._running: dict[str, set[Invocation]] = {}
        self._invocations: dict[tuple[str, str], Invocation] = {}
        self._closed = False
        self.isolate = sandbox.available(cloud.options.get("isolation", "auto"))

    # -- host dirs ---------------------------------------------------------------------
    def prepare(self) -> None:
        # A host dir outlives a restart only with its instance (a restored state keeps it);
        # a leftover of an instance moto no longer has belongs to nobody.
        alive = _instance_ids()
        if self.root.is_dir():
            for d in self.root.iterdir():
                if d.name not in alive:
                    shutil.rmtree(d, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self.runtime = instance_runtime.ensure()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning("instance hosts have no Python of their own (%s): commands find only "
                        "the system's python3", exc)
            self.runtime = None
        for d in self.root.iterdir():
            self._own(d)

    def runtime_paths(self) -> list:
        """What a contained host sees read-only besides the system and the Python
        installation's standard library: its own runtime, a venv holding only what the
        instance's user data installs (localcloud.ec2.runtime), never the operator's venv."""
        return [self.runtime] if self.runtime is not None else []

    def memory_mb(self, instance: Any) -> int:
        """A command's environment is bounded by its instance type's memory."""
        return instance_memory_mib(getattr(instance, "instance_type", None))

    def host_dir(self, instance_id: str) -> Path:
        return self.root / instance_id

    def _own(self, host: Path) -> None:
        """A contained host runs as root of its own user namespace, which is nobody outside
        when the operator is root: its host dir must be that user's to write in."""
        if not (self.isolate and os.getuid() == 0) or not host.is_dir():
            return
        try:
            if host.stat().st_uid == sandbox.NOBODY:
                return
            for dirpath, dirnames, filenames in os.walk(host):
                for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    os.lchown(name, sandbox.NOBODY, sandbox.NOBODY)
        except OSError as exc:
            log.warning("could not give %s to the host's user: %s", host, exc)

    def _make_host(self, instance_id: str) -> None:
        host = self.host_dir(instance_id)
        host.mkdir(parents=True, exist_ok=True)
        self._own(host)

    def env_for(self, instance: Any) -> dict[str, str]:
        region = instance.region_name or "us-east-1"
        try:
            env = dict(self.cloud.env_for_compute(region))
        except TypeError:
            env = dict(self.cloud.env_for_compute())
        host = str(self.host_dir(instance.id))
        env.update({
            "HOME": host,
            "PATH": (f"{self.runtime / 'bin'}:" if self.runtime is not None else "") +
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
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

    # Timing comes from the cloud's profile (localcloud.core.profile: defaults, --like-aws,
    # environment, options), read when used.
    @property
    def transition_seconds(self) -> float:
        return self.cloud.profile.ec2_transition_seconds

    @property
    def registration_seconds(self) -> float:
        """The SSM agent registers this long after its instance reaches running (and only
        if the instance has an instance profile); until then it is not a managed node."""
        return self.cloud.profile.ssm_registration_seconds

    def created(self, instance: Any) -> None:
        self._make_host(instance.id)
        self.transition(instance, "pending", "running", then=lambda: self._reached_running(instance))

    def started(self, instance: Any, previous: str) -> None:
        self._make_host(instance.id)
        if previous == "running":
            self._bump(instance.id)
            _set_state(instance, "running")
            return
        if previous != "pending":
            # AWS sets LaunchTime anew on every start (moto keeps the first launch's).
            _set_launch_time(instance, _now())
        self.transition(instance, "pending", "running", then=lambda: self._reached_running(instance))

    def stopped(self, instance: Any, previous: str) -> None:
        self._online_at.pop(instance.id, None)
        self.kill_commands(instance.id, "stopped")
        if previous in ("stopped", "terminated"):
            _set_state(instance, previous)
            return
        self.transition(instance, "stopping", "stopped")

    def terminated(self, instance: Any, previous: str) -> None:
        self._online_at.pop(instance.id, None)
        self._registered.pop(instance.id, None)
        self.kill_commands(instance.id, "terminated")
        if previous == "terminated":
            return
        host = self.host_dir(instance.id)
        self.transition(instance, "shutting-down", "terminated",
                        then=lambda: shutil.rmtree(host, ignore_errors=True))

    # -- the SSM agent -----------------------------------------------------------------
    def _reached_running(self, instance: Any) -> None:
        with self._lock:
            self._online_at[instance.id] = time.monotonic() + self.registration_seconds

    @staticmethod
    def has_instance_profile(instance: Any) -> bool:
        assoc = instance.ec2_backend.iam_instance_profile_associations
        return bool(assoc.get(instance.id))

    def is_online(self, instance: Any) -> bool:
        """A managed node whose agent answers: running, with an instance profile, and the
        registration delay since it reached running has passed."""
        at = self._online_at.get(instance.id)
        if at is None or instance._state.name != "running" or time.monotonic() < at:
            return False
        if not self.has_instance_profile(instance):
            return False
        if instance.id not in self._registered:
            self._registered[instance.id] = _now()
        return True

    def ping_status(self, instance: Any) -> str | None:
        """DescribeInstanceInformation's PingStatus: Online, ConnectionLost (registered once,
        not answering now: stopped), or None (never registered: not listed)."""
        if self.is_online(instance):
            return "Online"
        if instance.id in self._registered and instance._state.name != "terminated":
            return "ConnectionLost"
        return None

    def registered_at(self, instance_id: str) -> _dt.datetime | None:
        return self._registered.get(instance_id)

    # -- commands ----------------------------------------------------------------------
    def kill_commands(self, instance_id: str, reason: str) -> None:
        with self._lock:
            running = list(self._running.get(instance_id, ()))
        for inv in running:
            inv.kill(reason)

    def launch(self, command: Any, instances: dict[str, Any], steps: list[Step]) -> None:
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
            if steps:
                record["PluginName"] = steps[0].name
            inv = Invocation(self, command, record, instances[iid], steps)
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
    current = instance.launch_time
    if isinstance(current, _dt.datetime) and current.tzinfo is None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(current, str):
        when = when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    instance.launch_time = when


def _instance_ids() -> set[str]:
    """Ids of every instance moto holds (all accounts and regions), terminated ones aside."""
    from moto.ec2.models import ec2_backends

    ids = set()
    for _account, _region, backend in list(ec2_backends.iter_backends()):
        for reservation in list(backend.reservations.values()):
            ids.update(i.id for i in reservation.instances if i._state.name != "terminated")
    return ids


def _set_state(instance: Any, name: str) -> None:
    instance._state.name = name
    instance._state.code = _STATE_CODES[name]
    state_changed()


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
                inv = hosts.invocation(cmd.command_id, r["InstanceId"])
                steps = inv.plugins if inv is not None and inv.plugins else [{
                    "Name": r.get("PluginName", RUN_SHELL_ACTION), "Status": r["Status"],
                    "StatusDetails": r["StatusDetails"], "ResponseCode": r["ResponseCode"],
                    "stdout": r.get("StandardOutputContent", ""),
                    "stderr": r.get("StandardErrorContent", ""),
                    "start": r.get("ExecutionStartDateTime"),
                    "end": r.get("ExecutionEndDateTime")}]
                item["CommandPlugins"] = [_command_plugin(cmd, st) for st in steps]
            items.append(item)
    return {"CommandInvocations": items}


def _command_plugin(cmd: Any, step: dict) -> dict:
    plugin: dict[str, Any] = {
        "Name": step["Name"],
        "Status": step["Status"],
        "StatusDetails": step["StatusDetails"],
        "ResponseCode": step["ResponseCode"],
        "Output": plugin_output(step["stdout"], step["stderr"]),
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "OutputS3Region": cmd.output_s3_region or "",
        "OutputS3BucketName": cmd.output_s3_bucket_name or "",
        "OutputS3KeyPrefix": cmd.output_s3_key_prefix or "",
    }
    start, end = _epoch(step["start"]), _epoch(step["end"])
    if start is not None:
        plugin["ResponseStartDateTime"] = start
    if end is not None:
        plugin["ResponseFinishDateTime"] = end
    return plugin


# DescribeInstanceInformation: filter keys (both request shapes) -> the item field they match
_INFO_FILTER_FIELDS = {"InstanceIds": "InstanceId", "PingStatus": "PingStatus",
                       "PlatformTypes": "PlatformType", "ResourceType": "ResourceType",
                       "AgentVersion": "AgentVersion", "AssociationStatus": "AssociationStatus"}
AGENT_VERSION = "3.3.0.0"


def describe_instance_information(ec2: Any, hosts: InstanceHosts, req: dict) -> dict:
    """The managed nodes of this account and region: every instance whose agent registered
    (running with an instance profile, after the registration delay), Online while it runs,
    ConnectionLost once stopped. Filters by InstanceInformationFilterList or Filters
    (InstanceIds, PingStatus, PlatformTypes, ResourceType, AgentVersion, tag:<key>, tag-key);
    MaxResults (5-50) and NextToken."""
    if req.get("InstanceInformationFilterList") and req.get("Filters"):
        raise _service_error("InvalidFilter", "You can't use InstanceInformationFilterList "
                             "and Filters together.")
    filters = [(f.get("key"), f.get("valueSet") or [])
               for f in req.get("InstanceInformationFilterList") or []]
    filters += [(f.get("Key"), f.get("Values") or []) for f in req.get("Filters") or []]
    for key, values in filters:
        if not key or not values or (key not in _INFO_FILTER_FIELDS and
                                     not key.startswith("tag:") and key != "tag-key"):
            raise _service_error("InvalidInstanceInformationFilterValue",
                                 f"{key} is not a valid filter key with values {values}")
    max_results = req.get("MaxResults")
    if max_results is not None and not 5 <= int(max_results) <= 50:
        raise _service_error("ValidationException",
                             f"1 validation error detected: Value '{max_results}' at "
                             "'maxResults' failed to satisfy constraint: Member must have value "
                             "less than or equal to 50 and greater than or equal to 5")
    items = []
    for reservation in ec2.all_reservations():
        for inst in reservation.instances:
            status = hosts.ping_status(inst)
            if status is None:
                continue
            registered = hosts.registered_at(inst.id) or _now()
            item = {
                "InstanceId": inst.id, "PingStatus": status,
                "LastPingDateTime": (_now() if status == "Online" else registered).timestamp(),
                "AgentVersion": AGENT_VERSION, "IsLatestVersion": True,
                "PlatformType": "Linux", "PlatformName": "Amazon Linux",
                "PlatformVersion": "2023", "ResourceType": "EC2Instance",
                "IPAddress": inst.private_ip or "",
                "ComputerName": inst.private_dns_name or inst.id,
                "AssociationStatus": "Success", "SourceId": inst.id,
                "SourceType": "AWS::EC2::Instance",
            }
            tags = _instance_tags(ec2, inst.id)
            ok = True
            for key, values in filters:
                if key.startswith("tag:"):
                    ok = tags.get(key[4:]) in values
                elif key == "tag-key":
                    ok = bool(set(tags) & set(values))
                else:
                    ok = str(item[_INFO_FILTER_FIELDS[key]]) in [str(v) for v in values]
                if not ok:
                    break
            if ok:
                items.append(item)
    items.sort(key=lambda i: i["InstanceId"])
    start = int(req.get("NextToken") or 0) if str(req.get("NextToken") or "0").isdigit() else 0
    size = int(max_results) if max_results is not None else 50
    page = items[start:start + size]
    doc: dict[str, Any] = {"InstanceInformationList": page}
    if start + size < len(items):
        doc["NextToken"] = str(start + size)
    return doc


_SERVED_TARGETS = ("AmazonSSM.ListCommandInvocations", "AmazonSSM.CancelCommand",
                   "AmazonSSM.DescribeInstanceInformation")


def _ssm_middleware_factory(hosts: InstanceHosts) -> Callable:
    def factory(app: Callable, cloud: Any) -> Callable:
        def middleware(environ: dict, start_response: Callable) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target not in _SERVED_TARGETS:
                return app(environ, start_response)
            req = read_json_object(environ)
            if req is None:
                return _json_error(start_response, "ValidationException", "body is not JSON")
            backend = _ssm_backend_for(environ)
            try:
                if target == "AmazonSSM.ListCommandInvocations":
                    doc = list_command_invocations(backend, hosts, req)
                elif target == "AmazonSSM.DescribeInstanceInformation":
                    from moto.ec2 import ec2_backends
                    doc = describe_instance_information(
                        ec2_backends[backend.account_id][backend.region_name], hosts, req)
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
# SendCommand: the document's steps, the instances it names
# ---------------------------------------------------------------------------------------
def command_steps(backend: Any, name: str, parameters: dict | None) -> list[Step]:
    """The steps SendCommand(DocumentName=name, Parameters=...) runs; DocumentError when SSM
    refuses it. AWS-owned documents other than AWS-RunShellScript give no steps (the
    invocation then fails, saying they are not run locally)."""
    if name == RUN_SHELL_SCRIPT:
        return steps_for(RUN_SHELL_SCRIPT_CONTENT, name, parameters)
    documents = backend._documents.get(name)
    if documents is None:
        if name.startswith(("AWS-", "AWSEC2-", "AWSSupport-", "AmazonCloudWatch-")):
            return []
        raise DocumentError("InvalidDocument", f"Document with name {name} does not exist.")
    doc = documents.get_default_version()
    if doc.document_type != "Command":
        raise DocumentError("InvalidDocument", f"Document {name} is of type "
                            f"{doc.document_type}; SendCommand runs Command documents.")
    return steps_for(doc.content_json or {}, name, parameters)


def _instance_tags(ec2: Any, instance_id: str) -> dict[str, str]:
    return dict(ec2.tags.get(instance_id, {}))


def targeted_instances(ec2: Any, hosts: "InstanceHosts", instance_ids: list[str],
                       targets: list[dict], account_id: str) -> dict[str, Any]:
    """instance id -> instance for exactly what the command names: its InstanceIds (each
    must be a managed node that is online, else InvalidInstanceId and nothing runs), plus
    the online managed nodes its Targets select (`InstanceIds`, `tag:<key>`, `tag-key`;
    several targets must all match)."""
    from moto.ec2.exceptions import InvalidInstanceIdError

    chosen: dict[str, Any] = {}
    bad = []
    for iid in instance_ids:
        try:
            inst = ec2.get_instance(iid)
        except InvalidInstanceIdError:
            inst = None
        if inst is None or not hosts.is_online(inst):
            bad.append(iid)
        else:
            chosen[iid] = inst
    if bad:
        raise _service_error(
            "InvalidInstanceId",
            f"Instances [[{', '.join(bad)}]] not in a valid state for account {account_id}")
    if targets:
        candidates = [i for r in ec2.all_reservations() for i in r.instances]
        for target in targets:
            key = str(target.get("Key") or "")
            values = [str(v) for v in target.get("Values") or []]
            if key == "InstanceIds":
                candidates = [i for i in candidates if i.id in values]
            elif key.startswith("tag:"):
                tag = key[4:]
                candidates = [i for i in candidates
                              if _instance_tags(ec2, i.id).get(tag) in values]
            elif key == "tag-key":
                candidates = [i for i in candidates
                              if set(_instance_tags(ec2, i.id)) & set(values)]
            else:
                raise _service_error("InvalidParameters",
                                     f"localcloud resolves Targets with the keys InstanceIds, "
                                     f"tag:<key> and tag-key, not {key!r}")
        for inst in candidates:
            if hosts.is_online(inst):
                chosen.setdefault(inst.id, inst)
    return chosen


# ---------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------
def install(cloud: Any) -> Callable[[], None]:
    """Hook moto's EC2 instances and SSM commands; returns the uninstall."""
    from moto.ec2.models.instances import Instance, InstanceBackend
    from moto.ssm.models import Command, SimpleSystemManagerBackend

    hosts = InstanceHosts(cloud)
    hosts.prepare()
    cloud.ec2_hosts = hosts  # for tests and the CLI: cloud.ec2_hosts.host_dir(id)

    orig: dict[str, Callable] = {}  # what each hooked attribute held before (set below)

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
        try:
            steps = command_steps(self, kwargs.get("document_name") or "",
                                  kwargs.get("parameters"))
        except DocumentError as exc:
            raise _service_error(exc.code, exc.message) from None
        chosen = targeted_instances(ec2, hosts, list(kwargs.get("instance_ids") or []),
                                    list(kwargs.get("targets") or []), self.account_id)
        # moto turns empty Targets into a filter matching every instance: give it none and
        # set what the command targets ourselves.
        command = orig["send_command"](self, **{**kwargs, "instance_ids": list(chosen),
                                                "targets": []})
        command.targets = list(kwargs.get("targets") or [])
        command.instance_ids = list(chosen)
        plugin = steps[0].name if steps else RUN_SHELL_ACTION
        command.invocations = [command.invocation_response(iid, plugin) for iid in chosen]
        hosts.launch(command, chosen, steps)
        return command

    def get_invocation(self: Any, instance_id: str, plugin_name: str | None) -> Any:
        inv = hosts.invocation(self.command_id, instance_id)
        if plugin_name is not None and inv is not None:
            record = inv.plugin_record(plugin_name)
            if record is not None:
                return record
        return orig["get_invocation"](self, instance_id, plugin_name)

    for owner, fn in ((InstanceBackend, run_instances), (Instance, start), (Instance, stop),
                      (Instance, terminate), (SimpleSystemManagerBackend, send_command),
                      (Command, get_invocation)):
        orig[fn.__name__] = cloud.hook(owner, fn.__name__, lambda _, fn=fn: fn).original
    cloud.add_middleware(_ssm_middleware_factory(hosts))

    def uninstall() -> None:
        hosts.close()
        if getattr(cloud, "ec2_hosts", None) is hosts:
            cloud.ec2_hosts = None

    return uninstall
