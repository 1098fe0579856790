"""Run the numbered notebooks in order, top to bottom, each in a fresh kernel.

    python -m tools.walkthrough --out build/walkthrough   # executed copies + figures there
    python -m tools.walkthrough --in-place                # write outputs back into notebooks/
    python -m tools.walkthrough --keep                    # (make walkthrough KEEP=1) skip 99

On the local target it starts a local cloud for the run (or reuses one that
already answers on LOCALCLOUD_PORT) and stops what it started at the end. The last
notebook, 99, tears the stack down: so after a plain walkthrough the cloud is stopped and
the stack is gone (open 00 to start again). ``--keep`` runs every notebook but 99 and
leaves the stack and the local cloud running (a detached one: `localcloud down` stops it),
so the notebooks can be opened and re-run in Jupyter afterwards. Kernels talk to this
process over IPC sockets (on POSIX), not TCP: nothing to eavesdrop on, and no warning. It stops
at the first cell error with a non-zero exit, saying which notebook and cell, and
closes with a summary: seconds per notebook, model versions and their holdout
metrics, the API URL.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"


def notebook_paths(pattern: str = "[0-9][0-9]_*.ipynb") -> list[Path]:
    return sorted(NOTEBOOKS.glob(pattern))


def execute_notebook(path: Path, timeout: int = 900):
    """Execute one notebook in a fresh kernel; returns the executed NotebookNode.

    Raises CellExecutionError (with the notebook still returned on .nb) on the
    first failing cell. Execution counts come out 1..N in order.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        **_ipc_kernels(),
    )
    client.execute()
    return nb


def _ipc_kernels() -> dict:
    """Kernels on IPC sockets (files in a private temporary folder) where the platform has
    them: ipykernel warns that TCP is unencrypted, and a local run needs no TCP. nbclient
    still creates (and shuts down) each kernel itself."""
    if os.name != "posix":
        return {}
    import atexit
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    folder = tempfile.mkdtemp(prefix="walkthrough-kernels-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(folder, "kernel"))
            super().__init__(**kwargs)

    return {"kernel_manager_class": IPCKernelManager}


def _start_cloud_if_local(stack: ExitStack, keep: bool = False) -> str | None:
    """On the local target: reuse a local cloud that answers, else start one here (stopped
    at the end), or with ``keep`` a detached one that outlives the walkthrough."""
    if os.environ.get("MLPIPE_TARGET", "local") != "local":
        return None
    from localcloud import LocalCloud, default_port
    from localcloud.core import endpoint_for, health

    port = default_port()
    endpoint = endpoint_for(port)
    if health(endpoint) is not None:
        print(f"walkthrough: using the local cloud already running at {endpoint}")
    elif keep:
        from localcloud import ensure_running

        endpoint = ensure_running(port)
        print(f"walkthrough: started a local cloud at {endpoint} (kept running: `localcloud down` stops it)")
    else:
        cloud = stack.enter_context(LocalCloud(port=port))
        endpoint = cloud.endpoint_url
        print(f"walkthrough: started a local cloud at {endpoint} (stopped at the end)")
    os.environ["LOCALCLOUD_PORT"] = str(port)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    from localcloud.core.operator import for_port

    key = for_port(port)  # the kernels' plain boto3 signs as the operator, as mlpipe does
    if key is not None:
        os.environ.update(key.env())
        os.environ.pop("AWS_SESSION_TOKEN", None)
    return endpoint


def _collect_summary() -> dict:
    """What the pipeline produced, read before teardown removes it."""
    try:
        from mlpipe.config import load_settings
        from mlpipe.runs import list_runs
        from mlpipe.stack import Stack
        from mlpipe.status import outputs

        stack = Stack.load(load_settings())
        out = outputs(stack)
        runs = list_runs(stack)
    except Exception as exc:  # the summary must never hide the run's own result
        return {"error": f"could not read the stack: {exc}"}
    return {
        "api_url": out.get("api_url"),
        "models": [
            {"version": r.get("model_version"), "status": r.get("status"), **(r.get("metrics") or {})}
            for r in runs
            if r.get("model_version")
        ],
    }


def _iam_denials(endpoint: str | None) -> list[dict]:
    """What the local cloud's IAM refused (or, in audit mode, would have) to the stack's roles
    during the run: the walkthrough passes only when every role's policy allowed every call it
    made. Refusals of other principals are not counted: notebook 05's exercise E05.6 makes an
    IAM user without execute-api:Invoke on purpose, to show the 403."""
    if endpoint is None:
        return []
    from localcloud.iam.cli import fetch_report

    return [d for d in fetch_report(endpoint).get("denials") or [] if _is_role(d.get("principal") or "")]


def _is_role(principal: str) -> bool:
    """``arn:aws:sts::<account>:assumed-role/<role>/<session>`` or ``arn:aws:iam::<account>:role/<role>``."""
    return ":assumed-role/" in principal or ":role/" in principal


def _print_summary(timings: dict[str, float], summary: dict, out_dir: Path | None,
                   kept: bool = False) -> None:
    print("\n== walkthrough summary ==")
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds:7.1f} s")
    print(f"  {'total':<40} {sum(timings.values()):7.1f} s")
    if summary.get("models"):
        print("\n  model version  status     roc_auc  accuracy")
        for m in summary["models"]:
            print(
                f"  {str(m['version']):<13}  {str(m['status']):<9}  "
                f"{m.get('roc_auc', float('nan')):.4f}   {m.get('accuracy', float('nan')):.4f}"
            )
    if summary.get("api_url"):
        print(f"\n  API URL: {summary['api_url']}")
    if summary.get("error"):
        print(f"\n  ({summary['error']})")
    if out_dir is not None:
        print(f"\n  executed notebooks: {out_dir}/")
    if kept:
        print("  kept: the stack and the local cloud are still running (99_teardown or `mlpipe destroy`, "
              "then `localcloud down`, remove them)")
    else:
        print("  torn down: 99_teardown deleted the stack, and a local cloud the walkthrough started "
              "is stopped (`make walkthrough KEEP=1` keeps both)")
    print(f"  figures: {REPO / 'build' / 'figures'}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="walkthrough", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=REPO / "build" / "walkthrough",
                       help="folder for the executed copies (default build/walkthrough)")
    where.add_argument("--in-place", action="store_true",
                       help="write the executed notebooks back into notebooks/")
    parser.add_argument("--keep", action="store_true",
                        help="skip 99_teardown and leave the stack and the local cloud running")
    parser.add_argument("--only", default="[0-9][0-9]_*.ipynb",
                        help="glob of notebooks to run (default: all numbered ones)")
    args = parser.parse_args(argv)

    import nbformat
    from nbclient.exceptions import CellExecutionError

    paths = notebook_paths(args.only)
    if args.keep:
        paths = [p for p in paths if not p.name.startswith("99")]
    if not paths:
        print(f"walkthrough: no notebooks match {args.only!r} in {NOTEBOOKS}", file=sys.stderr)
        return 2
    out_dir = None if args.in_place else args.out.resolve()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    timings: dict[str, float] = {}
    summary: dict = {}
    denials: list[dict] = []
    with ExitStack() as stack:
        endpoint = _start_cloud_if_local(stack, keep=args.keep)
        for path in paths:
            if path.name.startswith("99") and not summary:
                summary = _collect_summary()
            print(f"walkthrough: running {path.name} ...", flush=True)
            start = time.perf_counter()
            target = path if args.in_place else out_dir / path.name
            try:
                nb = execute_notebook(path)
            except CellExecutionError as exc:
                timings[path.name] = time.perf_counter() - start
                print(f"\nwalkthrough: {path.name} failed:\n{exc}", file=sys.stderr)
                failed = getattr(exc, "nb", None)
                if failed is not None and out_dir is not None:
                    nbformat.write(failed, target)
                    print(f"walkthrough: the partly executed notebook is {target}", file=sys.stderr)
                return 1
            timings[path.name] = time.perf_counter() - start
            nbformat.write(nb, target)
            print(f"walkthrough: {path.name} ok in {timings[path.name]:.1f} s", flush=True)
        if not summary:
            summary = _collect_summary()
        denials = _iam_denials(endpoint)
    _print_summary(timings, summary, out_dir, kept=args.keep)
    if endpoint is not None:
        print(f"  IAM denials recorded by the local cloud: {len(denials)}")
        for d in denials:
            print(f"    {d.get('principal')} {d.get('action')} {d.get('resource')}: {d.get('reason')}")
    report = REPO / "build" / "walkthrough-summary.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"seconds": timings, **summary, "iam_denials": denials},
                                 indent=2, default=str))
    if denials:
        print("walkthrough: a role lacked a permission (see `localcloud iam-report`): fix the "
              "policy in mlpipe/iam.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
