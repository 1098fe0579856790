"""`mlpipe doctor` against the local cloud in its three shapes: the default profile, the
`aws` profile (--like-aws) and an account without a default VPC (--no-default-vpc). It runs
every check, fails none there, and creates nothing (every recorded call is a read)."""
from __future__ import annotations

import dataclasses

import pytest

from localcloud.core.profile import AWS
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import calls, clients, doctor
from mlpipe.config import load_settings
from mlpipe.stack import Stack

pytestmark = pytest.mark.integration

READS = ("Get", "Describe", "List", "Head", "Simulate")


@pytest.mark.parametrize("shape", ["default", "like-aws", "no-default-vpc"])
def test_doctor_on_each_shape_of_the_local_cloud(local_cloud, shape):  # noqa: F811
    saved = local_cloud.profile
    if shape == "like-aws":
        local_cloud.profile = dataclasses.replace(AWS, role_propagation_seconds=1.0,
                                                  instance_profile_propagation_seconds=1.0,
                                                  ec2_transition_seconds=1.0, ssm_registration_seconds=1.0)
    elif shape == "no-default-vpc":
        local_cloud.profile = dataclasses.replace(saved, default_vpc=False)
    try:
        settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": local_cloud.endpoint_url,
                                  "MLPIPE_STACK": f"doc{shape.replace('-', '')[:8]}"})
        clients.clear_cache()
        lines = []
        with calls.record() as rec:
            checks = doctor.run_checks(Stack.load(settings), lines.append)
        print("\n".join(lines))
        assert len(checks) == len(doctor.CHECKS)
        assert [c.line() for c in checks if c.status == doctor.FAIL] == []
        assert sorted({c.operation for c in rec if not c.operation.startswith(READS)}) == []
        # (the local cloud's no-default-vpc profile refuses RunInstances without a subnet but
        # still lists its default VPC, so the subnet check finds that one here; the unit tests
        # take the default VPC away on moto and see "no default VPC: deploy creates ...")
    finally:
        local_cloud.profile = saved
        clients.clear_cache()
