"""moto's EventBridge, patched where the event a target receives differs from AWS's.

- `EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE`: the event delivered to a target without
  an InputTransformer is the whole event, with its `account` (moto's template leaves it out,
  though its paths map reads it). AWS's event structure: version, id, detail-type, source,
  account, time, region, resources, detail
  (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html).

- `Rule.send_to_targets` (every event an event bus routes: PutEvents, S3's events, archive
  replays): a rule matches an event only when it is `ENABLED` and has an event pattern (a
  scheduled rule has none, and moto's empty pattern matches everything); a rule whose
  delivery raises is logged and the event still reaches the bus's other rules (moto's S3
  sender wraps its loop over all rules in one bare `except`, so one broken target, such as
  a deleted queue, silently cost every later rule its S3 events). AWS: "Rules that match
  events" have an event pattern; a disabled rule matches nothing
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rules.html).

Tripwire: tests/unit/test_localcloud_events_patches.py.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger("localcloud.events")

PATCH_POINTS = [("moto.events.utils", "EventTemplateParser", "DEFAULT_EVENT_INPUT_TEMPLATE"),
                ("moto.events.models", "Rule", "send_to_targets"),
                ("moto.events.models", "EventPattern", "get_pattern")]

# moto's template with "account" where AWS puts it (`<time>` unquoted as moto writes it: the
# paths map substitutes a JSON string or number)
EVENT_TEMPLATE = ('{"version": "0", "id": "<id>", "detail-type": "<detail-type>", '
                  '"source": "<source>", "account": "<account>", "time": <time>, '
                  '"region": "<region>", "resources": <resources>, "detail": <detail>}')


def matching_rules_only(original: Callable) -> Callable:
    def send_to_targets(self: Any, event: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "state", "ENABLED") != "ENABLED" or not self.event_pattern.get_pattern():
            return None
        try:
            return original(self, event, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - one rule's failed delivery must not stop the others
            log.warning("EventBridge rule %s: delivery failed (%s: %s); the bus's other rules "
                        "still get the event", getattr(self, "arn", "?"), type(exc).__name__, exc)
            return None
    return send_to_targets


def install(cloud: Any) -> None:
    from moto.events.models import Rule
    from moto.events.utils import EventTemplateParser

    cloud.hook(EventTemplateParser, "DEFAULT_EVENT_INPUT_TEMPLATE", lambda _original: EVENT_TEMPLATE)
    cloud.hook(Rule, "send_to_targets", matching_rules_only)
