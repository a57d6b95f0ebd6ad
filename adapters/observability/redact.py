"""Secret redaction of observability records (SPEC R-95, R-80).

`Redactor.scrub(record)` returns a redacted deep copy of a JSON-like record:

- key-based (when `redact_secrets` is on, the default): the value of every key
  matching `api_key`, `apikey`, `token`, `secret`, `password`, `authorization`,
  `x-api-key`, `x-goog-api-key`, `xi-api-key` (case-insensitive, `-` and `_`
  treated alike) becomes `***REDACTED***`; `Bearer <value>` in any string
  becomes `Bearer ***REDACTED***`;
- value-based (always): every resolved secret value of 6 or more characters is
  replaced by `***REDACTED***` wherever it occurs, in keys and values alike.

Counters such as `tokens_in` are not secrets: a key is sensitive only when it
is one of the names above, optionally prefixed (`openai_api_key`,
`access_token`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["REDACTED", "SENSITIVE_KEYS", "Redactor", "is_sensitive_key"]

REDACTED = "***REDACTED***"
SENSITIVE_KEYS = (
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "xi-api-key",
)
_NORMAL = tuple(k.replace("-", "_") for k in SENSITIVE_KEYS)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
MIN_SECRET = 6


def is_sensitive_key(key: str) -> bool:
    """True for the R-95 key names, alone or as the last part of a longer key."""
    k = key.lower().replace("-", "_")
    return any(k == n or k.endswith("_" + n) for n in _NORMAL)


class Redactor:
    """Key-based and secret-value redaction (R-95)."""

    def __init__(self, secrets: Iterable[str] = (), *, by_key: bool = True) -> None:
        values = sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET},
                        key=len, reverse=True)
        self.by_key = by_key
        self._values = tuple(values)
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in values)) if values else None
        )

    def with_key_redaction(self, by_key: bool) -> Redactor:
        """The same secret values with key-based redaction on or off."""
        out = Redactor(by_key=by_key)
        out._values = self._values
        out._pattern = self._pattern
        return out

    def text(self, value: str) -> str:
        """Scrub one string."""
        if self._pattern is not None:
            value = self._pattern.sub(REDACTED, value)
        if self.by_key:
            value = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
        return value

    def scrub(self, value: Any) -> Any:
        """A redacted copy of a JSON-like value (dicts, lists, tuples, scalars)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = self.text(k) if isinstance(k, str) else k
                if self.by_key and isinstance(k, str) and is_sensitive_key(k) and v is not None:
                    out[key] = REDACTED
                else:
                    out[key] = self.scrub(v)
            return out
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        if isinstance(value, (bytes, bytearray)):
            return self.text(bytes(value).decode("utf-8", "replace"))
        return value
