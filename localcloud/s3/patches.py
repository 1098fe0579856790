"""moto's S3, patched where it answers a valid request with a 500 (each hook point has a
tripwire in tests/unit/test_localcloud_validation_rules.py that fails by name if moto moves it).

- `S3Response._notification_config_from_body`: an empty `<NotificationConfiguration/>` is
  how a client removes every notification (AWS: "To disable notifications, send an empty
  NotificationConfiguration", PutBucketNotificationConfiguration API reference); moto calls
  `len()` on the `None` xmltodict gives for it.
- `S3Response._logging_from_body`: an empty `<BucketLoggingStatus/>` turns logging off (AWS:
  PutBucketLogging, "To disable logging, use an empty BucketLoggingStatus request element");
  moto calls `.get` on `None`.
"""
from __future__ import annotations

from typing import Any

HOOK_POINTS = [("moto.s3.responses", "S3Response", "_notification_config_from_body"),
               ("moto.s3.responses", "S3Response", "_logging_from_body")]


def _empty_root(body: Any, root: str) -> bool:
    import xmltodict
    return xmltodict.parse(body).get(root) is None


def install(cloud: Any) -> None:
    from moto.s3.responses import S3Response

    def notification(original):
        def _notification_config_from_body(self):
            if _empty_root(self.body, "NotificationConfiguration"):
                return {}
            return original(self)
        return _notification_config_from_body

    def logging_status(original):
        def _logging_from_body(self):
            if _empty_root(self.body, "BucketLoggingStatus"):
                return {}
            return original(self)
        return _logging_from_body

    cloud.hook(S3Response, "_notification_config_from_body", notification)
    cloud.hook(S3Response, "_logging_from_body", logging_status)
