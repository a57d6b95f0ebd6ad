"""Maintenance-window cron expressions (SPEC R-44, R-47 `maintenance_window_ended`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.router.calendar import minute_start
from meshcore.router.cron import HORIZON_DAYS, parse_cron


def w(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()


# 2026-11-22 is a Sunday, 2026-11-21 a Saturday, 2026-11-27 a Friday.


def test_r44_spec_example_sundays_3_to_5() -> None:
    """`* 3-4 * * 0` = Sundays 03:00-04:59 UTC."""
    c = parse_cron("* 3-4 * * 0")
    assert c.matches(w(2026, 11, 22, 3, 0))
    assert c.matches(w(2026, 11, 22, 4, 59, 59))
    assert not c.matches(w(2026, 11, 22, 5, 0))
    assert not c.matches(w(2026, 11, 22, 2, 59))
    assert not c.matches(w(2026, 11, 21, 3, 0))


def test_day_of_week_7_is_sunday_and_names() -> None:
    assert parse_cron("0 0 * * 7").dows == (0,)
    assert parse_cron("0 0 * * sun").dows == (0,)
    assert parse_cron("0 0 * * Mon-Fri").dows == (1, 2, 3, 4, 5)
    assert parse_cron("0 0 * * 5-7").dows == (0, 5, 6)
    assert parse_cron("0 0 1 jan,JUL *").months == (1, 7)


def test_steps_ranges_lists() -> None:
    assert parse_cron("*/15 * * * *").minutes == (0, 15, 30, 45)
    assert parse_cron("1-10/3 * * * *").minutes == (1, 4, 7, 10)
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)
    assert parse_cron("0 1,5,3-4 * * *").hours == (1, 3, 4, 5)
    assert parse_cron("0 */6 * * *").hours == (0, 6, 12, 18)


def test_dom_dow_or_semantics_when_both_restricted() -> None:
    c = parse_cron("0 0 13 * 5")  # the 13th OR any Friday
    assert c.matches(w(2026, 11, 13))  # Friday the 13th
    assert c.matches(w(2026, 10, 13))  # a Tuesday, but the 13th
    assert c.matches(w(2026, 11, 27))  # a Friday, not the 13th
    assert not c.matches(w(2026, 11, 26))


def test_dom_dow_and_semantics_when_one_is_star() -> None:
    assert parse_cron("0 0 * * 5").matches(w(2026, 11, 27))
    assert not parse_cron("0 0 * * 5").matches(w(2026, 11, 13, 0, 0) + 86400)
    # `*/2` starts with `*`, so (classic cron) both fields must match
    c = parse_cron("0 0 */2 * 5")
    assert c.matches(w(2026, 11, 27))  # odd day, Friday
    assert not c.matches(w(2026, 11, 20))  # even day, Friday
    assert not c.matches(w(2026, 11, 25))  # odd day, Wednesday


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("* * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * 32 * *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * foo *", "month"),
        ("* * * * 8", "day-of-week"),
        ("*/0 * * * *", "minute"),
        ("*/x * * * *", "minute"),
        ("5-1 * * * *", "minute"),
        ("1,,2 * * * *", "minute"),
        ("* * * * mon-", "day-of-week"),
        ("", "5 fields"),
    ],
)
def test_r44_invalid_expressions_name_the_field(expr: str, field: str) -> None:
    parse_cron.cache_clear()
    with pytest.raises(ValueError, match=field):
        parse_cron(expr)


def test_next_match_is_strictly_after_the_current_minute() -> None:
    c = parse_cron("*/15 * * * *")
    assert c.next_match(w(2026, 11, 22, 10, 0, 30)) == w(2026, 11, 22, 10, 15)
    assert c.next_match(w(2026, 11, 22, 10, 14, 59)) == w(2026, 11, 22, 10, 15)
    assert c.next_match(w(2026, 11, 22, 23, 50)) == w(2026, 11, 23, 0, 0)


def test_next_match_across_months_and_years() -> None:
    c = parse_cron("* 3-4 * * 0")
    assert c.next_match(w(2026, 11, 22, 5, 0)) == w(2026, 11, 29, 3, 0)
    assert parse_cron("30 2 1 1 *").next_match(w(2026, 3, 1)) == w(2027, 1, 1, 2, 30)


def test_next_match_leap_day_and_never() -> None:
    assert parse_cron("0 0 29 2 *").next_match(w(2025, 3, 1)) == w(2028, 2, 29)
    assert parse_cron("0 0 31 2 *").next_match(w(2025, 3, 1)) is None
    assert parse_cron("0 0 30 2 *").next_match(w(2025, 3, 1)) is None


def test_r47_next_non_match_ends_the_window() -> None:
    c = parse_cron("* 3-4 * * 0")
    assert c.next_non_match(w(2026, 11, 22, 3, 10, 5)) == w(2026, 11, 22, 5, 0)
    outside = w(2026, 11, 22, 6, 7, 8)
    assert c.next_non_match(outside) == minute_start(outside)


def test_next_non_match_window_spanning_midnight() -> None:
    c = parse_cron("* 22-23 * * *")
    assert c.next_non_match(w(2026, 11, 22, 23, 30)) == w(2026, 11, 23, 0, 0)
    whole_day = parse_cron("* * 22,23 11 *")
    assert whole_day.next_non_match(w(2026, 11, 22, 12, 0)) == w(2026, 11, 24, 0, 0)


def test_next_non_match_of_minute_list() -> None:
    c = parse_cron("0-9,11 * * * *")
    assert c.next_non_match(w(2026, 1, 1, 0, 3)) == w(2026, 1, 1, 0, 10)
    assert c.next_non_match(w(2026, 1, 1, 0, 11)) == w(2026, 1, 1, 0, 12)


def test_always_matching_expression_returns_the_horizon() -> None:
    start = w(2026, 1, 1)
    end = parse_cron("* * * * *").next_non_match(start)
    assert end == start + HORIZON_DAYS * 86400


def test_searches_are_fast() -> None:
    """Searches skip by month/day/hour, not minute by minute over years."""
    t0 = time.perf_counter()
    for _ in range(5):
        assert parse_cron("0 0 31 2 *").next_match(w(2025, 3, 1)) is None
        parse_cron("* * * * *").next_non_match(w(2026, 1, 1))
    assert time.perf_counter() - t0 < 2.0


def test_parse_is_pure_value() -> None:
    assert parse_cron("*/5 1 * * *") == parse_cron("*/5 1 * * *")


# ---- property tests against a brute-force oracle ------------------------------

def _field(lo: int, hi: int) -> st.SearchStrategy[str]:
    single = st.integers(lo, hi).map(str)
    rng = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    step = st.tuples(st.integers(lo, hi), st.integers(1, 7)).map(lambda t: f"{t[0]}/{t[1]}")
    star_step = st.integers(1, 9).map(lambda s: f"*/{s}")
    item = st.one_of(single, rng, step, star_step)
    return st.one_of(st.just("*"), st.lists(item, min_size=1, max_size=3).map(",".join))


EXPRS = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 7)
).map(" ".join)
START = w(2026, 1, 1)
WALLS = st.floats(min_value=START, max_value=START + 3 * 365 * 86400, allow_nan=False)
SCAN_MIN = 3 * 24 * 60


@settings(max_examples=40, deadline=None)
@given(expr=EXPRS, wall=WALLS)
def test_next_match_agrees_with_minute_scan(expr: str, wall: float) -> None:
    c = parse_cron(expr)
    base = minute_start(wall)
    found = next((base + 60 * k for k in range(1, SCAN_MIN) if c.matches(base + 60 * k)), None)
    got = c.next_match(wall)
    if found is not None:
        assert got == found
    else:
        assert got is None or got >= base + 60 * SCAN_MIN


@settings(max_examples=40, deadline=None)
@given(expr=EXPRS, wall=WALLS)
def test_next_non_match_agrees_with_minute_scan(expr: str, wall: float) -> None:
    c = parse_cron(expr)
    base = minute_start(wall)
    found = next((base + 60 * k for k in range(SCAN_MIN) if not c.matches(base + 60 * k)), None)
    got = c.next_non_match(wall)
    if found is not None:
        assert got == found
    else:
        assert got >= base + 60 * SCAN_MIN
