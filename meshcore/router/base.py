"""Shared state and small helpers of the router.

Theory of operation: `RouterBase` holds everything the router knows: the
config, the seed, per-model / per-provider / per-pool state, requests and
attempts in flight, the timer queue and the budget ledger. The mixins in
`healthops.py` (model and provider health) and `requests.py` (the request
lifecycle) build on it, and `router.py` puts the public face on top. All
output goes into the `actions` list passed down every call chain.

Values derived from the configuration alone are computed when a
configuration is installed (`_install_config`, also on reload) rather than
per request: pool membership and indexes, the trace floor, the sync policy
(`sync_mode`), whether any budget is configured, and per pool a `PoolPlan`
(built on first use, checked against the pool object it was built from, and
dropped on install and on a state restore).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

from meshcore._mypyc import mypyc_attr
from meshcore.actions import Action, Emit
from meshcore.config.membership import pool_members
from meshcore.config.schema import MeshConfig, ModelConfig, PoolConfig, ProviderConfig
from meshcore.records import SEVERITIES, RoutingEvent, TraceEntry
from meshcore.router.budget import BudgetLedger
from meshcore.router.calendar import DAY_S, iso_utc, period_key
from meshcore.router.policy import StrategyState
from meshcore.router.state import AttemptState, ModelState, ProviderState, RequestState
from meshcore.router.stats import StatsBook, logs_wanted
from meshcore.router.timers import TimerQueue
from meshcore.types import Instant, Operation, RequestFeatures

DEFAULT_POOL = PoolConfig(name="")
FINISHED_MAX = 65536  # late facts about this many ended attempts are ignored
SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}


def trace_floor(sections: Mapping[str, Any]) -> int:
    """The lowest severity rank any trace-receiving sink keeps (R-89)."""
    sinks = sections.get("observability")
    ranks = [
        SEVERITY_RANK.get(str((s.get("tracing") or {}).get("min_severity", "info")), 1)
        for s in (sinks if isinstance(sinks, list) else ())
        if isinstance(s, dict) and "traces" in s.get("streams", ())
    ]
    return min(ranks) if ranks else SEVERITY_RANK["info"]


def sync_policy_of(sections: Mapping[str, Any]) -> str:
    """The storage section's `persistence.sync_policy` (R-83), default in-memory."""
    storage = sections.get("storage") or {}
    pers = storage.get("persistence") if isinstance(storage, dict) else None
    if isinstance(pers, dict):
        return str(pers.get("sync_policy", "in-memory"))
    return "in-memory"


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class PoolPlan:
    """What the per-request path needs from one pool configuration object,
    computed once instead of on every request: whether the pool uses the
    pointer-scan fast path, its custom Deactivation (R-54) if any, the
    clamped latency and error-rate window lengths, and whether a request or
    token limit (R-44) is configured at all. Built from, and only valid for,
    the pool object in `pool` (a request in flight across a reload keeps its
    old pool object and gets a plan of its own)."""

    __slots__ = ("custom_deactivation", "error_window", "fast", "latency_window", "pool",
                 "quota_limits")

    def __init__(self, pool: PoolConfig, fast: bool, custom_deactivation: Any | None) -> None:
        self.pool = pool
        self.fast = fast
        self.custom_deactivation = custom_deactivation
        self.latency_window = max(1, pool.selection.latency_window)
        self.error_window = max(1, pool.deactivation.error_rate_window)
        d = pool.deactivation
        self.quota_limits = any(
            lim.value is not None or bool(lim.per_model)
            for lim in (d.request_limit, d.token_limit)
        )


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class RouterBase:
    """State holder; see module docstring."""

    config: MeshConfig
    seed: int
    stats_book: StatsBook

    def __init__(self, config: MeshConfig, seed: int) -> None:
        if not isinstance(config, MeshConfig):
            raise TypeError("Router needs a MeshConfig (use meshcore.load_config)")
        if not isinstance(seed, int):
            raise TypeError("seed must be an int")
        self.seed = seed
        self.now = Instant(0.0, 0.0)
        self.started = False
        self.probes_running = False
        self.timers = TimerQueue()
        self.ledger = BudgetLedger()
        self.models: dict[str, ModelState] = {}
        self.providers: dict[str, ProviderState] = {}
        self.strategy_state: dict[str, StrategyState] = {}
        self.requests: dict[str, RequestState] = {}
        self.attempts: dict[str, AttemptState] = {}
        # attempts that ended or were cancelled: a late fact about one of them
        # is ignored; a fact about an attempt never sent is a bug (raises)
        self.finished_attempts: dict[str, None] = {}
        # the same IDs in insertion order: evicting the oldest from the deque
        # is O(1), while `next(iter(dict))` after many front deletions scans
        # the dict's dead slots (tens of microseconds per attempt at the cap)
        self.finished_order: deque[str] = deque()
        self.request_seq = 0
        self.id_prefix: str | None = None  # response-id prefix, from the seed
        self.probe_seq = 0
        self.deprecated_warned: set[str] = set()
        self.last_selected: dict[str, str] = {}
        self.dirty = False
        self._install_config(config)

    # -- configuration -------------------------------------------------
    def _install_config(self, config: MeshConfig) -> None:
        self.config = config
        self.pool_members: dict[str, tuple[str, ...]] = {
            name: pool_members(config, pool) for name, pool in config.pools.items()
        }
        self.member_index: dict[str, dict[str, int]] = {
            name: {mid: i for i, mid in enumerate(members)}
            for name, members in self.pool_members.items()
        }
        self.governing: dict[str, PoolConfig] = {}
        for name, members in self.pool_members.items():
            for mid in members:
                self.governing.setdefault(mid, config.pools[name])
        for pid in config.providers:
            self.providers.setdefault(pid, ProviderState(pid))
        for mid, m in config.models.items():
            st = self.models.get(mid)
            if st is None or st.provider_id != m.provider:
                self.models[mid] = ModelState(mid, m.provider)
        for name in config.pools:
            self.strategy_state.setdefault(name, StrategyState())
        self.pools_of: dict[str, list[str]] = {}
        for name, members in self.pool_members.items():
            for mid in members:
                self.pools_of.setdefault(mid, []).append(name)
        self.serves_cache: dict[tuple[str, Operation], bool] = {}
        # admission memo (selection.py): valid for one features value and config
        self.adm_features: RequestFeatures | None = None
        self.adm_memo: dict[tuple[str, str | None, int | None], str | None] = {}
        self.counters_ok: dict[str, tuple[int, str]] = {}  # model -> (UTC day, current key)
        self.schedule_cache: dict[str, str] = {}  # quota schedules, static per config
        # traces below every trace sink's min_severity are
        # discarded, so the core does not build them (per-decision debug
        # traces are the costly ones); no sink section means the default "info"
        self.trace_floor = trace_floor(config.sections)
        self.debug_traces = self.trace_floor == 0
        self.window_cache: dict[str, str] = {}
        # the persistence policy, read once per configuration
        self.sync_mode = sync_policy_of(config.sections)
        # request-log records only when a sink takes them (stats.logs_wanted)
        self.log_requests = logs_wanted(config.sections)
        # per-pool facts the per-request path reads (see `pool_plan`); keyed
        # by pool name, each checked against the pool object it was built from
        self.pool_plans: dict[str, PoolPlan] = {}
        self.budgets_configured = any(
            p.budget_daily_limit is not None or p.budget_monthly_limit is not None
            for p in config.providers.values()
        ) or any(
            p.deactivation.budget_limit.value is not None or p.deactivation.budget_limit.per_model
            for p in config.pools.values()
        )

    def pool_plan(self, pool: PoolConfig) -> PoolPlan:
        """The `PoolPlan` of this pool object (built on first use after a
        configuration install or a state restore, which clear the cache)."""
        plan = self.pool_plans.get(pool.name)
        if plan is not None and plan.pool is pool:
            return plan
        plan = self.new_plan(pool)
        self.pool_plans[pool.name] = plan
        return plan

    def new_plan(self, pool: PoolConfig) -> PoolPlan:
        raise NotImplementedError  # requests.py knows the strategies and policies

    def remember_finished(self, attempt_id: str) -> None:
        if attempt_id in self.finished_attempts:
            return  # a dict keeps a re-inserted key in its first place
        self.finished_attempts[attempt_id] = None
        self.finished_order.append(attempt_id)
        if len(self.finished_attempts) > FINISHED_MAX:
            del self.finished_attempts[self.finished_order.popleft()]

    def model_cfg(self, model_id: str) -> ModelConfig:
        return self.config.models[model_id]

    def provider_cfg(self, provider_id: str) -> ProviderConfig:
        return self.config.providers[provider_id]

    def gov_pool(self, model_id: str) -> PoolConfig:
        """The pool whose time-driven settings govern a model: the first pool
        (in configuration order) that contains it."""
        return self.governing.get(model_id, DEFAULT_POOL)

    # -- clocks ----------------------------------------------------------
    def wall_to_mono(self, wall: float) -> float:
        return self.now.mono + (wall - self.now.wall)

    def mono_to_wall(self, mono: float) -> float:
        return self.now.wall + (mono - self.now.mono)

    def ts(self) -> str:
        return iso_utc(self.now.wall)

    # -- quota periods ---------------------------------------------------
    def quota_schedule(self, model_id: str) -> str:
        hit = self.schedule_cache.get(model_id)
        if hit is not None:
            return hit
        pool = self.gov_pool(model_id)
        sched = pool.recovery.quota_reset_schedule
        if sched is None:
            prov = self.config.providers.get(self.models[model_id].provider_id)
            sched = prov.quota_reset_schedule if prov is not None else "monthly"
        sched = "daily" if sched == "daily_utc" else sched
        self.schedule_cache[model_id] = sched
        return sched

    def quota_window(self, model_id: str) -> str:
        hit = self.window_cache.get(model_id)
        if hit is not None:
            return hit
        win = self.gov_pool(model_id).deactivation.quota_window
        if win:
            win = "daily" if win == "daily_utc" else win
        else:
            sched = self.quota_schedule(model_id)
            win = "daily" if sched == "rolling" else sched
        self.window_cache[model_id] = win
        return win

    def counters(self, m: ModelState) -> ModelState:
        """Reset a model's quota counters lazily when the period changed (R-45).
        Rolling periods are reset explicitly when the rolling standby ends."""
        day = math.floor(self.now.wall / DAY_S)
        ok = self.counters_ok.get(m.model_id)
        if ok is not None and ok[0] == day and ok[1] == m.period_key:
            return m  # already current today (a period key never starts with "rolling")
        if self.quota_schedule(m.model_id) == "rolling" and m.period_key.startswith("rolling"):
            return m
        key = period_key(self.quota_window(m.model_id), self.now.wall)
        if m.period_key != key:
            m.period_key = key
            m.requests = 0
            m.tokens = 0
            m.spend = 0.0
        self.counters_ok[m.model_id] = (day, key)
        return m

    # -- records ---------------------------------------------------------
    def event(
        self,
        actions: list[Action],
        event_type: str,
        *,
        model_id: str | None = None,
        provider_id: str | None = None,
        pool_id: str | None = None,
        **metadata: Any,
    ) -> None:
        rec = RoutingEvent(event_type, self.ts(), model_id, provider_id, pool_id, metadata)
        actions.append(Emit(rec))
        self.stats_book.event(rec, self.now.mono, self.pools_of)

    def trace(
        self,
        actions: list[Action],
        severity: str,
        component: str,
        message: str,
        error: str | None = None,
        **metadata: Any,
    ) -> None:
        if SEVERITY_RANK.get(severity, 0) < self.trace_floor:
            return
        actions.append(Emit(TraceEntry(severity, self.ts(), component, message, metadata, error)))
