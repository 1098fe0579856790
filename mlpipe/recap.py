"""What you built: each resource of the stack, what it is for, what it costs on AWS, and the
line of ``mlpipe`` that creates it (notebook 99's closing table).

The lines are found in the source, not written down: ``recap()`` looks up the boto3 call in
each module, so the table follows the code when it moves.
"""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (resource, notebook, purpose, cost on AWS at class scale, module, the call that creates it)
RESOURCES = [
    ("S3 input bucket", "02", "data arrives under data/*.csv and fires training; holds the holdout and the code",
     "$0.023/GB-month: a few hundred KB", "buckets", "s3.create_bucket("),
    ("S3 output bucket", "02", "models, metrics, run records (versioned); models/latest.json names the served model",
     "$0.023/GB-month: a few MB", "buckets", "s3.create_bucket("),
    ("Lambda layers (python packages, model code)", "03", "numpy and the export loader under /opt for the predict function",
     "free (counts against 75 GB of code storage: ~15 MB)", "layers", "lam.publish_layer_version("),
    ("IAM roles + inline policies", "04", "one least-privilege role per function and one for the instance",
     "free", "iam", "iam.create_role("),
    ("instance profile", "04", "hands the instance its role", "free", "iam", "iam.create_instance_profile("),
    ("EC2 instance (t3.small)", "04", "trains on every upload, stopped otherwise",
     "$0.0208/h while training + $0.005/h IPv4; stopped: 8 GB gp3 ~$0.64/month", "instance", "ec2.run_instances("),
    ("Lambda functions (trigger, worker, stop_ec2, reaper, predict)", "04, 05",
     "the glue (start, command, stop, clean up) and the model's HTTP backend",
     "free tier: 1M requests + 400,000 GB-s a month", "functions", "lam.create_function,"),
    ("S3 event notifications", "04", "data/*.csv -> trigger, runs/*.json -> stop_ec2", "free",
     "notifications", "s3.put_bucket_notification_configuration("),
    ("EventBridge schedule", "04", "runs the reaper every minute (stops a forgotten instance)",
     "free (~43,000 invocations a month)", "schedule", "events.put_rule("),
    ("SQS failure queue", "04", "asynchronous invocations that failed for good", "free tier: 1M requests",
     "queues", "sqs.create_queue("),
    ("Lambda permissions", "04, 05", "S3, EventBridge and API Gateway may invoke exactly their function", "free",
     "functions", "lam.add_permission("),
    ("REST API (POST /predict)", "05", "the HTTP front door: key, validator, AWS_PROXY to predict",
     "$3.50 per million requests", "api", ".create_rest_api("),
    ("stage production", "05", "the deployed snapshot clients call", "free", "api", "apigw.create_stage("),
    ("API key", "05", "identifies and meters a client (not authentication)", "free", "api", "apigw.create_api_key("),
    ("usage plan", "05", "throttle (rate, burst) and quota per key", "free", "api", "apigw.create_usage_plan("),
    ("POST /predict-iam (AWS_IAM)", "05", "the same model for SigV4-signed callers allowed execute-api:Invoke",
     "$3.50 per million requests", "access", "apigw.put_method("),
]


def creating_line(module: str, call: str) -> tuple:
    """(``mlpipe/<module>.py:<line>``, the line) of the first ``call`` in the module."""
    path = REPO / "mlpipe" / f"{module}.py"
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if call in line:
            return f"mlpipe/{module}.py:{n}", line.strip()
    raise LookupError(f"{call!r} is not in mlpipe/{module}.py: update mlpipe/recap.py")


def recap():
    """The table: resource, notebook, purpose, cost, where in mlpipe, the line of code."""
    import pandas as pd

    rows = []
    for resource, notebook, purpose, cost, module, call in RESOURCES:
        where, line = creating_line(module, call)
        rows.append({"resource": resource, "notebook": notebook, "purpose": purpose, "cost on AWS": cost,
                     "made by": where, "the line": line})
    return pd.DataFrame(rows).set_index("resource")
