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

import logging
from typing import Any, Callable

from .documents import RUN_SHELL_ACTION, DocumentError
from .hosts import InstanceHosts
from .invocations import _service_error
from .run_command_api import _ssm_middleware_factory, command_steps, targeted_instances

log = logging.getLogger("localcloud.ssm")


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
