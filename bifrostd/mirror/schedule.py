"""When each mirror target runs next: fixed intervals and five-field cron expressions. Pure.

Times are seconds since the epoch; cron fields are read in the host's local
time, as cron does. A target that never ran is due at once; after that, an
interval counts from the start of the last run, and a cron expression gives
the first matching minute after it. A daemon that was down past one or more
due times runs once when it comes back, not once per missed time.

Cron syntax: ``minute hour day-of-month month day-of-week``, each ``*``, a
number, a range ``a-b``, a step ``*/n`` / ``a-b/n`` / ``a/n``, or a comma list
of those; month and weekday names (``jan``, ``mon``); weekday 0 and 7 are
Sunday; when both day fields are restricted a day matching either is taken
(as in Vixie cron). Macros: ``@hourly``, ``@daily`` (``@midnight``),
``@weekly``, ``@monthly``, ``@yearly`` (``@annually``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from .targets import TargetSchedule

__all__ = ["CronSpec", "next_run", "parse_cron"]

MACROS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MAX_STEPS = 200_000  # about 15 years of day-by-day search: an impossible date (Feb 30) ends here


@dataclass(frozen=True, slots=True)
class CronSpec:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is '*'
    any_weekday: bool  # day-of-week is '*'

    def day_matches(self, when: datetime) -> bool:
        by_date = when.day in self.days
        by_weekday = (when.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return by_weekday
        if self.any_weekday:
            return by_date
        return by_date or by_weekday

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after ``after`` (naive local time)."""
        when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(_MAX_STEPS):
            if when.month not in self.months:
                when = (when.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self.day_matches(when):
                when = when.replace(hour=0, minute=0) + timedelta(days=1)
            elif when.hour not in self.hours:
                when = when.replace(minute=0) + timedelta(hours=1)
            elif when.minute not in self.minutes:
                when += timedelta(minutes=1)
            else:
                return when
        raise ValueError("the cron expression never matches")


@lru_cache(maxsize=64)
def parse_cron(expression: str) -> CronSpec:
    """A cron expression or macro; raises ValueError naming the bad field."""
    text = MACROS.get(expression.strip().lower(), expression)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r}: five fields expected (minute hour day-of-month month day-of-week)")
    minutes = _field(fields[0], 0, 59, ())
    hours = _field(fields[1], 0, 23, ())
    days = _field(fields[2], 1, 31, ())
    months = _field(fields[3], 1, 12, MONTHS, offset=1)
    weekdays = frozenset(d % 7 for d in _field(fields[4], 0, 7, DAYS))
    return CronSpec(minutes, hours, days, months, weekdays, fields[2] == "*", fields[4] == "*")


def _field(text: str, low: int, high: int, names: tuple[str, ...], *, offset: int = 0) -> frozenset[int]:
    values: set[int] = set()
    for part in text.lower().split(","):
        span, _, step_text = part.partition("/")
        step = _number(step_text, names, offset) if step_text else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (_number(x, names, offset) for x in span.split("-", 1))
        else:
            first = _number(span, names, offset)
            last = high if step_text else first
        if step < 1 or not low <= first <= last <= high:
            raise ValueError(f"{text!r}: values run from {low} to {high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, names: tuple[str, ...], offset: int) -> int:
    if text in names:
        return names.index(text) + offset
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    return int(text)


def next_run(schedule: TargetSchedule, last_started: float | None, now: float) -> float:
    """When a target with ``schedule`` is next due (may be in the past: due now)."""
    if last_started is None:
        return now
    if schedule.interval is not None:
        return last_started + schedule.interval
    if schedule.cron is None:
        raise ValueError("a schedule needs an interval or a cron expression")
    return parse_cron(schedule.cron).next_after(datetime.fromtimestamp(last_started)).timestamp()
