"""The ``mlpipe`` command: doctor, deploy, outputs, status, upload-data, restore-data, runs, destroy.

Every command first prints the target line (``target=... account=... region=...``) so
nobody acts on an account by mistake. Errors print one line and exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from .config import MlpipeError, load_settings

EXIT_ERROR = 2


def _print(msg: str = "") -> None:
    print(msg, flush=True)


def _target(settings, stream=None) -> None:
    """The target line; to stderr for --json output, so stdout stays machine-readable."""
    from .clients import describe_target

    print(describe_target(settings), file=stream or sys.stdout, flush=True)


def cmd_deploy(args, settings) -> int:
    from .deploy import deploy

    _target(settings)
    if not args.plan and not args.skip_checks:
        from . import doctor
        from .stack import Stack

        doctor.require(Stack.load(settings), _print)
    deploy(settings, part=args.part, plan=args.plan, progress=_print)
    return 0


def cmd_doctor(args, settings) -> int:
    from . import doctor
    from .stack import Stack

    _target(settings)
    checks = doctor.run_checks(Stack.load(settings), _print)
    return EXIT_ERROR if any(c.status == doctor.FAIL for c in checks) else 0


def _json_or_text(args, settings, data, text) -> int:
    """--json: the target line to stderr and JSON on stdout (machine-readable); else text."""
    if args.json:
        _target(settings, sys.stderr)
        _print(json.dumps(data(), indent=2, sort_keys=True, default=str))
    else:
        _target(settings)
        _print(text(data()))
    return 0


def cmd_outputs(args, settings) -> int:
    from .stack import Stack
    from .status import mask, outputs

    stack = Stack.load(settings)
    if args.console:
        from .console import format_links

        _target(settings)
        _print(format_links(stack))
        return 0
    # JSON carries the whole API key, since tools and notebooks read it from there.
    return _json_or_text(args, settings, lambda: outputs(stack), lambda out: "\n".join(
        f"{key:<14} {_shown(key, out[key], mask)}" for key in sorted(out)))


def _shown(key, value, mask):
    if key == "api_key":
        return mask(value)
    if key == "functions":
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return value


def cmd_status(args, settings) -> int:
    from .stack import Stack
    from .status import format_status, status

    stack = Stack.load(settings)
    return _json_or_text(args, settings, lambda: status(stack), format_status)


def cmd_upload_data(args, settings) -> int:
    from .buckets import upload_data
    from .stack import Stack

    _target(settings)
    keys = upload_data(Stack.load(settings, progress=_print), args.files, force=args.force)
    _print(f"uploaded {len(keys)} file(s); each fires a training run (watch with `mlpipe status`)")
    return 0


def cmd_restore_data(args, settings) -> int:
    from .restore import restore_data
    from .stack import Stack

    _target(settings)
    out = restore_data(Stack.load(settings), args.key)
    _print(f"restored {out['key']} to version {out['restored_version']} (was {out['replaced']}); "
           "the upload fires a training run")
    return 0


def cmd_runs(args, settings) -> int:
    from .runs import failed_invocations, format_failures, format_runs, list_rejected, list_runs
    from .stack import Stack

    stack = Stack.load(settings)
    if args.json:
        _target(settings, sys.stderr)
        _print(json.dumps({"runs": list_runs(stack), "rejected": list_rejected(stack),
                           "failed_invocations": failed_invocations(stack)}, indent=2, default=str))
        return 0
    _target(settings)
    _print(format_runs(list_runs(stack)))
    rejected = list_rejected(stack)
    if rejected:
        _print("\nset aside after failing validation (kept, not trained on):")
        for r in rejected:
            _print(f"  {r['key']}  ({r['size']} bytes, {r['last_modified']})")
    failures = failed_invocations(stack)
    if failures:
        _print("\n" + format_failures(failures))
    return 0


def cmd_destroy(args, settings) -> int:
    from .teardown import destroy

    _target(settings)
    if settings.is_aws and not args.yes:
        if not sys.stdin.isatty():
            raise MlpipeError("destroy on aws needs --yes (or run it in a terminal to confirm)")
        typed = input(f"This deletes every resource of stack {settings.stack!r} in this AWS account. "
                      f"Type the stack name to confirm: ").strip()
        if typed != settings.stack:
            raise MlpipeError("not confirmed: nothing was deleted")
    destroy(settings, progress=_print)
    return 0


def cmd_dataset(args, settings) -> int:
    from . import datasets

    if args.action == "init":
        path, text, notes = datasets.init(args.csv, args.target, args.out, name=args.name, force=args.force)
        print(text, end="")
        print(f"# written to {path}; what was guessed:", file=sys.stderr)
        for n in notes:
            print(f"#   {n}", file=sys.stderr)
        print("# review it (class labels, ranges, missing values), then: "
              f"MLPIPE_DATASET={path} mlpipe deploy", file=sys.stderr)
        return 0
    print(datasets.check(args.csv, args.dataset or settings.dataset or None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlpipe",
        description="Deploy and operate the ML pipeline (MLPIPE_TARGET=local|aws, MLPIPE_STACK=name).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("deploy", help="create what is missing (idempotent)")
    d.add_argument("--part", choices=("glue", "backend", "all"), default="all",
                   help="glue: buckets, IAM, instance, training Lambdas; backend: layers and the API")
    d.add_argument("--plan", action="store_true", help="only list what would be created, and its cost")
    d.add_argument("--skip-checks", action="store_true", help="do not run `mlpipe doctor` first")
    d.set_defaults(func=cmd_deploy)

    c = sub.add_parser("doctor", help="check the account as a first deploy will meet it (creates nothing)")
    c.set_defaults(func=cmd_doctor)

    o = sub.add_parser("outputs", help="the stack's names, ids and URLs")
    o.add_argument("--json", action="store_true", help="JSON for tools (includes the API key)")
    o.add_argument("--console", action="store_true", help="AWS console links for every resource of the stack")
    o.set_defaults(func=cmd_outputs)

    s = sub.add_parser("status", help="instance state, last runs, current model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    u = sub.add_parser("upload-data", help="validate and upload data CSVs (each fires a run)")
    u.add_argument("files", nargs="+", metavar="FILE")
    u.add_argument("--force", action="store_true",
                   help="upload files that fail validation anyway (to watch the pipeline reject them)")
    u.set_defaults(func=cmd_upload_data)

    v = sub.add_parser("restore-data", help="undo a set-aside overwrite: put a data file's last valid "
                                            "version back (the input bucket keeps versions)")
    v.add_argument("key", metavar="KEY", help="the data key, e.g. data/batch_01.csv")
    v.set_defaults(func=cmd_restore_data)

    r = sub.add_parser("runs", help="the run records as a table, and set-aside files")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_runs)

    ds = sub.add_parser("dataset", help="write a dataset file for a CSV (init), or check a CSV against one")
    dsub = ds.add_subparsers(dest="action", required=True, metavar="ACTION")
    di = dsub.add_parser("init", help="infer dataset.toml from a CSV and print it for review")
    di.add_argument("csv", metavar="DATA.csv")
    di.add_argument("--target", required=True, help="the column to predict")
    di.add_argument("--out", help="where to write it (default: dataset.toml beside the CSV)")
    di.add_argument("--name", help="the dataset's name (default: the CSV's file name)")
    di.add_argument("--force", action="store_true", help="overwrite an existing file")
    di.set_defaults(func=cmd_dataset)
    dc = dsub.add_parser("check", help="validate a CSV against a dataset file (the instance's check)")
    dc.add_argument("csv", metavar="FILE.csv")
    dc.add_argument("--dataset", help="dataset.toml or a bundled name (default: MLPIPE_DATASET, else the "
                                      "default dataset)")
    dc.set_defaults(func=cmd_dataset)

    x = sub.add_parser("destroy", help="delete everything the stack owns")
    x.add_argument("--yes", action="store_true", help="do not ask (required on aws when not in a terminal)")
    x.set_defaults(func=cmd_destroy)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return args.func(args, settings)
    except MlpipeError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr, flush=True)
    except EndpointConnectionError as exc:
        print(f"mlpipe: error: cannot connect to {exc.kwargs.get('endpoint_url')}: is the local cloud "
              "running? (`localcloud up --detach`)", file=sys.stderr, flush=True)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        print(f"mlpipe: error: {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}",
              file=sys.stderr, flush=True)
    except BotoCoreError as exc:
        print(f"mlpipe: error: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("mlpipe: interrupted", file=sys.stderr, flush=True)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
