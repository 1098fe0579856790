"""The training instance: created once, bootstrapped, then left stopped until data arrives.

- AMI: Amazon Linux 2023 from the SSM public parameter on aws; one of moto's AMIs on
  the local cloud (it ships a catalogue; nothing boots there).
- Instance type from the settings (``t3.small`` by default), the stack's instance
  profile, the subnet ``mlpipe.network`` chose, tags ``Name=<stack>-trainer`` and
  ``stack=<stack>``, IMDSv2 only.
- User data: ``ec2_scripts/user_data.sh`` with ``@SKLEARN_VERSION@`` and ``@REQUIREMENTS@``
  filled from the lock in ``model_code/pins.py`` (the versions the predict layer carries).
- On aws, before the first stop, deploy waits for the bootstrap to finish (``cloud-init
  status --wait`` through SSM): user data runs on first boot only, so stopping the
  instance mid-install would leave it without python.
- Every path ends with the instance stopped or terminated: once it is stopped after a
  good bootstrap it gets the tag ``bootstrap=done``; a bootstrap that fails (or a deploy
  interrupted before the tag) terminates it, and the error names it. A found instance
  without the tag is such a broken leftover: it is terminated and a new one made, never
  silently reused. An instance that could not be stopped is named in the error.
"""
from __future__ import annotations

import time
from pathlib import Path

import re

from botocore.exceptions import ClientError

from .clients import error_code
from .config import MlpipeError
from .names import AL2023_AMI_PARAMETER, SSM_DOCUMENT
from .report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
USER_DATA_PATH = REPO_ROOT / "ec2_scripts" / "user_data.sh"
PIN_TOKEN = "@SKLEARN_VERSION@"
REQUIREMENTS_TOKEN = "@REQUIREMENTS@"
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
BOOTSTRAP_TAG = ("bootstrap", "done")
# AWS's answer while a new instance profile is not yet visible to EC2 (IAM is eventually
# consistent): "Value (S-ec2-profile) for parameter iamInstanceProfile.name is invalid.
# Invalid IAM Instance Profile name".
PROFILE_PROPAGATING = re.compile(
    r"iamInstanceProfile\.(name|arn) is invalid|Invalid IAM Instance Profile (name|ARN)", re.I)


def render_user_data(path: Path | str = USER_DATA_PATH) -> str:
    """The user data script with the lock (model_code/pins.py) filled in.

    If ``ec2_scripts/user_data.sh`` is missing, a script that fails loudly (with the
    reason, in the instance's console and /var/log/cloud-init-output.log) is used instead.
    """
    from model_code.pins import SKLEARN_VERSION, TRAINING_REQUIREMENTS

    path = Path(path)
    if not path.is_file():
        return (
            "#!/bin/bash\n"
            f"echo 'mlpipe: {path.name} was missing when this stack was deployed; the instance "
            "has no training stack. Add ec2_scripts/user_data.sh and redeploy (mlpipe destroy; "
            "mlpipe deploy).' >&2\nexit 1\n"
        )
    text = path.read_text()
    if PIN_TOKEN not in text:
        raise MlpipeError(f"{path} has no {PIN_TOKEN} placeholder: the instance would not get "
                          "the pinned scikit-learn")
    if REQUIREMENTS_TOKEN not in text:
        raise MlpipeError(f"{path} has no {REQUIREMENTS_TOKEN} placeholder: the instance would not get "
                          "the locked numpy, scipy, joblib, threadpoolctl and boto3")
    reqs = " ".join(f'"{r}"' for r in TRAINING_REQUIREMENTS)
    return text.replace(PIN_TOKEN, SKLEARN_VERSION).replace(REQUIREMENTS_TOKEN, reqs)


def resolve_ami(stack) -> str:
    """The AMI id to launch: AL2023 (SSM public parameter) on aws, a moto AMI on local."""
    settings = stack.settings
    if settings.is_aws:
        ssm = stack.client("ssm")
        try:
            return ssm.get_parameter(Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"]
        except ClientError as exc:
            raise MlpipeError(
                f"cannot read the Amazon Linux 2023 AMI id from SSM parameter {AL2023_AMI_PARAMETER} "
                f"in {settings.region} ({error_code(exc)}): check the region and ssm:GetParameter permission"
            ) from None
    ec2 = stack.client("ec2")
    images = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["al2023-ami-*"]}, {"Name": "architecture", "Values": ["x86_64"]},
    ]).get("Images", [])
    if not images:  # an older moto catalogue: take any of its AMIs
        images = ec2.describe_images(Owners=["amazon"]).get("Images", [])
    if not images:
        raise MlpipeError("the local cloud lists no AMIs (describe_images returned none)")
    preferred = [i for i in images if "al2023" in (i.get("Name") or "").lower()
                 and i.get("Architecture", "x86_64") == "x86_64"]
    chosen = sorted(preferred or images, key=lambda i: i["ImageId"])[0]
    return chosen["ImageId"]


def find_instances(stack) -> list:
    """This stack's live (not terminated) instances, oldest first."""
    found = []
    pages = stack.client("ec2").get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:stack", "Values": [stack.names.stack]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ])
    for page in pages:
        for res in page.get("Reservations", []):
            found.extend(res.get("Instances", []))
    return sorted(found, key=lambda i: (str(i.get("LaunchTime")), i["InstanceId"]))


def _tags(inst: dict) -> dict:
    return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}


def find_instance(stack) -> dict | None:
    """The stack's training instance (tag Name=<stack>-trainer), or None."""
    for inst in find_instances(stack):
        if _tags(inst).get("Name") == stack.names.instance_name:
            return inst
    return None


def instance_state(stack, instance_id: str) -> str:
    res = stack.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return res[0]["Instances"][0]["State"]["Name"]


def wait_for_state(stack, instance_id: str, wanted: str, *, timeout: float | None = None) -> float:
    """Poll until the instance is ``wanted``; return the seconds waited, or raise on timeout."""
    settings = stack.settings
    timeout = settings.waiter_timeout_seconds if timeout is None else timeout
    delay = 5.0 if settings.is_aws else 0.5
    t0 = time.monotonic()
    last = None
    while True:
        state = instance_state(stack, instance_id)
        waited = time.monotonic() - t0
        if state != last:
            stack.say(f"  {instance_id}: {state} ({waited:.0f}s)")
            last = state
        if state == wanted:
            return waited
        if wanted != "terminated" and state in ("terminated", "shutting-down"):
            raise MlpipeError(f"instance {instance_id} is {state}, it will never be {wanted}")
        if waited > timeout:
            raise MlpipeError(f"instance {instance_id} still {state} after {timeout:.0f}s "
                              f"(waiting for {wanted}); look at it in the EC2 console")
        time.sleep(delay)


def waits_for_bootstrap(settings) -> bool:
    """Whether deploy waits for the user data before the first stop: on aws (the local cloud
    runs no user data; its instance host has the training stack already)."""
    return settings.is_aws


def wait_for_bootstrap(stack, instance_id: str) -> None:
    """Wait until the SSM agent answers and cloud-init (the user data) has finished."""
    settings = stack.settings
    ssm = stack.client("ssm")
    poll = 10 if settings.is_aws else 0.5
    deadline = time.monotonic() + settings.waiter_timeout_seconds
    command_id = None
    while command_id is None:
        try:
            command_id = ssm.send_command(
                InstanceIds=[instance_id], DocumentName=SSM_DOCUMENT,
                Comment="mlpipe deploy: wait for the bootstrap (user data) to finish",
                Parameters={"commands": ["cloud-init status --wait || cloud-init status --long"],
                            "executionTimeout": [str(settings.waiter_timeout_seconds)]},
                TimeoutSeconds=60,
            )["Command"]["CommandId"]
        except ClientError as exc:
            if error_code(exc) != "InvalidInstanceId" or time.monotonic() > deadline:
                raise MlpipeError(f"instance {instance_id} never registered with SSM "
                                  f"({error_code(exc)}); is the SSM agent running?") from None
            stack.say("  waiting for the SSM agent to register ...")
            time.sleep(poll)
    while True:
        try:
            inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) != "InvocationDoesNotExist":
                raise
            inv = {"Status": "Pending"}
        status = inv["Status"]
        if status == "Success":
            stack.say("  bootstrap finished")
            return
        if status in ("Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"):
            raise MlpipeError(f"the instance bootstrap (user data) failed ({status}): "
                              f"{(inv.get('StandardErrorContent') or inv.get('StandardOutputContent') or '')[-500:]}")
        if time.monotonic() > deadline:
            raise MlpipeError(f"the instance bootstrap did not finish in {settings.waiter_timeout_seconds}s")
        stack.say(f"  bootstrap: {status} ...")
        time.sleep(poll)


# Burstable families: T2 defaults to "standard" credits, T3/T3a/T4g to "unlimited" (bursts
# beyond the baseline billed per vCPU-hour). The plan's estimate is the on-demand price, so
# the instance launches with "standard": it is throttled to the baseline, never billed more.
BURSTABLE = re.compile(r"^t\d[a-z]*\.")
# RunInstances answers that mean "not in this AZ (now)": try the next offered subnet.
CAPACITY_CODES = ("InsufficientInstanceCapacity", "Unsupported")


def run_kwargs(stack, ami: str, user_data: str, subnet_id: str | None,
               security_group_id: str | None = None) -> dict:
    """RunInstances' arguments (pure: tests read them)."""
    names, settings = stack.names, stack.settings
    kwargs = dict(
        ImageId=ami,
        InstanceType=settings.instance_type,
        MinCount=1,
        MaxCount=1,
        IamInstanceProfile={"Name": names.instance_profile},
        UserData=user_data,
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": names.tag_list(Name=names.instance_name)},
            {"ResourceType": "volume", "Tags": names.tag_list(Name=names.instance_name)},
        ],
    )
    if BURSTABLE.match(settings.instance_type):
        kwargs["CreditSpecification"] = {"CpuCredits": "standard"}
    if subnet_id:
        kwargs["SubnetId"] = subnet_id
    if security_group_id:
        kwargs["SecurityGroupIds"] = [security_group_id]
    return kwargs


def _run_instance(stack, ami: str, user_data: str, subnet_id: str | None,
                  security_group_id: str | None = None, alternates=()) -> str:
    """RunInstances, retried while the new instance profile propagates, and in the next
    subnet (another AZ) when EC2 has no capacity for the type there or does not offer it."""
    subnets = [subnet_id, *alternates]
    for i, sub in enumerate(subnets):
        try:
            return _run_in_subnet(stack, run_kwargs(stack, ami, user_data, sub, security_group_id))
        except ClientError as exc:
            if error_code(exc) not in CAPACITY_CODES or i == len(subnets) - 1:
                raise
            stack.say(f"  {error_code(exc)} in {sub}: trying {subnets[i + 1]} (another AZ)")
    raise AssertionError("unreachable")


def _run_in_subnet(stack, kwargs: dict) -> str:
    settings = stack.settings
    ec2 = stack.client("ec2")
    # IAM is eventually consistent: a new profile is refused for a few seconds (about 60 s of
    # retries on aws; 15 s on the local cloud, whose --like-aws profile delays it by 8 s).
    attempts, delay = (12, 5.0) if settings.is_aws else (60, 0.25)
    for attempt in range(1, attempts + 1):
        try:
            return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
        except ClientError as exc:
            propagating = (error_code(exc) == "InvalidParameterValue"
                           and PROFILE_PROPAGATING.search(str(exc)) is not None)
            if not propagating or attempt == attempts:
                raise
            stack.say(f"  instance profile not visible to EC2 yet, retrying ({attempt}/{attempts})")
            time.sleep(delay)
    raise AssertionError("unreachable")


def _terminate_broken(stack, iid: str, why: str) -> None:
    """Terminate an instance whose bootstrap failed or never finished; raise naming it if that fails."""
    try:
        stack.client("ec2").terminate_instances(InstanceIds=[iid])
    except ClientError as exc:
        raise MlpipeError(f"{why}; and instance {iid} could not be terminated ({error_code(exc)}): "
                          "it may still be running and costing money: stop it in the EC2 console "
                          "or run `mlpipe destroy`") from None
    try:  # the deploy ends with the instance terminated, not merely shutting down
        wait_for_state(stack, iid, "terminated")
    except MlpipeError as exc:
        raise MlpipeError(f"{why}; instance {iid} was told to terminate but {exc}") from None
    stack.say(f"  terminated {iid} ({why})")


def _launch(stack, ami: str, user_data: str, subnet_id: str | None, security_group_id: str | None = None,
            alternates=()) -> str:
    """Launch, bootstrap (aws), stop and tag ``bootstrap=done``; on any failure the instance is
    terminated (or named in the error if even that fails)."""
    iid = _run_instance(stack, ami, user_data, subnet_id, security_group_id, alternates)
    try:
        wait_for_state(stack, iid, "running")
        if waits_for_bootstrap(stack.settings):
            wait_for_bootstrap(stack, iid)
        stack.client("ec2").stop_instances(InstanceIds=[iid])
        wait_for_state(stack, iid, "stopped")
        stack.client("ec2").create_tags(Resources=[iid], Tags=[{"Key": BOOTSTRAP_TAG[0], "Value": BOOTSTRAP_TAG[1]}])
    except BaseException as exc:
        why = f"the new instance {iid} was not bootstrapped and stopped ({exc})"
        _terminate_broken(stack, iid, why)
        if isinstance(exc, MlpipeError):
            raise MlpipeError(f"{exc}; instance {iid} was terminated (a redeploy makes a new one)") from None
        raise
    return iid


def ensure(stack, subnet_id: str | None = None, *, security_group_id: str | None = None, alternates=(),
           user_data_path: Path | str = USER_DATA_PATH) -> list:
    """Find the stack's instance by tag, or create it, bootstrap it (aws) and stop it.

    A found instance without ``bootstrap=done`` (a deploy that died before its first stop)
    is terminated and replaced. The last report is the instance's (``details["instance_id"]``).
    """
    reports = []
    names = stack.names
    found = find_instance(stack)
    if found and _tags(found).get(BOOTSTRAP_TAG[0]) != BOOTSTRAP_TAG[1]:
        iid = found["InstanceId"]
        _terminate_broken(stack, iid, "found without a finished bootstrap")
        reports.append(Report("deleted", "ec2 instance", iid, names.instance_arn(iid),
                              {"reason": "left by a deploy whose bootstrap never finished"}))
        found = None
    if found:
        iid = found["InstanceId"]
        reports.append(Report("found", "ec2 instance", names.instance_name, names.instance_arn(iid),
                              {"instance_id": iid, "state": found["State"]["Name"],
                               "instance_type": found.get("InstanceType")}))
        return reports
    ami = resolve_ami(stack)
    user_data = render_user_data(user_data_path)
    stack.say(f"  launching {stack.settings.instance_type} from {ami}"
              + (f" in {subnet_id}" if subnet_id else ""))
    iid = _launch(stack, ami, user_data, subnet_id, security_group_id, alternates)
    reports.append(Report("created", "ec2 instance", names.instance_name, names.instance_arn(iid),
                          {"instance_id": iid, "state": "stopped", "ami": ami, "subnet_id": subnet_id,
                           "instance_type": stack.settings.instance_type}))
    return reports


def leftovers(stack) -> list:
    return [f"ec2 instance {i['InstanceId']} ({i['State']['Name']})" for i in find_instances(stack)]


def delete(stack, *, wait: bool = True) -> list:
    """Terminate every live instance tagged with this stack (and wait until terminated)."""
    ids = [i["InstanceId"] for i in find_instances(stack)]
    if not ids:
        return [Report("absent", "ec2 instance", stack.names.instance_name)]
    stack.client("ec2").terminate_instances(InstanceIds=ids)
    reports = []
    for iid in ids:
        if wait:
            wait_for_state(stack, iid, "terminated")
        reports.append(Report("deleted", "ec2 instance", iid, stack.names.instance_arn(iid)))
    return reports

