"""The reaper's schedule: EventBridge rule ``<stack>-reaper-schedule`` at rate(1 minute).

The reaper is the backstop of "no path leaves the instance running": every minute it
stops an instance with no command in flight for longer than IDLE_GRACE_SECONDS and
records a crashed worker or a hung command as a failed run.

How long the instance can run after each failure (defaults; see mlpipe/config.py):

- training error or bad CSV: the EC2 script's exit trap writes the run record, whose
  arrival fires stop_ec2 at once -> stopped within seconds of the failure;
- hung command: SSM kills it at executionTimeout (COMMAND_TIMEOUT, 900 s), the trap
  writes the record -> stop_ec2; if even that fails, the reaper's rule below applies;
- worker crashed before sending the command (or any other path that writes no record):
  the reaper stops an instance idle for IDLE_GRACE_SECONDS (420 s), checked every
  minute -> stopped at most ~8 minutes after it last had a command in flight. The grace
  is longer than the worker's READY_TIMEOUT (300 s: how long it waits for a booting
  instance to register with SSM), so the reaper never stops an instance the worker is
  still waiting for.
"""
from __future__ import annotations

from .clients import get_or_none
from .config import MlpipeError
from .functions import ensure_permission, function_arn
from .report import Report

SCHEDULE = "rate(1 minute)"
TARGET_ID = "reaper"
PERMISSION_SID = "events-invoke-reaper"


def ensure(stack) -> list:
    names = stack.names
    events = stack.client("events")
    rule = names.reaper_rule
    arn = function_arn(stack, names.reaper_function)
    if arn is None:
        raise MlpipeError(f"function {names.reaper_function} does not exist: deploy the functions first")
    got = get_or_none(events.describe_rule, Name=rule)
    changes = []
    if got is None or got.get("ScheduleExpression") != SCHEDULE or got.get("State") != "ENABLED":
        put = events.put_rule(Name=rule, ScheduleExpression=SCHEDULE, State="ENABLED",
                              Description=f"{names.stack}: stop an idle or stuck training instance",
                              Tags=names.tag_list())
        rule_arn = put["RuleArn"]
        if got is not None:
            changes.append("schedule")
    else:
        rule_arn = got["Arn"]
    targets = events.list_targets_by_rule(Rule=rule).get("Targets", [])
    if [(t["Id"], t["Arn"]) for t in targets] != [(TARGET_ID, arn)]:
        stale = [t["Id"] for t in targets if t["Id"] != TARGET_ID]
        if stale:
            events.remove_targets(Rule=rule, Ids=stale)
        events.put_targets(Rule=rule, Targets=[{"Id": TARGET_ID, "Arn": arn}])
        if got is not None:
            changes.append("target")
    action = "created" if got is None else ("updated" if changes else "found")
    return [
        Report(action, "schedule rule", rule, rule_arn, {"changes": changes, "schedule": SCHEDULE}),
        ensure_permission(stack, names.reaper_function, PERMISSION_SID, "events.amazonaws.com", rule_arn),
    ]


def find(stack) -> list:
    """Rule names of this stack: the reaper's, plus any ``<stack>-*`` rule tagged ``stack=<stack>``."""
    events, names = stack.client("events"), stack.names
    found = []
    for rule in events.list_rules(NamePrefix=names.stack + "-").get("Rules", []):
        if rule["Name"] == names.reaper_rule:
            found.append(rule["Name"])
            continue
        tags = events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        if {t["Key"]: t["Value"] for t in tags}.get("stack") == names.stack:
            found.append(rule["Name"])
    return sorted(found)


def leftovers(stack) -> list:
    return [f"schedule rule {r}" for r in find(stack)]


def delete_rule(stack, rule: str) -> Report:
    events = stack.client("events")
    targets = get_or_none(events.list_targets_by_rule, Rule=rule)
    if targets is None:
        return Report("absent", "schedule rule", rule)
    if targets.get("Targets"):
        events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets["Targets"]])
    events.delete_rule(Name=rule)
    return Report("deleted", "schedule rule", rule)


def delete(stack) -> list:
    out = [delete_rule(stack, r) for r in find(stack)]
    return out or [Report("absent", "schedule rule", stack.names.reaper_rule)]
