"""``mlpipe destroy``: remove everything the stack owns, whatever state a deploy left.

Resources are found by their names (docs/CONTRACTS.md) AND by the ``stack`` tag under the
stack's name prefix, so a half-finished deploy is cleaned up too. Only resources whose
name starts with ``<stack>-`` (and, when tagged, carry ``stack=<stack>``) are touched:
another stack in the same account is left alone.

Order: schedule -> notifications -> API -> functions + logs -> layers -> instances (wait
until terminated) -> roles + instance profile -> buckets (every object version).
Each step runs even if an earlier one failed; the failures are reported together.
"""
from __future__ import annotations

from typing import Callable

from botocore.exceptions import ClientError

from . import buckets, functions, iam, instance, notifications, schedule
from .clients import client
from .config import MlpipeError, Settings
from .names import Names, names_for
from .report import Report


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _quiet(msg: str) -> None:
    pass


# --- finders (also used by verify_destroyed) ------------------------------------------------

def stack_buckets(settings: Settings, names: Names) -> list:
    s3 = client("s3", settings)
    found = []
    for b in s3.list_buckets().get("Buckets", []):
        name = b["Name"]
        if name in names.buckets:
            found.append(name)
        elif name.startswith(names.stack + "-"):
            try:
                tags = s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
            except ClientError:
                continue
            if {t["Key"]: t["Value"] for t in tags}.get("stack") == names.stack:
                found.append(name)
    return sorted(found)


def stack_layers(settings: Settings, names: Names) -> list:
    lam = client("lambda", settings)
    found = []
    for page in lam.get_paginator("list_layers").paginate():
        for layer in page.get("Layers", []):
            if layer["LayerName"] in names.layers:
                found.append(layer["LayerName"])
    return sorted(found)


def stack_rules(settings: Settings, names: Names) -> list:
    events = client("events", settings)
    found = []
    for rule in events.list_rules(NamePrefix=names.stack + "-").get("Rules", []):
        if rule["Name"] == names.reaper_rule:
            found.append(rule["Name"])
            continue
        tags = events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
        if {t["Key"]: t["Value"] for t in tags}.get("stack") == names.stack:
            found.append(rule["Name"])
    return sorted(found)


def stack_instance_profiles(settings: Settings, names: Names) -> list:
    iam_c = client("iam", settings)
    found = []
    for page in iam_c.get_paginator("list_instance_profiles").paginate():
        for p in page.get("InstanceProfiles", []):
            if p["InstanceProfileName"] == names.instance_profile:
                found.append(p["InstanceProfileName"])
            elif p["InstanceProfileName"].startswith(names.stack + "-"):
                tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
                if tags.get("stack") == names.stack:
                    found.append(p["InstanceProfileName"])
    return sorted(found)


def stack_apis(settings: Settings, names: Names) -> list:
    """(kind, id, name) of this stack's REST APIs, usage plans and API keys."""
    apigw = client("apigateway", settings)
    found = []
    for api in apigw.get_rest_apis(limit=500).get("items", []):
        if api["name"] == names.api_name or (api["name"].startswith(names.stack + "-")
                                             and (api.get("tags") or {}).get("stack") == names.stack):
            found.append(("rest api", api["id"], api["name"]))
    for plan in apigw.get_usage_plans(limit=500).get("items", []):
        if plan["name"] == names.usage_plan or (plan["name"].startswith(names.stack + "-")
                                                and (plan.get("tags") or {}).get("stack") == names.stack):
            found.append(("usage plan", plan["id"], plan["name"]))
    for key in apigw.get_api_keys(limit=500).get("items", []):
        if key["name"] == names.api_key_name or (key["name"].startswith(names.stack + "-")
                                                 and (key.get("tags") or {}).get("stack") == names.stack):
            found.append(("api key", key["id"], key["name"]))
    return found


# --- deleters ---------------------------------------------------------------------------------

def delete_layers(settings: Settings, names: Names) -> list:
    lam = client("lambda", settings)
    reports = []
    for layer in stack_layers(settings, names):
        versions = []
        for page in lam.get_paginator("list_layer_versions").paginate(LayerName=layer):
            versions += [v["Version"] for v in page.get("LayerVersions", [])]
        for v in versions:
            lam.delete_layer_version(LayerName=layer, VersionNumber=v)
        reports.append(Report("deleted", "lambda layer", layer, None, {"versions": versions}))
    return reports or [Report("absent", "lambda layer", ", ".join(names.layers))]


def delete_api_resources(settings: Settings, names: Names) -> list:
    """API keys, usage plans (stages detached first) and REST APIs of the stack."""
    apigw = client("apigateway", settings)
    reports = []
    found = stack_apis(settings, names)
    for kind, rid, name in found:
        if kind == "usage plan":
            plan = apigw.get_usage_plan(usagePlanId=rid)
            ops = [{"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"}
                   for s in plan.get("apiStages", [])]
            if ops:
                try:
                    apigw.update_usage_plan(usagePlanId=rid, patchOperations=ops)
                except ClientError:
                    pass  # the local cloud may not support removing stages; deleting still works
            apigw.delete_usage_plan(usagePlanId=rid)
            reports.append(Report("deleted", kind, name, None, {"id": rid}))
    for kind, rid, name in found:
        if kind == "api key":
            apigw.delete_api_key(apiKey=rid)
            reports.append(Report("deleted", kind, name, None, {"id": rid}))
        elif kind == "rest api":
            apigw.delete_rest_api(restApiId=rid)
            reports.append(Report("deleted", kind, name, None, {"id": rid}))
    return reports or [Report("absent", "rest api", names.api_name)]


def _call_optional_backend_delete(settings: Settings, names: Names, progress: Callable) -> list:
    from .deploy import _optional

    delete_backend = _optional("api", "delete_backend")
    if delete_backend is None:
        return []
    out = delete_backend(settings, names, progress)
    if out is None:
        return []
    return list(out) if isinstance(out, (list, tuple)) else [out]


def destroy(settings: Settings, progress: Callable = print, *, names: Names | None = None) -> list:
    """Delete every resource of the stack; raise MlpipeError listing failures at the end."""
    names = names or names_for(settings)
    reports: list = []
    errors: list = []

    def step(title: str, fn) -> None:
        progress(title)
        try:
            out = fn()
        except (ClientError, MlpipeError) as exc:
            errors.append(f"{title}: {exc}")
            progress(f"  FAILED {title}: {exc}")
            return
        for r in (out if isinstance(out, list) else [out]):
            reports.append(r)
            if r.action != "absent":
                progress(f"  {r}")

    def rules():
        out = []
        for rule in stack_rules(settings, names):
            if rule == names.reaper_rule:
                out.append(schedule.delete_schedule(settings, names))
            else:
                events = client("events", settings)
                targets = events.list_targets_by_rule(Rule=rule).get("Targets", [])
                if targets:
                    events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
                events.delete_rule(Name=rule)
                out.append(Report("deleted", "schedule rule", rule))
        return out or [Report("absent", "schedule rule", names.reaper_rule)]

    def funcs():
        out = []
        for fn in functions.stack_functions(settings, names):
            out.append(functions.delete_function(settings, fn))
            out.append(functions.delete_log_group(settings, f"/aws/lambda/{fn}"))
        return out or [Report("absent", "lambda function", f"{names.stack}-*")]

    def roles():
        out = [iam.delete_role(settings, r) for r in iam.stack_roles(settings, names)]
        out += [iam.delete_instance_profile(settings, p) for p in stack_instance_profiles(settings, names)]
        return out or [Report("absent", "iam role", f"{names.stack}-*-role")]

    def bucket_step():
        out = [buckets.delete_bucket(settings, names, b) for b in stack_buckets(settings, names)]
        return out or [Report("absent", "s3 bucket", f"{names.stack}-*")]

    step("schedule", rules)
    step("notifications", lambda: notifications.delete_notifications(settings, names))
    step("API (backend)", lambda: _call_optional_backend_delete(settings, names, progress)
         + delete_api_resources(settings, names))
    step("functions and their logs", funcs)
    step("layers", lambda: delete_layers(settings, names))
    step("instances", lambda: instance.delete_instances(settings, names, progress=progress))
    step("roles and instance profile", roles)
    step("buckets", bucket_step)
    if errors:
        raise MlpipeError("destroy did not finish: " + " | ".join(errors)
                          + " (run `mlpipe destroy` again; each step is safe to repeat)")
    leftovers = verify_destroyed(settings, names=names)
    if leftovers:
        raise MlpipeError("destroy finished but these remain: " + ", ".join(leftovers))
    n = sum(r.action == "deleted" for r in reports)
    progress(f"destroyed: {n} resources deleted; nothing of stack {names.stack} is left")
    return reports


def verify_destroyed(settings: Settings, *, names: Names | None = None) -> list:
    """What of the stack still exists, as ``"kind name"`` strings (empty list: nothing)."""
    names = names or names_for(settings)
    left = []
    left += [f"s3 bucket {b}" for b in stack_buckets(settings, names)]
    left += [f"lambda function {f}" for f in functions.stack_functions(settings, names)]
    left += [f"lambda layer {x}" for x in stack_layers(settings, names)]
    left += [f"iam role {r}" for r in iam.stack_roles(settings, names)]
    left += [f"instance profile {p}" for p in stack_instance_profiles(settings, names)]
    left += [f"schedule rule {r}" for r in stack_rules(settings, names)]
    left += [f"ec2 instance {i['InstanceId']} ({i['State']['Name']})"
             for i in instance.find_instances(settings, names)]
    left += [f"{kind} {name}" for kind, _id, name in stack_apis(settings, names)]
    return left
