"""The deploy plan: the steps ``mlpipe deploy`` runs, listed before any of them runs.

As AWS Chalice's deployer does (``chalice/deploy/planner.py`` and ``executor.py``), deploy is
two halves. ``plan(stack, part)`` lists the steps in the order of the architecture diagram,
one per resource: its kind, its name, whether it exists (read-only calls, the same finders
the resource modules use), the API calls that create it, and the ``ensure`` that does. An
executor, ``execute(stack, steps)``, runs those steps in order; values a later step needs
(the subnet, the instance id, the roles' ARNs, the queue's ARN, the layers' ARNs, the
function's ARN, the API's id) pass between them through one dict of variables, the way
Chalice's executor resolves ``Variable``s. ``mlpipe deploy --plan`` prints the plan and stops;
``mlpipe deploy`` executes the same list of steps (without the read-only checks, which each
step's ``ensure`` makes anyway), so what the plan says cannot drift from what deploy creates (tests/unit/test_mlpipe_deploy.py: a plan on an empty account against the
reports of the deploy that follows).

``exists`` is what the step's ``ensure`` will find: a step that exists may still be updated
(a changed setting), one that does not is created.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import api, buckets, datasets, functions, iam, instance, layers, network, notifications, queues, registry, \
    schedule
from .clients import get_or_none
from .names import GLUE_FUNCTIONS
from .report import Report
from .stack import Stack

PARTS = ("glue", "backend", "all")

Vars = dict
Run = Callable[[Stack, Vars], list]


@dataclass
class Step:
    """One resource of the deploy: ``run(stack, vars)`` ensures it and returns its reports
    (the step's own report among them: ``kind``, and ``name`` unless AWS assigns the name);
    ``check(stack)`` says, read-only, whether it exists."""
    title: str
    kind: str
    name: str
    how: str
    check: Callable[[Stack], bool] = field(repr=False)
    run: Run = field(repr=False)
    named: bool = True          # False: AWS assigns the name (an internet gateway's id, the model's version)
    exists: Optional[bool] = None
    reports: list = field(default_factory=list, repr=False)  # what running it returned

    def row(self) -> dict:
        return {"kind": self.kind, "name": self.name, "exists": self.exists, "how": self.how}

    def own_report(self, reports: list) -> Optional[Report]:
        """The step's report among what ``run`` returned (the last of its kind and name)."""
        mine = [r for r in reports if r.kind == self.kind and (not self.named or r.name == self.name)]
        return mine[-1] if mine else None


def drift(steps: list) -> list:
    """After ``execute``: the steps whose run disagrees with the plan (a step planned for
    creation that reports no ``created`` of its kind and name, or an existing one that reports
    ``created``), as lines; empty when the plan said what deploy did."""
    out = []
    for step in steps:
        own = step.own_report(step.reports)
        if own is None:
            out.append(f"{step.kind} {step.name}: no report of its own ({[str(r) for r in step.reports]})")
        elif (own.action == "created") == bool(step.exists):
            out.append(f"{step.kind} {step.name}: planned {'exists' if step.exists else 'create'}, did {own.action}")
    return out


def _listify(out) -> list:
    return out if isinstance(out, list) else [out]


# --------------------------------------------------------------------------- the steps


def _bucket_steps(stack, bucket: str, title: str) -> Step:
    how = "CreateBucket, PutPublicAccessBlock, PutBucketEncryption, PutBucketVersioning, PutBucketTagging" + (
        ", PutBucketPolicy (TLS only)" if buckets.tls_policy_applies(stack.settings) else "")
    return Step(title, "s3 bucket", bucket, how, lambda s: buckets.bucket_exists(s, bucket),
                lambda s, v: [buckets.ensure_bucket(s, bucket, versioned=True)])


def _object_exists(stack, bucket: str, key: str) -> bool:
    return (buckets.bucket_exists(stack, bucket)
            and get_or_none(stack.client("s3").head_object, Bucket=bucket, Key=key) is not None)


def _network_steps(stack) -> list:
    """The subnet as the instance will get it: MLPIPE_SUBNET_ID, else the default VPC's
    subnet in an AZ that offers the type, else the stack's own VPC (created)."""
    names = stack.names

    def subnet(s, v):
        reports = network.ensure(s)
        v["subnet"] = reports[-1].details
        return reports

    steps = []
    if stack.settings.subnet_id:
        steps.append(Step("network", "subnet", stack.settings.subnet_id, "(given: MLPIPE_SUBNET_ID)",
                          lambda s: True, subnet))
    elif network.default_subnets(stack):
        usable = network.usable_default_subnets(stack)
        chosen = usable[0]["SubnetId"] if usable else "(none offers the instance type)"
        steps.append(Step("network", "subnet", chosen, "(the default VPC's)", lambda s: True, subnet))
    else:  # no default VPC: the stack's own, one step per resource
        def vpc(s, v):
            report = network.ensure_vpc(s)
            v["vpc_id"] = report.details["vpc_id"]
            return [report]

        def igw(s, v):
            report = network.ensure_internet_gateway(s, v["vpc_id"])
            v["igw_id"] = report.name
            return [report]

        def own_subnet(s, v):
            report = network.ensure_own_subnet(s, v["vpc_id"])
            v["subnet"] = report.details
            return [report]

        def vpc_part(kind):
            def exists(s):
                vpcs = network.find_vpcs(s)
                return bool(vpcs) and network.own_vpc_has(s, vpcs[0]["VpcId"], kind)
            return exists

        own = f"{names.vpc_name} (no default VPC)"
        steps += [
            Step("network", "vpc", names.vpc_name, "CreateVpc, ModifyVpcAttribute (DNS)",
                 lambda s: bool(network.find_vpcs(s)), vpc),
            Step("network", "internet gateway", own, "CreateInternetGateway, AttachInternetGateway",
                 vpc_part("internet gateway"), igw, named=False),
            Step("network", "subnet", own, "CreateSubnet (an AZ that offers the instance type), "
                 "ModifySubnetAttribute (public IPs)", vpc_part("subnet"), own_subnet, named=False),
            Step("network", "route table", own, "CreateRouteTable, CreateRoute (0.0.0.0/0), AssociateRouteTable",
                 vpc_part("route table"),
                 lambda s, v: [network.ensure_route_table(s, v["vpc_id"], v["igw_id"], v["subnet"]["subnet_id"])],
                 named=False),
        ]

    def group(s, v):
        report = network.ensure_security_group(s, v["subnet"]["vpc_id"])
        v["group_id"] = report.details["group_id"]
        return [report]

    steps.append(Step("network", "security group", names.security_group,
                      "CreateSecurityGroup, RevokeSecurityGroupEgress, AuthorizeSecurityGroupEgress (443 out only)",
                      lambda s: bool(network.find_security_groups(s)), group))
    return steps


def _role_step(stack, key: str, title: str, *, scoped: bool = False) -> Step:
    role = stack.names.role(key)

    def run(s, v):
        report = iam.ensure_roles(s, keys=(key,), instance_id=v.get("instance_id") if scoped else None)[0]
        v[f"role:{key}"] = report.arn
        return [report]

    return Step(title, "iam role", role, "CreateRole, PutRolePolicy (least privilege), TagRole",
                lambda s: get_or_none(s.client("iam").get_role, RoleName=role) is not None, run)


def _instance_ready(stack) -> bool:
    found = instance.find_instance(stack)
    return bool(found) and instance._tags(found).get(instance.BOOTSTRAP_TAG[0]) == instance.BOOTSTRAP_TAG[1]


def _function_step(stack, fn: str, title: str) -> Step:
    name = stack.names.function(fn)

    def run(s, v):
        report = functions.ensure(s, fn, v[f"role:{fn}"], instance_id=v.get("instance_id"),
                                  layers=tuple(v.get("layers", ())) if fn == "predict" else ())
        v[f"function:{fn}"] = report.arn
        return [report]

    return Step(title, "lambda function", name, "CreateFunction (zip" + (", layers" if fn == "predict" else "")
                + "), TagResource", lambda s: functions.configuration(s, name) is not None, run)


def _dataset_file(stack, v) -> Report:
    report = datasets.ensure_dataset_file(stack)
    v["dataset_changed"] = report.action != "found"  # then the holdout is made again from it
    return report


def glue_steps(stack) -> list:
    names = stack.names
    steps = [_bucket_steps(stack, b, "buckets") for b in (names.input_bucket, names.output_bucket)]

    def queue(s, v):
        report = queues.ensure(s)
        v["queue_arn"] = report.arn
        return [report]

    steps.append(Step("failure queue (on-failure destination of the asynchronous functions)", "sqs queue",
                      names.failure_queue, "CreateQueue (SSE, 14-day retention)",
                      lambda s: queues.queue_url(s) is not None, queue))
    steps += _network_steps(stack)
    steps.append(_role_step(stack, "ec2", "instance role and profile"))
    steps.append(Step("instance role and profile", "instance profile", names.instance_profile,
                      "CreateInstanceProfile, AddRoleToInstanceProfile",
                      lambda s: get_or_none(s.client("iam").get_instance_profile,
                                            InstanceProfileName=names.instance_profile) is not None,
                      lambda s, v: [iam.ensure_instance_profile(s)]))

    def inst(s, v):
        reports = instance.ensure(s, v["subnet"]["subnet_id"], security_group_id=v["group_id"],
                                  alternates=v["subnet"].get("alternates", ()))
        v["instance_id"] = reports[-1].details["instance_id"]
        return reports

    steps.append(Step("training instance", "ec2 instance", names.instance_name,
                      f"RunInstances ({stack.settings.instance_type}), bootstrap, StopInstances",
                      _instance_ready, inst))
    steps += [_role_step(stack, fn, "function roles", scoped=True) for fn in GLUE_FUNCTIONS]
    code = f"s3://{names.input_bucket}/{names.code_key}"
    steps.append(Step("code archive and holdout", "code archive", code, "PutObject (model_code, ec2_scripts, "
                      "glue_contract)", lambda s: _object_exists(s, names.input_bucket, names.code_key),
                      lambda s, v: [buckets.upload_code_archive(s)]))
    from glue_contract import keys

    steps.append(Step("code archive and holdout", "dataset file", f"s3://{names.input_bucket}/{keys.DATASET_KEY}",
                      "PutObject (the dataset file)", lambda s: _object_exists(s, names.input_bucket, keys.DATASET_KEY),
                      lambda s, v: [_dataset_file(s, v)]))
    steps.append(Step("code archive and holdout", "holdout", f"s3://{names.input_bucket}/{names.holdout_key}",
                      "PutObject (the fixed holdout)", lambda s: _object_exists(s, names.input_bucket, names.holdout_key),
                      lambda s, v: [buckets.ensure_holdout(s, v.get("holdout_path"), remake=v.get("dataset_changed", False))]))
    steps += [_function_step(stack, fn, "functions") for fn in GLUE_FUNCTIONS]
    for fn in functions.ASYNC_FUNCTIONS:  # trigger, worker, stop_ec2
        name = names.function(fn)
        steps.append(Step("functions", "async invoke config", name,
                          "PutFunctionEventInvokeConfig (retries, on-failure destination)",
                          lambda s, name=name: get_or_none(s.client("lambda").get_function_event_invoke_config,
                                                           FunctionName=name) is not None,
                          lambda s, v, fn=fn: [functions.ensure_async_config(s, fn, v.get("queue_arn"))]))
    for bucket, fn in ((names.input_bucket, "trigger"), (names.output_bucket, "stop_ec2")):
        steps.append(Step("notifications", "s3 notification", f"{bucket} -> {names.function(fn)}",
                          "AddPermission, PutBucketNotificationConfiguration",
                          lambda s, bucket=bucket: notifications.is_wired(s, bucket),
                          lambda s, v, bucket=bucket, fn=fn: notifications.ensure_notification(s, bucket, fn)))
    steps.append(Step("reaper schedule", "schedule rule", names.reaper_rule,
                      f"PutRule ({schedule.SCHEDULE}), PutTargets, AddPermission",
                      lambda s: get_or_none(s.client("events").describe_rule, Name=names.reaper_rule) is not None,
                      lambda s, v: schedule.ensure(s)))
    return steps


def backend_steps(stack, *, with_output_bucket: bool = True, layer_arns=None) -> list:
    """Part 2. ``layer_arns`` given (tests): the layers are not built, those ARNs are used."""
    names = stack.names
    steps = [_bucket_steps(stack, names.output_bucket, "output bucket (the models live there)")] \
        if with_output_bucket else []
    steps.append(_role_step(stack, "predict", "predict role"))
    if layer_arns is None:
        def publish(s, v, layer):
            if "layer_reports" not in v:  # the layers are built and checked together (one size limit)
                v["layer_reports"] = layers.ensure(s)
                v["layers"] = [r.arn for r in v["layer_reports"] if r.arn]
            return [r for r in v["layer_reports"] if r.name == layer]

        for layer in names.layers:
            steps.append(Step("layers", "lambda layer", layer,
                              "build, check against AWS's limits, PublishLayerVersion when the content changed",
                              lambda s, layer=layer: layers.latest_version(s.client("lambda"), layer) is not None,
                              lambda s, v, layer=layer: publish(s, v, layer)))
    steps.append(Step("model", "model", "models/latest.json", "train on the bundled data, PutObject (v001)",
                      lambda s: buckets.bucket_exists(s, names.output_bucket) and registry.latest_pointer(s) is not None,
                      lambda s, v: [registry.seed_model_if_missing(s)], named=False))
    predict = _function_step(stack, "predict", "predict function")
    if layer_arns is not None:
        run = predict.run

        def with_given(s, v, run=run):
            v["layers"] = list(layer_arns)
            return run(s, v)

        predict.run = with_given
    steps.append(predict)

    def rest_api(s, v):
        reports = api.ensure_api(s, v["function:predict"])
        v["api_id"] = reports[0].arn
        return reports

    steps.append(Step("REST API, key, usage plan", "rest api", names.api_name,
                      "CreateRestApi, CreateResource, CreateRequestValidator, CreateModel, PutMethod, PutIntegration "
                      "(AWS_PROXY), PutGatewayResponse, AddPermission, CreateDeployment, CreateStage",
                      lambda s: api.find_api(s) is not None, rest_api))

    def key(s, v):
        report = api.ensure_api_key(s)
        v["api_key_id"] = report.arn
        return [report]

    steps.append(Step("REST API, key, usage plan", "api key", names.api_key_name, "CreateApiKey",
                      lambda s: api.find_api_key(s) is not None, key))

    def usage_plan(s, v):
        report = api.ensure_usage_plan(s, v["api_id"])
        v["usage_plan_id"] = report.arn
        return [report, api.ensure_usage_plan_key(s, report.arn, v["api_key_id"])]

    steps.append(Step("REST API, key, usage plan", "usage plan", names.usage_plan,
                      "CreateUsagePlan (throttle, quota, the stage), CreateUsagePlanKey",
                      lambda s: api.find_usage_plan(s) is not None, usage_plan))
    return steps


def steps_of(stack, part: str = "all", *, layer_arns=None) -> list:
    """The steps of ``part``, in order, not yet checked."""
    steps = []
    if part in ("glue", "all"):
        steps += glue_steps(stack)
    if part in ("backend", "all"):
        steps += backend_steps(stack, with_output_bucket=part == "backend", layer_arns=layer_arns)
    return steps


def plan(stack, part: str = "all", *, layer_arns=None) -> list:
    """The steps of ``part``, each with ``exists`` (read-only: nothing is created)."""
    steps = steps_of(stack, part, layer_arns=layer_arns)
    for step in steps:
        step.exists = bool(step.check(stack))
    return steps


def plan_reports(steps: list) -> list:
    """The plan as Reports: ``found`` for what exists, ``planned`` for what would be created."""
    return [Report("found" if s.exists else "planned", s.kind, s.name, details={"how": s.how}) for s in steps]


# --------------------------------------------------------------------------- the executor


def execute(stack, steps: list, *, say: Callable[[str], None] = None, variables: Optional[Vars] = None) -> list:
    """Run ``steps`` in order; print each group's title once and every report as it comes.
    What a step says while it runs (waits, builds, retries) is indented under its title."""
    say = say or stack.say
    inner = stack.with_progress(lambda line: say(f"  {line}"))
    v: Vars = {} if variables is None else variables
    reports, title = [], None
    for step in steps:
        if step.title != title:
            title = step.title
            say(title)
        step.reports = _listify(step.run(inner, v))
        for r in step.reports:
            reports.append(r)
            say(f"  {r}")
    return reports
