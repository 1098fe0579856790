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


def cloud_env(cloud) -> dict[str, str]:
    """What plain boto3 needs to reach `cloud` as its operator: the endpoint, the port and the
    cloud's operator key (the cloud verifies signatures; unset AWS_SESSION_TOKEN too)."""
    env = {"AWS_ENDPOINT_URL": cloud.endpoint_url, "LOCALCLOUD_PORT": str(cloud.port)}
    key = getattr(cloud, "_operator_key", None)
    if key is not None:
        env.update(key.env())
    return env


def use_cloud(cloud) -> None:
    """Point this process's plain boto3 at `cloud`, as its operator (os.environ)."""
    import os

    os.environ.update(cloud_env(cloud))
    for k in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(k, None)
    import boto3

    boto3.DEFAULT_SESSION = None  # it keeps the credentials it resolved first (another cloud's key)


def signed_headers(key_id: str, secret: str, method: str, url: str, body: bytes = b"",
                   headers: dict | None = None, service: str = "lambda",
                   region: str = "us-east-1", token: str | None = None) -> dict[str, str]:
    """`headers` plus a SigV4 signature (botocore's SigV4Auth) for one request; the same
    headers can be sent again (the cloud does not refuse a replayed signature)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(req)
    return dict(req.headers.items())


def client_error(call, **kw) -> tuple[int, dict]:
    """``call(**kw)`` must be refused: (HTTP status, the error's Code/Message/... fields)."""
    from botocore.exceptions import ClientError

    try:
        call(**kw)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]
    raise AssertionError(f"{getattr(call, '__name__', call)} was not refused")


def session_client(service: str, endpoint_url: str, credentials: dict,
                   region: str = "us-east-1"):
    """A boto3 client signing with STS `Credentials` (AssumeRole's AccessKeyId/...)."""
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name=region,
                        aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])
