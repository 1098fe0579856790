"""The compatibility gate: moto's own server-mode tests against the local cloud.

    python -m localcloud.compat run [--fast] [-n N]   # make compat / make test (--fast)
    python -m localcloud.compat baseline [-n N]       # the same tests against plain moto_server

`run` fetches the installed moto's sdist through pip into build/compat/, extracts its
tests/, runs the suite below with TEST_SERVER_MODE=true (each pytest-xdist worker with a
local cloud of its own, see plugin.py), and fails on:

* a test that fails on the local cloud, is not a listed deviation (deviations.toml) and
  does not fail on plain moto_server too (moto_baseline.toml);
* a listed deviation whose test passes (stale: the file must say what really differs);
* a deviation whose opt-out does not give moto's behaviour back (its tests are run again
  with the opt-out's environment and must pass);
* files written for another moto than the installed one (the pin and the gate move
  together: upgrading moto means running `make compat-baseline` and `make compat`).

`baseline` writes moto_baseline.toml: the suite's tests that fail on plain moto_server,
with a reason each, so that a failure moto has too is not taken for one of ours.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
DEVIATIONS_FILE = HERE / "deviations.toml"
BASELINE_FILE = HERE / "moto_baseline.toml"

# moto's test directories for the services the local cloud touches (it hooks Lambda, S3
# notifications, EC2 instances, SSM commands, API Gateway, EventBridge, Logs, and serves
# IAM/STS), plus SQS's integration tests (SQS -> Lambda). The test_server.py files drive
# moto's WSGI app in-process and never reach a server, so they are left out.
SUITE = (
    "tests/test_sts",
    "tests/test_iam",
    "tests/test_logs",
    "tests/test_events",
    "tests/test_ssm",
    "tests/test_apigateway",
    "tests/test_ec2/test_instances.py",
    "tests/test_awslambda",
    "tests/test_s3",
    "tests/test_sqs/test_sqs_integration.py",
)
IGNORED = ("test_server.py",)
# The local cloud's authentication mode per kind of run (deviations.toml:
# motos_tests_sign_with_made_up_keys says why the whole suite needs `any`).
DEFAULT_AUTH = {"fast": "any", "full": "any", "selected": "any"}

# The fast subset run by `make test` (about a minute on 2 cores): S3 notifications to every
# destination kind (EventBridge with the multipart case, SQS, SNS), Lambda invokes, SSM
# commands (two deviations) and the parameter calls the pipeline makes (the AMI parameter),
# STS and API Gateway deployments. Each SSM test costs about a second of moto's backend reset
# (it loads AWS's public parameters), so the other 90 parameter-store tests run in `make compat`.
_S3_LAMBDA = "tests/test_s3/test_s3_lambda_integration.py::"
_SSM = "tests/test_ssm/test_ssm.py::"
FAST = (
    "tests/test_s3/test_s3_eventbridge_integration.py",
    "tests/test_s3/test_s3_notifications.py",
    _S3_LAMBDA + "test_object_copy__sends_to_queue",
    _S3_LAMBDA + "test_object_put__sends_to_queue__using_filter",
    _S3_LAMBDA + "test_put_bucket_notification_sns_sqs",
    _S3_LAMBDA + "test_put_bucket_notification_sns_sqs_raw_delivery",
    _S3_LAMBDA + "test_put_bucket_notification_sns_error",
    _S3_LAMBDA + "test_objectcreated_put__unknown_lambda_is_handled_gracefully",
    "tests/test_awslambda/test_lambda_invoke.py",
    _SSM + "test_send_command",
    _SSM + "test_list_commands",
    _SSM + "test_get_command_invocation",
    _SSM + "test_get_command_invocations_by_instance_tag",
    _SSM + "test_get_parameter",
    _SSM + "test_get_parameter_invalid",
    _SSM + "test_get_parameters_by_path",
    _SSM + "test_put_parameter",
    "tests/test_sts",
    "tests/test_apigateway/test_apigateway_deployments.py",
)


class GateError(Exception):
    """The gate cannot run (wrong version, fetch failed): exit 2 with this message."""


# ---- files --------------------------------------------------------------------------
@dataclass
class Deviation:
    name: str
    tests: list[str]
    aws: str
    docs: list[str]
    why: str
    opt_out: dict[str, str] = field(default_factory=dict)
    gap: bool = False  # a difference AWS does not require: a known bug, to fix
    # tests (of `tests`) that see the difference only when they outrun a timed transition:
    # on a loaded host they may pass, which does not make the entry stale
    timing: list[str] = field(default_factory=list)

    def covers(self, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in self.tests)

    def may_pass(self, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in self.timing)


def load_deviations(path: Path = DEVIATIONS_FILE) -> tuple[str, list[Deviation]]:
    """[deviation.NAME]: where the local cloud follows AWS, not moto (tests, aws, docs, why,
    optional opt_out); [gap.NAME]: a known difference AWS does not require (tests, why)."""
    doc = tomllib.loads(path.read_text())
    devs = []
    for name, d in doc.get("deviation", {}).items():
        missing = [k for k in ("aws", "docs", "why") if not d.get(k)] + \
            ([] if "tests" in d else ["tests"])
        if missing:
            raise GateError(f"{path.name}: deviation {name!r} lacks {', '.join(missing)}")
        devs.append(Deviation(name=name, tests=list(d["tests"]), aws=d["aws"],
                              docs=list(d["docs"]), why=d["why"],
                              opt_out={k: str(v) for k, v in d.get("opt_out", {}).items()},
                              timing=list(d.get("timing", []))))
    for name, d in doc.get("gap", {}).items():
        if not d.get("tests") or not d.get("why"):
            raise GateError(f"{path.name}: gap {name!r} needs tests and why")
        devs.append(Deviation(name=name, tests=list(d["tests"]), aws="", docs=[],
                              why=d["why"], gap=True))
    return doc["moto_version"], devs


def load_baseline(path: Path = BASELINE_FILE) -> tuple[str, dict[str, str], dict]:
    """(moto version, {test id: reason}, counts) of the tests that fail on plain moto and
    excuse a failure on the local cloud. Tests moto fails only for want of Docker are not
    excused: the local cloud runs Lambda functions itself, so they must pass on it (or be a
    listed deviation)."""
    doc = tomllib.loads(path.read_text())
    failing = {}
    for group in doc.get("failure", []):
        if group["reason"] == DOCKER_REASON:
            continue
        for test in group["tests"]:
            failing[test] = group["reason"]
    return doc["moto_version"], failing, doc.get("counts", {})


def baseline_failures(path: Path = BASELINE_FILE) -> set[str]:
    """Every test that fails on plain moto_server, whatever the reason."""
    doc = tomllib.loads(path.read_text())
    return {t for group in doc.get("failure", []) for t in group["tests"]}


def installed_moto() -> str:
    return metadata.version("moto")


def check_versions(deviations_version: str, baseline_version: str) -> str:
    version = installed_moto()
    stale = [f"{name} is for moto {v}" for name, v in
             (("deviations.toml", deviations_version), ("moto_baseline.toml", baseline_version))
             if v != version]
    if stale:
        raise GateError(
            f"moto {version} is installed but {'; '.join(stale)}. The pin and the gate move "
            "together: after changing moto's pin run `make compat-baseline` (which tests "
            "fail on plain moto) and `make compat`, review localcloud/compat/deviations.toml "
            "and set its moto_version.")
    return version


# ---- fetching moto's tests ------------------------------------------------------------
def fetch_tests(version: str, build: Path) -> Path:
    """moto's tests/ of `version`, from its sdist (pip download), under build/."""
    root = build / f"moto-{version}"
    if (root / "tests" / "__init__.py").exists():
        return root
    build.mkdir(parents=True, exist_ok=True)
    sdist = build / f"moto-{version}.tar.gz"
    if not sdist.exists():
        print(f"compat: fetching moto {version}'s sdist (its tests) with pip", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary", ":all:", f"moto=={version}", "-d", str(build)],
            capture_output=True, text=True)
        if proc.returncode != 0 or not sdist.exists():
            raise GateError(f"pip could not download moto {version}'s sdist:\n"
                            f"{proc.stdout}{proc.stderr}")
    prefix = f"moto-{version}/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix + "tests/") or m.name == prefix + "pyproject.toml"]
        tar.extractall(build, members=members, filter="data") \
            if hasattr(tarfile, "data_filter") else tar.extractall(build, members=members)
    if not (root / "tests" / "__init__.py").exists():
        raise GateError(f"{sdist} holds no tests/ directory")
    return root


# ---- running ----------------------------------------------------------------------------
def run_pytest(root: Path, target: str, paths: list[str], results: Path, workers: int,
               extra_env: dict[str, str] | None = None, label: str = "",
               select: list[str] | None = None) -> dict:
    """Run moto's tests `paths` (or the test ids `select`) against `target`; the results doc."""
    results = results.resolve()
    results.parent.mkdir(parents=True, exist_ok=True)
    log_path = results.with_suffix(".log")
    args = [sys.executable, "-m", "pytest", "-p", "localcloud.compat.plugin",
            "--compat-target", target, "--compat-results", str(results),
            "-p", "no:cacheprovider", "-q", "--color=no", "--tb=short", "-rN",
            "-o", "addopts=", "-W", "ignore::DeprecationWarning",
            # moto's own pytest settings (markers, warnings); test ids relative to its root
            "--rootdir", str(root), "-c", str(root / "pyproject.toml")]
    args += [f"--ignore-glob=*/{name}" for name in IGNORED]
    if workers > 0:
        # Test by test (not moto CI's loadscope): each worker has a server of its own and
        # moto resets it before each test, so no test depends on another's worker, and one
        # slow module no longer holds the run's end.
        args += ["-n", str(workers), "--dist", "load"]
    else:
        args += ["-p", "no:xdist"]
    if select:
        listing = results.with_suffix(".ids")
        listing.write_text("\n".join(select) + "\n")
        args += ["--compat-only", str(listing)]
        args += sorted({t.split("::")[0] for t in select})
    else:
        args += paths
    env = {**os.environ, "TEST_SERVER_MODE": "true", **(extra_env or {})}
    for k in ("TEST_SERVER_MODE_ENDPOINT", "MOTO_PORT", "AWS_ENDPOINT_URL", "MOTO_CALL_RESET_API"):
        env.pop(k, None)
    if results.exists():
        results.unlink()
    started = time.monotonic()
    what = label or target
    print(f"compat: {what}: pytest on {workers or 1} worker(s), log {log_path}", flush=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, cwd=str(root), env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        _heartbeat(proc, what, started, log_path)
    if not results.exists():
        tail = log_path.read_text()[-3000:]
        raise GateError(f"pytest ({what}) ended with status {proc.returncode} and no results; "
                        f"end of {log_path}:\n{tail}")
    doc = json.loads(results.read_text())
    doc["gate_wall_seconds"] = round(time.monotonic() - started, 1)
    return doc


def _heartbeat(proc: subprocess.Popen, what: str, started: float, log_path: Path) -> None:
    """Wait for pytest, saying every 30 s how far it got (its -q progress lines)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(30):
            try:
                text = log_path.read_text(errors="replace")
            except OSError:
                continue
            m = re.findall(r"\[\s*(\d+)%\]", text)
            done = f"{m[-1]}%" if m else "collecting"
            print(f"compat: {what}: {done} after {time.monotonic() - started:.0f} s", flush=True)

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        proc.wait()
    finally:
        stop.set()


# ---- judging ----------------------------------------------------------------------------
@dataclass
class Verdict:
    ran: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    deviating: dict[str, list[str]] = field(default_factory=dict)
    stale: dict[str, list[str]] = field(default_factory=dict)
    moto_fails_too: list[str] = field(default_factory=list)
    only_localcloud_passes: list[str] = field(default_factory=list)
    opt_out_broken: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.stale or self.opt_out_broken)


def judge(results: dict[str, str], deviations: list[Deviation],
          baseline: dict[str, str], moto_fails: set[str] = frozenset()) -> Verdict:
    """Sort each test of a local cloud run: passed, a listed deviation, failing on moto too,
    or unexpected; and each deviation whose tests (that ran) all pass: stale."""
    v = Verdict()
    for nodeid, outcome in results.items():
        if outcome in ("skipped", "xfailed"):
            continue
        v.ran += 1
        dev = next((d for d in deviations if d.covers(nodeid)), None)
        if outcome == "passed":
            v.passed += 1
            if nodeid in baseline or nodeid in moto_fails:
                v.only_localcloud_passes.append(nodeid)
            if dev is not None and not dev.may_pass(nodeid):
                v.stale.setdefault(dev.name, []).append(nodeid)
            continue
        v.failed.append(nodeid)
        if dev is not None:
            v.deviating.setdefault(dev.name, []).append(nodeid)
        elif nodeid in baseline:
            v.moto_fails_too.append(nodeid)
        else:
            v.unexpected.append(nodeid)
    return v


def listed_tests(deviations: list[Deviation], results: dict[str, str]) -> dict[str, list[str]]:
    """Per deviation, the test ids of this run it covers."""
    return {d.name: sorted(t for t in results if d.covers(t)) for d in deviations}


# ---- commands -------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    dev_version, deviations = load_deviations()
    base_version, baseline, base_counts = load_baseline()
    version = check_versions(dev_version, base_version)
    build = Path(args.build_dir).resolve()
    root = fetch_tests(version, build)
    paths = list(FAST if args.fast else SUITE)
    selection = list(getattr(args, "tests", None) or [])
    kind = "selected" if selection else "fast" if args.fast else "full"
    if getattr(args, "auth", None) is None:
        args.auth = DEFAULT_AUTH[kind]
    auth = {"LOCALCLOUD_AUTH": args.auth}
    doc = run_pytest(root, "localcloud", paths, build / f"localcloud-{kind}.json", args.workers,
                     label=f"localcloud ({kind}, --auth {args.auth})", select=selection or None,
                     extra_env=auth)
    results = doc["results"]
    missing = [t for t in selection if t not in results]
    if missing:
        raise GateError("these test ids were not collected (ids as in the summary, e.g. "
                        "tests/test_s3/test_s3.py::test_x[param]): " + ", ".join(missing))
    v = judge(results, deviations, baseline, baseline_failures())
    # Listed deviations whose tests did not run at all in a full run are stale too.
    if kind == "full":
        covered = listed_tests(deviations, results)
        for d in deviations:
            for pattern in d.tests:
                if not any(fnmatch.fnmatchcase(t, pattern) for t in covered[d.name]):
                    v.stale.setdefault(d.name, []).append(f"{pattern} (not collected)")
    # Unexpected failures get one more try, alone, to tell a flaky test from a deviation.
    flaky: list[str] = []
    if v.unexpected:
        again = run_pytest(root, "localcloud", [], build / f"localcloud-{kind}-rerun.json", 0,
                           label="localcloud (re-run of unexpected failures)",
                           select=v.unexpected, extra_env=auth)["results"]
        flaky = [t for t in v.unexpected if again.get(t) == "passed"]
        v.unexpected = [t for t in v.unexpected if t not in flaky]
    # Each opt-out must give moto's behaviour back: the deviation's tests pass with it. Each
    # check starts a cloud of its own (about 10 s), so the fast subset leaves them to the full gate.
    for d in deviations:
        tests = v.deviating.get(d.name)
        if not d.opt_out or not tests or kind == "fast":
            continue
        opt = run_pytest(root, "localcloud", [], build / f"optout-{d.name}.json",
                         0 if len(tests) < 20 else args.workers,
                         extra_env={**auth, **d.opt_out},
                         select=tests,
                         label=f"localcloud with {_env_text(d.opt_out)}")["results"]
        broken = [t for t in tests if opt.get(t) != "passed" and t not in baseline]
        if broken:
            v.opt_out_broken[d.name] = broken
    wall = time.monotonic() - t0
    summary = _summary(v, deviations, baseline, base_counts, flaky, kind, version, wall,
                       doc["gate_wall_seconds"])
    (build / f"summary-{kind}.json").write_text(json.dumps(summary, indent=1) + "\n")
    _print_verdict(v, deviations, summary, flaky, results_log=build / f"localcloud-{kind}.log")
    return 0 if v.ok else 1


def _env_text(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


def _summary(v: Verdict, deviations: list[Deviation], baseline: dict[str, str],
             base_counts: dict, flaky: list[str], kind: str, version: str, wall: float,
             pytest_wall: float) -> dict:
    return {
        "suite": kind, "moto_version": version,
        "ran": v.ran, "passed_on_localcloud": v.passed, "failed_on_localcloud": len(v.failed),
        "deviations": {name: len(t) for name, t in v.deviating.items()},
        "deviating_tests": sum(len(t) for t in v.deviating.values()),
        "fail_on_moto_too": len(v.moto_fails_too),
        "pass_only_on_localcloud": len(v.only_localcloud_passes),
        "unexpected": v.unexpected, "stale": v.stale, "opt_out_broken": v.opt_out_broken,
        "flaky_passed_on_rerun": flaky,
        "moto_baseline": base_counts,
        "pytest_wall_seconds": pytest_wall, "gate_wall_seconds": round(wall, 1),
    }


def _print_verdict(v: Verdict, deviations: list[Deviation], summary: dict, flaky: list[str],
                   results_log: Path) -> None:
    p = print
    p("")
    p(f"compat ({summary['suite']} suite, moto {summary['moto_version']}): {v.ran} tests ran "
      f"against the local cloud, {v.passed} passed, {len(v.failed)} failed")
    for d in deviations:
        if d.name in v.deviating:
            kind = "KNOWN GAP (not AWS's behaviour, to fix)" if d.gap else "deviation"
            p(f"  {kind} {d.name}: {len(v.deviating[d.name])} test(s)")
    p(f"  failing on plain moto_server too (moto_baseline.toml): {len(v.moto_fails_too)}")
    p(f"  passing on the local cloud only (moto fails them): {len(v.only_localcloud_passes)}")
    for t in flaky:
        p(f"  FLAKY (failed, then passed alone): {t}")
    for name, tests in v.opt_out_broken.items():
        dev = next(d for d in deviations if d.name == name)
        p(f"  OPT-OUT BROKEN {name} ({_env_text(dev.opt_out)}): still failing: {', '.join(tests)}")
    for name, tests in v.stale.items():
        p(f"  STALE deviation {name}: listed, but these pass or did not run: {', '.join(tests)}")
    for t in v.unexpected:
        p(f"  UNEXPECTED failure (not in deviations.toml, passes on moto): {t}")
    if v.unexpected:
        p(f"  tracebacks: {results_log}")
    p(f"  time: {summary['gate_wall_seconds']:.0f} s (pytest {summary['pytest_wall_seconds']:.0f} s)")
    p("compat: OK" if v.ok else "compat: FAILED")


def cmd_baseline(args: argparse.Namespace) -> int:
    version = installed_moto()
    build = Path(args.build_dir).resolve()
    root = fetch_tests(version, build)
    doc = run_pytest(root, "moto", list(SUITE), build / "moto-full.json", args.workers,
                     label="plain moto_server (baseline)")
    failing = sorted(t for t, o in doc["results"].items() if o == "failed")
    reasons = doc.get("reasons", {})
    groups: dict[str, list[str]] = {}
    for t in failing:
        groups.setdefault(classify(t, reasons.get(t, "")), []).append(t)
    counts = {"ran": sum(1 for o in doc["results"].values() if o in ("passed", "failed")),
              "passed": sum(1 for o in doc["results"].values() if o == "passed"),
              "failed": len(failing),
              "skipped": sum(1 for o in doc["results"].values() if o in ("skipped", "xfailed")),
              "pytest_wall_seconds": doc["gate_wall_seconds"]}
    BASELINE_FILE.write_text(render_baseline(version, counts, groups))
    print(f"compat baseline: moto {version} on plain moto_server: {counts['ran']} ran, "
          f"{counts['passed']} passed, {counts['failed']} failed -> {BASELINE_FILE}")
    return 0


# Why a test fails on plain moto_server, from its id and failure text (first match wins).
DOCKER_REASON = ("needs Docker: moto runs Lambda functions in Docker containers, which this "
           "machine (like a student's laptop) does not have; the local cloud runs them")
REASONS = (
    (r"port=5000", "hard-codes http://localhost:5000 (moto CI's server port); the gate "
                   "gives each test worker a server of its own on a free port"),
    (r"[Dd]ocker", DOCKER_REASON),
    # The failure text of these shows only the missing result (an empty payload, no log
    # line); the server's log says why: "error running docker".
    (r"::(\w+::)?test_invoke|invokes_lambda|_with_lambda|lambda_layers_invoked", DOCKER_REASON),
)


def classify(nodeid: str, text: str) -> str:
    for pattern, reason in REASONS:
        if re.search(pattern, nodeid + "\n" + text):
            return reason
    first = next((ln.strip() for ln in reversed(text.splitlines())
                  if ln.strip().startswith("E ")), "")
    return "fails on plain moto_server: " + (first[:200] or "see the baseline run's log")


def render_baseline(version: str, counts: dict, groups: dict[str, list[str]]) -> str:
    lines = [
        "# moto's own tests that fail on PLAIN moto_server (no local cloud), written by",
        "# `make compat-baseline` (python -m localcloud.compat baseline). These failures are",
        "# moto's, not deviations of the local cloud: the gate does not count them against",
        "# it. Regenerate after changing moto's pin; review the reasons.",
        f'moto_version = "{version}"',
        "",
        "[counts]",
    ]
    lines += [f"{k} = {v}" for k, v in counts.items()]
    for reason, tests in sorted(groups.items()):
        lines += ["", "[[failure]]", f"reason = {json.dumps(reason)}", "tests = ["]
        lines += [f"    {json.dumps(t)}," for t in tests]
        lines += ["]"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.compat",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="moto's tests against the local cloud (the gate)")
    run.add_argument("--fast", action="store_true", help="the fast subset (make test)")
    run.add_argument("--tests", nargs="+", metavar="ID",
                     help="judge only these moto test ids (e.g. one failure of the summary)")
    run.add_argument("--auth", choices=("aws", "any"), default=None,
                     help="the local cloud's authentication mode (default any, whatever "
                          "LOCALCLOUD_AUTH says; aws gives moto's tests the cloud's operator "
                          "key; deviations.toml: motos_tests_sign_with_made_up_keys)")
    base = sub.add_parser("baseline", help="moto's tests against plain moto_server")
    for p in (run, base):
        p.add_argument("-n", "--workers", type=int, default=2,
                       help="pytest-xdist workers, each with its own server (default 2)")
        p.add_argument("--build-dir", default="build/compat")
    args = parser.parse_args(argv)
    try:
        return cmd_run(args) if args.cmd == "run" else cmd_baseline(args)
    except GateError as exc:
        print(f"compat: {exc}", file=sys.stderr)
        return 2
