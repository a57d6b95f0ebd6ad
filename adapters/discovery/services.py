"""Registry sync and health monitor services (SPEC R-100 .. R-103, R-107).

Both services do the I/O of discovery and leave every decision to the core:
`RegistrySync` sends each provider's models-list call and feeds the result
as a `ModelsDiscovered` event; `HealthMonitor` probes a provider with the
same call (bounded by `discovery.health.timeout`) and feeds a
`ProviderHealthReported` event (a provider without a models-list call is
probed with the R-50 request of one of its models instead, `probe.py`).
Events go through `feed`, the client's door
to the engine (so they are recorded and replay). Each service has a
blocking method (sync client, construction) and an async one (async client,
proxy), and tracks when each provider is next due on `time.monotonic()`.
`Discovery` bundles both with the schedule: `run_due()` runs what is due
inline (sync client, at the next call), `run_background()` loops inside the
async client's task group.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import anyio
import httpcore

from adapters.discovery.calls import (
    Fetched,
    fetch_async,
    fetch_sync,
    lists_models,
    models_request,
    parse,
)
from adapters.discovery.probe import probe_attempt, run_attempt, run_attempt_async
from adapters.discovery.types import HealthReport, ProbeResult, SyncResult, SyncStatus
from meshcore.config.schema import MeshConfig, ProviderConfig
from meshcore.events import Event, ModelsDiscovered, ProviderHealthReported
from meshcore.router.discovery import registry_view
from meshcore.router.healthmon import health_view

__all__ = ["Discovery", "HealthMonitor", "RegistrySync"]

Feed = Callable[[Event], None]


class _Base:
    """What both services share: the engine, the feed and the HTTP pools."""

    section = ""

    def __init__(self, engine: Any, feed: Feed) -> None:
        self.engine = engine
        self.feed = feed
        self._enabled_for: tuple[MeshConfig, bool] | None = None
        self.due: dict[str, float] = {}
        self._pool: httpcore.ConnectionPool | None = None
        self._apool: httpcore.AsyncConnectionPool | None = None

    # -- settings --------------------------------------------------------------
    @property
    def base(self) -> MeshConfig:
        """The loaded configuration (without discovered models)."""
        # one attribute read: atomic, so no need to take the engine's lock
        cfg: MeshConfig = self.engine.router.discovery.base
        return cfg

    def settings(self) -> dict[str, Any]:
        disc = self.base.sections.get("discovery")
        part = disc.get(self.section) if isinstance(disc, dict) else None
        return part if isinstance(part, dict) else {}

    @property
    def enabled(self) -> bool:
        """Discovery runs only with a `discovery` section (R-101) and `enabled`.
        Remembered per configuration object (a reload installs a new one): the
        sync client asks before every request."""
        base = self.base
        cached = self._enabled_for
        if cached is not None and cached[0] is base:
            return cached[1]
        disc = base.sections.get("discovery")
        present = isinstance(disc, dict) and bool(disc.get("present"))
        on = present and bool(self.settings().get("enabled", True))
        self._enabled_for = (base, on)
        return on

    def provider_ids(self) -> list[str]:
        """The configured providers of this service (enabled, with a models endpoint)."""
        chosen = self.settings().get("providers")
        out = []
        for pid, prov in self.base.providers.items():
            if chosen is not None and pid not in chosen:
                continue
            if prov.enabled and lists_models(prov):
                out.append(pid)
        return out

    def interval(self, provider_id: str) -> float:
        return max(1.0, float(self.settings().get("interval", 60.0)))

    # -- HTTP -----------------------------------------------------------------------
    def _request_parts(self, pid: str) -> tuple[ProviderConfig, Any]:
        prov = self.base.providers[pid]
        built = self.engine.built
        keys = built.api_keys.get(pid, ())
        return prov, models_request(prov, built.base_urls.get(pid), keys[0] if keys else None)

    def _sync_pool(self) -> httpcore.ConnectionPool:
        if self._pool is None:
            self._pool = httpcore.ConnectionPool(max_connections=10)
        return self._pool

    def _async_pool(self) -> httpcore.AsyncConnectionPool:
        if self._apool is None:
            self._apool = httpcore.AsyncConnectionPool(max_connections=10)
        return self._apool

    def timeout(self, prov: ProviderConfig) -> float:
        return prov.timeout_s

    def fetch(self, pid: str) -> tuple[ProviderConfig, Fetched]:
        """The models-list call of `pid`, blocking."""
        try:
            prov, req = self._request_parts(pid)
        except (KeyError, ValueError) as exc:
            return self.base.providers[pid], Fetched(None, b"", str(exc), 0.0)
        return prov, fetch_sync(self._sync_pool(), req, self.timeout(prov))

    async def afetch(self, pid: str) -> tuple[ProviderConfig, Fetched]:
        """The models-list call of `pid`, async."""
        try:
            prov, req = self._request_parts(pid)
        except (KeyError, ValueError) as exc:
            return self.base.providers[pid], Fetched(None, b"", str(exc), 0.0)
        return prov, await fetch_async(self._async_pool(), req, self.timeout(prov))

    # -- schedule ----------------------------------------------------------------
    def schedule(self, now: float, first_delay: float | None = None) -> None:
        """Make every provider due `first_delay` from `now` (default: its interval)."""
        for pid in self.provider_ids():
            self.due[pid] = now + (self.interval(pid) if first_delay is None else first_delay)

    def due_now(self, now: float) -> list[str]:
        """Providers due at `now` (their next run is pushed one interval on)."""
        if not self.enabled:
            return []
        out = []
        for pid in self.provider_ids():
            at = self.due.setdefault(pid, now)
            if at <= now:
                out.append(pid)
                self.due[pid] = now + self.interval(pid)
        return out

    def next_due(self) -> float | None:
        if not self.enabled:
            return None
        ids = self.provider_ids()
        return min((self.due.get(pid, 0.0) for pid in ids), default=None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def aclose(self) -> None:
        if self._apool is not None:
            with anyio.CancelScope(shield=True):
                await self._apool.aclose()
            self._apool = None


class RegistrySync(_Base):
    """`modelmesh.registry-sync.v1` (R-100, R-102)."""

    section = "sync"

    def __init__(self, engine: Any, feed: Feed) -> None:
        super().__init__(engine, feed)
        self.last_sync: float | None = None
        self.models_synced = 0
        self.state: Literal["idle", "running", "error"] = "idle"

    def interval(self, provider_id: str) -> float:
        """`catalogue.refresh_interval` of the provider, else `discovery.sync.interval`."""
        prov = self.base.providers.get(provider_id)
        if prov is not None and prov.refresh_interval_s is not None:
            return max(1.0, prov.refresh_interval_s)
        return max(1.0, float(self.settings().get("interval", 3600.0)))

    def _apply(self, pid: str, prov: ProviderConfig, fetched: Fetched,
               result: SyncResult) -> None:
        models, error = parse(prov, fetched)
        self.apply_listing(pid, models, error, result)

    def apply_listing(self, pid: str, models: tuple[dict[str, Any], ...], error: str | None,
                      result: SyncResult) -> None:
        """Feed one listing (fetched now or at construction, R-18) to the core."""
        self.feed(ModelsDiscovered(pid, models, error))
        if error is not None:
            result.errors[pid] = error
            return
        view = self.engine.view(lambda r: registry_view(r.discovery)).get(pid, {})
        changes = view.get("last_changes", {})
        result.new_models.extend(changes.get("new", []))
        result.deprecated_models.extend(changes.get("deprecated", []))
        result.updated_models.extend(changes.get("updated", []))
        self.models_synced += len(models)

    def _targets(self, providers: list[str] | None) -> list[str]:
        ids = self.provider_ids()
        if providers is None:
            return ids
        unknown = [p for p in providers if p not in self.base.providers]
        if unknown:
            raise KeyError(f"unknown provider(s): {', '.join(unknown)}")
        return [p for p in providers if lists_models(self.base.providers[p])]

    def _finish(self, result: SyncResult) -> SyncResult:
        self.last_sync = time.time()
        self.state = "error" if result.errors else "idle"
        return result

    def sync(self, providers: list[str] | None = None) -> SyncResult:
        """List the models of `providers` (default: the configured set) now."""
        result = SyncResult()
        self.state, self.models_synced = "running", 0
        for pid in self._targets(providers):
            prov, fetched = self.fetch(pid)
            self._apply(pid, prov, fetched, result)
        return self._finish(result)

    async def sync_async(self, providers: list[str] | None = None) -> SyncResult:
        """`sync()` for the async client."""
        result = SyncResult()
        self.state, self.models_synced = "running", 0
        for pid in self._targets(providers):
            prov, fetched = await self.afetch(pid)
            self._apply(pid, prov, fetched, result)
        return self._finish(result)

    def get_sync_status(self) -> SyncStatus:
        """Last and next run (wall epoch seconds), models listed, status."""
        nxt = self.next_due()
        next_wall = None if nxt is None else time.time() + max(0.0, nxt - time.monotonic())
        return SyncStatus(self.last_sync, next_wall, self.models_synced, self.state)


class HealthMonitor(_Base):
    """`modelmesh.health-monitor.v1` (R-100, R-103)."""

    section = "health"

    def timeout(self, prov: ProviderConfig) -> float:
        """`discovery.health.timeout` bounds a probe."""
        return max(0.001, float(self.settings().get("timeout", 10.0)))

    def provider_ids(self) -> list[str]:
        """Enabled providers with a models-list call or, failing that, a chat
        or embedding model for the R-50 fallback probe (R-103)."""
        chosen = self.settings().get("providers")
        config = self._models_config()
        out = []
        for pid, prov in self.base.providers.items():
            if (chosen is not None and pid not in chosen) or not prov.enabled:
                continue
            if lists_models(prov) or self._fallback(config, pid) is not None:
                out.append(pid)
        return out

    def _models_config(self) -> MeshConfig:
        """The router's configuration, discovered models included."""
        cfg: MeshConfig = self.engine.view(lambda r: r.config)
        return cfg

    def _fallback(self, config: MeshConfig, pid: str) -> Any:
        prov = config.providers.get(pid)
        if prov is None:
            return None
        built = self.engine.built
        keys = built.api_keys.get(pid, ())
        try:
            return probe_attempt(config, prov, built.base_urls.get(pid),
                                 keys[0] if keys else None)
        except (KeyError, ValueError):
            return None

    def fetch(self, pid: str) -> tuple[ProviderConfig, Fetched]:
        """The models-list call, else the R-50 fallback probe (blocking)."""
        prov = self.base.providers[pid]
        if lists_models(prov):
            return super().fetch(pid)
        attempt = self._fallback(self._models_config(), pid)
        if attempt is None:
            return prov, Fetched(None, b"", "no models-list call and no model to probe", 0.0)
        return prov, run_attempt(self._sync_pool(), attempt, self.timeout(prov))

    async def afetch(self, pid: str) -> tuple[ProviderConfig, Fetched]:
        """`fetch()` for the async client."""
        prov = self.base.providers[pid]
        if lists_models(prov):
            return await super().afetch(pid)
        attempt = self._fallback(self._models_config(), pid)
        if attempt is None:
            return prov, Fetched(None, b"", "no models-list call and no model to probe", 0.0)
        return prov, await run_attempt_async(self._async_pool(), attempt, self.timeout(prov))

    def _report(self, pid: str, fetched: Fetched) -> ProbeResult:
        res = ProbeResult(pid, fetched.ok, round(fetched.latency_ms, 3), fetched.status,
                          fetched.error)
        self.feed(ProviderHealthReported(pid, res.success, res.latency_ms, res.status_code,
                                         res.error, fetched.model_id, fetched.usage))
        return res

    def _check(self, provider_id: str) -> None:
        if provider_id not in self.base.providers:
            raise KeyError(f"unknown provider {provider_id!r}")

    def probe(self, provider_id: str) -> ProbeResult:
        """Probe one provider now (blocking) and report the result to the core."""
        self._check(provider_id)
        _, fetched = self.fetch(provider_id)
        return self._report(provider_id, fetched)

    async def aprobe(self, provider_id: str) -> ProbeResult:
        """`probe()` for the async client."""
        self._check(provider_id)
        _, fetched = await self.afetch(provider_id)
        return self._report(provider_id, fetched)

    def get_health_report(self, provider_id: str | None = None) -> list[HealthReport]:
        """One `HealthReport` per provider (or for `provider_id`)."""
        if provider_id is not None:
            self._check(provider_id)
        rows = self.engine.view(
            lambda r: health_view(r.health_monitor, r.discovery.base, provider_id))
        return [HealthReport(row["provider_id"], row["status"], row["available"],
                             row["latency_ms"], row["status_code"], row["error"],
                             row["availability_score"], row["checked_wall"]) for row in rows]


class Discovery:
    """Registry sync + health monitor on their schedules (R-101, R-107)."""

    def __init__(self, engine: Any, feed: Feed) -> None:
        # listings of zero-config local providers made by `build()`
        self._prefetched = dict(getattr(engine.built, "listings", None) or {})
        self.registry_sync = RegistrySync(engine, feed)
        self.health_monitor = HealthMonitor(engine, feed)
        now = time.monotonic()
        self.registry_sync.schedule(now, first_delay=0.0)
        self.health_monitor.schedule(now)
        self._busy = threading.Lock()  # one inline run at a time (shared sync client)

    @property
    def active(self) -> bool:
        """True when either service is enabled."""
        return self.registry_sync.enabled or self.health_monitor.enabled

    def _startup_ids(self) -> list[str]:
        """`auto_discover` providers without configured models: a provider whose
        models are all configured needs no startup listing (registry sync,
        when configured, still lists it on schedule)."""
        base = self.registry_sync.base
        configured = {m.provider for m in base.models.values() if m.source == "config"}
        return [pid for pid, prov in base.providers.items()
                if prov.enabled and prov.auto_discover and lists_models(prov)
                and pid not in configured]

    def _startup_warning(self, pid: str, result: SyncResult) -> list[str]:
        rs = self.registry_sync
        rs.due[pid] = time.monotonic() + rs.interval(pid)
        if pid in result.errors:
            return [f"providers.{pid}: listing models failed at startup: {result.errors[pid]}"]
        return []

    def auto_discover(self) -> list[str]:
        """R-18/R-20: list the models of `auto_discover` providers now. A
        failure leaves the provider without discovered models (the core
        traces a warning); the returned strings describe failures."""
        warnings: list[str] = []
        for pid in self._startup_ids():
            result = self._use_prefetched(pid)
            if result is None:
                result = self.registry_sync.sync([pid])
            warnings += self._startup_warning(pid, result)
        return warnings

    def _use_prefetched(self, pid: str) -> SyncResult | None:
        """Feed the listing `build()` already made for `pid` (once), if any."""
        found = self._prefetched.pop(pid, None)
        if found is None:
            return None
        result = SyncResult()
        self.registry_sync.apply_listing(pid, found[0], found[1], result)
        self.registry_sync.last_sync = time.time()
        return result

    async def auto_discover_async(self) -> list[str]:
        """`auto_discover()` for the async client."""
        warnings: list[str] = []
        for pid in self._startup_ids():
            result = self._use_prefetched(pid)
            if result is None:
                result = await self.registry_sync.sync_async([pid])
            warnings += self._startup_warning(pid, result)
        return warnings

    def run_due(self) -> None:
        """Run, blocking, every sync and probe that is due (sync client). A
        thread that finds another one running discovery does not wait."""
        if not self.active or not self._busy.acquire(blocking=False):
            return
        try:
            now = time.monotonic()
            for pid in self.registry_sync.due_now(now):
                self.registry_sync.sync([pid])
            for pid in self.health_monitor.due_now(now):
                self.health_monitor.probe(pid)
        finally:
            self._busy.release()

    async def run_due_async(self) -> None:
        """`run_due()` for the async client."""
        if not self.active:
            return
        now = time.monotonic()
        for pid in self.registry_sync.due_now(now):
            await self.registry_sync.sync_async([pid])
        for pid in self.health_monitor.due_now(now):
            await self.health_monitor.aprobe(pid)

    async def run_background(self) -> None:
        """Loop forever: run what is due, then sleep until the next due time."""
        while True:
            await self.run_due_async()
            dues = [d for d in (self.registry_sync.next_due(), self.health_monitor.next_due())
                    if d is not None]
            delay = 60.0 if not dues else max(0.05, min(dues) - time.monotonic())
            await anyio.sleep(min(delay, 60.0))

    def close(self) -> None:
        self.registry_sync.close()
        self.health_monitor.close()

    async def aclose(self) -> None:
        await self.registry_sync.aclose()
        await self.health_monitor.aclose()
        self.close()
