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

from .clients import get_or_none
from .names import FUNCTION_KEYS, Names
from .report import Report
from .stack import as_stack

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
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [names.bucket_arn(bucket)],
        "Condition": {"StringLike": {"s3:prefix": [p + "*" for p in prefixes]}},
    }


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


def policy_documents(names: Names, instance_arn: str | None = None) -> dict:
    """The inline policy of every role: ``{"trigger": {...}, ..., "ec2": {...}}``."""
    inst = _instance_resource(names, instance_arn)
    inp, out = names.input_bucket, names.output_bucket
    start = {"Sid": "StartTheTrainer", "Effect": "Allow", "Action": ["ec2:StartInstances"], "Resource": [inst]}
    stop = {"Sid": "StopTheTrainer", "Effect": "Allow", "Action": ["ec2:StopInstances"], "Resource": [inst]}
    invoke_worker = {"Sid": "InvokeWorker", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                     "Resource": [names.function_arn("worker")]}
    return {
        "trigger": _doc(
            _logs(names, "trigger"), start, _describe_instances(), invoke_worker,
            _failure_queue(names),
        ),
        "worker": _doc(
            _logs(names, "worker"),
            # it starts the instance again when a Stop-EC2/reaper decision raced with its run
            start,
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
            _list_bucket(names, out, ["runs/"], "ListRuns"),
            _objects(names, out, ["runs/"], ["s3:GetObject", "s3:PutObject"], "RunRecords"),
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


def ensure_roles(stack, names: Names | None = None, *, instance_id: str | None = None,
                 keys=ROLE_KEYS) -> list:
    """Ensure the roles ``keys`` with their inline policies (instance ARN when known)."""
    stack = as_stack(stack, names)
    docs = policy_documents(stack.names, stack.names.instance_arn(instance_id) if instance_id else None)
    return [ensure_role(stack, k, docs[k]) for k in keys]


def ensure_instance_profile(stack, names: Names | None = None) -> Report:
    """The instance profile holding the EC2 role (the role must exist)."""
    stack = as_stack(stack, names)
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


def deployed_policy(stack, names: Names | None, role_key: str) -> dict:
    """The inline policy of a deployed role, as IAM returns it (for people to read)."""
    stack = as_stack(stack, names)
    doc = stack.client("iam").get_role_policy(
        RoleName=stack.names.role(role_key), PolicyName=INLINE_POLICY)["PolicyDocument"]
    return _decoded(doc)


def role_arn(stack, role_key: str) -> str:
    return stack.client("iam").get_role(RoleName=stack.names.role(role_key))["Role"]["Arn"]


def plan(stack, keys=ROLE_KEYS) -> list:
    iam, names = stack.client("iam"), stack.names
    out = [Report("found" if get_or_none(iam.get_role, RoleName=names.role(k)) else "planned",
                  "iam role", names.role(k)) for k in keys]
    if "ec2" in keys:
        has = get_or_none(iam.get_instance_profile, InstanceProfileName=names.instance_profile)
        out.append(Report("found" if has else "planned", "instance profile", names.instance_profile))
    return out


def delete_role(stack, role: str) -> Report:
    """Detach managed policies, delete inline ones, leave instance profiles, delete the role."""
    iam = as_stack(stack).client("iam")
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
    iam = as_stack(stack).client("iam")
    got = get_or_none(iam.get_instance_profile, InstanceProfileName=profile)
    if got is None:
        return Report("absent", "instance profile", profile)
    for r in got["InstanceProfile"].get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=r["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=profile)
    return Report("deleted", "instance profile", profile)


def find_roles(stack, names: Names | None = None) -> list:
    """Role names of this stack: by name, plus any role tagged ``stack=<stack>`` under our prefix."""
    stack = as_stack(stack, names)
    iam, names = stack.client("iam"), stack.names
    found = set()
    for page in iam.get_paginator("list_roles").paginate():
        for r in page.get("Roles", []):
            name = r["RoleName"]
            if name in names.roles:
                found.add(name)
            elif name.startswith(names.stack + "-"):
                tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
                if tags.get("stack") == names.stack:
                    found.add(name)
    return sorted(found)



def find_instance_profiles(stack) -> list:
    iam, names = stack.client("iam"), stack.names
    found = []
    for page in iam.get_paginator("list_instance_profiles").paginate():
        for p in page.get("InstanceProfiles", []):
            name = p["InstanceProfileName"]
            if name == names.instance_profile:
                found.append(name)
            elif name.startswith(names.stack + "-"):
                if {t["Key"]: t["Value"] for t in p.get("Tags", [])}.get("stack") == names.stack:
                    found.append(name)
    return sorted(found)


def leftovers(stack) -> list:
    return ([f"iam role {r}" for r in find_roles(stack)]
            + [f"instance profile {p}" for p in find_instance_profiles(stack)])


def delete(stack) -> list:
    out = [delete_role(stack, r) for r in find_roles(stack)]
    out += [delete_instance_profile(stack, p) for p in find_instance_profiles(stack)]
    return out or [Report("absent", "iam role", f"{stack.names.stack}-*-role")]
