"""One SSM Run Command invocation (one command on one instance): its steps run on the
instance's host, its status, output and plugins as GetCommandInvocation and
ListCommandInvocations answer them. Part of Run Command on the local cloud (commands.py says
what it adds to moto as a whole).
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from ..core import sandbox
from ..core._contain import MEMORY_EXIT
from ..core.cloud import state_changed
from .documents import RUN_SHELL_ACTION, RUN_SHELL_SCRIPT, Step, build_script

log = logging.getLogger("localcloud.ssm")

HOST_TMP_MB = 1024  # a contained host's private /tmp (a tmpfs)
_OOM_LINE = "MB: killed\n"  # what core/_contain.py's supervisor writes when it kills for memory
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

    def __init__(self, hosts: Any, command: Any, record: dict, instance: Any,  # hosts: InstanceHosts
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
