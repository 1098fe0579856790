"""The Lambda client-errors middleware turns only real HTML error pages into JSON: moto labels
many of its JSON error bodies text/html, and those must reach the client unchanged (the
error code and message a boto3 caller reads)."""
from __future__ import annotations

import json

from localcloud.awslambda.client_errors import client_errors_middleware, looks_like_html


def _call(status: str, headers: list, body: bytes, path: str = "/") -> tuple[str, dict, bytes]:
    def app(environ, start_response):
        start_response(status, headers)
        return [body]

    got: dict = {}

    def start_response(st, hdrs, exc_info=None):
        got["status"], got["headers"] = st, dict(hdrs)

    out = b"".join(client_errors_middleware(app)({"PATH_INFO": path, "REQUEST_METHOD": "POST"},
                                                start_response))
    return got["status"], got["headers"], out


def test_json_error_labelled_html_passes_unchanged():
    body = b'{"__type": "ResourceNotFoundException", "message": "Rule unknown does not exist."}'
    status, headers, out = _call("400 BAD REQUEST",
                                 [("Content-Type", "text/html; charset=utf-8")], body)
    assert status == "400 BAD REQUEST"
    assert out == body
    assert json.loads(out)["message"] == "Rule unknown does not exist."


def test_lambda_error_with_its_error_type_header_passes_unchanged():
    body = b'{"Type": "User", "Message": "The resource you requested does not exist."}'
    status, headers, out = _call("404 NOT FOUND", [("Content-Type", "text/html; charset=utf-8"),
                                                   ("x-amzn-ErrorType",
                                                    "ResourceNotFoundException")], body)
    assert out == body
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


def test_html_error_page_becomes_json():
    page = b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>"
    status, headers, out = _call("404 NOT FOUND",
                                 [("Content-Type", "text/html; charset=utf-8")], page)
    assert status == "404 NOT FOUND"
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(out) == {"Type": "User", "message": "NOT FOUND"}


def test_looks_like_html():
    assert looks_like_html(b"  <!DOCTYPE html><html></html>")
    assert looks_like_html(b"<html><body>x</body></html>")
    assert not looks_like_html(b'{"message": "x"}')
    assert not looks_like_html(b"<?xml version='1.0'?><ErrorResponse/>")
    assert not looks_like_html(b"")
