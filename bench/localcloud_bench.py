"""Benchmarks of the local cloud's Lambda side, measured in one run against a fresh LocalCloud.

run() -> [{"name", "value", "unit", "goal"}], side by side for one trivial handler:
- warm Lambda Invoke over HTTP (a keep-alive client: the emulator's own cost), through
  boto3's Invoke (adds botocore's client cost), the in-process relay to the warm worker
  (`cloud.invoke_function`, no HTTP) and an in-process call of the handler (the floor);
- cold vs. warm invoke (a configuration change forces a new execution environment);
- S3 PUT latency with vs. without a Lambda notification configured (interleaved);
- durable state (`state_rows`): `localcloud up` restoring a walkthrough-sized state
  (subprocess, as a student runs it), and what state-keeping adds to a mutating call and
  to a warm invoke (the same cloud's request path with and without the state layers,
  interleaved batches over HTTP, plus the layers alone in-process).
- IAM enforce vs. off (interleaved, one cloud): warm invoke by the operator, warm invoke by
  a role session (a full policy evaluation), and an API Gateway request (the function's
  resource policy checked for apigateway.amazonaws.com) (`iam_rows`).
- request validation on vs. off (interleaved, one cloud; `validation_rows`): a warm invoke,
  an S3 PUT, an SSM GetParameter and an IAM GetRole over HTTP, and the checks alone.
The API Gateway rows are in bench/apigw_bench.py, the predict rows in bench/predict_bench.py.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import statistics
import sys
import time
import uuid

from bench._timing import pct as _pct, time_ms as _time_ms

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
P = "localcloud: "


def _row(name: str, value: float, unit: str = "ms", goal: str = "") -> dict:
    return {"name": P + name, "value": round(value, 3), "unit": unit, "goal": goal}


def _p50_p99(label: str, samples: list[float], goal: str = "") -> list[dict]:
    return [_row(f"{label} p50", statistics.median(samples), goal=goal),
            _row(f"{label} p99", _pct(samples, 0.99))]


def run(n: int = 300, n_cold: int = 10) -> list[dict]:
    import boto3

    from localcloud import LocalCloud, active_cloud
    from localcloud.testing import lambda_role, use_cloud, zip_bytes

    rows: list[dict] = []
    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    use_cloud(cloud)
    try:
        kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        lam, iam, s3 = (boto3.client(x, **kw) for x in ("lambda", "iam", "s3"))
        name = f"bench-{uuid.uuid4().hex[:6]}"
        arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=lambda_role(iam),
                                  Handler="handler.handler",
                                  Code={"ZipFile": zip_bytes({"handler.py": HANDLER})})["FunctionArn"]
        lam.invoke(FunctionName=name, Payload=b"{}")  # warm it up

        conn = http.client.HTTPConnection("127.0.0.1", cloud.port)
        path = f"/2015-03-31/functions/{name}/invocations"
        headers = _operator_headers(cloud, "POST", path, b"{}")

        def http_invoke():
            conn.request("POST", path, body=b"{}", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and body == b'{"ok":true}', (resp.status, body)

        def boto3_invoke():
            lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()

        def relay():
            res = cloud.invoke_function(arn, b"{}")
            assert res.payload == b'{"ok":true}', res

        namespace: dict = {}
        exec(compile(HANDLER, "handler.py", "exec"), namespace)
        handler = namespace["handler"]

        def in_process():  # what the worker does per invoke: parse, call, serialise
            json.dumps(handler(json.loads("{}"), None), separators=(",", ":"))

        for fn in (http_invoke, boto3_invoke, relay):
            _time_ms(fn, 20)
        http_ms, boto_ms, relay_ms, local_ms = (_time_ms(f, n) for f in
                                                (http_invoke, boto3_invoke, relay, in_process))
        conn.close()
        rows += _p50_p99("warm Lambda Invoke over HTTP (keep-alive)", http_ms, "<= 2 ms")
        rows += _p50_p99("warm Lambda Invoke via boto3 (+ botocore)", boto_ms)
        rows += _p50_p99("warm relay to the worker in-process (no HTTP)", relay_ms)
        rows += _p50_p99("in-process handler call (the floor)", local_ms)

        # Cold vs. warm: a configuration change forces a new execution environment.
        cold = []
        for i in range(n_cold):
            lam.update_function_configuration(FunctionName=name,
                                              Environment={"Variables": {"ROUND": str(i)}})
            t0 = time.perf_counter()
            boto3_invoke()
            cold.append((time.perf_counter() - t0) * 1000)
        warm = _time_ms(boto3_invoke, n_cold * 5)
        rows += [_row("cold invoke via boto3 p50 (new worker process)", statistics.median(cold)),
                 _row("warm invoke via boto3 p50 (same run)", statistics.median(warm))]

        # S3 PUT with vs. without a notification, interleaved.
        plain, notified = f"plain-{uuid.uuid4().hex[:6]}", f"notif-{uuid.uuid4().hex[:6]}"
        for b in (plain, notified):
            s3.create_bucket(Bucket=b)
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
        s3.put_bucket_notification_configuration(Bucket=notified, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn,
                                              "Events": ["s3:ObjectCreated:*"]}]})
        t_plain, t_notified = [], []
        for i in range(n):
            for bucket, out in ((plain, t_plain), (notified, t_notified)):
                t0 = time.perf_counter()
                s3.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
                out.append((time.perf_counter() - t0) * 1000)
        p_plain, p_notif = statistics.median(t_plain), statistics.median(t_notified)
        rows += [_row("S3 PUT p50 without notification (boto3)", p_plain),
                 _row("S3 PUT p50 with notification (boto3)", p_notif),
                 _row("S3 PUT added by notification (p50 diff)", p_notif - p_plain,
                      goal="<= 2 ms")]
        rows += auth_rows(cloud)
        rows += iam_rows(cloud, n)
        rows += validation_rows(cloud, n)
        lam.delete_function(FunctionName=name)
    finally:
        if own:
            cloud.stop()
    return rows + state_rows()


def _cli(home: str, port: int, *args: str) -> None:
    import subprocess

    env = {**os.environ, "LOCALCLOUD_HOME": home, "LOCALCLOUD_PORT": str(port)}
    subprocess.run([sys.executable, "-m", "localcloud.cli", *args], env=env, check=True,
                   capture_output=True, timeout=300)


def _walkthrough_state(home: str, port: int) -> dict:
    """A subprocess cloud holding what the walkthrough builds: the whole stack deployed and
    one training run (model, metrics, run record, logs, the stopped instance)."""
    import tempfile

    from mlpipe import clients, deploy, watch
    from mlpipe.config import load_settings
    from mlpipe.stack import Stack
    from model_code.dataset import write_split

    _cli(home, port, "up", "--detach")
    endpoint = f"http://127.0.0.1:{port}"
    settings = load_settings({"MLPIPE_TARGET": "local", "AWS_ENDPOINT_URL": endpoint,
                              "MLPIPE_STACK": "benchstate", "MLPIPE_READY_TIMEOUT": "60"})
    before = os.environ.get("LOCALCLOUD_HOME")
    os.environ["LOCALCLOUD_HOME"] = home  # where mlpipe finds this cloud's operator key
    try:
        clients.clear_cache()
        deploy.deploy(settings, part="all", progress=lambda m: None)
        split = write_split(tempfile.mkdtemp(), n_batches=8)
        watch.upload_and_wait(Stack.load(settings), split["batches"][:2], timeout=180,
                              progress=lambda m: None)
    finally:
        if before is None:
            os.environ.pop("LOCALCLOUD_HOME", None)
        else:
            os.environ["LOCALCLOUD_HOME"] = before
        clients.clear_cache()
    _cli(home, port, "down")
    meta = json.load(open(os.path.join(home, str(port), "state", "saved", "meta.json")))
    return meta


def _time_up(home: str, port: int, *extra: str) -> float:
    t0 = time.perf_counter()
    _cli(home, port, "up", "--detach", *extra)
    seconds = time.perf_counter() - t0
    _cli(home, port, "down")
    return seconds


def state_rows(n: int = 800, batches: int = 40, n_up: int = 3) -> list[dict]:
    import shutil
    import tempfile

    from localcloud import LocalCloud, active_cloud
    from localcloud.core.cloud import free_port

    rows: list[dict] = []
    # 1. `localcloud up` with the walkthrough's state restored, beside an empty one.
    home = tempfile.mkdtemp(prefix="bench-state-")
    port = free_port()
    try:
        try:
            meta = _walkthrough_state(home, port)
        except Exception:
            # the cloud's saved state and logs stay for a look (`localcloud logs` with this home)
            _cli(home, port, "down")
            kept = tempfile.mkdtemp(prefix="bench-state-failed-")
            shutil.copytree(home, kept, dirs_exist_ok=True)
            print(f"bench: the walkthrough's run failed; its cloud's home is kept in {kept}",
                  file=sys.stderr)
            raise
        restored = [_time_up(home, port) for _ in range(n_up)]
        fresh_home = tempfile.mkdtemp(prefix="bench-empty-")
        empty = [_time_up(fresh_home, port) for _ in range(n_up)]
        shutil.rmtree(fresh_home, ignore_errors=True)
        kinds = sum(meta["counts"].values())
        rows += [_row(f"`localcloud up` restoring the walkthrough's state ({kinds} resources, "
                      f"{meta['bytes'] / 1e6:.1f} MB + {meta['blobs']} blobs), median of {n_up}",
                      statistics.median(restored), "s", "<= 2 s"),
                 _row(f"`localcloud up` empty, median of {n_up}", statistics.median(empty), "s")]
    finally:
        shutil.rmtree(home, ignore_errors=True)

    # 2./3. the request path with and without the state layers, in one cloud, interleaved.
    if active_cloud() is not None:
        return rows
    state_dir = tempfile.mkdtemp(prefix="bench-state-cost-")
    cloud = LocalCloud(port=0, state_dir=state_dir, persist=True).start()
    try:
        import boto3

        from localcloud.testing import lambda_role, signed_headers, zip_bytes

        key = cloud._operator_key
        kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1",
                  aws_access_key_id=key.access_key_id,
                  aws_secret_access_key=key.secret_access_key, aws_session_token=None)
        lam, iam, s3 = (boto3.client(x, **kw) for x in ("lambda", "iam", "s3"))
        lam.create_function(FunctionName="bench-state", Runtime="python3.11",
                            Role=lambda_role(iam), Handler="handler.handler",
                            Code={"ZipFile": zip_bytes({"handler.py": HANDLER})})
        lam.invoke(FunctionName="bench-state", Payload=b"{}")
        s3.create_bucket(Bucket="bench-state")
        with_state = cloud._build_wsgi()
        keeping, cloud.state = cloud.state, None
        without_state = cloud._build_wsgi()
        cloud.state = keeping
        conn = http.client.HTTPConnection("127.0.0.1", cloud.port)
        inv_headers = _operator_headers(cloud, "POST",
                                        "/2015-03-31/functions/bench-state/invocations", b"{}")
        counter = iter(range(10 ** 9))
        put_headers = [signed_headers(key.access_key_id, key.secret_access_key, "PUT",
                                      f"{cloud.endpoint_url}/bench-state/k{i}", b"x" * 100,
                                      {"X-Amz-Content-SHA256": hashlib.sha256(b"x" * 100).hexdigest()},
                                      service="s3") for i in range(50)]

        def put():
            i = next(counter) % 50
            conn.request("PUT", f"/bench-state/k{i}", body=b"x" * 100, headers=put_headers[i])
            conn.getresponse().read()

        def invoke():
            conn.request("POST", "/2015-03-31/functions/bench-state/invocations", body=b"{}",
                         headers=inv_headers)
            conn.getresponse().read()

        samples: dict[tuple[str, bool], list[float]] = {}
        journal_off: list[float] = []
        for _ in range(batches):
            for on in (True, False):
                cloud._wsgi = with_state if on else without_state
                for label, fn in (("put", put), ("invoke", invoke)):
                    samples.setdefault((label, on), []).extend(_time_ms(fn, n // batches))
            # the same state-keeping with the journal off: the durable write's own cost
            cloud._wsgi = with_state
            cloud.state.journal_enabled = False
            journal_off.extend(_time_ms(put, n // batches))
            cloud.state.journal_enabled = True
        cloud._wsgi = with_state
        snaps = list(cloud.state.snapshot_seconds)
        appends = list(cloud.state.journal.seconds)

        def cost(label: str) -> tuple[float, float, float]:
            a = statistics.median(samples[(label, True)])
            b = statistics.median(samples[(label, False)])
            return a, b, a - b

        a, b, d = cost("put")
        rows += [_row("S3 PutObject p50 with state-keeping (HTTP keep-alive)", a),
                 _row("S3 PutObject p50 without state-keeping", b),
                 _row("state-keeping added to a mutating call (p50 diff)", d, goal="<= 1 ms")]
        durable = statistics.median(samples[("put", True)])
        rows += [_row("S3 PutObject p50, state-keeping with the journal off (snapshots only)",
                      statistics.median(journal_off)),
                 _row("the durable write (journal) added to a mutating call (p50 diff)",
                      durable - statistics.median(journal_off), goal="<= 0.5 ms")]
        if appends:
            rows.append(_row("journal capture + write() per mutating request, in-process p50",
                             statistics.median(appends) * 1000))
        a, b, d = cost("invoke")
        rows += [_row("warm Invoke p50 with state-keeping (HTTP keep-alive)", a),
                 _row("warm Invoke p50 without state-keeping", b),
                 _row("state-keeping added to a warm invoke (p50 diff)", d, goal="<= 0.1 ms")]
        # the state layers alone, in-process (mark + gate around a no-op app)
        noop = lambda environ, start_response: [b""]  # noqa: E731
        app = cloud.state.mark_middleware(cloud.state.gate_middleware(noop))
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/x/invocations",
                   "QUERY_STRING": "", "CONTENT_TYPE": "application/json"}
        layer = _time_ms(lambda: app(environ, None), 20000)
        rows.append(_row("state layers per request, in-process (mark + gate) p50",
                         statistics.median(layer), goal="<= 0.1 ms"))
        if snaps:
            rows.append(_row(f"background snapshot while under load, median of {len(snaps)}",
                             statistics.median(snaps) * 1000))
    finally:
        cloud.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    return rows


def _operator_headers(cloud, method: str, path: str, body: bytes) -> dict:
    from localcloud.testing import signed_headers
    key = cloud._operator_key
    return signed_headers(key.access_key_id, key.secret_access_key, method,
                          cloud.endpoint_url + path, body, {"Content-Type": "application/json"})


def _signed(cloud, method: str, path: str, body: bytes, headers: dict, service: str) -> dict:
    """`headers` signed for one request by the cloud's operator key (SigV4, `service`)."""
    from localcloud.testing import signed_headers
    key = cloud._operator_key
    return signed_headers(key.access_key_id, key.secret_access_key, method,
                          cloud.endpoint_url + path, body, headers, service=service)


def auth_rows(cloud, n: int = 3000) -> list[dict]:
    """Signature verification's cost, in-process: the auth middleware in front of an app that
    does nothing, on a signed Lambda Invoke (body hashed, signature checked), side by side
    with the same request to the app alone (the no-auth path)."""
    import io

    from localcloud.iam.auth import middleware_factory

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b""]

    wrapped = middleware_factory(app, cloud)
    body = json.dumps({"instances": [{"x": 1.0, "y": 2.0}]}).encode()
    path = "/2015-03-31/functions/bench-fn/invocations"
    headers = _operator_headers(cloud, "POST", path, body)
    template = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "REQUEST_URI": path,
                "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)), "wsgi.url_scheme": "http",
                "HTTP_HOST": f"127.0.0.1:{cloud.port}",
                "localcloud.raw_headers": [("Host", f"127.0.0.1:{cloud.port}"), *headers.items()]}
    for k, v in headers.items():
        template["HTTP_" + k.upper().replace("-", "_")] = v
    status: list = []

    def start(s, h, exc_info=None):
        status.append(s)

    def one(handler):
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(body)
        handler(environ, start)

    for h in (wrapped, app):
        _time_ms(lambda: one(h), 200)
    status.clear()
    on = _time_ms(lambda: one(wrapped), n)
    off = _time_ms(lambda: one(app), n)
    assert status and all(s == "200 OK" for s in status), status[:3]
    return [_row("SigV4 verification, signed Lambda Invoke in-process p50", statistics.median(on)),
            _row("same request, no auth (the app alone) p50", statistics.median(off)),
            _row("signature verification cost per request (p50 diff)",
                 statistics.median(on) - statistics.median(off), goal="<= 0.1 ms")]


def iam_rows(cloud, n: int = 300) -> list[dict]:
    """Enforcement's cost: the same requests with IAM enforce and off, interleaved."""
    import boto3

    from localcloud.testing import lambda_role, signed_headers, zip_bytes

    kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    lam, iam, apigw = (boto3.client(x, **kw) for x in ("lambda", "iam", "apigateway"))
    name = f"bench-iam-{uuid.uuid4().hex[:6]}"
    proxy = ("def handler(event, context):\n"
             "    return {'statusCode': 200, 'body': '{\"ok\":true}'}\n")
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=lambda_role(iam),
                              Handler="handler.handler",
                              Code={"ZipFile": zip_bytes({"handler.py": proxy})})["FunctionArn"]
    caller_arn = lambda_role(iam, "bench-iam-caller", [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn}])
    api = apigw.create_rest_api(name=name)["id"]
    root = [r for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="p")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="POST", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
    apigw.create_deployment(restApiId=api, stageName="prod")
    lam.add_permission(FunctionName=name, StatementId="api", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api}/*/POST/p")

    conn = http.client.HTTPConnection("127.0.0.1", cloud.port)
    invoke_path = f"/2015-03-31/functions/{name}/invocations"

    creds = cloud.iam.store.issue(caller_arn, "bench", "123456789012", "us-east-1")
    operator = _operator_headers(cloud, "POST", invoke_path, b"{}")
    role = signed_headers(creds.access_key_id, creds.secret_access_key, "POST",
                          cloud.endpoint_url + invoke_path, b"{}",
                          {"Content-Type": "application/json"}, token=creds.session_token)

    def request(method: str, path: str, headers: dict) -> None:
        conn.request(method, path, body=b"{}", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200 and b'ok' in body, (resp.status, body)

    calls = {
        "warm invoke (operator key)": lambda: request("POST", invoke_path, operator),
        "warm invoke (role session, policy evaluated)": lambda: request("POST", invoke_path, role),
        "API Gateway POST (Lambda permission checked)":
            lambda: request("POST", f"/restapis/{api}/prod/_user_request_/p", {}),
    }
    before = cloud.iam.mode
    rows: list[dict] = []
    try:
        for label, fn in calls.items():
            for mode in ("enforce", "off"):
                cloud.iam.mode = mode
                _time_ms(fn, 20)
            samples: dict[str, list[float]] = {"enforce": [], "off": []}
            for _ in range(n):
                for mode in ("enforce", "off"):
                    cloud.iam.mode = mode
                    samples[mode] += _time_ms(fn, 1)
            on, off = statistics.median(samples["enforce"]), statistics.median(samples["off"])
            rows += [_row(f"IAM {label} p50, enforce", on),
                     _row(f"IAM {label} p50, off", off),
                     _row(f"IAM {label}: enforce adds (p50 diff)", on - off, goal="<= 0.3 ms")]
    finally:
        cloud.iam.mode = before
        conn.close()
        lam.delete_function(FunctionName=name)
        apigw.delete_rest_api(restApiId=api)
    return rows


def validation_rows(cloud, n: int = 300) -> list[dict]:
    """What the validation layer (localcloud.validation) adds to a request: the same requests
    with it on and off, interleaved, over one keep-alive connection; plus the checks alone
    in-process (parse + compiled checks, no HTTP)."""
    import hashlib

    import boto3

    import localcloud.validation as validation
    from localcloud.testing import lambda_role, zip_bytes

    kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1")
    lam, iam, s3, ssm = (boto3.client(x, **kw) for x in ("lambda", "iam", "s3", "ssm"))
    name = f"bench-val-{uuid.uuid4().hex[:6]}"
    role_arn = lambda_role(iam)
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role_arn,
                        Handler="handler.handler",
                        Code={"ZipFile": zip_bytes({"handler.py": HANDLER})})
    lam.invoke(FunctionName=name, Payload=b"{}")
    bucket = f"bench-val-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    ssm.put_parameter(Name=f"/bench/{name}", Value="v", Type="String")
    conn = http.client.HTTPConnection("127.0.0.1", cloud.port)

    def auth(service: str, extra: dict | None = None) -> dict:
        # Signed below (per request: the signature covers the body), with the operator key.
        return {"_service": service, **(extra or {})}

    body_s3 = b"x" * 1024
    requests = {
        "warm invoke": ("POST", f"/2015-03-31/functions/{name}/invocations", b"{}",
                        auth("lambda", {"Content-Type": "application/json"})),
        "S3 PUT 1 KB": ("PUT", f"/{bucket}/k", body_s3,
                        auth("s3", {"x-amz-content-sha256": hashlib.sha256(body_s3).hexdigest()})),
        "SSM GetParameter": ("POST", "/", json.dumps({"Name": f"/bench/{name}"}).encode(),
                             auth("ssm", {"X-Amz-Target": "AmazonSSM.GetParameter",
                                          "Content-Type": "application/x-amz-json-1.1"})),
        "IAM GetRole": ("POST", "/", f"Action=GetRole&Version=2010-05-08&RoleName="
                                     f"{role_arn.rsplit('/', 1)[1]}".encode(),
                        auth("iam", {"Content-Type": "application/x-www-form-urlencoded"})),
    }

    for label, (method, path, body, headers) in list(requests.items()):
        unsigned = {k: v for k, v in headers.items() if k != "_service"}
        requests[label] = (method, path, body,
                           _signed(cloud, method, path, body, unsigned, headers["_service"]))

    def send(method: str, path: str, body: bytes, headers: dict) -> None:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, (resp.status, data[:300])

    rows: list[dict] = []
    before = validation.ENABLED
    try:
        for label, req in requests.items():
            for flag in (True, False):
                validation.ENABLED = flag
                _time_ms(lambda: send(*req), 20)
            samples: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(n):
                for flag in (True, False):
                    validation.ENABLED = flag
                    samples[flag] += _time_ms(lambda: send(*req), 1)
            on, off = statistics.median(samples[True]), statistics.median(samples[False])
            rows += [_row(f"validation {label} p50, on", on),
                     _row(f"validation {label} p50, off", off),
                     _row(f"validation {label}: on adds (p50 diff)", on - off, goal="<= 0.1 ms")]
            # the checks alone (what the layer runs per request, without HTTP)
            import io
            method, path, body, headers = req
            environ = {"REQUEST_METHOD": method, "PATH_INFO": path.split("?")[0],
                       "QUERY_STRING": path.partition("?")[2], "HTTP_HOST": "127.0.0.1",
                       "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
            for k, v in headers.items():
                key = k.upper().replace("-", "_")
                environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = v
            cred = ("testing", "us-east-1", environ["HTTP_AUTHORIZATION"].split("/")[3])
            alone = [validation.timed_check(environ, body, cred) * 1000 for _ in range(n)]
            rows.append(_row(f"validation {label}: the checks alone p50", statistics.median(alone)))
    finally:
        validation.ENABLED = before
        conn.close()
        lam.delete_function(FunctionName=name)
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.localcloud_bench [--iam | --auth | --validation]` (only those rows)."""
    args = sys.argv[1:] if argv is None else argv
    if "--validation" in args:
        from localcloud import LocalCloud
        from localcloud.testing import use_cloud
        with LocalCloud(port=0) as cloud:
            use_cloud(cloud)
            rows = validation_rows(cloud)
    elif "--iam" in args:
        from localcloud import LocalCloud
        from localcloud.testing import use_cloud
        with LocalCloud(port=0) as cloud:
            use_cloud(cloud)
            rows = iam_rows(cloud)
    elif "--auth" in args:
        from localcloud import LocalCloud
        with LocalCloud(port=0) as cloud:
            rows = auth_rows(cloud)
    else:
        rows = run()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['value']:>9.3f} {r['unit']:<3} {r['goal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
