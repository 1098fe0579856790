"""Run records: build and write ``runs/<run_id>.json`` in the output bucket.

Standard library + boto3 + glue_contract only (no model_code): ``run_training.sh``'s exit trap calls
this module even when importing the training stack is what failed.

    python3 -m ec2_scripts.record ensure --output-bucket B --run-id R --exit-code 1 \
        [--stderr-file F] [--started-at T] [--instance-id I]

``ensure`` writes a ``failed`` record only when the run wrote none (checked in S3),
so it is safe to call on every exit. A run record's arrival fires the Stop-EC2 Lambda.
"""
from __future__ import annotations

import argparse
import os
import sys

from glue_contract import runs
from glue_contract.keys import record_key

STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 2000


def mark_written(marker: str | None, run_id: str) -> None:
    """Note on the instance that ``run_id``'s record is in S3 (``run_training.sh``'s exit trap
    then skips its check: one python + boto3 start less before the command ends)."""
    if marker:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(run_id + "\n")


def stderr_tail(path: str | None, lines: int = STDERR_TAIL_LINES, chars: int = STDERR_TAIL_CHARS) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as fh:
        text = fh.read().decode("utf-8", "replace")
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return tail[-chars:]


def failed_after_exit(exit_code: int, tail: str) -> str:
    if exit_code == 0:
        head = "the training step exited 0 without writing a run record"
    elif exit_code >= 128:
        head = f"the training step was killed by signal {exit_code - 128} (exit code {exit_code})"
    else:
        head = f"the training step failed with exit code {exit_code}"
    return f"{head}; last lines of stderr:\n{tail}" if tail else f"{head} (no stderr)"


def ensure_record(
    s3,
    bucket: str,
    run_id: str,
    *,
    exit_code: int,
    stderr_file: str | None = None,
    started_at: str | None = None,
    instance_id: str | None = None,
    trigger_keys=(),
    retry_of: str = "",
) -> dict | None:
    """Write a ``failed`` record unless ``runs/<run_id>.json`` exists. Returns what it wrote.
    ``retry_of``: the lost or killed run this one re-did (stop_ec2 re-runs a killed run once)."""
    if runs.record_exists(s3, bucket, run_id):
        return None
    record = runs.failed_record(
        run_id, source="run_training.sh", started_at=started_at,
        error=failed_after_exit(exit_code, stderr_tail(stderr_file)),
        instance_id=instance_id, trigger_keys=trigger_keys, exit_code=exit_code,
        **({"retry_of": retry_of} if retry_of else {}),
    )
    runs.write_record(s3, bucket, record)
    return record


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m ec2_scripts.record", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("ensure", help="write a failed record unless the run wrote one")
    e.add_argument("--output-bucket", required=True)
    e.add_argument("--run-id", required=True)
    e.add_argument("--exit-code", type=int, required=True)
    e.add_argument("--stderr-file")
    e.add_argument("--started-at")
    e.add_argument("--instance-id")
    e.add_argument("--trigger-keys", default="", help="space-separated S3 keys")
    args = p.parse_args(argv)

    import boto3

    s3 = boto3.client("s3")
    wrote = ensure_record(
        s3,
        args.output_bucket,
        args.run_id,
        exit_code=args.exit_code,
        stderr_file=args.stderr_file,
        started_at=args.started_at,
        instance_id=args.instance_id,
        trigger_keys=args.trigger_keys.split(),
        retry_of=os.environ.get("MLPIPE_RETRY_OF", ""),  # set by the worker's command
    )
    if wrote:
        print(f"wrote failed run record s3://{args.output_bucket}/{record_key(args.run_id)}", file=sys.stderr)
    else:
        print(f"run record s3://{args.output_bucket}/{record_key(args.run_id)} exists", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
