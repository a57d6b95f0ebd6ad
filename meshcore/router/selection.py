"""Candidate selection for a request (SPEC R-27, R-28, R-53, R-56, R-59).

Theory of operation: resolves `model=` to a pool (R-28), applies the
admission filters (R-27) and the state filter, builds the read-only model
snapshots strategies see, and runs the budget pre-flight (R-59, R-62).
Stick-until-failure and round-robin have a fast path that scans pool order
from the strategy's pointer and stops at the first usable member, so the
common request costs O(1) in the pool size (the other built-ins have
similar shortcuts in `lazyselect.py`). Admission results are memoised per
(model, capability filter, overflow floor) for the latest features value,
since they depend on nothing else but the configuration.
"""

from __future__ import annotations

import difflib

from meshcore._mypyc import mypyc_attr
from meshcore.actions import (
    Action,
    Failure,
)
from meshcore.capabilities import is_at_or_under, resolve_ex
from meshcore.config.membership import model_serves_operation, most_specific_pool
from meshcore.config.schema import PoolConfig
from meshcore.errors import CapabilityNotFoundError
from meshcore.router.budget import Limit, estimate_cost
from meshcore.router.calendar import next_boundary, period_key
from meshcore.router.endings import EndingsOps
from meshcore.router.health import ModelStatus, Reason, top_reason
from meshcore.router.policy import (
    ModelSnapshot,
    StrategyState,
)
from meshcore.router.state import RECENT_WINDOW_S, RequestState
from meshcore.types import Operation, RequestFeatures

# (operation, stream, tools, response_format, vision, capability filter,
# max_context_exceeded): see `SelectionOps.admission_class`
AdmissionClass = tuple[Operation, bool, bool, str | None, bool, str | None, int | None]

FAST_STRATEGIES = frozenset({"modelmesh.stick-until-failure.v1", "modelmesh.round-robin.v1"})


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class SelectionOps(EndingsOps):
    """Resolution, admission, candidates and budgets; see module docstring."""

    # -- resolution (R-28) -----------------------------------------------------
    def resolve_target(
        self, actions: list[Action], name: str
    ) -> tuple[PoolConfig, tuple[str, ...], str | None, str | None] | Failure:
        pools = self.config.pools
        if name in pools:
            return pools[name], self.pool_members[name], None, None
        try:
            path, deprecated = resolve_ex(name, self.config.custom_capabilities)
        except (CapabilityNotFoundError, ValueError):
            path = None
            deprecated = False
        if path is not None:
            if deprecated and name not in self.deprecated_warned:
                self.deprecated_warned.add(name)
                self.trace(actions, "warning", "router",
                           f"capability path {name!r} is deprecated; use {path!r}", name=name)
            pname = most_specific_pool(self.config, path)
            if pname is not None:
                return pools[pname], self.pool_members[pname], path, None
        matches = [mid for mid in self.config.models if mid == name]
        if not matches:
            matches = [mid for mid, m in self.config.models.items() if m.name == name]
        if len(matches) == 1:
            mid = matches[0]
            return self.gov_pool(mid), (mid,), None, mid
        names = sorted(pools)
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return Failure(
            "unknown_pool",
            f"Unknown pool or model {name!r}{hint} Pools: {', '.join(names) or '(none)'}",
            details={"pools": names, "close_matches": close, "model": name},
        )

    # -- admission (R-27) --------------------------------------------------------
    def admission_reason(self, req: RequestState, mid: str) -> str | None:
        """Why `mid` cannot serve `req` (R-27), or None. A pure function of
        the config, the request features, the capability filter and the
        context-overflow floor, memoised for the latest features value."""
        f = req.features
        if f is not self.adm_features:
            if f != self.adm_features or len(self.adm_memo) > 65536:
                self.adm_memo = {}
            self.adm_features = f
        key = (mid, req.capability_filter, req.max_context_exceeded)
        if key in self.adm_memo:
            return self.adm_memo[key]
        reason = self.compute_admission(req, mid)
        self.adm_memo[key] = reason
        return reason

    def compute_admission(self, req: RequestState, mid: str) -> str | None:
        return self.admission_check(mid, req.features, req.capability_filter,
                                    req.max_context_exceeded, context=True)

    def admission_check(
        self, mid: str, f: RequestFeatures, capability_filter: str | None,
        max_context_exceeded: int | None, context: bool,
    ) -> str | None:
        """The R-27 tests in order; with `context` false, all but the fit of
        prompt + max_tokens into the context window, which is the only test
        that reads the token counts: the result then depends only on
        `admission_class()` (load-balanced caches it per class)."""
        cfg = self.config.models[mid]
        if f.stream and not cfg.delivery_streaming:
            return "streaming not supported"
        if f.tools and cfg.features.get("tool_calling") is False:
            return "tool calling not supported"
        if f.response_format == "json_schema" and cfg.features.get("structured_output") is False:
            return "structured output not supported"
        if f.response_format == "json_object" and cfg.features.get("json_mode") is False:
            return "json mode not supported"
        if f.vision and cfg.features.get("vision") is False:
            return "vision not supported"
        if context and cfg.context_window is not None:
            need = f.prompt_tokens + (f.max_tokens or 0)
            if need > cfg.context_window:
                return f"needs {need} tokens, context window is {cfg.context_window}"
        if capability_filter is not None and not any(
            is_at_or_under(leaf, capability_filter) for leaf in cfg.capabilities
        ):
            return f"no capability under {capability_filter}"
        key = (mid, f.operation)
        serves = self.serves_cache.get(key)
        if serves is None:
            serves = model_serves_operation(self.config, mid, f.operation)
            self.serves_cache[key] = serves
        if not serves:
            return f"does not serve {f.operation.value}"
        if max_context_exceeded is not None:
            cw = cfg.context_window
            if cw is not None and cw <= max_context_exceeded:
                return "context window not larger than a model that overflowed"
        return None

    @staticmethod
    def admission_class(req: RequestState) -> AdmissionClass:
        """Everything `admission_check(..., context=False)` reads from a
        request (keep in step with it): requests of one class are admitted
        alike except for the context-window fit."""
        f = req.features
        return (f.operation, f.stream, f.tools, f.response_format, f.vision,
                req.capability_filter, req.max_context_exceeded)

    def candidates(self, req: RequestState) -> list[str]:
        """The members of `req` in pool order that may serve it now."""
        exhausted = req.exhausted
        models = self.models
        eligible = self.eligible
        admission = self.admission_reason
        return [
            mid for mid in req.members
            if mid not in exhausted and eligible(models[mid]) and admission(req, mid) is None
        ]

    def snapshot_of(self, mid: str, index: int) -> ModelSnapshot:
        m = self.counters(self.models[mid])
        cfg = self.config.models[mid]
        cutoff = self.now.mono - RECENT_WINDOW_S
        while m.recent and m.recent[0] < cutoff:
            m.recent.popleft()
        return ModelSnapshot(
            model_id=mid, provider_id=m.provider_id, status=m.status.value,
            reasons=tuple(r.value for r in m.reasons), failure_count=m.failure_count,
            error_rate=m.error_rate(), standby_until=self.recovery_wall(m),
            requests_period=m.requests, tokens_period=m.tokens, spend_period=m.spend,
            latency_mean_ms=m.latency_mean(), pricing=cfg.pricing,
            context_window=cfg.context_window, pool_index=index, rate_limits=m.rate_limits,
            recent_requests_60s=len(m.recent), last_request_mono=m.last_request,
        )

    def usable(self, req: RequestState, mid: str) -> bool:
        return (
            mid not in req.exhausted
            and self.eligible(self.models[mid])
            and self.admission_reason(req, mid) is None
        )

    def fast_select(self, actions: list[Action], req: RequestState) -> str | None:
        """Stick-until-failure and round-robin scan the pool order from their
        pointer and stop at the first usable member, so a request costs O(1)
        in the pool size when the current model is healthy. Same decisions as
        the strategy classes (tests/core/test_fast_path.py checks this)."""
        members = req.members
        n = len(members)
        if n == 0:
            return None
        state = self.strategy_state.setdefault(req.pool.name, StrategyState())
        index = self.member_index.get(req.pool.name, {})
        chosen: str | None = None
        if req.pool.strategy == "modelmesh.stick-until-failure.v1":
            ptr = state.pointer
            if ptr is None or ptr not in index:
                start, first = 0, 0
            elif self.usable(req, ptr):
                chosen = ptr
                start, first = 0, n
            else:
                start, first = index[ptr], 1
            for k in range(first, first + n if chosen is None else 0):
                mid = members[(start + k) % n]
                if self.usable(req, mid):
                    chosen = mid
                    break
            if chosen is not None and (ptr is None or ptr not in index):
                state.pointer = chosen
        else:
            start = state.rr_index % n
            for k in range(n):
                pos = (start + k) % n
                if self.usable(req, members[pos]):
                    chosen = members[pos]
                    if req.selections == 0:
                        state.rr_index = (pos + 1) % n
                    break
        if chosen is not None:
            self.selected(actions, req, chosen)
        return chosen

    def selected(self, actions: list[Action], req: RequestState, mid: str,
                 reason: str | None = None) -> None:
        """Book a strategy's choice for `req`: one more selection, state to
        save, and the per-decision debug trace (R-94) when a sink keeps it."""
        req.selections += 1
        self.dirty = True
        if self.debug_traces:
            self.trace(actions, "debug", f"pool.{req.pool.name}",
                       f"selected {mid}" if reason is None else f"selected {mid}: {reason}",
                       request_id=req.request_id, model_id=mid)

    def session_retry_after(self, mid: str) -> float | None:
        w = self.recovery_wall(self.models[mid]) if mid in self.models else None
        return None if w is None else max(1.0, w - self.now.wall)

    def standby_text(self, mid: str) -> str:
        m = self.models[mid]
        if self.provider_blocks(m.provider_id):
            p = self.providers[m.provider_id]
            return f"provider {m.provider_id} {p.status.value}: {p.reason}"
        if m.status is ModelStatus.STANDBY:
            top = top_reason(m.reasons)
            return f"standby: {top.value if top else 'unknown'}"
        if m.status is ModelStatus.HALF_OPEN:
            return "half_open: trial in flight"
        return str(m.status.value)

    def earliest_recovery(self, mids: list[str]) -> float | None:
        best: float | None = None
        for mid in mids:
            m = self.models[mid]
            if self.providers[m.provider_id].status.value == "deactivated":
                p = self.providers[m.provider_id]
                w = p.until_wall
            else:
                w = self.recovery_wall(m)
            if w is not None and (best is None or w < best):
                best = w
        return best

    def try_anyway_choice(self, req: RequestState, mids: list[str]) -> str | None:
        best: tuple[float, int, str] | None = None
        excluded = {Reason.MANUAL, Reason.BUDGET_EXCEEDED, Reason.MAINTENANCE_WINDOW}
        for i, mid in enumerate(mids):
            m = self.models[mid]
            if mid in req.exhausted or self.providers[m.provider_id].status.value != "active":
                continue
            if m.status is not ModelStatus.STANDBY:  # standby models only; a
                continue  # half-open one is not standby (and its trial may be in flight)
            if any(r in excluded for r in m.reasons):
                continue
            w = self.recovery_wall(m)
            key = (w if w is not None else float("inf"), i, mid)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    # -- budgets (R-59, R-62) -------------------------------------------------------
    def budget_limits(self, req: RequestState, mid: str) -> list[Limit]:
        if not self.budgets_configured:
            return []
        m = self.models[mid]
        prov = self.provider_cfg(m.provider_id)
        out: list[Limit] = []
        if prov.budget_daily_limit is not None:
            out.append(Limit("provider", m.provider_id, period_key("daily", self.now.wall),
                             prov.budget_daily_limit, "daily"))
        if prov.budget_monthly_limit is not None:
            out.append(Limit("provider", m.provider_id, period_key("monthly", self.now.wall),
                             prov.budget_monthly_limit, "monthly"))
        lim = req.pool.deactivation.budget_limit.for_model(mid)
        if lim is not None:
            out.append(Limit("pool", f"{req.pool.name}/{mid}",
                             period_key(self.quota_window(mid), self.now.wall), lim, "model"))
        return out

    def preflight(self, actions: list[Action], req: RequestState, mid: str) -> bool:
        """Check budgets before an attempt; False if the model must be skipped."""
        limits = self.budget_limits(req, mid)
        if not limits:
            return True
        est = estimate_cost(self.config.models[mid], req.features.prompt_tokens,
                            req.features.max_tokens)
        breach = self.ledger.check(limits, est)
        if breach is None:
            return True
        lim = breach.limit
        if req.pool.on_budget_exceeded != "rotate":
            self.fail(actions, req, "budget_exceeded",
                      f"{lim.limit_type} budget of {lim.key} would be exceeded: "
                      f"{breach.actual:.6f} > {lim.limit:.6f} USD",
                      limit_type=lim.limit_type, limit_value=lim.limit,
                      actual_value=breach.actual, scope=lim.scope, key=lim.key)
            return False
        window = "daily" if lim.limit_type == "daily" else (
            "monthly" if lim.limit_type == "monthly" else self.quota_window(mid))
        until = next_boundary(window, self.now.wall)
        targets = [mid] if lim.scope == "pool" else [
            x for x, ms in self.models.items() if ms.provider_id == lim.key
        ]
        for t in targets:
            self.deactivate(actions, self.models[t], Reason.BUDGET_EXCEEDED, until, req.pool)
            req.exhausted.add(t)
        req.local_breach = True
        return False
