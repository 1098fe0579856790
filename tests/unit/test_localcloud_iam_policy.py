"""The IAM evaluator, conditions, dataset lookups and request parsing (no cloud)."""
import pytest

from localcloud.iam import dataset
from localcloud.iam.conditions import operator_holds
from localcloud.iam.policy import (EXPLICIT_DENY, IMPLICIT_DENY, RESOURCE, Principal,
                                   denial_message, evaluate)
from localcloud.iam.requests import parse

ROLE = Principal(arn="arn:aws:sts::123456789012:assumed-role/R/fn", account="123456789012",
                 role_arn="arn:aws:iam::123456789012:role/R")
INST = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"


def doc(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_no_policy_is_an_implicit_deny_and_the_message_is_aws_s():
    d = evaluate("ec2:StartInstances", [INST], {}, identity=[])
    assert not d.allowed and d.reason == IMPLICIT_DENY and d.resource == INST
    assert denial_message(ROLE.arn, "ec2:StartInstances", d) == (
        "User: arn:aws:sts::123456789012:assumed-role/R/fn is not authorized to perform: "
        f"ec2:StartInstances on resource: {INST} because no identity-based policy allows the "
        "ec2:StartInstances action")


@pytest.mark.parametrize("action,resource,allowed", [
    ("ec2:StartInstances", INST, True),
    ("ec2:startinstances", INST, True),            # actions are case-insensitive
    ("ec2:StopInstances", INST, True),             # wildcard in the action
    ("ec2:RunInstances", INST, False),
    ("ec2:StartInstances", INST.replace("i-0abc", "i-0xbc"), False),
    ("ec2:StartInstances", INST.replace("us-east-1", "eu-west-1"), True),  # ? and * in resources
])
def test_wildcards_in_actions_and_resources(action, resource, allowed):
    policy = doc(allow(["ec2:St*Instances"], "arn:aws:ec2:*:123456789012:instance/i-0ab?"))
    assert evaluate(action, [resource], {}, identity=[policy]).allowed is allowed


def test_resources_are_case_sensitive():
    policy = doc(allow("s3:GetObject", "arn:aws:s3:::b/Data/*"))
    assert not evaluate("s3:GetObject", ["arn:aws:s3:::b/data/x"], {}, identity=[policy]).allowed


def test_explicit_deny_wins_over_any_allow():
    policy = doc(allow("s3:*", "*"),
                 {"Sid": "NoDelete", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"})
    d = evaluate("s3:DeleteObject", ["arn:aws:s3:::b/k"], {}, identity=[policy])
    assert d.reason == EXPLICIT_DENY and d.sid == "NoDelete"
    assert "with an explicit deny in an identity-based policy" in denial_message(ROLE.arn, "s3:DeleteObject", d)
    assert evaluate("s3:GetObject", ["arn:aws:s3:::b/k"], {}, identity=[policy]).allowed


def test_not_action_and_not_resource():
    policy = doc({"Effect": "Allow", "NotAction": ["iam:*", "s3:Delete*"], "Resource": "*"},
                 {"Effect": "Allow", "Action": "s3:DeleteObject", "NotResource": "arn:aws:s3:::keep/*"})
    assert evaluate("ec2:StartInstances", [INST], {}, identity=[policy]).allowed
    assert not evaluate("iam:CreateRole", ["*"], {}, identity=[policy]).allowed
    assert evaluate("s3:DeleteObject", ["arn:aws:s3:::tmp/x"], {}, identity=[policy]).allowed
    assert not evaluate("s3:DeleteObject", ["arn:aws:s3:::keep/x"], {}, identity=[policy]).allowed


def test_every_resource_of_a_request_must_be_allowed():
    policy = doc(allow("ssm:SendCommand", ["arn:aws:ssm:us-east-1:123456789012:document/Train", INST]))
    doc_arn = "arn:aws:ssm:us-east-1:123456789012:document/Train"
    assert evaluate("ssm:SendCommand", [doc_arn, INST], {}, identity=[policy]).allowed
    other = INST.replace("i-0abc", "i-0zzz")
    d = evaluate("ssm:SendCommand", [doc_arn, other], {}, identity=[policy])
    assert not d.allowed and d.resource == other


def test_resource_policy_deny_wins_and_principal_is_matched():
    bucket_policy = doc({"Effect": "Deny", "Principal": {"AWS": ROLE.role_arn},
                         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    d = evaluate("s3:GetObject", ["arn:aws:s3:::b/k"], {}, identity=[doc(allow("s3:*", "*"))],
                 resource_policies=[bucket_policy], principal=ROLE)
    assert d.reason == EXPLICIT_DENY and d.denied_by == RESOURCE
    other = Principal(arn="arn:aws:sts::123456789012:assumed-role/Other/x", account="123456789012",
                      role_arn="arn:aws:iam::123456789012:role/Other")
    assert evaluate("s3:GetObject", ["arn:aws:s3:::b/k"], {}, identity=[doc(allow("s3:*", "*"))],
                    resource_policies=[bucket_policy], principal=other).allowed


def test_service_principal_with_source_arn_condition():
    fn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    perm = doc({"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction", "Resource": fn,
                "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::in-*"},
                              "StringEquals": {"AWS:SourceAccount": "123456789012"}}})
    s3 = Principal(arn="s3.amazonaws.com", account="", service="s3.amazonaws.com")
    ctx = {"aws:sourcearn": "arn:aws:s3:::in-bucket", "aws:sourceaccount": "123456789012"}
    assert evaluate("lambda:InvokeFunction", [fn], ctx, resource_policies=[perm], principal=s3).allowed
    for bad in ({**ctx, "aws:sourcearn": "arn:aws:s3:::out"}, {**ctx, "aws:sourceaccount": "999"}):
        assert not evaluate("lambda:InvokeFunction", [fn], bad, resource_policies=[perm], principal=s3).allowed
    apigw = Principal(arn="apigateway.amazonaws.com", account="", service="apigateway.amazonaws.com")
    assert not evaluate("lambda:InvokeFunction", [fn], ctx, resource_policies=[perm], principal=apigw).allowed


@pytest.mark.parametrize("op,key,expected,ctx,result", [
    ("StringEquals", "s3:prefix", "data/", {"s3:prefix": "data/"}, True),
    ("StringEquals", "s3:prefix", "data/", {"s3:prefix": "Data/"}, False),
    ("StringEqualsIgnoreCase", "s3:prefix", "data/", {"s3:prefix": "Data/"}, True),
    ("StringLike", "s3:prefix", ["runs/*", "data/*"], {"s3:prefix": "data/x"}, True),
    ("StringLike", "s3:prefix", "data/*", {}, False),              # missing key: false
    ("StringNotLike", "s3:prefix", "data/*", {}, True),            # ...but negated: true
    ("StringNotEquals", "s3:prefix", "a", {"s3:prefix": "a"}, False),
    ("StringLikeIfExists", "s3:prefix", "data/*", {}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::in-*", {"aws:sourcearn": "arn:aws:s3:::in-1"}, True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:s3:::in", {"aws:sourcearn": "arn:aws:s3:::in-1"}, False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:s3:::in-*", {"aws:sourcearn": "arn:aws:s3:::x"}, True),
    ("Bool", "aws:SecureTransport", "false", {"aws:securetransport": "false"}, True),
    ("Bool", "aws:SecureTransport", True, {"aws:securetransport": "false"}, False),
    ("Null", "aws:TokenIssueTime", "true", {}, True),
    ("Null", "aws:TokenIssueTime", "false", {}, False),
    ("IpAddress", "aws:SourceIp", "127.0.0.0/8", {"aws:sourceip": "127.0.0.1"}, True),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": "127.0.0.1"}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:sourceip": "127.0.0.1"}, True),
    ("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": "5"}, True),
    ("NumericGreaterThanEquals", "s3:max-keys", "10", {"s3:max-keys": "5"}, False),
    ("DateLessThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", {"aws:currenttime": "2026-11-30T00:00:00Z"}, True),
    ("DateGreaterThan", "aws:CurrentTime", "2030-01-01T00:00:00Z", {"aws:currenttime": "2026-11-30T00:00:00Z"}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["a", "b"], {"aws:tagkeys": ["c", "b"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], {"aws:tagkeys": ["c", "b"]}, False),
])
def test_condition_operators(op, key, expected, ctx, result):
    assert operator_holds(op, key, expected, ctx) is result


def test_condition_in_a_statement_and_unknown_operator_never_matches():
    policy = doc(allow("s3:ListBucket", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": "data/*"}}))
    assert evaluate("s3:ListBucket", ["arn:aws:s3:::b"], {"s3:prefix": "data/"}, identity=[policy]).allowed
    assert not evaluate("s3:ListBucket", ["arn:aws:s3:::b"], {"s3:prefix": ""}, identity=[policy]).allowed
    odd = doc(allow("s3:*", "*", Condition={"StringSomething": {"s3:prefix": "x"}}))
    assert not evaluate("s3:ListBucket", ["arn:aws:s3:::b"], {"s3:prefix": "x"}, identity=[odd]).allowed


def test_policy_variables_in_resources():
    policy = doc(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))
    assert evaluate("s3:GetObject", ["arn:aws:s3:::home/ann/x"], {"aws:username": "ann"}, identity=[policy]).allowed
    assert not evaluate("s3:GetObject", ["arn:aws:s3:::home/bob/x"], {"aws:username": "ann"}, identity=[policy]).allowed
    assert not evaluate("s3:GetObject", ["arn:aws:s3:::home/ann/x"], {}, identity=[policy]).allowed


def test_dataset_gives_resource_arns_from_aws_formats():
    assert dataset.action_name("ec2", "startinstances") == "ec2:StartInstances"
    assert dataset.resource_arns("ec2", "StartInstances", {"InstanceId": ["i-1", "i-2"]},
                                 "123456789012", "us-east-1") == [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-2"]
    assert dataset.resource_arns("ec2", "DescribeInstances", {}, "1", "r") == ["*"]
    assert dataset.resource_arns("s3", "GetObject", {"Bucket": "b", "Key": "k/x"}, "1", "r",
                                 aliases={"ObjectName": ["Key"]}) == ["arn:aws:s3:::b/k/x"]
    assert dataset.resource_arns("logs", "CreateLogGroup", {"logGroupName": "/aws/lambda/f"},
                                 "1", "us-east-1") == ["arn:aws:logs:us-east-1:1:log-group:/aws/lambda/f"]
    assert dataset.resource_arns("lambda", "InvokeFunction", {"FunctionName": "f"}, "1", "r") == \
        ["arn:aws:lambda:r:1:function:f"]


@pytest.mark.parametrize("environ,body,signing,op,params", [
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "AmazonSSM.SendCommand"},
     b'{"DocumentName": "D", "InstanceIds": ["i-1"]}', "ssm", "SendCommand",
     {"DocumentName": "D", "InstanceIds": ["i-1"]}),
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-www-form-urlencoded"},
     b"Action=StartInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2", "ec2",
     "StartInstances", {"Action": "StartInstances", "Version": "2016-11-15", "InstanceId": ["i-1", "i-2"]}),
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/f/invocations"}, b"{}",
     "lambda", "Invoke", {"FunctionName": "f"}),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/b", "QUERY_STRING": "list-type=2&prefix=data%2F"},
     b"", "s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "data/"}),
    # a query key with a fixed value must have that value (list-type=1 is not V2)
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/b", "QUERY_STRING": "list-type=1"},
     b"", "s3", "ListObjects", {"Bucket": "b"}),
    # every required query key, and the method, choose among routes of one path
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b/k", "QUERY_STRING": "partNumber=2&uploadId=u"},
     b"", "s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": "2", "UploadId": "u"}),
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/b/k", "QUERY_STRING": "uploadId=u"},
     b"", "s3", "CompleteMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"}),
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b/k", "HTTP_X_AMZ_COPY_SOURCE": "a/x"}, b"", "s3",
     "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "a/x"}),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/k/x", "HTTP_HOST": "b.s3.localhost:4566"}, b"", "s3",
     "GetObject", {"Bucket": "b", "Key": "k/x"}),
])
def test_requests_are_parsed_with_botocore_models(environ, body, signing, op, params):
    environ = {"HTTP_HOST": "127.0.0.1:4566", "QUERY_STRING": "", **environ}
    call = parse(environ, body, ("ASIAX", "us-east-1", signing))
    assert call.operation == op
    assert call.params == params
