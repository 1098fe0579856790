"""boto3 as the functions and the instance use it: one client per service and process
(built on first use: importing a handler builds nothing), and AWS's error codes."""
from __future__ import annotations

_CLIENTS: dict = {}
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
PRECONDITION_FAILED = ("PreconditionFailed", "412")


def client(service: str):
    """The process's boto3 client for ``service`` (AWS_ENDPOINT_URL and the region come
    from the environment, as everywhere in the pipeline)."""
    if service not in _CLIENTS:
        import boto3

        _CLIENTS[service] = boto3.client(service)
    return _CLIENTS[service]


def error_code(exc) -> str:
    return (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", "")


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in NOT_FOUND:
            return False
        raise


def instance_state(ec2, instance_id: str) -> str:
    return describe_instance(ec2, instance_id)["State"]["Name"]


def describe_instance(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
