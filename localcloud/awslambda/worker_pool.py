"""The Lambda worker pool: one `python -I -S _worker.py` process per execution environment,
warm reuse per (function version, code sha, configuration), a busy worker never shared.

- Worker: sys.path = [code dir, layers' python/ dirs (a later layer first, as a later layer
  overwrites an earlier one in /opt), a runtime dir that exposes only what AWS's Python
  runtime provides: boto3, botocore and their dependencies].
- Timeout: the worker is killed; the invoke reports `Task timed out after N.00 seconds`.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..core import sandbox
from ..logs import cloudwatch as logs

WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit, apart from the function's timeout


class WorkerDied(RuntimeError):
    pass


class WorkerTimeout(RuntimeError):
    pass


@dataclass(frozen=True)
class FunctionSpec:
    """Everything a worker is started with; `key` decides warm reuse."""
    key: tuple
    function_name: str
    function_arn: str
    version: str
    region: str
    account_id: str
    handler: str
    timeout: float
    memory_size: int
    code_dir: Path
    ro_paths: tuple  # code, layers, the runtime's SDK: read-only in the environment
    ephemeral_mb: int
    sys_path: tuple
    env: tuple  # sorted (name, value) pairs
    # the execution role's credentials for one environment (its id -> AWS_* variables):
    # each environment gets a session of its own, as on AWS; not part of the spec's identity
    credentials: Callable[[str], dict] | None = field(default=None, compare=False, repr=False)

    @property
    def log_group(self) -> str:
        return logs.lambda_log_group(self.function_name)


class Worker:
    """One execution environment: a `python -I -S` process talking JSON lines over pipes."""

    def __init__(self, spec: FunctionSpec, stderr_path: Path, tmp_root: Path | None = None,
                 isolate: bool = False):
        self.spec = spec
        now = datetime.now(timezone.utc)
        env_id = uuid.uuid4().hex
        self.log_stream = f"{now:%Y/%m/%d}/[{spec.version}]{env_id}"
        env = dict(spec.env)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.log_stream
        if spec.credentials is not None:
            env.update(spec.credentials(env_id))
        # Each execution environment has its own /tmp on AWS: never share the host's, where
        # two workers (or two clouds) would overwrite each other's files. Contained, /tmp is
        # the environment's own tmpfs of EphemeralStorage size.
        self.tmp_dir: Path | None = None
        if tmp_root is not None and not isolate:
            self.tmp_dir = tmp_root / env_id
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(self.tmp_dir)
        self._stderr = open(stderr_path, "ab")
        t0 = time.perf_counter()
        argv = [sandbox.interpreter(), "-I", "-S", str(WORKER_SCRIPT)]
        if isolate:  # an environment of its own (localcloud.core.sandbox, core/_contain.py)
            env["LOCALCLOUD_SANDBOX"] = json.dumps(sandbox.lambda_plan(spec))
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=str(spec.code_dir), env=env, close_fds=True, bufsize=0)
        self.pid = self.proc.pid
        self._out_fd = self.proc.stdout.fileno()
        self._buf = b""
        self.init_ms: float | None = None  # set until the first invoke reports it
        self.invocations = 0
        self.holds_init_slot = False  # set by LambdaRuntime._acquire for a cold start
        self.init_overrun_s = 0.0
        self._send({"init": {"sys_path": list(spec.sys_path), "handler": spec.handler}})
        self._spawned_at = t0

    def finish_init(self) -> dict:
        """Wait for the worker's init reply (imports the handler module): INIT_TIMEOUT_S for
        the init phase; past it, as AWS does, init goes on inside the invoke phase, within
        the function's timeout (`init_overrun_s` says how much of it init took)."""
        self.init_overrun_s = 0.0
        try:
            reply = self._read(INIT_TIMEOUT_S)
        except WorkerTimeout:
            t0 = time.perf_counter()
            try:
                reply = self._read(self.spec.timeout)
            finally:
                self.init_overrun_s = time.perf_counter() - t0
            reply["init_timed_out"] = True
        self.init_ms = (time.perf_counter() - self._spawned_at) * 1000
        return reply

    def _send(self, obj: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())
        except (BrokenPipeError, OSError) as exc:
            raise WorkerDied(str(exc)) from exc

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            ready, _, _ = select.select([self._out_fd], [], [], remaining)
            if not ready:
                raise WorkerTimeout()
            chunk = os.read(self._out_fd, 1 << 16)
            if not chunk:
                raise WorkerDied(f"worker exited with status {self.proc.wait()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def invoke(self, request_id: str, payload: bytes, arn: str, timeout: float) -> dict:
        deadline_ms = time.time() * 1000 + timeout * 1000
        self._send({"id": request_id, "payload": payload.decode("utf-8", "replace"),
                    "deadline_ms": deadline_ms, "arn": arn})
        self.invocations += 1
        return self._read(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._stderr.close()
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)


class WorkerPool:
    """LambdaRuntime's part that hands out execution environments (mixin: uses self._lock,
    self._idle, self._busy, self._current_key, self.concurrency, self.worker_log, self.root,
    self.isolate, self.max_idle, self._closed, self._async, self._prepare, self.logs)."""

    # ---- worker pool ------------------------------------------------------------------
    def _acquire(self, spec: FunctionSpec) -> tuple[Worker, bool]:
        stale: list[Worker] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the local cloud is stopping")
            previous = self._current_key.get(spec.function_arn)
            if previous is not None and previous != spec.key:
                stale = self._idle.pop(previous, [])  # code or configuration changed
            self._current_key[spec.function_arn] = spec.key
            idle = self._idle.get(spec.key)
            worker = idle.pop() if idle else None
            if worker is not None:
                self._busy.add(worker)
        for w in stale:
            w.kill()
        if worker is not None:
            return worker, False
        # a cold start: at most `init_slots` environments start at once (released by
        # invoke_sync once init is over); waiting here is bounded and never counted
        # against the function's timeout
        slot = self.concurrency.init_slot()
        got = slot.acquire(timeout=INIT_TIMEOUT_S + spec.timeout)
        try:
            worker = Worker(spec, self.worker_log, self.root / "tmp", isolate=self.isolate)
        except BaseException:
            if got:
                slot.release()
            raise
        worker.holds_init_slot = got
        with self._lock:
            self._busy.add(worker)
        return worker, True

    def _end_init(self, worker: Worker) -> None:
        if getattr(worker, "holds_init_slot", False):
            worker.holds_init_slot = False
            self.concurrency.init_slot().release()

    def _release(self, worker: Worker, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            keep = (reusable and not self._closed and worker.alive()
                    and self._current_key.get(worker.spec.function_arn) == worker.spec.key)
            if keep:
                idle = self._idle.setdefault(worker.spec.key, [])
                keep = len(idle) < self.max_idle
                if keep:
                    idle.append(worker)
        if not keep:
            worker.kill()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for ws in self._idle.values() for w in ws] + [w.pid for w in self._busy]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [w for ws in self._idle.values() for w in ws] + list(self._busy)
            self._idle.clear()
            self._busy.clear()
        self._async.shutdown(wait=False, cancel_futures=True)
        self._prepare.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.kill()
        self.logs.close()

