"""localcloud/core/model_loader.py: the cloud's botocore sessions parse AWS's models once."""
import boto3
import botocore.session

from localcloud.core import model_loader


def test_sessions_share_one_loader_and_boto3_adds_its_path_once():
    model_loader.share()
    model_loader.share()  # idempotent
    first, second = botocore.session.get_session(), botocore.session.get_session()
    assert first.get_component("data_loader") is second.get_component("data_loader")
    sessions = [boto3.session.Session(region_name="us-east-1") for _ in range(3)]
    paths = sessions[-1]._loader.search_paths
    assert len(paths) == len(set(paths))
    # a model loaded through one session is in the cache the next one reads
    first.get_service_model("sqs")
    assert any(k[:2] == ("load_service_model", "sqs") for k in second.get_component("data_loader")._cache)
    assert sessions[0].get_available_regions("ec2") == boto3.session.Session().get_available_regions("ec2")
