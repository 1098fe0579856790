"""What the pipeline relies on from the local cloud's EC2, beyond moto: a start sets a new
LaunchTime (the reaper measures an instance's idle time from it), as AWS does."""
import time

import boto3
import pytest

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

AMI = "ami-12c6146b"  # one of moto's built-in AMIs


def test_every_start_sets_a_new_launch_time(local_cloud):  # noqa: F811
    ec2 = boto3.client("ec2", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")

    def describe(iid):
        return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]

    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2})
        first = describe(iid)["LaunchTime"]
        ec2.stop_instances(InstanceIds=[iid])
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 0.2})
        assert describe(iid)["LaunchTime"] == first  # stopping does not change it
        time.sleep(1.1)  # LaunchTime is reported to the second
        ec2.start_instances(InstanceIds=[iid])
        second = describe(iid)["LaunchTime"]
        assert second > first and (second - first).total_seconds() >= 1
        ec2.start_instances(InstanceIds=[iid])  # already pending/running: unchanged
        assert describe(iid)["LaunchTime"] == second
    finally:
        ec2.terminate_instances(InstanceIds=[iid])
