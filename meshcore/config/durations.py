"""Durations, sizes and URLs (SPEC R-12, R-14).

Theory of operation: three small pure parsers. `parse_duration` turns a
non-negative number with an optional `ms`/`s`/`m`/`h`/`d` suffix (a bare
number means seconds) into float seconds; `parse_size` turns a byte count
or a number with `KB`/`MB`/`GB` (powers of 1000) or `KiB`/`MiB`/`GiB`
(powers of 1024) into int bytes. Both raise `ValueError` with a short
message; the loader prefixes it with the key path. Booleans, negative
values, NaN and infinities are rejected.
"""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_RE = re.compile(rf"^({_NUMBER})\s*(ms|s|m|h|d)?$")
_SIZE_RE = re.compile(rf"^({_NUMBER})\s*(B|KB|MB|GB|KiB|MiB|GiB)?$")

_DURATION_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def _number(value: object, what: str) -> float | None:
    if isinstance(value, bool):
        raise ValueError(f"expected a {what}, got a boolean")
    if isinstance(value, int | float):
        f = float(value)
        if math.isnan(f) or math.isinf(f):
            raise ValueError(f"expected a finite {what}")
        if f < 0:
            raise ValueError(f"{what} must not be negative")
        return f
    return None


def parse_duration(value: object) -> float:
    """Parse a duration (R-12) into seconds; raise `ValueError` otherwise.

    >>> parse_duration("500ms"), parse_duration("1.5h"), parse_duration(7)
    (0.5, 5400.0, 7.0)
    """
    num = _number(value, "duration")
    if num is not None:
        return num
    if not isinstance(value, str):
        raise ValueError(f"expected a duration, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"duration must not be negative: {value!r}")
    m = _DURATION_RE.match(text)
    if m is None:
        raise ValueError(
            f"invalid duration {value!r} (use a number with ms, s, m, h or d, e.g. '30s')"
        )
    result = float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
    if math.isinf(result):
        raise ValueError(f"duration too large: {value!r}")
    return result


def parse_size(value: object) -> int:
    """Parse a size (R-12) into bytes; raise `ValueError` otherwise.

    >>> parse_size("25MB"), parse_size("10MiB"), parse_size(512)
    (25000000, 10485760, 512)
    """
    num = _number(value, "size")
    if num is not None:
        if num != int(num):
            raise ValueError(f"a byte count must be a whole number, got {value!r}")
        return int(num)
    if not isinstance(value, str):
        raise ValueError(f"expected a size, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"size must not be negative: {value!r}")
    m = _SIZE_RE.match(text)
    if m is None:
        raise ValueError(
            f"invalid size {value!r} (use bytes or a number with KB, MB, GB, KiB, MiB or GiB)"
        )
    result = float(m.group(1)) * _SIZE_UNITS[m.group(2) or "B"]
    if math.isinf(result):
        raise ValueError(f"size too large: {value!r}")
    return int(result)


def check_url(value: object) -> str:
    """Return `value` when it is an http(s) URL with a host (R-14); raise
    `ValueError` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"expected a URL string, got {type(value).__name__}")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL {value!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"invalid URL {value!r} (need http:// or https:// and a host)")
    return value


__all__ = ["check_url", "parse_duration", "parse_size"]
