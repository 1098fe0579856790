"""pytest plugin that runs moto's own server-mode tests against a server of our choosing.

Loaded into a run of moto's test suite (`-p localcloud.compat.plugin`, with
TEST_SERVER_MODE=true in the environment, as moto's CI runs its server-mode job):

* every process that runs tests (each xdist worker, or the one process without xdist)
  starts its own server on a free port: `localcloud up` (--compat-target=localcloud) or
  plain `moto_server` (--compat-target=moto), each in its own process as moto's CI runs
  its server, and points moto's tests at it (TEST_SERVER_MODE_ENDPOINT, MOTO_PORT);
  moto's `/moto-api/reset` between tests goes to that worker's own server, so resets are
  honoured without workers clobbering each other;
* the process that sees every report (the xdist controller, or the one process) writes
  each test's outcome and duration to --compat-results (JSON).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from localcloud.core.cloud import answers, free_port

TARGETS = ("localcloud", "moto")
START_TIMEOUT_S = 90.0
# Variables of the test process that must not reach the server: the server is not a test.
_TEST_ONLY_ENV = ("TEST_SERVER_MODE", "TEST_SERVER_MODE_ENDPOINT", "MOTO_PORT",
                  "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compat", "localcloud compatibility gate")
    group.addoption("--compat-target", choices=TARGETS, default="localcloud",
                    help="the server moto's tests run against (default: localcloud)")
    group.addoption("--compat-results", default=None,
                    help="write {nodeid: outcome} and durations here (JSON)")
    group.addoption("--compat-only", default=None,
                    help="a file of test ids, one a line: run only these")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    only = config.getoption("--compat-only")
    if not only:
        return
    wanted = set(Path(only).read_text().split("\n")) - {""}
    keep = [item for item in items if item.nodeid in wanted]
    dropped = [item for item in items if item.nodeid not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep






class Server:
    """One server process (localcloud or moto_server) on a free loopback port."""

    def __init__(self, target: str, log_dir: Path):
        self.target = target
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix=f"compat-{target}-"))
        env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY_ENV}
        if target == "localcloud":
            env["LOCALCLOUD_HOME"] = str(self.home)
            # The gate says which authentication mode (`run --auth`); moto's tests sign with
            # the cloud's operator key (_sign_with_the_operator_key), and in `any` a key the
            # cloud does not know is the operator too (deviations.toml:
            # motos_tests_sign_with_made_up_keys).
            env["LOCALCLOUD_AUTH"] = os.environ.get("LOCALCLOUD_AUTH") or "any"
            cmd = [sys.executable, "-m", "localcloud.cli", "up", "--port", str(self.port)]
            probe = "/_localcloud/health"
        else:
            cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                   "-p", str(self.port)]
            probe = "/moto-api/data.json"
        log_dir.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.log_path = log_dir / f"{target}-{worker}.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(self.home),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"http://127.0.0.1:{self.port}{probe}"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{target} server did not start on port {self.port}; "
                                   f"see {self.log_path}")
            time.sleep(0.1)
        if target == "localcloud":
            from localcloud.core import operator
            _CONTROL_KEY[0] = operator.read(self.home / str(self.port) / "credentials")
            if env["LOCALCLOUD_AUTH"] == "aws":
                _sign_with_the_operator_key(_CONTROL_KEY[0])
        self._check_reset()

    def _check_reset(self) -> None:
        """moto's tests reset the server before each test exactly like this (and ignore the
        answer): a server that refused it would leak state between tests unnoticed."""
        import requests

        resp = requests.post(f"{self.endpoint}/moto-api/reset", timeout=30)
        if resp.status_code != 200:
            self.stop()
            raise RuntimeError(f"{self.target} refuses moto's POST /moto-api/reset "
                               f"({resp.status_code} {resp.text[:200]}); moto's tests need it")

    @property
    def endpoint(self) -> str:
        # moto's default endpoint names localhost (settings.test_server_mode_endpoint)
        return f"http://localhost:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def _is_xdist_controller(config: pytest.Config) -> bool:
    return (not hasattr(config, "workerinput")
            and bool(getattr(config.option, "numprocesses", None))
            and getattr(config.option, "dist", "no") != "no")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("TEST_SERVER_MODE", "").lower() != "true":
        raise pytest.UsageError("localcloud.compat.plugin runs moto's tests in server mode: "
                                "set TEST_SERVER_MODE=true before pytest starts")
    config._compat_results = {}  # type: ignore[attr-defined]
    config._compat_durations = {}  # type: ignore[attr-defined]
    config._compat_reasons = {}  # type: ignore[attr-defined]
    config._compat_server = None  # type: ignore[attr-defined]
    if _is_xdist_controller(config):
        return  # the workers run the tests, each with its own server
    results = config.getoption("--compat-results")
    log_dir = Path(results).parent / "logs" if results else Path(tempfile.gettempdir())
    if config.getoption("--compat-target") == "localcloud":
        _send_control_header_to_moto_api()
        _valid_trust_for_the_lambda_helper_role()
    server = Server(config.getoption("--compat-target"), log_dir)
    config._compat_server = server  # type: ignore[attr-defined]
    os.environ["TEST_SERVER_MODE_ENDPOINT"] = server.endpoint
    os.environ["MOTO_PORT"] = str(server.port)


_CONTROL_KEY: list = [None]  # the local cloud's operator key, once its server is up


def _sign_with_the_operator_key(key) -> None:
    """In the default mode (`run --auth aws`): moto's `mock_aws` sets
    AWS_ACCESS_KEY_ID=FOOBARKEY for every test (its `mock_credentials`); tell it not to, and
    give the test process the cloud's operator key instead, as `localcloud env` gives any
    other tool, so moto's tests sign as the account's administrator. Tests that sign with
    keys of their own, send unsigned HTTP or sign under a frozen 2012 clock are then refused
    as AWS would refuse them (deviations.toml: motos_tests_sign_with_made_up_keys)."""
    from moto.core.config import default_user_config

    default_user_config.setdefault("core", {})["mock_credentials"] = False
    os.environ["AWS_ACCESS_KEY_ID"] = key.access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = key.secret_access_key
    os.environ.pop("AWS_SESSION_TOKEN", None)


def _send_control_header_to_moto_api() -> None:
    """The local cloud serves moto's /moto-api/* (reset, reset-auth, ...) only to non-simple
    requests (its guard against web pages: the X-Localcloud-Control header or a JSON body);
    moto's test harness POSTs them bare. Add the header to moto-api calls made through
    requests.* in the test process, and sign them with the cloud's operator key (control
    paths answer only that key) (deviations.toml: moto_api_is_a_control_path)."""
    import requests.api

    if getattr(requests.api.request, "_compat_control", False):
        return
    original = requests.api.request

    def request(method, url, **kwargs):
        if "/moto-api/" in str(url):
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "X-Localcloud-Control": "1"}
            if _CONTROL_KEY[0] is not None:  # control paths answer only the operator's key
                from localcloud.core.operator import signed_control_headers
                body = kwargs.get("data") or b""
                kwargs["headers"] = signed_control_headers(
                    _CONTROL_KEY[0], method.upper(), str(url),
                    body.encode() if isinstance(body, str) else body, kwargs["headers"])
        return original(method, url, **kwargs)

    request._compat_control = True
    requests.api.request = request


# moto's tests/test_awslambda/utilities.py:get_role_name creates its role with this call and
# retries it in `while True` on any ClientError (deviations.toml:
# lambda_helper_role_trust_document).
_HELPER_ROLE = {"RoleName": "my-role", "Path": "/my-path/", "AssumeRolePolicyDocument": "some policy"}
_LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _valid_trust_for_the_lambda_helper_role() -> None:
    """moto's Lambda test helper creates its execution role with the trust document
    "some policy", which AWS (and the local cloud) refuse with MalformedPolicyDocument, and
    then retries forever: every Lambda test would hang. Give that one call (exactly that
    role name, path and document) a valid Lambda trust document; the tests it serves are
    about Lambda, not IAM. moto's IAM tests that send "some policy" are left as they are."""
    from botocore.client import BaseClient

    if getattr(BaseClient._make_api_call, "_compat_trust", False):
        return
    original = BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        if operation_name == "CreateRole" and all(api_params.get(k) == v for k, v in _HELPER_ROLE.items()):
            api_params = {**api_params, "AssumeRolePolicyDocument": _LAMBDA_TRUST}
        return original(self, operation_name, api_params)

    _make_api_call._compat_trust = True
    BaseClient._make_api_call = _make_api_call


def pytest_unconfigure(config: pytest.Config) -> None:
    server = getattr(config, "_compat_server", None)
    if server is not None:
        server.stop()


def _outcome(report: pytest.TestReport) -> str:
    if report.failed:
        return "failed"
    if report.skipped:
        return "xfailed" if hasattr(report, "wasxfail") else "skipped"
    return "passed"


_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "failed": 2}


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """One outcome per test over its phases: a failure anywhere wins, then a skip."""
    config = _CONFIG.get("config")
    if config is None or hasattr(config, "workerinput"):
        return
    outcome = _outcome(report)
    previous = config._compat_results.get(report.nodeid)
    if previous is None or _RANK[outcome] > _RANK[previous]:
        config._compat_results[report.nodeid] = outcome
    if outcome == "failed" and report.nodeid not in config._compat_reasons:
        config._compat_reasons[report.nodeid] = report.longreprtext[-1500:]
    config._compat_durations[report.nodeid] = round(
        config._compat_durations.get(report.nodeid, 0.0) + report.duration, 3)


_CONFIG: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config
    session.config._compat_started = time.monotonic()  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    path = config.getoption("--compat-results")
    if not path or hasattr(config, "workerinput"):
        return
    import moto

    doc = {
        "target": config.getoption("--compat-target"),
        "moto_version": moto.__version__,
        "wall_seconds": round(time.monotonic() - config._compat_started, 1),
        "results": dict(sorted(config._compat_results.items())),
        "durations": dict(sorted(config._compat_durations.items())),
        "reasons": dict(sorted(config._compat_reasons.items())),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")
