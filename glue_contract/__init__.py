"""The shared contract of the code that runs in AWS Lambda (trigger, worker, stop_ec2, reaper)
and on the training instance (ec2_scripts): standard library only.

It is shipped at the root of every glue function's zip and of the code archive (the way
Chalice bundles ``chalicelib/``), and ``mlpipe.config`` reads its defaults from here, so
each rule below is written once:

- ``keys``: the buckets' key prefixes and names (``data/*.csv``, ``runs/<run_id>.json``, ...);
- ``runs``: run ids, the SSM command comment, active command statuses, run records;
- ``times``: ISO 8601 UTC with milliseconds, parsing AWS's timestamps;
- ``logs``: one structured JSON log line per event, with the Lambda request id;
- ``aws``: one boto3 client per service and process, the error code of a ClientError;
- ``defaults``: command timeout, idle grace, ready timeout, ...
"""
