"""``mlpipe deploy``: create what is missing, in the order of the architecture diagram.

glue (Part 1):
    buckets -> failure queue -> network (subnet, security group) -> EC2 role + instance profile
    -> training instance (bootstrapped, stopped) -> function roles (scoped to that instance)
    -> code archive + holdout -> trigger, worker, stop_ec2, reaper (+ async invoke configs:
    retries and the on-failure destination) -> S3 notifications -> reaper schedule
backend (Part 2):
    output bucket -> predict role -> layers -> a served model (seeded when none)
    -> predict function -> REST API, key, usage plan

The order lives in one place, ``mlpipe.planner``: it lists the steps (kind, name, whether
it exists, how it is created) and its executor runs them, each step one resource module's
``ensure``, printing the reports as they come. ``plan=True`` (``mlpipe deploy --plan``)
prints the same list and stops: nothing is created, and the plan cannot drift from what
deploy does. Every step is idempotent: a second deploy finds everything and says "nothing
changed". ``cost_lines`` says what it would cost.
"""
from __future__ import annotations

from typing import Callable

from . import planner
from .config import PUBLIC_IPV4_HOURLY_USD, MlpipeError, Settings
from .planner import PARTS
from .report import summarize
from .stack import Stack


def deploy_glue(stack: Stack, *, holdout_path: str | None = None) -> list:
    """Part 1: the planner's steps, executed (reports)."""
    return planner.execute(stack, planner.steps_of(stack, "glue"), variables={"holdout_path": holdout_path})


def deploy_backend(stack: Stack, *, layer_arns=None) -> list:
    """Part 2: the planner's steps, executed. ``layer_arns`` skips building and publishing the layers (tests)."""
    return planner.execute(stack, planner.steps_of(stack, "backend", layer_arns=layer_arns))


def deploy(settings: Settings, part: str = "all", plan: bool = False, progress: Callable = print) -> list:
    """The entry point (the CLI, notebooks): the stack of ``settings``, then ``part`` deployed,
    or, with ``plan``, only the plan printed (reports ``found``/``planned``)."""
    if part not in PARTS:
        raise MlpipeError(f"--part {part!r}: choose one of {', '.join(PARTS)}")
    stack = Stack.load(settings, progress=progress)
    if plan:
        return plan_deploy(stack, part=part)
    # The plan's steps without their read-only checks: each step's ensure finds what exists
    # itself, so checking first would make every read call twice.
    reports = planner.execute(stack, planner.steps_of(stack, part))
    stack.say(summarize(reports))
    return reports


def plan_deploy(stack: Stack, part: str = "all") -> list:
    """What ``deploy`` would create, read-only, with an hourly cost estimate: one line per
    step of the planner (exists / would create, kind, name, the calls that create it)."""
    steps = planner.plan(stack, part)
    for step in steps:
        verb = "exists      " if step.exists else "would create"
        stack.say(f"  {verb} {step.kind:<19} {step.name}" + ("" if step.exists else f"  ({step.how})"))
    for line in cost_lines(stack.settings):
        stack.say(line)
    n = sum(not s.exists for s in steps)
    stack.say(f"plan: {n} to create, {len(steps) - n} already in place; nothing was created")
    return planner.plan_reports(steps)


def cost_lines(settings: Settings) -> list:
    price = settings.instance_hourly_usd
    from .instance import BURSTABLE

    credits = (" with CPU credits 'standard' (throttled to the baseline, never billed for bursts)"
               if BURSTABLE.match(settings.instance_type) else "")
    inst = (f"${price:.4f}/h ({settings.instance_type} on-demand, us-east-1 price{credits}) only while training;"
            " stopped, it costs only its 8 GB gp3 volume (~$0.64/month)"
            if price else f"{settings.instance_type}: price unknown, see the EC2 pricing page")
    running = (f"  while training: ${price + PUBLIC_IPV4_HOURLY_USD:.4f}/h in all"
               if price else "  while training: the instance's price plus the public IPv4 address")
    return [
        "estimated cost (aws):",
        f"  training instance  {inst}",
        f"  public IPv4 address  ${PUBLIC_IPV4_HOURLY_USD:.3f}/h while the instance runs (AWS charges every "
        "public IPv4 address; none while it is stopped)",
        running,
        "  S3, SQS, Lambda, API Gateway, EventBridge, CloudWatch Logs: pennies a month at class scale",
        "  (the reaper's 1-minute schedule is ~43,000 short invocations a month, inside the free tier)",
    ]


__all__ = ["deploy", "plan_deploy", "deploy_glue", "deploy_backend", "cost_lines", "PARTS"]
