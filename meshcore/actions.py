"""Actions: the outputs of the router, in the imperative.

Theory of operation: `Router.handle` returns a list of these. Drivers carry
out `SendAttempt`, `CancelAttempt`, `Commit`, `Deliver`, `Fail` and
`SaveState`; `Emit` carries an observability record for the sinks; the
status actions (`DeactivateModel` ...) tell the shell about health changes
it may act on (re-resolving secrets before a reactivation, R-78). Each
request ends with exactly one terminal action: `Deliver` or `Fail`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshcore.frozen import fast_frozen
from meshcore.types import OutcomeClass, Purpose, Usage


@dataclass(frozen=True, slots=True)
class SendAttempt:
    """Send one attempt. Timeouts are already capped by the remaining
    deadline (R-32). `key_index` selects the provider's API key (R-75
    `key_rotation`). Probes have `purpose=PROBE` and `request_id=None`."""

    attempt_id: str
    request_id: str | None
    model_id: str
    provider_id: str
    model_name: str
    attempt_number: int
    timeout_s: float
    first_chunk_timeout_s: float | None = None
    purpose: Purpose = Purpose.USER
    key_index: int = 0
    response_id: str = ""  # same for every attempt of a request
    deadline_mono: float | None = None  # the request's end-to-end deadline

    def __init__(
        self,
        attempt_id: str,
        request_id: str | None,
        model_id: str,
        provider_id: str,
        model_name: str,
        attempt_number: int,
        timeout_s: float,
        first_chunk_timeout_s: float | None = None,
        purpose: Purpose = Purpose.USER,
        key_index: int = 0,
        response_id: str = "",
        deadline_mono: float | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "attempt_id", attempt_id)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "model_id", model_id)
        object.__setattr__(self, "provider_id", provider_id)
        object.__setattr__(self, "model_name", model_name)
        object.__setattr__(self, "attempt_number", attempt_number)
        object.__setattr__(self, "timeout_s", timeout_s)
        object.__setattr__(self, "first_chunk_timeout_s", first_chunk_timeout_s)
        object.__setattr__(self, "purpose", purpose)
        object.__setattr__(self, "key_index", key_index)
        object.__setattr__(self, "response_id", response_id)
        object.__setattr__(self, "deadline_mono", deadline_mono)


fast_frozen(SendAttempt)


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    """Abort an in-flight attempt (deadline passed, caller cancelled)."""

    attempt_id: str
    reason: str


fast_frozen(CancelAttempt)


@dataclass(frozen=True, slots=True)
class Commit:
    """Stream commit point (R-65): chunks of this attempt may now reach the
    caller; no further attempts will be made for the request."""

    request_id: str
    attempt_id: str
    model_id: str = ""
    response_id: str = ""


fast_frozen(Commit)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt in a request's history (R-34)."""

    attempt_id: str
    model_id: str
    provider_id: str
    outcome: OutcomeClass
    status_code: int | None = None
    elapsed_ms: float = 0.0
    message: str = ""
    code: str | None = None
    retry_after_s: float | None = None

    def __init__(
        self,
        attempt_id: str,
        model_id: str,
        provider_id: str,
        outcome: OutcomeClass,
        status_code: int | None = None,
        elapsed_ms: float = 0.0,
        message: str = "",
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "attempt_id", attempt_id)
        object.__setattr__(self, "model_id", model_id)
        object.__setattr__(self, "provider_id", provider_id)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "status_code", status_code)
        object.__setattr__(self, "elapsed_ms", elapsed_ms)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "retry_after_s", retry_after_s)


fast_frozen(AttemptRecord)


@dataclass(frozen=True, slots=True)
class Deliver:
    """Terminal success: the attempt's output is the request's answer."""

    request_id: str
    attempt_id: str
    model_id: str
    provider_id: str
    response_id: str
    attempts: tuple[AttemptRecord, ...] = ()
    usage: Usage | None = None
    cost: float = 0.0

    def __init__(
        self,
        request_id: str,
        attempt_id: str,
        model_id: str,
        provider_id: str,
        response_id: str,
        attempts: tuple[AttemptRecord, ...] = (),
        usage: Usage | None = None,
        cost: float = 0.0,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "attempt_id", attempt_id)
        object.__setattr__(self, "model_id", model_id)
        object.__setattr__(self, "provider_id", provider_id)
        object.__setattr__(self, "response_id", response_id)
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "cost", cost)


fast_frozen(Deliver)


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a request failed, as data (ARCHITECTURE rule 6). `reason` is one
    of: exhausted, deadline_exceeded, no_admissible_model, no_active_model,
    unknown_pool, budget_exceeded, session_model_unavailable, content_filter,
    stream_interrupted, cancelled. `details` holds the reason-specific
    fields of SPEC R-40."""

    reason: str
    message: str
    pool: str | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


fast_frozen(Failure)


@dataclass(frozen=True, slots=True)
class Fail:
    """Terminal failure of a request."""

    request_id: str
    failure: Failure


fast_frozen(Fail)


@dataclass(frozen=True, slots=True)
class DeactivateModel:
    model_id: str
    reason: str
    until_wall: float | None = None


fast_frozen(DeactivateModel)


@dataclass(frozen=True, slots=True)
class ReactivateModel:
    model_id: str
    trigger: str
    status: str


fast_frozen(ReactivateModel)


@dataclass(frozen=True, slots=True)
class DeactivateProvider:
    provider_id: str
    reason: str


fast_frozen(DeactivateProvider)


@dataclass(frozen=True, slots=True)
class ReactivateProvider:
    provider_id: str
    trigger: str


fast_frozen(ReactivateProvider)


@dataclass(frozen=True, slots=True)
class SaveState:
    """Persist this snapshot (R-83)."""

    snapshot: dict[str, Any]


fast_frozen(SaveState)


@dataclass(frozen=True, slots=True)
class Emit:
    """An observability record for the sinks: a `RoutingEvent`,
    `RequestLogEntry`, `TraceEntry` or statistics flush (meshcore.records)."""

    record: Any

    def __init__(
        self,
        record: Any,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "record", record)


fast_frozen(Emit)


Action = (
    SendAttempt
    | CancelAttempt
    | Commit
    | Deliver
    | Fail
    | DeactivateModel
    | ReactivateModel
    | DeactivateProvider
    | ReactivateProvider
    | SaveState
    | Emit
)

ACTION_TYPES: tuple[type, ...] = (
    SendAttempt,
    CancelAttempt,
    Commit,
    Deliver,
    Fail,
    DeactivateModel,
    ReactivateModel,
    DeactivateProvider,
    ReactivateProvider,
    SaveState,
    Emit,
)
