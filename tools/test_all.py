"""`make test`: the unit tests, then two lanes side by side, then a table of the stages.

    python -m tools.test_all            # what `make test` runs
    python -m tools.test_all --only nbval integration

Stages: unit tests (2 workers, by file) first; then, side by side, the integration tests (3
workers, one local cloud each) in one lane and, in the other, the compatibility gate's fast
subset followed by every notebook through nbval (in order, on a local cloud of their own).
The integration tests are the longest stage and spend much of their time waiting on their
clouds (instances starting, commands, S3 events): the other lane's stages run in that time.
The background lane's output goes to build/test/<stage>.log and is printed when it ends; the
integration tests print as they run. Each test's time is in build/test/{unit,integration}.xml
(JUnit XML), to see which files make a stage long.

A failing unit stage stops the run (as make would); the two lanes always both finish.
The exit status is 0 only when every stage that ran passed.

The table gives each stage's wall time and CPU time (its processes and the processes they
waited for, clouds and Lambda workers included): CPU seconds over wall seconds is how many of
the machine's cores the stage kept busy, which says whether a stage is waiting (room to run
something beside it) or computing (none).
"""
from __future__ import annotations

import argparse
import contextlib
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
FIRST = ("unit",)                      # alone, before the lanes
FOREGROUND_LANE = ("integration",)        # prints as it runs
BACKGROUND_LANE = ("compat", "nbval")     # one after the other, logged, beside the foreground


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


def run_stage(stage: Stage, log: Path | None = None) -> Outcome:
    """Run `stage`, printing as it runs, or with its output in `log` (the background lane)."""
    where = ""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        where = f" (in the background; output in {log.relative_to(REPO)}, printed when the lanes end)"
    print(f"\n=== {stage.name}: {stage.what}{where}\n$ {' '.join(_short(stage.argv))}", flush=True)
    t0 = time.monotonic()
    with open(log, "w") if log is not None else contextlib.nullcontext() as handle:
        proc = subprocess.Popen(stage.argv, cwd=REPO, stdout=handle,
                                stderr=subprocess.STDOUT if handle is not None else None)
        try:
            status, cpu = wait_measured(proc)
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    return Outcome(stage, status, time.monotonic() - t0, cpu)


def heartbeat(current: list, stop: threading.Event) -> None:
    """Every 60 s while the background lane runs, one line: its stage and how far it is."""
    t0 = time.monotonic()
    while not stop.wait(60):
        if not current:
            continue
        stage, log = current[-1]
        text = log.read_text(errors="replace") if log.exists() else ""
        where = progress(text) if stage.name == "nbval" else (text.strip().splitlines() or ["starting"])[-1][:100]
        print(f"--- {stage.name} (background): {where} after {time.monotonic() - t0:.0f} s", flush=True)


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


def run_lanes(foreground: list[Stage], background: list[Stage]) -> list[Outcome]:
    """The foreground stages in order, printing; beside them, the background stages in order,
    logged. Both lanes always run to their end."""
    done: list[Outcome] = []
    current: list = []
    failure: list[BaseException] = []

    def lane() -> None:
        try:
            for stage in background:
                log = LOGS / f"{stage.name}.log"
                current.append((stage, log))
                done.append(run_stage(stage, log))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            failure.append(exc)

    stop = threading.Event()
    beat = threading.Thread(target=heartbeat, args=(current, stop), daemon=True)
    beat.start()
    worker = threading.Thread(target=lane, daemon=True)
    worker.start()
    try:
        first = [run_stage(stage) for stage in foreground]
        worker.join()
    finally:
        stop.set()
    if failure:
        raise failure[0]
    for outcome in done:
        log = LOGS / f"{outcome.stage.name}.log"
        print(f"\n=== {outcome.stage.name}: its output ({log.relative_to(REPO)})", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
        sys.stdout.flush()
    return first + done


def table(outcomes: list[Outcome], wall: float) -> str:
    rows = [f"{'stage':<12} {'result':<8} {'seconds':>8} {'cpu s':>7} {'cores':>6}  what"]
    for o in outcomes:
        rows.append(f"{o.stage.name:<12} {'passed' if o.status == 0 else 'FAILED':<8} {o.seconds:>8.0f} "
                    f"{o.cpu_seconds:>7.0f} {o.cpu_seconds / max(o.seconds, 1e-9):>6.2f}  {o.stage.what}")
    cpu = sum(o.cpu_seconds for o in outcomes)
    rows.append(f"{'all':<12} {'passed' if all(o.status == 0 for o in outcomes) else 'FAILED':<8} "
                f"{wall:>8.0f} {cpu:>7.0f} {cpu / max(wall, 1e-9):>6.2f}  "
                f"({' + '.join(FOREGROUND_LANE)} beside {' then '.join(BACKGROUND_LANE)})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.test_all", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STAGES], metavar="STAGE",
                        help=f"run only these stages (of {', '.join(s.name for s in STAGES)})")
    args = parser.parse_args(argv)
    chosen = [s for s in STAGES if not args.only or s.name in args.only]
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    for stage in chosen:
        if stage.name in FIRST:
            outcomes.append(run_stage(stage))
    if all(o.status == 0 for o in outcomes):
        front = [s for s in chosen if s.name in FOREGROUND_LANE]
        back = [s for s in chosen if s.name in BACKGROUND_LANE]
        if front and back:
            outcomes += run_lanes(front, back)
        else:
            outcomes += [run_stage(s) for s in front + back]
    order = [s.name for s in STAGES]
    outcomes.sort(key=lambda o: order.index(o.stage.name))
    print("\n" + table(outcomes, time.monotonic() - t0), flush=True)
    return 0 if outcomes and all(o.status == 0 for o in outcomes) else 1


def _short(argv: tuple[str, ...]) -> list[str]:
    return [".venv/bin/python" if a == PY else a for a in argv]


if __name__ == "__main__":
    sys.exit(main())
