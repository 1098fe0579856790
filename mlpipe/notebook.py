"""What the notebooks' first cells and re-runs need: is what this notebook builds on there?

- ``require(settings, "api", ...)`` checks each need against the cloud (and the
  local files of notebook 01) and, when one is missing, stops the notebook with ONE line
  that names the notebooks to run first (``NotReady``: Jupyter shows its message, not a
  traceback). Needs: ``cloud`` (00), ``data`` (01), ``buckets`` (02), ``layers`` (03),
  ``glue`` (04), ``api`` (05), ``model`` (04 or 05).
- ``inventory`` / ``describe_inventory``: what the cloud holds for this stack (notebook 00).
- ``data_keys``, ``trained_on``: what a re-run finds, so it uploads only what is new.
- ``policy_table``, ``destroy_summary``, ``show_full_text``: tables that read well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from botocore.exceptions import BotoCoreError, ClientError

from .clients import is_not_found
from .config import MlpipeError, Settings
from .stack import Stack

# need -> (the notebook that provides it, what it is)
NEEDS = {
    "cloud": ("00", "a reachable cloud"),
    "data": ("01", "the data files in build/data"),
    "buckets": ("02", "the input and output buckets"),
    "layers": ("03", "the published layers"),
    "glue": ("04", "the Part 1 functions and instance"),
    "api": ("05", "the REST API"),
    "model": ("05", "a promoted model"),
}
# what each need is built on: when a need is missing, these are checked too, so the message
# names every notebook to run (06 on an empty cloud: 02, 03, 05, not only 05)
BUILT_ON = {"layers": ("buckets",), "glue": ("data", "buckets"), "api": ("buckets", "layers"),
            "model": ("buckets",)}
DATA_DIR = Path(__file__).resolve().parent.parent / "build" / "data"


class NotReady(MlpipeError):
    """A notebook's prerequisites are missing; shown as one line in Jupyter (MlpipeError's)."""


def show_full_text() -> None:
    """pandas shows every cell's full text (its default cuts at 50 characters), and a table's
    text form keeps one line per row, as its HTML does (not wide columns wrapped into blocks)."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.expand_frame_repr", False)


def _exists(call, *args, **kwargs) -> bool:
    try:
        call(*args, **kwargs)
        return True
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise


def _check(stack: Stack, need: str, data_dir: Path) -> bool:
    if need == "data":
        return (data_dir / "holdout.csv").is_file() and (data_dir / "batch_01.csv").is_file()
    if need == "buckets":
        s3 = stack.client("s3")
        return all(_exists(s3.head_bucket, Bucket=b) for b in stack.names.buckets)
    if need == "layers":
        lam = stack.client("lambda")
        return all(lam.list_layer_versions(LayerName=layer).get("LayerVersions") for layer in stack.names.layers)
    if need == "glue":
        lam = stack.client("lambda")
        fns = all(_exists(lam.get_function, FunctionName=stack.names.function(fn)) for fn in ("trigger", "worker", "stop_ec2"))
        from .instance import find_instance

        return fns and find_instance(stack) is not None
    if need == "api":
        from .api import backend_outputs

        return bool(backend_outputs(stack).get("api_url"))
    if need == "model":
        from .registry import latest_pointer

        return _exists(stack.client("s3").head_bucket, Bucket=stack.names.output_bucket) and \
            latest_pointer(stack) is not None
    raise ValueError(f"unknown need {need!r}: one of {', '.join(NEEDS)}")


def missing(settings: Settings, needs: Iterable[str], *, data_dir: Path = DATA_DIR) -> list:
    """The needs that are not met, in the order given (the cloud first)."""
    from .clients import check_credentials

    try:
        check_credentials(settings)
    except MlpipeError as exc:
        raise NotReady(f"{exc} (notebook 00 starts or finds the cloud)") from None
    stack = Stack.load(settings)
    out, todo, seen = [], list(needs), set()
    while todo:
        need = todo.pop(0)
        if need == "cloud" or need in seen:
            continue
        seen.add(need)
        try:
            ok = _check(stack, need, data_dir)
        except (ClientError, BotoCoreError) as exc:
            raise NotReady(f"could not check {NEEDS[need][1]}: {exc}") from None
        if not ok:
            out.append(need)
            todo.extend(BUILT_ON.get(need, ()))
    return out


def require(settings: Settings, *needs: str, data_dir: Path = DATA_DIR) -> str:
    """Return one line saying all is there, or raise NotReady naming the notebooks to run.

    Call it first: it checks that the cloud answers before anything else talks to it."""
    gone = missing(settings, needs, data_dir=data_dir)
    where = f"stack {settings.stack} on the {settings.target} cloud"
    if gone:
        parts = [NEEDS[n][1] for n in gone]
        what = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        run = sorted({NEEDS[n][0] for n in gone})
        raise NotReady(f"{where} lacks {what}: run notebook{'s' if len(run) > 1 else ''} "
                       f"{', '.join(run)} first (in order), then this one")
    have = [NEEDS[n][1] for n in needs if n != "cloud"]
    return f"ready: {where} answers" + (" and has " + ", ".join(have) if have else "")


def inventory(stack: Stack) -> dict:
    """What the cloud holds for this stack: resources found, data files, runs, the model."""
    from .api import backend_outputs
    from .instance import find_instance
    from .runs import list_runs
    from .registry import latest_pointer

    s3 = stack.client("s3")
    lam = stack.client("lambda")
    have_buckets = [b for b in stack.names.buckets if _exists(s3.head_bucket, Bucket=b)]
    data = data_keys(stack) if stack.names.input_bucket in have_buckets else []
    functions = [fn for fn in ("trigger", "worker", "stop_ec2", "reaper", "predict")
                 if _exists(lam.get_function, FunctionName=stack.names.function(fn))]
    inst = find_instance(stack)
    runs = list_runs(stack) if stack.names.output_bucket in have_buckets else []
    model = latest_pointer(stack) if stack.names.output_bucket in have_buckets else None
    all_buckets = len(s3.list_buckets().get("Buckets", []))
    return {
        "buckets": len(have_buckets), "data files": len(data), "functions": len(functions),
        "instance": inst["State"]["Name"] if inst else None,
        "api": bool(backend_outputs(stack).get("api_url")),
        "runs": len(runs), "model": model.get("version") if model else None,
        "buckets of any stack": all_buckets,
    }


def describe_inventory(inv: dict, stack: str) -> str:
    if not any(inv[k] for k in ("buckets", "functions", "instance", "api")):
        other = inv.get("buckets of any stack") or 0
        return (f"it holds nothing of stack {stack}" + (f" ({other} buckets of other stacks)" if other else "")
                + ": start with notebook 01")
    parts = [f"{inv['buckets']} buckets", f"{inv['data files']} data files",
             f"{inv['functions']} functions", f"instance {inv['instance'] or 'none'}",
             "the API" if inv["api"] else "no API", f"{inv['runs']} runs",
             f"model {inv['model']}" if inv["model"] else "no model yet"]
    return f"it holds stack {stack}: " + ", ".join(parts)


def data_keys(stack: Stack) -> list:
    """The keys under ``data/`` of the input bucket (what the next run trains on)."""
    s3 = stack.client("s3")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names.input_bucket, Prefix=stack.names.data_prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def trained_on(stack: Stack, key: str, *, first: bool = True) -> dict | None:
    """The first (or newest) run record that trained on ``key`` (succeeded or rejected), or None."""
    from .runs import list_runs

    found = [r for r in list_runs(stack)
             if key in (r.get("inputs") or []) and r.get("status") in ("succeeded", "rejected")]
    if not found:
        return None
    return found[0] if first else found[-1]


def policy_table(document: dict):
    """An IAM policy document as a table: Sid, effect, actions, resources, condition."""
    import json

    import pandas as pd

    def _list(v):
        return v if isinstance(v, list) else [v] if v else []

    rows = []
    for st in document.get("Statement", []):
        rows.append({
            "Sid": st.get("Sid", ""),
            "Effect": st.get("Effect"),
            "Actions": ", ".join(_list(st.get("Action"))),
            "Resources": ", ".join(_list(st.get("Resource"))),
            "Condition": json.dumps(st["Condition"]) if st.get("Condition") else "",
        })
    return pd.DataFrame(rows, columns=["Sid", "Effect", "Actions", "Resources", "Condition"])


def destroy_summary(reports):
    """Counts per action and kind, each resource counted once: a resource that a step deleted
    and a later step found already gone counts as ``deleted`` only."""
    import pandas as pd

    deleted = {(r.kind, r.name) for r in reports if r.action == "deleted"}
    seen, rows = set(), []
    for r in reports:
        key = (r.kind, r.name)
        if r.action == "absent" and key in deleted:
            continue
        if (r.action, key) in seen:
            continue
        seen.add((r.action, key))
        rows.append({"action": r.action, "kind": r.kind})
    table = pd.DataFrame(rows, columns=["action", "kind"])
    return table.groupby(["action", "kind"]).size().rename("count").to_frame()


def cloud_answers(settings: Settings) -> bool:
    """True if the target answers (for local: a local cloud runs on the port)."""
    from .clients import check_credentials

    try:
        check_credentials(settings)
        return True
    except MlpipeError:
        return False


def training_command(stack: Stack, run_id: str | None = None, *,
                     comment_prefix: str = "mlpipe"):
    """The training command SSM ran for ``run_id`` on the stack's instance (the newest one
    when ``run_id`` is None), as the shape of the worker's SendCommand call (a
    ``tables.Summary``: ``show_full`` prints the whole script), read back with
    ``ssm.list_commands``. Its Comment names the run (``mlpipe training <run_id>: <keys>``)."""
    from .instance import find_instance
    from .tables import Summary, command_shape

    inst = find_instance(stack)
    if inst is None:
        return Summary("no training instance: run notebook 04 first", {}, None)
    ssm = stack.client("ssm")
    found = []
    for page in ssm.get_paginator("list_commands").paginate(InstanceId=inst["InstanceId"]):
        found += [c for c in page.get("Commands", []) if (c.get("Comment") or "").startswith(comment_prefix)]
    if run_id is not None:
        found = [c for c in found if run_id in (c.get("Comment") or "")]
    if not found:
        which = f"for run {run_id} " if run_id else ""
        return Summary(f"SSM holds no command {which}for {inst['InstanceId']}", {}, None)
    return command_shape(max(found, key=lambda c: c.get("RequestedDateTime") or 0))


def steps_only(line: str) -> None:
    """A progress callback for a long deploy or destroy: each step as it starts and the
    instance's state changes; the resources themselves are summarized at the end."""
    if line.strip() and (not line.startswith(" ") or line.lstrip().startswith(("i-", "launching"))):
        print(line)


def changes_only(line: str) -> None:
    """A progress callback for a re-deploy: prints what was created, updated or deleted."""
    if line.lstrip().startswith(("created", "updated", "deleted")):
        print(line)


def _md5(path: Path) -> str:
    import hashlib

    return hashlib.md5(path.read_bytes()).hexdigest()


def build_data_differences(stack: Stack, data_dir: Path = DATA_DIR) -> list:
    """The files of ``build/data`` that differ from the stack's copies (the holdout every run is
    judged on, the batches under ``data/``), compared by MD5 against the objects' ETags
    (single-part uploads: the ETag is the MD5). Files only on one side are not differences."""
    s3 = stack.client("s3")
    pairs = [(data_dir / "holdout.csv", stack.names.holdout_key)]
    pairs += [(data_dir / Path(key).name, key) for key in data_keys(stack)]
    differ = []
    for local, key in pairs:
        if not local.is_file():
            continue
        try:
            etag = s3.head_object(Bucket=stack.names.input_bucket, Key=key)["ETag"].strip('"')
        except ClientError as exc:
            if is_not_found(exc):
                continue
            raise
        if "-" not in etag and etag != _md5(local):
            differ.append(local.name)
    return differ


def check_build_data(stack: Stack, data_dir: Path = DATA_DIR) -> str:
    """One line: does ``build/data`` (what this notebook reads) hold the files the stack trained
    on? If not, which differ and how to get back (``fetch_build_data``, or notebook 01 with the
    parameters the stack's data was made with)."""
    differ = build_data_differences(stack, data_dir)
    if not differ:
        return f"build/data matches the stack's data (holdout and batches in {stack.names.input_bucket})"
    shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
    return (f"build/data differs from what the stack trained on ({shown}: notebook 01 ran with other "
            "parameters?): rows and scores here are not the cloud's; to get back, run "
            "`fetch_build_data(stack)` (copies the stack's files into build/data) or "
            "notebook 01 with the parameters you deployed with")


def fetch_build_data(stack: Stack, data_dir: Path = DATA_DIR) -> list:
    """Copy the stack's holdout and ``data/*.csv`` into ``build/data`` (overwriting the local
    files of the same names). Returns the files written."""
    s3 = stack.client("s3")
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key in [stack.names.holdout_key, *data_keys(stack)]:
        target = data_dir / Path(key).name
        s3.download_file(stack.names.input_bucket, key, str(target))
        written.append(target)
    return written


def remove_copies(stack: Stack, data_dir: Path = DATA_DIR,
                  made: Iterable[str] = ()) -> list:
    """Delete what a notebook's exercises copied into the pipeline's data: every object under
    ``data/`` whose content (ETag) another ``data/`` object already has (the first by key is
    kept, so ``batch_01.csv`` stays and ``copy_3.csv`` goes; a later model would otherwise
    train on duplicates), the same copies in ``data_dir``, and the local files named in
    ``made``. Deleting fires no training (the trigger listens to ObjectCreated only).
    Returns what was removed, as ``s3://...`` keys and local paths."""
    import hashlib

    s3 = stack.client("s3")
    seen, removed = {}, []
    for key in sorted(data_keys(stack)):
        etag = s3.head_object(Bucket=stack.names.input_bucket, Key=key)["ETag"]
        if etag in seen:
            s3.delete_object(Bucket=stack.names.input_bucket, Key=key)
            removed.append(f"s3://{stack.names.input_bucket}/{key}")
            local = data_dir / Path(key).name
            if local.is_file() and hashlib.md5(local.read_bytes()).hexdigest() == etag.strip('"'):
                local.unlink()
                removed.append(str(local))
        else:
            seen[etag] = key
    for name in made:
        local = data_dir / name
        if local.is_file():
            local.unlink()
            removed.append(str(local))
    return removed
