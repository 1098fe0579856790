"""Tables for the notebooks: what a step did, the run records, a bucket's contents, the API
and layers as built (read back through the control-plane APIs), layer builds, and
predictions against the truth.

Plain pandas DataFrames, so a notebook cell shows them as HTML and a reader can
sort or filter them. pandas is an operator-side dependency only (never in a layer).
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pandas as pd

from .stack import Stack

MIB = 1024 * 1024
CLASS_NAMES = {0: "malignant (0)", 1: "benign (1)"}


def reports_table(reports: Iterable) -> pd.DataFrame:
    """One row per ``Report`` (action, kind, name) of an ensure/delete step."""
    rows = [{"action": r.action, "kind": r.kind, "name": r.name,
             "note": r.details.get("reason") or ", ".join(r.details.get("changes") or [])}
            for r in reports]
    return pd.DataFrame(rows, columns=["action", "kind", "name", "note"])


def reports_summary(reports: Iterable, hint: str = "reports_summary(reports)") -> "Summary":
    """A deploy's or destroy's reports in a few lines: how many resources per action, then per
    kind; the whole table (``reports_table``) is ``show_full(...)`` away."""
    reports = list(reports)
    actions: dict[str, int] = {}
    kinds: dict[str, dict[str, int]] = {}
    for r in reports:
        actions[r.action] = actions.get(r.action, 0) + 1
        per = kinds.setdefault(r.kind, {})
        per[r.action] = per.get(r.action, 0) + 1
    title = f"{len(reports)} resources: " + ", ".join(f"{n} {a}" for a, n in actions.items())
    fields = {kind: ", ".join(f"{n} {a}" for a, n in per.items()) for kind, per in kinds.items()}
    return Summary(title, fields, reports_table(reports).to_string(), hint)


def runs_table(runs: Iterable[dict]) -> pd.DataFrame:
    """The run records as a table: status, version, inputs, holdout metrics, cost. The metric
    columns are the task's (roc_auc, accuracy, f1 for the default dataset; rmse, mae, r2 for
    values): those any run has."""
    runs = list(runs)
    metrics = [k for k in ("roc_auc", "accuracy", "f1", "f1_macro", "rmse", "mae", "r2")
               if any((r.get("metrics") or {}).get(k) is not None for r in runs)] or ["roc_auc", "accuracy", "f1"]
    if "roc_auc" in metrics and "f1_macro" in metrics:
        metrics.remove("f1_macro")  # binary: the default's three
    rows = []
    for r in runs:
        m = r.get("metrics") or {}
        rows.append({
            "run_id": r.get("run_id"),
            "status": r.get("status"),
            "model_version": r.get("model_version"),
            "files": len(r.get("inputs") or []),
            **{k: m.get(k) for k in metrics},
            "seconds": r.get("duration_seconds"),
            "cost_usd": r.get("cost_usd"),
            "error": r.get("error") or "",   # blank, never NaN/None, for a run without one
        })
    return pd.DataFrame(rows, columns=["run_id", "status", "model_version", "files", *metrics,
                                       "seconds", "cost_usd", "error"])


def bucket_table(stack: Stack, bucket: str, prefix: str = "") -> pd.DataFrame:
    """Keys, sizes and times of a bucket's objects (under ``prefix``)."""
    s3 = stack.client("s3")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rows.append({"key": obj["Key"], "bytes": obj["Size"], "last_modified": obj["LastModified"]})
    return pd.DataFrame(rows, columns=["key", "bytes", "last_modified"])


# --------------------------------------------------------------------------- predictions vs truth


def accuracy(y_true, predictions) -> float:
    y_true, predictions = np.asarray(y_true), np.asarray(predictions)
    if y_true.shape != predictions.shape or y_true.size == 0:
        raise ValueError(f"need as many predictions as labels (got {predictions.shape} and {y_true.shape})")
    return float(np.mean(y_true == predictions))


def confusion_table(y_true, predictions, labels: Mapping[int, str] = CLASS_NAMES) -> pd.DataFrame:
    """Counts of truth (rows) by prediction (columns), with the class names."""
    y_true, predictions = np.asarray(y_true), np.asarray(predictions)
    accuracy(y_true, predictions)  # same shape checks
    keys = list(labels)
    table = pd.DataFrame(0, index=[f"true {labels[k]}" for k in keys],
                         columns=[f"predicted {labels[k]}" for k in keys])
    for t, p in zip(y_true.tolist(), predictions.tolist()):
        if t not in labels or p not in labels:
            raise ValueError(f"label {t if t not in labels else p!r} is not one of {keys}")
        table.iloc[keys.index(t), keys.index(p)] += 1
    return table


# --------------------------------------------------------------------------- the API as built


def _api_id(stack: Stack) -> str:
    from .api import find_api

    api = find_api(stack)
    if api is None:
        raise LookupError(f"no REST API {stack.names.api_name} in this stack yet: run notebook 05 "
                          "(or `mlpipe deploy --part backend`) first")
    return api["id"]


def api_methods_table(stack: Stack) -> pd.DataFrame:
    """Every method of the stack's REST API: path, method, key required, validator, request
    model, integration type and what it calls."""
    apigw = stack.client("apigateway")
    api_id = _api_id(stack)
    validators = {v["id"]: v.get("name") for v in apigw.get_request_validators(restApiId=api_id).get("items", [])}
    rows = []
    for page in apigw.get_paginator("get_resources").paginate(restApiId=api_id):
        for res in page.get("items", []):
            for verb in sorted(res.get("resourceMethods") or {}):
                m = apigw.get_method(restApiId=api_id, resourceId=res["id"], httpMethod=verb)
                integ = m.get("methodIntegration") or {}
                uri = integ.get("uri", "")
                target = uri.split(":function:")[-1].split("/")[0] if ":function:" in uri else uri
                rows.append({
                    "path": res["path"], "method": verb,
                    "apiKeyRequired": bool(m.get("apiKeyRequired")),
                    "authorization": m.get("authorizationType"),
                    "validator": validators.get(m.get("requestValidatorId"), m.get("requestValidatorId")),
                    "request model": ", ".join(f"{ct}: {name}" for ct, name in (m.get("requestModels") or {}).items()),
                    "integration": integ.get("type"),
                    "calls": target,
                })
    return pd.DataFrame(rows, columns=["path", "method", "apiKeyRequired", "authorization", "validator",
                                       "request model", "integration", "calls"])


def usage_plan_table(stack: Stack) -> pd.DataFrame:
    """The stack's usage plan: throttle, quota, the stages it covers and its keys (names only)."""
    from .api import find_usage_plan

    plan = find_usage_plan(stack)
    if plan is None:
        raise LookupError(f"no usage plan {stack.names.usage_plan} yet: run notebook 05 first")
    apigw = stack.client("apigateway")
    throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
    keys = apigw.get_usage_plan_keys(usagePlanId=plan["id"]).get("items", [])
    row = {
        "usage plan": plan.get("name"),
        "rate limit (req/s)": throttle.get("rateLimit"),
        "burst limit": throttle.get("burstLimit"),
        "quota": quota.get("limit"),
        "quota period": quota.get("period"),
        "stages": ", ".join(f"{s.get('apiId')}/{s.get('stage')}" for s in plan.get("apiStages") or []),
        "keys": ", ".join(k.get("name", k.get("id", "?")) for k in keys),
    }
    return pd.DataFrame([row]).set_index("usage plan")


def layer_versions_table(stack: Stack, *, last: int = 3) -> pd.DataFrame:
    """The newest ``last`` published versions of each of the stack's layers."""
    lam = stack.client("lambda")
    rows = []
    for layer in stack.names.layers:
        try:
            versions = lam.list_layer_versions(LayerName=layer).get("LayerVersions", [])
        except lam.exceptions.ResourceNotFoundException:
            versions = []
        for v in sorted(versions, key=lambda v: -v["Version"])[:last]:
            got = lam.get_layer_version(LayerName=layer, VersionNumber=v["Version"])
            content = got.get("Content") or {}
            rows.append({
                "layer": layer, "version": v["Version"],
                "zipped MiB": round(content.get("CodeSize", 0) / MIB, 1),
                "runtimes": ", ".join(v.get("CompatibleRuntimes") or []),
                "description": v.get("Description", ""),
            })
    return pd.DataFrame(rows, columns=["layer", "version", "zipped MiB", "runtimes", "description"])


# --------------------------------------------------------------------------- layer builds


def _report_dict(report) -> dict:
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


def layer_sizes_table(report) -> pd.DataFrame:
    """A ``layer_build`` SizeReport (or its ``to_dict()``) as a table in MiB, with the totals
    and AWS's limits as the last rows."""
    d = _report_dict(report)
    limits = d["limits"]
    rows = [{"artifact": a["name"], "kind": a["kind"],
             "unzipped MiB": round(a["unzipped_bytes"] / MIB, 1),
             "zipped MiB": round(a["zipped_bytes"] / MIB, 1),
             "upload": "via S3 (> 50 MiB)" if a["zipped_bytes"] > limits["max_direct_upload_bytes"] else "direct"}
            for a in d["artifacts"]]
    rows.append({"artifact": "total", "kind": f"{sum(a['kind'] == 'layer' for a in d['artifacts'])} layers",
                 "unzipped MiB": round(d["total_unzipped_bytes"] / MIB, 1),
                 "zipped MiB": round(sum(a["zipped_bytes"] for a in d["artifacts"]) / MIB, 1), "upload": ""})
    rows.append({"artifact": "AWS limit", "kind": f"max {limits['max_layers']} layers",
                 "unzipped MiB": round(limits["max_unzipped_bytes"] / MIB, 1),
                 "zipped MiB": round(limits["max_direct_upload_bytes"] / MIB, 1), "upload": "direct upload"})
    return pd.DataFrame(rows, columns=["artifact", "kind", "unzipped MiB", "zipped MiB", "upload"]).set_index("artifact")


def trim_table(artifact) -> pd.DataFrame:
    """What the trimming of a built layer removed, by rule (files, MiB), biggest first."""
    trimmed = getattr(artifact, "trimmed", None) or {}
    rows = [{"trimmed by": rule, "files": info.get("files", 0), "MiB": round(info.get("bytes", 0) / MIB, 1)}
            for rule, info in trimmed.items()]
    df = pd.DataFrame(rows, columns=["trimmed by", "files", "MiB"])
    return df.sort_values("MiB", ascending=False, kind="stable").set_index("trimmed by")


def publish_table(reports) -> pd.DataFrame:
    """``mlpipe.layers.ensure``'s reports: per layer, whether a version was published
    (``created``) or the newest one already had this content (``found``), its version,
    its sizes and whether the zip went through S3."""
    rows = [{"action": r.action, "layer": r.name, "version": r.details.get("version"),
             "unzipped MiB": round(r.details.get("unzipped_bytes", 0) / MIB, 1),
             "zipped MiB": round(r.details.get("zipped_bytes", 0) / MIB, 1),
             "upload": "via S3" if r.details.get("via_s3") else "direct",
             "sha256": (r.details.get("sha256") or "")[:12]}
            for r in reports]
    return pd.DataFrame(rows, columns=["action", "layer", "version", "unzipped MiB", "zipped MiB", "upload", "sha256"])


def request_model_table(stack: Stack) -> pd.DataFrame:
    """The request model API Gateway validates bodies against (read back from the API), as
    rules a person reads: what the body, ``instances`` and each row must be."""
    from .api import MODEL_NAME

    apigw = stack.client("apigateway")
    schema = json.loads(apigw.get_model(restApiId=_api_id(stack), modelName=MODEL_NAME)["schema"])
    inst = (schema.get("properties") or {}).get("instances") or {}
    row = inst.get("items") or {}
    props = row.get("properties") or {}
    types = sorted({(p or {}).get("type", "any") for p in props.values()})

    def _rows(lo, hi):
        return f"{lo if lo is not None else 0} to {hi if hi is not None else 'any number of'} rows"

    rules = [
        ("body", f"a JSON {schema.get('type', 'value')} with the field(s) {', '.join(schema.get('required') or []) or '-'}"),
        ("instances", f"a JSON {inst.get('type', 'value')} of {_rows(inst.get('minItems'), inst.get('maxItems'))}"),
        ("each row", f"a JSON {row.get('type', 'value')} with {len(row.get('required') or [])} required features"
                     f"{', and no other key' if row.get('additionalProperties') is False else ''}"),
        ("each feature", f"of type {' or '.join(types) if types else 'any'}"
                         f" (e.g. {next(iter(props), '?')!r})"),
    ]
    return pd.DataFrame(rules, columns=["part", "must be"]).set_index("part")


# --------------------------------------------------------------------------- answers, not walls


class Summary:
    """A short answer (a few labelled lines) that keeps the whole value one call away:
    ``show_full(summary)`` prints all of it. What a notebook shows instead of a wall of JSON."""

    def __init__(self, title: str, fields: Mapping[str, object], full, hint: str = ""):
        self.title, self.fields, self.full, self.hint = title, dict(fields), full, hint

    def full_text(self) -> str:
        if isinstance(self.full, str):
            return self.full
        return json.dumps(self.full, indent=1, default=str)

    def __str__(self) -> str:
        width = max((len(k) for k in self.fields), default=0)
        lines = [self.title] + [f"  {k:<{width}}  {v}" for k, v in self.fields.items()]
        n = len(self.full_text().splitlines())
        lines.append(f"  (the whole of it, {n} lines: show_full({self.hint or '...'}))")
        return "\n".join(lines)

    __repr__ = __str__


def show_full(value) -> None:
    """Print the whole value behind a ``Summary`` (or any value, as JSON)."""
    if isinstance(value, Summary):
        print(value.full_text())
    elif isinstance(value, str):
        print(value)
    else:
        print(json.dumps(value, indent=1, default=str))


def _num_count(value) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, Mapping):
        return sum(_num_count(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_num_count(v) for v in value)
    return 0


def pointer_summary(pointer: Mapping | None, hint: str = "pointer") -> Summary:
    """``models/latest.json`` in a few lines: which version, from which run, how good, and
    the export the predict function loads (the inline numbers counted, not printed)."""
    if not pointer:
        return Summary("models/latest.json: none (no model promoted yet)", {}, None, hint)
    m = pointer.get("metrics") or {}
    export = pointer.get("export") or {}
    fields = {
        "version": pointer.get("version"),
        "run_id": pointer.get("run_id"),
        "promoted_at": pointer.get("promoted_at"),
        "holdout": ", ".join(f"{k} {m[k]:.4f}" for k in ("roc_auc", "accuracy", "f1") if isinstance(m.get(k), (int, float))),
        "model_key": pointer.get("model_key"),
        "export": (f"{export.get('kind')} ({export.get('format')} v{export.get('format_version')}), "
                   f"{export.get('bytes')} bytes, sha256 {str(export.get('sha256'))[:12]}...") if export else "none",
    }
    if pointer.get("export_inline") is not None:
        fields["export_inline"] = f"{_num_count(pointer['export_inline'])} numbers inline (one GET at a cold start)"
    return Summary("models/latest.json", fields, pointer, hint)


def metrics_table(metrics: Mapping) -> pd.DataFrame:
    """Holdout metrics as a table, one row per number (the confusion matrix as its four cells)."""
    rows = []
    for k, v in metrics.items():
        if k == "confusion_matrix" and isinstance(v, (list, tuple)) and len(v) == 2:
            (tn, fp), (fn, tp) = v
            rows += [{"metric": f"confusion: {name}", "value": val}
                     for name, val in (("true negatives (tn)", tn), ("false positives (fp)", fp),
                                       ("false negatives (fn)", fn), ("true positives (tp)", tp))]
        elif isinstance(v, float):
            rows.append({"metric": k, "value": round(v, 4)})
        elif isinstance(v, (int, str)) or v is None:
            rows.append({"metric": k, "value": v})
        else:
            rows.append({"metric": k, "value": json.dumps(v, default=str)})
    # object dtype: counts stay integers beside the rounded rates
    return pd.DataFrame(rows, columns=["metric", "value"], dtype=object).set_index("metric")


def command_shape(command: Mapping, hint: str = "command") -> Summary:
    """An SSM command (as ``ssm.list_commands`` returns it) as the shape of its SendCommand
    call: document, targets, comment, timeout, and each parameter's name and size (the
    script itself is ``show_full``'s to print)."""
    params = command.get("Parameters") or {}

    def size(values) -> str:
        values = values if isinstance(values, list) else [values]
        chars = sum(len(str(v)) for v in values)
        lines = sum(len(str(v).splitlines()) for v in values)
        return f"{len(values)} value(s), {lines} lines, {chars} characters"

    fields = {
        "DocumentName": command.get("DocumentName"),
        "InstanceIds": ", ".join(command.get("InstanceIds") or []),
        "Comment": command.get("Comment"),
        "TimeoutSeconds": command.get("TimeoutSeconds"),
        **{f"Parameters[{k!r}]": size(v) for k, v in params.items()},
        "CommandId / Status": f"{command.get('CommandId')} / {command.get('Status')}",
    }
    full = {k: command.get(k) for k in ("CommandId", "DocumentName", "InstanceIds", "Comment",
                                        "TimeoutSeconds", "Status", "RequestedDateTime")}
    full["Parameters"] = params
    return Summary("ssm.send_command(...) as the worker sent it", fields, full, hint)


def probe_table(url: str, key: Optional[str], cases: Mapping[str, Any], *, timeout: float = 30.0) -> pd.DataFrame:
    """One request per case: ``{name: instances (a list) or a raw body (str/bytes)}`` ->
    a table of case, status and the message the API answered with (``serving.post_predict``)."""
    from . import serving

    rows = []
    for name, case in cases.items():
        if isinstance(case, (str, bytes)):
            reply = serving.post_predict(url, key, body=case, timeout=timeout)
        else:
            reply = serving.post_predict(url, key, case, timeout=timeout)
        rows.append({"case": name, "status": reply.status, "message": reply.message})
    return pd.DataFrame(rows, columns=["case", "status", "message"])
