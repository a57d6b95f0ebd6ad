"""Rotation-policy interfaces and the values they exchange (SPEC R-43).

Theory of operation: a pool's rotation policy has three replaceable parts,
Deactivation, Recovery and Selection, declared here as runtime-checkable
Protocols. They never see router internals: the router hands them frozen
`ModelSnapshot`s (status, reasons, counters, latency, pricing, rate data)
and, for selection, a frozen `SelectionRequest` carrying the pool config,
the request features, the clock reading, the seed and the request/attempt
numbers from which any randomness is derived (`meshcore.router.rng`).

The built-in strategies (`meshcore.router.strategies`) additionally read
and update a per-pool `StrategyState`: the stick-until-failure pointer,
the round-robin index and the session map. That state is persisted
(R-85), so it converts to and from plain JSON values. A strategy mutates
it only when `SelectionRequest.dry_run` is false (explain() must not move
anything).

Two exceptions let a strategy say "no model" without returning a fake
result: `SessionUnavailable` (strict session affinity, R-53) and
`NoSelection` (priority-selection with `fallback_strategy: error`). The
router turns both into a `Fail` action (ARCHITECTURE rule 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshcore.config.schema import PoolConfig, Pricing
from meshcore.frozen import fast_frozen
from meshcore.router.protocols import Deactivation, Recovery, Selection  # re-exported
from meshcore.types import RateLimitInfo, RequestFeatures

__all__ = [
    "Deactivation",
    "ModelSnapshot",
    "NoSelection",
    "Recovery",
    "Selection",
    "SelectionRequest",
    "SelectionResult",
    "SessionUnavailable",
    "StrategyState",
]


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """A read-only view of one pool member at selection time (R-43)."""

    model_id: str
    provider_id: str
    status: str = "active"  # active | standby | half_open
    reasons: tuple[str, ...] = ()
    failure_count: int = 0
    error_rate: float = 0.0
    standby_until: float | None = None  # wall epoch seconds
    requests_period: int = 0
    tokens_period: int = 0
    spend_period: float = 0.0
    latency_mean_ms: float | None = None  # mean over the last latency_window successes
    pricing: Pricing | None = None
    context_window: int | None = None
    pool_index: int = 0  # position in pool order
    rate_limits: RateLimitInfo | None = None
    recent_requests_60s: int = 0  # local count over a rolling 60 s
    last_request_mono: float | None = None


fast_frozen(ModelSnapshot)


@dataclass(frozen=True, slots=True)
class SelectionRequest:
    """What a selection is for: the pool, the request and the moment."""

    pool: PoolConfig
    features: RequestFeatures
    session_id: str | None
    now_mono: float
    now_wall: float
    seed: int
    request_seq: int  # request number, for RNG derivation
    attempt_index: int = 0  # 0 = first selection of the request
    dry_run: bool = False  # explain(): no state change


fast_frozen(SelectionRequest)


@dataclass(frozen=True, slots=True)
class SelectionResult:
    """The outcome of `Selection.select` (R-43)."""

    model_id: str
    provider_id: str
    score: float
    reason: str


fast_frozen(SelectionResult)


@dataclass
class StrategyState:
    """Per-pool strategy state, persisted in the state snapshot (R-85).

    `pointer`: the stick-until-failure current model. `rr_index`: the
    round-robin position in pool order of the next request. `sessions`:
    session ID -> (model ID, wall time of last use).
    """

    pointer: str | None = None
    rr_index: int = 0
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)

    def __init__(
        self,
        pointer: str | None = None,
        rr_index: int = 0,
        sessions: dict[str, tuple[str, float]] | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays interpreted).
        self.pointer = pointer
        self.rr_index = rr_index
        self.sessions = sessions if sessions is not None else dict()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tuples become lists, keys keep insertion order)."""
        return {
            "pointer": self.pointer,
            "rr_index": self.rr_index,
            "sessions": {sid: [mid, last] for sid, (mid, last) in self.sessions.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StrategyState:
        """Rebuild from `to_dict()` output; malformed entries raise ValueError."""
        if not isinstance(data, dict):
            raise ValueError("strategy state must be a dict")
        pointer = data.get("pointer")
        if pointer is not None and not isinstance(pointer, str):
            raise ValueError("strategy state pointer must be a string or null")
        rr = data.get("rr_index", 0)
        if isinstance(rr, bool) or not isinstance(rr, int):
            raise ValueError("strategy state rr_index must be an int")
        sessions: dict[str, tuple[str, float]] = {}
        raw = data.get("sessions", {}) or {}
        if not isinstance(raw, dict):
            raise ValueError("strategy state sessions must be a dict")
        for sid, entry in raw.items():
            if (
                not isinstance(entry, list | tuple)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or isinstance(entry[1], bool)
                or not isinstance(entry[1], int | float)
            ):
                raise ValueError(f"malformed session entry for {sid!r}")
            sessions[str(sid)] = (entry[0], float(entry[1]))
        return cls(pointer=pointer, rr_index=rr, sessions=sessions)


class SessionUnavailable(Exception):
    """Strict session affinity: the session's model is not a candidate.

    The router catches it and fails the request with
    `SessionModelUnavailableError` (R-53). `model_id` is the mapped model.
    """

    def __init__(self, session_id: str, model_id: str) -> None:
        super().__init__(f"session {session_id!r} is bound to unavailable model {model_id!r}")
        self.session_id = session_id
        self.model_id = model_id


class NoSelection(Exception):
    """A strategy declines to pick any candidate; raised by
    priority-selection when no priority entry is a candidate and
    `fallback_strategy` is `error` (R-53). The router fails the request
    with `NoActiveModelError`."""
