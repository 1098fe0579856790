"""API Gateway data plane benchmark: the same trivial handler, reached four ways, side by side.

run() -> [{"name", "value", "unit", "goal"}] with p50/p99 (ms) of:
- a warm POST through the API (`/restapis/{id}/production/_user_request_/predict`, x-api-key,
  usage plan, AWS_PROXY; a keep-alive HTTP client);
- a direct Lambda Invoke over HTTP (the same keep-alive client, moto's Invoke route);
- `cloud.invoke_function` in-process (the Lambda relay to the warm worker, no HTTP);
- an in-process call of the handler (the floor);
- the data plane's `handle()` called in-process (routing, key, usage plan, proxy event and
  response mapping, plus the relay);
plus the data plane's own cost (handle p50 - relay p50) and API p50 - direct Invoke p50.
Not part of the tests. Uses the LocalCloud already running in this process, else starts one.
"""
from __future__ import annotations

import http.client
import json
import statistics
import uuid
from urllib.parse import urlparse

from bench._timing import pct as _pct, time_ms as _time_ms

HANDLER = ("import json\n"
           "def handler(event, context):\n"
           "    return {'statusCode': 200, 'body': json.dumps({'ok': True})}\n")


def _rows(label: str, samples: list[float], goal50: str = "") -> list[dict]:
    label = "API: " + label
    return [{"name": f"{label} p50", "value": round(_pct(samples, 0.5), 3), "unit": "ms",
             "goal": goal50},
            {"name": f"{label} p99", "value": round(_pct(samples, 0.99), 3), "unit": "ms",
             "goal": ""}]


def run(n: int = 300) -> list[dict]:
    import boto3

    from localcloud import LocalCloud, active_cloud
    from localcloud.testing import lambda_role, zip_bytes

    cloud = active_cloud()
    own = cloud is None
    if own:
        cloud = LocalCloud(port=0).start()
    from localcloud.testing import use_cloud
    use_cloud(cloud)  # plain boto3 here signs with the cloud's operator key
    try:
        kw = dict(endpoint_url=cloud.endpoint_url, region_name="us-east-1")
        lam, iam, apigw = (boto3.client(s, **kw) for s in ("lambda", "iam", "apigateway"))
        name = f"apigw-bench-{uuid.uuid4().hex[:6]}"
        arn = lam.create_function(FunctionName=name, Runtime="python3.11",
                                  Role=lambda_role(iam), Handler="handler.handler",
                                  Code={"ZipFile": zip_bytes({"handler.py": HANDLER})},
                                  Timeout=10)["FunctionArn"]
        api = apigw.create_rest_api(name=name)["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        res = apigw.create_resource(restApiId=api, parentId=root, pathPart="predict")["id"]
        apigw.put_method(restApiId=api, resourceId=res, httpMethod="POST",
                         authorizationType="NONE", apiKeyRequired=True)
        apigw.put_integration(
            restApiId=api, resourceId=res, httpMethod="POST", type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations")
        apigw.create_deployment(restApiId=api, stageName="production")
        # as on AWS (and the local cloud enforces it), API Gateway needs the function's permission
        lam.add_permission(FunctionName=name, StatementId="apigateway",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                           SourceArn=f"arn:aws:execute-api:us-east-1:{arn.split(':')[4]}:{api}/*")
        key = apigw.create_api_key(name=name, enabled=True)
        plan = apigw.create_usage_plan(name=name, apiStages=[{"apiId": api, "stage": "production"}],
                                       throttle={"rateLimit": 10000, "burstLimit": 5000})["id"]
        apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")

        u = urlparse(cloud.endpoint_url)
        conn = http.client.HTTPConnection(u.hostname, u.port)
        body = json.dumps({"instances": [{"x": 1.0}]})
        api_path = f"/restapis/{api}/production/_user_request_/predict"
        api_headers = {"x-api-key": key["value"], "Content-Type": "application/json",
                       "Connection": "keep-alive"}
        inv_path = f"/2015-03-31/functions/{name}/invocations"
        from localcloud.testing import signed_headers
        operator = cloud._operator_key
        inv_headers = signed_headers(operator.access_key_id, operator.secret_access_key, "POST",
                                     cloud.endpoint_url + inv_path, body.encode(),
                                     {"Content-Type": "application/json",
                                      "Connection": "keep-alive"})

        def via_api() -> None:
            conn.request("POST", api_path, body=body, headers=api_headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"API answered {r.status}: {data[:200]!r}")

        def via_invoke() -> None:
            conn.request("POST", inv_path, body=body, headers=inv_headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError(f"Invoke answered {r.status}: {data[:200]!r}")

        payload = body.encode()
        from localcloud.apigateway.logic import proxy_event
        proxy_payload = json.dumps(proxy_event(
            method="POST", path="/predict", resource_path="/predict",
            headers=[("Content-Type", "application/json"), ("x-api-key", key["value"])],
            query_string="", path_params={}, stage_vars={}, body=payload, api_id=api,
            stage="production", account_id="123456789012", request_id=str(uuid.uuid4()),
            source_ip="127.0.0.1", api_key=key["value"])).encode()

        def via_relay() -> None:  # the same proxy event the data plane sends, by ARN
            cloud.invoke_function(arn, proxy_payload)

        namespace: dict = {}
        exec(compile(HANDLER, "handler.py", "exec"), namespace)
        handler = namespace["handler"]
        event = {"body": body}

        def in_process() -> None:
            handler(event, None)

        import io
        plane = cloud.apigateway

        def via_plane() -> None:  # the data plane's handle() in-process: no HTTP server
            environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
                       "CONTENT_LENGTH": str(len(payload)), "wsgi.input": io.BytesIO(payload),
                       "HTTP_X_API_KEY": key["value"], "REMOTE_ADDR": "127.0.0.1",
                       "QUERY_STRING": ""}
            status, _, data = plane.handle(environ, api, "production", "/predict")
            if status != 200:
                raise RuntimeError(f"data plane answered {status}: {data[:200]!r}")

        for fn in (via_api, via_invoke, via_relay, via_plane):  # warm the worker and the caches
            for _ in range(20):
                fn()
        api_ms = _time_ms(via_api, n)
        inv_ms = _time_ms(via_invoke, n)
        relay_ms = _time_ms(via_relay, n)
        local_ms = _time_ms(in_process, n)
        plane_ms = _time_ms(via_plane, n)
        conn.close()
        rows = (_rows("API Gateway POST (warm, keep-alive)", api_ms, "<= 2 ms")
                + _rows("direct Lambda Invoke over HTTP (warm)", inv_ms)
                + _rows("cloud.invoke_function in-process relay (warm)", relay_ms)
                + _rows("in-process handler call", local_ms)
                + _rows("data plane handle() in-process, incl. relay", plane_ms))
        rows.append({"name": "API: data plane's own cost (handle p50 - relay p50)",
                     "value": round(statistics.median(plane_ms) - statistics.median(relay_ms), 3),
                     "unit": "ms", "goal": "< 1 ms"})
        rows.append({"name": "API: API p50 - direct Invoke p50 (both over HTTP)",
                     "value": round(statistics.median(api_ms) - statistics.median(inv_ms), 3),
                     "unit": "ms", "goal": ""})
        lam.delete_function(FunctionName=name)
        return rows
    finally:
        if own:
            cloud.stop()


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']:<55} {row['value']:>9.3f} {row['unit']:<3} {row['goal']}")
