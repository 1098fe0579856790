"""EventBridge schedules: rules with `rate(...)` or `cron(...)` fire their Lambda targets.

moto stores rules and never fires them. A background loop here reads every ENABLED rule with
a ScheduleExpression from moto's events backends each tick and invokes each Lambda target
asynchronously (`cloud.invoke_function(..., invocation_type="Event")`) with the target's
`Input` (a JSON text, passed as is), its `InputPath` (`$` or `$.a.b`), or else the scheduled
event AWS sends (version, id, detail-type "Scheduled Event", source aws.events, account, time,
region, resources [rule arn], detail {}).

* `rate(N minute|minutes|hour|hours|day|days)`: first fires one period after the loop first
  sees the rule (AWS: the rate starts when the rule is created), then every period.
* `cron(min hour day-of-month month day-of-week year)`: AWS's 6-field cron in UTC, with `*`,
  `?`, lists, ranges, steps, JAN-DEC / SUN-SAT names (day-of-week 1-7 = SUN-SAT), `L` in
  day-of-month, `nL` and `n#k` in day-of-week. `W` is not supported locally (a clear error).
* LOCAL-ONLY option `schedule_time_scale` (LocalCloud option, default 1.0): the schedule runs
  on a clock that goes this many times faster than real time, so `rate(1 minute)` with 60
  fires every second. Event `time` fields carry that scaled clock. AWS has no such setting.
* Option `schedule_tick_seconds` (default 0.25): how often the loop looks.

Hook points: `moto.events.models.events_backends` (EventsBackend.event_buses[*].rules, each a
`Rule` with `.state`, `.scheduled_expression`, `.targets`, `.arn`).
"""
from __future__ import annotations

import calendar
import datetime as _dt
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

log = logging.getLogger("localcloud.schedules")

MAX_FIRES_PER_TICK = 10  # a rule never floods its target after a pause of the loop

_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}


class ScheduleError(ValueError):
    """A schedule expression this module cannot read; the message says what is wrong."""


# ---------------------------------------------------------------------------------------
# rate()
# ---------------------------------------------------------------------------------------
_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_rate(expr: str) -> float:
    """`rate(5 minutes)` -> 300.0 seconds. AWS's rule: singular unit for 1, plural otherwise."""
    m = _RATE_RE.match(expr.strip())
    if not m:
        raise ScheduleError(f"not a rate expression: {expr!r} (want e.g. 'rate(5 minutes)')")
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        raise ScheduleError(f"rate value must be a positive integer: {expr!r}")
    if (n == 1) != (not unit.endswith("s")):
        raise ScheduleError(f"use the singular unit for 1 and plural otherwise: {expr!r}")
    return float(n * _UNIT_SECONDS[unit.rstrip("s")])


# ---------------------------------------------------------------------------------------
# cron()
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cron:
    minutes: frozenset
    hours: frozenset
    dom: frozenset | None        # None: '?' (any)
    dom_last: bool
    months: frozenset
    dow: frozenset | None        # None: '?' (any); 1..7 = SUN..SAT
    dow_last: frozenset          # 'nL': last weekday n of the month
    dow_nth: frozenset           # (weekday, k) from 'n#k'
    years: frozenset | None      # None: '*'

    def matches(self, t: _dt.datetime) -> bool:
        if t.minute not in self.minutes or t.hour not in self.hours:
            return False
        if t.month not in self.months:
            return False
        if self.years is not None and t.year not in self.years:
            return False
        last_day = calendar.monthrange(t.year, t.month)[1]
        dom_ok = True
        if self.dom is not None or self.dom_last:
            dom_ok = (self.dom is not None and t.day in self.dom) or \
                (self.dom_last and t.day == last_day)
        wd = (t.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        dow_ok = True
        if self.dow is not None or self.dow_last or self.dow_nth:
            dow_ok = (self.dow is not None and wd in self.dow) or \
                (wd in self.dow_last and t.day + 7 > last_day) or \
                ((wd, (t.day - 1) // 7 + 1) in self.dow_nth)
        return dom_ok and dow_ok

    def next_after(self, t: _dt.datetime, limit_minutes: int = 366 * 24 * 60 * 5) -> _dt.datetime | None:
        """The first matching minute strictly after t (None if none within ~5 years)."""
        c = t.replace(second=0, microsecond=0) + _dt.timedelta(minutes=1)
        for _ in range(limit_minutes):
            if c.month not in self.months:
                # jump to the first minute of the next month
                c = (c.replace(day=1, hour=0, minute=0) + _dt.timedelta(days=32)).replace(day=1)
                continue
            if c.hour not in self.hours:
                c = c.replace(minute=0) + _dt.timedelta(hours=1)
                continue
            if self.matches(c):
                return c
            c += _dt.timedelta(minutes=1)
        return None


def _field_values(text: str, lo: int, hi: int, names: dict[str, int] | None,
                  what: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_s = part.split("/", 1)
            if not step_s.isdigit() or int(step_s) < 1:
                raise ScheduleError(f"bad step {step_s!r} in {what} field {text!r}")
            step = int(step_s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a_s, b_s = part.split("-", 1)
            a, b = _value(a_s, names, what, lo, hi), _value(b_s, names, what, lo, hi)
        else:
            a = _value(part, names, what, lo, hi)
            b = hi if step > 1 else a
        if a <= b:
            out.update(range(a, b + 1, step))
        else:  # a wrap-around range such as FRI-MON
            out.update(v for i, v in enumerate(list(range(a, hi + 1)) + list(range(lo, b + 1)))
                       if i % step == 0)
    return out


def _value(s: str, names: dict[str, int] | None, what: str, lo: int, hi: int) -> int:
    s = s.strip().upper()
    if names and s in names:
        return names[s]
    if not s.isdigit():
        raise ScheduleError(f"bad value {s!r} in {what} field (allowed {lo}-{hi}"
                            + (f" or {', '.join(names)}" if names else "") + ")")
    v = int(s)
    if not lo <= v <= hi:
        raise ScheduleError(f"{what} value {v} out of range {lo}-{hi}")
    return v


def parse_cron(expr: str) -> Cron:
    """`cron(0 12 * * ? *)` -> Cron. Raises ScheduleError naming the bad field."""
    m = re.match(r"^cron\((.*)\)$", expr.strip())
    if not m:
        raise ScheduleError(f"not a cron expression: {expr!r} (want e.g. 'cron(0 12 * * ? *)')")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"cron needs 6 fields (minutes hours day-of-month month "
                            f"day-of-week year), got {len(fields)}: {expr!r}")
    mi, hr, dom, mon, dow, yr = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"exactly one of day-of-month and day-of-week must be '?': {expr!r}")
    if "W" in dom.upper() and dom != "?":
        raise ScheduleError(f"the W (nearest weekday) wildcard is not supported locally: {expr!r}")
    dom_set: frozenset | None = None
    dom_last = False
    if dom != "?":
        parts = [p for p in dom.split(",")]
        if "L" in [p.upper() for p in parts]:
            dom_last = True
            parts = [p for p in parts if p.upper() != "L"]
        dom_set = frozenset(_field_values(",".join(parts), 1, 31, None, "day-of-month")) \
            if parts else None
    dow_set: frozenset | None = None
    dow_last: set[int] = set()
    dow_nth: set[tuple[int, int]] = set()
    if dow != "?":
        plain = []
        for p in dow.split(","):
            up = p.upper()
            if "#" in up:
                d_s, k_s = up.split("#", 1)
                if not k_s.isdigit() or not 1 <= int(k_s) <= 5:
                    raise ScheduleError(f"bad n#k value {p!r} in day-of-week")
                dow_nth.add((_value(d_s, _DAYS, "day-of-week", 1, 7), int(k_s)))
            elif up.endswith("L") and len(up) > 1:
                dow_last.add(_value(up[:-1], _DAYS, "day-of-week", 1, 7))
            elif up == "L":
                dow_last.add(7)
            else:
                plain.append(p)
        if plain:
            dow_set = frozenset(_field_values(",".join(plain), 1, 7, _DAYS, "day-of-week"))
    years = None if yr == "*" else frozenset(_field_values(yr, 1970, 2199, None, "year"))
    return Cron(
        minutes=frozenset(_field_values(mi, 0, 59, None, "minutes")),
        hours=frozenset(_field_values(hr, 0, 23, None, "hours")),
        dom=dom_set, dom_last=dom_last,
        months=frozenset(_field_values(mon, 1, 12, _MONTHS, "month")),
        dow=dow_set, dow_last=frozenset(dow_last), dow_nth=frozenset(dow_nth), years=years)


def parse_schedule(expr: str) -> float | Cron:
    """A rate in seconds, or a Cron."""
    e = expr.strip()
    if e.startswith("rate("):
        return parse_rate(e)
    if e.startswith("cron("):
        return parse_cron(e)
    raise ScheduleError(f"a schedule expression is rate(...) or cron(...), got {expr!r}")


# ---------------------------------------------------------------------------------------
# Events and targets
# ---------------------------------------------------------------------------------------
def scheduled_event(rule_arn: str, account: str, region: str, when: _dt.datetime) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def target_payload(target: dict, event: dict) -> bytes:
    """What the target receives: Input as is, InputPath applied, or the event."""
    if target.get("Input") is not None:
        return str(target["Input"]).encode()
    path = target.get("InputPath")
    if path:
        value: Any = event
        if path.strip() != "$":
            if not path.startswith("$."):
                raise ScheduleError(f"InputPath must be '$' or '$.a.b', got {path!r}")
            for key in path[2:].split("."):
                value = value.get(key) if isinstance(value, dict) else None
        return json.dumps(value).encode()
    if target.get("InputTransformer"):
        log.warning("InputTransformer is not supported locally; target %s gets the event",
                    target.get("Id"))
    return json.dumps(event).encode()


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------
class ScheduledClock:
    """Wall time that runs `scale` times faster than real time from `start`."""

    def __init__(self, scale: float = 1.0, start: _dt.datetime | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        if scale <= 0:
            raise ValueError(f"schedule_time_scale must be > 0, got {scale}")
        self.scale = scale
        self._mono = monotonic
        self._m0 = monotonic()
        self._t0 = start or _dt.datetime.now(_dt.timezone.utc)

    def now(self) -> _dt.datetime:
        return self._t0 + _dt.timedelta(seconds=(self._mono() - self._m0) * self.scale)

    def rescale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError(f"schedule_time_scale must be > 0, got {scale}")
        if scale != self.scale:
            self._t0, self._m0 = self.now(), self._mono()
            self.scale = scale


class RuleTimer:
    """When a rule is due, on the scaled clock."""

    def __init__(self, expression: str, seen_at: _dt.datetime):
        self.expression = expression
        self.schedule = parse_schedule(expression)
        self.last = seen_at  # fire times are strictly after this

    def due(self, now: _dt.datetime) -> list[_dt.datetime]:
        fires: list[_dt.datetime] = []
        if isinstance(self.schedule, float):
            period = _dt.timedelta(seconds=self.schedule)
            while self.last + period <= now and len(fires) < MAX_FIRES_PER_TICK:
                self.last = self.last + period
                fires.append(self.last)
            if self.last + period <= now:  # skipped beyond the cap: catch up without firing
                n = int((now - self.last) / period)
                self.last += period * n
        else:
            cur = self.last
            budget = int((now - cur).total_seconds() // 60) + 2
            while len(fires) < MAX_FIRES_PER_TICK:
                nxt = self.schedule.next_after(cur, limit_minutes=budget)
                if nxt is None or nxt > now:
                    break
                fires.append(nxt)
                cur = nxt
            self.last = now  # every time in (last, now] is handled (beyond the cap: dropped)
        return fires


def _enabled_schedule_rules() -> Iterable[tuple[str, str, Any]]:
    from moto.events.models import events_backends
    for account_id, regional in list(events_backends.items()):
        for region, backend in list(regional.items()):
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    if rule.scheduled_expression:
                        yield account_id, region, rule


class Scheduler:
    def __init__(self, cloud: Any):
        self.cloud = cloud
        self.clock = ScheduledClock(self._scale())
        self._timers: dict[str, RuleTimer] = {}
        self._bad: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired: list[tuple[str, str, str]] = []  # (rule arn, target id, time) recent fires

    def _scale(self) -> float:
        return float(self.cloud.options.get("schedule_time_scale", 1.0))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="localcloud-schedules",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _loop(self) -> None:
        tick = float(self.cloud.options.get("schedule_tick_seconds", 0.25))
        while not self._stop.wait(tick):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive a bad rule
                log.exception("schedule tick failed")

    def tick(self) -> int:
        """One look at every rule; returns how many target invocations were sent."""
        try:
            self.clock.rescale(self._scale())
        except ValueError:
            log.error("ignoring schedule_time_scale=%r", self.cloud.options.get(
                "schedule_time_scale"))
        now = self.clock.now()
        seen = set()
        sent = 0
        for account, region, rule in _enabled_schedule_rules():
            key = rule.arn
            seen.add(key)
            expr = rule.scheduled_expression
            timer = self._timers.get(key)
            if timer is None or timer.expression != expr:
                try:
                    timer = RuleTimer(expr, now)
                except ScheduleError as exc:
                    if (key, expr) not in self._bad:
                        self._bad.add((key, expr))
                        log.error("rule %s: %s", key, exc)
                    continue
                self._timers[key] = timer
            fires = timer.due(now)
            if rule.state != "ENABLED":
                continue  # a disabled rule's missed fires are dropped, as on AWS
            for when in fires:
                event = scheduled_event(rule.arn, account, region, when)
                for target in list(rule.targets):
                    sent += self._send(account, region, rule, target, event)
        for gone in set(self._timers) - seen:
            del self._timers[gone]
        return sent

    def _send(self, account: str, region: str, rule: Any, target: dict, event: dict) -> int:
        arn = target.get("Arn", "")
        if ":lambda:" not in arn or ":function:" not in arn:
            log.warning("rule %s target %s: only Lambda targets run locally (%s)",
                        rule.name, target.get("Id"), arn)
            return 0
        try:
            payload = target_payload(target, event)
            self.cloud.invoke_function(arn, payload, invocation_type="Event",
                                       region=arn.split(":")[3] or region,
                                       account_id=arn.split(":")[4] or account,
                                       source="events", source_arn=rule.arn)
        except Exception as exc:  # noqa: BLE001 - one bad target must not stop the others
            log.error("rule %s target %s: invoke failed: %s", rule.name, target.get("Id"), exc)
            return 0
        self.fired.append((rule.arn, str(target.get("Id")), event["time"]))
        del self.fired[:-100]
        log.info("rule %s fired target %s at %s", rule.name, target.get("Id"), event["time"])
        return 1


def install(cloud: Any) -> Callable[[], None]:
    scheduler = Scheduler(cloud)
    cloud.scheduler = scheduler
    cloud.add_background(scheduler.start, scheduler.stop)

    def uninstall() -> None:
        scheduler.stop()
        if getattr(cloud, "scheduler", None) is scheduler:
            cloud.scheduler = None

    return uninstall
