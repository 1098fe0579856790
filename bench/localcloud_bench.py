"""Benchmarks of the local cloud, measured in one run against a fresh LocalCloud.

run() -> [{"name", "value", "unit", "goal"}]:
- warm invoke through the HTTP API (a keep-alive HTTP client: the emulator's own cost),
  through boto3's Invoke (adds botocore's client cost), and an in-process call of the same
  trivial handler (the floor);
- cold vs. warm invoke;
- S3 PUT latency with vs. without a Lambda notification configured (side by side).
"""
from __future__ import annotations

import http.client
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _time_ms(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _row(name: str, value: float, unit: str = "ms", goal: str = "") -> dict:
    return {"name": name, "value": round(value, 3), "unit": unit, "goal": goal}


def run(n: int = 200, n_cold: int = 10) -> list[dict]:
    import boto3

    from localcloud import LocalCloud
    from localcloud.testing import lambda_role, zip_bytes

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(k, v)
    rows: list[dict] = []
    with LocalCloud() as cloud:
        kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        lam, iam, s3 = (boto3.client(x, **kw) for x in ("lambda", "iam", "s3"))
        role = lambda_role(iam)
        lam.create_function(FunctionName="bench", Runtime="python3.11", Role=role,
                            Handler="handler.handler",
                            Code={"ZipFile": zip_bytes({"handler.py": HANDLER})})
        lam.invoke(FunctionName="bench", Payload=b"{}")  # warm it up

        # Warm invoke through the HTTP API, keep-alive connection (what the goal measures).
        conn = http.client.HTTPConnection("127.0.0.1", cloud.port)
        headers = {"Content-Type": "application/json", "Authorization":
                   "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/lambda/aws4_request, "
                   "SignedHeaders=host, Signature=0"}

        def http_invoke():
            conn.request("POST", "/2015-03-31/functions/bench/invocations", body=b"{}",
                         headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and body == b'{"ok":true}', (resp.status, body)

        api = _time_ms(http_invoke, n)
        rows += [_row("warm invoke via HTTP API p50", statistics.median(api), goal="<= 2 ms"),
                 _row("warm invoke via HTTP API p99", _pct(api, 0.99))]

        b3 = _time_ms(lambda: lam.invoke(FunctionName="bench", Payload=b"{}")["Payload"].read(), n)
        rows += [_row("warm invoke via boto3 p50", statistics.median(b3),
                      goal="(HTTP API + botocore client cost)"),
                 _row("warm invoke via boto3 p99", _pct(b3, 0.99))]

        with tempfile.TemporaryDirectory() as d:
            Path(d, "bench_handler.py").write_text(HANDLER)
            spec = importlib.util.spec_from_file_location("bench_handler", Path(d, "bench_handler.py"))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            direct = _time_ms(lambda: json.dumps(mod.handler(json.loads("{}"), None)), n)
        rows += [_row("in-process handler call p50", statistics.median(direct),
                      goal="(floor)"),
                 _row("in-process handler call p99", _pct(direct, 0.99))]

        # Cold vs. warm: a configuration change forces a new execution environment.
        cold = []
        for i in range(n_cold):
            lam.update_function_configuration(FunctionName="bench",
                                              Environment={"Variables": {"I": str(i)}})
            t0 = time.perf_counter()
            lam.invoke(FunctionName="bench", Payload=b"{}")["Payload"].read()
            cold.append((time.perf_counter() - t0) * 1000)
        warm = _time_ms(lambda: lam.invoke(FunctionName="bench", Payload=b"{}")["Payload"].read(),
                        n_cold * 5)
        rows += [_row("cold invoke via boto3 p50", statistics.median(cold)),
                 _row("warm invoke via boto3 p50 (same run)", statistics.median(warm))]

        # S3 PUT with vs. without a notification, interleaved.
        plain, notified = f"plain-{uuid.uuid4().hex[:6]}", f"notif-{uuid.uuid4().hex[:6]}"
        for b in (plain, notified):
            s3.create_bucket(Bucket=b)
        lam.add_permission(FunctionName="bench", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
        fn_arn = lam.get_function(FunctionName="bench")["Configuration"]["FunctionArn"]
        s3.put_bucket_notification_configuration(Bucket=notified, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": fn_arn,
                                              "Events": ["s3:ObjectCreated:*"]}]})
        t_plain, t_notified = [], []
        for i in range(n):
            for bucket, out in ((plain, t_plain), (notified, t_notified)):
                t0 = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
                out.append((time.perf_counter() - t0) * 1000)
        p_plain, p_notif = statistics.median(t_plain), statistics.median(t_notified)
        rows += [_row("S3 PUT p50 without notification", p_plain),
                 _row("S3 PUT p50 with notification", p_notif),
                 _row("S3 PUT added by notification (p50 diff)", p_notif - p_plain,
                      goal="<= 2 ms")]
    return rows


def main() -> int:
    rows = run()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['value']:>9.3f} {r['unit']:<3} {r['goal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
