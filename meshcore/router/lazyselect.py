"""Sub-linear selection for the built-in strategies (SPEC R-53; issue 2).

Theory of operation: the general path (`RequestOps.select`) filters every
pool member, builds a `ModelSnapshot` per candidate and hands the list to
the strategy object: O(pool size) per request. Most strategies, though,
only need a few members to decide. `lazy_select()` answers the same
question by asking `usable()` (the candidate test) only of the members the
strategy's rule actually looks at, in the order the rule looks at them:

- stick-until-failure / round-robin (as priority-selection's fallback):
  scan pool order from the pointer / index, as `fast_select` does;
- priority-selection: the `model_priority` list, then the members of each
  `provider_priority` provider in pool order, then the fallback;
- cost-first (`price` basis): the cost of a request depends only on the
  pricing and the request's token counts, so the pool order sorted by
  (cost, pool index) is cached per (pool, prompt tokens, max_tokens) and
  the first usable member in that order wins;
- latency-first: only models with latency history have a known mean; the
  others all score the median of the known candidates' means, so the
  choice is among the known candidates and the first unknown candidate;
- session-stickiness: a live session whose model is usable needs nothing
  else (purge and map update as in the class);
- rate-limit-aware: the first usable member in pool order under its limits;
- load-balanced (`lbselect.py`): an index of the pool's draw weights and
  candidates, kept exact through watched state fields and a heap of
  expiring send times, answers the weighted draw in O(log n) per change
  and per request (O(1) when every weight is equal); a request with many
  tried or inadmissible members computes the plain definition over the
  candidates instead (weights read straight from the model state, no
  snapshots).

Every answer carries the same reason text the class would give, and the
strategy state changes exactly as in the class. When the shortcut cannot
decide (no usable member on its route, a new session, spend basis,
custom strategies, a request whose member list was cut by a reload) it
returns None and the general path runs.

The general path also calls `counters()` on every candidate it snapshots,
which may reset a model's quota counters at a period change; that reset is
visible in snapshots. `sync_counters()` does the same, except once every
member's period key is known to be current for the UTC day (then
`counters()` changes nothing and skipping it is exact); a decline after it
is still exact, since the general path's own calls are then no-ops.
The caches hold configuration-derived values (strategy objects, cost
orders, provider groups) and three state-derived indexes: `latency_known`
(models with latency history, kept up to date by `on_success`),
`periods_ok` (pool -> UTC day verified) and the load-balanced indexes
(`lbselect.py`). All are rebuilt whenever a configuration is installed or
a state snapshot restored.
"""

from __future__ import annotations

import math

from meshcore._mypyc import mypyc_attr
from meshcore.actions import Action
from meshcore.config.schema import MeshConfig
from meshcore.router.calendar import DAY_S, period_key
from meshcore.router.custom_strategy import PoolStrategy, strategy_of
from meshcore.router.lbselect import LoadBalancedOps, Pick
from meshcore.router.policy import ModelSnapshot, SelectionRequest, StrategyState
from meshcore.router.state import RECENT_WINDOW_S, RequestState
from meshcore.router.strategies import (
    CostFirst,
    LatencyFirst,
    LoadBalanced,
    PrioritySelection,
    RateLimitAware,
    RoundRobin,
    SessionStickiness,
    StickUntilFailure,
)
from meshcore.router.strategies.base import median
from meshcore.router.strategies.session import purge_expired

COST_CACHE_MAX = 1024


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class LazySelectOps(LoadBalancedOps):
    """Shortcut selection; see module docstring."""

    def _install_config(self, config: MeshConfig) -> None:
        super()._install_config(config)
        self.reset_lazy_caches()

    def reset_lazy_caches(self) -> None:
        """Drop every cache derived from the configuration or the state."""
        self.strategy_cache: dict[str, tuple[object, PoolStrategy]] = {}
        self.periods_ok: dict[str, int] = {}
        self.cost_orders: dict[tuple[str, int, int | None], list[tuple[str, float | None]]] = {}
        self.by_provider: dict[str, dict[str, list[str]]] = {}
        self.latency_known: dict[str, None] = {
            mid: None for mid, m in self.models.items() if m.latencies
        }
        self.reset_lb()

    def pool_strategy_of(self, req: RequestState) -> PoolStrategy:
        """`strategy_of(pool)`, cached per pool config object."""
        pool = req.pool
        hit = self.strategy_cache.get(pool.name)
        if hit is not None and hit[0] is pool:
            return hit[1]
        strat = strategy_of(self, pool)
        self.strategy_cache[pool.name] = (pool, strat)
        return strat

    def sync_counters(self, req: RequestState) -> None:
        """Do what the general path's snapshots do to quota counters (see
        module doc): `counters()` on every candidate, unless every member's
        period key is known to be current, when that is a no-op."""
        name = req.pool.name
        day = math.floor(self.now.wall / DAY_S)
        if self.periods_ok.get(name) == day:
            return
        wall = self.now.wall
        for mid in req.members:
            if self.usable(req, mid):
                self.counters(self.models[mid])
        for mid in req.members:
            m = self.models[mid]
            if self.quota_schedule(mid) == "rolling" and m.period_key.startswith("rolling"):
                continue
            if m.period_key != period_key(self.quota_window(mid), wall):
                return
        self.periods_ok[name] = day

    def lazy_select(self, actions: list[Action], req: RequestState) -> str | None:
        """The built-in strategy's choice, or None when the shortcut cannot
        decide (then nothing was changed)."""
        pool = req.pool
        members = req.members
        if not members or members is not self.pool_members.get(pool.name):
            return None
        index = self.member_index[pool.name]
        if len(index) != len(members):
            return None
        if self.periods_ok.get(pool.name) != math.floor(self.now.wall / DAY_S):
            self.sync_counters(req)
        state = self.strategy_state.setdefault(pool.name, StrategyState())
        got = self.lazy_pick(self.pool_strategy_of(req), req, state, index)
        if got is None:
            return None
        mid, reason = got
        self.selected(actions, req, mid, reason)
        return mid

    def lazy_pick(
        self, strat: object, req: RequestState, state: StrategyState, index: dict[str, int]
    ) -> Pick:
        kind = type(strat)
        if kind is StickUntilFailure:
            return self.lazy_stick(req, state, index)
        if kind is RoundRobin:
            return self.lazy_round_robin(req, state)
        if kind is PrioritySelection:
            assert isinstance(strat, PrioritySelection)
            return self.lazy_priority(strat, req, state, index)
        if kind is CostFirst:
            assert isinstance(strat, CostFirst)
            return self.lazy_cost(strat, req)
        if kind is LatencyFirst:
            return self.lazy_latency(req, index)
        if kind is SessionStickiness:
            assert isinstance(strat, SessionStickiness)
            return self.lazy_session(strat, req, state, index)
        if kind is RateLimitAware:
            assert isinstance(strat, RateLimitAware)
            return self.lazy_rate_limit(strat, req)
        if kind is LoadBalanced:
            assert isinstance(strat, LoadBalanced)
            return self.lazy_load_balanced(strat, req)
        return None

    def first_usable(self, req: RequestState, start: int, count: int) -> str | None:
        members = req.members
        n = len(members)
        for k in range(start, start + count):
            mid = members[k % n]
            if self.usable(req, mid):
                return mid
        return None

    def selection_request(self, req: RequestState) -> SelectionRequest:
        return SelectionRequest(
            pool=req.pool, features=req.features, session_id=req.session_id,
            now_mono=self.now.mono, now_wall=self.now.wall, seed=self.seed,
            request_seq=req.seq, attempt_index=req.selections, dry_run=False,
        )

    # -- order-driven ------------------------------------------------------------
    def lazy_stick(self, req: RequestState, state: StrategyState, index: dict[str, int]) -> Pick:
        n = len(req.members)
        ptr = state.pointer
        if ptr is None or ptr not in index:
            mid = self.first_usable(req, 0, n)
            if mid is None:
                return None
            state.pointer = mid
            return mid, "first candidate in pool order becomes the current model"
        if self.usable(req, ptr):
            return ptr, "current model"
        mid = self.first_usable(req, index[ptr] + 1, n)
        if mid is None:
            return None
        return mid, f"current model {ptr} is not a candidate; next in pool order"

    def lazy_round_robin(self, req: RequestState, state: StrategyState) -> Pick:
        members = req.members
        n = len(members)
        start = state.rr_index % n
        for k in range(n):
            pos = (start + k) % n
            if self.usable(req, members[pos]):
                if req.selections == 0:
                    state.rr_index = (pos + 1) % n
                return members[pos], f"round-robin slot {pos}"
        return None

    def lazy_priority(
        self, strat: PrioritySelection, req: RequestState, state: StrategyState,
        index: dict[str, int],
    ) -> Pick:
        sel = strat.selection
        for i, mid in enumerate(sel.model_priority):
            if mid in index and self.usable(req, mid):
                return mid, f"model priority #{i + 1}"
        pp = sel.provider_priority
        if pp:
            groups = self.provider_groups(req)
            for rank, pid in enumerate(pp):
                if pp.index(pid) != rank:
                    continue  # a repeated entry ranks as its first occurrence
                for mid in groups.get(pid, ()):
                    if self.usable(req, mid):
                        return mid, f"provider priority #{rank + 1} ({pid})"
        if strat.fallback is None:
            return None
        got = self.lazy_pick(strat.fallback, req, state, index)
        if got is None:
            return None
        return got[0], f"fallback {strat.fallback.strategy_id}: {got[1]}"

    def provider_groups(self, req: RequestState) -> dict[str, list[str]]:
        """The pool's members per provider, each list in pool order."""
        groups = self.by_provider.get(req.pool.name)
        if groups is None:
            groups = {}
            for mid in req.members:
                groups.setdefault(self.models[mid].provider_id, []).append(mid)
            self.by_provider[req.pool.name] = groups
        return groups

    # -- metric-ranked -------------------------------------------------------------
    def lazy_cost(self, strat: CostFirst, req: RequestState) -> Pick:
        if strat.selection.cost_basis == "spend":
            return None
        f = req.features
        key = (req.pool.name, f.prompt_tokens, f.max_tokens)
        order = self.cost_orders.get(key)
        if order is None:
            built = self.build_cost_order(strat, req)
            if built is None:
                return None
            order = built
            if len(self.cost_orders) >= COST_CACHE_MAX:
                self.cost_orders.clear()
            self.cost_orders[key] = order
        for mid, cost in order:
            if self.usable(req, mid):
                if cost is None:
                    return mid, "no candidate is priced; first in pool order"
                return mid, f"lowest estimated cost (${cost:.6f})"
        return None

    def build_cost_order(
        self, strat: CostFirst, req: RequestState
    ) -> list[tuple[str, float | None]] | None:
        """Members sorted by the class's score (best first, ties in pool
        order); None if a score is NaN (no total order)."""
        sreq = self.selection_request(req)
        rows: list[tuple[float, int, str, float | None]] = []
        for i, mid in enumerate(req.members):
            snap = ModelSnapshot(model_id=mid, provider_id=self.models[mid].provider_id,
                                 pricing=self.config.models[mid].pricing, pool_index=i)
            score = strat.score(snap, sreq)
            if score != score:
                return None
            rows.append((-score, i, mid, strat.cost(snap, sreq)))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(mid, cost) for _, _, mid, cost in rows]

    def lazy_latency(self, req: RequestState, index: dict[str, int]) -> Pick:
        means: list[float] = []
        best: tuple[float, int, str, float | None] | None = None  # (score, index, id, mean)
        models = self.models
        for mid in self.latency_known:
            i = index.get(mid)
            m = models.get(mid)
            if i is None or m is None or not m.latencies or not self.usable(req, mid):
                continue
            mean = m.latency_mean()
            if mean is None or mean != mean:
                return None
            means.append(mean)
            score = 0.0 - mean
            if best is None or score > best[0] or (score == best[0] and i < best[1]):
                best = (score, i, mid, mean)
        for i, mid in enumerate(req.members):
            if models[mid].latencies:
                if mid not in self.latency_known:
                    return None
                continue
            if self.usable(req, mid):
                # every model without history scores the median of the known means
                score = 0.0 - (median(means) if means else 0.0)
                if best is None or score > best[0] or (score == best[0] and i < best[1]):
                    best = (score, i, mid, None)
                break
        if best is None:
            return None
        if best[3] is None:
            return best[2], f"no latency history; scored as median ({-best[0]:.1f} ms)"
        return best[2], f"lowest mean latency ({best[3]:.1f} ms)"

    # -- session and rate limits -------------------------------------------------------
    def lazy_session(
        self, strat: SessionStickiness, req: RequestState, state: StrategyState,
        index: dict[str, int],
    ) -> Pick:
        sid = req.session_id
        if not sid:
            mid = self.first_usable(req, 0, len(req.members))
            return None if mid is None else (mid, "no session key; first candidate in pool order")
        timeout = strat.selection.session_timeout_s
        entry = state.sessions.get(sid)
        wall = self.now.wall
        if entry is None or wall - entry[1] > timeout:
            return None
        mapped = entry[0]
        if mapped not in index or not self.usable(req, mapped):
            return None
        purge_expired(state, wall, timeout)
        state.sessions.pop(sid, None)
        state.sessions[sid] = (mapped, wall)
        return mapped, f"session bound to {mapped}"

    def lazy_rate_limit(self, strat: RateLimitAware, req: RequestState) -> Pick:
        cutoff = self.now.mono - RECENT_WINDOW_S
        for mid in req.members:
            if not self.usable(req, mid):
                continue
            m = self.models[mid]
            recent = m.recent  # pruned as snapshot_of() prunes it
            while recent and recent[0] < cutoff:
                recent.popleft()
            if strat.blocked(m.rate_limits, len(recent), m.last_request, self.now.mono) is None:
                return mid, "first candidate in pool order under its rate limits"
        return None
