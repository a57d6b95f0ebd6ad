"""Load-balanced selection without a scan of the pool (SPEC R-53; issue 2).

Theory of operation: a load-balanced draw needs every candidate's weight
and their exact total (`weighted.py`). Instead of rebuilding them per
request, each load-balanced pool keeps an `LBPool`: a `WeightIndex` over
the pool's members holding, per member, whether it passes the state
filter (`eligible()`) and its raw weight (`fraction_from` /
`remaining_from` of its rate data and its 60 s send count, exactly the
values the strategy class computes from snapshots). The index is kept
exact by three feeds, all processed before each draw:

- changes: the watched fields of `ModelState` / `ProviderState`
  (state.py) record the model or provider ID in `lb_models` /
  `lb_providers` on every change of status, trial or probe flags or rate
  data, and in `lb_sends` on every send (which appends to `recent`; only
  pools that count sends watch those); each recorded member is re-read
  (for a provider: its members in the pool). `eligible()` must read
  nothing else but those fields and `probes_running`;
- expiry: a member whose weight comes from local counting (no header data
  and `max_rpm > 0`) has its oldest send time in a heap; when that time
  leaves the 60 s window the member is re-read (pruned as every reader
  prunes `recent`);
- `probes_running` (which changes the eligibility of half-open models),
  the member list and the strategy object are compared per request; a
  difference rebuilds the pool's index (as does `reset_lazy_caches()` on a
  configuration or a restored snapshot).

Per request, the members the index counts but this request may not use
(tried already: `req.exhausted`; not admissible: R-27) are taken out of
the index for the draw and put back afterwards. Admission is cached per
admission class (`SelectionOps.admission_class`): the members that fail
for class reasons, and the others' context windows in sorted order, so the
members too small for this request's tokens are a bisection away. With
more exclusions than `MAX_EXCLUDED` (+ n/16) the plain O(n) definition
runs instead (`lb_scan`). Both give the decision, reason text and (no)
state change of `LoadBalanced`; the reason's figures are formatted only
when a debug trace will carry them (`DRAW_REASON` otherwise).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable

from meshcore._mypyc import mypyc_attr
from meshcore.router.rng import Derivation
from meshcore.router.selection import AdmissionClass, SelectionOps
from meshcore.router.state import RECENT_WINDOW_S, RequestState
from meshcore.router.strategies import LoadBalanced
from meshcore.router.strategies.base import (
    fraction_from,
    header_fraction,
    header_remaining,
    median,
    remaining_from,
)
from meshcore.router.weighted import WeightIndex, exact_draw
from meshcore.types import RateLimitInfo, RequestFeatures

Pick = tuple[str, str] | None  # (model ID, reason) or "cannot decide"
Weigh = Callable[[RateLimitInfo | None, int, int], float | None]
Header = Callable[[RateLimitInfo | None], float | None]
# admission of one class: (positions failing it, sorted context windows of the
# others that have one, their positions in the same order)
Admission = tuple[list[int], list[int], list[int]]

MAX_EXCLUDED = 8  # more per-request exclusions than this + n/16: plain definition
ADMISSION_CACHE_MAX = 64  # admission classes cached per pool
# without a debug trace sink nothing reads a decision's reason (selection.py's
# `selected`), so the exact figures are formatted only when one is kept
DRAW_REASON = "weighted random draw"


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class LBPool:
    """The index of one load-balanced pool (see module docstring)."""

    __slots__ = (
        "admission",
        "by_provider",
        "derivation",
        "header",
        "heap",
        "index",
        "last_admission",
        "max_rpm",
        "members",
        "probes",
        "sched",
        "strategy",
        "weigh",
        "weights",
    )

    def __init__(self, members: tuple[str, ...], strategy: LoadBalanced, probes: bool,
                 index: dict[str, int], derivation: Derivation) -> None:
        sel = strategy.selection
        absolute = sel.balance_mode == "absolute"
        self.members = members
        self.strategy = strategy
        self.probes = probes
        self.index = index
        self.weights = WeightIndex(len(members))
        self.weigh: Weigh = remaining_from if absolute else fraction_from
        self.header: Header = header_remaining if absolute else header_fraction
        self.max_rpm = sel.rate_limit_max_rpm
        self.sched: list[float | None] = [None] * len(members)  # oldest send in the heap
        self.heap: list[tuple[float, int]] = []
        self.by_provider: dict[str, list[int]] = {}
        self.derivation = derivation
        # admission class -> (positions failing it, sorted context windows of
        # the others, their positions in the same order)
        self.admission: dict[AdmissionClass, Admission] = {}
        # the last request's (features, capability filter, max_context_exceeded)
        # and their entry: consecutive requests often share the features value
        self.last_admission: tuple[RequestFeatures, str | None, int | None, Admission] | None = None


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class LoadBalancedOps(SelectionOps):
    """Load-balanced selection; see module docstring."""

    def reset_lb(self) -> None:
        """Drop every load-balanced index and stop watching the state."""
        for m in self.models.values():
            m.watch = None
            m.send_watch = None
        for p in self.providers.values():
            p.watch = None
        self.lb_pools: dict[str, LBPool] = {}
        self.lb_models: dict[str, None] = {}  # changed eligibility or rate data
        self.lb_sends: dict[str, None] = {}  # sent a request (pools that count sends)
        self.lb_providers: dict[str, None] = {}
        self.lb_derivations: dict[str, Derivation] = {}

    def lazy_load_balanced(self, strat: LoadBalanced, req: RequestState) -> Pick:
        """The class's choice and reason for `req` (None: no candidate; the
        general path then ends the request as usual)."""
        lbp = self.lb_ready(req, strat)
        excluded = self.lb_excluded(req, lbp)
        if excluded is None:
            return self.lb_scan(strat, req)
        weights = lbp.weights
        if excluded:
            raw = weights.raw
            for i in excluded:
                weights.set(i, False, raw[i])
            try:
                return self.lb_draw(req, lbp)
            finally:
                for i in excluded:
                    weights.set(i, True, raw[i])
        return self.lb_draw(req, lbp)

    def lb_draw(self, req: RequestState, lbp: LBPool) -> Pick:
        weights = lbp.weights
        if not weights.size():
            return None
        drawn = weights.draw(lbp.derivation.bits53_ints(req.seq, req.selections))
        if drawn is None:
            first = self.first_candidate(req)
            if first is None:
                return None
            return first, "every weight is zero; first candidate in pool order"
        if not self.debug_traces:  # the reason is only read by the debug trace
            return req.members[drawn], DRAW_REASON
        return req.members[drawn], (f"weighted random draw (weight "
                                    f"{weights.weight(drawn):.3f} of {weights.total():.3f})")

    def first_candidate(self, req: RequestState) -> str | None:
        """The first member in pool order that may serve `req`."""
        for mid in req.members:
            if self.usable(req, mid):
                return mid
        return None

    # -- the index --------------------------------------------------------------
    def lb_ready(self, req: RequestState, strat: LoadBalanced) -> LBPool:
        """The pool's index, brought up to date (built on first use)."""
        if self.lb_models or self.lb_sends or self.lb_providers:
            self.lb_sync()
        name = req.pool.name
        lbp = self.lb_pools.get(name)
        if (lbp is None or lbp.members is not req.members or lbp.strategy is not strat
                or lbp.probes is not self.probes_running):
            lbp = self.lb_build(req, strat)
        heap = lbp.heap
        if heap:
            cutoff = self.now.mono - RECENT_WINDOW_S
            sched = lbp.sched
            while heap and heap[0][0] < cutoff:
                t, i = heapq.heappop(heap)
                if sched[i] == t:
                    sched[i] = None
                    self.lb_refresh(lbp, i)
        return lbp

    def lb_build(self, req: RequestState, strat: LoadBalanced) -> LBPool:
        name = req.pool.name
        lbp = LBPool(req.members, strat, self.probes_running, self.member_index[name],
                     self.lb_derivation(name))
        watch_models = self.lb_models
        watch_sends = self.lb_sends if lbp.max_rpm > 0 else None
        watch_providers = self.lb_providers
        for i, mid in enumerate(req.members):
            m = self.models[mid]
            m.watch = watch_models
            if watch_sends is not None:
                m.send_watch = watch_sends
            prov = self.providers.get(m.provider_id)
            if prov is not None:
                prov.watch = watch_providers
            lbp.by_provider.setdefault(m.provider_id, []).append(i)
            self.lb_refresh(lbp, i)
        self.lb_pools[name] = lbp
        return lbp

    def lb_sync(self) -> None:
        """Re-read every member whose watched state changed, in every index
        (sends only where the weights count them)."""
        models = self.lb_models
        sends = self.lb_sends
        providers = self.lb_providers
        pools = list(self.lb_pools.values())
        for changed, counting in ((models, False), (sends, True)):
            for mid in changed:
                for lbp in pools:
                    i = lbp.index.get(mid)
                    if i is not None and (lbp.max_rpm > 0 or not counting):
                        self.lb_refresh(lbp, i)
            changed.clear()
        for pid in providers:
            for lbp in pools:
                for i in lbp.by_provider.get(pid, ()):
                    self.lb_refresh(lbp, i)
        providers.clear()

    def lb_refresh(self, lbp: LBPool, i: int) -> None:
        """Re-read member i's eligibility and raw weight from the state."""
        m = self.models[lbp.members[i]]
        rl = m.rate_limits
        if lbp.max_rpm > 0 and lbp.header(rl) is None:
            # local counting: the weight depends on the sends of the last 60 s
            recent = m.recent
            cutoff = self.now.mono - RECENT_WINDOW_S
            while recent and recent[0] < cutoff:
                recent.popleft()
            raw = lbp.weigh(rl, len(recent), lbp.max_rpm)
            if recent and lbp.sched[i] != recent[0]:
                lbp.sched[i] = recent[0]
                heapq.heappush(lbp.heap, (recent[0], i))
        else:
            raw = lbp.weigh(rl, 0, lbp.max_rpm)  # the count is not read here
        lbp.weights.set(i, self.eligible(m), raw)

    def lb_excluded(self, req: RequestState, lbp: LBPool) -> list[int] | None:
        """Positions in the index that `req` may not use (tried, or not
        admissible); None when there are too many for the index to pay."""
        inside = lbp.weights.inside
        out: dict[int, None] = {}
        index = lbp.index
        for mid in req.exhausted:
            i = index.get(mid)
            if i is not None and inside[i]:
                out[i] = None
        f = req.features
        last = lbp.last_admission
        if (last is not None and last[0] is f and last[1] == req.capability_filter
                and last[2] == req.max_context_exceeded):
            adm = last[3]
        else:
            cls = self.admission_class(req)
            got = lbp.admission.get(cls)
            if got is None:
                got = self.lb_admission(req, lbp)
                if len(lbp.admission) >= ADMISSION_CACHE_MAX:
                    lbp.admission.clear()
                lbp.admission[cls] = got
            adm = got
            lbp.last_admission = (f, req.capability_filter, req.max_context_exceeded, adm)
        failing, windows, positions = adm
        need = f.prompt_tokens + (f.max_tokens or 0)
        limit = MAX_EXCLUDED + len(lbp.members) // 16
        if not failing and (not windows or windows[0] >= need):
            return list(out) if len(out) <= limit else None
        too_small = bisect_left(windows, need)
        if len(failing) + too_small > 4 * limit:
            return None
        for i in failing:
            if inside[i]:
                out[i] = None
        for k in range(too_small):
            i = positions[k]
            if inside[i]:
                out[i] = None
        if len(out) > limit:
            return None
        return list(out)

    def lb_admission(self, req: RequestState, lbp: LBPool) -> Admission:
        """Admission of every member for `req`'s class (see module doc)."""
        failing: list[int] = []
        rows: list[tuple[int, int]] = []
        f = req.features
        models = self.config.models
        for i, mid in enumerate(lbp.members):
            if self.admission_check(mid, f, req.capability_filter, req.max_context_exceeded,
                                    context=False) is not None:
                failing.append(i)
                continue
            cw = models[mid].context_window
            if cw is not None:
                rows.append((cw, i))
        rows.sort()
        return failing, [cw for cw, _ in rows], [i for _, i in rows]

    # -- the plain definition ----------------------------------------------------
    def lb_derivation(self, pool: str) -> Derivation:
        """The draw's hash state after (seed, "load-balanced", pool)."""
        got = self.lb_derivations.get(pool)
        if got is None:
            got = self.lb_derivations[pool] = Derivation(self.seed, "load-balanced", pool)
        return got

    def lb_scan(self, strat: LoadBalanced, req: RequestState) -> Pick:
        """O(pool size): the class's computation over the candidates, with
        the weights read straight from the model state (no snapshots)."""
        sel = strat.selection
        max_rpm = sel.rate_limit_max_rpm
        weigh = remaining_from if sel.balance_mode == "absolute" else fraction_from
        cutoff = self.now.mono - RECENT_WINDOW_S
        cands = self.candidates(req)
        if not cands:
            return None
        raw: list[float | None] = []
        models = self.models
        for mid in cands:
            m = models[mid]
            recent = m.recent
            while recent and recent[0] < cutoff:
                recent.popleft()
            raw.append(weigh(m.rate_limits, len(recent), max_rpm))
        known = [w for w in raw if w is not None]
        fill = median(known) if known else 1.0
        weights = [max(0.0, w if w is not None else fill) for w in raw]
        drawn = exact_draw(weights, self.lb_derivation(req.pool.name)
                           .bits53_ints(req.seq, req.selections))
        if drawn is None:
            return cands[0], "every weight is zero; first candidate in pool order"
        pick, total = drawn
        if not self.debug_traces:
            return cands[pick], DRAW_REASON
        return cands[pick], (f"weighted random draw (weight {weights[pick]:.3f} "
                             f"of {total:.3f})")
