"""`python -m layer_build [--target local|aws] [--stack numpy|scikit-learn] [--out DIR] [--json] [--no-bytecode] [--force]`

Builds (or finds in the cache) the layer zips and prints their sizes against AWS's limits.
Exit status 0 within limits, 2 over a limit, 1 on a build error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .build import DEFAULT_OUT, LAYER_NAMES, TARGETS, build_layers
from .sources import SERVING_STACK, STACKS, SourceError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m layer_build", description=__doc__.splitlines()[2])
    ap.add_argument("--target", choices=TARGETS, default="local",
                    help="local: this interpreter and platform, offline; aws: Lambda's manylinux wheels (needs PyPI)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"cache/output dir (default {DEFAULT_OUT})")
    ap.add_argument("--layer", action="append", choices=LAYER_NAMES, help="build only this layer (repeatable)")
    ap.add_argument("--stack", choices=tuple(STACKS), default=SERVING_STACK,
                    help="packages layer content: numpy (what predict serves with) or scikit-learn (to measure it)")
    ap.add_argument("--function-dir", type=Path, help="the function's code dir, counted in the size report")
    ap.add_argument("--no-bytecode", action="store_true", help="leave out .pyc (slower cold starts)")
    ap.add_argument("--keep-sources", action="store_true",
                    help="keep the packages' .py beside their .pyc (bigger; source lines in tracebacks)")
    ap.add_argument("--force", action="store_true", help="rebuild even on a cache hit")
    ap.add_argument("--json", action="store_true", help="print the build and report as JSON")
    args = ap.parse_args(argv)
    progress = (lambda m: print(m, file=sys.stderr)) if args.json else print
    try:
        result = build_layers(args.target, args.out, layers=args.layer or LAYER_NAMES,
                              bytecode_on=not args.no_bytecode, force=args.force,
                              keep_sources=args.keep_sources, stack=args.stack,
                              function_dir=args.function_dir, progress=progress)
    except (SourceError, ValueError, FileNotFoundError) as e:
        print(f"layer_build: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.report.table())
    return 2 if result.report.over_limit else 0


if __name__ == "__main__":
    sys.exit(main())
