"""The API-call recorder: botocore's hooks on mlpipe's clients see each call once, with
its parameters and answer, secrets masked, and nothing is recorded outside a block."""
import boto3
import pytest

from mlpipe import buckets, calls, notifications
from mlpipe.clients import client
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def test_a_step_reports_its_calls_with_parameters_and_answers(aws):
    settings, names = aws
    with calls.record() as rec:
        buckets.ensure(Stack(settings, names))
    ops = [c.operation for c in rec]
    assert "CreateBucket" in ops and "PutPublicAccessBlock" in ops
    create = rec.find("CreateBucket", Bucket=names.input_bucket)
    assert create.service == "s3" and create.status == 200 and create.error is None
    assert create.method == "create_bucket"
    # a read that found nothing is recorded with AWS's error, not hidden
    head = rec.find("HeadBucket", Bucket=names.input_bucket)
    assert head.status == 404 and head.error.startswith("404")
    assert ops.index("HeadBucket") < ops.index("CreateBucket")
    table = rec.table()
    assert list(table.columns) == ["service", "operation", "parameters", "answer"]
    assert len(table) == len(rec)
    # outside the block nothing is recorded
    client("s3", settings).list_buckets()
    assert "ListBuckets" not in [c.operation for c in rec]


def test_code_is_the_boto3_call_a_student_can_run(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    wanted = notifications.wanted_configuration(
        names, names.input_bucket, f"arn:aws:lambda:us-east-1:{names.account_id}:function:x")
    with calls.record() as rec:
        client("s3", settings).put_bucket_notification_configuration(
            Bucket=names.input_bucket, NotificationConfiguration=wanted,
            SkipDestinationValidation=True)
    code = rec.code("PutBucketNotificationConfiguration")
    assert code.startswith('s3 = boto3.client("s3")\ns3.put_bucket_notification_configuration(')
    assert "'prefix'" in code and "'data/'" in code and "# -> HTTP 200" in code
    # the code runs as written (minus its answer comment) and makes the same call
    s3 = boto3.client("s3", region_name="us-east-1")
    exec(code, {"boto3": boto3, "s3": s3})
    got = s3.get_bucket_notification_configuration(Bucket=names.input_bucket)
    assert got["LambdaFunctionConfigurations"][0]["Id"] == wanted["LambdaFunctionConfigurations"][0]["Id"]
    assert "no DeleteBucket call" in rec.code("DeleteBucket")
    with calls.record() as again:
        client("s3", settings).get_bucket_notification_configuration(Bucket=names.input_bucket)
    shown = again.code("PutBucketNotificationConfiguration", otherwise="GetBucketNotificationConfiguration")
    assert "found it in place" in shown and "get_bucket_notification_configuration" in shown


def test_secrets_and_payloads_are_masked():
    cleaned = calls.clean({"value": "abcdefghijklmnopqrstuvwxyz", "Tags": [{"Key": "stack", "Value": "mlpipe"}],
                           "ZipFile": b"x" * 1000, "Body": b"123",
                           "Credentials": {"SecretAccessKey": "s" * 40, "SessionToken": "t" * 100}})
    assert cleaned["value"] == "abcd****"
    assert cleaned["Tags"] == [{"Key": "stack", "Value": "mlpipe"}]
    assert cleaned["ZipFile"] == "<1000 bytes>" and cleaned["Body"] == "<3 bytes>"
    assert cleaned["Credentials"] == {"SecretAccessKey": "ssss****", "SessionToken": "tttt****"}


def test_an_api_key_value_never_reaches_the_record(aws):
    settings, names = aws
    apigw = client("apigateway", settings)
    with calls.record() as rec:
        made = apigw.create_api_key(name="k", enabled=True)
        apigw.get_api_keys(includeValues=True)
    assert made["value"] not in repr(rec.calls)
    assert rec.find("CreateApiKey").answer["value"].endswith("****")


def test_code_for_every_service_compiles_even_when_the_service_name_is_a_keyword():
    call = calls.Call("lambda", "PublishLayerVersion",
                      {"LayerName": "x", "Content": {"S3Bucket": "b" * 40, "S3Key": "k" * 60},
                       "CompatibleRuntimes": ["python3.12"]}, 201, {"Version": 1})
    code = call.code()
    assert code.splitlines()[0] == 'lambda_client = boto3.client("lambda")'
    compile(code, "<call>", "exec")
    assert "    Content={\n        'S3Bucket': " in code


def test_only_secrets_are_masked_not_a_patch_operations_setting():
    ops = {"usagePlanId": "p1", "patchOperations": [
        {"op": "replace", "path": "/throttle/rateLimit", "value": "5"},
        {"op": "replace", "path": "/throttle/burstLimit", "value": "10"}]}
    assert calls.clean(ops) == ops
    assert calls.clean({"op": "replace", "path": "/value", "value": "sekretsekret"})["value"] == "sekr****"
    assert calls.clean({"name": "k", "value": "abcdefghijkl"})["value"] == "abcd****"
