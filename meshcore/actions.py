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


@fast_frozen
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


@fast_frozen
@dataclass(frozen=True, slots=True)
class CancelAttempt:
    """Abort an in-flight attempt (deadline passed, caller cancelled)."""

    attempt_id: str
    reason: str


@fast_frozen
@dataclass(frozen=True, slots=True)
class Commit:
    """Stream commit point (R-65): chunks of this attempt may now reach the
    caller; no further attempts will be made for the request."""

    request_id: str
    attempt_id: str
    model_id: str = ""
    response_id: str = ""


@fast_frozen
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


@fast_frozen
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


@fast_frozen
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


@fast_frozen
@dataclass(frozen=True, slots=True)
class Fail:
    """Terminal failure of a request."""

    request_id: str
    failure: Failure


@fast_frozen
@dataclass(frozen=True, slots=True)
class DeactivateModel:
    model_id: str
    reason: str
    until_wall: float | None = None


@fast_frozen
@dataclass(frozen=True, slots=True)
class ReactivateModel:
    model_id: str
    trigger: str
    status: str


@fast_frozen
@dataclass(frozen=True, slots=True)
class DeactivateProvider:
    provider_id: str
    reason: str


@fast_frozen
@dataclass(frozen=True, slots=True)
class ReactivateProvider:
    provider_id: str
    trigger: str


@fast_frozen
@dataclass(frozen=True, slots=True)
class SaveState:
    """Persist this snapshot (R-83)."""

    snapshot: dict[str, Any]


@fast_frozen
@dataclass(frozen=True, slots=True)
class Emit:
    """An observability record for the sinks: a `RoutingEvent`,
    `RequestLogEntry`, `TraceEntry` or statistics flush (meshcore.records)."""

    record: Any


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
