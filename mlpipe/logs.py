"""CloudWatch Logs: the log group Lambda creates for each function (``/aws/lambda/<function>``).

Lambda makes the group on a function's first invocation, so it outlives the function:
``delete`` removes the group of every function name the stack has (all five, whether or not
the function still exists) and of any other function of the stack that ``functions``
finds. Groups are matched by exact name, never by a prefix another stack could share.
"""
from __future__ import annotations


from .clients import delete_if_present
from .names import FUNCTION_KEYS
from .report import Report


def group_names(stack, extra_functions=()) -> list:
    """The log group names the stack's functions write to."""
    fns = {stack.names.function(fn) for fn in FUNCTION_KEYS} | set(extra_functions)
    return sorted(f"/aws/lambda/{fn}" for fn in fns)


def find(stack, extra_functions=()) -> list:
    """The stack's log groups that exist."""
    logs = stack.client("logs")
    wanted = set(group_names(stack, extra_functions))
    found = []
    for group in sorted(wanted):
        page = logs.describe_log_groups(logGroupNamePrefix=group)
        if any(g["logGroupName"] == group for g in page.get("logGroups", [])):
            found.append(group)
    return found


def leftovers(stack) -> list:
    return [f"log group {g}" for g in find(stack)]


def delete_group(stack, group: str) -> Report:
    if not delete_if_present(stack.client("logs").delete_log_group, logGroupName=group):
        return Report("absent", "log group", group)
    return Report("deleted", "log group", group)


def delete(stack, extra_functions=()) -> list:
    out = [delete_group(stack, g) for g in find(stack, extra_functions)]
    return out or [Report("absent", "log group", f"/aws/lambda/{stack.names.stack}-*")]
