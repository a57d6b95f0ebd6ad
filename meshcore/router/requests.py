"""The request lifecycle (SPEC R-27 .. R-42, R-56, R-59 .. R-62).

Theory of operation: `submit()` resolves `model=` (R-28), fixes the
deadline and calls `advance()`. `advance()` is the one place that picks the
next attempt: it filters the pool's members (not exhausted in this request,
eligible by state, admissible for the request), asks the pool's strategy to
choose, runs the budget pre-flight and emits `SendAttempt`; with no
candidate it applies `on_all_standby` (before the first attempt) or ends the
request (after). Outcomes come back through `on_success()` and
`on_failure()`, which update health (healthops) and then either deliver,
schedule a same-model retry on a timer, rotate via `advance()`, or fail.
Every request ends in exactly one `Deliver` or `Fail`.
"""

from __future__ import annotations

import difflib
import hashlib

from meshcore.actions import (
    Action,
    AttemptRecord,
    CancelAttempt,
    Commit,
    Deliver,
    Emit,
    Fail,
    Failure,
    SendAttempt,
)
from meshcore.capabilities import is_at_or_under, resolve_ex
from meshcore.config.membership import model_serves_operation, most_specific_pool
from meshcore.config.schema import PoolConfig
from meshcore.errors import CapabilityNotFoundError
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    RequestCancelled,
    RequestSubmitted,
)
from meshcore.records import RequestLogEntry
from meshcore.router.budget import Limit, cost_of, estimate_cost, settle_usage
from meshcore.router.calendar import iso_utc, next_boundary, period_key
from meshcore.router.health import ModelStatus, Reason
from meshcore.router.healthops import HealthOps
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SessionUnavailable
from meshcore.router.retry import (
    backoff_wait,
    bounded_retry_after,
    is_counted,
    max_attempts_on_model,
    same_model_retry,
)
from meshcore.router.state import AttemptState, RequestState
from meshcore.router.strategies import NoSelection, get_strategy
from meshcore.types import OutcomeClass, Usage
from meshcore.wire.classify import classify

REQUEST_FAULTS = frozenset({OutcomeClass.BAD_REQUEST, OutcomeClass.CONTEXT_LENGTH_EXCEEDED})


class RequestOps(HealthOps):
    """Request lifecycle; see module docstring."""

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
        cfg = self.config.models[mid]
        f = req.features
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
        if cfg.context_window is not None:
            need = f.prompt_tokens + (f.max_tokens or 0)
            if need > cfg.context_window:
                return f"needs {need} tokens, context window is {cfg.context_window}"
        if req.capability_filter is not None and not any(
            is_at_or_under(leaf, req.capability_filter) for leaf in cfg.capabilities
        ):
            return f"no capability under {req.capability_filter}"
        key = (mid, f.operation.value)
        serves = self.serves_cache.get(key)
        if serves is None:
            serves = model_serves_operation(self.config, mid, f.operation)
            self.serves_cache[key] = serves
        if not serves:
            return f"does not serve {f.operation.value}"
        if req.max_context_exceeded is not None:
            cw = cfg.context_window
            if cw is not None and cw <= req.max_context_exceeded:
                return "context window not larger than a model that overflowed"
        return None

    def candidates(self, req: RequestState) -> list[str]:
        out = []
        for mid in req.members:
            if mid in req.exhausted:
                continue
            if not self.eligible(self.models[mid]):
                continue
            if self.admission_reason(req, mid) is None:
                out.append(mid)
        return out

    def snapshot_of(self, mid: str, index: int) -> ModelSnapshot:
        m = self.counters(self.models[mid])
        cfg = self.config.models[mid]
        cutoff = self.now.mono - 60.0
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

    # -- submission ----------------------------------------------------------------
    def submit(self, actions: list[Action], ev: RequestSubmitted) -> None:
        if ev.request_id in self.requests:
            raise ValueError(f"request id {ev.request_id!r} is already in flight")
        self.request_seq += 1
        target = self.resolve_target(actions, ev.model)
        if isinstance(target, Failure):
            actions.append(Fail(ev.request_id, target))
            return
        pool, members, cap_filter, single = target
        timeout = ev.timeout_s if ev.timeout_s is not None else pool.deadline_s
        digest = hashlib.blake2b(
            f"{self.seed}:{self.request_seq}".encode(), digest_size=12
        ).hexdigest()
        req = RequestState(
            request_id=ev.request_id, seq=self.request_seq, pool=pool, members=members,
            features=ev.features, deadline=self.now.mono + max(0.0, timeout),
            session_id=ev.session_id or ev.features.user, started_mono=self.now.mono,
            started_wall=self.now.wall, response_id=f"chatcmpl-{digest}",
            capability_filter=cap_filter, single_model=single,
        )
        self.requests[ev.request_id] = req
        self.timers.push(req.deadline, "deadline", ev.request_id)
        self.advance(actions, req)

    # -- the decision step ---------------------------------------------------------
    def advance(self, actions: list[Action], req: RequestState) -> None:
        """Choose and send the next attempt, or end the request."""
        while not req.done:
            if self.now.mono >= req.deadline:
                self.fail(actions, req, "deadline_exceeded",
                          f"deadline of pool {req.pool.name!r} exceeded")
                return
            cands = self.candidates(req)
            if not cands:
                self.no_candidate(actions, req)
                return
            chosen = self.select(actions, req, cands)
            if chosen is None:
                return
            if not self.preflight(actions, req, chosen):
                continue
            self.send(actions, req, chosen)
            return

    def select(self, actions: list[Action], req: RequestState, cands: list[str]) -> str | None:
        if req.single_model is not None:
            req.selections += 1
            return cands[0]
        index = {mid: i for i, mid in enumerate(req.members)}
        snaps = [self.snapshot_of(mid, index[mid]) for mid in cands]
        strat = get_strategy(req.pool.strategy, req.pool.selection)
        sreq = SelectionRequest(
            pool=req.pool, features=req.features, session_id=req.session_id,
            now_mono=self.now.mono, now_wall=self.now.wall, seed=self.seed,
            request_seq=req.seq, attempt_index=req.selections, dry_run=False,
        )
        state = self.strategy_state.setdefault(req.pool.name, self.new_strategy_state())
        try:
            result = strat.select(snaps, sreq, state, req.members)
        except SessionUnavailable as exc:
            self.fail(actions, req, "session_model_unavailable",
                      f"session model {exc.model_id} of pool {req.pool.name!r} is unavailable",
                      session_id=req.session_id, model_id=exc.model_id,
                      retry_after_s=self.session_retry_after(exc.model_id))
            return None
        except NoSelection:
            self.no_candidate(actions, req, force_fail_fast=True)
            return None
        req.selections += 1
        self.dirty = True
        self.trace(actions, "debug", f"pool.{req.pool.name}",
                   f"selected {result.model_id}: {result.reason}",
                   request_id=req.request_id, model_id=result.model_id)
        return result.model_id

    def session_retry_after(self, mid: str) -> float | None:
        w = self.recovery_wall(self.models[mid]) if mid in self.models else None
        return None if w is None else max(1.0, w - self.now.wall)

    # -- no candidate (R-56, R-39) ------------------------------------------------
    def no_candidate(
        self, actions: list[Action], req: RequestState, force_fail_fast: bool = False
    ) -> None:
        if req.attempts and not req.local_breach:
            self.fail_exhausted(actions, req)
            return
        reasons = {mid: self.admission_reason(req, mid) for mid in req.members}
        if not req.members or all(r is not None for r in reasons.values()):
            self.fail(actions, req, "no_admissible_model",
                      f"no model of pool {req.pool.name!r} can serve this request",
                      models={k: v for k, v in reasons.items()})
            return
        admissible = [mid for mid, r in reasons.items() if r is None]
        mode = "fail_fast" if force_fail_fast else req.pool.on_all_standby
        earliest = self.earliest_recovery(admissible)
        if mode == "wait" and earliest is not None and self.wall_to_mono(earliest) < req.deadline:
            req.waiting_recovery = True
            self.timers.push(self.wall_to_mono(earliest), "wake", req.request_id)
            return
        if mode == "try_anyway":
            best = self.try_anyway_choice(req, admissible)
            if best is not None:
                req.selections += 1
                if self.preflight(actions, req, best):
                    self.send(actions, req, best)
                else:
                    self.advance(actions, req)
                return
        at = iso_utc(earliest) if earliest is not None else None
        self.event(actions, "pool_exhausted", pool_id=req.pool.name, earliest_recovery_at=at)
        per_model = {mid: self.standby_text(mid) for mid in admissible}
        msg = f"No active model in pool {req.pool.name!r}" + (
            f"; earliest recovery at {at}" if at else "; no recovery is scheduled"
        )
        self.fail(actions, req, "no_active_model", msg, earliest_recovery_at=at,
                  retry_after_s=None if earliest is None else max(1.0, earliest - self.now.wall),
                  models=per_model)

    def standby_text(self, mid: str) -> str:
        m = self.models[mid]
        if self.provider_blocks(m.provider_id):
            p = self.providers[m.provider_id]
            return f"provider {m.provider_id} {p.status.value}: {p.reason}"
        if m.status is ModelStatus.STANDBY:
            top = next(iter(sorted(m.reasons, key=list(Reason).index)), None)
            return f"standby: {top.value if top else 'unknown'}"
        if m.status is ModelStatus.HALF_OPEN:
            return "half_open: trial in flight"
        return m.status.value

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
            if any(r in excluded for r in m.reasons):
                continue
            w = self.recovery_wall(m)
            key = (w if w is not None else float("inf"), i, mid)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    # -- budgets (R-59, R-62) -------------------------------------------------------
    def budget_limits(self, req: RequestState, mid: str) -> list[Limit]:
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

    # -- sending ----------------------------------------------------------------------
    def send(self, actions: list[Action], req: RequestState, mid: str) -> None:
        m = self.counters(self.models[mid])
        prov_cfg = self.provider_cfg(m.provider_id)
        prov = self.providers[m.provider_id]
        number = len(req.attempts) + 1
        aid = f"{req.request_id}#{number}"
        limits = self.budget_limits(req, mid)
        est = estimate_cost(self.config.models[mid], req.features.prompt_tokens,
                            req.features.max_tokens) if limits else 0.0
        self.ledger.reserve(limits, est)
        att = AttemptState(
            aid, req.request_id, mid, m.provider_id, req.pool.name, self.now.mono, number,
            reservation=est, limits=tuple(limits),
        )
        if m.status is not ModelStatus.ACTIVE:
            m.trial_in_flight = True
            att.is_trial = True
        if prov.status.value == "half_open":
            prov.trial_in_flight = True
            att.provider_trial = True
        self.attempts[aid] = att
        if req.current_model is not None and req.current_model != mid and req.attempts:
            self.event(actions, "model_rotated", model_id=mid, pool_id=req.pool.name,
                       from_model=req.current_model, to_model=mid,
                       reason=req.attempts[-1].outcome.value)
        req.current_attempt = aid
        req.current_model = mid
        req.per_model_attempts[mid] = req.per_model_attempts.get(mid, 0) + 1
        req.retry_due = None
        req.waiting_recovery = False
        m.recent.append(self.now.mono)
        m.last_request = self.now.mono
        self.last_selected[req.pool.name] = mid
        remaining = max(0.0, req.deadline - self.now.mono)
        first = (
            min(req.pool.stream_first_chunk_timeout_s, remaining) if req.features.stream else None
        )
        actions.append(SendAttempt(
            aid, req.request_id, mid, m.provider_id, self.config.models[mid].name, number,
            min(prov_cfg.timeout_s, remaining), first, key_index=prov.key_index,
            response_id=req.response_id,
        ))

    # -- outcomes -------------------------------------------------------------------------
    def take_attempt(self, attempt_id: str) -> AttemptState | None:
        att = self.attempts.pop(attempt_id, None)
        if att is None:
            if attempt_id in self.finished_attempts:
                return None
            raise KeyError(f"unknown attempt id {attempt_id!r}")
        self.finished_attempts.add(attempt_id)
        if len(self.finished_attempts) > 4096:
            self.finished_attempts.clear()
        return att

    def settle(self, att: AttemptState, usage: Usage | None) -> tuple[Usage | None, float]:
        """Release the reservation and book the actual cost (R-58, R-60)."""
        cfg = self.config.models[att.model_id]
        cost = cost_of(cfg.pricing, usage) if usage is not None else 0.0
        self.ledger.settle(list(att.limits), att.reservation, 0.0)
        if usage is None:
            return None, 0.0
        m = self.counters(self.models[att.model_id])
        m.tokens += usage.total_tokens
        m.spend += cost
        m.total_tokens += usage.total_tokens
        m.total_cost += cost
        prov = self.provider_cfg(att.provider_id)
        if prov.budget_daily_limit is not None:
            self.ledger.add_spend("provider", att.provider_id,
                                  period_key("daily", self.now.wall), cost)
        if prov.budget_monthly_limit is not None:
            self.ledger.add_spend("provider", att.provider_id,
                                  period_key("monthly", self.now.wall), cost)
        for lim in att.limits:
            if lim.scope == "pool":
                self.ledger.add_spend(lim.scope, lim.key, lim.period, cost)
        self.dirty = True
        return usage, cost

    def on_first_chunk(self, actions: list[Action], ev: AttemptFirstChunk) -> None:
        att = self.attempts.get(ev.attempt_id)
        if att is None:
            if ev.attempt_id in self.finished_attempts:
                return
            raise KeyError(f"unknown attempt id {ev.attempt_id!r}")
        if att.request_id is None:
            return
        req = self.requests.get(att.request_id)
        if req is None or req.done:
            actions.append(CancelAttempt(ev.attempt_id, "request finished"))
            return
        if not att.committed:
            att.committed = True
            att.ttft_ms = ev.ttft_ms
            req.committed = True
            actions.append(Commit(req.request_id, att.attempt_id, att.model_id, req.response_id))

    def on_success(self, actions: list[Action], ev: AttemptSucceeded) -> None:
        att = self.take_attempt(ev.attempt_id)
        if att is None:
            return
        m = self.models[att.model_id]
        req = self.requests.get(att.request_id) if att.request_id else None
        pool = req.pool if req is not None else self.gov_pool(att.model_id)
        prompt_est = req.features.prompt_tokens if req else 0
        usage, cost = self.settle(att, settle_usage(ev.usage, ev.output_chars, prompt_est))
        if ev.rate_limits is not None:
            m.rate_limits = ev.rate_limits
        m.latencies.append(ev.latency_ms)
        while len(m.latencies) > max(1, pool.selection.latency_window):
            m.latencies.popleft()
        if ev.ttft_ms is not None:
            m.ttfts.append(ev.ttft_ms)
            while len(m.ttfts) > max(1, pool.selection.latency_window):
                m.ttfts.popleft()
        self.record_success(actions, att, pool)
        rec = AttemptRecord(att.attempt_id, att.model_id, att.provider_id, OutcomeClass.SUCCESS,
                            ev.status, ev.latency_ms)
        if req is None:
            self.log_probe(actions, att, rec, usage, cost)
            return
        self.counters(m)
        m.requests += 1
        m.total_requests += 1
        req.attempts.append(rec)
        if req.features.stream and not req.committed:
            actions.append(Commit(req.request_id, att.attempt_id, att.model_id, req.response_id))
        req.done = True
        actions.append(Deliver(req.request_id, att.attempt_id, att.model_id, att.provider_id,
                               req.response_id, tuple(req.attempts), usage, cost))
        self.log_request(actions, req, "success", rec, usage, cost, ev.ttft_ms or att.ttft_ms)
        self.finish(req)
        self.check_limits(actions, m, pool)

    def check_limits(self, actions: list[Action], m: object, pool: PoolConfig) -> None:
        from meshcore.router.state import ModelState

        assert isinstance(m, ModelState)
        d = pool.deactivation
        req_lim = d.request_limit.for_model(m.model_id)
        tok_lim = d.token_limit.for_model(m.model_id)
        if tok_lim is not None and m.tokens >= tok_lim:
            self.deactivate(actions, m, Reason.TOKEN_LIMIT, self.quota_clear_wall(m), pool)
        if req_lim is not None and m.requests >= req_lim:
            self.deactivate(actions, m, Reason.REQUEST_LIMIT, self.quota_clear_wall(m), pool)
        if (tok_lim is not None or req_lim is not None) and self.quota_schedule(
            m.model_id
        ) == "rolling" and m.status is ModelStatus.STANDBY:
            m.period_key = f"rolling:{self.now.wall}"

    def on_failure(self, actions: list[Action], ev: AttemptFailed) -> None:
        att = self.take_attempt(ev.attempt_id)
        if att is None:
            return
        req = self.requests.get(att.request_id) if att.request_id else None
        pool = req.pool if req is not None else self.gov_pool(att.model_id)
        prov_cfg = self.provider_cfg(att.provider_id)
        connector = prov_cfg.connector
        c = classify(ev, connector, att.committed)
        prompt_est = req.features.prompt_tokens if req else 0
        usage, cost = self.settle(att, settle_usage(ev.usage, ev.output_chars, prompt_est))
        m = self.counters(self.models[att.model_id])
        if ev.status is not None and req is not None:
            m.requests += 1
        ra = bounded_retry_after(c.retry_after_s, pool)
        counted = is_counted(c.outcome, ev.status, ev.kind, pool)
        self.record_failure(actions, att, c.outcome, counted, ev.status, ra, pool)
        if c.outcome is OutcomeClass.MODEL_NOT_FOUND:
            self.trace(actions, "warning", f"provider.{att.provider_id}",
                       f"model {att.model_id} not found at provider", model_id=att.model_id)
        rec = AttemptRecord(att.attempt_id, att.model_id, att.provider_id, c.outcome, ev.status,
                            ev.latency_ms, c.message, c.code, ra)
        if req is None:
            self.log_probe(actions, att, rec, usage, cost)
            return
        req.attempts.append(rec)
        req.current_attempt = None
        if req.done:
            return
        if c.outcome is OutcomeClass.STREAM_INTERRUPTED or att.committed:
            self.fail(actions, req, "stream_interrupted",
                      f"stream from {att.model_id} interrupted after commit: {c.message}")
            return
        if c.outcome is OutcomeClass.CONTENT_FILTER:
            self.fail(actions, req, "content_filter", f"content filtered by {att.model_id}")
            return
        if c.outcome is OutcomeClass.AUTH:
            for mid in req.members:
                if self.models[mid].provider_id == att.provider_id:
                    req.exhausted.add(mid)
        if c.outcome is OutcomeClass.CONTEXT_LENGTH_EXCEEDED:
            cw = self.config.models[att.model_id].context_window
            if cw is not None:
                prev = req.max_context_exceeded
                req.max_context_exceeded = cw if prev is None else max(prev, cw)
        mid = att.model_id
        if self.may_retry(req, mid, c.outcome, ev, ra, prov_cfg, pool):
            return
        req.exhausted.add(mid)
        if req.single_model is not None:
            self.fail_exhausted(actions, req)
            return
        self.advance_preferring(actions, req, att.provider_id if pool.retry.scope
                                == "same_provider" else None)

    def advance_preferring(
        self, actions: list[Action], req: RequestState, provider_id: str | None
    ) -> None:
        """R-39 scope same_provider: prefer an untried model of the same provider."""
        if provider_id is not None and req.attempts and req.attempts[-1].outcome in (
            OutcomeClass.RATE_LIMITED, OutcomeClass.SERVER_ERROR, OutcomeClass.CONNECTION_ERROR,
        ):
            for mid in self.candidates(req):
                if self.models[mid].provider_id == provider_id:
                    req.selections += 1
                    if self.preflight(actions, req, mid):
                        self.send(actions, req, mid)
                        return
                    break
        self.advance(actions, req)

    def may_retry(
        self,
        req: RequestState,
        mid: str,
        cls: OutcomeClass,
        ev: AttemptFailed,
        ra: float | None,
        prov_cfg: object,
        pool: PoolConfig,
    ) -> bool:
        """Schedule a same-model retry if R-34/R-36/R-37 allow it."""
        from meshcore.config.schema import ProviderConfig

        assert isinstance(prov_cfg, ProviderConfig)
        if pool.retry.scope != "same_model":
            return False
        if not same_model_retry(cls, ev.status, ev.kind, pool, prov_cfg):
            return False
        if cls is OutcomeClass.RATE_LIMITED and ra is not None and ra > pool.retry.max_delay_s:
            return False
        done = req.per_model_attempts.get(mid, 0)
        if done >= max_attempts_on_model(pool, prov_cfg):
            return False
        if not self.eligible(self.models[mid]):
            return False
        wait = backoff_wait(pool, done, ra if pool.retry.honor_retry_after or
                            pool.retry.backoff == "retry_after" else None,
                            self.seed, req.seq, mid)
        due = self.now.mono + wait
        if due >= req.deadline:
            return False
        req.retry_due = due
        req.retry_model = mid
        self.timers.push(due, "retry", req.request_id)
        return True

    def retry_timer(self, actions: list[Action], request_id: str, due: float) -> None:
        req = self.requests.get(request_id)
        if req is None or req.done or req.retry_due is None or req.retry_due > due + 1e-12:
            return
        mid = req.retry_model
        req.retry_due = None
        req.retry_model = None
        if mid is not None and self.eligible(self.models[mid]) and self.preflight(
            actions, req, mid
        ):
            self.send(actions, req, mid)
            return
        if req.done:
            return
        if mid is not None:
            req.exhausted.add(mid)
        self.advance(actions, req)

    def wake_timer(self, actions: list[Action], request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.done or not req.waiting_recovery:
            return
        req.waiting_recovery = False
        self.advance(actions, req)

    def deadline_timer(self, actions: list[Action], request_id: str) -> None:
        req = self.requests.get(request_id)
        if req is None or req.done:
            return
        aid = req.current_attempt
        if aid is not None and aid in self.attempts:
            att = self.attempts.pop(aid)
            self.finished_attempts.add(aid)
            actions.append(CancelAttempt(aid, "deadline"))
            self.settle(att, None)
            m = self.models[att.model_id]
            m.trial_in_flight = False
            self.providers[att.provider_id].trial_in_flight = False
            if att.committed:
                self.record_failure(actions, att, OutcomeClass.STREAM_INTERRUPTED, True, None,
                                    None, req.pool)
                req.attempts.append(AttemptRecord(
                    aid, att.model_id, att.provider_id, OutcomeClass.STREAM_INTERRUPTED, None,
                    (self.now.mono - att.started) * 1000.0, "deadline exceeded after commit"))
                self.fail(actions, req, "stream_interrupted",
                          f"deadline exceeded while streaming from {att.model_id}")
                return
        self.fail(actions, req, "deadline_exceeded",
                  f"deadline of pool {req.pool.name!r} exceeded after {len(req.attempts)} attempt(s)")

    def on_cancel(self, actions: list[Action], ev: RequestCancelled) -> None:
        req = self.requests.get(ev.request_id)
        if req is None or req.done:
            return
        aid = req.current_attempt
        if aid is not None and aid in self.attempts:
            att = self.attempts.pop(aid)
            self.finished_attempts.add(aid)
            actions.append(CancelAttempt(aid, "cancelled"))
            self.settle(att, settle_usage(ev.usage, ev.output_chars, req.features.prompt_tokens))
            self.models[att.model_id].trial_in_flight = False
            self.providers[att.provider_id].trial_in_flight = False
        self.fail(actions, req, "cancelled", "request cancelled by the caller")

    # -- endings --------------------------------------------------------------------------
    def fail_exhausted(self, actions: list[Action], req: RequestState) -> None:
        n = len(req.attempts)
        last = req.attempts[-1] if req.attempts else None
        faults = bool(req.attempts) and all(a.outcome in REQUEST_FAULTS for a in req.attempts)
        self.fail(actions, req, "exhausted",
                  f"all providers exhausted for pool {req.pool.name!r} after {n} attempt(s)"
                  + (f"; last: {last.model_id} {last.outcome.value}" if last else ""),
                  request_fault=faults)

    def fail(self, actions: list[Action], req: RequestState, reason: str, message: str,
             **details: object) -> None:
        if req.done:
            return
        req.done = True
        failure = Failure(reason, message, req.pool.name, tuple(req.attempts), dict(details))
        actions.append(Fail(req.request_id, failure))
        self.trace(actions, "error", f"pool.{req.pool.name}", f"request failed: {message}",
                   request_id=req.request_id, reason=reason)
        last = req.attempts[-1] if req.attempts else None
        self.log_request(actions, req, reason, last, None, 0.0, None)
        self.finish(req)

    def finish(self, req: RequestState) -> None:
        self.requests.pop(req.request_id, None)

    def log_request(self, actions: list[Action], req: RequestState, outcome: str,
                    rec: AttemptRecord | None, usage: Usage | None, cost: float,
                    ttft: float | None) -> None:
        mid = rec.model_id if rec else None
        cfg = self.config.models.get(mid) if mid else None
        actions.append(Emit(RequestLogEntry(
            timestamp=iso_utc(self.now.wall), request_id=req.request_id, pool=req.pool.name,
            capability=req.pool.capability,
            delivery_mode="streaming" if req.features.stream else "synchronous",
            model_id=mid, provider_id=rec.provider_id if rec else None,
            status_code=rec.status_code if rec else None, outcome=outcome,
            attempts=len(req.attempts), latency_ms=(self.now.mono - req.started_mono) * 1000.0,
            ttft_ms=ttft, tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0, cost=cost,
            unpriced=cfg is not None and cfg.pricing is None,
            error=None if outcome == "success" else {
                "class": rec.outcome.value if rec else outcome,
                "message": rec.message if rec else ""},
        )))

    def log_probe(self, actions: list[Action], att: AttemptState, rec: AttemptRecord,
                  usage: Usage | None, cost: float) -> None:
        actions.append(Emit(RequestLogEntry(
            timestamp=iso_utc(self.now.wall), request_id=att.attempt_id, pool=att.pool or None,
            capability=None, delivery_mode="synchronous", model_id=att.model_id,
            provider_id=att.provider_id, status_code=rec.status_code, outcome=rec.outcome.value,
            attempts=1, latency_ms=rec.elapsed_ms,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0, cost=cost, probe=True,
        )))

