"""S3 request-metrics configurations (moto has none): stored, listed 100 a page, deleted,
answered 204 / 404 NoSuchConfiguration as S3 answers."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s3(local_cloud):  # noqa: F811
    return boto3.client("s3", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}))


def test_metrics_configuration_crud_and_pages(s3):
    bucket = f"met-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    put = s3.put_bucket_metrics_configuration(
        Bucket=bucket, Id="a", MetricsConfiguration={"Id": "a", "Filter": {"Prefix": "logs/"}})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    got = s3.get_bucket_metrics_configuration(Bucket=bucket, Id="a")["MetricsConfiguration"]
    assert got == {"Id": "a", "Filter": {"Prefix": "logs/"}}
    for i in range(101):
        s3.put_bucket_metrics_configuration(Bucket=bucket, Id=f"m{i:03}",
                                            MetricsConfiguration={"Id": f"m{i:03}"})
    page1 = s3.list_bucket_metrics_configurations(Bucket=bucket)
    assert len(page1["MetricsConfigurationList"]) == 100 and page1["IsTruncated"]
    page2 = s3.list_bucket_metrics_configurations(
        Bucket=bucket, ContinuationToken=page1["NextContinuationToken"])
    assert [c["Id"] for c in page2["MetricsConfigurationList"]] == ["m099", "m100"]
    assert not page2["IsTruncated"]
    assert s3.delete_bucket_metrics_configuration(
        Bucket=bucket, Id="a")["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (s3.get_bucket_metrics_configuration, s3.delete_bucket_metrics_configuration):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Id="a")
        assert exc.value.response["Error"]["Code"] == "NoSuchConfiguration"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_bucket_metrics_configurations(Bucket=f"none-{uuid.uuid4().hex[:8]}")
    assert exc.value.response["Error"]["Code"] == "NoSuchBucket"
