"""Public exceptions and the mapping from failure values to them.

Theory of operation: the core reports expected outcomes as data (a `Fail`
action carrying a `Failure`, ARCHITECTURE rule 6). The shell turns that
value into one of these exceptions with `error_from_failure`, which is pure
and lives here so that every driver raises the same thing. The hierarchy and
`retryable` flags are those of SPEC R-40. Exceptions raised by the core
itself are for misuse only (invalid config, unknown attempt id).
"""

from __future__ import annotations

from typing import Any

from meshcore.actions import AttemptRecord, Failure
from meshcore.types import OutcomeClass


class ModelMeshError(Exception):
    """Base of every ModelMesh error: `message`, `details`, `retryable`."""

    retryable_default = False

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.retryable = self.retryable_default if retryable is None else retryable

    def __str__(self) -> str:
        return self.message


class RoutingError(ModelMeshError):
    """No admissible model (R-27) and the parent of routing failures."""


class NoActiveModelError(RoutingError):
    """Every member is in standby (R-56)."""

    retryable_default = True


class AllProvidersExhaustedError(RoutingError):
    """Every attempt failed or the deadline passed (R-34, R-31)."""

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        attempts: tuple[AttemptRecord, ...] = (),
        last_error: ModelMeshError | None = None,
    ) -> None:
        super().__init__(message, details)
        self.attempts = attempts
        self.last_error = last_error


class UnknownPoolError(RoutingError, KeyError):
    """`model=` names no pool, capability or model (R-28)."""

    def __str__(self) -> str:
        return self.message


class SessionModelUnavailableError(RoutingError):
    """Strict session affinity found the session's model ineligible (R-53)."""

    retryable_default = True


class ProviderError(ModelMeshError):
    """A provider-side failure of one attempt."""

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
        provider_id: str | None = None,
        model_id: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, details, retryable)
        self.provider_id = provider_id
        self.model_id = model_id
        self.status_code = status_code
        self.code = code


class AuthenticationError(ProviderError):
    """Class `auth` (401, 403)."""


class RateLimitError(ProviderError):
    """Class `rate_limited`; `retry_after` in seconds when known."""

    retryable_default = True

    def __init__(self, message: str, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    """Classes `timeout` and `ttft_timeout`."""

    retryable_default = True

    def __init__(self, message: str, timeout_seconds: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.timeout_seconds = timeout_seconds


class ConfigurationError(ModelMeshError, ValueError):
    """Invalid configuration; `details["errors"]` lists every problem (R-14)."""

    def __str__(self) -> str:
        return self.message


class BudgetExceededError(ModelMeshError):
    """A budget would be exceeded (R-62)."""

    def __init__(
        self,
        message: str,
        limit_type: str,
        limit_value: float,
        actual_value: float,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.limit_type = limit_type
        self.limit_value = limit_value
        self.actual_value = actual_value


class CapabilityNotFoundError(ModelMeshError, ValueError):
    """An unknown capability name (R-5)."""

    def __str__(self) -> str:
        return self.message


class StreamInterruptedError(ModelMeshError):
    """A stream failed after commit (R-68)."""

    retryable_default = True

    def __init__(
        self,
        message: str,
        partial_text: str = "",
        model_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details)
        self.partial_text = partial_text
        self.model_id = model_id


_RETRYABLE_CLASSES = {
    OutcomeClass.RATE_LIMITED,
    OutcomeClass.SERVER_ERROR,
    OutcomeClass.TIMEOUT,
    OutcomeClass.TTFT_TIMEOUT,
    OutcomeClass.CONNECTION_ERROR,
    OutcomeClass.STREAM_INTERRUPTED,
}


def error_from_attempt(rec: AttemptRecord, timeout_s: float | None = None) -> ProviderError:
    """The typed error of one failed attempt (the `last_error` of R-34)."""
    kw: dict[str, Any] = {
        "provider_id": rec.provider_id,
        "model_id": rec.model_id,
        "status_code": rec.status_code,
        "code": rec.code or rec.outcome.value,
        "details": {"class": rec.outcome.value},
    }
    msg = f"{rec.model_id}: {rec.outcome.value}" + (f" ({rec.message})" if rec.message else "")
    if rec.outcome is OutcomeClass.AUTH:
        return AuthenticationError(msg, retryable=False, **kw)
    if rec.outcome is OutcomeClass.RATE_LIMITED:
        return RateLimitError(msg, retry_after=rec.retry_after_s, **kw)
    if rec.outcome in (OutcomeClass.TIMEOUT, OutcomeClass.TTFT_TIMEOUT):
        return ProviderTimeoutError(msg, timeout_seconds=timeout_s, **kw)
    return ProviderError(msg, retryable=rec.outcome in _RETRYABLE_CLASSES, **kw)


def error_from_failure(failure: Failure, partial_text: str = "") -> ModelMeshError:
    """Turn a `Failure` value into the public exception of SPEC R-34/R-40.
    `partial_text` is the streamed content the shell already delivered."""
    d = dict(failure.details)
    d.setdefault("reason", failure.reason)
    if failure.pool is not None:
        d.setdefault("pool_name", failure.pool)
    last = error_from_attempt(failure.attempts[-1]) if failure.attempts else None
    reason = failure.reason
    if reason == "no_admissible_model":
        return RoutingError(failure.message, d, retryable=False)
    if reason == "no_active_model":
        return NoActiveModelError(failure.message, d)
    if reason == "unknown_pool":
        return UnknownPoolError(failure.message, d)
    if reason == "session_model_unavailable":
        return SessionModelUnavailableError(failure.message, d)
    if reason == "budget_exceeded":
        return BudgetExceededError(
            failure.message,
            limit_type=str(d.get("limit_type", "")),
            limit_value=float(d.get("limit_value", 0.0)),
            actual_value=float(d.get("actual_value", 0.0)),
            details=d,
        )
    if reason == "content_filter" and last is not None:
        return last
    if reason == "stream_interrupted":
        model_id = failure.attempts[-1].model_id if failure.attempts else None
        return StreamInterruptedError(failure.message, partial_text, model_id, d)
    if reason == "cancelled":
        return ModelMeshError(failure.message, d)
    err = AllProvidersExhaustedError(failure.message, d, failure.attempts, last)
    err.__cause__ = last
    return err
