"""S3 -> Lambda wiring: ``data/*.csv`` on the input bucket fires trigger, ``runs/*.json`` on
the output bucket fires stop_ec2. The filters are tight and the buckets separate, so
nothing the pipeline writes (models, records, rejected files) can fire its own trigger.
"""
from __future__ import annotations

from .clients import client
from .config import Settings
from .functions import ensure_s3_permission, function_arn
from .names import Names, names_for
from .report import Report
from .config import MlpipeError


def wanted_configuration(names: Names, bucket: str, function_arn_: str) -> dict:
    if bucket == names.input_bucket:
        cid, prefix, suffix = f"{names.stack}-data-csv-to-trigger", names.data_prefix, names.data_suffix
    elif bucket == names.output_bucket:
        cid, prefix, suffix = f"{names.stack}-runs-json-to-stop-ec2", names.runs_prefix, names.runs_suffix
    else:
        raise ValueError(f"{bucket} is not a bucket of stack {names.stack}")
    return {"LambdaFunctionConfigurations": [{
        "Id": cid,
        "LambdaFunctionArn": function_arn_,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [
            {"Name": "prefix", "Value": prefix},
            {"Name": "suffix", "Value": suffix},
        ]}},
    }]}


def _normalize(config: dict) -> list:
    out = []
    for c in config.get("LambdaFunctionConfigurations", []):
        rules = sorted((r["Name"].lower(), r["Value"])
                       for r in c.get("Filter", {}).get("Key", {}).get("FilterRules", []))
        out.append((c.get("LambdaFunctionArn"), tuple(sorted(c.get("Events", []))), tuple(rules)))
    for kind in ("TopicConfigurations", "QueueConfigurations"):
        for c in config.get(kind, []):
            out.append((kind, c.get("Id")))
    if config.get("EventBridgeConfiguration") is not None:
        out.append(("EventBridge",))
    return sorted(out)


def ensure_notification(settings: Settings, names: Names, bucket: str, fn: str) -> list:
    """Permission for S3 to invoke ``fn``, then the bucket's notification configuration."""
    arn = function_arn(settings, names.function(fn))
    if arn is None:
        raise MlpipeError(f"function {names.function(fn)} does not exist: deploy the functions first")
    reports = [ensure_s3_permission(settings, names, names.function(fn), bucket)]
    s3 = client("s3", settings)
    wanted = wanted_configuration(names, bucket, arn)
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    name = f"{bucket} -> {names.function(fn)}"
    if _normalize(current) == _normalize(wanted):
        reports.append(Report("found", "s3 notification", name))
    else:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
        had = bool(_normalize(current))
        reports.append(Report("updated" if had else "created", "s3 notification", name))
    return reports


def ensure_notifications(settings: Settings, names: Names | None = None) -> list:
    names = names or names_for(settings)
    return [
        *ensure_notification(settings, names, names.input_bucket, "trigger"),
        *ensure_notification(settings, names, names.output_bucket, "stop_ec2"),
    ]


def delete_notifications(settings: Settings, names: Names | None = None) -> list:
    """Clear the notification configuration of the stack's buckets (those that exist)."""
    from .buckets import bucket_exists

    names = names or names_for(settings)
    s3 = client("s3", settings)
    reports = []
    for bucket in names.buckets:
        if not bucket_exists(settings, bucket):
            reports.append(Report("absent", "s3 notification", bucket))
            continue
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
        current.pop("ResponseMetadata", None)
        if not _normalize(current):
            reports.append(Report("absent", "s3 notification", bucket))
            continue
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        reports.append(Report("deleted", "s3 notification", bucket))
    return reports
