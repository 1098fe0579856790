"""The local cloud answers as AWS answers (each from AWS's documentation or a recorded AWS
response, see the patches.py of each service), tried with plain boto3."""
import io
import json
import urllib.request
import uuid
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from localcloud.testing import LAMBDA_TRUST as TRUST

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("s3", "iam", "lambda", "apigateway")}


@pytest.fixture
def bucket(aws):
    name = f"answers-{uuid.uuid4().hex[:10]}"
    aws["s3"].create_bucket(Bucket=name)
    return name


def _zip(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("h.py", code)
    return buf.getvalue()


def _user_client(aws, local_cloud, service, statements):  # noqa: F811
    user = f"u-{uuid.uuid4().hex[:8]}"
    aws["iam"].create_user(UserName=user)
    if statements:
        aws["iam"].put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    key = aws["iam"].create_access_key(UserName=user)["AccessKey"]
    return boto3.client(service, endpoint_url=local_cloud.endpoint_url, region_name=REGION,
                        aws_access_key_id=key["AccessKeyId"],
                        aws_secret_access_key=key["SecretAccessKey"])


# ---- S3 ---------------------------------------------------------------------------------
def test_new_objects_are_encrypted_and_say_so(aws, bucket):
    put = aws["s3"].put_object(Bucket=bucket, Key="k", Body=b"x")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ChecksumType"] == "FULL_OBJECT" and put["ChecksumCRC32"]
    assert aws["s3"].head_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    assert aws["s3"].get_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    copy = aws["s3"].copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "k"})
    assert copy["ServerSideEncryption"] == "AES256"
    mp = aws["s3"].create_multipart_upload(Bucket=bucket, Key="m")
    assert mp["ServerSideEncryption"] == "AES256"
    # an algorithm the request asks for wins
    kms = aws["s3"].put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms")
    assert kms["ServerSideEncryption"] == "aws:kms"


@pytest.mark.parametrize("key", ["a\nb", "cr\rlf", "tab\there", "uni-é漢字", "sp ace+plus%"])
def test_keys_may_hold_any_utf8_character(aws, bucket, key):
    aws["s3"].put_object(Bucket=bucket, Key=key, Body=b"x")
    assert aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read() == b"x"
    assert aws["s3"].head_object(Bucket=bucket, Key=key)["ContentLength"] == 1
    assert [o["Key"] for o in aws["s3"].list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    aws["s3"].delete_object(Bucket=bucket, Key=key)
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=bucket)


def test_listings_name_owners_without_display_names(aws, bucket):
    aws["s3"].put_object(Bucket=bucket, Key="a b", Body=b"x")
    owner = aws["s3"].list_objects(Bucket=bucket)["Contents"][0]["Owner"]
    assert "ID" in owner and "DisplayName" not in owner
    assert "DisplayName" not in aws["s3"].list_buckets()["Owner"]


def test_list_object_versions_encodes_keys_and_names_checksums(aws, bucket):
    aws["s3"].put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    aws["s3"].put_object(Bucket=bucket, Key="a b%+", Body=b"x")
    got = aws["s3"].list_object_versions(Bucket=bucket)
    assert got["EncodingType"] == "url"
    (v,) = got["Versions"]
    assert v["Key"] == "a b%+"  # botocore decodes what S3 encoded
    assert v["ChecksumAlgorithm"] == ["CRC32"] and v["ChecksumType"] == "FULL_OBJECT"
    assert "DisplayName" not in v["Owner"]


def test_a_missing_key_is_403_to_a_principal_without_list_bucket(aws, bucket, local_cloud):  # noqa: F811
    """https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions"""
    aws["s3"].put_object(Bucket=bucket, Key="there", Body=b"x")
    get_only = _user_client(aws, local_cloud, "s3", [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}])
    assert get_only.get_object(Bucket=bucket, Key="there")["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        get_only.get_object(Bucket=bucket, Key="missing")
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "AccessDenied"
    assert f'not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{bucket}"' \
        in err["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        get_only.head_object(Bucket=bucket, Key="missing")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # with s3:ListBucket on the bucket the same request is a 404 NoSuchKey
    lister = _user_client(aws, local_cloud, "s3", [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}])
    with pytest.raises(ClientError) as exc:
        lister.get_object(Bucket=bucket, Key="missing")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    # the operator (an administrator) sees the 404
    with pytest.raises(ClientError) as exc:
        aws["s3"].get_object(Bucket=bucket, Key="missing")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"


def test_list_all_my_buckets_on_every_bucket_arn_is_allowed(aws, bucket, local_cloud):  # noqa: F811
    """AWS's own example policy grants s3:ListAllMyBuckets on arn:aws:s3:::*."""
    s3 = _user_client(aws, local_cloud, "s3", [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::*"}])
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    one = _user_client(aws, local_cloud, "s3", [
        {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": f"arn:aws:s3:::{bucket}"}])
    with pytest.raises(ClientError) as exc:
        one.list_buckets()
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


# ---- Lambda --------------------------------------------------------------------------------
def test_function_configuration_and_invoke_answer_as_lambda_does(aws, local_cloud):  # noqa: F811
    role = aws["iam"].create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}",
                                  AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    name = f"fn-{uuid.uuid4().hex[:8]}"
    code = _zip("def handler(e, c):\n    return {'memory': c.memory_limit_in_mb}\n")
    created = aws["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                            Handler="h.handler", Code={"ZipFile": code})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert created["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith(
        "arn:aws:lambda:us-east-1::runtime:")
    got = aws["lambda"].get_function(FunctionName=name)
    conf = got["Configuration"]
    assert conf["State"] == "Active" and conf["LastUpdateStatus"] == "Successful"
    assert conf["RevisionId"] and conf["RevisionId"] != created["RevisionId"]
    assert aws["lambda"].get_function(FunctionName=name)["Configuration"]["RevisionId"] == \
        conf["RevisionId"]  # stable while nothing changes
    # the code Location is a URL on the cloud that serves the package, signed for 10 minutes
    loc = got["Code"]["Location"]
    assert loc.startswith(local_cloud.endpoint_url) and "X-Amz-Expires=600" in loc
    with urllib.request.urlopen(loc) as resp:
        assert resp.read() == code
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(loc.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert exc.value.code == 403
    out = aws["lambda"].invoke(FunctionName=name, Payload=b"{}")
    assert out["ExecutedVersion"] == "$LATEST"
    assert json.loads(out["Payload"].read()) == {"memory": "128"}  # a string, as on AWS
    upd = aws["lambda"].update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    assert upd["LastUpdateStatus"] == "InProgress" and upd["RevisionId"] != conf["RevisionId"]
    assert upd["LoggingConfig"]["LogFormat"] == "JSON"
    perm = aws["lambda"].add_permission(FunctionName=name, StatementId="s", Action="lambda:InvokeFunction",
                                        Principal="s3.amazonaws.com")
    assert perm["ResponseMetadata"]["HTTPStatusCode"] == 201
    with pytest.raises(ClientError) as exc:
        aws["lambda"].get_function(FunctionName=name + "-nope")
    err = exc.value.response
    assert err["Error"]["Code"] == "ResourceNotFoundException" and err["Type"] == "User"
    assert err["Message"].startswith("Function not found")


def test_layer_content_location_serves_the_layer(aws):
    data = _zip("X = 1\n")
    lv = aws["lambda"].publish_layer_version(LayerName=f"l-{uuid.uuid4().hex[:8]}",
                                             Content={"ZipFile": data})
    assert lv["ResponseMetadata"]["HTTPStatusCode"] == 201
    got = aws["lambda"].get_layer_version(LayerName=lv["LayerArn"], VersionNumber=lv["Version"])
    with urllib.request.urlopen(got["Content"]["Location"]) as resp:
        assert resp.read() == data


# ---- API Gateway --------------------------------------------------------------------------
def test_api_gateway_creates_answer_201_and_deletes_202(aws):
    api = aws["apigateway"].create_rest_api(name="answers")
    assert api["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert "version" not in api and "binaryMediaTypes" not in api and "tags" not in api
    assert api["endpointConfiguration"] == {"types": ["EDGE"], "ipAddressType": "ipv4"}
    res = aws["apigateway"].create_resource(restApiId=api["id"], parentId=api["rootResourceId"],
                                            pathPart="x")
    assert res["ResponseMetadata"]["HTTPStatusCode"] == 201
    put = aws["apigateway"].put_method(restApiId=api["id"], resourceId=res["id"],
                                       httpMethod="GET", authorizationType="NONE")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 201
    media = aws["apigateway"].create_rest_api(name="bin", binaryMediaTypes=["image/png"])
    assert media["binaryMediaTypes"] == ["image/png"]
    gone = aws["apigateway"].delete_rest_api(restApiId=api["id"])
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 202


# ---- IAM ----------------------------------------------------------------------------------
def test_service_linked_roles_are_named_and_equipped_as_aws_does(aws):
    role = aws["iam"].create_service_linked_role(
        AWSServiceName="accountdiscovery.ssm.amazonaws.com")["Role"]
    name = "AWSServiceRoleForAmazonSSM_AccountDiscovery"
    assert role["RoleName"] == name
    assert role["Path"] == "/aws-service-role/accountdiscovery.ssm.amazonaws.com/"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow",
        "Principal": {"Service": "accountdiscovery.ssm.amazonaws.com"}}]
    attached = aws["iam"].list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSSystemsManagerAccountDiscoveryServicePolicy",
                         "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/"
                                      "AWSSystemsManagerAccountDiscoveryServicePolicy"}]
    with pytest.raises(ClientError) as exc:
        aws["iam"].create_service_linked_role(AWSServiceName="accountdiscovery.ssm.amazonaws.com")
    assert exc.value.response["Error"]["Message"] == (
        f"Service role name {name} has been taken in this account, please try a different suffix.")
    assert "message" not in exc.value.response  # no lower-case copy of the message
    with pytest.raises(ClientError) as exc:
        aws["iam"].create_service_linked_role(AWSServiceName="ecr.amazonaws.com", CustomSuffix="x")
    assert exc.value.response["Error"]["Code"] == "InvalidInput"
    task = aws["iam"].delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/accountdiscovery.ssm.amazonaws.com/{name}/")


def test_s3_event_records_carry_the_fields_s3_sends(aws, bucket, local_cloud):  # noqa: F811
    sqs = boto3.client("sqs", endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws["s3"].put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    aws["s3"].put_object(Bucket=bucket, Key="a", Body=b"x")
    aws["s3"].put_object(Bucket=bucket, Key="a", Body=b"y")
    records = []
    for _ in range(10):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                     WaitTimeSeconds=1).get("Messages", []):
            records += json.loads(m["Body"]).get("Records", [])
        if len(records) >= 2:
            break
    assert len(records) == 2
    first, second = records
    assert first["userIdentity"]["principalId"].startswith("AWS:")
    assert first["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    assert set(first["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    assert first["s3"]["bucket"]["ownerIdentity"]["principalId"]
    seqs = [r["s3"]["object"]["sequencer"] for r in records]
    assert all(int(s, 16) for s in seqs) and int(seqs[1], 16) > int(seqs[0], 16)


def test_api_gateway_invokes_with_the_integrations_credentials_role(aws, local_cloud):  # noqa: F811
    """An integration's `credentials` role is assumed by API Gateway; its policies (not the
    function's resource policy) decide the invoke."""
    fn_role = aws["iam"].create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}",
                                     AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    name = f"fn-{uuid.uuid4().hex[:8]}"
    fn_arn = aws["lambda"].create_function(
        FunctionName=name, Runtime="python3.12", Role=fn_role, Handler="h.handler",
        Code={"ZipFile": _zip("def handler(e, c):\n    return {'statusCode': 200, 'body': 'hi'}\n")}
    )["FunctionArn"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    invoker = f"apigw-{uuid.uuid4().hex[:8]}"
    invoker_arn = aws["iam"].create_role(RoleName=invoker, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    apigw = aws["apigateway"]
    api = apigw.create_rest_api(name=f"api-{name}")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="hi")
    apigw.put_method(restApiId=api["id"], resourceId=res["id"], httpMethod="GET",
                     authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET",
                          type="AWS_PROXY", integrationHttpMethod="POST", credentials=invoker_arn,
                          uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                              f"{fn_arn}/invocations")

    def call():
        apigw.create_deployment(restApiId=api["id"], stageName="prod")
        url = f"{local_cloud.endpoint_url}/restapis/{api['id']}/prod/_user_request_/hi"
        try:
            with urllib.request.urlopen(url) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    # the role may not invoke yet (and the function has no resource policy): 500
    assert call() == (500, b'{"message": "Internal server error"}')
    aws["iam"].put_role_policy(RoleName=invoker, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn_arn}]}))
    assert call() == (200, b"hi")
    # Lambda's Invoke API is POST: an integration that calls it with GET fails with a 500
    apigw.put_integration(restApiId=api["id"], resourceId=res["id"], httpMethod="GET",
                          type="AWS_PROXY", integrationHttpMethod="GET", credentials=invoker_arn,
                          uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                              f"{fn_arn}/invocations")
    assert call()[0] == 500
