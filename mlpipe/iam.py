"""IAM: one role per Lambda, a role + instance profile for the training instance.

Least privilege: every statement names this stack's buckets (and prefixes), its
instance, its functions, its log groups and the one SSM document it runs. A few
actions do not support resource-level permissions at all (AWS's "Actions, resources,
and condition keys" tables list no resource type for them), so ``*`` is the only
valid resource there; those statements say so in their Sid ("...NoResourceLevel").

``policy_documents(names, instance_arn)`` is pure, so tests lint every policy with
parliament without touching AWS.
"""
from __future__ import annotations

import json

from .clients import AWS_ERRORS, error_code, get_or_none
from .names import FUNCTION_KEYS, Names
from .report import Report

INLINE_POLICY = "least-privilege"


def _trust(service: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def trust_policy(role_key: str) -> dict:
    return _trust("ec2.amazonaws.com" if role_key == "ec2" else "lambda.amazonaws.com")


def _logs(names: Names, fn: str) -> dict:
    return {
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [names.log_group_arn(fn)],
    }


def _list_bucket(names: Names, bucket: str, prefixes, sid: str) -> dict:
    # ``...IfExists``: a listing must stay under the prefixes, and a GET/HEAD (whose request
    # has no s3:prefix key) still counts as holding s3:ListBucket. Without it, S3 answers a
    # GET or HEAD of a missing key with 403 AccessDenied instead of 404 (HeadObject and
    # GetObject, "Permissions"), and every "is it there yet?" read (models/latest.json
    # before the first promotion, the send lock, run records) would fail.
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [names.bucket_arn(bucket)],
        "Condition": {"StringLikeIfExists": {"s3:prefix": [p + "*" for p in prefixes]}},
    }


def _ebs_key_grant(key_arn: str) -> dict:
    # Default EBS encryption with a customer-managed key: StartInstances makes EC2 create a
    # grant on the key for the volume; without kms:CreateGrant for the caller the instance goes
    # pending -> stopped (Client.InternalError). Only grants for AWS resources.
    return {"Sid": "EbsDefaultKeyGrant", "Effect": "Allow",
            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey"],
            "Resource": [key_arn],
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}


def _objects(names: Names, bucket: str, prefixes, actions, sid: str) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": [names.objects_arn(bucket, p) for p in prefixes],
    }


def _describe_instances() -> dict:
    # ec2:DescribeInstances supports no resource-level permissions: "*" is the only option.
    return {"Sid": "DescribeInstancesNoResourceLevel", "Effect": "Allow",
            "Action": ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus"], "Resource": "*"}


def _ssm_read() -> dict:
    # ssm:ListCommands, ListCommandInvocations, GetCommandInvocation and
    # DescribeInstanceInformation support no resource-level permissions: "*" only.
    return {"Sid": "SsmCommandStatusNoResourceLevel", "Effect": "Allow",
            "Action": ["ssm:ListCommands", "ssm:ListCommandInvocations",
                       "ssm:GetCommandInvocation", "ssm:DescribeInstanceInformation"],
            "Resource": "*"}


def _instance_resource(names: Names, instance_arn: str | None) -> str:
    # Before the instance exists, scope to the account's instances in this region;
    # deploy re-applies the policies with the instance's own ARN once it exists.
    return instance_arn or f"arn:{names.partition}:ec2:{names.region}:{names.account_id}:instance/*"


def _failure_queue(names: Names) -> dict:
    # Lambda sends a failed asynchronous invocation to the on-failure destination with the
    # function's execution role (mlpipe.queues).
    return {"Sid": "OnFailureDestination", "Effect": "Allow", "Action": ["sqs:SendMessage"],
            "Resource": [names.failure_queue_arn]}


def _doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def policy_documents(names: Names, instance_arn: str | None = None, ebs_key_arn: str | None = None) -> dict:
    """The inline policy of every role: ``{"trigger": {...}, ..., "ec2": {...}}``.
    ``ebs_key_arn``: the account's default EBS key when it is customer-managed (the roles
    that start the instance get a grant on it)."""
    inst = _instance_resource(names, instance_arn)
    grant = (_ebs_key_grant(ebs_key_arn),) if ebs_key_arn else ()
    inp, out = names.input_bucket, names.output_bucket
    start = {"Sid": "StartTheTrainer", "Effect": "Allow", "Action": ["ec2:StartInstances"], "Resource": [inst]}
    stop = {"Sid": "StopTheTrainer", "Effect": "Allow", "Action": ["ec2:StopInstances"], "Resource": [inst]}
    invoke_worker = {"Sid": "InvokeWorker", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                     "Resource": [names.function_arn("worker")]}
    return {
        "trigger": _doc(
            _logs(names, "trigger"), start, *grant, _describe_instances(), invoke_worker,
            _failure_queue(names),
        ),
        "worker": _doc(
            _logs(names, "worker"),
            # it starts the instance again when a Stop-EC2/reaper decision raced with its run
            start, *grant,
            _describe_instances(),
            _ssm_read(),
            {"Sid": "RunTrainingCommand", "Effect": "Allow", "Action": ["ssm:SendCommand"],
             "Resource": [names.ssm_document_arn, inst]},
            _list_bucket(names, inp, ["data/", "code/", "holdout/", "rejected/"], "ListInput"),
            _objects(names, inp, ["data/", "code/", "holdout/"], ["s3:GetObject"], "ReadInput"),
            _list_bucket(names, out, ["runs/", "models/", "locks/"], "ListOutput"),
            _objects(names, out, ["runs/"], ["s3:GetObject", "s3:PutObject"], "RunRecords"),
            _objects(names, out, ["models/"], ["s3:GetObject"], "ReadModels"),
            # the send lock (glue_contract.lock: conditional PutObject, never deleted)
            _objects(names, out, ["locks/"], ["s3:GetObject", "s3:PutObject"], "SendLock"),
            _failure_queue(names),
        ),
        "stop_ec2": _doc(
            _logs(names, "stop_ec2"), stop, _describe_instances(), _ssm_read(), invoke_worker,
            _list_bucket(names, inp, ["data/"], "ListInputData"),
            _list_bucket(names, out, ["runs/"], "ListRuns"),
            _objects(names, out, ["runs/"], ["s3:GetObject"], "ReadRunRecords"),
            _failure_queue(names),
        ),
        "reaper": _doc(
            _logs(names, "reaper"), stop, _describe_instances(), _ssm_read(),
            invoke_worker,  # a lost run's data is handed to the Worker once
            _list_bucket(names, out, ["runs/", "ssm-output/"], "ListRuns"),
            _objects(names, out, ["runs/"], ["s3:GetObject", "s3:PutObject"], "RunRecords"),
            # the full stderr of a lost run's command, as SSM wrote it (its API cuts it at 8,000 chars)
            _objects(names, out, ["ssm-output/"], ["s3:GetObject"], "CommandOutput"),
        ),
        "predict": _doc(
            _logs(names, "predict"),
            _list_bucket(names, out, ["models/"], "ListModels"),
            _objects(names, out, ["models/"], ["s3:GetObject"], "ReadModels"),
        ),
        "ec2": _doc(
            # dataset/: the dataset file (model_code.spec) the run validates and trains by
            _list_bucket(names, inp, ["data/", "holdout/", "code/", "rejected/", "dataset/"], "ListInput"),
            _objects(names, inp, ["data/", "holdout/", "code/", "dataset/"], ["s3:GetObject"], "ReadInput"),
            # Set a bad file aside: copy data/x.csv -> rejected/x.csv, then delete data/x.csv.
            _objects(names, inp, ["data/"], ["s3:DeleteObject"], "MoveBadDataOut"),
            _objects(names, inp, ["rejected/"], ["s3:PutObject", "s3:GetObject"], "MoveBadDataIn"),
            _list_bucket(names, out, ["models/", "runs/"], "ListOutput"),
            _objects(names, out, ["models/", "runs/"], ["s3:GetObject", "s3:PutObject"], "WriteOutput"),
            # the SSM agent uploads a command's whole stdout/stderr with the instance's role
            _objects(names, out, ["ssm-output/"], ["s3:PutObject"], "CommandOutput"),
            # What AmazonSSMManagedInstanceCore grants for Run Command: the agent registers
            # (scoped to instances) and polls its message channels (no resource-level support).
            {"Sid": "SsmAgentRegister", "Effect": "Allow",
             "Action": ["ssm:UpdateInstanceInformation", "ssm:ListInstanceAssociations"],
             "Resource": [f"arn:{names.partition}:ec2:{names.region}:{names.account_id}:instance/*"]},
            {"Sid": "SsmAgentChannelsNoResourceLevel", "Effect": "Allow",
             "Action": ["ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
                        "ec2messages:FailMessage", "ec2messages:GetEndpoint",
                        "ec2messages:GetMessages", "ec2messages:SendReply",
                        "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                        "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
             "Resource": "*"},
            {"Sid": "SsmAgentDocument", "Effect": "Allow",
             "Action": ["ssm:GetDocument", "ssm:DescribeDocument"],
             "Resource": [names.ssm_document_arn]},
        ),
    }


ROLE_KEYS = (*FUNCTION_KEYS, "ec2")


def _decoded(doc):
    if isinstance(doc, str):
        from urllib.parse import unquote
        return json.loads(unquote(doc))
    return doc


def ensure_role(stack, role_key: str, policy: dict) -> Report:
    iam, names = stack.client("iam"), stack.names
    role = names.role(role_key)
    trust = trust_policy(role_key)
    created = False
    changes = []
    got = get_or_none(iam.get_role, RoleName=role)
    if got is None:
        got = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust),
                              Description=f"{names.stack}: {role_key} (mlpipe)",
                              Tags=names.tag_list())["Role"]
        created = True
    else:
        got = got["Role"]
        if _decoded(got.get("AssumeRolePolicyDocument")) != trust:
            iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
            changes.append("trust policy")
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role).get("Tags", [])}
        if tags.get("stack") != names.stack:
            iam.tag_role(RoleName=role, Tags=names.tag_list())
            changes.append("tags")
    current = get_or_none(iam.get_role_policy, RoleName=role, PolicyName=INLINE_POLICY)
    if current is None or _decoded(current["PolicyDocument"]) != policy:
        iam.put_role_policy(RoleName=role, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy))
        if not created:
            changes.append("policy")
    action = "created" if created else ("updated" if changes else "found")
    return Report(action, "iam role", role, got["Arn"], {"changes": changes})


def ensure_roles(stack, *, instance_id: str | None = None,
                 keys=ROLE_KEYS) -> list:
    """Ensure the roles ``keys`` with their inline policies (instance ARN when known)."""
    key = ebs_customer_key(stack) if any(k in keys for k in ("trigger", "worker")) else None
    docs = policy_documents(stack.names, stack.names.instance_arn(instance_id) if instance_id else None, key)
    return [ensure_role(stack, k, docs[k]) for k in keys]


def ebs_customer_key(stack) -> str | None:
    """The ARN of the account's default EBS encryption key in this region when encryption
    by default is on and the key is customer-managed; None otherwise (off, or the AWS
    managed ``aws/ebs`` key, whose key policy lets EC2 use it for the account)."""
    ec2 = stack.client("ec2")
    if not ec2.get_ebs_encryption_by_default().get("EbsEncryptionByDefault"):
        return None
    key_id = ec2.get_ebs_default_kms_key_id().get("KmsKeyId") or "alias/aws/ebs"
    if key_id.endswith("alias/aws/ebs"):
        return None
    meta = stack.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    return None if meta.get("KeyManager") == "AWS" else meta["Arn"]


def ensure_instance_profile(stack) -> Report:
    """The instance profile holding the EC2 role (the role must exist)."""
    iam, names = stack.client("iam"), stack.names
    profile, role = names.instance_profile, names.role("ec2")
    created = False
    got = get_or_none(iam.get_instance_profile, InstanceProfileName=profile)
    if got is None:
        got = iam.create_instance_profile(InstanceProfileName=profile, Tags=names.tag_list())["InstanceProfile"]
        created = True
    else:
        got = got["InstanceProfile"]
    roles = [r["RoleName"] for r in got.get("Roles", [])]
    changes = []
    if role not in roles:
        for other in roles:
            iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=other)
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
        changes.append("role")
    action = "created" if created else ("updated" if changes else "found")
    return Report(action, "instance profile", profile, got["Arn"], {"changes": [] if created else changes})


def deployed_policy(stack, role_key: str) -> dict:
    """The inline policy of a deployed role, as IAM returns it (for people to read)."""
    doc = stack.client("iam").get_role_policy(
        RoleName=stack.names.role(role_key), PolicyName=INLINE_POLICY)["PolicyDocument"]
    return _decoded(doc)


def role_arn(stack, role_key: str) -> str:
    return stack.client("iam").get_role(RoleName=stack.names.role(role_key))["Role"]["Arn"]


def delete_role(stack, role: str) -> Report:
    """Detach managed policies, delete inline ones, leave instance profiles, delete the role."""
    iam = stack.client("iam")
    if get_or_none(iam.get_role, RoleName=role) is None:
        return Report("absent", "iam role", role)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for p in page.get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=role, PolicyArn=p["PolicyArn"])
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page.get("PolicyNames", []):
            iam.delete_role_policy(RoleName=role, PolicyName=name)
    for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=role):
        for prof in page.get("InstanceProfiles", []):
            iam.remove_role_from_instance_profile(InstanceProfileName=prof["InstanceProfileName"],
                                                  RoleName=role)
    iam.delete_role(RoleName=role)
    return Report("deleted", "iam role", role)


def delete_instance_profile(stack, profile: str) -> Report:
    iam = stack.client("iam")
    got = get_or_none(iam.get_instance_profile, InstanceProfileName=profile)
    if got is None:
        return Report("absent", "instance profile", profile)
    for r in got["InstanceProfile"].get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=r["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=profile)
    return Report("deleted", "instance profile", profile)


def _tags_or_none(stack, call, **kwargs) -> dict | None:
    """A role's or profile's tags, or None when they cannot be read (someone else's
    half-made or malformed resource, or one deleted meanwhile): it is then not ours to touch."""
    try:
        return {t["Key"]: t["Value"] for t in call(**kwargs).get("Tags", [])}
    except AWS_ERRORS as exc:
        stack.say(f"  skipped {next(iter(kwargs.values()))}: its tags cannot be read ({error_code(exc) or exc})")
        return None


def _listed(stack, paginator: str, key: str, what: str):
    """Every item of an IAM listing; a listing that fails part way (a malformed entry somewhere
    in the account) is reported and ends the scan: the stack's own names are checked directly."""
    try:
        for page in stack.client("iam").get_paginator(paginator).paginate():
            yield from page.get(key, [])
    except AWS_ERRORS as exc:
        stack.say(f"  could not list every {what} of the account ({error_code(exc) or exc}); "
                  "checked this stack's names directly")


def find_roles(stack) -> list:
    """Role names of this stack: by name, plus any role tagged ``stack=<stack>`` under our prefix."""
    iam, names = stack.client("iam"), stack.names
    found = {r for r in names.roles if get_or_none(iam.get_role, RoleName=r) is not None}
    for r in _listed(stack, "list_roles", "Roles", "role"):
        name = r.get("RoleName") or ""
        if name in found or not name.startswith(names.stack + "-"):
            continue
        if (_tags_or_none(stack, iam.list_role_tags, RoleName=name) or {}).get("stack") == names.stack:
            found.add(name)
    return sorted(found)


def find_instance_profiles(stack) -> list:
    """The stack's instance profiles: by name, plus any tagged ``stack=<stack>`` under our
    prefix (ListInstanceProfiles returns no tags: GetInstanceProfile, which does, is asked)."""
    iam, names = stack.client("iam"), stack.names
    found = set()
    if get_or_none(iam.get_instance_profile, InstanceProfileName=names.instance_profile) is not None:
        found.add(names.instance_profile)
    for p in _listed(stack, "list_instance_profiles", "InstanceProfiles", "instance profile"):
        name = p.get("InstanceProfileName") or ""
        if name in found or not name.startswith(names.stack + "-"):
            continue
        tags = _tags_or_none(stack, lambda **kw: iam.get_instance_profile(**kw)["InstanceProfile"],
                             InstanceProfileName=name)
        if (tags or {}).get("stack") == names.stack:
            found.add(name)
    return sorted(found)


def leftovers(stack) -> list:
    return ([f"iam role {r}" for r in find_roles(stack)]
            + [f"instance profile {p}" for p in find_instance_profiles(stack)])


def delete(stack) -> list:
    out = [delete_role(stack, r) for r in find_roles(stack)]
    out += [delete_instance_profile(stack, p) for p in find_instance_profiles(stack)]
    return out or [Report("absent", "iam role", f"{stack.names.stack}-*-role")]
