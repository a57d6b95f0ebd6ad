"""Five-field cron expressions in UTC, for maintenance windows (SPEC R-44).

Theory of operation: `parse_cron(expr)` turns `minute hour day-of-month
month day-of-week` into a frozen `CronExpr` holding, per field, the sorted
tuple of allowed values. Each field accepts `*`, a value, a range `a-b`,
a step (`*/5`, `1-10/2`, `5/15` = from 5 to the field maximum), and
comma-separated lists of those. Months accept `jan`..`dec` and days of the
week `sun`..`sat` (any case); day-of-week 7 is Sunday like 0.

Day matching follows the classic (Vixie) cron rule: when both
day-of-month and day-of-week are restricted, a day matches if EITHER
field matches; when either of them starts with `*` (including `*/n`),
both must match. Everything is evaluated on UTC wall time with
`datetime.fromtimestamp(x, tz=timezone.utc)`; nothing reads a clock.

Queries work at minute granularity: `matches(wall)` asks about the minute
containing `wall`; `next_match(wall)` returns the start of the first
matching minute strictly after that minute; `next_non_match(wall)` the
start of the first non-matching minute at or after it (the end of a
maintenance window). Searches jump by month, day and hour, never minute by
minute, and stop after `HORIZON_DAYS` (about five years).
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meshcore.frozen import native_reduce
from meshcore.router.calendar import from_wall, minute_start, to_wall

__all__ = ["HORIZON_DAYS", "CronExpr", "parse_cron"]

HORIZON_DAYS = 5 * 366

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun",
                "jul", "aug", "sep", "oct", "nov", "dec")
_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# (field name, minimum, maximum, names mapped to minimum + index)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 7, _DOW_NAMES),
)


@dataclass(frozen=True)
class CronExpr:
    """A parsed cron expression; build it with `parse_cron`."""

    expr: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    doms: tuple[int, ...]
    months: tuple[int, ...]
    dows: tuple[int, ...]  # 0 = Sunday .. 6 = Saturday
    dom_star: bool
    dow_star: bool

    # -- day / minute tests ------------------------------------------------
    def day_matches(self, dt: datetime) -> bool:
        """Whether the calendar day of `dt` matches (month, then DOM/DOW)."""
        if dt.month not in self.months:
            return False
        dom_ok = dt.day in self.doms
        dow_ok = (dt.weekday() + 1) % 7 in self.dows
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def matches(self, wall: float) -> bool:
        """Whether the UTC minute containing `wall` matches."""
        dt = from_wall(wall)
        return dt.minute in self.minutes and dt.hour in self.hours and self.day_matches(dt)

    # -- searches ----------------------------------------------------------
    def next_match(self, wall: float) -> float | None:
        """Start of the first matching minute strictly after the minute
        containing `wall`, or None if none falls within `HORIZON_DAYS`."""
        start = minute_start(wall) + 60.0
        dt = from_wall(start)
        limit = dt + timedelta(days=HORIZON_DAYS)
        while dt < limit:
            if dt.month not in self.months:
                dt = _next_month(dt)
                continue
            if not self.day_matches(dt):
                dt = _next_day(dt)
                continue
            found = self._first_time_in_day(dt)
            if found is not None:
                return to_wall(found)
            dt = _next_day(dt)
        return None

    def _first_time_in_day(self, dt: datetime) -> datetime | None:
        """First matching (hour, minute) at or after `dt` on dt's day."""
        i = bisect.bisect_left(self.hours, dt.hour)
        if i < len(self.hours) and self.hours[i] == dt.hour:
            j = bisect.bisect_left(self.minutes, dt.minute)
            if j < len(self.minutes):
                return dt.replace(minute=self.minutes[j], second=0, microsecond=0)
            i += 1
        if i < len(self.hours):
            return dt.replace(hour=self.hours[i], minute=self.minutes[0], second=0, microsecond=0)
        return None

    def next_non_match(self, wall: float) -> float:
        """Start of the first minute at or after the minute containing `wall`
        that does not match: `minute_start(wall)` itself when that minute does
        not match. An expression that matches every minute of the next
        `HORIZON_DAYS` returns the end of that horizon."""
        dt = from_wall(minute_start(wall))
        limit = dt + timedelta(days=HORIZON_DAYS)
        free_minutes = _complement(self.minutes, 0, 59)
        while dt < limit:
            if not self.day_matches(dt):
                return to_wall(dt)
            for hour in range(dt.hour, 24):
                first_minute = dt.minute if hour == dt.hour else 0
                if hour not in self.hours:
                    return to_wall(dt.replace(hour=hour, minute=first_minute))
                j = bisect.bisect_left(free_minutes, first_minute)
                if j < len(free_minutes):
                    return to_wall(dt.replace(hour=hour, minute=free_minutes[j]))
            dt = _next_day(dt)
        return to_wall(limit)


native_reduce(CronExpr)  # copy/pickle when compiled (meshcore.frozen)


def _next_day(dt: datetime) -> datetime:
    return datetime(dt.year, dt.month, dt.day, tzinfo=UTC) + timedelta(days=1)


def _next_month(dt: datetime) -> datetime:
    if dt.month == 12:
        return datetime(dt.year + 1, 1, 1, tzinfo=UTC)
    return datetime(dt.year, dt.month + 1, 1, tzinfo=UTC)


def _complement(values: tuple[int, ...], lo: int, hi: int) -> tuple[int, ...]:
    present = frozenset(values)
    return tuple(v for v in range(lo, hi + 1) if v not in present)


def _value(token: str, name: str, lo: int, hi: int, names: tuple[str, ...]) -> int:
    low = token.lower()
    if names and low in names:
        return (1 if name == "month" else 0) + names.index(low)
    if not token.isdigit():
        raise ValueError(f"invalid value {token!r}")
    v = int(token)
    if not lo <= v <= hi:
        raise ValueError(f"value {v} out of range {lo}-{hi}")
    return v


def _parse_field(text: str, name: str, lo: int, hi: int, names: tuple[str, ...]) -> list[int]:
    if not text:
        raise ValueError("empty field")
    out: list[int] = []
    for item in text.split(","):
        if not item:
            raise ValueError(f"empty list item in {text!r}")
        base, sep, step_text = item.partition("/")
        step = 1
        if sep:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"invalid step {step_text!r} in {text!r}")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start = _value(a, name, lo, hi, names)
            end = _value(b, name, lo, hi, names)
            if start > end:
                raise ValueError(f"reversed range {base!r}")
        else:
            start = _value(base, name, lo, hi, names)
            end = hi if sep else start
        out.extend(range(start, end + 1, step))
    return out


@functools.lru_cache(maxsize=128)
def parse_cron(expr: str) -> CronExpr:
    """Parse a 5-field UTC cron expression (SPEC R-44).

    Raises ValueError naming the expression and the offending field.
    """
    if not isinstance(expr, str):
        raise ValueError(f"cron expression must be a string, not {type(expr).__name__}")
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron expression {expr!r} must have 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    values: list[tuple[int, ...]] = []
    for text, (name, lo, hi, names) in zip(parts, _FIELDS, strict=True):
        try:
            vals = _parse_field(text, name, lo, hi, names)
        except ValueError as exc:
            raise ValueError(f"cron expression {expr!r}: {name} field {text!r}: {exc}") from None
        if name == "day-of-week":
            vals = [v % 7 for v in vals]
        values.append(tuple(sorted(set(vals))))
    return CronExpr(
        expr=expr,
        minutes=values[0],
        hours=values[1],
        doms=values[2],
        months=values[3],
        dows=values[4],
        dom_star=parts[2].startswith("*"),
        dow_star=parts[4].startswith("*"),
    )
