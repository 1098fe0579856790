"""``mlpipe deploy``: create what is missing, in the order of the architecture diagram.

glue (Part 1):
    buckets -> failure queue -> network (subnet, security group) -> EC2 role + instance profile
    -> training instance (bootstrapped, stopped) -> function roles (scoped to that instance)
    -> code archive + holdout -> trigger, worker, stop_ec2, reaper (+ async invoke configs:
    retries and the on-failure destination) -> S3 notifications -> reaper schedule
backend (Part 2):
    output bucket -> predict role -> layers -> a served model (seeded when none)
    -> predict function -> REST API, key, usage plan

Each step is one resource module's ``ensure`` and returns Reports, which are printed as
they come. Every step is idempotent: a second deploy finds everything and says "nothing
changed". ``plan=True`` only reads: each module's ``plan`` says what exists and what would
be created, and ``cost_lines`` what it would cost.
"""
from __future__ import annotations

from typing import Callable

from . import api, buckets, datasets, functions, iam, instance, layers, network, notifications, queues, registry, schedule
from .config import PUBLIC_IPV4_HOURLY_USD, MlpipeError, Settings
from .names import GLUE_FUNCTIONS, Names
from .report import Report, summarize
from .stack import Stack, as_stack

PARTS = ("glue", "backend", "all")


class _Steps:
    """Collects the reports of a deploy and prints each one as it comes."""

    def __init__(self, stack: Stack, print_: Callable):
        self.stack, self.print, self.reports = stack, print_, []

    def title(self, text: str) -> None:
        self.print(text)

    def details_stack(self) -> Stack:
        """The stack the steps run with: what a step says (waits, builds, retries) is indented
        under its title, like its reports, so only titles start a line."""
        return self.stack.with_progress(lambda line: self.print(f"  {line}"))

    def add(self, new):
        items = new if isinstance(new, list) else [new]
        for r in items:
            self.reports.append(r)
            self.print(f"  {r}")
        return new


def deploy_glue(stack, names: Names | None = None, progress: Callable | None = None, *,
                holdout_path: str | None = None) -> list:
    stack = as_stack(stack, names, progress)
    steps = _Steps(stack, stack.say)
    stack = steps.details_stack()
    steps.title("buckets")
    steps.add(buckets.ensure(stack))
    steps.title("failure queue (on-failure destination of the asynchronous functions)")
    queue = steps.add(queues.ensure(stack))
    steps.title("network")
    subnet = steps.add(network.ensure(stack))[-1].details
    group = steps.add(network.ensure_security_group(stack, subnet["vpc_id"]))
    steps.title("instance role and profile")
    steps.add(iam.ensure_roles(stack, keys=("ec2",)))
    steps.add(iam.ensure_instance_profile(stack))
    steps.title("training instance")
    instance_id = steps.add(instance.ensure(
        stack, subnet["subnet_id"], security_group_id=group.details["group_id"],
        alternates=subnet.get("alternates", ())))[-1].details["instance_id"]
    steps.title("function roles")
    role_reports = steps.add(iam.ensure_roles(stack, instance_id=instance_id, keys=GLUE_FUNCTIONS))
    role_arns = {k: r.arn for k, r in zip(GLUE_FUNCTIONS, role_reports)}
    steps.title("code archive and holdout")
    steps.add(buckets.upload_code_archive(stack))
    steps.add(datasets.ensure_dataset_file(stack))
    steps.add(buckets.ensure_holdout(stack, None, holdout_path))
    steps.title("functions")
    for fn in GLUE_FUNCTIONS:
        steps.add(functions.ensure(stack, fn, role_arns[fn], instance_id=instance_id))
    for fn in functions.ASYNC_FUNCTIONS:  # trigger, worker, stop_ec2
        steps.add(functions.ensure_async_config(stack, fn, queue.arn))
    steps.title("notifications")
    steps.add(notifications.ensure(stack))
    steps.title("reaper schedule")
    steps.add(schedule.ensure(stack))
    return steps.reports


def deploy_backend(stack, names: Names | None = None, progress: Callable | None = None, *,
                   layer_arns=None) -> list:
    """Part 2. ``layer_arns`` skips building and publishing the layers (tests)."""
    stack = as_stack(stack, names, progress)
    steps = _Steps(stack, stack.say)
    stack = steps.details_stack()
    steps.title("output bucket (the models live there)")
    steps.add(buckets.ensure_bucket(stack, None, stack.names.output_bucket, versioned=True))
    steps.title("predict role")
    role = steps.add(iam.ensure_roles(stack, keys=("predict",)))[0].arn
    steps.title("layers")
    if layer_arns is None:
        layer_arns = [r.arn for r in steps.add(layers.ensure(stack)) if r.arn]
    steps.title("model")
    steps.add(registry.seed_model_if_missing(stack))
    steps.title("predict function")
    fn = steps.add(functions.ensure(stack, "predict", role, layers=tuple(layer_arns)))
    steps.title("REST API, key, usage plan")
    steps.add(api.ensure(stack, fn.arn))
    return steps.reports


# The notebooks' name for Part 2 (notebook 05).
ensure_backend = deploy_backend


def deploy(settings, part: str = "all", plan: bool = False, progress: Callable = print,
           *, names: Names | None = None) -> list:
    """Deploy ``part`` of the stack (or, with ``plan``, only say what would be created)."""
    if part not in PARTS:
        raise MlpipeError(f"--part {part!r}: choose one of {', '.join(PARTS)}")
    stack = as_stack(settings, names, progress)
    if plan:
        return plan_deploy(stack, part=part)
    reports: list = []
    if part in ("glue", "all"):
        reports += deploy_glue(stack)
    if part in ("backend", "all"):
        reports += deploy_backend(stack)
    stack.say(summarize(reports))
    return reports


# --- plan -------------------------------------------------------------------------------

def plan_deploy(stack, names: Names | None = None, part: str = "all", progress: Callable | None = None) -> list:
    """What ``deploy`` would create, read-only, with an hourly cost estimate."""
    stack = as_stack(stack, names, progress)
    reports: list = []
    if part in ("glue", "all"):
        reports += buckets.plan(stack)
        reports += queues.plan(stack)
        reports += network.plan(stack)
        reports += iam.plan(stack, keys=("ec2", *GLUE_FUNCTIONS))
        reports += instance.plan(stack)
        reports += functions.plan(stack, GLUE_FUNCTIONS)
        reports += notifications.plan(stack)
        reports += schedule.plan(stack)
    if part in ("backend", "all"):
        if part == "backend":
            reports += [r for r in buckets.plan(stack) if r.name == stack.names.output_bucket]
        reports += iam.plan(stack, keys=("predict",))
        reports += layers.plan(stack)
        reports += registry.plan(stack)
        reports += functions.plan(stack, ("predict",))
        reports += api.plan(stack)
    reports = [r if r.action in ("found", "planned") else Report("found", r.kind, r.name) for r in reports]
    for r in reports:
        stack.say(f"  {'would create' if r.action == 'planned' else 'exists      '} {r.kind:<16} {r.name}")
    for line in cost_lines(stack.settings):
        stack.say(line)
    n = sum(r.action == "planned" for r in reports)
    stack.say(f"plan: {n} to create, {len(reports) - n} already in place; nothing was created")
    return reports


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


__all__ = ["deploy", "plan_deploy", "deploy_glue", "deploy_backend", "ensure_backend", "cost_lines", "PARTS"]
