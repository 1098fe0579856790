"""`localcloud iam-report`: the running cloud's IAM denials, read through its control path."""
from __future__ import annotations

import json
import sys
import urllib.error

from ..core.operator import control_request
from .service import REPORT_PATH


def fetch_report(endpoint: str, timeout: float = 10.0) -> dict:
    with control_request(endpoint, REPORT_PATH, timeout=timeout) as resp:
        return json.loads(resp.read())


def clear_report(endpoint: str, timeout: float = 10.0) -> int:
    with control_request(endpoint, REPORT_PATH, "DELETE", timeout=timeout) as resp:
        return int(json.loads(resp.read()).get("cleared", 0))


def iam_report(endpoint: str, as_json: bool = False, clear: bool = False) -> int:
    """Print the report; exit status 0 when it is empty, 3 when it lists denials."""
    from .report import render

    try:
        doc = fetch_report(endpoint)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        print(f"localcloud: no IAM report from {endpoint}: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        print(render(doc.get("denials", []), doc.get("mode", "?")))
    if clear:
        clear_report(endpoint)
    return 3 if doc.get("denials") else 0
