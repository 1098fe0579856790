"""mlpipe.serving (the Part 2 notebooks' helpers) and the serving plots.

HTTP helpers run against a tiny real HTTP server in a thread that behaves like the API
(403 without a key, 400 for a bad body, 429 after a burst); tables against moto.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from moto import mock_aws

from mlpipe import clients, plots, serving, tables
from mlpipe.config import Settings
from mlpipe.names import Names
from mlpipe.stack import Stack
from model_code.schema import FEATURE_NAMES

KEY = "k" * 20
BURST = 3
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class FakeApi(BaseHTTPRequestHandler):
    admitted = 0

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status, payload, content_type="application/json"):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/text"):
            return self._send(502, "upstream broke", "text/plain")
        if self.headers.get("x-api-key") != KEY:
            return self._send(403, {"message": "Forbidden"})
        if self.path.endswith("/limited"):
            if FakeApi.admitted >= BURST:
                return self._send(429, {"message": "Too Many Requests"})
            FakeApi.admitted += 1
        try:
            doc = json.loads(body, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError as exc:
            return self._send(400, {"message": f"not valid JSON: {exc}"})
        rows = doc.get("instances")
        if not rows:
            return self._send(400, {"message": "instances is empty"})
        return self._send(200, {"predictions": [1] * len(rows), "probabilities": [0.9] * len(rows),
                                "model_version": "v001"})


@pytest.fixture
def api_url():
    FakeApi.admitted = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


ROW = {name: 1.0 for name in FEATURE_NAMES}


# --------------------------------------------------------------------------- requests


def test_post_predict_200_with_key(api_url):
    reply = serving.post_predict(api_url + "/predict", KEY, [ROW, ROW])
    assert reply.status == 200
    assert reply.body["predictions"] == [1, 1] and reply.body["model_version"] == "v001"
    assert 0 < reply.seconds < 5
    assert reply.message == ""


def test_post_predict_without_key_is_403_not_an_exception(api_url):
    reply = serving.post_predict(api_url + "/predict", None, [ROW])
    assert (reply.status, reply.message) == (403, "Forbidden")


def test_post_predict_sends_nan_as_a_careless_client_would(api_url):
    reply = serving.post_predict(api_url + "/predict", KEY, [{**ROW, "mean area": float("nan")}])
    assert reply.status == 400 and "NaN" in reply.message


def test_post_predict_raw_body_and_non_json_answer(api_url):
    assert serving.post_predict(api_url + "/predict", KEY, body="{not json").status == 400
    reply = serving.post_predict(api_url + "/text", KEY, [ROW])
    assert reply.status == 502 and reply.body == "upstream broke" and reply.message == "upstream broke"


def test_post_predict_refuses_unclear_calls():
    with pytest.raises(ValueError, match="deploy the backend"):
        serving.post_predict(None, KEY, [ROW])
    with pytest.raises(ValueError, match="nothing to send"):
        serving.post_predict("http://127.0.0.1:9/x", KEY)
    with pytest.raises(ValueError, match="not both"):
        serving.post_predict("http://127.0.0.1:9/x", KEY, [ROW], body="{}")


def test_probe_table_one_row_per_case(api_url):
    table = tables.probe_table(api_url + "/predict", KEY, {"ok": [ROW], "empty": [], "not json": "{"})
    assert list(table["case"]) == ["ok", "empty", "not json"]
    assert list(table["status"]) == [200, 400, 400]
    assert table.loc[1, "message"] == "instances is empty"


def test_burst_until_429_counts_the_200s_before_it(api_url):
    burst = serving.burst_until_429(api_url + "/limited", KEY, [ROW], max_requests=50)
    assert burst.statuses == [200] * BURST + [429]
    assert burst.ok_before_429 == BURST and burst.got_429
    assert burst.message == "Too Many Requests"
    assert f"{BURST} x 200, then 429" in burst.summary()


def test_burst_stops_at_another_error_and_at_max_requests(api_url):
    no_key = serving.burst_until_429(api_url + "/limited", None, [ROW])
    assert no_key.statuses == [403] and not no_key.got_429 and no_key.ok_before_429 == 0
    short = serving.burst_until_429(api_url + "/predict", KEY, [ROW], max_requests=4)
    assert short.statuses == [200] * 4 and "no 429" in short.summary()
    with pytest.raises(ValueError):
        serving.burst_until_429(api_url + "/predict", KEY, [ROW], max_requests=0)


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


def test_latency_sample_paces_under_the_plan_rate():
    clock = FakeClock()
    sent_at = []

    def send(url, key, instances, timeout):
        sent_at.append(clock.now)
        clock.now += 0.002
        status = 429 if len(sent_at) == 3 else 200
        return serving.Reply(status, {}, 0.002)

    sample = serving.latency_sample("u", KEY, [ROW], n=10, rate=5, headroom=0.8, clock=clock, sleep=clock.sleep,
                                    send=send)
    gaps = np.diff(sent_at)
    assert sent_at[0] == pytest.approx(0.25)  # one slot first: the bucket may be empty
    assert np.all(gaps >= 0.25 - 1e-9) and np.all(gaps <= 0.25 + 1e-9)
    assert sample.statuses == Counter({200: 9, 429: 1})
    assert len(sample.seconds) == 9  # only the 200s are latencies
    assert sample.percentile(50) == pytest.approx(0.002)
    assert "p50 2.0 ms" in sample.summary()


def test_latency_sample_without_rate_is_back_to_back_and_checks_args():
    clock = FakeClock()
    sample = serving.latency_sample("u", KEY, [ROW], n=5, rate=None, clock=clock, sleep=clock.sleep,
                                    send=lambda *a, **k: serving.Reply(200, {}, 0.001))
    assert clock.sleeps == [] and len(sample.seconds) == 5
    with pytest.raises(ValueError):
        serving.latency_sample("u", KEY, [ROW], n=0)
    with pytest.raises(ValueError):
        serving.latency_sample("u", KEY, [ROW], n=1, headroom=1.5)
    empty = serving.LatencySample([], Counter({429: 2}), 1.0)
    assert "no 200" in empty.summary()
    with pytest.raises(ValueError):
        empty.percentile(50)


# --------------------------------------------------------------------------- predictions vs truth


def test_instances_from_a_matrix():
    X = np.arange(60, dtype=float).reshape(2, 30)
    rows = serving.instances_from(X)
    assert len(rows) == 2 and list(rows[0]) == list(FEATURE_NAMES)
    assert rows[1]["mean radius"] == 30.0 and isinstance(rows[0]["worst fractal dimension"], float)
    with pytest.raises(ValueError, match="30 columns"):
        serving.instances_from(np.zeros((2, 29)))


def test_accuracy_and_confusion_table():
    y, p = [0, 0, 1, 1, 1], [0, 1, 1, 1, 0]
    assert tables.accuracy(y, p) == pytest.approx(0.6)
    table = tables.confusion_table(y, p)
    assert table.loc["true malignant (0)", "predicted malignant (0)"] == 1
    assert table.loc["true malignant (0)", "predicted benign (1)"] == 1
    assert table.loc["true benign (1)", "predicted malignant (0)"] == 1
    assert table.loc["true benign (1)", "predicted benign (1)"] == 2
    with pytest.raises(ValueError, match="as many"):
        tables.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="not one of"):
        tables.confusion_table([0, 2], [0, 1])


# --------------------------------------------------------------------------- layer builds


REPORT = {
    "artifacts": [
        {"name": "python-packages", "kind": "layer", "unzipped_bytes": 160 * 2**20, "zipped_bytes": 55 * 2**20},
        {"name": "model-code", "kind": "layer", "unzipped_bytes": 2**20 // 10, "zipped_bytes": 2**20 // 20},
        {"name": "function:predict", "kind": "function", "unzipped_bytes": 2**20 // 10, "zipped_bytes": 2**14},
    ],
    "total_unzipped_bytes": 160 * 2**20 + 2 * (2**20 // 10),
    "limits": {"max_unzipped_bytes": 250 * 2**20, "max_direct_upload_bytes": 50 * 2**20, "max_layers": 5},
}


def test_layer_sizes_table_marks_the_s3_upload_and_limits():
    table = tables.layer_sizes_table(REPORT)
    assert table.loc["python-packages", "upload"].startswith("via S3")
    assert table.loc["model-code", "upload"] == "direct"
    assert table.loc["total", "unzipped MiB"] == pytest.approx(160.2)
    assert table.loc["AWS limit", "unzipped MiB"] == 250.0 and table.loc["AWS limit", "zipped MiB"] == 50.0


def test_trim_table_biggest_first():
    class Artifact:
        trimmed = {"docs": {"files": 2, "bytes": 2**20}, "test-suites": {"files": 9, "bytes": 30 * 2**20}}

    table = tables.trim_table(Artifact())
    assert list(table.index) == ["test-suites", "docs"] and table.loc["test-suites", "MiB"] == 30.0
    assert tables.trim_table(object()).empty


def test_serving_plots_write_pngs(tmp_path):
    fig = plots.plot_layer_sizes(REPORT, path=tmp_path / "sizes.png")
    assert len(fig.axes) == 2
    lat = plots.plot_latency_histogram(np.full(40, 0.003), path=tmp_path / "lat.png")
    legend = [t.get_text() for t in lat.axes[0].get_legend().get_texts()]
    assert legend == ["p50 = 3.0 ms", "p99 = 3.0 ms"]
    for name in ("sizes.png", "lat.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    with pytest.raises(ValueError):
        plots.plot_latency_histogram([])
    with pytest.raises(ValueError):
        plots.plot_layer_sizes({**REPORT, "artifacts": []})


# --------------------------------------------------------------------------- the API as built (moto)


@pytest.fixture
def cloud(aws_credentials, monkeypatch):
    from moto.s3.models import FakeBucket
    from test_mlpipe_support import _tls_aware_get_permission

    monkeypatch.setattr(FakeBucket, "get_permission", _tls_aware_get_permission)
    clients.clear_cache()
    with mock_aws():
        settings = Settings(target="aws", region="us-east-1", endpoint_url=None, stack="servt",
                            throttle_rate_limit=7.0, throttle_burst_limit=3, quota_limit=500)
        names = Names.for_stack(settings, clients.account_id(settings))
        yield settings, names
    clients.clear_cache()


def _publish_layers(settings, names):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/placeholder.py", "")
    lam = clients.client("lambda", settings)
    return [lam.publish_layer_version(LayerName=n, Content={"ZipFile": buf.getvalue()}, Description=f"{n} test",
                                      CompatibleRuntimes=["python3.12"])["LayerVersionArn"]
            for n in names.layers]


def test_tables_before_deploy_say_what_to_run(cloud):
    settings, names = cloud
    with pytest.raises(LookupError, match="notebook 05"):
        tables.api_methods_table(Stack(settings, names))
    with pytest.raises(LookupError, match="notebook 05"):
        tables.usage_plan_table(Stack(settings, names))
    assert tables.layer_versions_table(Stack(settings, names)).empty


def test_tables_of_the_deployed_backend(cloud):
    from mlpipe import api
    from mlpipe.deploy import deploy_backend

    settings, names = cloud
    arns = _publish_layers(settings, names)
    _publish_layers(settings, names)  # a second version of each
    deploy_backend(Stack(settings, names), layer_arns=arns)

    methods = tables.api_methods_table(Stack(settings, names))
    assert len(methods) == 1
    row = methods.iloc[0]
    assert (row["path"], row["method"], row["integration"]) == ("/predict", "POST", "AWS_PROXY")
    assert row["apiKeyRequired"] is True or row["apiKeyRequired"] == True  # noqa: E712 (numpy bool)
    assert row["validator"] == api.VALIDATOR_NAME
    assert row["request model"] == f"application/json: {api.MODEL_NAME}"
    assert row["calls"] == names.predict_function

    plan = tables.usage_plan_table(Stack(settings, names))
    got = plan.loc[names.usage_plan]
    assert (got["rate limit (req/s)"], got["burst limit"], got["quota"], got["quota period"]) == (7.0, 3, 500, "DAY")
    assert got["keys"] == names.api_key_name and got["stages"].endswith("/production")

    versions = tables.layer_versions_table(Stack(settings, names), last=1)
    assert list(versions["layer"]) == list(names.layers)
    assert list(versions["version"]) == [2, 2]


def test_publish_table_from_layer_reports():
    from mlpipe.report import Report

    reports = [Report("created", "lambda layer", "s-python-packages", "arn:1",
                      {"version": 3, "unzipped_bytes": 160 * 2**20, "zipped_bytes": 55 * 2**20, "via_s3": True,
                       "sha256": "ab" * 32}),
               Report("found", "lambda layer", "s-model-code", "arn:2",
                      {"version": 1, "unzipped_bytes": 2**20, "zipped_bytes": 2**19, "via_s3": False, "sha256": "cd" * 32})]
    table = tables.publish_table(reports)
    assert list(table["action"]) == ["created", "found"] and list(table["version"]) == [3, 1]
    assert list(table["upload"]) == ["via S3", "direct"] and table.loc[0, "sha256"] == "ab" * 6
    assert table.loc[0, "zipped MiB"] == 55.0


def test_request_model_table_reads_the_deployed_model(cloud):
    from mlpipe.deploy import deploy_backend

    settings, names = cloud
    deploy_backend(Stack(settings, names), layer_arns=_publish_layers(settings, names))
    table = tables.request_model_table(Stack(settings, names))
    assert table.loc["body", "must be"] == "a JSON object with the field(s) instances"
    assert table.loc["instances", "must be"] == f"a JSON array of 1 to {settings.max_rows} rows"
    assert table.loc["each row", "must be"] == "a JSON object with 30 required features, and no other key"
    assert table.loc["each feature", "must be"].startswith("of type number")


def test_raw_body_writes_a_literal_value_in_one_cell():
    rows = [dict(ROW), dict(ROW)]
    body = serving.raw_body(rows, row=1, feature="mean area", raw="1e999")
    doc = json.loads(body)
    assert doc["instances"][1]["mean area"] == float("inf") and doc["instances"][0]["mean area"] == 1.0
    assert rows[1]["mean area"] == 1.0  # the caller's rows are not changed
    with pytest.raises(ValueError, match="row 2"):
        serving.raw_body(rows, row=2, feature="mean area", raw="1")
    with pytest.raises(ValueError, match="no feature"):
        serving.raw_body(rows, row=0, feature="mean radios", raw="1")


def test_burst_settles_first(api_url):
    waited = []
    burst = serving.burst_until_429(api_url + "/limited", KEY, [ROW], settle=2.0, sleep=waited.append)
    assert waited == [2.0] and burst.ok_before_429 == BURST
    with pytest.raises(ValueError, match="settle"):
        serving.burst_until_429(api_url + "/limited", KEY, [ROW], settle=-1)
