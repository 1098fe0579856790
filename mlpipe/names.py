"""Every resource name of the stack, derived from the stack name (docs/CONTRACTS.md).

Nothing else in mlpipe spells a resource name: it asks ``Names``. Every resource
also carries the tag ``stack=<stack>`` (``Names.tags``) so teardown can find what a
partial deploy left behind, and never touches another stack's resources.
"""
from __future__ import annotations

from dataclasses import dataclass

from glue_contract import keys as glue_keys

from .config import Settings

# Function keys (Python identifiers) and their name suffixes.
FUNCTION_KEYS = ("trigger", "worker", "stop_ec2", "reaper", "predict")
GLUE_FUNCTIONS = ("trigger", "worker", "stop_ec2", "reaper")

SSM_DOCUMENT = "AWS-RunShellScript"
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def partition_for(region: str) -> str:
    """The ARN partition of a region: ``aws-cn`` (China), ``aws-us-gov`` (GovCloud), else ``aws``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _suffix(fn: str) -> str:
    if fn not in FUNCTION_KEYS:
        raise ValueError(f"unknown function {fn!r}: expected one of {', '.join(FUNCTION_KEYS)}")
    return fn.replace("_", "-")


@dataclass(frozen=True)
class Names:
    stack: str
    account_id: str
    region: str
    partition: str = "aws"

    # Object keys (input bucket), as the functions and the instance use them (glue_contract).
    data_prefix: str = glue_keys.DATA_PREFIX
    data_suffix: str = glue_keys.DATA_SUFFIX
    holdout_key: str = glue_keys.HOLDOUT_KEY
    code_key: str = glue_keys.CODE_KEY
    rejected_prefix: str = glue_keys.REJECTED_PREFIX
    # Object keys (output bucket).
    models_prefix: str = glue_keys.MODELS_PREFIX
    latest_key: str = glue_keys.LATEST_KEY
    runs_prefix: str = glue_keys.RUNS_PREFIX
    runs_suffix: str = glue_keys.RUN_SUFFIX
    # API (fixed parts).
    api_resource: str = "predict"
    api_stage: str = "production"

    @classmethod
    def for_stack(cls, settings: Settings, account_id: str) -> "Names":
        return cls(stack=settings.stack, account_id=str(account_id), region=settings.region,
                   partition=partition_for(settings.region))

    # --- tags -------------------------------------------------------------------------
    @property
    def tags(self) -> dict:
        return {"stack": self.stack}

    def tag_list(self, **extra) -> list:
        """Tags as ``[{"Key": ..., "Value": ...}]`` (EC2, IAM, S3 style)."""
        return [{"Key": k, "Value": v} for k, v in {**self.tags, **extra}.items()]

    # --- buckets ----------------------------------------------------------------------
    @property
    def input_bucket(self) -> str:
        return f"{self.stack}-input-{self.account_id}-{self.region}"

    @property
    def output_bucket(self) -> str:
        return f"{self.stack}-output-{self.account_id}-{self.region}"

    @property
    def buckets(self) -> tuple:
        return (self.input_bucket, self.output_bucket)

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"

    def objects_arn(self, bucket: str, prefix: str = "") -> str:
        return f"arn:{self.partition}:s3:::{bucket}/{prefix}*"

    # --- functions --------------------------------------------------------------------
    def function(self, fn: str) -> str:
        return f"{self.stack}-{_suffix(fn)}"

    def function_arn(self, fn: str) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:{self.function(fn)}"

    def role(self, fn: str) -> str:
        """Role of a function (``S-<fn>-role``) or ``ec2`` for the instance role."""
        if fn == "ec2":
            return f"{self.stack}-ec2-role"
        return f"{self.function(fn)}-role"

    def role_arn(self, fn: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.role(fn)}"

    @property
    def roles(self) -> tuple:
        return tuple(self.role(fn) for fn in (*FUNCTION_KEYS, "ec2"))

    @property
    def instance_profile(self) -> str:
        return f"{self.stack}-ec2-profile"

    def log_group(self, fn: str) -> str:
        return f"/aws/lambda/{self.function(fn)}"

    def log_group_arn(self, fn: str) -> str:
        return (f"arn:{self.partition}:logs:{self.region}:{self.account_id}:"
                f"log-group:{self.log_group(fn)}:*")

    @property
    def trigger_function(self) -> str:
        return self.function("trigger")

    @property
    def worker_function(self) -> str:
        return self.function("worker")

    @property
    def reaper_function(self) -> str:
        return self.function("reaper")

    @property
    def predict_function(self) -> str:
        return self.function("predict")

    @property
    def functions(self) -> dict:
        return {fn: self.function(fn) for fn in FUNCTION_KEYS}

    # --- layers -----------------------------------------------------------------------
    @property
    def python_layer(self) -> str:
        return f"{self.stack}-python-packages"

    @property
    def model_code_layer(self) -> str:
        return f"{self.stack}-model-code"

    @property
    def layers(self) -> tuple:
        return (self.python_layer, self.model_code_layer)

    # --- API --------------------------------------------------------------------------
    @property
    def api_name(self) -> str:
        return f"{self.stack}-api"

    @property
    def api_key_name(self) -> str:
        return f"{self.stack}-key"

    @property
    def usage_plan(self) -> str:
        return f"{self.stack}-plan"

    # --- network (only when the account has no default VPC) -----------------------------
    @property
    def vpc_name(self) -> str:
        return f"{self.stack}-vpc"

    # --- failed asynchronous invocations -----------------------------------------------
    @property
    def failure_queue(self) -> str:
        return f"{self.stack}-failures"

    @property
    def failure_queue_arn(self) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account_id}:{self.failure_queue}"

    # --- schedule, instance, SSM ------------------------------------------------------
    @property
    def reaper_rule(self) -> str:
        return f"{self.stack}-reaper-schedule"

    @property
    def reaper_rule_arn(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account_id}:rule/{self.reaper_rule}"

    @property
    def instance_name(self) -> str:
        return f"{self.stack}-trainer"

    def instance_arn(self, instance_id: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account_id}:instance/{instance_id}"

    @property
    def ssm_document_arn(self) -> str:
        # AWS-owned documents have an empty account field (arn:aws:ssm:R::document/...);
        # IAM's "*" matches it, and linters (parliament) reject the empty field, so policies
        # use "*". Only AWS can own a document named "AWS-...", so the scope is the same.
        return f"arn:{self.partition}:ssm:{self.region}:*:document/{SSM_DOCUMENT}"


def names_for(settings: Settings | None = None) -> Names:
    """``Names`` of the configured stack, with the account id asked of the target (cached)."""
    from .clients import account_id
    from .config import load_settings

    settings = settings or load_settings()
    return Names.for_stack(settings, account_id(settings))
