"""localcloud/events/patches.py: the event a target gets carries its account, as on AWS."""
import json

from localcloud.events import patches


def test_tripwire_moto_event_template_exists_and_reads_account():
    from moto.events.utils import EventTemplateParser
    assert isinstance(EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE, str), \
        "hook moved: moto.events.utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE"
    assert EventTemplateParser.DEFAULT_EVENT_INPUT_PATHS_MAP.get("account") == "$.account"


def test_the_default_event_names_its_account():
    from moto.events.utils import EventTemplateParser
    event = {"version": "0", "id": "e1", "detail-type": "x", "source": "my.src",
             "account": "123456789012", "time": 1767225600.0,  # moto keeps unix time "region": "us-east-1",
             "resources": [], "detail": {"a": 1}, "ingestion-time": 0}
    original = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    try:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = patches.EVENT_TEMPLATE
        got = EventTemplateParser.parse(None, {}, event)
    finally:
        EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = original
    assert got["account"] == "123456789012"
    assert list(got) == ["version", "id", "detail-type", "source", "account", "time", "region",
                         "resources", "detail"]
    assert "account" not in EventTemplateParser.parse(None, {}, event)  # moto's own: none
    json.dumps(got)
