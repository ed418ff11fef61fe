"""Schedule texts, checked when a trigger is declared and turned into fire times.

Why onto parses them itself: a schedule that Cloud Scheduler would refuse
must fail at import time, like a misspelt trigger, not at deploy time; and
the local stack fires schedules itself, so it must know when each is due.

Two forms, both of which Cloud Scheduler accepts:

    every 5 minutes   every 1 hours   every 30 mins     (App Engine's interval form)
    */5 * * * *       0 9 * * 1-5                       (unix-cron: minute hour day month weekday)

Cron fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and
lists `a,b`; weekday 0 and 7 are Sunday. Times are computed in the
trigger's IANA time zone (UTC by default). Standard library only: a deployed
function imports this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_INTERVAL_RE = re.compile(r"^every\s+(\d+)\s+(minutes?|mins?|hours?)$")
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_SEARCH_LIMIT = timedelta(days=366 * 5)


class ScheduleError(ValueError):
    """A schedule text or time zone that Cloud Scheduler would refuse."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a fixed interval, or cron field sets."""

    text: str
    zone: ZoneInfo
    interval: timedelta | None = None
    fields: tuple[frozenset[int], ...] = ()

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment` (tz-aware, returned in UTC)."""
        local = moment.astimezone(self.zone)
        if self.interval is not None:
            return self._next_interval(local)
        return self._next_cron(local)

    def _next_interval(self, local: datetime) -> datetime:
        # App Engine's "every N minutes" counts from midnight of the schedule's time zone.
        assert self.interval is not None
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        steps = (local - midnight) // self.interval + 1
        return (midnight + steps * self.interval).astimezone(timezone.utc)

    def _next_cron(self, local: datetime) -> datetime:
        minutes, hours, days, months, weekdays = self.fields
        candidate = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = candidate + _SEARCH_LIMIT
        while candidate < end:
            if candidate.month not in months:
                candidate = (candidate.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(candidate, days, weekdays):
                candidate = candidate.replace(hour=0, minute=0) + timedelta(days=1)
            elif candidate.hour not in hours:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
            elif candidate.minute not in minutes:
                candidate += timedelta(minutes=1)
            else:
                return candidate.replace(tzinfo=self.zone).astimezone(timezone.utc)
        raise ScheduleError(f"schedule {self.text!r} never fires")

    def _day_matches(self, moment: datetime, days: frozenset[int], weekdays: frozenset[int]) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0
        day_ok, weekday_ok = moment.day in days, weekday in weekdays or (weekday == 0 and 7 in weekdays)
        # cron's rule: when both fields are restricted, either one matching is enough.
        if len(days) < 31 and len(weekdays) < 7:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def parse_schedule(text: str, time_zone: str | None = None) -> Schedule:
    """Check a schedule and its time zone; raise ScheduleError naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(f"a schedule must be a non-empty string, got {text!r}")
    zone = _zone(time_zone)
    cleaned = " ".join(text.split())
    interval = _INTERVAL_RE.match(cleaned.lower())
    if interval:
        count = int(interval.group(1))
        if count < 1:
            raise ScheduleError(f"schedule {text!r}: the interval must be at least 1")
        unit = timedelta(hours=1) if interval.group(2).startswith("hour") else timedelta(minutes=1)
        return Schedule(cleaned, zone, interval=count * unit)
    parts = cleaned.split(" ")
    if len(parts) != 5:
        raise ScheduleError(
            f"schedule {text!r} is neither 'every N minutes|hours' nor unix-cron "
            "(five fields: minute hour day-of-month month day-of-week)"
        )
    fields = tuple(_cron_field(part, *limits, text) for part, limits in zip(parts, _FIELDS))
    return Schedule(cleaned, zone, fields=fields)


def _zone(time_zone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"time zone {time_zone!r} is not an IANA time zone such as 'Europe/Paris'") from None


def _cron_field(part: str, name: str, low: int, high: int, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", item)
        if not match:
            raise ScheduleError(f"schedule {text!r}: {name} field {part!r} is not cron syntax")
        span, step = match.group(1), int(match.group(2) or 1)
        start, end = (low, high) if span == "*" else _span(span)
        if not (low <= start <= end <= high) or step < 1:
            raise ScheduleError(f"schedule {text!r}: {name} {item!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _span(span: str) -> tuple[int, int]:
    first, _, last = span.partition("-")
    return int(first), int(last or first)
