"""The SSM Run Command calls moto does not serve (ListCommandInvocations, CancelCommand,
DescribeInstanceInformation) and which instances a SendCommand runs on (its InstanceIds and
Targets) with its document's steps (commands.py says what the local cloud adds as a whole).
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any, Callable

from ..core.body import read_json_object
from ..core.moto_request import backend_for
from .documents import (RUN_SHELL_ACTION, RUN_SHELL_SCRIPT, RUN_SHELL_SCRIPT_CONTENT, DocumentError,
                        Step, steps_for)
from .hosts import InstanceHosts
from .invocations import _now, _service_error, plugin_output
from . import wire

log = logging.getLogger("localcloud.ssm")


# ---------------------------------------------------------------------------------------
# SSM JSON targets moto does not serve.
# ---------------------------------------------------------------------------------------
def _ssm_backend_for(environ: dict) -> Any:
    from moto.ssm.models import ssm_backends

    return backend_for(ssm_backends, environ)


def _epoch(value: Any) -> float | None:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            t = _dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        return t.timestamp()
    return None


def list_command_invocations(backend: Any, hosts: InstanceHosts, req: dict) -> dict:
    command_id = req.get("CommandId")
    instance_id = req.get("InstanceId")
    details = bool(req.get("Details"))
    commands = backend.list_commands(command_id, None)
    items = []
    for cmd in commands:
        for r in cmd.invocations:
            if instance_id and r["InstanceId"] != instance_id:
                continue
            item = {
                "CommandId": cmd.command_id,
                "InstanceId": r["InstanceId"],
                "InstanceName": "",
                "Comment": cmd.comment or "",
                "DocumentName": cmd.document_name,
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": _epoch(cmd.requested_date_time),
                "Status": r["Status"],
                "StatusDetails": r["StatusDetails"],
                "TraceOutput": "",
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "CommandPlugins": [],
                "ServiceRole": cmd.service_role_arn or "",
                "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [],
                                       "NotificationType": ""},
                "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "",
                                           "CloudWatchOutputEnabled": False},
            }
            if details:
                inv = hosts.invocation(cmd.command_id, r["InstanceId"])
                steps = inv.plugins if inv is not None and inv.plugins else [{
                    "Name": r.get("PluginName", RUN_SHELL_ACTION), "Status": r["Status"],
                    "StatusDetails": r["StatusDetails"], "ResponseCode": r["ResponseCode"],
                    "stdout": r.get("StandardOutputContent", ""),
                    "stderr": r.get("StandardErrorContent", ""),
                    "start": r.get("ExecutionStartDateTime"),
                    "end": r.get("ExecutionEndDateTime")}]
                item["CommandPlugins"] = [_command_plugin(cmd, st) for st in steps]
            items.append(item)
    return {"CommandInvocations": items}


def _command_plugin(cmd: Any, step: dict) -> dict:
    plugin: dict[str, Any] = {
        "Name": step["Name"],
        "Status": step["Status"],
        "StatusDetails": step["StatusDetails"],
        "ResponseCode": step["ResponseCode"],
        "Output": plugin_output(step["stdout"], step["stderr"]),
        "StandardOutputUrl": "",
        "StandardErrorUrl": "",
        "OutputS3Region": cmd.output_s3_region or "",
        "OutputS3BucketName": cmd.output_s3_bucket_name or "",
        "OutputS3KeyPrefix": cmd.output_s3_key_prefix or "",
    }
    start, end = _epoch(step["start"]), _epoch(step["end"])
    if start is not None:
        plugin["ResponseStartDateTime"] = start
    if end is not None:
        plugin["ResponseFinishDateTime"] = end
    return plugin


# DescribeInstanceInformation: filter keys (both request shapes) -> the item field they match
_INFO_FILTER_FIELDS = {"InstanceIds": "InstanceId", "PingStatus": "PingStatus",
                       "PlatformTypes": "PlatformType", "ResourceType": "ResourceType",
                       "AgentVersion": "AgentVersion", "AssociationStatus": "AssociationStatus"}
AGENT_VERSION = "3.3.0.0"


def describe_instance_information(ec2: Any, hosts: InstanceHosts, req: dict) -> dict:
    """The managed nodes of this account and region: every instance whose agent registered
    (running with an instance profile, after the registration delay), Online while it runs,
    ConnectionLost once stopped. Filters by InstanceInformationFilterList or Filters
    (InstanceIds, PingStatus, PlatformTypes, ResourceType, AgentVersion, tag:<key>, tag-key);
    MaxResults (5-50) and NextToken."""
    if req.get("InstanceInformationFilterList") and req.get("Filters"):
        raise _service_error("InvalidFilter", "You can't use InstanceInformationFilterList "
                             "and Filters together.")
    filters = [(f.get("key"), f.get("valueSet") or [])
               for f in req.get("InstanceInformationFilterList") or []]
    filters += [(f.get("Key"), f.get("Values") or []) for f in req.get("Filters") or []]
    for key, values in filters:
        if not key or not values or (key not in _INFO_FILTER_FIELDS and
                                     not key.startswith("tag:") and key != "tag-key"):
            raise _service_error("InvalidInstanceInformationFilterValue",
                                 f"{key} is not a valid filter key with values {values}")
    max_results = req.get("MaxResults")
    if max_results is not None and not 5 <= int(max_results) <= 50:
        raise _service_error("ValidationException",
                             f"1 validation error detected: Value '{max_results}' at "
                             "'maxResults' failed to satisfy constraint: Member must have value "
                             "less than or equal to 50 and greater than or equal to 5")
    items = []
    for reservation in ec2.all_reservations():
        for inst in reservation.instances:
            status = hosts.ping_status(inst)
            if status is None:
                continue
            registered = hosts.registered_at(inst.id) or _now()
            item = {
                "InstanceId": inst.id, "PingStatus": status,
                "LastPingDateTime": (_now() if status == "Online" else registered).timestamp(),
                "AgentVersion": AGENT_VERSION, "IsLatestVersion": True,
                "PlatformType": "Linux", "PlatformName": "Amazon Linux",
                "PlatformVersion": "2023", "ResourceType": "EC2Instance",
                "IPAddress": inst.private_ip or "",
                "ComputerName": inst.private_dns_name or inst.id,
                "AssociationStatus": "Success", "SourceId": inst.id,
                "SourceType": "AWS::EC2::Instance",
            }
            tags = _instance_tags(ec2, inst.id)
            ok = True
            for key, values in filters:
                if key.startswith("tag:"):
                    ok = tags.get(key[4:]) in values
                elif key == "tag-key":
                    ok = bool(set(tags) & set(values))
                else:
                    ok = str(item[_INFO_FILTER_FIELDS[key]]) in [str(v) for v in values]
                if not ok:
                    break
            if ok:
                items.append(item)
    items.sort(key=lambda i: i["InstanceId"])
    start = int(req.get("NextToken") or 0) if str(req.get("NextToken") or "0").isdigit() else 0
    size = int(max_results) if max_results is not None else 50
    page = items[start:start + size]
    doc: dict[str, Any] = {"InstanceInformationList": page}
    if start + size < len(items):
        doc["NextToken"] = str(start + size)
    return doc


_SERVED_TARGETS = ("AmazonSSM.ListCommandInvocations", "AmazonSSM.CancelCommand",
                   "AmazonSSM.DescribeInstanceInformation")


def _ssm_middleware_factory(hosts: InstanceHosts) -> Callable:
    def factory(app: Callable, cloud: Any) -> Callable:
        from moto.core.exceptions import ServiceException

        def middleware(environ: dict, start_response: Callable) -> Any:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target not in _SERVED_TARGETS:
                return app(environ, start_response)
            req = read_json_object(environ)
            if req is None:
                return wire.error(start_response, "ValidationException", "body is not JSON")
            backend = _ssm_backend_for(environ)
            try:
                if target == "AmazonSSM.ListCommandInvocations":
                    doc = list_command_invocations(backend, hosts, req)
                elif target == "AmazonSSM.DescribeInstanceInformation":
                    from moto.ec2 import ec2_backends
                    doc = describe_instance_information(
                        ec2_backends[backend.account_id][backend.region_name], hosts, req)
                else:
                    cmd = backend.get_command_by_id(req.get("CommandId", ""))
                    hosts.cancel(cmd, req.get("InstanceIds"))
                    doc = {}
            except ServiceException as exc:  # moto's SSM errors (InvalidCommandId) and ours
                return wire.error(start_response, exc.code, exc.message)
            return wire.answer(start_response, "200 OK", doc)
        return middleware
    return factory


# ---------------------------------------------------------------------------------------
# SendCommand: the document's steps, the instances it names
# ---------------------------------------------------------------------------------------
def command_steps(backend: Any, name: str, parameters: dict | None) -> list[Step]:
    """The steps SendCommand(DocumentName=name, Parameters=...) runs; DocumentError when SSM
    refuses it. AWS-owned documents other than AWS-RunShellScript give no steps (the
    invocation then fails, saying they are not run locally)."""
    if name == RUN_SHELL_SCRIPT:
        return steps_for(RUN_SHELL_SCRIPT_CONTENT, name, parameters)
    documents = backend._documents.get(name)
    if documents is None:
        if name.startswith(("AWS-", "AWSEC2-", "AWSSupport-", "AmazonCloudWatch-")):
            return []
        raise DocumentError("InvalidDocument", f"Document with name {name} does not exist.")
    doc = documents.get_default_version()
    if doc.document_type != "Command":
        raise DocumentError("InvalidDocument", f"Document {name} is of type "
                            f"{doc.document_type}; SendCommand runs Command documents.")
    return steps_for(doc.content_json or {}, name, parameters)


def _instance_tags(ec2: Any, instance_id: str) -> dict[str, str]:
    return dict(ec2.tags.get(instance_id, {}))


def targeted_instances(ec2: Any, hosts: "InstanceHosts", instance_ids: list[str],
                       targets: list[dict], account_id: str) -> dict[str, Any]:
    """instance id -> instance for exactly what the command names: its InstanceIds (each
    must be a managed node that is online, else InvalidInstanceId and nothing runs), plus
    the online managed nodes its Targets select (`InstanceIds`, `tag:<key>`, `tag-key`;
    several targets must all match)."""
    from moto.ec2.exceptions import InvalidInstanceIdError

    chosen: dict[str, Any] = {}
    bad = []
    for iid in instance_ids:
        try:
            inst = ec2.get_instance(iid)
        except InvalidInstanceIdError:
            inst = None
        if inst is None or not hosts.is_online(inst):
            bad.append(iid)
        else:
            chosen[iid] = inst
    if bad:
        raise _service_error(
            "InvalidInstanceId",
            f"Instances [[{', '.join(bad)}]] not in a valid state for account {account_id}")
    if targets:
        candidates = [i for r in ec2.all_reservations() for i in r.instances]
        for target in targets:
            key = str(target.get("Key") or "")
            values = [str(v) for v in target.get("Values") or []]
            if key == "InstanceIds":
                candidates = [i for i in candidates if i.id in values]
            elif key.startswith("tag:"):
                tag = key[4:]
                candidates = [i for i in candidates
                              if _instance_tags(ec2, i.id).get(tag) in values]
            elif key == "tag-key":
                candidates = [i for i in candidates
                              if set(_instance_tags(ec2, i.id)) & set(values)]
            else:
                raise _service_error("InvalidParameters",
                                     f"localcloud resolves Targets with the keys InstanceIds, "
                                     f"tag:<key> and tag-key, not {key!r}")
        for inst in candidates:
            if hosts.is_online(inst):
                chosen.setdefault(inst.id, inst)
    return chosen
