"""The parity gate: LocalStack's AWS-validated tests, judged against AWS's recorded answers.

    python -m localcloud.parity setup            # once: LocalStack's tests + their venv
    python -m localcloud.parity run [--only PATH ...] [--no-write]   # make parity
    python -m localcloud.parity report [--partial] [--write]       # judge the last run again
    python -m localcloud.parity ratchet                             # its passes -> passing.txt

LocalStack keeps, beside each service test, a `*.snapshot.json` of what **real AWS** answered
when the test was last validated. `run` starts a fresh local cloud on a free port, runs the
tests marked `aws.validated` for S3, Lambda, API Gateway, IAM, SSM and Logs against it with
the snapshots verified strictly (never re-recorded), and compares the outcome with
deviations.toml and passing.txt. It fails (exit 1) on:

* a test in passing.txt that does not pass (a regression; passing.txt is the ratchet);
* a test listed in deviations.toml (a difference that cannot match offline) that passes
  (stale entry).

Every other failure is counted, grouped and printed; the pass rate goes into
docs/BENCHMARKS.md between the PARITY markers (`--no-write` leaves it). Tests come from a
LocalStack checkout ($LOCALSTACK_CHECKOUT, its git directory; see README.md): without one the
gate says how to get it and exits 2. Not part of `make test` (it needs the checkout).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.cloud import answers, free_port

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEVIATIONS_FILE = HERE / "deviations.toml"
PASSING_FILE = HERE / "passing.txt"
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"
BUILD = Path(os.environ.get("LSPARITY") or REPO / "build" / "parity")
LOCALSTACK_COMMIT = "8b9a79f"        # 2026-03-23, matches localstack-core 2026.3.0 on PyPI
LOCALSTACK_CORE = "2026.3.0"
BEGIN, END = "<!-- PARITY:BEGIN -->", "<!-- PARITY:END -->"
START_TIMEOUT_S = 90.0

S = "tests/aws/services"
# The suite, one pytest process per entry (LocalStack's fixtures are per session).
SUITE = (
    f"{S}/ssm/test_ssm.py",
    f"{S}/s3/test_s3_api.py",
    f"{S}/s3/test_s3_preconditions.py",
    f"{S}/s3/test_s3_notifications_sqs.py",
    f"{S}/s3/test_s3_notifications_lambda.py",
    f"{S}/apigateway/test_apigateway_api.py",
    f"{S}/apigateway/test_apigateway_lambda.py",
    f"{S}/iam/test_iam.py",
    *(f"{S}/lambda_/test_lambda_api.py::TestLambda{c}"
      for c in ("Function", "Layer", "Permissions", "Versions", "Alias", "Tag")),
    *(f"{S}/lambda_/test_lambda.py::Test{c}"
      for c in ("LambdaBaseFeatures", "LambdaBehavior", "LambdaErrors", "LambdaFeatures",
                "RequestIdHandling")),
    f"{S}/logs/test_logs_groups.py",
    f"{S}/logs/test_logs_streams.py",
    f"{S}/logs/test_logs_events.py",
)
TOTAL = 623  # AWS-validated tests the suite selects at LOCALSTACK_COMMIT


class GateError(Exception):
    """The gate cannot run (no checkout, no venv): exit 2 with this message."""


HOW_TO_GET = f"""LocalStack's tests are not in this repository. Get them once:
  git clone https://github.com/localstack/localstack /some/dir/localstack
  git -C /some/dir/localstack checkout {LOCALSTACK_COMMIT}
  LOCALSTACK_CHECKOUT=/some/dir/localstack/.git make parity-setup
(LOCALSTACK_CHECKOUT is the git directory, bare or not; setup extracts tests/aws from its
HEAD, which must be commit {LOCALSTACK_COMMIT}, and builds a Python 3.13 venv with
localstack-core {LOCALSTACK_CORE} from PyPI under {BUILD}.) See localcloud/parity/README.md."""


# ---- files ----------------------------------------------------------------------------------
@dataclass
class Deviation:
    name: str
    tests: list[str]
    reason: str
    kind: str  # "offline": cannot match offline; "gap": the local cloud's own, to fix

    def covers(self, nodeid: str) -> bool:
        return any(fnmatch.fnmatchcase(nodeid, p) for p in self.tests)


def load_deviations(path: Path = DEVIATIONS_FILE) -> list[Deviation]:
    """[offline.NAME] (tests, reason): cannot match AWS offline (real AWS host names,
    LocalStack internals); [gap.NAME] (tests, reason): known differences, to fix."""
    doc = tomllib.loads(path.read_text())
    out = []
    for kind in ("offline", "gap"):
        for name, d in doc.get(kind, {}).items():
            if not d.get("tests") or not d.get("reason"):
                raise GateError(f"{path.name}: {kind} {name!r} needs tests and reason")
            out.append(Deviation(name, list(d["tests"]), d["reason"], kind))
    return out


def load_passing(path: Path = PASSING_FILE) -> set[str]:
    if not path.exists():
        return set()
    return {ln.strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")}


def load_results(results: Path) -> dict[str, dict]:
    """{nodeid: record} from the plugin's .jsonl files under `results`."""
    out = {}
    for f in sorted(results.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["nodeid"]] = rec
    return out


def kind(rec: dict) -> str:
    if rec["outcome"] == "passed":
        return "pass"
    if rec["outcome"] == "skipped":
        return "skip"
    return "snapshot" if rec.get("snapshot_mismatch") else "fail"


def last_error(rec: dict) -> str:
    lines = [ln for ln in rec.get("text", "").splitlines() if ln.startswith("E ")]
    e = lines[-1][1:].strip() if lines else (rec.get("text", "").strip().splitlines() or ["?"])[-1]
    e = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27,}", "<uuid>", e)
    e = re.sub(r"\b\d{6,}\b", "<n>", e)
    return re.sub(r"'[^']*'", "'…'", e)[:140]


def category(rec: dict) -> str:
    """A coarse group for a failure: the snapshot path that differed, or the last error."""
    if kind(rec) == "snapshot":
        paths = sorted({re.sub(r"\[\d+\]", "[*]", p.split(": ", 1)[1])
                        for p in rec.get("diff_paths", [])})
        return "snapshot " + (paths[0] if paths else "?")
    if kind(rec) == "skip":
        return "skipped: " + rec.get("text", "")[:100]
    return last_error(rec)


@dataclass
class Verdict:
    passed: list[str]
    regressions: list[str]
    stale: list[str]
    listed: dict[str, list[str]]     # deviation name -> failing tests it covers
    unlisted: list[str]
    new_passes: list[str]
    total: int

    @property
    def ok(self) -> bool:
        return not self.regressions and not self.stale


def judge(results: dict[str, dict], deviations: list[Deviation], passing: set[str],
          selected: list[str] | None = None) -> Verdict:
    """Compare results with the ratchet (passing.txt) and the deviations. With `selected`
    (a partial run), only the passing tests under those paths count as regressions."""
    passed = sorted(n for n, r in results.items() if kind(r) == "pass")
    in_scope = passing if selected is None else {
        t for t in passing if any(t == s or t.startswith(s.rstrip("/") + "::") or
                                  t.startswith(s.rstrip("/") + "/") for s in selected)}
    regressions = sorted(t for t in in_scope if t not in results or kind(results[t]) != "pass")
    stale, listed, unlisted = [], collections.defaultdict(list), []
    for n, r in sorted(results.items()):
        dev = next((d for d in deviations if d.covers(n)), None)
        if kind(r) == "pass":
            if dev is not None and dev.kind == "offline":
                stale.append(f"{n} (listed in offline.{dev.name})")
            continue
        if dev is not None:
            listed[f"{dev.kind}.{dev.name}"].append(n)
        else:
            unlisted.append(n)
    new = sorted(set(passed) - passing)
    return Verdict(passed, regressions, stale, dict(listed), unlisted, new, len(results))


# ---- setup ----------------------------------------------------------------------------------
def checkout() -> Path:
    raw = os.environ.get("LOCALSTACK_CHECKOUT")
    if not raw:
        raise GateError("LOCALSTACK_CHECKOUT is not set.\n" + HOW_TO_GET)
    path = Path(raw)
    if not path.exists():
        raise GateError(f"LOCALSTACK_CHECKOUT={raw} does not exist.\n" + HOW_TO_GET)
    head = subprocess.run(["git", "--git-dir", str(path), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0:
        raise GateError(f"LOCALSTACK_CHECKOUT={raw} is not a git directory "
                        f"({head.stderr.strip()}).\n" + HOW_TO_GET)
    if not head.stdout.strip().startswith(LOCALSTACK_COMMIT):
        raise GateError(f"{raw} is at {head.stdout.strip()[:9]}, not {LOCALSTACK_COMMIT}: "
                        "its snapshots and localstack-core "
                        f"{LOCALSTACK_CORE} must match.\n" + HOW_TO_GET)
    return path


def setup() -> None:
    mirror = checkout()
    # setup.sh finds a Python >= 3.12 that runs (PY313 if set; a pyenv shim of a version that
    # is installed but not selected is on PATH yet does not run)
    env = dict(os.environ, LOCALSTACK_MIRROR=str(mirror), LSPARITY=str(BUILD))
    if subprocess.run(["bash", str(HERE / "setup.sh")], env=env).returncode != 0:
        raise GateError("the parity setup failed (above); localstack-core 2026.3.0 needs "
                        "Python >= 3.12: set PY313 to its interpreter if none was found")


def ready() -> None:
    if not (BUILD / "venv" / "bin" / "python").exists() or \
            not (BUILD / "src" / "tests" / "aws").is_dir():
        try:
            checkout()
        except GateError as exc:
            raise GateError(f"no parity setup under {BUILD}. {exc}") from None
        raise GateError(f"no parity setup under {BUILD}: run `make parity-setup` "
                        f"(LOCALSTACK_CHECKOUT={os.environ['LOCALSTACK_CHECKOUT']})")


# ---- the cloud ------------------------------------------------------------------------------




class Cloud:
    """A fresh local cloud on a free port, in a home of its own, for one run."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="parity-cloud-"))
        # this checkout's localcloud, whatever the interpreter has installed
        self.env = dict(os.environ, LOCALCLOUD_HOME=str(self.home),
                        PYTHONPATH=os.pathsep.join(
                            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")
        self.log = log
        self.proc = subprocess.Popen(
            # the default authentication mode, whatever LOCALCLOUD_AUTH says: the tests sign
            # with the cloud's operator key (credentials())
            [sys.executable, "-m", "localcloud.cli", "up", "--port", str(self.port), "--fresh",
             "--auth", "aws"],
            env=self.env, cwd=str(self.home), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(f"{self.endpoint}/_localcloud/health"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise GateError(f"the local cloud did not start on port {self.port}; see {log}")
            time.sleep(0.2)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self) -> dict[str, str]:
        """The key the tests sign with: the cloud's operator key (`localcloud env`; the cloud
        runs in the default mode, `--auth aws`, so a made-up key would be refused), else
        LocalStack's `test`/`test` (only for a cloud without an operator key)."""
        proc = subprocess.run([sys.executable, "-m", "localcloud.cli", "env",
                               "--port", str(self.port)],
                              env=self.env, capture_output=True, text=True)
        found = dict(re.findall(r"(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)=['\"]?([^'\"\s]+)",
                                proc.stdout)) if proc.returncode == 0 else {}
        if len(found) == 2:
            return found
        return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.home, ignore_errors=True)


# ---- running --------------------------------------------------------------------------------
def tag(test: str) -> str:
    return re.sub(r"[/:.\[\] ]", "_", test.replace(f"{S}/", ""))[:120]


def run_one(test: str, endpoint: str, creds: dict[str, str], results: Path,
            extra: list[str]) -> str:
    t = tag(test)
    (results / f"{t}.jsonl").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LOCALCLOUD_", "PYTEST_")) and k != "VIRTUAL_ENV"}
    # TEST_TARGET=AWS_CLOUD: LocalStack's client factory uses boto3's own endpoint
    # resolution (honours AWS_ENDPOINT_URL); snapshots are verified, never re-recorded.
    env.update(creds, TEST_TARGET="AWS_CLOUD", TEST_SKIP_LOCALSTACK_START="1",
               AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1",
               AWS_REGION="us-east-1", AWS_MAX_ATTEMPTS="2", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", PYTHONPATH=str(HERE / "plugin"),
               PARITY_RESULTS=str(results / f"{t}.jsonl"))
    cmd = [str(BUILD / "venv" / "bin" / "python"), "-m", "pytest", test, "-p", "parity_plugin",
           "-p", "no:cacheprovider", "-p", "no:localstack.testing.pytest.validation_tracking",
           f"--timeout={os.environ.get('PARITY_TIMEOUT', '120')}", "-q", "-rN", "--tb=short",
           "-o", "log_level=WARNING", f"--junitxml={results / (t + '.xml')}", *extra]
    with open(results / f"{t}.log", "w") as log:
        rc = subprocess.run(cmd, cwd=BUILD / "src", env=env, stdout=log,
                            stderr=subprocess.STDOUT).returncode
    tail = (results / f"{t}.log").read_text().strip().splitlines()[-1:] or [""]
    return f"rc={rc} {tail[0]}"


def run(only: list[str] | None, extra: list[str], write: bool) -> int:
    ready()
    tests = only or list(SUITE)
    results = BUILD / "results" / (os.environ.get("PARITY_LABEL") or
                                   ("partial" if only else "full"))
    if results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True)
    print(f"parity: LocalStack {LOCALSTACK_COMMIT}'s AWS-validated tests from {BUILD / 'src'}",
          flush=True)
    cloud = Cloud(results / "localcloud.log")
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # through `finally`: the cloud is stopped

    signal.signal(signal.SIGTERM, stop)
    try:
        creds = cloud.credentials()
        print(f"parity: a fresh local cloud at {cloud.endpoint} "
              f"(key {creds['AWS_ACCESS_KEY_ID'][:4]}…)", flush=True)
        for test in tests:
            t0 = time.monotonic()
            print(f"  {test}: {run_one(test, cloud.endpoint, creds, results, extra)} "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        cloud.stop()
    return report(results, only, write)


def per_file(results: dict[str, dict]) -> dict[str, collections.Counter]:
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for n, r in results.items():
        f = n.split("::")[0].replace(f"{S}/", "")
        if "lambda_/" in f:
            f += "::" + n.split("::")[1]
        out[f][kind(r)] += 1
    return out


def table(results: dict[str, dict]) -> str:
    rows = ["| file | AWS-validated tests | pass | snapshot differs | other failure | skipped |",
            "|---|---|---|---|---|---|"]
    tot: collections.Counter = collections.Counter()
    for f, c in sorted(per_file(results).items()):
        n = sum(c.values())
        tot.update(c)
        rows.append(f"| {f} | {n} | {c['pass']} | {c['snapshot']} | {c['fail']} | {c['skip']} |")
    n = sum(tot.values())
    rows.append(f"| **all** | **{n}** | **{tot['pass']}** | {tot['snapshot']} | {tot['fail']} "
                f"| {tot['skip']} |")
    return "\n".join(rows)


def write_benchmarks(results: dict[str, dict], path: Path = BENCHMARKS) -> None:
    passed = sum(1 for r in results.values() if kind(r) == "pass")
    text = path.read_text()
    meta = (f"`make parity` on {datetime.date.today().isoformat()}, {platform.machine()}, "
            f"LocalStack {LOCALSTACK_COMMIT} (localstack-core {LOCALSTACK_CORE}): "
            f"**{passed} of {len(results)}** AWS-validated tests pass "
            f"({100 * passed / max(len(results), 1):.0f} %; goal >= 70 % of {TOTAL}).")
    block = f"{BEGIN}\n{meta}\n\n{table(results)}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + (
            "\n\n## Parity with AWS's recorded answers (`make parity`)\n\n"
            "LocalStack's AWS-validated tests against a fresh local cloud, each response "
            "compared with the snapshot of what real AWS answered "
            "(localcloud/parity/README.md; not run by `make bench`).\n\n" + block + "\n")
    path.write_text(text)


def report(results_dir: Path, only: list[str] | None, write: bool) -> int:
    results = load_results(results_dir)
    verdict = judge(results, load_deviations(), load_passing(), only)
    print("\n" + table(results))
    groups = collections.Counter(category(results[n]) for n in verdict.unlisted)
    print(f"\nunlisted failures by group ({len(verdict.unlisted)}):")
    for g, c in groups.most_common(30):
        print(f"  {c:4d}  {g}")
    for name, tests in sorted(verdict.listed.items()):
        print(f"  listed {name}: {len(tests)}")
    n = len(verdict.passed)
    print(f"\nparity: {n} of {verdict.total} pass "
          f"({100 * n / max(verdict.total, 1):.0f} %); {len(verdict.unlisted)} unlisted failures")
    if verdict.new_passes:
        print(f"parity: {len(verdict.new_passes)} pass that passing.txt lacks "
              f"(add them: python -m localcloud.parity ratchet)")
    for t in verdict.regressions:
        print(f"REGRESSION (in passing.txt, does not pass now): {t}")
    for t in verdict.stale:
        print(f"STALE deviation (passes now): {t}")
    if write and not only:
        write_benchmarks(results)
        print(f"parity: wrote {BENCHMARKS.relative_to(REPO)}")
    return 0 if verdict.ok else 1


def ratchet(results_dir: Path) -> None:
    """Add every test that passed in the last run to passing.txt."""
    results = load_results(results_dir)
    keep = load_passing() | {n for n, r in results.items() if kind(r) == "pass"}
    PASSING_FILE.write_text(
        "# LocalStack AWS-validated tests that pass on the local cloud: `make parity` fails\n"
        "# when one of them stops passing. Grown with `python -m localcloud.parity ratchet`.\n"
        + "".join(f"{t}\n" for t in sorted(keep)))
    print(f"parity: passing.txt holds {len(keep)} tests")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcloud.parity")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="extract LocalStack's tests and build their venv")
    r = sub.add_parser("run", help="run the suite against a fresh local cloud")
    r.add_argument("--only", nargs="+", help="test files/ids (tests/aws/services/...) instead")
    r.add_argument("--no-write", action="store_true", help="leave docs/BENCHMARKS.md")
    r.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    rep = sub.add_parser("report", help="judge the last run again")
    rep.add_argument("--partial", action="store_true")
    rep.add_argument("--write", action="store_true",
                     help="write the last full run into docs/BENCHMARKS.md")
    rat = sub.add_parser("ratchet", help="add the last run's passes to passing.txt")
    rat.add_argument("--partial", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "setup":
            setup()
            return 0
        if args.cmd == "run":
            return run(args.only, args.pytest_args, not args.no_write)
        results = BUILD / "results" / ("partial" if args.partial else "full")
        if args.cmd == "report":
            return report(results, None, args.write and not args.partial)
        ratchet(results)
        return 0
    except GateError as exc:
        print(f"parity: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
