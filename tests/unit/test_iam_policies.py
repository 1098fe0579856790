"""Every IAM policy of the stack, linted with parliament, and checked for least privilege.

parliament attaches a severity to a finding only through ``enhance_finding`` (its CLI
does the same before filtering with --minimum_severity); ``Policy.findings`` alone
leaves ``severity`` empty, so the test enhances every finding first.
"""
import json

import pytest
from parliament import analyze_policy_string, enhance_finding

from mlpipe.iam import ROLE_KEYS, policy_documents
from mlpipe.names import Names

SEVERITY = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
NAMES = Names("alice", "123456789012", "eu-west-1")
INSTANCE_ARN = NAMES.instance_arn("i-0123456789abcdef0")

# Actions that support no resource-level permission: "*" is the only valid resource.
NO_RESOURCE_LEVEL = {
    "ec2:DescribeInstances", "ec2:DescribeInstanceStatus",
    "ssm:ListCommands", "ssm:ListCommandInvocations", "ssm:GetCommandInvocation",
    "ssm:DescribeInstanceInformation",
    "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage", "ec2messages:FailMessage",
    "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}


def _all_policies():
    for instance_arn in (None, INSTANCE_ARN):
        for role, doc in policy_documents(NAMES, instance_arn).items():
            yield pytest.param(role, doc, id=f"{role}-{'instance' if instance_arn else 'before-instance'}")


def _findings(doc):
    policy = analyze_policy_string(json.dumps(doc))
    return [enhance_finding(f) for f in policy.findings]


def test_every_role_has_a_policy():
    assert set(policy_documents(NAMES)) == set(ROLE_KEYS)


@pytest.mark.parametrize("role,doc", list(_all_policies()))
def test_parliament_finds_nothing_medium_or_worse(role, doc):
    bad = [f for f in _findings(doc) if SEVERITY.get(f.severity, 4) >= SEVERITY["MEDIUM"]]
    assert not bad, f"{role}: " + "; ".join(f"{f.severity} {f.issue} {f.detail}" for f in bad)


@pytest.mark.parametrize("role,doc", list(_all_policies()))
def test_no_unneeded_star_resource_and_no_unknown_action(role, doc):
    low = [f for f in _findings(doc) if f.issue in ("RESOURCE_STAR", "UNKNOWN_ACTION", "UNKNOWN_PREFIX")]
    assert not low, f"{role}: {low}"


@pytest.mark.parametrize("role,doc", list(_all_policies()))
def test_star_only_where_aws_allows_nothing_narrower(role, doc):
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert not any(a.endswith("*") for a in actions), f"{role}: wildcard action in {stmt}"
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if "*" in resources:
            assert set(actions) <= NO_RESOURCE_LEVEL, f"{role}: '*' resource for {actions}"
            assert "NoResourceLevel" in stmt["Sid"]


@pytest.mark.parametrize("role,doc", list(_all_policies()))
def test_resources_belong_to_this_stack(role, doc):
    for stmt in doc["Statement"]:
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        for r in resources:
            if r == "*":
                continue
            assert r.startswith("arn:aws:"), r
            service = r.split(":")[2]
            if service == "s3":
                assert r.split(":::")[1].split("/")[0] in NAMES.buckets, r
                if "/" in r:
                    assert not r.endswith("/*") or r.count("/") >= 2, f"{role}: whole bucket {r}"
            elif service == "lambda":
                assert r.endswith(":function:alice-worker"), r
            elif service == "logs":
                assert f"log-group:/aws/lambda/alice-{role.replace('_', '-')}:" in r, r
            elif service == "ssm":
                assert r.endswith(":document/AWS-RunShellScript"), r
            elif service == "ec2":
                assert r.startswith("arn:aws:ec2:eu-west-1:123456789012:instance/"), r
            elif service == "sqs":
                assert r == NAMES.failure_queue_arn and role in ("trigger", "worker", "stop_ec2"), r
            else:
                pytest.fail(f"{role}: unexpected resource {r}")


def test_instance_arn_replaces_the_account_wide_pattern():
    before = json.dumps(policy_documents(NAMES)["trigger"])
    after = json.dumps(policy_documents(NAMES, INSTANCE_ARN)["trigger"])
    assert "instance/*" in before and INSTANCE_ARN in after and "instance/*" not in after


def test_each_role_gets_what_its_code_needs():
    docs = policy_documents(NAMES, INSTANCE_ARN)

    def actions(role):
        return {a for s in docs[role]["Statement"] for a in s["Action"]}
    assert {"ec2:StartInstances", "lambda:InvokeFunction"} <= actions("trigger")
    assert "ec2:StopInstances" not in actions("trigger")
    assert {"ssm:SendCommand", "s3:GetObject", "s3:PutObject"} <= actions("worker")
    # fault 1: the worker starts an instance that was stopped between Trigger and Worker
    assert "ec2:StartInstances" in actions("worker")
    # the worker's send lock lives in the output bucket's locks/ prefix
    assert any(r.endswith("/locks/*") for st in docs["worker"]["Statement"] if "s3:PutObject" in st["Action"]
               for r in st["Resource"])
    # the reaper hands a lost run's data to the worker
    assert "lambda:InvokeFunction" in actions("reaper")
    assert {"ec2:StopInstances", "lambda:InvokeFunction"} <= actions("stop_ec2")
    assert {"ec2:StopInstances", "s3:PutObject"} <= actions("reaper")
    assert actions("predict") == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                  "s3:ListBucket", "s3:GetObject"}
    ec2 = actions("ec2")
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "ssm:UpdateInstanceInformation"} <= ec2
    # The instance may delete only under data/ (moving a bad file to rejected/), nowhere else.
    deletes = [s for s in docs["ec2"]["Statement"] if "s3:DeleteObject" in s["Action"]]
    assert [s["Resource"] for s in deletes] == [[NAMES.objects_arn(NAMES.input_bucket, "data/")]]
    # predict reads models only.
    gets = [s for s in docs["predict"]["Statement"] if "s3:GetObject" in s["Action"]]
    assert gets[0]["Resource"] == [NAMES.objects_arn(NAMES.output_bucket, "models/")]
