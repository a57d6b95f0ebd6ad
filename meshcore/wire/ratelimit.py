"""Rate-limit and Retry-After header parsing (SPEC R-38, R-55).

Theory of operation: the driver reports response headers as (name, value)
pairs; this module reads the OpenAI-style `x-ratelimit-*` headers (suffixed
`-requests` / `-tokens` or unsuffixed) and the Anthropic
`anthropic-ratelimit-*` headers into one `RateLimitInfo`. Reset values are
durations such as `6m0s`, `1.5s`, `20ms` or a bare number of seconds (the
driver has already turned Anthropic's RFC 3339 times into seconds). Any
value that does not parse is ignored; `parse_rate_limits` returns None when
no field was found. One dict lookup per header finds its field; reset
values, which repeat from response to response, are parsed once and
remembered (a bounded table). `retry_after_seconds` implements R-38 on the headers:
`retry-after-ms` first, else numeric `retry-after`; unbounded (the router
bounds it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from meshcore.types import RateLimitInfo

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_NUMBER = re.compile(r"[+]?(\d+(?:\.\d*)?|\.\d+)")


def parse_duration_header(value: str) -> float | None:
    """Seconds from a duration such as `6m0s`, `1h2m3.5s`, `1.5s`, `20ms` or
    a bare non-negative number of seconds; None when unparsable."""
    s = value.strip().lower()
    if not s:
        return None
    if _NUMBER.fullmatch(s):
        f = float(s)
        return f if math.isfinite(f) else None
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0 or not math.isfinite(total):
        return None
    return total


def _int(value: str) -> int | None:
    s = value.strip()
    if s.isascii() and s.isdigit():
        return int(s)
    try:
        f = float(s)
    except ValueError:
        return None
    if math.isfinite(f) and f >= 0 and f.is_integer():
        return int(f)
    return None


_INT_FIELDS: dict[str, str] = {
    "x-ratelimit-remaining-requests": "requests_remaining",
    "x-ratelimit-remaining": "requests_remaining",
    "anthropic-ratelimit-requests-remaining": "requests_remaining",
    "x-ratelimit-limit-requests": "requests_limit",
    "x-ratelimit-limit": "requests_limit",
    "anthropic-ratelimit-requests-limit": "requests_limit",
    "x-ratelimit-remaining-tokens": "tokens_remaining",
    "anthropic-ratelimit-tokens-remaining": "tokens_remaining",
    "x-ratelimit-limit-tokens": "tokens_limit",
    "anthropic-ratelimit-tokens-limit": "tokens_limit",
}
_RESET_FIELDS: dict[str, str] = {
    "x-ratelimit-reset-requests": "requests_reset_s",
    "x-ratelimit-reset": "requests_reset_s",
    "anthropic-ratelimit-requests-reset": "requests_reset_s",
    "x-ratelimit-reset-tokens": "tokens_reset_s",
    "anthropic-ratelimit-tokens-reset": "tokens_reset_s",
}
# The specific (suffixed) header wins over the unsuffixed one when both appear.
_GENERIC = frozenset({"x-ratelimit-remaining", "x-ratelimit-limit", "x-ratelimit-reset"})


# header name -> (RateLimitInfo field, is a reset duration, is unsuffixed)
_FIELDS: dict[str, tuple[str, bool, bool]] = {
    **{name: (key, False, name in _GENERIC) for name, key in _INT_FIELDS.items()},
    **{name: (key, True, name in _GENERIC) for name, key in _RESET_FIELDS.items()},
}
# Reset values repeat (`6ms`, `0s`, `1m0s`): their parse is remembered.
_DURATIONS: dict[str, float | None] = {}


def _duration(value: str) -> float | None:
    if value in _DURATIONS:
        return _DURATIONS[value]
    d = parse_duration_header(value)
    if len(_DURATIONS) >= 256:
        _DURATIONS.clear()
    _DURATIONS[value] = d
    return d


def parse_rate_limits(headers: Iterable[tuple[str, str]]) -> RateLimitInfo | None:
    """R-55: a `RateLimitInfo` from response headers, or None if none apply."""
    found: dict[str, Any] = {}  # ints for the counts, floats for the resets
    generic: dict[str, Any] = {}
    fields = _FIELDS
    for raw_name, value in headers:
        spec = fields.get(raw_name.lower())
        if spec is None:
            continue
        key, is_reset, is_generic = spec
        n = _duration(value) if is_reset else _int(value)
        if n is not None:
            (generic if is_generic else found)[key] = n
    for key, val in generic.items():
        found.setdefault(key, val)
    if not found:
        return None
    get = found.get
    return RateLimitInfo(get("requests_remaining"), get("requests_limit"),
                         get("tokens_remaining"), get("tokens_limit"),
                         get("requests_reset_s"), get("tokens_reset_s"))


def _number(value: str) -> float | None:
    try:
        f = float(value.strip())
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def retry_after_seconds(headers: Iterable[tuple[str, str]]) -> float | None:
    """R-38 on headers: `retry-after-ms` (milliseconds) first, else numeric
    `retry-after` seconds; unparsable values are ignored; not bounded."""
    ms: float | None = None
    secs: float | None = None
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == "retry-after-ms" and ms is None:
            v = _number(value)
            if v is not None:
                ms = v / 1000.0
        elif name == "retry-after" and secs is None:
            secs = _number(value)
    return ms if ms is not None else secs
