"""localcloud/core/startup.py: what a cloud's start does before importing moto. Region lists
are shared between botocore sessions and answer exactly what an unpatched session answers."""
from __future__ import annotations

import botocore.loaders
import botocore.session

from localcloud.core import startup


def _unshared(service, partition="aws", allow_non_regional=False):
    method = botocore.session.Session.get_available_regions
    original = getattr(method, "__wrapped__", method)
    return original(botocore.session.get_session(), service, partition, allow_non_regional)


def test_region_lists_are_botocores_own_answers_for_every_partition():
    startup.share_region_lists()
    startup.share_region_lists()  # idempotent: wrapped once
    shared = botocore.session.Session.get_available_regions
    assert shared.localcloud_shared and not getattr(shared.__wrapped__, "localcloud_shared", False)
    for service, partition, non_regional in [("ec2", "aws", False), ("ec2", "aws-us-gov", False),
                                             ("ec2", "aws-cn", False), ("s3", "aws", True),
                                             ("lambda", "aws", False), ("no-such-service", "aws", False)]:
        got = botocore.session.get_session().get_available_regions(service, partition, non_regional)
        assert got == _unshared(service, partition, non_regional)
    assert "us-east-1" in botocore.session.get_session().get_available_regions("ec2")


def test_each_caller_gets_its_own_list_and_sessions_share_one_parse(monkeypatch):
    startup.share_region_lists()
    first = botocore.session.get_session().get_available_regions("ssm")
    first.clear()
    assert "us-east-1" in botocore.session.get_session().get_available_regions("ssm")
    # a new session answers from the shared list: it never loads endpoints.json itself
    loads = []
    original = botocore.loaders.Loader.load_data_with_path
    monkeypatch.setattr(botocore.loaders.Loader, "load_data_with_path",
                        lambda self, name: loads.append(name) or original(self, name))
    botocore.session.get_session().get_available_regions("ssm")
    assert "endpoints" not in loads


def test_a_session_with_its_own_data_path_is_answered_from_it(tmp_path, monkeypatch):
    startup.share_region_lists()
    botocore.session.get_session().get_available_regions("ec2")  # shared from now on
    loads = []
    original = botocore.loaders.Loader.load_data_with_path
    monkeypatch.setattr(botocore.loaders.Loader, "load_data_with_path",
                        lambda self, name: loads.append(name) or original(self, name))
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(tmp_path))
    got = session.get_available_regions("ec2")
    assert "endpoints" in loads  # its own loader read the endpoints (not the shared list)
    assert got == _unshared("ec2")
