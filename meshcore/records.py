"""Observability records the core emits as data (SPEC R-88 .. R-94).

Theory of operation: the router never writes a log line. It builds these
frozen records and returns them inside `Emit` actions; sinks in the shell
write them. Records hold IDs, reasons, numbers and redacted messages only:
the router never sees prompt or completion text, and the shell adds the
text fields of the `summary` and `full` log levels itself (R-92).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from meshcore.frozen import fast_frozen

SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True, slots=True)
class RoutingEvent:
    """A state change (R-91): `event_type` is one of model_deactivated,
    model_activated, model_rotated, provider_deactivated, provider_recovered,
    provider_health_changed, pool_membership_changed,
    discovery_models_updated, pool_exhausted."""

    event_type: str
    timestamp: str
    model_id: str | None = None
    provider_id: str | None = None
    pool_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "event", **asdict(self)}


fast_frozen(RoutingEvent)


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One record per finished request or probe (R-92, `metadata` level)."""

    timestamp: str
    request_id: str
    pool: str | None
    capability: str | None
    delivery_mode: str
    model_id: str | None
    provider_id: str | None
    status_code: int | None
    outcome: str
    attempts: int
    latency_ms: float
    ttft_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    unpriced: bool = False
    probe: bool = False
    error: dict[str, Any] | None = None

    def __init__(
        self,
        timestamp: str,
        request_id: str,
        pool: str | None,
        capability: str | None,
        delivery_mode: str,
        model_id: str | None,
        provider_id: str | None,
        status_code: int | None,
        outcome: str,
        attempts: int,
        latency_ms: float,
        ttft_ms: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float = 0.0,
        unpriced: bool = False,
        probe: bool = False,
        error: dict[str, Any] | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "timestamp", timestamp)
        object.__setattr__(self, "request_id", request_id)
        object.__setattr__(self, "pool", pool)
        object.__setattr__(self, "capability", capability)
        object.__setattr__(self, "delivery_mode", delivery_mode)
        object.__setattr__(self, "model_id", model_id)
        object.__setattr__(self, "provider_id", provider_id)
        object.__setattr__(self, "status_code", status_code)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "attempts", attempts)
        object.__setattr__(self, "latency_ms", latency_ms)
        object.__setattr__(self, "ttft_ms", ttft_ms)
        object.__setattr__(self, "tokens_in", tokens_in)
        object.__setattr__(self, "tokens_out", tokens_out)
        object.__setattr__(self, "cost", cost)
        object.__setattr__(self, "unpriced", unpriced)
        object.__setattr__(self, "probe", probe)
        object.__setattr__(self, "error", error)

    def to_dict(self) -> dict[str, Any]:
        """`{"type": "log", **asdict(self)}`, built field by field (one per
        finished request: `asdict` walks and deep-copies every value); only
        `error`, the one container, is deep-copied, as `asdict` does."""
        out: dict[str, Any] = {"type": "log"}
        for name in _LOG_FIELDS:
            out[name] = getattr(self, name)
        if self.error is not None:
            out["error"] = copy.deepcopy(self.error)
        return out


fast_frozen(RequestLogEntry)


_LOG_FIELDS = tuple(f.name for f in fields(RequestLogEntry))


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """A diagnostic trace (R-94). `component` is mesh, router, pool.<name>
    or provider.<id>."""

    severity: str
    timestamp: str
    component: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": "trace", **asdict(self)}


fast_frozen(TraceEntry)


@dataclass(frozen=True, slots=True)
class StatsFlush:
    """A statistics flush (R-93): one aggregate dict per scope ID."""

    timestamp: str
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "stats", **asdict(self)}


fast_frozen(StatsFlush)
