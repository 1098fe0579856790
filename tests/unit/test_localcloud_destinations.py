"""Lambda's on-failure destination record, as the local cloud sends it (AWS's shape)."""
import json
from types import SimpleNamespace

from localcloud.awslambda import destinations


def _fn(config):
    return SimpleNamespace(function_name="s-trigger",
                           function_arn="arn:aws:lambda:us-east-1:123456789012:function:s-trigger",
                           event_invoke_config=[SimpleNamespace(config=config)])


def test_record_has_awss_shape():
    event = {"Records": [{"s3": {"object": {"key": "data/a.csv"}}}]}
    error = json.dumps({"errorMessage": "boom", "errorType": "ClientError"}).encode()
    rec = destinations.failure_record(_fn({}), json.dumps(event).encode(), 3, error)
    assert rec["version"] == "1.0" and rec["timestamp"].endswith("Z")
    ctx = rec["requestContext"]
    assert ctx["functionArn"].endswith(":function:s-trigger:$LATEST")
    assert ctx["condition"] == "RetriesExhausted" and ctx["approximateInvokeCount"] == 3 and ctx["requestId"]
    assert rec["requestPayload"] == event and rec["responsePayload"]["errorMessage"] == "boom"
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}


def test_destination_is_read_from_the_event_invoke_config():
    arn = "arn:aws:sqs:us-east-1:123456789012:s-failures"
    assert destinations.on_failure_destination(_fn({"DestinationConfig": {"OnFailure": {"Destination": arn}}})) == arn
    assert destinations.on_failure_destination(_fn({"MaximumRetryAttempts": 0})) is None
    # Without a destination nothing is sent (and nothing fails).
    assert destinations.deliver_failure(_fn({}), b"{}", 1, None) is False


def test_an_sqs_destination_receives_the_record():
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        url = sqs.create_queue(QueueName="s-failures")["QueueUrl"]
        arn = "arn:aws:sqs:us-east-1:123456789012:s-failures"
        fn = _fn({"DestinationConfig": {"OnFailure": {"Destination": arn}}})
        assert destinations.deliver_failure(fn, b'{"k": 1}', 3, b'{"errorMessage": "x"}') is True
        [msg] = sqs.receive_message(QueueUrl=url)["Messages"]
        assert json.loads(msg["Body"])["requestPayload"] == {"k": 1}
