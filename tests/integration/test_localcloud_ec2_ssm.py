"""EC2 instance hosts and SSM Run Command in the local cloud, tried with plain boto3."""
import json
import sys
import time

import boto3
import pytest

from localcloud.ec2 import runtime as instance_runtime
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in AMIs
TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")


@pytest.fixture(scope="module")
def aws(local_cloud):  # noqa: F811
    kw = dict(endpoint_url=local_cloud.endpoint_url, region_name=REGION)
    return {n: boto3.client(n, **kw) for n in ("ec2", "ssm", "iam")}


EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def profile(aws):
    """An instance profile whose role the SSM agent uses (AWS's managed-instance setup)."""
    iam = aws["iam"]
    iam.create_role(RoleName="lc-ssm-test-role", AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName="lc-ssm-test-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="lc-ssm-test-profile",
                                     RoleName="lc-ssm-test-role")
    return "lc-ssm-test-profile"


def run_managed(aws, profile, **kw):
    """A running instance with an instance profile, once its SSM agent is Online."""
    iid = aws["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1,
                                   IamInstanceProfile={"Name": profile}, **kw)["Instances"][0]["InstanceId"]
    wait_state(aws, iid, "running")
    wait_online(aws, iid)
    return iid


def ping_status(aws, iid):
    info = aws["ssm"].describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]
    return info[0]["PingStatus"] if info else None


def wait_online(aws, iid, timeout=10):
    deadline = time.monotonic() + timeout
    while ping_status(aws, iid) != "Online":
        assert time.monotonic() < deadline, f"{iid} never registered with SSM"
        time.sleep(0.05)


def state(aws, iid):
    return aws["ec2"].describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def wait_state(aws, iid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state(aws, iid) == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{iid} never reached {want} (is {state(aws, iid)})")


@pytest.fixture
def instance(aws, profile):
    iid = run_managed(aws, profile)
    yield iid
    aws["ec2"].terminate_instances(InstanceIds=[iid])


def send(aws, iid, commands, **params):
    parameters = {"commands": commands, **{k: [str(v)] for k, v in params.items()}}
    return aws["ssm"].send_command(InstanceIds=[iid], DocumentName="AWS-RunShellScript",
                                   Parameters=parameters)["Command"]["CommandId"]


def wait_done(aws, cid, iid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inv = aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=iid)
        if inv["Status"] in TERMINAL:
            return inv
        time.sleep(0.05)
    raise AssertionError(f"command {cid} still {inv['Status']}")


def test_transitions_are_visible(aws):
    ec2 = aws["ec2"]
    first = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
    iid = first["InstanceId"]
    assert first["State"]["Name"] == "pending"
    wait_state(aws, iid, "running")
    resp = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert resp["CurrentState"]["Name"] == "stopping" and resp["PreviousState"]["Name"] == "running"
    assert state(aws, iid) == "stopping"
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
    assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig={"Delay": 1})
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]["CurrentState"]["Name"] == "shutting-down"
    wait_state(aws, iid, "terminated")


def test_host_dir_exists_while_the_instance_does(aws, local_cloud):  # noqa: F811
    iid = aws["ec2"].run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    host = local_cloud.state_dir / "instances" / iid
    assert host.is_dir()
    wait_state(aws, iid, "running")
    aws["ec2"].stop_instances(InstanceIds=[iid])
    wait_state(aws, iid, "stopped")
    assert host.is_dir()  # kept while stopped
    aws["ec2"].terminate_instances(InstanceIds=[iid])
    wait_state(aws, iid, "terminated")
    assert not host.exists()


def test_run_shell_script_returns_real_output_env_and_exit_code(aws, local_cloud, instance):  # noqa: F811
    host = local_cloud.state_dir / "instances" / instance
    cid = send(aws, instance, [
        "echo hello from $(pwd)",
        "echo HOME=$HOME",
        "echo ENDPOINT=$AWS_ENDPOINT_URL REGION=$AWS_DEFAULT_REGION",
        "python3 -c 'import sys; print(\"PY=\" + sys.executable)'",
        "echo to-stderr >&2",
        "echo kept > marker.txt",
    ])
    inv = wait_done(aws, cid, instance)
    assert inv["Status"] == "Success" and inv["StatusDetails"] == "Success"
    assert inv["ResponseCode"] == 0
    out = inv["StandardOutputContent"]
    assert f"hello from {host}" in out and f"HOME={host}" in out
    assert f"ENDPOINT={local_cloud.endpoint_url} REGION={REGION}" in out
    py = out.split("PY=")[1].split()[0]  # the hosts' own runtime, never the operator's venv
    assert py == str(instance_runtime.python()) and not py.startswith(sys.prefix)
    assert inv["StandardErrorContent"].strip() == "to-stderr"
    assert (host / "marker.txt").read_text() == "kept\n"
    listed = aws["ssm"].list_commands(CommandId=cid)["Commands"][0]
    assert listed["Status"] == "Success" and listed["CompletedCount"] == 1


def test_failing_line_stops_the_script_and_reports_its_exit_code(aws, local_cloud, instance):  # noqa: F811
    cid = send(aws, instance, ["echo before", "exit 7", "echo after > after.txt"])
    inv = wait_done(aws, cid, instance)
    assert inv["Status"] == "Failed" and inv["ResponseCode"] == 7
    assert inv["StandardOutputContent"] == "before\n"
    assert not (local_cloud.state_dir / "instances" / instance / "after.txt").exists()
    assert aws["ssm"].list_commands(CommandId=cid)["Commands"][0]["Status"] == "Failed"
    invs = aws["ssm"].list_command_invocations(CommandId=cid, Details=True)["CommandInvocations"]
    assert len(invs) == 1 and invs[0]["Status"] == "Failed"
    plugin = invs[0]["CommandPlugins"][0]
    assert plugin["Name"] == "aws:runShellScript" and plugin["ResponseCode"] == 7
    assert plugin["Output"].startswith("before\n")


def test_status_goes_in_progress_then_times_out(aws, instance):
    cid = send(aws, instance, ["echo start", "sleep 30"], executionTimeout=1)
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        inv = aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=instance)
        seen.add(inv["Status"])
        if inv["Status"] in TERMINAL:
            break
        time.sleep(0.05)
    assert "InProgress" in seen
    assert inv["Status"] == "TimedOut" and inv["StandardOutputContent"] == "start\n"
    assert inv["ResponseCode"] == -1


def test_working_directory_and_concurrent_commands(aws, local_cloud, instance):  # noqa: F811
    host = local_cloud.state_dir / "instances" / instance
    (host / "work").mkdir()
    # Side by side, as the SSM agent runs them: each sees the other's marker while it runs
    # (a check by overlap, not by wall time, so a loaded machine can't fail it).
    def overlapping(me, other):
        return [f"touch {host}/{me}.on", "sleep 1.5",
                f"if [ -e {host}/{other}.on ]; then touch {host}/{me}.saw; fi", "pwd"]
    a = send(aws, instance, overlapping("a", "b"), workingDirectory="work")
    b = send(aws, instance, overlapping("b", "a"))
    ia, ib = wait_done(aws, a, instance), wait_done(aws, b, instance)
    assert (host / "a.saw").exists() and (host / "b.saw").exists()
    assert ia["StandardOutputContent"].strip() == str(host / "work")
    assert ib["StandardOutputContent"].strip() == str(host)


def test_a_stopped_instance_runs_nothing(aws, local_cloud, instance):  # noqa: F811
    aws["ec2"].stop_instances(InstanceIds=[instance])
    wait_state(aws, instance, "stopped")
    before = len(aws["ssm"].list_commands()["Commands"])
    with pytest.raises(aws["ssm"].exceptions.InvalidInstanceId) as err:
        send(aws, instance, ["touch ran.txt"])
    assert f"Instances [[{instance}]] not in a valid state for account" in str(err.value)
    time.sleep(0.3)
    assert not (local_cloud.state_dir / "instances" / instance / "ran.txt").exists()
    assert len(aws["ssm"].list_commands()["Commands"]) == before
    with pytest.raises(aws["ssm"].exceptions.InvalidInstanceId):
        send(aws, "i-0000000000000dead", ["true"])


def test_stopping_the_instance_ends_its_running_command(aws, local_cloud, instance):  # noqa: F811
    cid = send(aws, instance, ["echo started", "sleep 30", "touch finished.txt"])
    deadline = time.monotonic() + 10
    while aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=instance)["Status"] != "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    aws["ec2"].stop_instances(InstanceIds=[instance])
    inv = wait_done(aws, cid, instance, timeout=10)
    assert time.monotonic() - t0 < 5
    assert inv["Status"] == "Failed" and inv["ResponseCode"] == -1
    assert "stopped" in inv["StandardErrorContent"]
    assert not (local_cloud.state_dir / "instances" / instance / "finished.txt").exists()


def test_cancel_command(aws, instance):
    cid = send(aws, instance, ["sleep 30"])
    deadline = time.monotonic() + 10
    while aws["ssm"].get_command_invocation(CommandId=cid, InstanceId=instance)["Status"] != "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    aws["ssm"].cancel_command(CommandId=cid)
    inv = wait_done(aws, cid, instance, timeout=10)
    assert inv["Status"] == "Cancelled"
    assert aws["ssm"].list_commands(CommandId=cid)["Commands"][0]["Status"] == "Cancelled"


def test_the_calls_the_cloud_serves_answer_ssms_errors(aws):
    """CancelCommand of an unknown id is moto's InvalidCommandId; DescribeInstanceInformation
    with both filter lists is SSM's InvalidFilter: each a 400 with its code."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as exc:
        aws["ssm"].cancel_command(CommandId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "InvalidCommandId"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as exc:
        aws["ssm"].describe_instance_information(
            InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}],
            Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert exc.value.response["Error"]["Code"] == "InvalidFilter"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_output_is_truncated_like_aws(aws, instance):
    cid = send(aws, instance, ["python3 -c \"print('x' * 30000)\""])
    inv = wait_done(aws, cid, instance)
    assert inv["Status"] == "Success" and len(inv["StandardOutputContent"]) == 24000
