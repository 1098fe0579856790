"""Undo a set-aside overwrite: the input bucket keeps versions, so when a good
``data/x.csv`` was overwritten by a bad one (which its run then set aside to ``rejected/``),
``restore_data`` puts the newest earlier version that is valid back as the current one.
That upload fires the trigger like any other, so the restored rows are trained again.

    mlpipe restore-data data/x.csv
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from glue_contract import keys as glue_keys

from .config import MlpipeError
from .stack import Stack


class RestoreError(MlpipeError):
    """Nothing to restore (the message says why)."""


def _versions(s3, bucket: str, key: str) -> list:
    """Every version and delete marker of exactly ``key``, newest first."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        out += [{**v, "delete_marker": False} for v in page.get("Versions", []) if v["Key"] == key]
        out += [{**m, "delete_marker": True} for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    # S3 lists each kind newest first; merged, ties (same second) go to the current one (IsLatest)
    return sorted(out, key=lambda v: (v["LastModified"], bool(v.get("IsLatest"))), reverse=True)


def _rejected_etags(s3, bucket: str) -> set:
    """ETags of the files set aside in ``rejected/`` (a copy keeps a single-part ETag)."""
    etags = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=glue_keys.REJECTED_PREFIX):
        etags |= {o["ETag"] for o in page.get("Contents", [])}
    return etags


def restore_data(stack: Stack, key: str) -> dict:
    """Make the newest valid version of ``key`` that was not set aside current again.

    Returns ``{"key", "restored_version", "replaced"}`` (``replaced``: the version or delete
    marker that was current). RestoreError when the key is not a data key, the bucket keeps
    no earlier valid version, or the current version already is that one."""
    from model_code.data import DataError, parse_csv

    if not glue_keys.is_data_key(key):
        raise RestoreError(f"{key!r} is not a data key ({glue_keys.DATA_PREFIX}<name>{glue_keys.DATA_SUFFIX})")
    names = stack.names
    s3, bucket = stack.client("s3"), names.input_bucket
    versions = _versions(s3, bucket, key)
    if not versions:
        raise RestoreError(f"s3://{bucket}/{key} has no versions: nothing to restore")
    set_aside = _rejected_etags(s3, bucket)
    problems = []
    for v in versions:
        if v["delete_marker"]:
            continue
        if v["ETag"] in set_aside:
            problems.append(f"{v['VersionId']}: set aside in {glue_keys.REJECTED_PREFIX}")
            continue
        body = s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        try:
            parse_csv(body, key)
        except DataError as exc:
            problems.append(f"{v['VersionId']}: {exc}")
            continue
        if v.get("IsLatest"):
            raise RestoreError(f"s3://{bucket}/{key} is current and valid (version {v['VersionId']}): "
                               "nothing to restore")
        try:
            s3.copy_object(Bucket=bucket, Key=key,
                           CopySource={"Bucket": bucket, "Key": key, "VersionId": v["VersionId"]})
        except ClientError as exc:
            raise MlpipeError(f"could not restore s3://{bucket}/{key}: {exc}") from None
        return {"key": key, "restored_version": v["VersionId"], "replaced": versions[0]["VersionId"]}
    raise RestoreError(f"s3://{bucket}/{key} keeps no earlier valid version: " + "; ".join(problems))
