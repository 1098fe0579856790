"""`make bench`: every figure the issues ask for, measured in one run, beside its goal.

Each bench module exposes `run() -> list[dict]` with keys name, value, unit, goal
(a string such as "<= 2 ms", or "" for context rows). This runs them in one
process, one after another, prints one table, saves it as JSON
(build/bench.json) and rewrites the table in docs/BENCHMARKS.md between the
BENCH markers.
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULES = ("layers_bench", "localcloud_bench", "apigw_bench", "predict_bench", "pipeline_bench", "datasets_bench")
BEGIN, END = "<!-- BENCH:BEGIN -->", "<!-- BENCH:END -->"
BENCHMARKS = REPO / "docs" / "BENCHMARKS.md"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render(rows: list[dict]) -> str:
    lines = ["| figure | measured | goal |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {_fmt(r['value'])} {r.get('unit', '')} | {r.get('goal', '')} |")
    return "\n".join(lines)


def update_table(table: str, meta: str, path: Path = BENCHMARKS) -> None:
    """Replace what is between the BENCH markers of ``path`` (docs/BENCHMARKS.md)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it holds the benchmark table `make bench` rewrites")
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} lacks the {BEGIN} / {END} markers around the benchmark table")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{meta}\n\n{table}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description="Measure every figure in one run.")
    parser.add_argument("--only", nargs="*", default=list(MODULES), help="bench modules to run")
    parser.add_argument("--no-write", "--no-readme", dest="no_write", action="store_true",
                        help="don't rewrite the table in docs/BENCHMARKS.md")
    args = parser.parse_args(argv)

    rows: list[dict] = []
    failures = 0
    started = time.time()
    for name in args.only:
        print(f"bench: {name} ...", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend(module.run())
        except Exception:
            failures += 1
            print(f"bench: {name} failed:\n{traceback.format_exc()}", file=sys.stderr)
            rows.append({"name": f"{name} (failed, see log)", "value": "-", "unit": "", "goal": ""})
    table = render(rows)
    meta = (
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime(started))} on "
        f"{platform.machine()} with {__import__('os').cpu_count()} cores, Python "
        f"{platform.python_version()}; medians of repeated runs, side by side in one process."
    )
    print("\n" + table)
    out = REPO / "build" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    print(f"\nbench: saved {out}")
    if not args.no_write:
        update_table(table, meta)
        print(f"bench: rewrote {BENCHMARKS.relative_to(REPO)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
