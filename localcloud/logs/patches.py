"""moto's CloudWatch Logs, patched where its answers differ from AWS's recorded ones
(LocalStack's AWS-validated test_logs_groups / _streams / _events snapshots):

- a log group is described with `logGroupClass` (STANDARD unless CreateLogGroup named one) and
  `deletionProtectionEnabled` (false unless set): `LogGroup.to_describe_dict`,
  `LogsResponse.create_log_group` (moto drops both parameters);
- DescribeLogGroups' `logGroupNamePattern` (a case-sensitive substring of the name,
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogGroups.html;
  moto ignores it): `LogsResponse.describe_log_groups`;
- ListLogGroups (moto lacks it; https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_ListLogGroups.html):
  `logGroups` of `{logGroupName, logGroupArn, logGroupClass}`, with `logGroupNamePattern`,
  `logGroupClass`, `limit` (1..1000, default 50) and `nextToken`: served by `middleware`;
- a missing log stream named as one (`The specified log stream does not exist.`,
  `The specified log stream already exists`; moto says "log group"):
  `LogGroup.get_log_events`, `LogGroup.create_log_stream`.

Refusals made before moto (the validation layer, `validation.rules.logs_*`): a name over
512 characters, a prefix with a pattern, a group name with a group identifier.
Tripwire: tests/unit/test_localcloud_logs_patches.py.
"""
from __future__ import annotations

import json
from typing import Any, Callable

CLASS = "localcloud_log_group_class"          # set on moto's LogGroup
PROTECTED = "localcloud_deletion_protection"  # set on moto's LogGroup
TARGET = "Logs_20140328.ListLogGroups"


def describe_dict(original: Callable) -> Callable:
    def to_describe_dict(self: Any) -> dict:
        doc = original(self)
        doc["logGroupClass"] = getattr(self, CLASS, None) or "STANDARD"
        doc["deletionProtectionEnabled"] = bool(getattr(self, PROTECTED, False))
        return doc

    return to_describe_dict


def create_log_group(original: Callable) -> Callable:
    def create(self: Any) -> str:
        out = original(self)
        group = self.logs_backend.groups.get(self._get_param("logGroupName"))
        if group is not None:
            setattr(group, CLASS, self._get_param("logGroupClass") or "STANDARD")
            setattr(group, PROTECTED, bool(self._get_param("deletionProtectionEnabled")))
        return out

    return create


def describe_log_groups(original: Callable) -> Callable:
    def describe(self: Any) -> str:
        pattern = self._get_param("logGroupNamePattern")
        if not pattern:
            return original(self)
        limit = int(self._get_param("limit", 50))
        groups = matching(self.logs_backend, pattern)
        start = _start(self._get_param("nextToken"))
        page = groups[start:start + limit]
        doc: dict = {"logGroups": [g.to_describe_dict() for g in page]}
        if start + limit < len(groups):
            doc["nextToken"] = str(start + limit)
        return json.dumps(doc)

    return describe


def matching(backend: Any, pattern: str | None, group_class: str | None = None) -> list:
    return sorted((g for name, g in list(backend.groups.items())
                   if (not pattern or pattern in name)
                   and (not group_class or (getattr(g, CLASS, None) or "STANDARD") == group_class)),
                  key=lambda g: g.name)


def _start(token: Any) -> int:
    try:
        return max(int(token), 0) if token else 0
    except (TypeError, ValueError):
        return 0


def list_log_groups(backend: Any, doc: dict) -> dict:
    limit = doc.get("limit", 50)
    groups = matching(backend, doc.get("logGroupNamePattern"), doc.get("logGroupClass"))
    start = _start(doc.get("nextToken"))
    page = groups[start:start + limit]
    out: dict = {"logGroups": [{"logGroupName": g.name, "logGroupArn": g.arn,
                                "logGroupClass": getattr(g, CLASS, None) or "STANDARD"}
                               for g in page]}
    if start + limit < len(groups):
        out["nextToken"] = str(start + limit)
    return out


def stream_events(original: Callable) -> Callable:
    def get_log_events(self: Any, log_stream_name: str, *args: Any, **kwargs: Any) -> Any:
        from moto.logs.exceptions import ResourceNotFoundException

        if log_stream_name not in self.streams:
            raise ResourceNotFoundException("The specified log stream does not exist.")
        return original(self, log_stream_name, *args, **kwargs)

    return get_log_events


def create_log_stream(original: Callable) -> Callable:
    def create(self: Any, log_stream_name: str) -> None:
        from moto.logs.exceptions import LogsClientError

        if log_stream_name in self.streams:
            raise LogsClientError("ResourceAlreadyExistsException",
                                  "The specified log stream already exists")
        return original(self, log_stream_name)

    return create


def middleware(app: Callable, _cloud: Any = None) -> Callable:
    from ..core.body import read_json_object
    from ..core.moto_request import backend_for

    def serve(environ: dict, start_response: Callable) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != TARGET:
            return app(environ, start_response)
        from moto.logs.models import logs_backends

        doc = read_json_object(environ) or {}
        out = json.dumps(list_log_groups(backend_for(logs_backends, environ), doc)).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"),
                                  ("Content-Length", str(len(out)))])
        return [out]

    return serve


def install(cloud: Any) -> None:
    from moto.logs.models import LogGroup
    from moto.logs.responses import LogsResponse

    cloud.hook(LogGroup, "to_describe_dict", describe_dict)
    cloud.hook(LogGroup, "get_log_events", stream_events)
    cloud.hook(LogGroup, "create_log_stream", create_log_stream)
    cloud.hook(LogsResponse, "create_log_group", create_log_group)
    cloud.hook(LogsResponse, "describe_log_groups", describe_log_groups)
    cloud.add_middleware(middleware)
