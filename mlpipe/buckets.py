"""The input and output buckets, and the uploads the operator makes into them.

Both buckets: public access blocked, default encryption (SSE-S3), a policy that
denies any request not made over TLS, and the ``stack`` tag. The output bucket is
versioned (models and run records are history worth keeping). Input and output are
separate buckets and the notification filters are tight (``data/*.csv`` on input,
``runs/*.json`` on output), so nothing the pipeline writes can fire its own trigger.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from botocore.exceptions import ClientError
from glue_contract.defaults import MAX_DATA_FILE_BYTES
from glue_contract.poll import retry_while
from layer_build import zipdet

from .clients import error_code, get_or_none, is_not_found
from .config import MlpipeError, Settings
from .names import Names
from .report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_ARCHIVE_DIRS = ("model_code", "ec2_scripts", "glue_contract")

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


class UploadError(MlpipeError):
    """A file refused before upload (it does not follow the data contract)."""


def tls_only_policy(names: Names, bucket: str) -> dict:
    """Deny every request to ``bucket`` that is not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [names.bucket_arn(bucket), names.objects_arn(bucket)],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }


def tls_policy_applies(settings: Settings) -> bool:
    """The deny-non-TLS policy is applied on aws only.

    The local cloud is plain HTTP on 127.0.0.1 (no TLS to require), and moto ignores
    policy conditions (its docs: "Conditions are not taken into account"), so there
    the statement would deny every object request.
    """
    return settings.is_aws


def bucket_exists(stack, bucket: str) -> bool:
    s3 = stack.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if is_not_found(exc):
            return False
        if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            raise MlpipeError(
                f"bucket {bucket} exists but belongs to another account (or you may not read it): "
                "choose another MLPIPE_STACK"
            ) from None
        raise


def _bucket_settings_changes(stack, bucket: str, versioned: bool) -> list:
    """Apply every setting that differs from the wanted one; return what changed."""
    settings, names = stack.settings, stack.names
    s3 = stack.client("s3")
    changes = []

    got = get_or_none(s3.get_public_access_block, Bucket=bucket)
    if not got or got.get("PublicAccessBlockConfiguration") != PUBLIC_ACCESS_BLOCK:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
        changes.append("public access block")

    got = get_or_none(s3.get_bucket_encryption, Bucket=bucket)
    algo = None
    if got:
        rules = got["ServerSideEncryptionConfiguration"].get("Rules", [])
        algo = rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") if rules else None
    if algo != "AES256":
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)
        changes.append("encryption")

    if tls_policy_applies(settings):
        wanted = tls_only_policy(names, bucket)
        got = get_or_none(s3.get_bucket_policy, Bucket=bucket)
        if not got or json.loads(got["Policy"]) != wanted:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wanted))
            changes.append("TLS-only policy")

    if versioned:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        if status != "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            changes.append("versioning")

    got = get_or_none(s3.get_bucket_tagging, Bucket=bucket)
    tags = {t["Key"]: t["Value"] for t in (got or {}).get("TagSet", [])}
    if any(tags.get(k) != v for k, v in names.tags.items()):
        tags.update(names.tags)
        s3.put_bucket_tagging(Bucket=bucket,
                              Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        changes.append("tags")
    return changes


def create_bucket_params(region: str, bucket: str) -> dict:
    """The parameters of ``CreateBucket`` in ``region``: us-east-1 takes none but the name
    (and refuses a ``LocationConstraint`` of us-east-1), every other region needs its name
    as the ``LocationConstraint``."""
    params = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    return params


def _create_bucket(stack, bucket: str) -> None:
    """CreateBucket; while the name is still being released after a delete, S3 answers
    OperationAborted ("A conflicting conditional operation is currently in progress"):
    retried, saying so, for up to 5 minutes on aws."""
    s3 = stack.client("s3")
    kwargs = create_bucket_params(stack.settings.region, bucket)

    def create():
        try:
            s3.create_bucket(**kwargs)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise MlpipeError(f"bucket name {bucket} is taken by another account: "
                                  "choose another MLPIPE_STACK") from None
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    retry_while(create, lambda exc: (f"bucket {bucket} was deleted moments ago and S3 is still releasing "
                                     "its name (OperationAborted)" if error_code(exc) == "OperationAborted" else None),
                timeout=300 if stack.is_aws else 30, every=5 if stack.is_aws else 0.5, cap=15, say=stack.say)


def ensure_bucket(stack, bucket: str, *, versioned: bool = False) -> Report:
    names = stack.names
    created = False
    exists = bucket_exists(stack, bucket)
    if exists:
        try:
            changes = _bucket_settings_changes(stack, bucket, versioned)
        except ClientError as exc:
            # S3 is eventually consistent: a bucket deleted moments ago can still answer
            # HeadBucket, then NoSuchBucket to everything else. Create it again.
            if error_code(exc) != "NoSuchBucket":
                raise
            stack.say(f"  bucket {bucket} is still listed but gone (deleted moments ago): creating it again")
            exists = False
    if not exists:
        _create_bucket(stack, bucket)
        created = True
        changes = _bucket_settings_changes(stack, bucket, versioned)
    action = "created" if created else ("updated" if changes else "found")
    return Report(action, "s3 bucket", bucket, names.bucket_arn(bucket),
                  {"changes": [] if created else changes, "versioned": versioned})


def ensure(stack) -> list:
    return [
        # versioned: a data file overwritten by a bad one (then set aside) can be restored
        ensure_bucket(stack, stack.names.input_bucket, versioned=True),
        ensure_bucket(stack, stack.names.output_bucket, versioned=True),
    ]


def find(stack) -> list:
    """This stack's buckets: by name, plus any ``<stack>-*`` bucket tagged ``stack=<stack>``."""
    names = stack.names
    s3 = stack.client("s3")
    found = []
    for b in s3.list_buckets().get("Buckets", []):
        name = b["Name"]
        if name in names.buckets:
            # S3 lists a bucket deleted moments ago for a while (eventual consistency);
            # HeadBucket then answers 404: it is gone
            if bucket_exists(stack, name):
                found.append(name)
        elif name.startswith(names.stack + "-"):
            try:
                tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
            except ClientError:
                continue
            if {t["Key"]: t["Value"] for t in tags}.get("stack") == names.stack:
                found.append(name)
    return sorted(found)


def leftovers(stack) -> list:
    return [f"s3 bucket {b}" for b in find(stack)]


def delete(stack) -> list:
    out = [delete_bucket(stack, b) for b in find(stack)]
    return out or [Report("absent", "s3 bucket", f"{stack.names.stack}-*")]


def bucket_settings(stack, bucket: str) -> dict:
    """The settings of a bucket as a plain dict (for notebooks and tests)."""
    s3 = stack.client("s3")
    pab = get_or_none(s3.get_public_access_block, Bucket=bucket)
    enc = get_or_none(s3.get_bucket_encryption, Bucket=bucket)
    pol = get_or_none(s3.get_bucket_policy, Bucket=bucket)
    tags = get_or_none(s3.get_bucket_tagging, Bucket=bucket)
    rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    return {
        "bucket": bucket,
        "public_access_block": (pab or {}).get("PublicAccessBlockConfiguration"),
        "encryption": rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] if rules else None,
        "policy": json.loads(pol["Policy"]) if pol else None,
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled"),
        "tags": {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])},
    }


def empty_bucket(stack, bucket: str) -> int:
    """Delete every object version and delete marker; return how many were deleted."""
    s3 = stack.client("s3")
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(batch), 1000):
            chunk = batch[i:i + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            deleted += len(chunk)
    # Unversioned leftovers (a bucket whose versioning was never enabled lists them above
    # with VersionId "null"; this is a safety net).
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def delete_bucket(stack, bucket: str) -> Report:
    """Empty and delete ``bucket`` if it exists and carries this stack's tag (or has our name)."""
    names = stack.names
    if not bucket_exists(stack, bucket):
        return Report("absent", "s3 bucket", bucket)
    s3 = stack.client("s3")
    tags = get_or_none(s3.get_bucket_tagging, Bucket=bucket)
    stack_tag = {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])}.get("stack")
    if stack_tag not in (None, names.stack):
        raise MlpipeError(f"bucket {bucket} is tagged stack={stack_tag}, not {names.stack}: left alone")
    n = empty_bucket(stack, bucket)
    s3.delete_bucket(Bucket=bucket)
    return Report("deleted", "s3 bucket", bucket, names.bucket_arn(bucket), {"objects_deleted": n})


def delete_buckets(stack) -> list:
    return [delete_bucket(stack, b) for b in stack.names.buckets]


# --- uploads ----------------------------------------------------------------------------

def _validate_csv(path: str, settings=None) -> str | None:
    """None if ``path`` fits the stack's dataset file (``mlpipe.datasets``), else the reason."""
    from .datasets import spec_of, validate_file

    return validate_file(path, spec_of(settings))


def upload_data(stack, paths: Iterable, *, force: bool = False) -> list:
    """Validate then upload data files as ``data/<basename>``; return the keys uploaded.

    Every file is checked against the stack's dataset file (``model_code.table.parse_table``,
    what the instance runs) before anything is uploaded;
    if one fails, nothing is uploaded and UploadError names the file and the problem.
    ``force=True`` uploads failing files anyway (to watch the pipeline reject them).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise UploadError("no files given: name one or more CSV data files")
    problems = []
    for p in paths:
        if not os.path.basename(p).endswith(".csv"):
            problems.append(f"{p}: the name must end in .csv (only data/*.csv fires training)")
            continue
        if not os.path.isfile(p):
            problems.append(f"{p}: no such file")
            continue
        size = os.path.getsize(p)
        if size > MAX_DATA_FILE_BYTES:
            problems.append(f"{p}: {size} bytes ({size / 1048576:.1f} MiB), over the {MAX_DATA_FILE_BYTES} bytes "
                            f"(50 MiB) a data file may hold: split it into smaller batches")
            continue
        reason = _validate_csv(p, stack.settings)
        if reason:
            problems.append(reason)
    hard = [m for m in problems if m.endswith("no such file") or "must end in .csv" in m or "MiB" in m]
    if hard or (problems and not force):
        hint = "" if hard else " (use --force to upload it anyway and watch the pipeline reject it)"
        raise UploadError("refused, nothing uploaded: " + "; ".join(problems) + hint)
    names = stack.names
    s3 = stack.client("s3")
    keys = []
    for p in paths:
        key = names.data_prefix + os.path.basename(p)
        s3.upload_file(p, names.input_bucket, key)
        keys.append(key)
        stack.say(f"uploaded {p} -> s3://{names.input_bucket}/{key}")
    return keys


def upload_holdout(stack, path) -> Report:
    """Upload the fixed holdout to ``holdout/holdout.csv`` (validated; skipped if unchanged)."""
    reason = _validate_csv(str(path), stack.settings)
    if reason:
        raise UploadError(f"holdout refused: {reason}")
    data = Path(path).read_bytes()
    return _put_if_changed(stack, stack.names.input_bucket, stack.names.holdout_key, data, "holdout")


def ensure_holdout(stack, path=None, *, remake: bool = False) -> Report:
    """The fixed holdout: uploaded from ``path``, or, when none is given and the bucket has
    none yet (or ``remake``: the dataset file changed), split from the stack's dataset (its
    dataset file's holdout fraction and seed)."""
    names = stack.names
    if path:
        return upload_holdout(stack, path)
    if not remake and get_or_none(stack.client("s3").head_object, Bucket=names.input_bucket, Key=names.holdout_key):
        return Report("found", "holdout", f"s3://{names.input_bucket}/{names.holdout_key}")
    import tempfile

    from .datasets import write_split

    with tempfile.TemporaryDirectory() as tmp:
        return upload_holdout(stack, write_split(stack.settings, tmp, 1)["holdout"])


def _put_if_changed(stack, bucket: str, key: str, data: bytes, kind: str) -> Report:
    s3 = stack.client("s3")
    digest = hashlib.sha256(data).hexdigest()
    head = get_or_none(s3.head_object, Bucket=bucket, Key=key)
    existing = (head or {}).get("Metadata", {}).get("sha256")
    if existing == digest:
        return Report("found", kind, f"s3://{bucket}/{key}", None, {"sha256": digest, "bytes": len(data)})
    s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"sha256": digest})
    return Report("updated" if head else "created", kind, f"s3://{bucket}/{key}", None,
                  {"sha256": digest, "bytes": len(data)})


def build_code_archive(root: Path | str = REPO_ROOT, dirs=CODE_ARCHIVE_DIRS) -> bytes:
    """A deterministic zip of ``model_code/``, ``ec2_scripts/`` and ``glue_contract/`` (same
    files -> same bytes), built by zipdet with its one exclude list."""
    root = Path(root)
    files = []
    for d in dirs:
        base = root / d
        if not base.is_dir():
            raise MlpipeError(f"cannot build the code archive: {base} is missing")
        files += zipdet.source_files(base, prefix=f"{d}/")
    return zipdet.zip_bytes(files)


def upload_code_archive(stack, *, root: Path | str = REPO_ROOT) -> Report:
    """Ship model_code + ec2_scripts to ``code/mlpipe-code.zip`` (skipped when unchanged)."""
    return _put_if_changed(stack, stack.names.input_bucket, stack.names.code_key,
                           build_code_archive(root), "code archive")
