"""The Router: one way in (`handle`), one way out (a list of actions).

Theory of operation: `handle(event, now)` stores `now`, fires every timer
due at `now.mono` (retries, deadlines, cooldowns, quota boundaries,
maintenance windows, probes, periodic saves), then dispatches the event to
the request lifecycle (`requests.py`) or the health logic (`healthops.py`):
the two events of every request (`RequestSubmitted`, `AttemptSucceeded`)
by exact type first, everything else (and subclasses) through
`dispatch()`. With `sync_policy: immediate` a `SaveState` follows every
call that changed durable state (the policy is read once per installed
configuration, `RouterBase.sync_mode`).
`next_deadline()` tells the driver when to call again with a `Tick`. The
router performs no I/O and draws randomness only from RNGs derived from its
seed, so the same config, seed and `(now, event)` sequence always yields
the same actions (ARCHITECTURE rules 3-5).
"""

from __future__ import annotations

from typing import Any

from meshcore._mypyc import mypyc_attr
from meshcore.actions import Action, Emit, SaveState
from meshcore.config import load_config
from meshcore.config.schema import MeshConfig
from meshcore.events import (
    EVENT_TYPES,
    ActionFailed,
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    BackgroundProbes,
    ConfigChanged,
    Event,
    ModelsDiscovered,
    OperatorCommand,
    ProviderHealthReported,
    RequestCancelled,
    RequestSubmitted,
    StateRestored,
    Tick,
)
from meshcore.router import discovery as disc
from meshcore.router import explain as views
from meshcore.router import healthmon
from meshcore.router import snapshot as snap
from meshcore.router.health import ModelInput, ModelStatus, ProviderInput, ProviderStatus, Reason
from meshcore.router.policy import StrategyState
from meshcore.router.requests import RequestOps
from meshcore.router.stats import StatsBook, sink_settings
from meshcore.types import Instant, RequestFeatures

EVENT_TYPE_SET = frozenset(EVENT_TYPES)  # exact types: one hash lookup, not 13 isinstance


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class Router(RequestOps):
    """The pure routing core. See API.md section 3."""

    def __init__(
        self, config: MeshConfig, seed: int, *, strategies: dict[str, object] | None = None
    ) -> None:
        super().__init__(config, seed)
        self.restore_actions: list[Action] = []
        # custom strategies handed in by the shell (R-17, R-54; custom_strategy.py)
        self.custom_strategies: dict[str, object] = dict(strategies or {})
        self.strategy_objects: dict[str, object] = {}
        self.discovery = disc.DiscoveryState(config)
        self.health_monitor: dict[str, healthmon.ProviderHealth] = {}
        self.stats_interval, retention = sink_settings(config.sections)
        self.stats_book = StatsBook(retention)

    # -- the one way in --------------------------------------------------------
    def handle(self, event: Event, now: Instant) -> list[Action]:
        """Process one event at `now`; return the actions to carry out."""
        if not isinstance(now, Instant):
            raise TypeError("now must be an Instant")
        kind = type(event)
        if kind not in EVENT_TYPE_SET and not isinstance(event, EVENT_TYPES):
            raise TypeError(f"not an event: {kind.__name__}")
        if self.started and now.mono < self.now.mono:
            raise ValueError(
                f"monotonic time went backwards: {now.mono} < {self.now.mono}"
            )
        self.now = now
        actions: list[Action] = []
        if not self.started:
            self.start(actions)
        timers = self.timers
        if timers.next_due <= now.mono:
            self.fire_timers(actions)
        # the two events of every request first, by exact type; then the rest
        if kind is RequestSubmitted:
            self.submit(actions, event)  # type: ignore[arg-type]
        elif kind is AttemptSucceeded:
            self.on_success(actions, event)  # type: ignore[arg-type]
        else:
            self.dispatch(event, actions)
        if timers.next_due <= now.mono:
            self.fire_timers(actions)
        if self.dirty and self.sync_mode == "immediate":
            actions.append(SaveState(snap.take(self)))
        self.dirty = False
        return actions

    def next_deadline(self) -> float | None:
        """The earliest monotonic time at which the router wants a `Tick`."""
        return self.timers.earliest()

    def dispatch(self, event: Event, actions: list[Action]) -> None:
        if isinstance(event, RequestSubmitted):
            self.submit(actions, event)
        elif isinstance(event, AttemptFirstChunk):
            self.on_first_chunk(actions, event)
        elif isinstance(event, AttemptSucceeded):
            self.on_success(actions, event)
        elif isinstance(event, AttemptFailed):
            self.on_failure(actions, event)
        elif isinstance(event, RequestCancelled):
            self.on_cancel(actions, event)
        elif isinstance(event, Tick):
            pass
        elif isinstance(event, ConfigChanged):
            self.reconfigure(actions, event.data)
        elif isinstance(event, StateRestored):
            snap.apply(self, event.snapshot, actions)
            self.reset_lazy_caches()
            self.pool_plans.clear()
            self.after_restore(actions)
        elif isinstance(event, OperatorCommand):
            self.command(actions, event.op, event.target)
        elif isinstance(event, BackgroundProbes):
            self.set_probes(actions, event.running)
        elif isinstance(event, ActionFailed):
            self.trace(actions, "error", "mesh", f"action {event.action} failed",
                       error=event.reason)
        elif isinstance(event, ModelsDiscovered):
            disc.on_models_discovered(self, self.discovery, actions, event)
        elif isinstance(event, ProviderHealthReported):
            healthmon.on_health_reported(self, self.health_monitor, actions, event)
        else:
            raise TypeError(f"not an event: {type(event).__name__}")

    # -- start and timers ----------------------------------------------------------
    def start(self, actions: list[Action]) -> None:
        self.started = True
        self.trace(actions, "info", "mesh",
                   f"Initialized: {len(self.config.providers)} provider(s), "
                   f"{len(self.config.pools)} pool(s)")
        if self.stats_interval is not None:
            self.timers.push(self.now.mono + self.stats_interval, "stats", "")
        for name, members in self.pool_members.items():
            self.event(actions, "pool_membership_changed", pool_id=name,
                       added=list(members), removed=[])
        self.schedule_static()

    def schedule_static(self) -> None:
        for mid in self.models:
            if self.gov_pool(mid).deactivation.maintenance_window:
                self.timers.push(self.now.mono, "maint", mid)
        if self.sync_policy() == "periodic":
            self.timers.push(self.now.mono + self.sync_interval(), "save", "")

    def sync_policy(self) -> str:
        """The configuration's persistence policy (R-83), read at install."""
        return self.sync_mode

    def sync_interval(self) -> float:
        storage = self.config.sections.get("storage") or {}
        pers = storage.get("persistence") if isinstance(storage, dict) else None
        if isinstance(pers, dict):
            return max(1.0, float(pers.get("sync_interval", 300.0)))
        return 300.0

    def fire_timers(self, actions: list[Action]) -> None:
        while True:
            item = self.timers.pop_due(self.now.mono)
            if item is None:
                return
            due, kind, key = item
            if kind == "deadline":
                self.deadline_timer(actions, key, due)
            elif kind == "retry":
                self.retry_timer(actions, key, due)
            elif kind == "wake":
                self.wake_timer(actions, key)
            elif kind == "model":
                m = self.models.get(key)
                if m is not None:
                    self.reevaluate(actions, m)
            elif kind == "maint":
                self.maintenance_timer(actions, key)
            elif kind in ("provider", "pprobe"):
                self.provider_timer(actions, key, kind)
            elif kind == "probe":
                self.probe_timer(actions, key)
            elif kind == "save":
                actions.append(SaveState(snap.take(self)))
                self.timers.push(self.now.mono + self.sync_interval(), "save", "")
            elif kind == "stats" and self.stats_interval is not None:
                actions.append(Emit(self.stats_book.flush(self.now.mono, self.ts(),
                                                          self.pool_members)))
                self.timers.push(self.now.mono + self.stats_interval, "stats", "")

    # -- commands --------------------------------------------------------------------
    def command(self, actions: list[Action], op: str, target: str) -> None:
        if op == "rotate":
            if target not in self.config.pools:
                raise KeyError(f"unknown pool {target!r}")
            cur = views.current_model(self, target)
            if cur is None:
                members = self.pool_members[target]
                cur = next((m for m in members if self.eligible(self.models[m])), None)
            if cur is not None:
                self.deactivate(actions, self.models[cur], Reason.MANUAL, None,
                                self.config.pools[target])
            return
        if op not in ("activate", "deactivate"):
            raise ValueError(f"unknown operator command {op!r}")
        if target in self.models:
            m = self.models[target]
            if op == "deactivate":
                self.deactivate(actions, m, Reason.MANUAL, None, self.gov_pool(target))
            else:
                m.failure_count = 0
                m.ejections = 0
                m.window.clear()
                self.set_status(actions, m, ModelInput.MANUAL_ACTIVATE, "manual")
                m.reasons.clear()
                m.cooldown_until = None
        elif target in self.providers:
            if op == "deactivate":
                self.deactivate_provider(actions, target, "manual", None)
            else:
                self.provider_input(actions, target, ProviderInput.MANUAL_ACTIVATE, "manual")
        else:
            raise KeyError(f"unknown model or provider {target!r}")
        self.dirty = True

    def set_probes(self, actions: list[Action], running: bool) -> None:
        was = self.probes_running
        self.probes_running = running
        if running and not was:
            for m in self.models.values():
                if m.status is ModelStatus.HALF_OPEN and not m.trial_in_flight:
                    self.send_probe(actions, m)
                if Reason.QUOTA_EXHAUSTED in m.reasons:
                    self.timers.push(self.now.mono, "probe", m.model_id)
            for pid, p in self.providers.items():
                if p.status is ProviderStatus.DEACTIVATED:
                    self.schedule_provider(pid)

    def after_restore(self, actions: list[Action]) -> None:
        for m in self.models.values():
            pool = self.gov_pool(m.model_id)
            if (
                pool.recovery.probe_on_start
                and m.status is ModelStatus.STANDBY
                and Reason.MANUAL not in m.reasons
            ):
                self.send_probe(actions, m)
                aid = f"probe-{self.probe_seq}"
                if aid in self.attempts:
                    self.attempts[aid].startup = True

    def reconfigure(self, actions: list[Action], data: object) -> None:
        """R-118a: install a new configuration; surviving models, providers and
        pools keep their state, removed ones are dropped, attempts on removed
        models are cancelled and their requests rotate on."""
        # custom strategy IDs stay valid across a reload (R-17, R-118a)
        custom = dict(self.custom_strategies) or None
        new = disc.rebase(self.discovery, load_config(data, connectors=custom))
        old_pools = self.config.pools
        disc.install(self, actions, new)
        for pid in [p for p in self.providers if p not in new.providers]:
            del self.providers[pid]
        self.drop_removed_models(actions)
        for name in list(self.strategy_state):
            if name in old_pools and old_pools[name].strategy != new.pools[name].strategy:
                self.strategy_state[name] = StrategyState()
        self.schedule_static()
        self.trace(actions, "info", "mesh", "configuration reloaded")

    # -- state and views ----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A JSON-able snapshot of the durable state (R-85)."""
        return snap.take(self)

    @classmethod
    def restore(
        cls, config: MeshConfig, snapshot: object, *, seed: int, now: Instant
    ) -> Router:
        """`Router(config, seed)` plus `handle(StateRestored(snapshot), now)`;
        the actions of that call are kept in `restore_actions`."""
        r = cls(config, seed)
        r.restore_actions = r.handle(StateRestored(snapshot), now)
        return r

    def explain(
        self,
        pool: str,
        features: RequestFeatures | None = None,
        now: Instant | None = None,
    ) -> dict[str, Any]:
        """Dry run of the pool's selection (R-106); changes no state."""
        if pool not in self.config.pools:
            raise KeyError(f"unknown pool {pool!r}")
        saved = self.now
        if now is not None:
            self.now = now
        try:
            return views.explain(self, pool, features)
        finally:
            self.now = saved

    def pool_status(self, pool: str) -> dict[str, Any]:
        """Counts and per-model rows of one pool (R-106)."""
        if pool not in self.config.pools:
            raise KeyError(f"unknown pool {pool!r}")
        return views.pool_status(self, pool)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Statistics per scope ID at the latest `now` (R-93); changes no routing state."""
        return self.stats_book.view(self.now.mono, self.pool_members)

    def usage(self) -> dict[str, Any]:
        """Usage totals (R-64)."""
        return views.usage(self)

    def describe(self, pool: str | None = None) -> str:
        """Human-readable text per pool (R-106)."""
        if pool is not None and pool not in self.config.pools:
            raise KeyError(f"unknown pool {pool!r}")
        return views.describe(self, pool)

    def active_providers(self) -> list[str]:
        """Provider IDs with at least one eligible model."""
        out = []
        for pid in self.config.providers:
            if any(m.provider_id == pid and self.eligible(m) for m in self.models.values()
                   if m.model_id in self.governing):
                out.append(pid)
        return out
