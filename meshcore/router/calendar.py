"""UTC calendar arithmetic for quota periods, budgets and timestamps.

Theory of operation: calendar rules (SPEC R-45 quota periods, R-61 budget
periods, R-47 quota boundaries) run on UTC wall time, which reaches the
core as the `wall` half of an `Instant`. These helpers are pure functions
of a wall-clock epoch value: they build `datetime` objects with
`datetime.fromtimestamp(x, tz=timezone.utc)` and never read a clock.

- `period_key(window, wall)` names the period containing `wall`
  (`"2026-11-23"` for daily, `"2026-11"` for monthly); counters and budget
  spend are stored per key, so a changed key means a new period.
- `next_boundary(schedule, wall, entered_wall)` is the first boundary
  strictly after `wall`: next 00:00 UTC, next 1st 00:00 UTC, or, for a
  rolling schedule, 24 h after the model entered standby.
- `iso_utc(wall)` renders ISO-8601 with a `Z` suffix at second precision;
  `minute_start(wall)` floors to the start of the minute.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

__all__ = [
    "DAY_S",
    "from_wall",
    "iso_utc",
    "minute_start",
    "next_boundary",
    "normalise_window",
    "period_key",
    "to_wall",
]

DAY_S = 86400.0

_DAILY = ("daily", "daily_utc")


def from_wall(wall: float) -> datetime:
    """The aware UTC `datetime` of a wall-clock epoch value."""
    return datetime.fromtimestamp(wall, tz=UTC)


def to_wall(dt: datetime) -> float:
    """The epoch seconds of an aware `datetime`."""
    return dt.timestamp()


def normalise_window(window: str) -> str:
    """Map `daily`/`daily_utc` to `daily` and keep `monthly`; anything else
    is a ValueError naming the accepted values."""
    if window in _DAILY:
        return "daily"
    if window == "monthly":
        return "monthly"
    raise ValueError(f"unknown quota/budget period {window!r}; expected daily, daily_utc or monthly")


_PERIOD_CACHE: dict[tuple[str, int], str] = {}
_ISO_CACHE: list[tuple[int, str]] = [(-1, "")]


def period_key(window: str, wall: float) -> str:
    """The key of the `window` period (`daily`, `daily_utc`, `monthly`)
    containing `wall` (R-45, R-61): `"YYYY-MM-DD"` or `"YYYY-MM"`.
    Memoised per UTC day (a pure function of its arguments; it sits on the
    per-request path)."""
    ck = (window, math.floor(wall / DAY_S))
    hit = _PERIOD_CACHE.get(ck)
    if hit is not None:
        return hit
    kind = normalise_window(window)
    dt = from_wall(wall)
    if kind == "daily":
        key = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
    else:
        key = f"{dt.year:04d}-{dt.month:02d}"
    if len(_PERIOD_CACHE) > 4096:
        _PERIOD_CACHE.clear()
    _PERIOD_CACHE[ck] = key
    return key


def _next_midnight(dt: datetime) -> datetime:
    day = datetime(dt.year, dt.month, dt.day, tzinfo=UTC)
    return day + timedelta(days=1)


def _next_month_start(dt: datetime) -> datetime:
    if dt.month == 12:
        return datetime(dt.year + 1, 1, 1, tzinfo=UTC)
    return datetime(dt.year, dt.month + 1, 1, tzinfo=UTC)


def next_boundary(schedule: str, wall: float, entered_wall: float | None = None) -> float:
    """The next quota boundary strictly after `wall` (R-45, R-47).

    `daily`/`daily_utc`: the next 00:00 UTC. `monthly`: the next 1st of a
    month at 00:00 UTC. `rolling`: `entered_wall + 86400` (24 h after the
    model entered standby; `entered_wall` defaults to `wall`).
    """
    if schedule == "rolling":
        start = wall if entered_wall is None else entered_wall
        return start + DAY_S
    kind = normalise_window(schedule)
    dt = from_wall(wall)
    nxt = _next_midnight(dt) if kind == "daily" else _next_month_start(dt)
    return to_wall(nxt)


def iso_utc(wall: float) -> str:
    """ISO-8601 UTC at second precision with a `Z` suffix (fraction dropped),
    e.g. `2026-11-23T04:05:06Z`."""
    sec = math.floor(wall)
    last = _ISO_CACHE[0]
    if last[0] == sec:
        return last[1]
    dt = from_wall(sec)
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
        f"T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )
    _ISO_CACHE[0] = (sec, text)
    return text


def minute_start(wall: float) -> float:
    """The start (epoch seconds) of the UTC minute containing `wall`."""
    return float(math.floor(wall / 60.0) * 60)
