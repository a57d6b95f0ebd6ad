"""Outcome classification of failed attempts (SPEC R-33, R-38, R-72).

Theory of operation: drivers and attempt objects report facts
(`AttemptFailed`: failure kind, status, allow-listed headers, a body excerpt);
`classify` concludes the R-33 outcome class from them, in this order:

1. `committed=True` (the stream had reached the caller): `stream_interrupted`.
2. Transport kinds map directly: TIMEOUT, STREAM_GAP and DEADLINE ->
   `timeout`; TTFT_TIMEOUT -> `ttft_timeout`; CONNECTION ->
   `connection_error`; MALFORMED_BODY, STREAM_ERROR, STREAM_INCOMPLETE ->
   `server_error`; CONTENT_BLOCKED -> `content_filter`.
3. HTTP_STATUS follows the status table: 402 quota; 429 quota when the
   error code/type says so, else rate limited; 401/403 auth; 404 model not
   found; 408 timeout; 400/413/422 context length (code or message),
   400/422 content filter (code), else bad request; 5xx server error;
   a 2xx reported as a status failure is a server error; anything else
   unknown.

Then the connector's wire family may refine the result through
`REFINERS[family](fact, classification)` (e.g. Anthropic 529, Gemini
safety blocks). `retry_after_s` comes from the headers (R-38, unbounded:
the router bounds it); `message` is a short excerpt with keys redacted.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshcore.connectors import PROVIDER_CONNECTORS
from meshcore.events import AttemptFailed
from meshcore.frozen import fast_frozen
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire.models import ErrorClassification
from meshcore.wire.ratelimit import retry_after_seconds

MESSAGE_MAX = 300


@dataclass(frozen=True, slots=True)
class Classification:
    """The R-33 class of one failed attempt plus what the router needs."""

    outcome: OutcomeClass
    retry_after_s: float | None = None
    code: str | None = None
    message: str = ""


fast_frozen(Classification)


Refiner = Callable[[AttemptFailed, Classification], Classification]
REFINERS: dict[str, Refiner] = {}
"""Wire family -> refinement applied after the default rules."""


def register_refiner(family: str, refiner: Refiner) -> None:
    """Install the classification refinement of a wire family (R-72)."""
    REFINERS[family] = refiner


_KIND_CLASS: dict[FailureKind, OutcomeClass] = {
    FailureKind.TIMEOUT: OutcomeClass.TIMEOUT,
    FailureKind.STREAM_GAP: OutcomeClass.TIMEOUT,
    FailureKind.DEADLINE: OutcomeClass.TIMEOUT,
    FailureKind.TTFT_TIMEOUT: OutcomeClass.TTFT_TIMEOUT,
    FailureKind.CONNECTION: OutcomeClass.CONNECTION_ERROR,
    FailureKind.MALFORMED_BODY: OutcomeClass.SERVER_ERROR,
    FailureKind.STREAM_ERROR: OutcomeClass.SERVER_ERROR,
    FailureKind.STREAM_INCOMPLETE: OutcomeClass.SERVER_ERROR,
    FailureKind.CONTENT_BLOCKED: OutcomeClass.CONTENT_FILTER,
}

QUOTA_CODES = frozenset({"insufficient_quota", "quota_exceeded", "billing_hard_limit_reached"})
CONTEXT_CODES = frozenset({"context_length_exceeded"})
FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "safety"})

_CONTEXT_MESSAGE = re.compile(
    r"(context[ _-]?(length|window|size)|prompt[ _-]?(length|is too long|too long)"
    r"|maximum (number of )?tokens|max[ _-]?tokens|too many tokens|input is too long"
    r"|token limit)"
    r".{0,80}?(exceed|too long|too large|greater than|more than|limit)"
    r"|(exceed|too long|too large|greater than).{0,80}?"
    r"(context[ _-]?(length|window|size)|maximum context|prompt length|token limit"
    r"|maximum (number of )?tokens)"
    r"|prompt is too long|input is too long|input too long|maximum context length",
    re.IGNORECASE | re.DOTALL,
)
_REDACT = (
    re.compile(r"(?i)bearer\s+[^\s\"',;]+"),
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{10,}"),
    re.compile(r"(?i)((?:api[_-]?key|x-api-key|xi-api-key|token|secret|password)[\"']?\s*[:=]\s*[\"']?)"
               r"[^\s\"',;&]+"),
)
_CODE_RE = re.compile(r'"(code|type|status)"\s*:\s*"([^"]{1,80})"')
_MSG_RE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.){0,400})')


def redact(text: str) -> str:
    """Replace bearer tokens and key-looking strings with `[redacted]`."""
    out = _REDACT[0].sub("Bearer [redacted]", text)
    out = _REDACT[1].sub("[redacted]", out)
    out = _REDACT[2].sub("[redacted]", out)
    return _REDACT[3].sub(lambda m: m.group(1) + "[redacted]", out)


def short_message(text: str) -> str:
    """A redacted, whitespace-collapsed excerpt of at most 300 characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= MESSAGE_MAX else flat[: MESSAGE_MAX - 3] + "..."


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a provider's error body says: codes (lowercased) and message."""

    codes: tuple[str, ...]
    message: str


fast_frozen(ErrorInfo)


def _collect(obj: Any, codes: list[str], messages: list[str], depth: int = 0) -> None:
    if depth > 4:
        return
    if isinstance(obj, dict):
        for key in ("code", "type", "status", "reason"):
            val = obj.get(key)
            if isinstance(val, (str, int)) and not isinstance(val, bool):
                codes.append(str(val).lower())
        msg = obj.get("message")
        if isinstance(msg, str):
            messages.append(msg)
        for key in ("error", "errors", "details", "detail"):
            sub = obj.get(key)
            if isinstance(sub, str):
                messages.append(sub)
            elif sub is not None:
                _collect(sub, codes, messages, depth + 1)
    elif isinstance(obj, list):
        for item in obj[:5]:
            _collect(item, codes, messages, depth + 1)


def error_info(excerpt: str) -> ErrorInfo:
    """Read error codes/types and the message out of a (possibly truncated)
    JSON error body; falls back to a regex scan, then to the raw text."""
    codes: list[str] = []
    messages: list[str] = []
    try:
        data = json.loads(excerpt) if excerpt.lstrip()[:1] in ("{", "[") else None
    except (ValueError, RecursionError):
        data = None
    if data is not None:
        _collect(data, codes, messages)
    else:
        codes = [m.group(2).lower() for m in _CODE_RE.finditer(excerpt)]
        messages = [m.group(1) for m in _MSG_RE.finditer(excerpt)]
    message = messages[0] if messages else excerpt
    return ErrorInfo(tuple(codes), message)


def _first(codes: tuple[str, ...], allowed: frozenset[str]) -> str | None:
    for c in codes:
        if c in allowed:
            return c
    return None


def _classify_status(status: int, info: ErrorInfo) -> tuple[OutcomeClass, str | None]:
    codes = info.codes
    if 200 <= status < 300:
        return OutcomeClass.SERVER_ERROR, None
    if status == 402:
        return OutcomeClass.QUOTA_EXHAUSTED, _first(codes, QUOTA_CODES) or "payment_required"
    if status == 429:
        quota = _first(codes, QUOTA_CODES)
        if quota is not None:
            return OutcomeClass.QUOTA_EXHAUSTED, quota
        return OutcomeClass.RATE_LIMITED, None
    if status in (401, 403):
        return OutcomeClass.AUTH, None
    if status == 404:
        return OutcomeClass.MODEL_NOT_FOUND, "model_not_found"
    if status == 408:
        return OutcomeClass.TIMEOUT, None
    if status in (400, 413, 422):
        if _first(codes, CONTEXT_CODES) or _CONTEXT_MESSAGE.search(info.message):
            return OutcomeClass.CONTEXT_LENGTH_EXCEEDED, "context_length_exceeded"
        if status != 413:
            filt = _first(codes, FILTER_CODES)
            if filt is not None:
                return OutcomeClass.CONTENT_FILTER, filt
        return OutcomeClass.BAD_REQUEST, None
    if 500 <= status < 600:
        return OutcomeClass.SERVER_ERROR, None
    return OutcomeClass.UNKNOWN, None


def family_of(connector_id: str) -> str:
    """The wire family of a connector ID ('' when unknown)."""
    info = PROVIDER_CONNECTORS.get(connector_id)
    if info is not None:
        return info.family
    from meshcore.wire import registry  # custom connectors registered at run time

    try:
        return registry.connector_info(connector_id).family
    except KeyError:
        return ""


def classify(fact: AttemptFailed, connector_id: str, committed: bool = False) -> Classification:
    """R-33: the outcome class of a failed attempt (see module docstring)."""
    retry_after = retry_after_seconds(fact.headers)
    info = error_info(fact.body_excerpt) if fact.body_excerpt else ErrorInfo((), "")
    text = info.message or fact.detail or fact.kind.value
    if fact.status is not None and fact.kind is FailureKind.HTTP_STATUS and not info.message:
        text = f"HTTP {fact.status}"
    message = short_message(text)
    if committed:
        return Classification(OutcomeClass.STREAM_INTERRUPTED, retry_after, None,
                              short_message(fact.detail or text))
    code: str | None = None
    if fact.kind is FailureKind.HTTP_STATUS:
        if fact.status is None:
            outcome = OutcomeClass.UNKNOWN
        else:
            outcome, code = _classify_status(fact.status, info)
    else:
        outcome = _KIND_CLASS.get(fact.kind, OutcomeClass.UNKNOWN)
        if fact.kind is not FailureKind.STREAM_ERROR and fact.detail:
            message = short_message(fact.detail)
        if outcome is OutcomeClass.CONTENT_FILTER:
            code = "content_filter"
    result = Classification(outcome, retry_after, code, message)
    refine = REFINERS.get(family_of(connector_id))
    if refine is not None:
        with contextlib.suppress(Exception):  # a refiner bug keeps the default class
            result = refine(fact, result)
    return result


_RETRYABLE = frozenset(
    {
        OutcomeClass.RATE_LIMITED,
        OutcomeClass.SERVER_ERROR,
        OutcomeClass.TIMEOUT,
        OutcomeClass.TTFT_TIMEOUT,
        OutcomeClass.CONNECTION_ERROR,
        OutcomeClass.UNKNOWN,
    }
)


def classify_error(
    fact: AttemptFailed, connector_id: str, committed: bool = False
) -> ErrorClassification:
    """R-72 Error Classification: `ErrorClassification(retryable, category,
    retry_after)` with the R-33 category; retryable = another attempt (same
    model or another) may succeed."""
    c = classify(fact, connector_id, committed)
    return ErrorClassification(
        retryable=c.outcome in _RETRYABLE, category=c.outcome.value, retry_after=c.retry_after_s
    )


def is_retryable(fact: AttemptFailed, connector_id: str) -> bool:
    """R-72 `is_retryable`."""
    return classify_error(fact, connector_id).retryable
