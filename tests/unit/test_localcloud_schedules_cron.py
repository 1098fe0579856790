"""Pure logic of localcloud.events.schedules: rate/cron parsing, cron matching, due times, payloads."""
import datetime as dt
import json

import pytest

from localcloud.events.schedules import (
    RuleTimer, ScheduleError, ScheduledClock, parse_cron, parse_rate, parse_schedule,
    scheduled_event, target_payload,
)

UTC = dt.timezone.utc


def t(*a):
    return dt.datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize("expr,seconds", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600),
    ("rate(2 hours)", 7200), ("rate(1 day)", 86400), ("rate(3 days)", 259200),
])
def test_rate(expr, seconds):
    assert parse_rate(expr) == seconds


@pytest.mark.parametrize("expr", ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)",
                                  "rate(5 seconds)", "rate(minutes)", "every 5 minutes"])
def test_bad_rate(expr):
    with pytest.raises(ScheduleError):
        parse_schedule(expr)


def test_cron_daily_noon():
    c = parse_cron("cron(0 12 * * ? *)")
    assert c.matches(t(2025, 3, 4, 12, 0))
    assert not c.matches(t(2025, 3, 4, 12, 1))
    assert c.next_after(t(2025, 3, 4, 12, 0)) == t(2025, 3, 5, 12, 0)


def test_cron_steps_ranges_names():
    c = parse_cron("cron(0/15 8-17 ? * MON-FRI *)")
    assert c.matches(t(2025, 3, 3, 8, 45))        # Monday
    assert not c.matches(t(2025, 3, 2, 8, 45))    # Sunday
    assert not c.matches(t(2025, 3, 3, 18, 0))
    assert c.next_after(t(2025, 3, 7, 17, 45)) == t(2025, 3, 10, 8, 0)  # Fri -> Mon


def test_cron_dow_numbers_are_sun_1():
    c = parse_cron("cron(0 0 ? * 1 *)")
    assert c.matches(t(2025, 3, 2, 0, 0))  # 2025-03-02 is a Sunday


def test_cron_last_day_and_nth_weekday():
    last = parse_cron("cron(0 0 L * ? *)")
    assert last.matches(t(2024, 2, 29, 0, 0)) and not last.matches(t(2024, 2, 28, 0, 0))
    second_tue = parse_cron("cron(30 9 ? * 3#2 *)")
    assert second_tue.matches(t(2025, 3, 11, 9, 30))
    assert not second_tue.matches(t(2025, 3, 4, 9, 30))
    last_fri = parse_cron("cron(0 0 ? * 6L *)")
    assert last_fri.matches(t(2025, 3, 28, 0, 0)) and not last_fri.matches(t(2025, 3, 21, 0, 0))


def test_cron_year_and_month_names():
    c = parse_cron("cron(0 0 1 JAN,JUL ? 2026)")
    assert c.next_after(t(2025, 6, 1)) == t(2026, 1, 1)


@pytest.mark.parametrize("expr,word", [
    ("cron(0 12 * * *)", "6 fields"),
    ("cron(0 12 * * * *)", "'?'"),
    ("cron(0 12 ? * ? *)", "'?'"),
    ("cron(61 12 * * ? *)", "out of range"),
    ("cron(0 12 15W * ? *)", "not supported"),
    ("cron(0 12 * FOO ? *)", "bad value"),
])
def test_bad_cron_says_what(expr, word):
    with pytest.raises(ScheduleError, match=word):
        parse_cron(expr)


def test_rate_timer_fires_each_period_once():
    timer = RuleTimer("rate(1 minute)", t(2025, 1, 1, 0, 0, 0))
    assert timer.due(t(2025, 1, 1, 0, 0, 59)) == []
    assert timer.due(t(2025, 1, 1, 0, 1, 0)) == [t(2025, 1, 1, 0, 1)]
    assert timer.due(t(2025, 1, 1, 0, 1, 30)) == []
    assert timer.due(t(2025, 1, 1, 0, 3, 5)) == [t(2025, 1, 1, 0, 2), t(2025, 1, 1, 0, 3)]


def test_rate_timer_caps_a_long_pause():
    timer = RuleTimer("rate(1 minute)", t(2025, 1, 1))
    assert len(timer.due(t(2025, 1, 2))) == 10
    assert timer.due(t(2025, 1, 2, 0, 0, 30)) == []


def test_cron_timer():
    timer = RuleTimer("cron(*/5 * * * ? *)", t(2025, 1, 1, 0, 1))
    assert timer.due(t(2025, 1, 1, 0, 4, 59)) == []
    assert timer.due(t(2025, 1, 1, 0, 11)) == [t(2025, 1, 1, 0, 5), t(2025, 1, 1, 0, 10)]
    assert timer.due(t(2025, 1, 1, 0, 12)) == []


def test_scaled_clock():
    now = [100.0]
    clock = ScheduledClock(60, start=t(2025, 1, 1), monotonic=lambda: now[0])
    now[0] += 2
    assert clock.now() == t(2025, 1, 1, 0, 2)
    with pytest.raises(ValueError):
        ScheduledClock(0)


def test_event_shape_and_payloads():
    e = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", "123456789012",
                        "us-east-1", t(2025, 1, 1, 0, 5))
    assert e["detail-type"] == "Scheduled Event" and e["source"] == "aws.events"
    assert e["time"] == "2025-01-01T00:05:00Z" and e["detail"] == {}
    assert e["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/r"]
    assert set(e) == {"version", "id", "detail-type", "source", "account", "time", "region",
                      "resources", "detail"}
    assert target_payload({"Input": '{"a": 1}'}, e) == b'{"a": 1}'
    assert json.loads(target_payload({"InputPath": "$.region"}, e)) == "us-east-1"
    assert json.loads(target_payload({}, e)) == e
