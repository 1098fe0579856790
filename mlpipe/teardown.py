"""``mlpipe destroy``: remove everything the stack owns, whatever state a deploy left.

Resources are found by their names (docs/CONTRACTS.md) AND by the ``stack`` tag under the
stack's name prefix, so a half-finished deploy is cleaned up too. Only resources whose
name starts with ``<stack>-`` (and, when tagged, carry ``stack=<stack>``) are touched:
another stack in the same account is left alone.

Order, the diagram backwards: schedule -> notifications -> API (plans, keys, APIs) ->
functions -> their log groups -> layers -> instances (wait until terminated) -> the stack's
own VPC -> roles + instance profile -> failure queue -> buckets (every object version).
Each step runs even if an earlier one failed; the failures are reported together.
``verify_destroyed`` asks every resource module what of the stack is left.
"""
from __future__ import annotations

from typing import Callable

from . import api, buckets, functions, iam, instance, layers, logs, network, notifications, queues, schedule
from .clients import AWS_ERRORS, error_code
from .config import MlpipeError
from .stack import Stack

# (title, module) in teardown order; each module has ``delete(stack)`` and ``leftovers(stack)``.
STEPS = (
    ("schedule", schedule),
    ("notifications", notifications),
    ("API, key and usage plan", api),
    ("functions", functions),
    ("log groups", logs),
    ("layers", layers),
    ("instances", instance),
    ("network (the stack's own VPC)", network),
    ("roles and instance profile", iam),
    ("failure queue", queues),
    ("buckets", buckets),
)


def destroy(settings, progress: Callable = print) -> list:
    """The entry point (the CLI, notebooks): delete every resource of the stack of
    ``settings``; raise MlpipeError listing failures at the end."""
    stack = Stack.load(settings, progress=progress)
    reports: list = []
    errors: list = []
    extra_functions = functions.find_functions(stack)  # their log groups go too
    for title, module in STEPS:
        stack.say(title)
        try:
            out = logs.delete(stack, extra_functions) if module is logs else module.delete(stack)
        except (*AWS_ERRORS, MlpipeError) as exc:
            errors.append(f"{title}: {exc}")
            stack.say(f"  FAILED {title}: {exc}")
            continue
        for r in out:
            reports.append(r)
            if r.action != "absent":
                stack.say(f"  {r}")
    if errors:
        raise MlpipeError("destroy did not finish: " + " | ".join(errors)
                          + " (run `mlpipe destroy` again; each step is safe to repeat)")
    leftovers = leftovers_of(stack)
    if leftovers and all(x.startswith("log group ") for x in leftovers):
        # An invocation already running when its function was deleted (the reaper's schedule
        # fires every minute) finishes and writes its log group again, after the log step:
        # Lambda creates a group on a function's first write. Those groups go once more.
        stack.say("  a function's last invocation wrote its log group again: deleting it once more")
        reports += [r for r in logs.delete(stack, extra_functions) if r.action == "deleted"]
        leftovers = leftovers_of(stack)
    if leftovers:
        raise MlpipeError("destroy finished but these remain: " + ", ".join(leftovers))
    n = sum(r.action == "deleted" for r in reports)
    stack.say(f"destroyed: {n} resources deleted; nothing of stack {stack.names.stack} is left")
    return reports


def verify_destroyed(settings) -> list:
    """The entry point: what of the stack of ``settings`` still exists (``leftovers_of``)."""
    return leftovers_of(Stack.load(settings))


def leftovers_of(stack: Stack) -> list:
    """What of the stack still exists, as ``"kind name"`` strings (empty list: nothing).

    Asks every module for its kind: schedule rules, usage plans, API keys, REST APIs,
    functions, log groups, layers, instances, the VPC with its subnet, route table and
    internet gateway, roles, instance profiles, the failure queue, buckets."""
    left = []
    for title, module in STEPS:
        if module is not notifications:  # notifications live in the buckets' configuration
            try:
                left += module.leftovers(stack)
            except AWS_ERRORS as exc:  # unknown is not "nothing left"
                left.append(f"{title}: could not check ({error_code(exc) or exc})")
    return left
