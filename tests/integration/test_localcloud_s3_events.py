"""S3 event notifications -> Lambda in the local cloud: async, filtered, AWS-shaped, once."""
import json
import time
import uuid
from urllib.parse import unquote_plus

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import lambda_role, zip_bytes

pytestmark = pytest.mark.integration

REGION = "us-east-1"

# Records each delivery as an object in the "sink" bucket (the side effect we count).
RECORDER = """
import boto3, json, os, time, uuid
def handler(event, context):
    time.sleep(float(os.environ.get("SLEEP", "0")))
    boto3.client("s3").put_object(Bucket=os.environ["SINK"], Key="runs/" + uuid.uuid4().hex,
                                  Body=json.dumps(event).encode())
    if os.environ.get("FAIL"):
        raise RuntimeError("failing on purpose")
"""


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {name: boto3.client(name, **kw) for name in ("lambda", "iam", "s3")}


def recorder_role(aws):
    """The recorder writes its runs to a sink bucket: exactly that, nothing else."""
    return lambda_role(aws["iam"], "test-s3-event-recorder", [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::sink-*/runs/*"}])


def setup_pipeline(aws, *, env=None, filters=None, permission=True, events=("s3:ObjectCreated:*",)):
    tag = uuid.uuid4().hex[:8]
    source, sink = f"src-{tag}", f"sink-{tag}"
    aws["s3"].create_bucket(Bucket=source)
    aws["s3"].create_bucket(Bucket=sink)
    name = f"rec-{tag}"
    fn = aws["lambda"].create_function(
        FunctionName=name, Runtime="python3.11", Role=recorder_role(aws),
        Handler="handler.handler", Code={"ZipFile": zip_bytes({"handler.py": RECORDER})},
        Timeout=10, Environment={"Variables": {"SINK": sink, **(env or {})}})
    # S3 validates the destination when the configuration is put: the permission comes first.
    aws["lambda"].add_permission(
        FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{source}")
    config = {"LambdaFunctionArn": fn["FunctionArn"], "Events": list(events)}
    if filters:
        config["Filter"] = {"Key": {"FilterRules": [{"Name": k, "Value": v}
                                                    for k, v in filters.items()]}}
    aws["s3"].put_bucket_notification_configuration(
        Bucket=source, NotificationConfiguration={"LambdaFunctionConfigurations": [config]})
    if not permission:  # taken away after the configuration was accepted
        aws["lambda"].remove_permission(FunctionName=name, StatementId="s3")
    return source, sink


def runs(aws, sink):
    resp = aws["s3"].list_objects_v2(Bucket=sink, Prefix="runs/")
    return [json.loads(aws["s3"].get_object(Bucket=sink, Key=o["Key"])["Body"].read())
            for o in resp.get("Contents", [])]


def wait_for_runs(aws, sink, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = runs(aws, sink)
        if len(found) >= n:
            return found
        time.sleep(0.1)
    return runs(aws, sink)


def test_put_returns_before_the_lambda_finishes_and_it_runs_exactly_once(aws):
    source, sink = setup_pipeline(aws, env={"SLEEP": "1"})
    t0 = time.monotonic()
    aws["s3"].put_object(Bucket=source, Key="data/a b+c.csv", Body=b"x,y\n1,2\n")
    assert time.monotonic() - t0 < 0.5
    assert runs(aws, sink) == []  # still sleeping
    found = wait_for_runs(aws, sink, 1)
    time.sleep(1.5)  # a duplicate would have landed by now
    found = runs(aws, sink)
    assert len(found) == 1
    record = found[0]["Records"][0]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == REGION
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"].endswith("Z")
    assert record["s3"]["bucket"]["name"] == source
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{source}"
    obj = record["s3"]["object"]
    assert obj["key"] == "data/a+b%2Bc.csv"  # URL-encoded as AWS does (quote_plus)
    assert obj["size"] == 8
    assert obj["eTag"] and '"' not in obj["eTag"]
    assert obj["sequencer"]


def test_prefix_and_suffix_filters_are_honoured(aws):
    source, sink = setup_pipeline(aws, filters={"prefix": "data/", "suffix": ".csv"})
    for key in ("other/x.csv", "data/x.txt", "x.csv", "data/yes.csv"):
        aws["s3"].put_object(Bucket=source, Key=key, Body=b"1")
    found = wait_for_runs(aws, sink, 1)
    time.sleep(0.5)
    found = runs(aws, sink)
    assert [r["Records"][0]["s3"]["object"]["key"] for r in found] == ["data/yes.csv"]


def test_copy_and_multipart_give_one_delivery_each(aws):
    source, sink = setup_pipeline(aws, filters={"prefix": "in/"})
    aws["s3"].put_object(Bucket=source, Key="staging/a.csv", Body=b"1")  # filtered out
    aws["s3"].copy_object(Bucket=source, Key="in/copied.csv",
                          CopySource={"Bucket": source, "Key": "staging/a.csv"})
    mpu = aws["s3"].create_multipart_upload(Bucket=source, Key="in/big.csv")
    part = aws["s3"].upload_part(Bucket=source, Key="in/big.csv", UploadId=mpu["UploadId"],
                                 PartNumber=1, Body=b"z" * 100)
    aws["s3"].complete_multipart_upload(
        Bucket=source, Key="in/big.csv", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    wait_for_runs(aws, sink, 2)
    time.sleep(0.5)
    names = sorted((r["Records"][0]["eventName"], r["Records"][0]["s3"]["object"]["key"])
                   for r in runs(aws, sink))
    assert names == [("ObjectCreated:CompleteMultipartUpload", "in/big.csv"),
                     ("ObjectCreated:Copy", "in/copied.csv")]


def test_delivery_refused_without_s3_permission(aws, local_cloud):  # noqa: F811
    source, sink = setup_pipeline(aws, permission=False)
    aws["s3"].put_object(Bucket=source, Key="data/x.csv", Body=b"1")
    log_file = local_cloud.state_dir / "localcloud.log"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and f"s3://{source}/data/x.csv REFUSED" not in log_file.read_text():
        time.sleep(0.05)
    assert f"s3://{source}/data/x.csv REFUSED" in log_file.read_text()
    assert "s3.amazonaws.com" in log_file.read_text()
    time.sleep(0.5)
    assert runs(aws, sink) == []


def test_a_failing_function_is_retried_twice(aws):
    source, sink = setup_pipeline(aws, env={"FAIL": "1"})
    aws["s3"].put_object(Bucket=source, Key="data/x.csv", Body=b"1")
    found = wait_for_runs(aws, sink, 3)
    time.sleep(1.0)  # retry delays are 0.2 s and 0.4 s in the test fixture: no 4th run comes
    found = runs(aws, sink)
    assert len(found) == 3
    seqs = {r["Records"][0]["s3"]["object"]["sequencer"] for r in found}
    assert len(seqs) == 1  # the same event, redelivered


def _drain(sqs, url, want, timeout=5.0):
    """Messages of a queue until `want` arrived and the queue stays quiet for 0.5 s."""
    bodies, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  WaitTimeSeconds=0).get("Messages", [])
        for m in got:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not got and len(bodies) >= want:
            time.sleep(0.5)
            if not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"):
                return bodies
        if not got:
            time.sleep(0.1)
    return bodies


def test_every_destination_kind_gets_what_moto_delivers_and_lambda_runs_once(aws, local_cloud):  # noqa: F811
    """Lambda, SQS, SNS and EventBridge on one bucket: the local cloud takes over only the
    Lambda delivery; moto's own delivery to the other three is untouched (issue 14)."""
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    sqs, sns, events = (boto3.client(n, **kw) for n in ("sqs", "sns", "events"))
    source, sink = setup_pipeline(aws)
    lambda_config = aws["s3"].get_bucket_notification_configuration(
        Bucket=source)["LambdaFunctionConfigurations"]
    queues = {}
    for kind in ("sqs", "sns", "eb"):
        url = sqs.create_queue(QueueName=f"{source}-{kind}")["QueueUrl"]
        queues[kind] = (url, sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    topic = sns.create_topic(Name=f"{source}-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues["sns"][1],
                  Attributes={"RawMessageDelivery": "true"})
    events.put_rule(Name=f"{source}-rule", EventPattern=json.dumps(
        {"source": ["aws.s3"], "detail": {"bucket": {"name": [source]}}}))
    events.put_targets(Rule=f"{source}-rule", Targets=[{"Id": "q", "Arn": queues["eb"][1]}])
    aws["s3"].put_bucket_notification_configuration(Bucket=source, NotificationConfiguration={
        "LambdaFunctionConfigurations": lambda_config,
        "QueueConfigurations": [{"QueueArn": queues["sqs"][1], "Events": ["s3:ObjectCreated:*"]}],
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}],
        "EventBridgeConfiguration": {}})
    for kind in ("sqs", "sns"):  # moto's s3:TestEvent on configuration, if any
        _drain(sqs, queues[kind][0], 0, timeout=0.5)

    aws["s3"].put_object(Bucket=source, Key="data/one.csv", Body=b"1")
    mpu = aws["s3"].create_multipart_upload(Bucket=source, Key="data/big.csv")
    part = aws["s3"].upload_part(Bucket=source, Key="data/big.csv", UploadId=mpu["UploadId"],
                                 PartNumber=1, Body=b"z" * 100)
    aws["s3"].complete_multipart_upload(
        Bucket=source, Key="data/big.csv", UploadId=mpu["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})

    # One event per object write, as AWS sends them: the Put, and for the multipart upload
    # only the CompleteMultipartUpload (moto also sent the completion's inner Put).
    sent = [("ObjectCreated:Put", "data/one.csv"),
            ("ObjectCreated:CompleteMultipartUpload", "data/big.csv")]
    for kind in ("sqs", "sns"):
        got = [(b["Records"][0]["eventName"], unquote_plus(b["Records"][0]["s3"]["object"]["key"]))
               for b in _drain(sqs, queues[kind][0], 2, timeout=20.0)]
        assert sorted(got) == sorted(sent), kind
    # moto also sends "Object Tags Added" after each stored object (its put_object tags it).
    eb = _drain(sqs, queues["eb"][0], 4, timeout=20.0)  # EventBridge delivers after S3's own
    assert sorted((e["detail-type"], e["detail"]["object"]["key"]) for e in eb) == sorted([
        ("Object Created", "data/one.csv"), ("Object Tags Added", "data/one.csv"),
        ("Object Created", "data/big.csv"), ("Object Tags Added", "data/big.csv")])
    # The Lambda runs once per object write, as on AWS.
    wait_for_runs(aws, sink, 2)
    time.sleep(0.5)
    ran = sorted((r["Records"][0]["eventName"], r["Records"][0]["s3"]["object"]["key"])
                 for r in runs(aws, sink))
    assert ran == [("ObjectCreated:CompleteMultipartUpload", "data/big.csv"),
                   ("ObjectCreated:Put", "data/one.csv")]


def test_eventbridge_rules_match_as_on_aws_and_a_broken_one_stops_no_other(aws, local_cloud):  # noqa: F811
    """S3's events reach every enabled rule whose pattern matches, on the default bus:
    not a scheduled rule (no pattern), not a disabled one, and a rule whose target is gone
    costs the other rules nothing (moto stopped at the first rule that raised)."""
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    sqs, events = boto3.client("sqs", **kw), boto3.client("events", **kw)
    source = f"ebr-{uuid.uuid4().hex[:8]}"
    aws["s3"].create_bucket(Bucket=source)
    aws["s3"].put_bucket_notification_configuration(
        Bucket=source, NotificationConfiguration={"EventBridgeConfiguration": {}})
    pattern = json.dumps({"source": ["aws.s3"], "detail": {"bucket": {"name": [source]}}})
    queues = {}
    for kind in ("gone", "scheduled", "disabled", "good"):
        url = sqs.create_queue(QueueName=f"{source}-{kind}")["QueueUrl"]
        queues[kind] = (url, sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])
    rules = {"gone": dict(EventPattern=pattern), "scheduled": dict(ScheduleExpression="rate(1 day)"),
             "disabled": dict(EventPattern=pattern, State="DISABLED"), "good": dict(EventPattern=pattern)}
    for kind, rule in rules.items():  # created in this order: the broken one comes first
        events.put_rule(Name=f"{source}-{kind}", **rule)
        events.put_targets(Rule=f"{source}-{kind}", Targets=[{"Id": "q", "Arn": queues[kind][1]}])
    sqs.delete_queue(QueueUrl=queues["gone"][0])
    try:
        aws["s3"].put_object(Bucket=source, Key="data/one.csv", Body=b"1")
        got = _drain(sqs, queues["good"][0], 1, timeout=20.0)
        assert [e["detail"]["object"]["key"] for e in got if e["detail-type"] == "Object Created"] == \
            ["data/one.csv"]
        for kind in ("scheduled", "disabled"):
            assert _drain(sqs, queues[kind][0], 1, timeout=1.0) == [], kind
    finally:
        for kind in rules:
            events.remove_targets(Rule=f"{source}-{kind}", Ids=["q"])
            events.delete_rule(Name=f"{source}-{kind}")
