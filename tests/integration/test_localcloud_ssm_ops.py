"""SSM OpsItems and UpdateMaintenanceWindow, the calls AWS's SSM getting-started example makes
(localcloud/ssm/ops.py): served as the API reference describes them, not 501."""
from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ssm(local_cloud):  # noqa: F811
    return boto3.client("ssm", endpoint_url=local_cloud.endpoint_url, region_name="us-east-1")


def test_maintenance_window_is_created_updated_and_deleted(ssm):
    name = f"mw-{uuid.uuid4().hex[:8]}"
    wid = ssm.create_maintenance_window(Name=name, Schedule="cron(0 10 ? * MON-FRI *)",
                                        Duration=2, Cutoff=1,
                                        AllowUnassociatedTargets=True)["WindowId"]
    got = ssm.update_maintenance_window(WindowId=wid, Name=name + "-2", Enabled=False,
                                        Schedule="cron(0 4 ? * MON-FRI *)", Duration=24,
                                        Cutoff=1, AllowUnassociatedTargets=False)
    assert (got["WindowId"], got["Name"], got["Enabled"], got["Duration"]) == \
        (wid, name + "-2", False, 24)
    window = ssm.get_maintenance_window(WindowId=wid)
    assert (window["Name"], window["Schedule"], window["Enabled"],
            window["AllowUnassociatedTargets"]) == \
        (name + "-2", "cron(0 4 ? * MON-FRI *)", False, False)
    with pytest.raises(ClientError) as exc:
        ssm.update_maintenance_window(WindowId="mw-0123456789abcdef0", Name="xyz")
    assert exc.value.response["Error"]["Code"] == "DoesNotExistException"
    ssm.delete_maintenance_window(WindowId=wid)


def test_ops_item_lifecycle_as_the_example_runs_it(ssm):
    created = ssm.create_ops_item(Title="Disk Space Alert", Source="EC2", Category="Performance",
                                  Severity="2", Description="Created by the SSM example.")
    oid = created["OpsItemId"]
    assert oid.startswith("oi-") and created["OpsItemArn"].endswith(f":opsitem/{oid}")
    item = ssm.get_ops_item(OpsItemId=oid)["OpsItem"]
    assert (item["Status"], item["Title"], item["Version"], item["OpsItemType"]) == \
        ("Open", "Disk Space Alert", "1", "/aws/issue")
    ssm.update_ops_item(OpsItemId=oid, Title="Disk Space Alert (updated)",
                        Description="Updated.")
    ssm.update_ops_item(OpsItemId=oid, Status="Resolved")
    pages = ssm.get_paginator("describe_ops_items").paginate(
        OpsItemFilters=[{"Key": "OpsItemId", "Values": [oid], "Operator": "Equal"}])
    found = [s for p in pages for s in p["OpsItemSummaries"]]
    assert [(s["OpsItemId"], s["Title"], s["Status"]) for s in found] == \
        [(oid, "Disk Space Alert (updated)", "Resolved")]
    with pytest.raises(ClientError) as exc:
        ssm.update_ops_item(OpsItemId=oid, Status="Done")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    ssm.delete_ops_item(OpsItemId=oid)
    ssm.delete_ops_item(OpsItemId=oid)  # idempotent
    with pytest.raises(ClientError) as exc:
        ssm.get_ops_item(OpsItemId=oid)
    assert exc.value.response["Error"]["Code"] == "OpsItemNotFoundException"


def test_patch_baseline_for_a_patch_group_defaults_to_windows(ssm):
    """AWS's OperatingSystem default is WINDOWS; moto answered a 500 without one."""
    got = ssm.get_patch_baseline_for_patch_group(PatchGroup="no-such-group")
    assert (got["PatchGroup"], got["OperatingSystem"]) == ("no-such-group", "WINDOWS")
    assert got["BaselineId"].startswith("arn:aws:ssm:") or got["BaselineId"].startswith("pb-")
    with pytest.raises(ClientError) as exc:
        ssm.get_patch_baseline_for_patch_group(PatchGroup="g", OperatingSystem="PLAN9")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
