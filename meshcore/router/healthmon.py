"""Health monitor in the core: probe results become provider health (R-103).

Theory of operation: the shell probes each provider on the health
interval (the models-list call, else the R-50 probe request) and reports
each result as one `ProviderHealthReported` event. Per provider the core
keeps the outcomes of the last 100 probes (`availability_score` = their
success fraction), the count of consecutive failures and a status:
`healthy` (the last probe succeeded; also the presumed status before any
probe), `degraded` (1 <= consecutive failures < `failure_threshold`) or
`unavailable` (consecutive failures >= `failure_threshold`, read from
`discovery.health.failure_threshold`). Every status change emits one
`provider_health_changed`. Reaching `unavailable` deactivates the provider
(reason `health_check`, R-52); a later successful probe recovers a provider
that the health monitor deactivated (`probe_success`), whatever the pools'
`provider_recovery` setting. Deactivations for other reasons (auth,
outage, manual) are left to their own recovery paths.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshcore.actions import Action, Emit
from meshcore.config.schema import MeshConfig
from meshcore.events import ProviderHealthReported
from meshcore.records import RequestLogEntry
from meshcore.router.calendar import iso_utc
from meshcore.router.health import ProviderInput, ProviderStatus

if TYPE_CHECKING:
    from meshcore.router.healthops import HealthOps

__all__ = [
    "HEALTH_WINDOW",
    "ProviderHealth",
    "failure_threshold",
    "health_view",
    "on_health_reported",
]

HEALTH_WINDOW = 100
HEALTHY = "healthy"
DEGRADED = "degraded"
UNAVAILABLE = "unavailable"


@dataclass
class ProviderHealth:
    """Health-monitor state of one provider."""

    provider_id: str
    status: str = HEALTHY
    consecutive_failures: int = 0
    probes: deque[bool] = field(default_factory=lambda: deque(maxlen=HEALTH_WINDOW))
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None
    checked_wall: float | None = None

    def availability_score(self) -> float:
        """Success fraction over the last 100 probes (1.0 before any probe)."""
        if not self.probes:
            return 1.0
        return sum(1 for ok in self.probes if ok) / len(self.probes)


def failure_threshold(config: MeshConfig) -> int:
    """`discovery.health.failure_threshold` (default 3, at least 1)."""
    disc = config.sections.get("discovery")
    health = disc.get("health") if isinstance(disc, dict) else None
    value = health.get("failure_threshold", 3) if isinstance(health, dict) else 3
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 3
    return max(1, int(value))


def _status_for(h: ProviderHealth, threshold: int) -> str:
    if h.consecutive_failures == 0:
        return HEALTHY
    if h.consecutive_failures >= threshold:
        return UNAVAILABLE
    return DEGRADED


def on_health_reported(
    r: HealthOps,
    monitor: dict[str, ProviderHealth],
    actions: list[Action],
    ev: ProviderHealthReported,
) -> None:
    """Apply one probe result (R-103); see the module docstring."""
    pid = ev.provider_id
    if pid not in r.providers or pid not in r.config.providers:
        r.trace(actions, "warning", "discovery",
                f"health report for unknown provider {pid!r} ignored")
        return
    if ev.usage is not None and ev.model_id is not None and ev.model_id in r.models:
        charge_probe(r, actions, ev)
    h = monitor.get(pid)
    if h is None:
        h = ProviderHealth(pid)
        monitor[pid] = h
    h.probes.append(bool(ev.success))
    h.latency_ms = ev.latency_ms
    h.status_code = ev.status_code
    h.error = None if ev.success else (ev.error or "probe failed")
    h.checked_wall = r.now.wall
    h.consecutive_failures = 0 if ev.success else h.consecutive_failures + 1
    was = h.status
    h.status = _status_for(h, failure_threshold(r.config))
    if h.status != was:
        r.event(actions, "provider_health_changed", provider_id=pid,
                availability_score=round(h.availability_score(), 6),
                **{"from": was, "to": h.status})
        r.trace(actions, "info" if h.status == HEALTHY else "warning", f"provider.{pid}",
                f"provider {pid} health {was} -> {h.status}", error=h.error)
    p = r.providers[pid]
    if h.status == UNAVAILABLE and was != UNAVAILABLE:
        if p.status is not ProviderStatus.DEACTIVATED:
            r.deactivate_provider(actions, pid, "health_check", None)
    elif ev.success and p.reason == "health_check" and p.status is not ProviderStatus.ACTIVE:
        r.provider_input(actions, pid, ProviderInput.TRIAL_SUCCESS, "probe_success")
    r.dirty = True


def charge_probe(r: HealthOps, actions: list[Action], ev: ProviderHealthReported) -> None:
    """R-50: an R-103 fallback probe (a real completion or embedding) counts in
    usage, cost and budgets, and gets its own request-log record (probe: true)."""
    assert ev.usage is not None and ev.model_id is not None
    cost = r.book_usage(ev.model_id, ev.usage)
    if not r.log_requests:
        return  # no sink takes the request log
    actions.append(Emit(RequestLogEntry(
        timestamp=iso_utc(r.now.wall), request_id=f"health-probe:{ev.provider_id}", pool=None,
        capability=None, delivery_mode="synchronous", model_id=ev.model_id,
        provider_id=ev.provider_id, status_code=ev.status_code,
        outcome="success" if ev.success else "probe_failed", attempts=1,
        latency_ms=ev.latency_ms or 0.0, tokens_in=ev.usage.prompt_tokens,
        tokens_out=ev.usage.completion_tokens, cost=cost,
        unpriced=r.config.models[ev.model_id].pricing is None, probe=True,
    )))


def health_view(
    monitor: dict[str, ProviderHealth], config: MeshConfig, provider_id: str | None = None
) -> list[dict[str, Any]]:
    """One JSON-able row per provider (R-100 `HealthReport` fields except the
    timestamp, which is `checked_wall`): `provider_id`, `status`,
    `available`, `latency_ms`, `status_code`, `error`,
    `availability_score`, `consecutive_failures`, `checked_wall`."""
    ids = [provider_id] if provider_id is not None else list(config.providers)
    rows: list[dict[str, Any]] = []
    for pid in ids:
        h = monitor.get(pid) or ProviderHealth(pid)
        rows.append({
            "provider_id": pid,
            "status": h.status,
            "available": h.status != UNAVAILABLE,
            "latency_ms": h.latency_ms,
            "status_code": h.status_code,
            "error": h.error,
            "availability_score": h.availability_score(),
            "consecutive_failures": h.consecutive_failures,
            "checked_wall": h.checked_wall,
            "probes": len(h.probes),
        })
    return rows
