"""Authorize one parsed request: its IAM action(s), the real resource ARNs and the context.

Per service, only what the API's operation name and parameters do not say by themselves:
the few operations whose IAM action differs from the API name (S3's ListObjectsV2 is
`s3:ListBucket`, Lambda's Invoke is `lambda:InvokeFunction`), the parameters that name a
resource under another name (S3's `Key` is the `ObjectName`), and the condition keys a
service adds (`s3:prefix`). The resource types and ARN formats come from the dataset.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from . import dataset
from .credentials import Identity, role_policies, user_policies
from .policy import Decision, evaluate
from .requests import Call

# API operation -> IAM action, where AWS names them differently (AWS's S3 "Policy actions"
# table, Lambda's "Actions" table).
_S3_ACTIONS = {
    "ListObjects": "ListBucket", "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions", "ListBuckets": "ListAllMyBuckets",
    "HeadObject": "GetObject", "GetObjectAttributes": "GetObject",
    "CopyObject": "PutObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
    "UploadPartCopy": "PutObject", "CompleteMultipartUpload": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeleteBucketTagging": "PutBucketTagging", "DeleteBucketCors": "PutBucketCORS",
    "PutBucketCors": "PutBucketCORS", "GetBucketCors": "GetBucketCORS",
    "DeleteBucketWebsite": "DeleteBucketWebsite", "DeleteObjectTagging": "DeleteObjectTagging",
}
_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
                   "InvokeAsync": "InvokeAsync"}
# Operations AWS answers without a permission check.
_NO_AUTH = {("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")}

_PLACEHOLDER_ALIASES = {
    "s3": {"BucketName": ["Bucket"], "ObjectName": ["Key"]},
    "events": {"RuleName": ["Name", "Rule"]},
    "sts": {"RoleNameWithPath": ["RoleArn"]},
    "ssm": {"DocumentName": ["Name", "DocumentName"]},
}


@dataclass
class Check:
    """One action on its resources (a request may need several: CopyObject reads and writes).
    `resource_context`: condition keys of one resource (its tags: `aws:resourcetag/<key>`)."""
    action: str
    resources: list[str]
    resource_context: dict = field(default_factory=dict)


@dataclass
class Authz:
    checks: list[Check]
    context: dict = field(default_factory=dict)
    bucket: str | None = None      # S3: the bucket whose policy also applies
    skip: bool = False             # nothing to check (an operation AWS does not authorize)


def _lambda_normalise(call: Call):
    qualifier = call.params.get("Qualifier")

    def norm(holder: str, value: str) -> str:
        if holder == "FunctionName" and qualifier and ":" not in value:
            return f"{value}:{qualifier}"
        if holder == "FunctionName" and value.startswith("arn:"):
            return value  # a full ARN replaces the format
        if holder == "FunctionName" and value.count(":") >= 2:  # 123456789012:function:name
            return value.split(":function:", 1)[-1]
        return value
    return norm


def _s3_checks(call: Call, account: str, region: str, ctx: dict) -> Authz:
    op = call.operation or ""
    action = "s3:" + _S3_ACTIONS.get(op, op)
    params = dict(call.params)
    if "Key" in params:
        params["Key"] = unquote(params["Key"])
    bucket = params.get("Bucket")
    canonical = dataset.action_name("s3", action[3:]) or action
    arns = dataset.resource_arns("s3", canonical[3:], params, account, region,
                                 aliases=_PLACEHOLDER_ALIASES["s3"])
    checks = [Check(canonical, arns)]
    if canonical == "s3:ListBucket" or canonical == "s3:ListBucketVersions":
        for q, k in (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"),
                     ("max-keys", "s3:max-keys")):
            if q in call.query:
                ctx[k] = call.query[q]
        if "s3:prefix" not in ctx and op in ("ListObjects", "ListObjectsV2"):
            ctx["s3:prefix"] = ""
    if op in ("CopyObject", "UploadPartCopy") and params.get("CopySource"):
        src = unquote(params["CopySource"]).lstrip("/").split("?versionId=")[0]
        checks.append(Check("s3:GetObject", [f"arn:aws:s3:::{src}"]))
    if op == "DeleteObjects" and call.body:
        keys = _delete_keys(call.body)
        if keys:
            checks[0] = Check("s3:DeleteObject", [f"arn:aws:s3:::{bucket}/{k}" for k in keys])
    return Authz(checks, ctx, bucket=bucket)


def _delete_keys(body: bytes) -> list[str]:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return []
    return [el.text or "" for el in root.iter() if el.tag.endswith("Key") and
            el.tag.split("}")[-1] == "Key"]


def _apigateway_checks(call: Call, environ: dict, region: str) -> Authz:
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "/")
    return Authz([Check(f"apigateway:{method}", [f"arn:aws:apigateway:{region}::{path}"])])


def _generic_checks(prefix: str, call: Call, account: str, region: str, action: str,
                    normalise: Any = None) -> Authz:
    canonical = dataset.action_name(prefix, action) or f"{prefix}:{action}"
    arns = dataset.resource_arns(prefix, canonical.split(":", 1)[1], call.params, account,
                                 region, aliases=_PLACEHOLDER_ALIASES.get(prefix),
                                 normalise=normalise)
    if prefix == "ec2":
        check = Check(canonical, arns, _ec2_tags(arns, account, region))
        return Authz([check])
    if prefix == "ssm":  # i-* are EC2 instances, mi-* managed (hybrid) instances
        arns = [a for a in arns if not (":managed-instance/i-" in a or ":instance/mi-" in a)]
        # AWS-owned documents (only AWS may own a name "AWS-...") have no account in their ARN
        arns = [a.replace(f":{account}:document/AWS-", "::document/AWS-") for a in arns]
    return Authz([Check(canonical, arns)])


def _ec2_tags(arns: list[str], account: str, region: str) -> dict:
    """aws:ResourceTag/<key> and ec2:ResourceTag/<key> of each EC2 resource named."""
    out = {}
    try:
        from moto.ec2.models import ec2_backends
        tags = ec2_backends[account][region].tags
    except KeyError:  # no EC2 state for this account/region yet
        return out
    for arn in arns:
        rid = arn.rsplit("/", 1)[-1]
        if rid and rid != "*" and rid in tags:
            ctx = {}
            for k, v in tags[rid].items():
                ctx[f"aws:resourcetag/{k}".lower()] = v
                ctx[f"ec2:resourcetag/{k}".lower()] = v
            out[arn] = ctx
    return out


def checks_for(call: Call, environ: dict, account: str) -> Authz | None:
    """What to authorize for a parsed call; None when the operation is unknown to us."""
    if call.service is None or not call.operation:
        return None
    if (call.service, call.operation) in _NO_AUTH:
        return Authz([], skip=True)
    region = call.region
    if call.service == "s3":
        return _s3_checks(call, account, region, {})
    if call.service == "apigateway":
        return _apigateway_checks(call, environ, region)
    if call.service == "lambda":
        action = _LAMBDA_ACTIONS.get(call.operation, call.operation)
        return _generic_checks("lambda", call, account, region, action, _lambda_normalise(call))
    prefix = dataset_prefix(call.service, call.signing_name)
    return _generic_checks(prefix, call, account, region, call.operation)


def dataset_prefix(service: str, signing: str) -> str:
    if dataset.service(signing) is not None:
        return signing
    return service


def _loopback(addr: str) -> bool:
    return addr.startswith("127.") or addr in ("::1", "localhost")


def base_context(identity: Identity, environ: dict, region: str) -> dict:
    now = time.time()
    p = identity.principal
    ctx = {
        "aws:principalarn": p.role_arn or p.arn,
        "aws:principalaccount": p.account,
        "aws:principaltype": "AssumedRole" if identity.kind == "assumed-role" else "User",
        "aws:userid": identity.user_id,
        "aws:sourceip": environ.get("REMOTE_ADDR", "127.0.0.1"),
        # The cloud speaks plain HTTP on loopback where the SDK speaks HTTPS to AWS: a call
        # from this machine counts as TLS, so a TLS-only bucket policy refuses nothing here
        # that it would refuse on AWS.
        "aws:securetransport": "true" if (environ.get("wsgi.url_scheme") == "https" or
                                          _loopback(environ.get("REMOTE_ADDR", ""))) else "false",
        "aws:currenttime": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:epochtime": str(int(now)),
        "aws:requestedregion": region,
        "aws:viaawsservice": "false",
    }
    if identity.kind == "user":
        ctx["aws:username"] = identity.name
    return ctx


def identity_policies(identity: Identity) -> list[str] | None:
    p = identity.principal
    if identity.kind == "assumed-role":
        return role_policies(p.account, p.role_arn) or []
    return user_policies(p.account, identity.name)


def bucket_of(bucket: str | None) -> Any:
    """moto's bucket object by name (any account), or None."""
    if not bucket:
        return None
    from moto.s3.models import s3_backends

    where = s3_backends.bucket_accounts.get(bucket)
    if where is None:
        return None
    partition, account = where
    be = s3_backends[account].get(partition)
    return be.buckets.get(bucket) if be is not None else None


def bucket_policy(bucket: str | None) -> list[str]:
    b = bucket_of(bucket)
    pol = b.policy if b is not None else None
    if not pol:
        return []
    return [pol.decode() if isinstance(pol, bytes) else pol]


def authorize(identity: Identity, authz: Authz, environ: dict, region: str) -> tuple[Check, Decision] | None:
    """The first check that is denied (with its decision), or None when all are allowed."""
    if authz.skip:
        return None
    ctx = base_context(identity, environ, region)
    ctx.update(authz.context)
    idp = identity_policies(identity)
    res = bucket_policy(authz.bucket)
    for check in authz.checks:
        if check.resource_context:  # per-resource condition keys: one decision per resource
            for r in check.resources:
                d = evaluate(check.action, [r], {**ctx, **check.resource_context.get(r, {})},
                             identity=idp, resource_policies=res, principal=identity.principal)
                if not d.allowed:
                    return check, d
            continue
        d = evaluate(check.action, check.resources, ctx, identity=idp, resource_policies=res,
                     principal=identity.principal)
        if not d.allowed:
            return check, d
    return None

