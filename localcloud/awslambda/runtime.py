"""Lambda execution: every invoke (Invoke API, S3 events, API Gateway, schedules) runs here.

Split by job: `code_cache` (zips extracted once per content), `worker_pool` (execution
environments, warm reuse, timeouts), `log_shipping` (lines to CloudWatch Logs), `invoke_api`
(the moto hook and the Invoke API's fast path). This module holds `LambdaRuntime`: function
specs (code, layers, environment), the synchronous and asynchronous invoke paths, and
`install`.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.cloud import InvokeResult
from ..core import sandbox
from ..core._contain import MEMORY_EXIT
from .client_errors import client_errors_middleware
from . import runtime_sdk
from .code_cache import CodeCache, default_code_cache, prune_code_cache
from .concurrency import THROTTLE_MESSAGE, Concurrency, Throttled
from .invoke_api import _invoke_middleware, _patched_invoke
from .log_shipping import LogShipper
from .worker_pool import (INIT_TIMEOUT_S, FunctionSpec, Worker, WorkerDied, WorkerPool,
                          WorkerTimeout)
from ..logs import cloudwatch as logs

log = logging.getLogger("localcloud")

LOG_TAIL_BYTES = 4096
# How long an invoke may wait for a free execution environment, by who invokes: the Invoke
# API never waits (429 at once, as on AWS), API Gateway up to its integration timeout,
# asynchronous sources (Event, S3, schedules) as long as AWS's event queue would retry.
WAIT_FOR_CAPACITY_S = {"Invoke": 0.0, "apigateway": 29.0}
ASYNC_WAIT_FOR_CAPACITY_S = 900.0


def _exit_reason(code: int | None) -> str:
    """How AWS words a runtime's exit: `exit status N` or `signal: killed` (a contained
    environment's supervisor exits 128+N for signal N, or MEMORY_EXIT when it killed it)."""
    if code is None:
        return "exit status -1"
    sig = -code if code < 0 else (code - 128 if 128 < code < 160 else None)
    if code == MEMORY_EXIT or sig == signal.SIGKILL:
        return "signal: killed"
    if sig is not None:
        names = {signal.SIGSEGV: "segmentation fault", signal.SIGABRT: "aborted",
                 signal.SIGTERM: "terminated", signal.SIGBUS: "bus error"}
        return f"signal: {names.get(sig, signal.Signals(sig).name.lower())}"
    return f"exit status {code}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LambdaRuntime(CodeCache, WorkerPool):
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.root = Path(cloud.state_dir) / "lambda"
        self.root.mkdir(parents=True, exist_ok=True)
        # the runtime's own boto3/botocore (make setup), never the operator's venv
        self.runtime_dir = runtime_sdk.sdk_dir()
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

    def spec_for(self, fn: Any) -> FunctionSpec:
        """The worker spec of a moto LambdaFunction (extracting code and layers if new).

        Cached per function object while everything the spec is built from is unchanged
        (moto updates a function's configuration in place)."""
        layers = getattr(fn, "layers", None) or []
        env_vars = getattr(fn, "environment_vars", None) or {}
        fingerprint = (fn.function_arn, fn.role, fn.code_sha_256, len(fn.code_bytes or b""), fn.handler,
                       fn.timeout, fn.memory_size, getattr(fn, "ephemeral_storage", None),
                       fn.run_time,
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
        try:
            runtime_sdk.require()
        except RuntimeError as exc:
            raise ValueError(str(exc)) from exc
        code_dir = self._code_dir("code", fn.code_sha_256, lambda: fn.code_bytes)
        layer_paths: list[str] = []
        layer_dirs: list[Path] = []
        layer_ids = []
        backend = get_backend(fn.account_id, fn.region)
        for layer in fn.layers:
            lv = backend.layers_versions_by_arn(layer["Arn"])
            if lv is None:
                raise ValueError(f"layer version {layer['Arn']} no longer exists")
            ldir = self._code_dir("layers", lv.code_sha_256, lambda lv=lv: lv.code_bytes)
            layer_ids.append((lv.arn, lv.code_sha_256))
            layer_dirs.append(ldir)
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
        # the execution role's session, as Lambda sets it: one per environment (worker_pool)
        credentials = None if iam is None else (lambda environment: iam.function_env(fn, environment))
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               **self.cloud.env_for_compute(region)}
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        env.update(reserved)
        env_items = tuple(sorted(env.items()))
        sys_path = (str(code_dir), *layer_paths, str(self.runtime_dir))
        ephemeral_mb = int(getattr(fn, "ephemeral_storage", None) or 512)
        key = (fn.function_arn, fn.code_sha_256, tuple(layer_ids), fn.handler, fn.timeout,
               fn.memory_size, ephemeral_mb, env_items)
        return FunctionSpec(key=key, function_name=fn.function_name, function_arn=fn.function_arn,
                            version=version, region=region, account_id=account,
                            handler=fn.handler or "", timeout=float(fn.timeout),
                            memory_size=int(fn.memory_size), code_dir=code_dir,
                            ro_paths=(code_dir, *layer_dirs, self.runtime_dir),
                            ephemeral_mb=ephemeral_mb, sys_path=sys_path, env=env_items,
                            credentials=credentials)

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
        t_invoke = None
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
            t_invoke = time.perf_counter()
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
            code = worker.proc.returncode
            oom = code == MEMORY_EXIT
            # a runtime that exits 0 gave no reason (Lambda's words for it)
            reason = "Runtime exited without providing a reason" if code == 0 else \
                f"Runtime exited with error: {_exit_reason(code)}"
            doc = {"errorMessage": f"RequestId: {request_id} Error: {reason}",
                   "errorType": "Runtime.OutOfMemory" if oom else "Runtime.ExitError"}
            lines.append(doc["errorMessage"])
            lines.append(doc["errorType"])
            log.warning("lambda %s worker died: %s%s", spec.function_name, exc,
                        f" (over its MemorySize, {spec.memory_size} MB)" if oom else "")
            duration_ms = (time.perf_counter() - t_invoke) * 1000 if t_invoke else 0.0
            return self._finish(worker, spec, request_id, lines, doc, None, init_ms,
                                duration_ms, spec.memory_size if oom else 0, source,
                                status="error", error_type=doc["errorType"])
        finally:
            self._end_init(worker)
            self._release(worker, reusable)

    def _finish(self, worker: Worker, spec: FunctionSpec, request_id: str, lines: list[str],
                error: dict | None, result: str | None, init_ms: float | None,
                duration_ms: float, max_rss_mb: int, source: str | None,
                status: str | None = None, error_type: str | None = None) -> InvokeResult:
        report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
                  f"Billed Duration: {max(1, int(-(-duration_ms // 1)))} ms\t"
                  f"Memory Size: {spec.memory_size} MB\tMax Memory Used: {max_rss_mb} MB")
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if status:
            report += f"\tStatus: {status}"
        if error_type:
            report += f"\tError Type: {error_type}"
        if not status:
            report += "\t"  # Lambda ends each field of a plain REPORT line with a tab
        all_lines = [f"START RequestId: {request_id} Version: {spec.version}", *lines,
                     f"END RequestId: {request_id}", report]
        self.logs.put(spec.account_id, spec.region, spec.log_group, worker.log_stream, all_lines)
        tail = "\n".join(all_lines) + "\n"
        tail_bytes = tail.encode()[-LOG_TAIL_BYTES:]
        if error is not None:
            return InvokeResult(200, json.dumps(error).encode(), "Unhandled",
                                tail_bytes.decode("utf-8", "ignore"), request_id)
        return InvokeResult(200, (result if result is not None else "null").encode(), None,
                            tail_bytes.decode("utf-8", "ignore"), request_id)

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
