"""R-116: the proxy's error bodies and statuses.

Every error answer is `{"error": {"message", "type", "param", "code"}}`; routing
failures add `{"modelmesh": {"pool", "attempts": [...]}}` with one row per attempt
(`model_id`, `provider_id`, `class`, `status_code`). Messages come from the
library's exceptions, which never hold a resolved secret, and nothing else (no
request bodies, no provider bodies) is copied into them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from meshcore.actions import AttemptRecord
from meshcore.errors import (
    AllProvidersExhaustedError,
    BudgetExceededError,
    ModelMeshError,
    NoActiveModelError,
    ProviderError,
    RoutingError,
    SessionModelUnavailableError,
    StreamInterruptedError,
    UnknownPoolError,
)
from meshcore.types import OutcomeClass

__all__ = ["ProxyError", "error_for_exception", "invalid_request", "stream_error_payload"]

_REQUEST_FAULTS = frozenset({OutcomeClass.BAD_REQUEST, OutcomeClass.CONTEXT_LENGTH_EXCEEDED})


@dataclass
class ProxyError(Exception):
    """An HTTP error answer: status, OpenAI error fields, extra headers and the
    optional `modelmesh` routing member."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    modelmesh: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body of R-116."""
        out: dict[str, Any] = {"error": {"message": self.message, "type": self.type,
                                         "param": self.param, "code": self.code}}
        if self.modelmesh is not None:
            out["modelmesh"] = self.modelmesh
        return out

    def body_bytes(self) -> bytes:
        """The body, encoded."""
        return json.dumps(self.body(), separators=(",", ":")).encode()


def invalid_request(message: str, param: str | None = None) -> ProxyError:
    """400 `invalid_request_error` / `invalid_request` naming the bad field."""
    return ProxyError(400, message, "invalid_request_error", "invalid_request", param)


def _attempt_rows(attempts: tuple[AttemptRecord, ...]) -> list[dict[str, Any]]:
    return [{"model_id": a.model_id, "provider_id": a.provider_id, "class": a.outcome.value,
             "status_code": a.status_code} for a in attempts]


def _routing(exc: ModelMeshError, pool: str | None) -> dict[str, Any]:
    attempts: tuple[AttemptRecord, ...] = getattr(exc, "attempts", ()) or ()
    return {"pool": exc.details.get("pool_name", pool), "attempts": _attempt_rows(attempts)}


def _retry_after(exc: ModelMeshError) -> list[tuple[str, str]]:
    ra = exc.details.get("retry_after_s")
    if isinstance(ra, (int, float)) and not isinstance(ra, bool) and ra > 0:
        return [("retry-after", str(max(1, math.ceil(ra))))]
    return []


def error_for_exception(exc: BaseException, pool: str | None = None) -> ProxyError:
    """Map a library exception to its R-116 row."""
    if isinstance(exc, ProxyError):
        return exc
    if isinstance(exc, UnknownPoolError):
        return ProxyError(404, exc.message, "invalid_request_error", "model_not_found", "model")
    if isinstance(exc, BudgetExceededError):
        return ProxyError(429, exc.message, "insufficient_quota", "budget_exceeded",
                          modelmesh=_routing(exc, pool))
    if isinstance(exc, NoActiveModelError):
        return ProxyError(429, exc.message, "rate_limit_error", "no_active_model",
                          headers=_retry_after(exc), modelmesh=_routing(exc, pool))
    if isinstance(exc, SessionModelUnavailableError):
        return ProxyError(503, exc.message, "api_error", "session_model_unavailable",
                          headers=_retry_after(exc), modelmesh=_routing(exc, pool))
    if isinstance(exc, AllProvidersExhaustedError):
        mm = _routing(exc, pool)
        if exc.details.get("reason") == "deadline_exceeded":
            return ProxyError(504, exc.message, "api_error", "deadline_exceeded", modelmesh=mm)
        if exc.attempts and all(a.outcome in _REQUEST_FAULTS for a in exc.attempts):
            last = exc.attempts[-1]
            return ProxyError(400, exc.message, "invalid_request_error",
                              last.code or last.outcome.value, modelmesh=mm)
        return ProxyError(502, exc.message, "api_error", "all_providers_exhausted",
                          modelmesh=mm)
    if isinstance(exc, RoutingError):
        return ProxyError(400, exc.message, "invalid_request_error", "no_admissible_model",
                          modelmesh=_routing(exc, pool))
    if isinstance(exc, ProviderError) and exc.details.get("class") == "content_filter":
        return ProxyError(400, exc.message, "invalid_request_error", "content_filter",
                          modelmesh={"pool": pool, "attempts": [{
                              "model_id": exc.model_id, "provider_id": exc.provider_id,
                              "class": "content_filter", "status_code": exc.status_code}]})
    if isinstance(exc, StreamInterruptedError):
        return ProxyError(502, exc.message, "api_error", "stream_interrupted")
    return ProxyError(500, "internal error", "api_error", "internal_error")


def stream_error_payload(exc: BaseException, pool: str | None = None) -> dict[str, Any]:
    """The `data` of the SSE `error` event after commit (R-114, R-68)."""
    if isinstance(exc, StreamInterruptedError):
        err = ProxyError(502, exc.message, "api_error", "stream_interrupted")
        body = err.body()
        body["modelmesh"] = {"pool": pool, "model_id": exc.model_id}
        return body
    return error_for_exception(exc, pool).body()
