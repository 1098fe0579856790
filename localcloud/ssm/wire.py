"""SSM's answers on the wire for the calls the cloud serves itself (JSON 1.1): a document, or an
error as `{"__type": code, "message": ...}` (400)."""
from __future__ import annotations

import json
from typing import Callable


def answer(start_response: Callable, status: str, doc: dict) -> list[bytes]:
    body = json.dumps(doc).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.1"),
                            ("Content-Length", str(len(body)))])
    return [body]


def error(start_response: Callable, code: str, message: str) -> list[bytes]:
    return answer(start_response, "400 Bad Request", {"__type": code, "message": message})
