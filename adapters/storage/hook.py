"""The engine's side of persistence and secret re-resolution.

`EngineState` is attached to an `adapters.engine.Engine`. At construction
it opens the configured storage (R-82, R-84), loads `modelmesh/state` and
feeds it to the router as a `StateRestored` event at the current `now`
(R-86; equivalent to `Router.restore`). When the clock is not readable yet
(the async client's loop clock outside a running loop) the restore waits
for the engine's first `handle()`. After each `handle()` the newest
`SaveState` snapshot is queued and, in the sync client, written inline
(coalesced, R-83); the async client writes it on a worker thread
(`aflush`). `close()` saves the final snapshot. Every statistics flush the
core emits (and the final one at close) is kept and stored under
`modelmesh/stats` with the next save (R-85). Shell-side problems become
`TraceEntry` records (R-87), never exceptions; the engine's observer
connects `on_trace` so they reach the observability sinks.

It also carries out `reload_on_rotation` (R-78): before a probe or a trial
on a model that is not active, and on a manual activation, the provider's
API keys and base URL are resolved again through the secret resolver.
"""

from __future__ import annotations

import contextlib
import datetime
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from adapters.storage.registry import open_state
from adapters.storage.sync import StateSync
from meshcore.actions import Action, Emit, SaveState, SendAttempt
from meshcore.events import Event, OperatorCommand, StateRestored
from meshcore.records import StatsFlush, TraceEntry
from meshcore.router.calendar import iso_utc
from meshcore.types import Purpose

if TYPE_CHECKING:
    from adapters.engine import Engine

__all__ = ["EngineState"]


def _ts() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class EngineState:
    """Persistence and secret refresh for one engine (see module docstring)."""

    def __init__(self, engine: Engine, *, inline_saves: bool = True) -> None:
        self.engine = engine
        self.inline_saves = inline_saves
        self.traces: deque[TraceEntry] = deque(maxlen=200)
        self.on_trace: Callable[[TraceEntry], None] | None = None
        self.startup_probes: list[SendAttempt] = []
        self._restore: dict[str, Any] | None = None
        self._final_saved = False
        built = engine.built
        for text in built.warnings:
            if "missing secret" in text:
                self.trace("warning", f"unresolved secret reference: {text}")
        self.sync: StateSync | None = self._open()
        if self.sync is not None:
            self._restore = self.sync.load()
            if self._restore is not None:
                try:
                    engine.now()
                except Exception:
                    return  # no clock yet (async client): restore at the first handle()
                with engine._lock:
                    self.apply_restore(self.startup_probes)

    # ------------------------------------------------------------ setup
    def _open(self) -> StateSync | None:
        built = self.engine.built
        section = built.config.sections.get("storage") or {}
        raw = built.data.get("storage") if isinstance(built.data, Mapping) else None
        instance = raw.get("instance") if isinstance(raw, Mapping) else None
        resolver = getattr(built, "secrets", None)
        custom = None
        connector = str(section.get("connector", ""))
        if instance is None and not connector.startswith("modelmesh."):
            from adapters.build import _connectors

            custom = _connectors(built.data)
        try:
            config_doc = built.config.to_dict()
        except Exception:
            config_doc = None
        return open_state(section, instance=instance,
                          secret=None if resolver is None else resolver.secret,
                          custom=custom, trace=self._sync_trace, config_doc=config_doc)

    # ------------------------------------------------------------ traces
    def trace(self, severity: str, message: str, error: str | None = None) -> None:
        """Record a shell-side trace (component `storage`/`secrets`)."""
        entry = TraceEntry(severity, _ts(), "mesh", message, {"source": "adapters"}, error)
        self.traces.append(entry)
        hook = self.on_trace
        if hook is not None:
            with contextlib.suppress(Exception):
                hook(entry)

    def _sync_trace(self, severity: str, message: str, error: str | None) -> None:
        self.trace(severity, message, error)

    # ------------------------------------------------------------ restore / save
    def apply_restore(self, probes: list[SendAttempt]) -> None:
        """Feed the loaded snapshot to the router (engine lock held)."""
        snap, self._restore = self._restore, None
        if snap is None:
            return
        eng = self.engine
        now = eng.now()
        event = StateRestored(snap)
        actions = eng.router.handle(event, now)
        if eng.recorder is not None:
            eng.recorder.record(now, event, actions)
        for a in actions:
            if not isinstance(a, SaveState):
                eng._route(a, probes)

    def before(self, probes: list[SendAttempt]) -> None:
        """At the start of `handle()` (lock held): a deferred restore."""
        if self._restore is not None:
            self.apply_restore(probes)
        if self.startup_probes:
            probes.extend(self.startup_probes)
            self.startup_probes = []

    def after(self, event: Event, actions: Sequence[Action]) -> None:
        """After `handle()` (lock released): queue and maybe write the newest
        snapshot; refresh secrets on a manual activation."""
        if isinstance(event, OperatorCommand) and event.op == "activate":
            cfg = self.engine.config
            if event.target in cfg.providers:
                self.refresh_provider(event.target)
            elif event.target in cfg.models:
                self.refresh_provider(cfg.models[event.target].provider)
        if self.sync is None:
            return
        flushes = [a.record for a in actions
                   if isinstance(a, Emit) and isinstance(a.record, StatsFlush)]
        if flushes:
            self.sync.submit_stats(flushes[-1].to_dict())
        snaps = [a.snapshot for a in actions if isinstance(a, SaveState)]
        if snaps:
            self.sync.submit(snaps[-1])
        if self.inline_saves and self.sync.pending:
            self.sync.flush()

    async def aflush(self) -> None:
        """Write a queued snapshot on a worker thread (async client)."""
        if self.sync is not None:
            await self.sync.aflush()

    def final_snapshot(self) -> dict[str, Any] | None:
        """The snapshot to write at close, or None when there is nothing to
        save (the router never ran, or the loaded state was never applied)."""
        eng = self.engine
        if self._restore is not None or not getattr(eng.router, "started", True):
            return None
        with eng._lock:
            snap: dict[str, Any] = eng.router.snapshot()
        return snap

    def final_stats(self) -> dict[str, Any] | None:
        """The statistics flush at close (R-85), or None without a clock."""
        eng = self.engine
        if not getattr(eng.router, "started", True):
            return None
        try:
            try:
                now = eng.now()
            except Exception:  # no clock on this thread (async close): the core's latest
                now = eng.view(lambda r: r.now)

            def flush(r: Any) -> Any:
                return r.stats_book.flush(now.mono, iso_utc(now.wall), r.pool_members)

            record = eng.view(flush)
        except Exception:
            return None
        return record.to_dict() if isinstance(record, StatsFlush) else None

    def close(self) -> None:
        """Save the final snapshot and statistics (once); release the storage."""
        if self._final_saved or self.sync is None:
            return
        self._final_saved = True
        snapshot = self.final_snapshot()
        self.sync.close(snapshot, self.final_stats() if snapshot is not None else None)

    # ------------------------------------------------------------ secrets
    def refresh_for(self, send: SendAttempt) -> None:
        """Before a probe or a trial on a non-active model: re-resolve."""
        if send.purpose is not Purpose.PROBE:
            m = getattr(self.engine.router, "models", {}).get(send.model_id)
            status = getattr(getattr(m, "status", None), "value", "active")
            if status == "active":
                return
        self.refresh_provider(send.provider_id)

    def refresh_provider(self, provider_id: str) -> None:
        """Resolve the provider's API keys and base URL again (honours cache_ttl)."""
        resolver = getattr(self.engine.built, "secrets", None)
        if resolver is None or not resolver.reload_on_rotation:
            return
        prov = self.engine.config.providers.get(provider_id)
        if prov is None:
            return
        built = self.engine.built
        where = f"providers.{provider_id}"
        built.api_keys[provider_id] = tuple(
            resolver.reresolve(k, f"{where}.api_key") for k in prov.api_keys)
        if prov.base_url is not None:
            built.base_urls[provider_id] = resolver.reresolve(prov.base_url, f"{where}.base_url")
        while resolver.warnings:
            self.trace("warning", f"unresolved secret reference: {resolver.warnings.pop(0)}")
