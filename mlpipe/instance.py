"""The training instance: created once, bootstrapped, then left stopped until data arrives.

- AMI: Amazon Linux 2023 from the SSM public parameter on aws; one of moto's AMIs on
  the local cloud (it ships a catalogue; nothing boots there).
- Instance type from the settings (``t3.small`` by default), the stack's instance
  profile, tags ``Name=<stack>-trainer`` and ``stack=<stack>``, IMDSv2 only.
- User data: ``ec2_scripts/user_data.sh`` with ``@SKLEARN_VERSION@`` replaced by the pin
  in ``model_code/pins.py`` (the version the predict layer carries).
- Found by its tags on a re-run, so a second deploy creates nothing.
- On aws, before the first stop, deploy waits for the bootstrap to finish (``cloud-init
  status --wait`` through SSM): user data runs on first boot only, so stopping the
  instance mid-install would leave it without python.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from botocore.exceptions import ClientError

from .clients import client
from .config import MlpipeError, Settings
from .names import AL2023_AMI_PARAMETER, SSM_DOCUMENT, Names, names_for
from .report import Report

REPO_ROOT = Path(__file__).resolve().parents[1]
USER_DATA_PATH = REPO_ROOT / "ec2_scripts" / "user_data.sh"
PIN_TOKEN = "@SKLEARN_VERSION@"
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _quiet(msg: str) -> None:
    pass


def render_user_data(path: Path | str = USER_DATA_PATH) -> str:
    """The user data script with the scikit-learn pin filled in.

    If ``ec2_scripts/user_data.sh`` is missing, a script that fails loudly (with the
    reason, in the instance's console and /var/log/cloud-init-output.log) is used instead.
    """
    from model_code.pins import SKLEARN_VERSION

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
    return text.replace(PIN_TOKEN, SKLEARN_VERSION)


def resolve_ami(settings: Settings) -> str:
    """The AMI id to launch: AL2023 (SSM public parameter) on aws, a moto AMI on local."""
    if settings.is_aws:
        ssm = client("ssm", settings)
        try:
            return ssm.get_parameter(Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"]
        except ClientError as exc:
            raise MlpipeError(
                f"cannot read the Amazon Linux 2023 AMI id from SSM parameter {AL2023_AMI_PARAMETER} "
                f"in {settings.region} ({_code(exc)}): check the region and ssm:GetParameter permission"
            ) from None
    ec2 = client("ec2", settings)
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


def find_instances(settings: Settings, names: Names) -> list:
    """This stack's live (not terminated) instances, oldest first."""
    ec2 = client("ec2", settings)
    found = []
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": "tag:stack", "Values": [names.stack]},
        {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
    ])
    for page in pages:
        for res in page.get("Reservations", []):
            found.extend(res.get("Instances", []))
    return sorted(found, key=lambda i: (str(i.get("LaunchTime")), i["InstanceId"]))


def find_instance(settings: Settings, names: Names) -> dict | None:
    """The stack's training instance (tag Name=<stack>-trainer), or None."""
    for inst in find_instances(settings, names):
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        if tags.get("Name") == names.instance_name:
            return inst
    return None


def instance_state(settings: Settings, instance_id: str) -> str:
    ec2 = client("ec2", settings)
    res = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    return res[0]["Instances"][0]["State"]["Name"]


def wait_for_state(settings: Settings, instance_id: str, wanted: str, *,
                   timeout: float | None = None, progress: Callable = _quiet) -> float:
    """Poll until the instance is ``wanted``; return the seconds waited, or raise on timeout."""
    timeout = settings.waiter_timeout_seconds if timeout is None else timeout
    delay = 5.0 if settings.is_aws else 0.5
    t0 = time.monotonic()
    last = None
    while True:
        state = instance_state(settings, instance_id)
        waited = time.monotonic() - t0
        if state != last:
            progress(f"  {instance_id}: {state} ({waited:.0f}s)")
            last = state
        if state == wanted:
            return waited
        if wanted != "terminated" and state in ("terminated", "shutting-down"):
            raise MlpipeError(f"instance {instance_id} is {state}, it will never be {wanted}")
        if waited > timeout:
            raise MlpipeError(f"instance {instance_id} still {state} after {timeout:.0f}s "
                              f"(waiting for {wanted}); look at it in the EC2 console")
        time.sleep(delay)


def wait_for_bootstrap(settings: Settings, instance_id: str, *, progress: Callable = _quiet) -> None:
    """Wait until the SSM agent answers and cloud-init (the user data) has finished."""
    ssm = client("ssm", settings)
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
            if _code(exc) != "InvalidInstanceId" or time.monotonic() > deadline:
                raise MlpipeError(f"instance {instance_id} never registered with SSM "
                                  f"({_code(exc)}); is the SSM agent running?") from None
            progress("  waiting for the SSM agent to register ...")
            time.sleep(10)
    while True:
        try:
            inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if _code(exc) != "InvocationDoesNotExist":
                raise
            inv = {"Status": "Pending"}
        status = inv["Status"]
        if status == "Success":
            progress("  bootstrap finished")
            return
        if status in ("Failed", "Cancelled", "TimedOut", "Undeliverable", "Terminated"):
            raise MlpipeError(f"the instance bootstrap (user data) failed ({status}): "
                              f"{(inv.get('StandardErrorContent') or inv.get('StandardOutputContent') or '')[-500:]}")
        if time.monotonic() > deadline:
            raise MlpipeError(f"the instance bootstrap did not finish in {settings.waiter_timeout_seconds}s")
        progress(f"  bootstrap: {status} ...")
        time.sleep(10)


def _run_instance(settings: Settings, names: Names, ami: str, user_data: str, progress: Callable) -> str:
    ec2 = client("ec2", settings)
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
    # A brand-new instance profile takes a few seconds to be usable by EC2 (IAM is
    # eventually consistent): AWS answers InvalidParameterValue until then.
    # The same budget on both targets: `localcloud up --like-aws` has AWS's propagation delay.
    attempts = 12
    for attempt in range(1, attempts + 1):
        try:
            return ec2.run_instances(**kwargs)["Instances"][0]["InstanceId"]
        except ClientError as exc:
            msg = str(exc)
            propagating = _code(exc) == "InvalidParameterValue" and "profile" in msg.lower()
            if not propagating or attempt == attempts:
                raise
            progress(f"  instance profile not visible to EC2 yet, retrying ({attempt}/{attempts})")
            time.sleep(5 if settings.is_aws else 1.0)
    raise AssertionError("unreachable")


def ensure_instance(settings: Settings, names: Names | None = None, *,
                    progress: Callable = _quiet, user_data_path: Path | str = USER_DATA_PATH) -> Report:
    """Find the stack's instance by tag, or create it, bootstrap it (aws) and stop it."""
    names = names or names_for(settings)
    found = find_instance(settings, names)
    if found:
        iid = found["InstanceId"]
        return Report("found", "ec2 instance", names.instance_name, names.instance_arn(iid),
                      {"instance_id": iid, "state": found["State"]["Name"],
                       "instance_type": found.get("InstanceType")})
    ami = resolve_ami(settings)
    user_data = render_user_data(user_data_path)
    progress(f"  launching {settings.instance_type} from {ami}")
    iid = _run_instance(settings, names, ami, user_data, progress)
    wait_for_state(settings, iid, "running", progress=progress)
    if settings.is_aws:
        wait_for_bootstrap(settings, iid, progress=progress)
    client("ec2", settings).stop_instances(InstanceIds=[iid])
    wait_for_state(settings, iid, "stopped", progress=progress)
    return Report("created", "ec2 instance", names.instance_name, names.instance_arn(iid),
                  {"instance_id": iid, "state": "stopped", "ami": ami,
                   "instance_type": settings.instance_type})


def delete_instances(settings: Settings, names: Names | None = None, *,
                     progress: Callable = _quiet, wait: bool = True) -> list:
    """Terminate every live instance tagged with this stack (and wait until terminated)."""
    names = names or names_for(settings)
    ids = [i["InstanceId"] for i in find_instances(settings, names)]
    if not ids:
        return [Report("absent", "ec2 instance", names.instance_name)]
    client("ec2", settings).terminate_instances(InstanceIds=ids)
    reports = []
    for iid in ids:
        if wait:
            wait_for_state(settings, iid, "terminated", progress=progress)
        reports.append(Report("deleted", "ec2 instance", iid, names.instance_arn(iid)))
    return reports
