"""Small helpers for tests and examples that deploy functions to the local cloud."""
from __future__ import annotations

import io
import json
import zipfile

LAMBDA_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    """An in-memory zip of {path: content}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def lambda_role(iam, name: str = "localcloud-test-lambda-role",
                statements: list[dict] | None = None) -> str:
    """The ARN of an IAM role Lambda can assume (created if missing). The local cloud
    enforces IAM: a function that calls AWS needs `statements` (its inline policy, set on
    every call) granting exactly what it calls; the default role may call nothing."""
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="grants", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return arn
