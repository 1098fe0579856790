"""The stack's two Lambda layers: built by ``layer_build``, checked against AWS's limits, published.

``ensure`` builds (``local`` target on the local cloud, ``aws`` otherwise; cached), refuses
to publish when the function plus its layers would be over 250 MB unzipped, and publishes a new
layer version only when the content changed: each version's description carries the zip's
sha256, compared with the newest version's. A zip over 50 MB (the direct-upload limit) goes
through S3, under ``layers/<layer name>/<sha256>.zip`` in the input bucket (a prefix the
trigger, which fires on ``data/*.csv``, ignores). ``delete`` deletes every version and
those objects.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from botocore.exceptions import ClientError

from layer_build import LAYER_NAMES, MODEL_CODE, PACKAGES, build_layers
from layer_build.limits import MIB

from .clients import is_not_found
from .config import MlpipeError, Settings
from .names import Names
from .report import Report

Progress = Callable[[str], None]

S3_PREFIX = "layers/"
COMPATIBLE_ARCHITECTURES = ["x86_64"]
LICENSE_INFO = "BSD-3-Clause (numpy; bundled libraries' licenses in its dist-info)"


class LayerLimitError(MlpipeError):
    """The function and its layers would not fit AWS's limits: nothing was published."""


def _attr_for(layer: str) -> str:
    return {PACKAGES: "python_layer", MODEL_CODE: "model_code_layer"}[layer]


def layer_name(names: Names, layer: str) -> str:
    """The stack's name of a layer_build layer (``S-python-packages``, ``S-model-code``)."""
    return getattr(names, _attr_for(layer))


def s3_key(layer_name_: str, sha256: str) -> str:
    return f"{S3_PREFIX}{layer_name_}/{sha256}.zip"


def content_tag(sha256: str) -> str:
    return f"sha256:{sha256}"


def description(artifact) -> str:
    """The layer version's description (<= 256 characters): the content hash and how it was built."""
    text = (f"{artifact.name} {content_tag(artifact.sha256)} target={artifact.target} "
            f"py{artifact.python_version} bytecode={'yes' if artifact.bytecode else 'no'}")
    return text[:256]


def latest_version(lam, name: str) -> dict | None:
    """The newest version of layer ``name`` (list_layer_versions is newest first), or None."""
    try:
        versions = lam.list_layer_versions(LayerName=name).get("LayerVersions", [])
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return max(versions, key=lambda v: v["Version"]) if versions else None


def _all_versions(lam, name: str) -> list[int]:
    out, marker = [], None
    while True:
        kw = {"LayerName": name, **({"Marker": marker} if marker else {})}
        try:
            page = lam.list_layer_versions(**kw)
        except ClientError as exc:
            if is_not_found(exc):
                return out
            raise
        out += [v["Version"] for v in page.get("LayerVersions", [])]
        marker = page.get("NextMarker")
        if not marker:
            return sorted(out)


def _upload_to_s3(stack, name: str, artifact) -> dict:
    s3, names, progress = stack.client("s3"), stack.names, stack.say
    bucket, key = names.input_bucket, s3_key(name, artifact.sha256)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        raise MlpipeError(
            f"layer {name} is {artifact.zipped_bytes / MIB:.1f} MiB zipped, over the 50 MiB direct upload "
            f"limit, so it goes through S3, but the input bucket {bucket} does not exist (or is not "
            "yours): deploy the glue part first (`mlpipe deploy --part glue`)") from None
    try:
        s3.head_object(Bucket=bucket, Key=key)
        progress(f"layer {name}: s3://{bucket}/{key} already uploaded")
    except ClientError:
        progress(f"layer {name}: uploading {artifact.zipped_bytes / MIB:.1f} MiB to s3://{bucket}/{key}")
        s3.upload_file(str(artifact.zip_path), bucket, key)
    return {"S3Bucket": bucket, "S3Key": key}


def publish(stack, layer: str, artifact, *, needs_s3: bool) -> Report:
    """Publish ``artifact`` as a new version of the stack's ``layer``, unless the newest has its content."""
    lam, settings, progress = stack.client("lambda"), stack.settings, stack.say
    name = layer_name(stack.names, layer)
    details = {"sha256": artifact.sha256, "unzipped_bytes": artifact.unzipped_bytes,
               "zipped_bytes": artifact.zipped_bytes, "via_s3": needs_s3, "cache_hit": artifact.cache_hit,
               "bytecode": artifact.bytecode, "zip_path": str(artifact.zip_path)}
    latest = latest_version(lam, name)
    if latest and content_tag(artifact.sha256) in (latest.get("Description") or ""):
        return Report("found", "lambda layer", name, latest["LayerVersionArn"],
                      details | {"version": latest["Version"]})
    if needs_s3:
        content = _upload_to_s3(stack, name, artifact)
    else:
        content = {"ZipFile": Path(artifact.zip_path).read_bytes()}
    progress(f"layer {name}: publishing ({artifact.zipped_bytes / MIB:.1f} MiB zipped, "
             f"{artifact.unzipped_bytes / MIB:.1f} MiB unzipped)")
    made = lam.publish_layer_version(
        LayerName=name, Description=description(artifact), Content=content,
        CompatibleRuntimes=[settings.lambda_runtime], CompatibleArchitectures=COMPATIBLE_ARCHITECTURES,
        LicenseInfo=LICENSE_INFO)
    return Report("created", "lambda layer", name, made["LayerVersionArn"],
                  details | {"version": made["Version"]})


def build_target(settings: Settings) -> str:
    """The local cloud runs layers on this machine's Python; AWS needs Lambda's manylinux wheels."""
    return "local" if settings.is_local else "aws"


def ensure(stack, *, layers: Iterable[str] = LAYER_NAMES, out: Path | None = None,
                  function_dir: Path | None = None) -> list[Report]:
    """Build, check and publish the layers; one Report per layer, its ``arn`` the version ARN.

    Raises LayerLimitError (nothing published) when AWS would refuse the sizes.
    """
    progress = stack.say
    result = build_layers(build_target(stack.settings), out, layers=tuple(layers), function_dir=function_dir, progress=progress)
    report = result.report
    for line in report.table().splitlines():
        progress(line)
    if report.over_limit:
        raise LayerLimitError("refusing to publish the layers: " + "; ".join(report.problems()))
    too_big = set(report.needs_s3)
    return [publish(stack, a.name, a, needs_s3=a.name in too_big) for a in result.layers]


def leftovers(stack) -> list:
    lam = stack.client("lambda")
    return [f"lambda layer {layer}" for layer in stack.names.layers if _all_versions(lam, layer)]


def delete(stack, layers: Iterable[str] = LAYER_NAMES) -> list[Report]:
    """Delete every version of the stack's layers and their S3 uploads; one Report per layer."""
    names = stack.names
    lam = stack.client("lambda")
    s3 = stack.client("s3")
    reports = []
    for layer in layers:
        name = layer_name(names, layer)
        versions = _all_versions(lam, name)
        for v in versions:
            lam.delete_layer_version(LayerName=name, VersionNumber=v)
        removed = _delete_uploads(s3, names.input_bucket, f"{S3_PREFIX}{name}/")
        action = "deleted" if versions or removed else "absent"
        reports.append(Report(action, "lambda layer", name, None,
                              {"versions": versions, "s3_objects": removed}))
    return reports


def _delete_uploads(s3, bucket: str, prefix: str) -> int:
    try:
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])]
    except ClientError as exc:
        if is_not_found(exc):
            return 0
        raise
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
    return len(keys)


