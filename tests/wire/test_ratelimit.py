"""Rate-limit headers (SPEC R-55) and Retry-After (R-38)."""

from __future__ import annotations

import pytest

from meshcore.types import RateLimitInfo
from meshcore.wire.ratelimit import (
    parse_duration_header,
    parse_rate_limits,
    retry_after_seconds,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3s", 3723.0), ("0s", 0.0),
    ("17", 17.0), ("2.25", 2.25), ("1d", 86400.0), (" 3s ", 3.0),
])
def test_r55_durations(text: str, seconds: float) -> None:
    assert parse_duration_header(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "5x", "-3s", "s", "1s2", "nan", "inf", "3 s"])
def test_r55_bad_durations_ignored(text: str) -> None:
    assert parse_duration_header(text) is None


def test_r55_openai_headers() -> None:
    info = parse_rate_limits([
        ("X-RateLimit-Limit-Requests", "60"), ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-limit-tokens", "150000"), ("x-ratelimit-remaining-tokens", "149984"),
        ("x-ratelimit-reset-requests", "1s"), ("x-ratelimit-reset-tokens", "6m0s"),
        ("content-type", "application/json"),
    ])
    assert info == RateLimitInfo(59, 60, 149984, 150000, 1.0, 360.0)


def test_r55_unsuffixed_and_specific_wins() -> None:
    info = parse_rate_limits([("x-ratelimit-remaining", "5"), ("x-ratelimit-limit", "10"),
                              ("x-ratelimit-reset", "20ms")])
    assert info == RateLimitInfo(requests_remaining=5, requests_limit=10, requests_reset_s=0.02)
    both = parse_rate_limits([("x-ratelimit-remaining", "5"),
                              ("x-ratelimit-remaining-requests", "7")])
    assert both is not None and both.requests_remaining == 7


def test_r55_anthropic_headers_numeric_resets() -> None:
    info = parse_rate_limits([
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
        ("anthropic-ratelimit-requests-reset", "12.5"),
        ("anthropic-ratelimit-tokens-limit", "40000"),
        ("anthropic-ratelimit-tokens-remaining", "39000"),
        ("anthropic-ratelimit-tokens-reset", "3"),
    ])
    assert info == RateLimitInfo(49, 50, 39000, 40000, 12.5, 3.0)


def test_r55_none_without_headers_and_garbage_ignored() -> None:
    assert parse_rate_limits([("content-type", "x")]) is None
    assert parse_rate_limits([("x-ratelimit-remaining-requests", "lots")]) is None
    assert parse_rate_limits([("x-ratelimit-remaining-requests", "-1")]) is None


def test_r38_retry_after_ms_wins() -> None:
    assert retry_after_seconds([("retry-after", "10"), ("retry-after-ms", "1500")]) == 1.5
    assert retry_after_seconds([("Retry-After", "2.5")]) == 2.5
    assert retry_after_seconds([("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]) is None
    assert retry_after_seconds([("retry-after-ms", "soon"), ("retry-after", "4")]) == 4.0
    assert retry_after_seconds([("retry-after", "100000")]) == 100000.0  # unbounded here
    assert retry_after_seconds([]) is None
