"""moto's EventBridge, patched where the event a target receives differs from AWS's.

- `EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE`: the event delivered to a target without
  an InputTransformer is the whole event, with its `account` (moto's template leaves it out,
  though its paths map reads it). AWS's event structure: version, id, detail-type, source,
  account, time, region, resources, detail
  (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html).

Tripwire: tests/unit/test_localcloud_events_patches.py.
"""
from __future__ import annotations

from typing import Any

PATCH_POINTS = [("moto.events.utils", "EventTemplateParser", "DEFAULT_EVENT_INPUT_TEMPLATE")]

# moto's template with "account" where AWS puts it (`<time>` unquoted as moto writes it: the
# paths map substitutes a JSON string or number)
EVENT_TEMPLATE = ('{"version": "0", "id": "<id>", "detail-type": "<detail-type>", '
                  '"source": "<source>", "account": "<account>", "time": <time>, '
                  '"region": "<region>", "resources": <resources>, "detail": <detail>}')


def install(cloud: Any) -> None:
    from moto.events.utils import EventTemplateParser

    cloud.hook(EventTemplateParser, "DEFAULT_EVENT_INPUT_TEMPLATE", lambda _original: EVENT_TEMPLATE)
