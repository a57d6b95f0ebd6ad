"""The value types of the discovery interfaces (SPEC R-100, API.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["HealthReport", "ProbeResult", "SyncResult", "SyncStatus"]


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one `RegistrySync.sync()` run. Model lists hold model
    IDs; `errors` maps a provider whose listing failed to the reason (its
    models are kept, R-102)."""

    new_models: list[str] = field(default_factory=list)
    deprecated_models: list[str] = field(default_factory=list)
    updated_models: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncStatus:
    """`RegistrySync.get_sync_status()`: wall-clock epoch seconds (None before
    the first run / when sync is disabled) and the number of models listed by
    the last run."""

    last_sync: float | None
    next_sync: float | None
    models_synced: int
    status: Literal["idle", "running", "error"]


@dataclass(frozen=True)
class ProbeResult:
    """One health probe of a provider (R-103)."""

    provider_id: str
    success: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class HealthReport:
    """A provider's health (R-100): `status` is `healthy`, `degraded` or
    `unavailable`; `timestamp` is the wall time of the last probe (None before
    any probe)."""

    provider_id: str
    status: str
    available: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None
    availability_score: float
    timestamp: float | None
