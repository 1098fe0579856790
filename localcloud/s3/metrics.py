"""S3 request-metrics configurations (moto has none): PutBucketMetricsConfiguration (204),
GetBucketMetricsConfiguration, DeleteBucketMetricsConfiguration (204) and
ListBucketMetricsConfigurations (100 a page, ordered by id, `ContinuationToken`), with
`404 NoSuchConfiguration` for an id the bucket lacks and `NoSuchBucket` for a bucket that does
not exist (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketMetricsConfiguration.html,
API_ListBucketMetricsConfigurations.html; AWS's recorded answers).

Each bucket's configurations are kept on moto's bucket object under `ATTRIBUTE` (an attribute
of the local cloud's own: it is saved with the bucket and goes with it when it is deleted).
"""
from __future__ import annotations

import base64
import re
from typing import Any, Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from .requests import is_s3_request

ATTRIBUTE = "_localcloud_metrics_configurations"
PAGE = 100
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_INNER = re.compile(rb"<MetricsConfiguration\b[^>]*>(.*)</MetricsConfiguration>", re.S)


def _bucket_name(environ: dict) -> str | None:
    """The bucket of a bucket-level request (path-style or virtual-hosted), else None."""
    from .conditional import bucket_and_key

    bucket, key = bucket_and_key(environ)
    return bucket if bucket and not key else None


def _bucket(name: str) -> Any:
    from .conditional import _backend

    backend = _backend(name)
    return backend.buckets.get(name) if backend is not None else None


def _xml(root: str, inner: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'
            ).encode()


def answer(environ: dict, query: dict) -> tuple[int, bytes] | Any:
    """(status, body) of one metrics-configuration request, or a Refusal."""
    from ..validation.rules import Refusal

    name = _bucket_name(environ)
    bucket = _bucket(name) if name else None
    if bucket is None:
        return Refusal("NoSuchBucket", "The specified bucket does not exist", status=404,
                       extra={"BucketName": name or ""})
    configs: dict[str, str] = vars(bucket).setdefault(ATTRIBUTE, {})
    method = environ.get("REQUEST_METHOD")
    config_id = query.get("id", [None])[0]
    missing = Refusal("NoSuchConfiguration", "The specified configuration does not exist.",
                      status=404)
    if method == "PUT":
        from ..core.body import read_body

        found = _INNER.search(read_body(environ))
        configs[config_id or ""] = found.group(1).decode() if found else ""
        return 204, b""
    if method == "DELETE":
        if configs.pop(config_id or "", None) is None:
            return missing
        return 204, b""
    if config_id is not None:
        if config_id not in configs:
            return missing
        return 200, _xml("MetricsConfiguration", configs[config_id])
    token = query.get("continuation-token", [None])[0]
    ids = sorted(configs)
    start = 0
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except ValueError:
            return Refusal("InvalidArgument", "The continuation token provided is incorrect",
                           extra={"ArgumentName": "continuation-token", "ArgumentValue": token})
        start = next((i for i, c in enumerate(ids) if c > after), len(ids))
    page = ids[start:start + PAGE]
    truncated = start + PAGE < len(ids)
    inner = "".join(f"<MetricsConfiguration>{configs[i]}</MetricsConfiguration>" for i in page)
    if token:
        inner = f"<ContinuationToken>{escape(token)}</ContinuationToken>" + inner
    inner += f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
    if truncated:
        nxt = base64.urlsafe_b64encode(page[-1].encode()).decode()
        inner += f"<NextContinuationToken>{nxt}</NextContinuationToken>"
    return 200, _xml("ListMetricsConfigurationsResult", inner)


def middleware(app: Callable, _cloud: Any) -> Callable:
    from ..validation import error_response
    from ..validation.rules import Refusal

    def metrics_configurations(environ: dict, start_response: Callable) -> Any:
        qs = environ.get("QUERY_STRING", "")
        if "metrics" not in qs or environ.get("REQUEST_METHOD") not in ("GET", "PUT", "DELETE"):
            return app(environ, start_response)
        query = parse_qs(qs, keep_blank_values=True)
        if "metrics" not in query or not is_s3_request(environ):
            return app(environ, start_response)
        result = answer(environ, query)
        if isinstance(result, Refusal):
            status, headers, body = error_response("s3", "rest-xml", result)
        else:
            code, body = result
            status = {200: "200 OK", 204: "204 No Content"}[code]
            headers = [("Content-Type", "application/xml")] if body else []
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    return metrics_configurations


def install(cloud: Any) -> None:
    cloud.add_middleware(middleware)
