"""The operator's IAM actions: every API operation ``mlpipe deploy`` and ``mlpipe destroy``
call, and the IAM action each one needs (``mlpipe doctor`` simulates them).

``OPERATIONS`` is declared here and kept in sync with the code by a test
(tests/unit/test_mlpipe_doctor.py) that records every call of a deploy and a destroy on
moto (``mlpipe.calls``) and fails on one missing here. ``IMPLICIT`` are permissions AWS
checks without an API call of their own (``iam:PassRole`` when a role is handed to Lambda
or EC2) or on paths the recorded run does not take.
"""
from __future__ import annotations

from functools import lru_cache

OPERATIONS = {
    "apigateway": """CreateApiKey CreateDeployment CreateModel CreateRequestValidator CreateResource
        CreateRestApi CreateStage CreateUsagePlan CreateUsagePlanKey DeleteApiKey DeleteRestApi
        DeleteUsagePlan GetApiKeys GetGatewayResponse GetMethod GetModel GetRequestValidators
        GetResources GetRestApis GetStage GetUsagePlan GetUsagePlanKeys GetUsagePlans
        PutGatewayResponse PutIntegration PutMethod UpdateUsagePlan UpdateStage UpdateMethod
        UpdateModel UpdateRestApi UpdateGatewayResponse GetApiKey UpdateApiKey GetRestApi""",
    "ec2": """AuthorizeSecurityGroupEgress CreateSecurityGroup CreateTags DeleteSecurityGroup
        DescribeInstanceTypeOfferings DescribeInstances DescribeInternetGateways
        DescribeSecurityGroups DescribeSubnets DescribeVpcs GetEbsEncryptionByDefault
        GetEbsDefaultKmsKeyId RevokeSecurityGroupEgress RevokeSecurityGroupIngress RunInstances
        StartInstances StopInstances TerminateInstances DescribeImages DescribeRouteTables
        CreateVpc ModifyVpcAttribute CreateInternetGateway AttachInternetGateway CreateSubnet
        ModifySubnetAttribute CreateRouteTable CreateRoute AssociateRouteTable
        DetachInternetGateway DeleteInternetGateway DisassociateRouteTable DeleteRouteTable
        DeleteSubnet DeleteVpc DescribeVpcEndpoints""",
    "events": "DeleteRule DescribeRule ListRules ListTargetsByRule PutRule PutTargets RemoveTargets",
    "iam": """AddRoleToInstanceProfile CreateInstanceProfile CreateRole DeleteInstanceProfile
        DeleteRole DeleteRolePolicy GetInstanceProfile GetRole GetRolePolicy
        ListAttachedRolePolicies ListInstanceProfiles ListInstanceProfilesForRole
        ListRolePolicies ListRoles ListRoleTags PutRolePolicy RemoveRoleFromInstanceProfile
        TagRole UpdateAssumeRolePolicy DetachRolePolicy""",
    "lambda": """AddPermission CreateFunction DeleteFunction DeleteLayerVersion
        GetFunctionConfiguration GetFunctionEventInvokeConfig GetPolicy ListFunctions
        ListLayerVersions PublishLayerVersion PutFunctionEventInvokeConfig RemovePermission
        UpdateFunctionCode UpdateFunctionConfiguration GetLayerVersion GetFunction""",
    "logs": "DescribeLogGroups DeleteLogGroup",
    "s3": """CreateBucket DeleteBucket DeleteObjects GetBucketEncryption
        GetBucketNotificationConfiguration GetBucketPolicy GetBucketTagging GetBucketVersioning
        GetObject GetPublicAccessBlock HeadBucket HeadObject ListBuckets ListObjectVersions
        ListObjectsV2 PutBucketEncryption PutBucketNotificationConfiguration PutBucketPolicy
        PutBucketTagging PutBucketVersioning PutObject PutPublicAccessBlock DeleteObject""",
    "sqs": "CreateQueue DeleteQueue GetQueueAttributes GetQueueUrl TagQueue",
    "ssm": "GetCommandInvocation GetParameter SendCommand",
    "sts": "GetCallerIdentity",
    "kms": "DescribeKey",
}

IMPLICIT = ("iam:PassRole",)

# API operation -> IAM action where AWS names them differently (S3's "Policy actions" table).
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket", "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets", "HeadObject": "GetObject", "DeleteObjects": "DeleteObject",
    "PutBucketNotificationConfiguration": "PutBucketNotification",
    "GetBucketNotificationConfiguration": "GetBucketNotification",
    "PutBucketEncryption": "PutEncryptionConfiguration", "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock", "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
}
NO_PERMISSION = {("sts", "GetCallerIdentity")}  # AWS answers it for anyone


def operations() -> list:
    return sorted((svc, op) for svc, ops in OPERATIONS.items() for op in ops.split())


@lru_cache(maxsize=None)
def _http_method(service: str, operation: str) -> str:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).http["method"]


def iam_action(service: str, operation: str) -> str | None:
    """The IAM action an API operation needs (None: no permission is checked)."""
    if (service, operation) in NO_PERMISSION:
        return None
    if service == "apigateway":  # API Gateway's control plane: one action per HTTP method
        return f"apigateway:{_http_method(service, operation)}"
    if service == "s3":
        return f"s3:{S3_ACTIONS.get(operation, operation)}"
    return f"{service}:{operation}"


def required_actions() -> list:
    """Every IAM action deploy and destroy need, sorted, once each."""
    acts = {iam_action(s, o) for s, o in operations()} | set(IMPLICIT)
    return sorted(a for a in acts if a)
