"""The local cloud's core: moto's server hosted in our process, plus the execution parts.

`LocalCloud` owns the HTTP server (moto's WSGI app, wrapped by middlewares) and the extension
points; every service is a package (`localcloud.awslambda`, `.s3`, `.ssm`, `.events`,
`.apigateway`) whose module listed in `_EXTENSIONS` gets `install(cloud)` during `start()` and
may return an uninstall callable. The core imports no service package: the Lambda runtime
sets `cloud.runtime`, S3 event delivery `cloud.s3_events` when installed.

moto's backends are process-global, so one process hosts at most one running LocalCloud.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import logfile, startup
from .hooks import Hook, install_hook
from .paths import HEALTH_PATH, RESET_PATH, SHUTDOWN_PATH  # noqa: F401 - re-exported
from .profile import Profile, resolve_profile

log = logging.getLogger("localcloud")

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Service modules installed by start() (and again by reset()), in this order; uninstalled in
# the reverse order. Each has `install(cloud) -> Callable[[], None] | None` (the optional
# uninstall). The Lambda runtime comes first: the others invoke functions through it.
_EXTENSIONS = [
    "localcloud.awslambda.runtime",
    "localcloud.awslambda.roles",
    "localcloud.awslambda.patches",
    "localcloud.awslambda.code_location",
    "localcloud.s3.notifications",
    "localcloud.s3.patches",
    "localcloud.ssm.commands",
    "localcloud.ssm.ops",
    "localcloud.ssm.parameters",
    "localcloud.ec2.launch",  # after ssm.commands: its RunInstances checks run first
    "localcloud.events.schedules",
    "localcloud.events.patches",
    "localcloud.logs.patches",
    "localcloud.apigateway.dataplane",
    # AWS's consistency under --like-aws (each off unless its profile field is set; s3.patches above)
    "localcloud.sqs.patches",
    "localcloud.apigateway.patches",
    "localcloud.apigateway.ratelimit",
    "localcloud.iam",  # its middleware checks every request before the services see it
    "localcloud.validation",  # malformed requests are refused before IAM parses them
    "localcloud.iam.auth_layer",  # last, outermost: the signature is checked on the request as sent
]

_ACTIVE: "LocalCloud | None" = None
_ACTIVE_LOCK = threading.Lock()


def active_cloud() -> "LocalCloud | None":
    """The LocalCloud running in this process, if any (moto hooks route to it)."""
    return _ACTIVE


def state_changed() -> None:
    """Something the durable state holds changed outside a request (an instance or command
    transition, Lambda log lines): the next snapshot includes it."""
    cloud = _ACTIVE
    if cloud is not None and cloud.state is not None:
        cloud.state.mark_dirty()


@dataclass
class InvokeResult:
    status_code: int
    payload: bytes
    function_error: str | None = None
    log_tail: str = ""
    request_id: str = ""  # the invocation's (its context's aws_request_id, its log lines')

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


def default_port() -> int:
    raw = os.environ.get("LOCALCLOUD_PORT", "")
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"LOCALCLOUD_PORT must be a port number, got {raw!r}") from None


def endpoint_for(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}"


def health(endpoint_url: str, timeout: float = 3.0) -> dict | None:
    """The health document of a local cloud answering at endpoint_url, else None."""
    from .operator import control_request

    try:
        with control_request(endpoint_url, HEALTH_PATH, timeout=timeout) as resp:
            doc = json.loads(resp.read())
            return doc if isinstance(doc, dict) and doc.get("localcloud") else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


class LocalCloud:
    """moto's AWS API on 127.0.0.1 plus Lambda execution, S3 event delivery and extensions.

    Options (keyword): `async_retry_delays` (seconds between the two async retries,
    default (1.0, 2.0)), `lambda_idle_workers` (idle warm workers kept per function
    version, default 4), `log_file` (the localcloud log; default state_dir/localcloud.log),
    `extensions` (module names, default `_EXTENSIONS`), `persist` (keep the state in
    state_dir/saved across restarts, `localcloud.core.state`; default False), `fresh` (with
    persist: forget what was saved), `state_interval` (seconds between snapshots, default 1),
    `profile` (`default` or `aws`) and the profile's fields (`localcloud.core.profile`);
    anything else is kept in `self.options` for the extensions to read.
    """

    def __init__(self, port: int = 0, state_dir: str | Path | None = None,
                 host: str = "127.0.0.1", **options: Any):
        self.host = host
        self._requested_port = int(port)
        self.port = int(port)
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else None  # set in start()
        self.options = options
        # AWS's delays and account shapes on demand (`localcloud up --like-aws`): core/profile.
        self.profile: Profile = resolve_profile(options)
        self.async_retry_delays = tuple(options.get("async_retry_delays", (1.0, 2.0)))
        self._extensions = list(options.get("extensions", _EXTENSIONS))
        self._middlewares: list[Callable] = []
        self._backgrounds: list[tuple[Callable, Callable]] = []
        self._started_backgrounds: list[tuple[Callable, Callable]] = []
        self._uninstalls: list[Callable[[], None]] = []
        self._wsgi: Callable | None = None
        self._moto_app: Callable | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._running = False
        self._stopped = threading.Event()
        self.runtime = None  # localcloud.awslambda.runtime.LambdaRuntime, set in start()
        self.s3_events = None  # localcloud.s3.notifications.S3EventDelivery, set in start()
        self._log_handler: logging.Handler | None = None
        self.state = None  # localcloud.core.state.StateKeeper when persist=True

    # ---- properties -------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return endpoint_for(self.port, self.host)

    @property
    def running(self) -> bool:
        return self._running

    # ---- lifecycle --------------------------------------------------------------------
    def start(self) -> "LocalCloud":
        global _ACTIVE
        with _ACTIVE_LOCK:
            if _ACTIVE is not None and _ACTIVE is not self:
                raise RuntimeError(
                    "a LocalCloud is already running in this process at "
                    f"{_ACTIVE.endpoint_url}; moto's state is process-wide, so reuse it "
                    "(pytest: the `local_cloud` fixture) instead of starting another")
            if self._running:
                return self
            _ACTIVE = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from werkzeug.serving import make_server

        from .server import QuietRequestHandler, make_moto_app

        startup.prepare_imports()
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="localcloud-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._log_handler = logfile.attach_file_log(
            Path(self.options.get("log_file") or self.state_dir / "localcloud.log"))
        self._stopped.clear()

        if self.options.get("persist"):
            from .state import DEFAULT_INTERVAL_S, StateKeeper
            self.state = StateKeeper(self.state_dir / "saved",
                                     float(self.options.get("state_interval",
                                                            DEFAULT_INTERVAL_S)))
            if self.options.get("fresh"):
                self.state.wipe()
            else:
                self.state.load()  # before any hook or extension looks at moto's backends
        self._moto_app = make_moto_app()
        self._server = make_server(self.host, self._requested_port, self._dispatch,
                                   threaded=True, request_handler=QuietRequestHandler)
        self._server._localcloud_connections = set()  # keep-alive connections, closed by stop()
        self.port = self._server.server_port

        self._install_extensions()

        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name=f"localcloud-server-{self.port}", daemon=True)
        self._thread.start()
        self._running = True
        self._start_backgrounds()
        if self.state is not None:
            self.state.forget_loaded_parts()  # parts nobody registered: not ours to keep
            self.state.start()
        deadline = time.monotonic() + 10
        while health(self.endpoint_url, timeout=1.0) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"local cloud did not answer at {self.endpoint_url}")
            time.sleep(0.02)
        log.info("local cloud up at %s (state %s)", self.endpoint_url, self.state_dir)

    def _install_extensions(self) -> None:
        for name in self._extensions:
            module = importlib.import_module(name)
            uninstall = module.install(self)
            if uninstall is not None:
                self._uninstalls.append(uninstall)

    def _start_backgrounds(self) -> None:
        for start_fn, stop_fn in list(self._backgrounds):
            if (start_fn, stop_fn) in self._started_backgrounds:
                continue
            start_fn()
            self._started_backgrounds.append((start_fn, stop_fn))

    def _stop_backgrounds(self) -> None:
        while self._started_backgrounds:
            _, stop_fn = self._started_backgrounds.pop()
            try:
                stop_fn()
            except Exception:  # noqa: BLE001 - stopping must go on
                log.exception("stopping a background task failed")

    def _run_uninstalls(self) -> None:
        while self._uninstalls:
            fn = self._uninstalls.pop()
            if fn is None:
                continue
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("uninstall failed")

    def stop(self) -> None:
        global _ACTIVE
        with self._lock:
            self._running = False
            self._stop_backgrounds()
            if self._server is not None:
                from .server import close_connections
                self._server.shutdown()
                close_connections(self._server)
                self._server.server_close()
                self._server = None
            if self._thread is not None:
                self._thread.join(timeout=5)
                self._thread = None
            self._run_uninstalls()  # extensions first (LIFO), then S3 delivery, then Lambda
            if self.state is not None:
                self.state.stop(final=True)  # the last changes, after workers and hosts ended
            self._backgrounds.clear()
            self._middlewares.clear()
            self._wsgi = None
            if self._log_handler is not None:
                logfile.detach_file_log(self._log_handler)
                self._log_handler = None
            if self._own_state_dir and self.state_dir is not None:
                shutil.rmtree(self.state_dir, ignore_errors=True)
                self.state_dir = None
            self._stopped.set()
        with _ACTIVE_LOCK:
            if _ACTIVE is self:
                _ACTIVE = None

    def reset(self) -> None:
        """Wipe every resource (moto reset), end all workers and hosts, reinstall extensions."""
        import contextlib
        keeping = self.state._lock if self.state is not None else contextlib.nullcontext()
        with self._lock, keeping:
            self._stop_backgrounds()
            self._run_uninstalls()
            self._backgrounds.clear()
            self._middlewares.clear()
            self._wsgi = None
            from moto.moto_api._internal.models import moto_api_backend
            moto_api_backend.reset()
            if self.state is not None:
                self.state.wipe()
                self.state.mark_dirty()  # the next snapshot is the empty cloud
            self._install_extensions()
            self._start_backgrounds()
        log.info("local cloud reset")

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def __enter__(self) -> "LocalCloud":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- extension points -------------------------------------------------------------
    def hook(self, owner: Any, name: str, make: Callable[[Any], Any]) -> Hook:
        """Patch moto's `owner.name` with `make(original)` until this cloud stops or resets
        (the one way services hook moto: `localcloud.core.hooks`)."""
        with self._lock:
            hook = install_hook(owner, name, make)
            self._uninstalls.append(hook.remove)
            return hook

    def add_middleware(self, wsgi_middleware_factory: Callable[[Callable, "LocalCloud"], Callable]) -> None:
        """Wrap the WSGI app: `factory(app, cloud) -> app`. Later middlewares wrap earlier ones."""
        with self._lock:
            self._middlewares.append(wsgi_middleware_factory)
            self._wsgi = None

    def register_state(self, name: str, dump: Callable[[], Any],
                       load: Callable[[Any], None]) -> None:
        """Keep a part of localcloud's own state across restarts (with persist=True):
        `dump()` -> a picklable value, taken at every snapshot; `load(value)` at restore."""
        if self.state is not None:
            self.state.register(name, dump, load)

    def add_background(self, start_fn: Callable[[], None], stop_fn: Callable[[], None]) -> None:
        """A background task started with the cloud (or at once if running) and stopped with it."""
        with self._lock:
            self._backgrounds.append((start_fn, stop_fn))
            if self._running:
                self._start_backgrounds()

    def env_for_compute(self, region: str = DEFAULT_REGION) -> dict[str, str]:
        """What boto3 inside a Lambda or on an instance host needs to reach this cloud."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            **DUMMY_CREDENTIALS,
        }

    # ---- Lambda -----------------------------------------------------------------------
    def invoke_function(self, function_name_or_arn: str, payload: bytes, *,
                        invocation_type: str = "RequestResponse", region: str = DEFAULT_REGION,
                        account_id: str = DEFAULT_ACCOUNT, source: str | None = None,
                        source_arn: str | None = None,
                        credentials_role: str | None = None) -> InvokeResult:
        """Invoke a deployed function in-process (API Gateway, schedules, S3 events use this).

        RequestResponse runs it and returns its result; Event queues it and returns 202 at
        once (retried twice with backoff on a function error, as AWS does for async invokes).
        `source` "apigateway" or "events" invokes as that service principal: the function's
        resource policy must allow it (with `source_arn`), else `localcloud.iam.InvokeDenied`.
        `credentials_role` (an API Gateway integration's `credentials`): the service assumes
        that role and invokes as it; the role's trust and policies decide instead of the
        function's resource policy.
        """
        if self.runtime is None:
            raise RuntimeError("LocalCloud is not started")
        iam = getattr(self, "iam", None)
        if iam is not None and credentials_role:
            iam.check_role_invoke(credentials_role, function_name_or_arn, region, account_id,
                                  f"{source}.amazonaws.com")
        elif iam is not None and source in ("apigateway", "events"):
            iam.check_invoke(function_name_or_arn, region, account_id,
                             f"{source}.amazonaws.com", source_arn)
        return self.runtime.invoke_by_name(function_name_or_arn, payload,
                                           invocation_type=invocation_type, region=region,
                                           account_id=account_id, source=source)

    # ---- WSGI -------------------------------------------------------------------------
    def _build_wsgi(self) -> Callable:
        from .guard import guard_middleware
        from .server import core_middleware
        moto_app = self._moto_app
        if self.state is not None:
            moto_app = self.state.gate_middleware(moto_app)
        app = core_middleware(moto_app, self)
        for factory in self._middlewares:
            app = factory(app, self)
        if self.state is not None:
            app = self.state.mark_middleware(app)
        return guard_middleware(app, self)  # outermost: Host, cross-site and control checks

    def _dispatch(self, environ: dict, start_response: Callable) -> Any:
        app = self._wsgi
        if app is None:
            with self._lock:
                if self._wsgi is None:
                    self._wsgi = self._build_wsgi()
                app = self._wsgi
        return app(environ, start_response)

    def health_doc(self) -> dict:
        iam = getattr(self, "iam", None)
        return {"localcloud": True, "pid": os.getpid(), "port": self.port,
                "endpoint_url": self.endpoint_url, "state_dir": str(self.state_dir),
                "state": self.state.describe() if self.state is not None else None,
                "isolation": self._isolation(),
                "profile": self.profile.as_dict(),
                "iam": iam.mode if iam is not None else "off"}

    def _isolation(self) -> dict:
        """What contains functions and instance hosts here (sandbox.describe)."""
        from . import sandbox
        return sandbox.describe(self.options.get("isolation", "auto"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    """True when a server answers ``url`` with any HTTP status (it is up), False when nothing
    listens yet."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
