"""Events: the inputs of the router, in the past tense.

Theory of operation: every input to `Router.handle(event, now)` is one of
these frozen dataclasses. They hold facts only (no prompt or completion
text, no resolved secrets), so an event log is safe to keep and replays
without bodies. `ConfigChanged` carries the raw configuration dict (with
secret references unresolved) so that a replay rebuilds the same config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshcore.frozen import fast_frozen
from meshcore.types import FailureKind, RateLimitInfo, RequestFeatures, Usage


@dataclass(frozen=True, slots=True)
class RequestSubmitted:
    """A client call or proxy request arrived. `model` is the `model=`
    string (pool, capability or model ID, R-28); `timeout_s` overrides the
    pool deadline (R-31)."""

    request_id: str
    model: str
    features: RequestFeatures = field(default_factory=RequestFeatures)
    timeout_s: float | None = None
    session_id: str | None = None

    def __init__(
        self,
        request_id: str,
        model: str,
        features: RequestFeatures | None = None,
        timeout_s: float | None = None,
        session_id: str | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "features", features if features is not None else RequestFeatures())
        object.__setattr__(self, "timeout_s", timeout_s)
        object.__setattr__(self, "session_id", session_id)


fast_frozen(RequestSubmitted)


@dataclass(frozen=True, slots=True)
class AttemptFirstChunk:
    """A streaming attempt produced its first content chunk (the wire layer
    decides what counts as content, R-65). The core answers with `Commit`
    or, if the request is over, `CancelAttempt`."""

    attempt_id: str
    ttft_ms: float = 0.0


fast_frozen(AttemptFirstChunk)


@dataclass(frozen=True, slots=True)
class AttemptSucceeded:
    """The attempt completed well-formed (for streams: with the family's end
    marker). `usage` is None when the provider reported none; then
    `output_chars` lets the core estimate completion tokens (R-60)."""

    attempt_id: str
    usage: Usage | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: int = 200
    rate_limits: RateLimitInfo | None = None
    output_chars: int = 0

    def __init__(
        self,
        attempt_id: str,
        usage: Usage | None = None,
        latency_ms: float = 0.0,
        ttft_ms: float | None = None,
        status: int = 200,
        rate_limits: RateLimitInfo | None = None,
        output_chars: int = 0,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "attempt_id", attempt_id)
        object.__setattr__(self, "usage", usage)
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "ttft_ms", ttft_ms)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "rate_limits", rate_limits)
        object.__setattr__(self, "output_chars", output_chars)


fast_frozen(AttemptSucceeded)


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """The attempt failed. Raw facts only (ARCHITECTURE rule 7): the kind of
    failure, the HTTP status and allow-listed headers if any, a bounded body
    excerpt (<= 2 KiB), and any usage received (partial streams). A
    Retry-After HTTP-date has already been converted to seconds by the
    driver and is passed in `headers` as a number of seconds."""

    attempt_id: str
    kind: FailureKind
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body_excerpt: str = ""
    latency_ms: float = 0.0
    usage: Usage | None = None
    output_chars: int = 0
    detail: str = ""


fast_frozen(AttemptFailed)


@dataclass(frozen=True, slots=True)
class RequestCancelled:
    """The caller cancelled (async cancellation, early stream close, proxy
    client disconnect, R-42). `usage` / `output_chars` report what the
    in-flight attempt had received, for budget settlement."""

    request_id: str
    usage: Usage | None = None
    output_chars: int = 0


fast_frozen(RequestCancelled)


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed; due timers fire."""


fast_frozen(Tick)


@dataclass(frozen=True, slots=True)
class ConfigChanged:
    """A new configuration (raw dict, references unresolved) replaces the old
    one (R-118a). `data` is whatever the shell loaded: anything that is not a
    valid configuration mapping makes `handle` raise `ConfigurationError`
    (typed `Any`, unchecked, so that a compiled core raises that too, not a
    TypeError at construction; mypyc cannot build a dataclass field typed
    `object`)."""

    data: Any


fast_frozen(ConfigChanged)


@dataclass(frozen=True, slots=True)
class StateRestored:
    """A snapshot loaded by the shell from storage (R-86). `snapshot` is
    whatever the shell loaded: the router checks its shape and traces a
    malformed one instead of raising (typed `Any`, unchecked, so that a
    compiled core accepts it too)."""

    snapshot: Any


fast_frozen(StateRestored)


@dataclass(frozen=True, slots=True)
class OperatorCommand:
    """A manual command (R-51): `op` is `rotate` (target = pool),
    `deactivate` or `activate` (target = model or provider ID)."""

    op: str
    target: str


fast_frozen(OperatorCommand)


@dataclass(frozen=True, slots=True)
class BackgroundProbes:
    """The shell started (`running=True`) or stopped its background probes
    (R-49)."""

    running: bool


fast_frozen(BackgroundProbes)


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """An action the shell could not carry out (e.g. a `SaveState`)."""

    action: str
    reason: str


fast_frozen(ActionFailed)


@dataclass(frozen=True, slots=True)
class ModelsDiscovered:
    """The shell listed a provider's models (R-102 registry sync, R-18/R-20
    auto-discover). `models` are `ModelInfo`-shaped dicts (`id` = the
    provider-native name, `name`, `capabilities`, `context_window`,
    `max_output_tokens`, `pricing`, `features`, `delivery`); `error` set
    means the listing failed and the provider keeps its models."""

    provider_id: str
    models: tuple[dict[str, Any], ...] = ()
    error: str | None = None


fast_frozen(ModelsDiscovered)


@dataclass(frozen=True, slots=True)
class ProviderHealthReported:
    """One health-monitor probe of a provider finished (R-103)."""

    provider_id: str
    success: bool
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    model_id: str | None = None  # the model of an R-50 fallback probe
    usage: Usage | None = None  # what that probe consumed (charged like any probe)


fast_frozen(ProviderHealthReported)


Event = (
    RequestSubmitted
    | AttemptFirstChunk
    | AttemptSucceeded
    | AttemptFailed
    | RequestCancelled
    | Tick
    | ConfigChanged
    | StateRestored
    | OperatorCommand
    | BackgroundProbes
    | ActionFailed
    | ModelsDiscovered
    | ProviderHealthReported
)

EVENT_TYPES: tuple[type, ...] = (
    RequestSubmitted,
    AttemptFirstChunk,
    AttemptSucceeded,
    AttemptFailed,
    RequestCancelled,
    Tick,
    ConfigChanged,
    StateRestored,
    OperatorCommand,
    BackgroundProbes,
    ActionFailed,
    ModelsDiscovered,
    ProviderHealthReported,
)
