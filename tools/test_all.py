"""`make test`: every test stage in order, the last two side by side, then a table of them.

    python -m tools.test_all            # what `make test` runs
    python -m tools.test_all --only nbval integration

Stages: unit tests (2 workers, by file), the compatibility gate's fast subset, then the integration
tests (3 workers, one local cloud each) and every notebook through nbval (in order, on a local
cloud of their own) at the same time. Those two spend much of their time waiting on their
clouds (instances starting, commands, S3 events), so together they finish about when the
integration tests alone would. The notebooks' output goes to build/test/nbval.log and is
printed when they finish; the integration tests print as they run. Each test's time is in
build/test/{unit,integration}.xml (JUnit XML), to see which files make a stage long.

A failing stage before the pair stops the run (as make would); the pair always both finish.
The exit status is 0 only when every stage that ran passed.

The table gives each stage's wall time and CPU time (its processes and the processes they
waited for, clouds and Lambda workers included): CPU seconds over wall seconds is how many of
the machine's cores the stage kept busy, which says whether a stage is waiting (room to run
something beside it) or computing (none).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "build" / "test"
PY = sys.executable


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]
    what: str


STAGES = (
    # by file: a module's fixtures (trained models, a moto account) are set up once per worker
    Stage("unit", (PY, "-m", "pytest", "-n", "2", "--dist", "loadfile", "--durations=15",
                   "--junitxml=build/test/unit.xml", "tests/unit"),
          "unit tests"),
    Stage("compat", (PY, "-m", "localcloud.compat", "run", "--fast"),
          "moto's own tests, fast subset, against the local cloud"),
    Stage("integration", (PY, "-m", "pytest", "-n", "3", "--dist", "loadfile", "--durations=15",
                          "--junitxml=build/test/integration.xml", "tests/integration"),
          "integration tests against real local clouds"),
    Stage("nbval", (PY, "-m", "pytest", "-p", "no:cacheprovider", "--nbval-lax",
                    "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "notebooks"),
          "every notebook, in order, through nbval"),
)
SIDE_BY_SIDE = ("integration", "nbval")  # the second runs in the background, logged


@dataclass
class Outcome:
    stage: Stage
    status: int
    seconds: float
    cpu_seconds: float = 0.0


def wait_measured(proc: subprocess.Popen) -> tuple[int, float]:
    """Wait for `proc`: its exit status and the CPU seconds (user + system) it and the
    descendants it waited for used."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def run_in_foreground(stage: Stage) -> Outcome:
    print(f"\n=== {stage.name}: {stage.what}\n$ {' '.join(_short(stage.argv))}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(stage.argv, cwd=REPO)
    try:
        status, cpu = wait_measured(proc)
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    return Outcome(stage, status, time.monotonic() - t0, cpu)


def start_logged(stage: Stage, log: Path) -> tuple[subprocess.Popen, float, object]:
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n=== {stage.name}: {stage.what} (in the background; output in "
          f"{log.relative_to(REPO)}, printed when it ends)\n$ {' '.join(_short(stage.argv))}", flush=True)
    handle = open(log, "w")
    proc = subprocess.Popen(stage.argv, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT)
    return proc, time.monotonic(), handle


def heartbeat(proc: subprocess.Popen, stage: Stage, log: Path, stop: threading.Event) -> None:
    """Every 60 s while the background stage runs, one line: how many of its tests have run."""
    t0 = time.monotonic()
    while not stop.wait(60):
        if proc.poll() is not None:
            return
        text = log.read_text(errors="replace") if log.exists() else ""
        print(f"--- {stage.name} (background): {progress(text)} after {time.monotonic() - t0:.0f} s", flush=True)


def progress(pytest_output: str) -> str:
    """'37 cells passed, 0 failed, now in notebooks/04_x.ipynb' from pytest's per-file lines."""
    done = failed = 0
    where = ""
    for m in re.finditer(r"^(\S+\.ipynb) ([.sFEx]*)", pytest_output, re.M):
        where, marks = m.group(1), m.group(2)
        done += marks.count(".")
        failed += marks.count("F") + marks.count("E")
    if not where:
        return "collecting"
    return f"{done} cells passed, {failed} failed, now in {where}"


def run_pair(foreground: Stage, background: Stage) -> list[Outcome]:
    log = LOGS / f"{background.name}.log"
    proc, started, handle = start_logged(background, log)
    stop = threading.Event()
    beat = threading.Thread(target=heartbeat, args=(proc, background, log, stop), daemon=True)
    beat.start()
    ended: list[tuple[float, int, float]] = []  # (when, status, cpu) of the background stage

    def wait_background() -> None:
        status, cpu = wait_measured(proc)
        ended.append((time.monotonic(), status, cpu))

    waiter = threading.Thread(target=wait_background, daemon=True)
    waiter.start()
    try:
        first = run_in_foreground(foreground)
        waiter.join()
    except BaseException:
        proc.terminate()
        waiter.join(timeout=30)
        raise
    finally:
        stop.set()
        handle.close()
    when, status, cpu = ended[0]
    second = Outcome(background, status, when - started, cpu)
    print(f"\n=== {background.name}: its output ({log.relative_to(REPO)})", flush=True)
    sys.stdout.write(log.read_text(errors="replace"))
    sys.stdout.flush()
    return [first, second]


def table(outcomes: list[Outcome], wall: float) -> str:
    rows = [f"{'stage':<12} {'result':<8} {'seconds':>8} {'cpu s':>7} {'cores':>6}  what"]
    for o in outcomes:
        rows.append(f"{o.stage.name:<12} {'passed' if o.status == 0 else 'FAILED':<8} {o.seconds:>8.0f} "
                    f"{o.cpu_seconds:>7.0f} {o.cpu_seconds / max(o.seconds, 1e-9):>6.2f}  {o.stage.what}")
    cpu = sum(o.cpu_seconds for o in outcomes)
    rows.append(f"{'all':<12} {'passed' if all(o.status == 0 for o in outcomes) else 'FAILED':<8} "
                f"{wall:>8.0f} {cpu:>7.0f} {cpu / max(wall, 1e-9):>6.2f}  ({', '.join(SIDE_BY_SIDE)} side by side)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.test_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STAGES], metavar="STAGE",
                        help=f"run only these stages (of {', '.join(s.name for s in STAGES)})")
    args = parser.parse_args(argv)
    chosen = [s for s in STAGES if not args.only or s.name in args.only]
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    pair = [s for s in chosen if s.name in SIDE_BY_SIDE]
    for stage in chosen:
        if stage.name in SIDE_BY_SIDE:
            continue
        outcomes.append(run_in_foreground(stage))
        if outcomes[-1].status != 0:
            break
    if pair and all(o.status == 0 for o in outcomes):
        outcomes += run_pair(*pair) if len(pair) == 2 else [run_in_foreground(pair[0])]
    print("\n" + table(outcomes, time.monotonic() - t0), flush=True)
    return 0 if outcomes and all(o.status == 0 for o in outcomes) else 1


def _short(argv: tuple[str, ...]) -> list[str]:
    return [".venv/bin/python" if a == PY else a for a in argv]


if __name__ == "__main__":
    sys.exit(main())
