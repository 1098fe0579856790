"""S3 -> Lambda wiring: ``data/*.csv`` on the input bucket fires trigger, ``runs/*.json`` on
the output bucket fires stop_ec2. The filters are tight and the buckets separate, so
nothing the pipeline writes (models, records, rejected files) can fire its own trigger.

S3 checks, when the configuration is put, that it may invoke the function; right after
``AddPermission`` that check can still fail (the permission is not visible to S3 yet), and
AWS answers ``InvalidArgument: Unable to validate the following destination
configurations``. That answer is retried with a bounded exponential backoff
(``RETRY_DELAYS``: about 1 minute in all on aws).
"""
from __future__ import annotations

import time

from botocore.exceptions import ClientError

from .clients import error_code, error_message
from .config import MlpipeError
from .functions import ensure_s3_permission, function_arn
from .report import Report

VALIDATION_MESSAGE = "Unable to validate the following destination configurations"
RETRY_DELAYS = (1, 2, 4, 8, 16, 30)          # aws: seconds between attempts
LOCAL_RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8)    # the local cloud answers at once


def wanted_configuration(names, bucket: str, function_arn_: str) -> dict:
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


def _is_unvalidated_destination(exc: ClientError) -> bool:
    return error_code(exc) == "InvalidArgument" and VALIDATION_MESSAGE in error_message(exc)


def put_configuration(stack, bucket: str, configuration: dict) -> int:
    """PutBucketNotificationConfiguration, retried while S3 cannot validate the destination yet.
    Returns the number of attempts it took."""
    s3 = stack.client("s3")
    delays = RETRY_DELAYS if stack.is_aws else LOCAL_RETRY_DELAYS
    for attempt in range(1, len(delays) + 2):
        try:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)
            return attempt
        except ClientError as exc:
            if not _is_unvalidated_destination(exc) or attempt > len(delays):
                raise
            delay = delays[attempt - 1]
            stack.say(f"  S3 cannot validate the destination of {bucket} yet (the invoke permission "
                      f"is new): retrying in {delay:g}s ({attempt}/{len(delays)})")
            time.sleep(delay)
    raise AssertionError("unreachable")


def ensure_notification(stack, bucket: str, fn: str) -> list:
    """Permission for S3 to invoke ``fn``, then the bucket's notification configuration."""
    names = stack.names
    arn = function_arn(stack, names.function(fn))
    if arn is None:
        raise MlpipeError(f"function {names.function(fn)} does not exist: deploy the functions first")
    reports = [ensure_s3_permission(stack, names.function(fn), bucket)]
    wanted = wanted_configuration(names, bucket, arn)
    current = stack.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    name = f"{bucket} -> {names.function(fn)}"
    if _normalize(current) == _normalize(wanted):
        reports.append(Report("found", "s3 notification", name))
    else:
        attempts = put_configuration(stack, bucket, wanted)
        had = bool(_normalize(current))
        reports.append(Report("updated" if had else "created", "s3 notification", name, None,
                              {"attempts": attempts}))
    return reports


def ensure(stack) -> list:
    names = stack.names
    return [
        *ensure_notification(stack, names.input_bucket, "trigger"),
        *ensure_notification(stack, names.output_bucket, "stop_ec2"),
    ]


def is_wired(stack, bucket: str) -> bool:
    """Whether ``bucket`` exists and sends events to a function (what ``ensure_notification`` finds)."""
    from .buckets import bucket_exists

    return bucket_exists(stack, bucket) and bool(
        stack.client("s3").get_bucket_notification_configuration(Bucket=bucket).get("LambdaFunctionConfigurations"))


def delete(stack) -> list:
    """Clear the notification configuration of the stack's buckets (those that exist)."""
    from .buckets import bucket_exists

    s3 = stack.client("s3")
    reports = []
    for bucket in stack.names.buckets:
        if not bucket_exists(stack, bucket):
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
