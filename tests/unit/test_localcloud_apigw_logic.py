"""Pure logic of the API Gateway data plane: routes, token bucket, quota windows, schema, proxy."""
import base64
import datetime as dt

import pytest

from localcloud.apigateway.logic import (
    MalformedProxyResponse, Route, RouteTable, TokenBucket, compile_schema,
    lambda_arn_from_uri, map_proxy_response, proxy_event, quota_window_start, schema_errors,
    wants_binary,
)

UTC = dt.timezone.utc


def table(*paths):
    return RouteTable([Route(path=p, segments=(), methods={"GET": p}) for p in paths])


def test_routes_prefer_literal_then_param_then_greedy():
    t = table("/", "/items", "/items/{id}", "/items/special", "/{proxy+}", "/a/{x}/b")
    assert t.match("/")[0].path == "/"
    assert t.match("/items/special")[0].path == "/items/special"
    route, params = t.match("/items/42")
    assert route.path == "/items/{id}" and params == {"id": "42"}
    route, params = t.match("/a/7/b")
    assert route.path == "/a/{x}/b" and params == {"x": "7"}
    route, params = t.match("/deep/er/path")
    assert route.path == "/{proxy+}" and params == {"proxy": "deep/er/path"}


def test_routes_without_a_greedy_fallback_miss():
    t = table("/predict", "/items/{id}")
    assert t.match("/nope") is None
    assert t.match("/items") is None
    assert t.match("/items/1/2") is None
    assert t.match("/predict/") [0].path == "/predict"  # trailing slash is the same resource


def test_token_bucket_burst_then_rate():
    now = [0.0]
    b = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [b.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert b.take() and not b.take()
    now[0] += 100  # never more than burst
    assert sum(b.take() for _ in range(10)) == 3


def test_token_bucket_zero_rate_zero_burst_refuses_all():
    b = TokenBucket(rate=0, burst=0, clock=lambda: 0.0)
    assert not b.take()
    with pytest.raises(ValueError):
        TokenBucket(rate=-1, burst=1)


def test_quota_windows():
    wed = dt.datetime(2025, 3, 5, 15, 30, tzinfo=UTC)  # a Wednesday
    assert quota_window_start(wed, "DAY") == dt.datetime(2025, 3, 5, tzinfo=UTC)
    assert quota_window_start(wed, "WEEK", 0) == dt.datetime(2025, 3, 2, tzinfo=UTC)  # Sunday
    assert quota_window_start(wed, "WEEK", 1) == dt.datetime(2025, 3, 3, tzinfo=UTC)  # Monday
    assert quota_window_start(wed, "WEEK", 4) == dt.datetime(2025, 2, 27, tzinfo=UTC)  # Thursday before
    assert quota_window_start(wed, "MONTH", 0) == dt.datetime(2025, 3, 1, tzinfo=UTC)
    assert quota_window_start(wed, "MONTH", 9) == dt.datetime(2025, 2, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="DAY, WEEK or MONTH"):
        quota_window_start(wed, "YEAR")


SCHEMA = {
    "type": "object", "required": ["instances"], "additionalProperties": False,
    "properties": {
        "instances": {"type": "array", "minItems": 1, "maxItems": 2,
                      "items": {"type": "object", "additionalProperties": {"type": "number"}}},
        "mode": {"enum": ["fast", "slow"]},
        "n": {"type": "integer", "minimum": 1, "maximum": 5},
    },
}

GOOD = [{"instances": [{"a": 1.5}]}, {"instances": [{}, {"b": 2}], "mode": "fast", "n": 5}]
BAD = [None, [], {"instances": []}, {"instances": [{}, {}, {}]}, {"instances": [1]},
       {"instances": [{"a": "x"}]}, {"instances": [{}], "extra": 1}, {"instances": [{}], "mode": "x"},
       {"instances": [{}], "n": 0}, {"instances": [{}], "n": 6}, {"instances": [{}], "n": 1.5},
       {"instances": [{"a": True}]}]


@pytest.mark.parametrize("use_jsonschema", [True, False])
def test_schema_checks_agree_with_or_without_jsonschema(use_jsonschema):
    check = compile_schema(SCHEMA, use_jsonschema=use_jsonschema)
    for doc in GOOD:
        assert check(doc) == [], doc
    for doc in BAD:
        assert check(doc), doc


def test_schema_errors_say_where():
    errs = schema_errors(SCHEMA, {"instances": [{"a": "x"}]})
    assert errs == ["$.instances[0].a: expected number"]


def test_proxy_event_shape():
    ev = proxy_event(method="POST", path="/items/1", resource_path="/items/{id}",
                     headers=[("X-A", "1"), ("X-A", "2")], query_string="q=1&q=2&r=",
                     path_params={"id": "1"}, stage_vars={}, body=b"\xff\x00", api_id="abc",
                     stage="prod", account_id="123456789012", request_id="rid",
                     source_ip="127.0.0.1", api_key="k", now=1700000000.5)
    assert ev["headers"] == {"X-A": "2"} and ev["multiValueHeaders"] == {"X-A": ["1", "2"]}
    assert ev["queryStringParameters"] == {"q": "2", "r": ""}
    assert ev["multiValueQueryStringParameters"] == {"q": ["1", "2"], "r": [""]}
    assert ev["isBase64Encoded"] and base64.b64decode(ev["body"]) == b"\xff\x00"
    assert ev["stageVariables"] is None and ev["pathParameters"] == {"id": "1"}
    ctx = ev["requestContext"]
    assert ctx["requestTimeEpoch"] == 1700000000500 and ctx["path"] == "/prod/items/1"
    assert ctx["identity"]["apiKey"] == "k" and ctx["resourcePath"] == "/items/{id}"
    assert ctx["identity"]["apiKeyId"] is None
    empty = proxy_event(method="GET", path="/", resource_path="/", headers=[], query_string="",
                        path_params={}, stage_vars={"v": "1"}, body=b"", api_id="a", stage="s",
                        account_id="1", request_id="r", source_ip="ip", api_key=None)
    assert empty["body"] is None and empty["headers"] is None and empty["stageVariables"] == {"v": "1"}
    assert "apiKey" not in empty["requestContext"]["identity"]  # AWS: only with a key required
    assert "apiKeyId" not in empty["requestContext"]["identity"]


def test_proxy_response_mapping():
    r = map_proxy_response({"statusCode": 201, "headers": {"A": "1", "Set-Cookie": "x"},
                            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": "hi"})
    assert r.status == 201 and r.body == b"hi"
    assert sorted(r.headers) == [("A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                 ("Set-Cookie", "x")]  # AWS merges both
    r = map_proxy_response({"statusCode": "200", "body": base64.b64encode(b"\x01").decode(),
                            "isBase64Encoded": True})
    assert r.status == 200 and r.body == b"\x01"
    assert r.for_accept("image/png", ["image/png"]) == b"\x01"
    assert r.for_accept("image/png", []) == base64.b64encode(b"\x01")
    bad = map_proxy_response({"statusCode": 200, "body": "!!", "isBase64Encoded": True})
    assert bad.for_accept(None, ["image/png"]) == b"!!"  # not converted: sent as it is
    with pytest.raises(ValueError):  # to be converted: AWS answers 500
        bad.for_accept("image/png", ["image/png"])


def test_proxy_response_defaults_and_header_merge_as_aws_recorded():
    assert map_proxy_response({}).status == 200
    r = map_proxy_response({"headers": {"test-header": "value"}, "body": None})
    assert (r.status, r.headers, r.body) == (200, [("test-header", "value")], b"")
    r = map_proxy_response({"statusCode": 200, "multiValueHeaders": {"tesT-Multi": ["m"]},
                            "headers": {"test-multi": "solo", "b": True}})
    assert r.headers == [("tesT-Multi", "m"), ("tesT-Multi", "solo"), ("b", "true")]


@pytest.mark.parametrize("accept,types,binary", [
    ("image/png", ["image/png", "*/test"], True),
    ("image/jpg", ["image/png"], False),
    ("image/*", ["image/png"], False),
    ("*/*", ["image/png"], False),
    ("*/test", ["*/test"], False),
    ("random/test", ["*/test"], False),
    ("text/html, image/png", ["image/png"], False),
    ("anything/x", ["*/*"], True),
    ("application/whatever", ["application/*"], True),
    ("application/*", ["application/*"], True),
    ("application", ["application/*"], False),
    (None, ["image/png"], False),
])
def test_binary_media_types_match_the_first_accept(accept, types, binary):
    assert wants_binary(accept, types) is binary


@pytest.mark.parametrize("doc", [
    "text", None, [], {"statusCode": "abc"}, {"statusCode": 200, "body": {"a": 1}},
    {"statusCode": 200, "extra": 1}, {"statusCode": 200, "headers": ["a"]},
    {"statusCode": 999},
    {"statusCode": 200, "isBase64Encoded": "yes"},
])
def test_malformed_proxy_responses(doc):
    with pytest.raises(MalformedProxyResponse):
        map_proxy_response(doc)


def test_lambda_arn_from_uri():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    assert lambda_arn_from_uri(uri) == arn
    uri2 = uri.replace(":f/", ":${stageVariables.fn}/")
    assert lambda_arn_from_uri(uri2, {"fn": "g"}).endswith(":function:g")
    with pytest.raises(ValueError):
        lambda_arn_from_uri("http://example.com")


def test_compiled_fast_path_agrees_with_jsonschema_on_valid_and_invalid_bodies():
    """The compiled validity test (fastjsonschema) decides only 'valid'; every refusal is still
    worded by jsonschema, so both paths must agree on what is valid."""
    from model_code.schema import FEATURE_NAMES, json_schema

    from localcloud.apigateway import logic

    schema = json_schema()
    fast = logic._fast_validator(schema)
    assert fast is not None
    check = logic.compile_schema(schema)
    row = {f: 1.0 for f in FEATURE_NAMES}
    good = {"instances": [dict(row) for _ in range(1000)]}
    assert fast(good) and check(good) == []
    for bad in ({"instances": []}, {"instances": [{**row, FEATURE_NAMES[0]: True}]},
                {"instances": [{**row, FEATURE_NAMES[0]: "1"}]}, {"rows": [row]},
                {"instances": [{k: v for k, v in row.items() if k != FEATURE_NAMES[1]}]}):
        assert not fast(bad) and check(bad), bad
