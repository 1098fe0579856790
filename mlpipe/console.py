"""AWS console links for every resource of the stack (``mlpipe outputs --console``).

Region-aware (the console opens in the stack's region) and partition-aware (aws, aws-cn,
aws-us-gov consoles). Names come from ``mlpipe.names``; the two ids a link needs (the REST
API's and the instance's) are looked up, and a link to the filtered list is given when the
resource does not exist yet. On the local target the links are printed all the same, with a
note: they are for a real account, the local cloud has no console.
"""
from __future__ import annotations

from urllib.parse import quote

CONSOLE = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn",
           "aws-us-gov": "console.amazonaws-us-gov.com"}
LOCAL_NOTE = ("note: these are AWS console links for a real account with this stack deployed; "
              "the local cloud has no console (use `mlpipe status`, `mlpipe runs`, the notebooks)")


def _log_group_fragment(name: str) -> str:
    # the CloudWatch console escapes a log group name twice, with $ for %: / -> $252F
    return quote(quote(name, safe=""), safe="").replace("%", "$")


def links(stack) -> list:
    """``[(kind, name, url)]`` for the stack's buckets, functions and their log groups,
    layers, roles, instance, security group, failure queue, schedule and REST API."""
    from .api import find_api
    from .instance import find_instance

    names, region = stack.names, stack.settings.region
    host = CONSOLE.get(names.partition, CONSOLE["aws"])
    home = f"https://{region}.{host}"
    q = f"region={region}"
    out = [("s3 bucket", b, f"https://s3.{host}/s3/buckets/{b}?{q}") for b in names.buckets]
    for fn in names.functions.values():
        out.append(("lambda function", fn, f"{home}/lambda/home?{q}#/functions/{fn}"))
    for key, fn in names.functions.items():
        group = names.log_group(key)
        out.append(("log group", group,
                    f"{home}/cloudwatch/home?{q}#logsV2:log-groups/log-group/{_log_group_fragment(group)}"))
    out += [("lambda layer", layer, f"{home}/lambda/home?{q}#/layers/{layer}") for layer in names.layers]
    out += [("iam role", r, f"https://{host}/iam/home#/roles/details/{r}") for r in names.roles]
    inst = _quiet(lambda: find_instance(stack))
    out.append(("ec2 instance", names.instance_name,
                f"{home}/ec2/home?{q}#InstanceDetails:instanceId={inst['InstanceId']}" if inst
                else f"{home}/ec2/home?{q}#Instances:tag:Name={names.instance_name}"))
    out.append(("security group", names.security_group,
                f"{home}/ec2/home?{q}#SecurityGroups:group-name={names.security_group}"))
    queue_url = f"https://sqs.{region}.amazonaws.com/{names.account_id}/{names.failure_queue}"
    out.append(("sqs queue", names.failure_queue,
                f"{home}/sqs/v3/home?{q}#/queues/{quote(queue_url, safe='')}"))
    out.append(("schedule", names.reaper_rule, f"{home}/events/home?{q}#/eventbus/default/rules/{names.reaper_rule}"))
    api = _quiet(lambda: find_api(stack))
    out.append(("rest api", names.api_name,
                f"{home}/apigateway/main/apis/{api['id']}/resources?api={api['id']}&{q}" if api
                else f"{home}/apigateway/main/apis?{q}"))
    return out


def _quiet(find):
    from .clients import AWS_ERRORS

    try:
        return find()
    except AWS_ERRORS:
        return None


def format_links(stack) -> str:
    lines = [f"{kind:<16} {name:<34} {url}" for kind, name, url in links(stack)]
    if stack.is_local:
        lines.append(LOCAL_NOTE)
    return "\n".join(lines)
