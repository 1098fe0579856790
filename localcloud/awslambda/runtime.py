"""Lambda execution: every invoke (Invoke API, S3 events, API Gateway, schedules) runs here.

- Code: the function's zip and its layers, read from moto's backend (`LambdaFunction.code_bytes`,
  `LayerVersion.code_bytes`), extracted once per code sha under state_dir/lambda/.
- Worker: `python -I -S _worker.py`, sys.path = [code dir, layers' python/ dirs (a later
  layer first, as a later layer overwrites an earlier one in /opt), a runtime dir that exposes
  only what AWS's Python runtime provides: boto3, botocore and their dependencies].
- Warm reuse per (function version, code sha, configuration); a busy worker is never shared.
- Timeout: the worker is killed; the invoke reports `Task timed out after N.00 seconds`.
- Logs: START / the function's output / END / REPORT in CloudWatch Logs /aws/lambda/<name>.

The moto hook: `moto.awslambda.models.LambdaFunction.invoke` (the Invoke API path) is replaced
by `_patched_invoke`, which routes to the running LocalCloud.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
import select
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core import hooks
from ..core.cloud import InvokeResult, active_cloud
from ..core import sandbox
from ..core.moto_request import access_key, account_of, region_of
from .client_errors import client_errors_middleware, payload_error
from .concurrency import THROTTLE_MESSAGE, Concurrency, Throttled
from ..logs import cloudwatch as logs

log = logging.getLogger("localcloud")

WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
# What AWS's Python runtime itself provides besides the standard library.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
LOG_TAIL_BYTES = 4096
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit, apart from the function's timeout
# How long an invoke may wait for a free execution environment, by who invokes: the Invoke
# API never waits (429 at once, as on AWS), API Gateway up to its integration timeout,
# asynchronous sources (Event, S3, schedules) as long as AWS's event queue would retry.
WAIT_FOR_CAPACITY_S = {"Invoke": 0.0, "apigateway": 29.0}
ASYNC_WAIT_FOR_CAPACITY_S = 900.0
CODE_CACHE_MAX_AGE_S = 14 * 86400  # an extracted package unused this long is removed
LOG_FLUSH_INTERVAL_S = 0.02  # Lambda log lines reach CloudWatch Logs within about this


class WorkerDied(RuntimeError):
    pass


class WorkerTimeout(RuntimeError):
    pass


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _extract_zip(data: bytes, dest: Path) -> Path:
    """Extract a zip once into dest (atomic: a temp dir renamed into place, so concurrent
    extractions, even by two local clouds sharing the cache, never see a half-written dir)."""
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
    except zipfile.BadZipFile as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"the deployment package is not a valid zip file: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, dest)
    except OSError:  # another thread or process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def default_code_cache() -> Path:
    """Where extracted function and layer zips are kept across local cloud restarts:
    $LOCALCLOUD_HOME/code (default ~/.cache/localcloud/code), one dir per content hash."""
    return Path(os.environ.get("LOCALCLOUD_HOME") or Path.home() / ".cache" / "localcloud") / "code"


def prune_code_cache(root: Path, max_age_s: float = CODE_CACHE_MAX_AGE_S) -> int:
    """Remove extracted packages unused (mtime, touched on use) for max_age_s; returns count."""
    removed = 0
    cutoff = time.time() - max_age_s
    for kind in ("code", "layers"):
        d = root / kind
        if not d.is_dir():
            continue
        for entry in d.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            except OSError:
                pass
    return removed


def build_runtime_dir(dest: Path) -> Path:
    """A directory exposing only the host's boto3, botocore and their dependencies (symlinks)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            log.warning("runtime module %s not found on the host; Lambdas will lack it", name)
            continue
        origin = Path(spec.origin)
        src = origin.parent if origin.name == "__init__.py" else origin
        link = dest / src.name
        if not link.exists():
            try:
                link.symlink_to(src)
            except FileExistsError:
                pass
    return dest


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
    sys_path: tuple
    env: tuple  # sorted (name, value) pairs

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
        # Each execution environment has its own /tmp on AWS: never share the host's, where
        # two workers (or two clouds) would overwrite each other's files.
        self.tmp_dir: Path | None = None
        if tmp_root is not None:
            self.tmp_dir = tmp_root / env_id
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(self.tmp_dir)
        self._stderr = open(stderr_path, "ab")
        t0 = time.perf_counter()
        argv = [sys.executable, "-I", "-S", str(WORKER_SCRIPT)]
        if isolate:  # private /tmp, the operator's home hidden (localcloud.core.sandbox)
            env["LOCALCLOUD_SANDBOX"] = json.dumps(sandbox.plan(
                [*spec.sys_path, WORKER_SCRIPT.parent, *([self.tmp_dir] if self.tmp_dir else [])]))
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


class LogShipper:
    """Lambda log lines to CloudWatch Logs (moto's backend) off the invoke's path.

    `put` queues an invoke's lines (timestamped when queued); a background thread writes
    what has queued every LOG_FLUSH_INTERVAL_S, in order. `flush` writes everything queued
    now: the runtime calls it before any CloudWatch Logs API request is served, so a reader
    always sees the lines of every invoke that has returned.
    """

    def __init__(self, interval: float = LOG_FLUSH_INTERVAL_S):
        self.interval = interval
        self._pending: list[tuple] = []
        self._cv = threading.Condition()
        self._flush_lock = threading.Lock()  # keeps batches in order
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="localcloud-lambda-logs",
                                        daemon=True)
        self._thread.start()

    def put(self, account_id: str, region: str, group: str, stream: str,
            lines: list[str]) -> None:
        item = (account_id, region, group, stream, lines, int(time.time() * 1000))
        with self._cv:
            if self._closed:
                self._write([item])
                return
            self._pending.append(item)
            if len(self._pending) == 1:
                self._cv.notify()

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        with self._flush_lock:
            with self._cv:
                batch, self._pending = self._pending, []
            if batch:
                self._write(batch)

    @staticmethod
    def _write(batch: list[tuple]) -> None:
        for account, region, group, stream, lines, ts in batch:
            try:
                logs.put_lines(account, region, group, stream, lines, timestamp_ms=ts)
            except Exception:  # noqa: BLE001 - logging must not fail anything else
                log.exception("writing Lambda logs to %s failed", group)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
            time.sleep(self.interval)  # let an invoke burst gather into one batch
            self.flush()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=5)
        self.flush()


class LambdaRuntime:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.root = Path(cloud.state_dir) / "lambda"
        self.root.mkdir(parents=True, exist_ok=True)
        self.runtime_dir = build_runtime_dir(self.root / "runtime")
        self.worker_log = self.root / "workers.stderr.log"
        self.max_idle = int(cloud.options.get("lambda_idle_workers", 4))
        cache = cloud.options.get("code_cache_dir")
        self.code_cache = Path(cache) if cache else default_code_cache()
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[Worker]] = {}
        self._busy: set[Worker] = set()
        self._current_key: dict[str, tuple] = {}
        self._dirs: dict[str, Future] = {}
        self._specs: dict[int, tuple] = {}  # id(fn) -> (fn, fingerprint, FunctionSpec)
        # One record per package this runtime made ready: kind, code sha, bytes zipped,
        # seconds spent extracting (0.0 when found in the cache), cached, path.
        self.extractions: list[dict] = []
        self._closed = False
        self.logs = LogShipper()
        self.isolate = sandbox.available(cloud.options.get("isolation", "auto"))
        self.concurrency = Concurrency(cloud.options.get("lambda_concurrency"),
                                       cloud.options.get("lambda_init_slots"))
        self._async = ThreadPoolExecutor(max_workers=int(cloud.options.get("async_workers", 8)),
                                         thread_name_prefix="localcloud-async")
        self._prepare = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localcloud-extract")
        self._prepare.submit(prune_code_cache, self.code_cache)

    # ---- code and configuration -------------------------------------------------------
    def _code_dir(self, kind: str, sha: str, data_fn) -> Path:
        """The extracted package of this content (sha), extracting it on first use.

        Content-addressed under the code cache, so a package is extracted once per content,
        not per function, invoke or restart; a concurrent caller waits for the one
        extraction in flight (a layer published a moment ago is being extracted already).
        """
        if not sha:
            sha = base64.b64encode(hashlib.sha256(data_fn()).digest()).decode()
        name = hashlib.sha256(sha.encode()).hexdigest()[:32]
        with self._lock:
            fut = self._dirs.get(name)
            owner = fut is None
            if owner:
                fut = self._dirs[name] = Future()
        if not owner:
            return fut.result()
        try:
            dest = self.code_cache / kind / name
            cached = dest.is_dir()
            t0 = time.perf_counter()
            data = data_fn()
            _extract_zip(data, dest)
            seconds = 0.0 if cached else time.perf_counter() - t0
            try:
                os.utime(dest)  # last use, for prune_code_cache
            except OSError:
                pass
            self.extractions.append({"kind": kind, "sha": sha, "zipped_bytes": len(data),
                                     "seconds": round(seconds, 3), "cached": cached,
                                     "path": str(dest)})
            if not cached:
                log.info("extracted %s %s (%d bytes zipped) in %.2fs", kind, sha,
                         len(data), seconds)
        except BaseException as exc:
            with self._lock:
                self._dirs.pop(name, None)  # let a later call try again
            fut.set_exception(exc)
            raise
        fut.set_result(dest)
        return dest

    def prepare_layer(self, lv: Any) -> None:
        """Extract a just-published layer version in the background (a deploy-time cost,
        as on AWS, rather than the first invoke's)."""
        if self._closed or not getattr(lv, "code_bytes", b""):
            return

        def work() -> None:
            try:
                self._code_dir("layers", lv.code_sha_256, lambda: lv.code_bytes)
            except Exception as exc:  # noqa: BLE001 - the invoke reports it if it matters
                log.warning("could not extract layer %s: %s", getattr(lv, "arn", "?"), exc)

        self._prepare.submit(work)

    def spec_for(self, fn: Any) -> FunctionSpec:
        """The worker spec of a moto LambdaFunction (extracting code and layers if new).

        Cached per function object while everything the spec is built from is unchanged
        (moto updates a function's configuration in place)."""
        layers = getattr(fn, "layers", None) or []
        env_vars = getattr(fn, "environment_vars", None) or {}
        fingerprint = (fn.function_arn, fn.role, fn.code_sha_256, len(fn.code_bytes or b""), fn.handler,
                       fn.timeout, fn.memory_size, fn.run_time,
                       getattr(fn, "package_type", "Zip"), tuple(env_vars.items()),
                       tuple(layer.get("Arn") for layer in layers))
        hit = self._specs.get(id(fn))
        if hit is not None and hit[0] is fn and hit[1] == fingerprint:
            return hit[2]
        spec = self._build_spec(fn)
        if len(self._specs) > 512:
            self._specs.clear()
        self._specs[id(fn)] = (fn, fingerprint, spec)
        return spec

    def _build_spec(self, fn: Any) -> FunctionSpec:
        from moto.awslambda.utils import get_backend

        if getattr(fn, "package_type", "Zip") != "Zip":
            raise ValueError(f"function {fn.function_name}: only Zip packages run locally")
        if not fn.code_bytes:
            raise ValueError(f"function {fn.function_name} has no code (S3 object missing?)")
        code_dir = self._code_dir("code", fn.code_sha_256, lambda: fn.code_bytes)
        layer_paths: list[str] = []
        layer_ids = []
        backend = get_backend(fn.account_id, fn.region)
        for layer in fn.layers:
            lv = backend.layers_versions_by_arn(layer["Arn"])
            if lv is None:
                raise ValueError(f"layer version {layer['Arn']} no longer exists")
            ldir = self._code_dir("layers", lv.code_sha_256, lambda lv=lv: lv.code_bytes)
            layer_ids.append((lv.arn, lv.code_sha_256))
            py = ldir / "python"
            site = py / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
            # AWS merges layers into /opt in order (a later one overwrites): later first here.
            layer_paths[:0] = [str(site), str(py)]
        qualifier = fn.function_arn.split(":")[-1]
        version = qualifier if qualifier.isdigit() else "$LATEST"
        region, account = fn.region, fn.account_id
        reserved = {
            "_HANDLER": fn.handler or "",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time or 'python3'}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": logs.lambda_log_group(fn.function_name),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }
        iam = getattr(self.cloud, "iam", None)
        if iam is not None:  # the execution role's session, as Lambda sets it
            reserved.update(iam.function_env(fn))
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               **self.cloud.env_for_compute(region)}
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        env.update(reserved)
        env_items = tuple(sorted(env.items()))
        sys_path = (str(code_dir), *layer_paths, str(self.runtime_dir))
        key = (fn.function_arn, fn.code_sha_256, tuple(layer_ids), fn.handler, fn.timeout,
               fn.memory_size, env_items)
        return FunctionSpec(key=key, function_name=fn.function_name, function_arn=fn.function_arn,
                            version=version, region=region, account_id=account,
                            handler=fn.handler or "", timeout=float(fn.timeout),
                            memory_size=int(fn.memory_size), code_dir=code_dir,
                            sys_path=sys_path, env=env_items)

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

    # ---- invoking ---------------------------------------------------------------------
    def invoke(self, fn: Any, payload: bytes, *, invocation_type: str = "RequestResponse",
               source: str | None = None) -> InvokeResult:
        if invocation_type == "Event":
            self.invoke_async(fn, payload, source=source)
            return InvokeResult(202, b"", None, "")
        if invocation_type == "DryRun":
            return InvokeResult(204, b"", None, "")
        if invocation_type != "RequestResponse":
            raise ValueError(f"unknown invocation type {invocation_type!r}")
        return self.invoke_sync(fn, payload, source=source)

    def invoke_sync(self, fn: Any, payload: bytes, source: str | None = None,
                    wait_s: float | None = None) -> InvokeResult:
        wait = WAIT_FOR_CAPACITY_S.get(source or "Invoke", ASYNC_WAIT_FOR_CAPACITY_S) \
            if wait_s is None else wait_s
        try:
            token = self.concurrency.acquire(fn, wait)
        except Throttled as exc:
            log.info("lambda %s throttled (%s, source %s)", fn.function_name, exc.reason,
                     source or "Invoke")
            doc = {"Reason": exc.reason, "Type": "User", "message": THROTTLE_MESSAGE}
            return InvokeResult(429, json.dumps(doc).encode(), None, "")
        try:
            return self._invoke_in_slot(fn, payload, source)
        finally:
            self.concurrency.release(token)

    def _invoke_in_slot(self, fn: Any, payload: bytes, source: str | None) -> InvokeResult:
        try:
            spec = self.spec_for(fn)
        except ValueError as exc:
            doc = {"errorMessage": str(exc), "errorType": "Runtime.InvalidEntrypoint", "stackTrace": []}
            log.warning("lambda %s cannot run: %s", fn.function_name, exc)
            return InvokeResult(200, json.dumps(doc).encode(), "Unhandled", "")
        request_id = str(uuid.uuid4())
        worker, cold = self._acquire(spec)
        lines: list[str] = []
        init_ms = None
        reusable = False
        try:
            timeout = spec.timeout
            if cold:
                try:
                    init = worker.finish_init()
                finally:
                    self._end_init(worker)
                init_ms = worker.init_ms
                if init.get("init_timed_out"):
                    lines.append(f"INIT_REPORT Init Duration: {INIT_TIMEOUT_S * 1000:.2f} ms\t"
                                 "Phase: init\tStatus: timeout")
                    timeout = max(spec.timeout - worker.init_overrun_s, 0.001)
                lines.extend(_split_logs(init.get("logs", "")))
                if not init.get("init_ok"):
                    doc = init["error"]
                    lines.insert(0, f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {doc['errorType']}")
                    return self._finish(worker, spec, request_id, lines, doc, None, init_ms,
                                        0.0, 0, source, status="error")
            reply = worker.invoke(request_id, payload, spec.function_arn, timeout)
            reusable = True
            lines.extend(_split_logs(reply.get("logs", "")))
            return self._finish(worker, spec, request_id, lines, reply.get("error"),
                                reply.get("result"), init_ms, reply.get("duration_ms", 0.0),
                                reply.get("max_rss_mb", 0), source)
        except WorkerTimeout:
            worker.kill()
            msg = f"{_now_iso()} {request_id} Task timed out after {spec.timeout:.2f} seconds"
            lines.append(msg)
            doc = {"errorMessage": msg, "errorType": "Sandbox.Timedout"}
            return self._finish(worker, spec, request_id, lines, doc, None, init_ms,
                                spec.timeout * 1000, 0, source, status="timeout")
        except WorkerDied as exc:
            worker.kill()
            doc = {"errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                   f"exit status {worker.proc.returncode}",
                   "errorType": "Runtime.ExitError"}
            lines.append(doc["errorMessage"])
            log.warning("lambda %s worker died: %s", spec.function_name, exc)
            return self._finish(worker, spec, request_id, lines, doc, None, init_ms, 0.0, 0,
                                source, status="error")
        finally:
            self._end_init(worker)
            self._release(worker, reusable)

    def _finish(self, worker: Worker, spec: FunctionSpec, request_id: str, lines: list[str],
                error: dict | None, result: str | None, init_ms: float | None,
                duration_ms: float, max_rss_mb: int, source: str | None,
                status: str | None = None) -> InvokeResult:
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {max(1, int(-(-duration_ms // 1)))} ms\t"
                  f"Memory Size: {spec.memory_size} MB\tMax Memory Used: {max_rss_mb} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        all_lines = [f"START RequestId: {request_id} Version: {spec.version}", *lines,
                     f"END RequestId: {request_id}", report]
        self.logs.put(spec.account_id, spec.region, spec.log_group, worker.log_stream, all_lines)
        tail = "\n".join(all_lines) + "\n"
        tail_bytes = tail.encode()[-LOG_TAIL_BYTES:]
        if error is not None:
            return InvokeResult(200, json.dumps(error).encode(), "Unhandled",
                                tail_bytes.decode("utf-8", "ignore"))
        return InvokeResult(200, (result if result is not None else "null").encode(), None,
                            tail_bytes.decode("utf-8", "ignore"))

    # ---- async (Event) invokes --------------------------------------------------------
    def invoke_async(self, fn: Any, payload: bytes, source: str | None = None,
                     on_done: Any = None) -> None:
        """Queue an Event invoke: retried (default twice, with backoff) on a function error."""
        retries = 2
        for cfg in getattr(fn, "event_invoke_config", []) or []:
            cfg_doc = getattr(cfg, "config", cfg)
            if isinstance(cfg_doc, dict) and "MaximumRetryAttempts" in cfg_doc:
                retries = int(cfg_doc["MaximumRetryAttempts"])
        self._async.submit(self._run_async, fn, payload, retries, source, on_done)

    def _run_async(self, fn: Any, payload: bytes, retries: int, source: str | None,
                   on_done: Any) -> None:
        delays = list(self.cloud.async_retry_delays) or [1.0]
        result = None
        for attempt in range(retries + 1):
            if self._closed:
                return
            try:
                result = self.invoke_sync(fn, payload, source=source,
                                          wait_s=ASYNC_WAIT_FOR_CAPACITY_S)
            except Exception:  # noqa: BLE001
                log.exception("async invoke of %s failed", fn.function_name)
                result = None
            if result is not None and result.function_error is None:
                break
            if attempt < retries:
                delay = delays[min(attempt, len(delays) - 1)]
                log.info("async invoke of %s (%s) failed (attempt %d); retrying in %.1fs",
                         fn.function_name, source or "Event", attempt + 1, delay)
                time.sleep(delay)
        else:
            log.warning("async invoke of %s (%s) failed after %d attempts: %s",
                        fn.function_name, source or "Event", retries + 1,
                        result.payload[:500] if result else "internal error")
            from .destinations import deliver_failure
            deliver_failure(fn, payload, retries + 1, result.payload if result else None)
        if on_done is not None:
            on_done(result)

    def invoke_by_name(self, function_name_or_arn: str, payload: bytes, *,
                       invocation_type: str = "RequestResponse", region: str = "us-east-1",
                       account_id: str = "123456789012", source: str | None = None) -> InvokeResult:
        from moto.awslambda.utils import get_backend

        qualifier = None
        if function_name_or_arn.startswith("arn:"):
            parts = function_name_or_arn.split(":")
            region, account_id = parts[3], parts[4]
        try:
            fn = get_backend(account_id, region).get_function(function_name_or_arn, qualifier)
        except Exception as exc:  # noqa: BLE001 - moto raises its own not-found types
            doc = {"Type": "User", "Message": f"Function not found: {function_name_or_arn} ({exc})"}
            return InvokeResult(404, json.dumps(doc).encode(), None, "")
        if isinstance(payload, str):
            payload = payload.encode()
        return self.invoke(fn, payload, invocation_type=invocation_type, source=source)


def _split_logs(text: str) -> list[str]:
    return text.splitlines() if text else []


# ---- the moto hook ------------------------------------------------------------------------
def _original_invoke():
    from moto.awslambda.models import LambdaFunction
    return hooks.original(LambdaFunction, "invoke")


def _too_many_requests() -> Exception:
    """Invoke's throttle, for moto's own dispatch (the fast path answers it itself)."""
    from moto.awslambda.exceptions import LambdaClientError

    class TooManyRequests(LambdaClientError):
        code = 429

    return TooManyRequests("TooManyRequestsException", THROTTLE_MESSAGE)


def _patched_invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    cloud = active_cloud()
    if cloud is None or cloud.runtime is None:
        return _original_invoke()(self, body, request_headers, response_headers)
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode()
    inv_type = (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
    res = cloud.runtime.invoke(self, body, invocation_type=inv_type, source="Invoke")
    if res.status_code == 429:
        raise _too_many_requests()
    if res.function_error:
        response_headers["x-amz-function-error"] = res.function_error
    if inv_type == "RequestResponse":
        response_headers["x-amz-log-result"] = base64.b64encode(res.log_tail.encode()).decode()
        # the version that ran (an alias or qualifier resolved), as Invoke answers it
        response_headers["x-amz-executed-version"] = str(self.version)
    return res.payload


# ---- the Invoke API without moto's request dispatch ---------------------------------------
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([A-Za-z0-9_-]+)/invocations/?$")
_FAST_TYPES = {"RequestResponse": "200 OK", "Event": "202 Accepted", "DryRun": "204 No Content"}
MAX_SYNC_RESPONSE = 6_000_000  # moto's limit for a RequestResponse payload


def _fast_invoke_target(environ: dict) -> tuple[str, str, str] | None:
    """(function name, account, region) when moto would add nothing to this Invoke; else None.

    Mirrors what moto's dispatch decides for `POST /2015-03-31/functions/NAME/invocations`:
    the region from the URL host, the User-Agent or the SigV4 scope (moto's own regexes);
    the account from MOTO_ACCOUNT_ID, `x-moto-account-id` or the access key (moto's own
    `BaseResponse.get_current_account`). Anything unusual (an ARN or qualifier, a compressed
    body, IAM auth or the request recorder switched on) is left to moto.
    """
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
        return None
    m = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
    if m is None:
        return None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "/lambda/aws4_request" not in auth or environ.get("HTTP_CONTENT_ENCODING"):
        return None
    if environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") not in _FAST_TYPES:
        return None
    from moto import settings
    from moto.moto_api import recorder

    if settings.INITIAL_NO_AUTH_ACTION_COUNT != float("inf") or recorder._user_enabled:
        return None
    return m.group(1), account_of(environ), region_of(environ)


def _invoke_middleware(app: Any, cloud: Any) -> Any:
    """Serve Lambda Invoke straight from the runtime; moto's dispatch (Flask, request
    parsing, response serialisation: about 1 ms) adds nothing to it. The answer is the one
    moto's route gives with our invoke hook: same status, headers and payload."""

    def middleware(environ: dict, start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/2015-03-31/functions/"):
            runtime = cloud.runtime
            if runtime is not None and runtime.logs.pending and \
                    environ.get("HTTP_X_AMZ_TARGET", "").startswith("Logs_"):
                runtime.logs.flush()  # a CloudWatch Logs reader sees every finished invoke
            return app(environ, start_response)
        target = _fast_invoke_target(environ)
        if target is None:
            return app(environ, start_response)
        name, account, region = target
        from moto.awslambda.utils import get_backend
        from moto.iam.models import mark_account_as_visited

        try:
            fn = get_backend(account, region).get_function(name)
        except Exception:  # noqa: BLE001 - not found etc.: moto answers with its own error
            return app(environ, start_response)
        runtime = cloud.runtime
        if runtime is None:
            return app(environ, start_response)
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""
        if environ.get("wsgi.input_terminated"):
            body = stream.read()
        else:
            body = stream.read(int(length)) if length.isdigit() and int(length) > 0 else b""
        mark_account_as_visited(account_id=account, access_key=access_key(environ),
                                service="awslambda", region=region)
        bad = payload_error(body)
        if bad is not None:  # AWS refuses a payload that is not JSON before running anything
            doc = json.dumps({"Type": "User", "message": bad}).encode()
            start_response("400 Bad Request", [
                ("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amzn-ErrorType", "InvalidRequestContentException"),
                ("Content-Length", str(len(doc)))])
            return [doc]
        inv_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"
        res = runtime.invoke(fn, body, invocation_type=inv_type, source="Invoke")
        payload = res.payload
        if res.status_code == 429:
            start_response("429 Too Many Requests", [
                ("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())),
                ("x-amzn-ErrorType", "TooManyRequestsException"),
                ("Content-Length", str(len(payload)))])
            return [payload]
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-RequestId", str(uuid.uuid4())),
                   ("Access-Control-Allow-Origin", "*")]
        if inv_type == "RequestResponse":
            headers.append(("X-Amz-Executed-Version", fn.version))
            if sys.getsizeof(payload) > MAX_SYNC_RESPONSE:
                payload = json.dumps({
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                                    "size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge"}).encode()
                headers.append(("x-amz-function-error", "Unhandled"))
            elif res.function_error:
                headers.append(("x-amz-function-error", res.function_error))
            if environ.get("HTTP_X_AMZ_LOG_TYPE") == "Tail":
                headers.append(("x-amz-log-result",
                                base64.b64encode(res.log_tail.encode()).decode()))
        headers.append(("x-amz-crc32", str(binascii.crc32(payload))))
        headers.append(("Content-Length", str(len(payload))))
        start_response(_FAST_TYPES[inv_type], headers)
        return [payload]

    return middleware


def install(cloud: Any):
    """Give the cloud its Lambda runtime (`cloud.runtime`), route moto's
    LambdaFunction.invoke to it, serve the Invoke API directly (`_invoke_middleware`).
    Returns the uninstall."""
    from moto.awslambda.models import LambdaFunction

    from moto.awslambda.models import LambdaBackend

    runtime = cloud.runtime = LambdaRuntime(cloud)
    cloud.hook(LambdaFunction, "invoke", lambda _: _patched_invoke)

    def notify_concurrency(original: Any) -> Any:
        def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            finally:
                runtime.concurrency.changed()
        return patched

    cloud.hook(LambdaBackend, "put_function_concurrency", notify_concurrency)
    cloud.hook(LambdaBackend, "delete_function_concurrency", notify_concurrency)

    def publish_layer_version(original: Any) -> Any:
        def patched(self: Any, spec: dict) -> Any:
            lv = original(self, spec)
            runtime.prepare_layer(lv)
            return lv
        return patched

    cloud.hook(LambdaBackend, "publish_layer_version", publish_layer_version)
    # first, so it wraps moto directly: a client's fault is a JSON 4xx (client_errors)
    cloud.add_middleware(lambda app, _cloud: client_errors_middleware(app))
    cloud.add_middleware(_invoke_middleware)
    return runtime.close
