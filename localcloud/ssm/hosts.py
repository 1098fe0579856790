"""EC2 instance hosts: a host directory per instance, its state transitions as AWS shows them,
its managed-node registration, and the invocations running on it (commands.py says what the
local cloud adds to moto as a whole).
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..core import sandbox
from ..ec2 import runtime as instance_runtime
from ..core.cloud import state_changed
from .documents import Step
from .invocations import TERMINAL, _STATE_CODES, Invocation, _now

log = logging.getLogger("localcloud.ssm")


# ---------------------------------------------------------------------------------------
# The hosts and the moto hooks.
# ---------------------------------------------------------------------------------------
DEFAULT_INSTANCE_MIB = 2048  # an instance type moto does not know: a t3.small's memory


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
