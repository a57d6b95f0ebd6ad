"""UTC calendar helpers: quota periods (R-45), budget periods (R-61),
quota boundaries (R-47) and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.router.calendar import iso_utc, minute_start, next_boundary, period_key


def w(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()


def test_r61_period_keys() -> None:
    t = w(2026, 11, 23, 15, 30)
    assert period_key("daily", t) == "2026-11-23"
    assert period_key("daily_utc", t) == "2026-11-23"
    assert period_key("monthly", t) == "2026-11"


def test_r45_daily_period_turns_at_utc_midnight() -> None:
    assert period_key("daily", w(2026, 11, 23, 23, 59, 59)) == "2026-11-23"
    assert period_key("daily", w(2026, 11, 24)) == "2026-11-24"
    assert period_key("monthly", w(2026, 11, 30, 23, 59, 59)) == "2026-11"
    assert period_key("monthly", w(2026, 12, 1)) == "2026-12"


def test_period_key_rejects_unknown_window() -> None:
    with pytest.raises(ValueError, match="weekly"):
        period_key("weekly", 0.0)


def test_r47_next_boundary_daily() -> None:
    assert next_boundary("daily", w(2026, 11, 23, 15, 0)) == w(2026, 11, 24)
    assert next_boundary("daily_utc", w(2026, 11, 23, 15, 0)) == w(2026, 11, 24)
    # strictly after: exactly at midnight gives the following midnight
    assert next_boundary("daily", w(2026, 11, 24)) == w(2026, 11, 25)
    assert next_boundary("daily", w(2026, 12, 31, 23, 0)) == w(2027, 1, 1)


def test_r47_next_boundary_monthly() -> None:
    assert next_boundary("monthly", w(2026, 11, 23, 15, 0)) == w(2026, 12, 1)
    assert next_boundary("monthly", w(2026, 12, 15)) == w(2027, 1, 1)
    assert next_boundary("monthly", w(2028, 2, 29, 12)) == w(2028, 3, 1)
    assert next_boundary("monthly", w(2026, 12, 1)) == w(2027, 1, 1)


def test_r45_rolling_boundary_is_24h_after_entering_standby() -> None:
    entered = w(2026, 11, 23, 15, 0)
    assert next_boundary("rolling", entered + 3600, entered) == entered + 86400
    assert next_boundary("rolling", entered) == entered + 86400


def test_next_boundary_rejects_unknown_schedule() -> None:
    with pytest.raises(ValueError):
        next_boundary("hourly", 0.0)


def test_iso_utc_seconds_precision_with_z() -> None:
    assert iso_utc(w(2026, 11, 23, 4, 5, 6)) == "2026-11-23T04:05:06Z"
    assert iso_utc(w(2026, 11, 23, 4, 5, 6) + 0.999) == "2026-11-23T04:05:06Z"
    assert iso_utc(0.0) == "1970-01-01T00:00:00Z"


def test_minute_start() -> None:
    assert minute_start(w(2026, 11, 23, 4, 5, 6) + 0.5) == w(2026, 11, 23, 4, 5)
    assert minute_start(w(2026, 11, 23, 4, 5)) == w(2026, 11, 23, 4, 5)


WALLS = st.floats(min_value=0, max_value=4.0e9, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(wall=WALLS, window=st.sampled_from(["daily", "monthly"]))
def test_r45_boundary_ends_the_period(wall: float, window: str) -> None:
    """The next boundary is the first instant of a new period key, and the
    second before it still belongs to the current one."""
    nb = next_boundary(window, wall)
    assert nb > wall
    assert period_key(window, nb) != period_key(window, wall)
    assert period_key(window, nb - 1) == period_key(window, wall)
    assert datetime.fromtimestamp(nb, tz=UTC).time().isoformat() == "00:00:00"


@settings(max_examples=60, deadline=None)
@given(wall=WALLS)
def test_minute_start_floors(wall: float) -> None:
    m = minute_start(wall)
    assert m <= wall < m + 60
    assert m % 60 == 0
