"""Issue 19: S3 answers a GET/HEAD of a missing key with 403 (not 404) unless the caller has
s3:ListBucket on the bucket (HeadObject/GetObject, "Permissions"). The request context of a
GET/HEAD has no ``s3:prefix``, and a plain ``StringLike`` on a key that is absent is false, so
a ListBucket scoped by prefix never counts there. The local cloud's IAM evaluator (AWS's
evaluation logic: localcloud.iam.policy) decides, for every role and every key its code
reads when it may be absent, whether S3 would answer 404; and the listing itself stays
limited to the role's prefixes.

The local cloud's S3 does not yet answer 403 for a missing key without ListBucket; the
policy is written to AWS's documented rule and so holds either way."""
import pytest

from localcloud.iam.policy import evaluate
from mlpipe.iam import policy_documents
from mlpipe.names import Names

NAMES = Names("alice", "123456789012", "eu-west-1")
DOCS = policy_documents(NAMES, NAMES.instance_arn("i-0123456789abcdef0"))

# (role, bucket, key) the code reads while it may not exist yet
MAY_BE_ABSENT = [
    ("ec2", NAMES.output_bucket, "models/latest.json"),      # ec2_scripts/train_run.py, before the first promotion
    ("ec2", NAMES.output_bucket, "runs/r1/record.json"),      # ec2_scripts/record.py
    ("worker", NAMES.output_bucket, "locks/send.json"),       # glue_contract/lock.py
    ("worker", NAMES.output_bucket, "runs/r1/record.json"),
    ("reaper", NAMES.output_bucket, "runs/r1/record.json"),   # the reaper, before it stops an idle instance
    ("stop_ec2", NAMES.output_bucket, "runs/r1/record.json"),
    ("predict", NAMES.output_bucket, "models/latest.json"),   # predict, before any model is served
]


def _allowed(role, action, resource, context=None):
    return evaluate(action, [resource], context or {}, identity=[DOCS[role]]).allowed


@pytest.mark.parametrize("role,bucket,key", MAY_BE_ABSENT, ids=[f"{r}:{k}" for r, _, k in MAY_BE_ABSENT])
def test_a_missing_key_answers_404_because_the_role_holds_list_bucket_for_a_get(role, bucket, key):
    assert _allowed(role, "s3:GetObject", NAMES.objects_arn(bucket, key))
    # the GET/HEAD request context: no s3:prefix key at all
    assert _allowed(role, "s3:ListBucket", NAMES.bucket_arn(bucket)), (
        f"{role} lacks s3:ListBucket for a GET of {key}: S3 would answer 403, not 404")


@pytest.mark.parametrize("role", ["ec2", "worker", "reaper", "predict"])
def test_listing_stays_under_the_roles_prefixes(role):
    out = NAMES.bucket_arn(NAMES.output_bucket)
    assert not _allowed(role, "s3:ListBucket", out, {"s3:prefix": "elsewhere/"})
    assert _allowed(role, "s3:ListBucket", out, {"s3:prefix": "models/" if role in ("ec2", "predict") else "runs/"})


def test_a_customer_managed_default_ebs_key_gets_a_grant_for_the_roles_that_start_the_instance():
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    docs = policy_documents(NAMES, None, key)
    ctx = {"kms:grantisforawsresource": "true"}
    for role in ("trigger", "worker"):
        assert evaluate("kms:CreateGrant", [key], ctx, identity=[docs[role]]).allowed
        assert not evaluate("kms:CreateGrant", [key], {"kms:grantisforawsresource": "false"},
                            identity=[docs[role]]).allowed
    for role in ("reaper", "predict", "stop_ec2"):
        assert not evaluate("kms:CreateGrant", [key], ctx, identity=[docs[role]]).allowed
    assert not evaluate("kms:CreateGrant", [key], ctx, identity=[DOCS["trigger"]]).allowed  # no key: no grant
