"""The request lifecycle (SPEC R-27 .. R-42, R-56, R-59 .. R-62).

Theory of operation: `submit()` resolves `model=` (R-28), fixes the
deadline (a timer in one of the timer queue's deadline lanes, dropped
again when the request ends, see `timers.py`) and calls `advance()`.
Per-pool facts that only depend on the configuration (fast path or not, a
custom Deactivation, window lengths, whether request/token limits exist)
come from the pool's `PoolPlan` (base.py), not from the config on every
request. `advance()` is the one place that picks the next attempt: it
filters the pool's members (not exhausted in this request, eligible by
state, admissible for the request), asks the pool's strategy to choose
(built-ins first try the exact shortcuts of `selection.fast_select` and
`lazyselect.py`, which look at only the members their rule needs), runs
the budget pre-flight (when any budget is configured) and emits
`SendAttempt`; with no candidate it applies `on_all_standby` (before the
first attempt) or ends the request (after). Outcomes come back through
`on_success()` and `on_failure()`, which update health (healthops) and
then either deliver, schedule a same-model retry on a timer, rotate via
`advance()`, or fail.
Every request ends in exactly one `Deliver` or `Fail`.
"""

from __future__ import annotations

import hashlib

from meshcore._mypyc import mypyc_attr
from meshcore.actions import (
    Action,
    AttemptRecord,
    CancelAttempt,
    Commit,
    Deliver,
    Fail,
    Failure,
    SendAttempt,
)
from meshcore.config.schema import PoolConfig
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    RequestCancelled,
    RequestSubmitted,
)
from meshcore.router.base import PoolPlan
from meshcore.router.budget import estimate_cost, settle_usage
from meshcore.router.calendar import iso_utc
from meshcore.router.custom_policy import deactivation_policy
from meshcore.router.health import ModelStatus, ProviderStatus, Reason
from meshcore.router.healthops import EPS
from meshcore.router.lazyselect import LazySelectOps
from meshcore.router.policy import (
    NoSelection,
    SelectionRequest,
    SessionUnavailable,
    StrategyState,
)
from meshcore.router.retry import (
    backoff_wait,
    bounded_retry_after,
    is_counted,
    max_attempts_on_model,
    same_model_retry,
)
from meshcore.router.selection import FAST_STRATEGIES
from meshcore.router.state import RECENT_WINDOW_S, AttemptState, ModelState, RequestState
from meshcore.types import OutcomeClass, Purpose, Usage
from meshcore.wire.classify import classify


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class RequestOps(LazySelectOps):
    """Request lifecycle; see module docstring."""

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
        prefix = self.id_prefix
        if prefix is None:  # 12 hex digits from the seed, then the sequence number
            prefix = self.id_prefix = hashlib.blake2b(
                f"response-id:{self.seed}".encode(), digest_size=6).hexdigest()
        now = self.now
        timeout = max(0.0, timeout)
        deadline = now.mono + timeout
        req = RequestState(  # positional: the field order of state.RequestState
            ev.request_id, self.request_seq, pool, members, ev.features, deadline,
            ev.session_id or ev.features.user, now.mono, now.wall,
            f"chatcmpl-{prefix}{self.request_seq:012x}",
            cap_filter, single,
        )
        plan = self.pool_plan(pool)
        req.custom_policy = plan.custom_deactivation is not None
        self.requests[ev.request_id] = req
        self.timers.push_deadline(deadline, ev.request_id, timeout)
        self.advance(actions, req, plan)

    def new_plan(self, pool: PoolConfig) -> PoolPlan:
        return PoolPlan(
            pool,
            pool.strategy in FAST_STRATEGIES and not pool.has_strategy_instance,
            deactivation_policy(self, pool),
        )

    # -- the decision step ---------------------------------------------------------
    def advance(
        self, actions: list[Action], req: RequestState, plan: PoolPlan | None = None
    ) -> None:
        """Choose and send the next attempt, or end the request."""
        if plan is None:
            plan = self.pool_plan(req.pool)
        fast = plan.fast and req.single_model is None
        while not req.done:
            if self.now.mono >= req.deadline:
                self.fail(actions, req, "deadline_exceeded",
                          f"deadline of pool {req.pool.name!r} exceeded")
                return
            if req.custom_policy:
                self.custom_sweep(actions, req.members, req.pool)
            if fast:
                chosen = self.fast_select(actions, req)
                if chosen is None:
                    self.no_candidate(actions, req)
                    return
            else:
                chosen = None if req.single_model is not None else self.lazy_select(
                    actions, req)
                if chosen is None:
                    cands = self.candidates(req)
                    if not cands:
                        self.no_candidate(actions, req)
                        return
                    chosen = self.select(actions, req, cands)
                    if chosen is None:
                        return
            if self.budgets_configured and not self.preflight(actions, req, chosen):
                continue
            self.send(actions, req, chosen)
            return

    def select(self, actions: list[Action], req: RequestState, cands: list[str]) -> str | None:
        if req.single_model is not None:
            req.selections += 1
            return cands[0]
        index = {mid: i for i, mid in enumerate(req.members)}
        snaps = [self.snapshot_of(mid, index[mid]) for mid in cands]
        strat = self.pool_strategy_of(req)
        sreq = SelectionRequest(
            pool=req.pool, features=req.features, session_id=req.session_id,
            now_mono=self.now.mono, now_wall=self.now.wall, seed=self.seed,
            request_seq=req.seq, attempt_index=req.selections, dry_run=False,
        )
        state = self.strategy_state.setdefault(req.pool.name, StrategyState())
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
        self.selected(actions, req, result.model_id, result.reason)
        return result.model_id

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
            # just after the model's own recovery timer, which fires first
            wake = max(self.wall_to_mono(earliest), self.now.mono) + 2 * EPS
            self.timers.push(wake, "wake", req.request_id)
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

    # -- sending ----------------------------------------------------------------------
    def send(self, actions: list[Action], req: RequestState, mid: str) -> None:
        m = self.counters(self.models[mid])
        pid = m.provider_id
        prov = self.providers[pid]
        now = self.now.mono
        number = len(req.attempts) + 1
        aid = f"{req.request_id}#{number}"
        if self.budgets_configured and (limits := self.budget_limits(req, mid)):
            est = estimate_cost(self.config.models[mid], req.features.prompt_tokens,
                                req.features.max_tokens)
            self.ledger.reserve(limits, est)
            att = AttemptState(aid, req.request_id, mid, pid, req.pool.name, now, number,
                               est, tuple(limits))
        else:
            att = AttemptState(aid, req.request_id, mid, pid, req.pool.name, now, number)
        if m.status is not ModelStatus.ACTIVE:
            m.trial_in_flight = True
            att.is_trial = True
        if prov.status is ProviderStatus.HALF_OPEN:
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
        recent = m.recent  # send times within 60 s: every reader prunes to that window,
        cutoff = now - RECENT_WINDOW_S  # so dropping older ones here is exact
        while recent and recent[0] < cutoff:  # and keeps the deque bounded on the
            recent.popleft()  # paths that never read it (stick, round-robin, ...)
        recent.append(now)
        m.last_request = now
        self.last_selected[req.pool.name] = mid
        remaining = max(0.0, req.deadline - now)
        first = (
            min(req.pool.stream_first_chunk_timeout_s, remaining) if req.features.stream else None
        )
        actions.append(SendAttempt(
            aid, req.request_id, mid, pid, self.config.models[mid].name, number,
            min(self.config.providers[pid].timeout_s, remaining), first, Purpose.USER,
            prov.key_index, req.response_id, req.deadline,
        ))

    # -- outcomes -------------------------------------------------------------------------
    def take_attempt(self, attempt_id: str) -> AttemptState | None:
        att = self.attempts.pop(attempt_id, None)
        if att is None:
            if attempt_id in self.finished_attempts:
                return None
            raise KeyError(f"unknown attempt id {attempt_id!r}")
        self.remember_finished(attempt_id)
        return att

    def settle(self, att: AttemptState, usage: Usage | None) -> tuple[Usage | None, float]:
        """Release the reservation and book the actual cost (R-58, R-60)."""
        if att.limits:
            self.ledger.settle(list(att.limits), att.reservation, 0.0)
        if usage is None:
            return None, 0.0
        cost = self.book_usage(att.model_id, usage)
        for lim in att.limits:
            if lim.scope == "pool":
                self.ledger.add_spend(lim.scope, lim.key, lim.period, cost)
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
        mid = att.model_id
        m = self.models[mid]
        req = self.requests.get(att.request_id) if att.request_id else None
        pool = req.pool if req is not None else self.gov_pool(mid)
        plan = self.pool_plan(pool)
        prompt_est = req.features.prompt_tokens if req else 0
        usage, cost = self.settle(att, settle_usage(ev.usage, ev.output_chars, prompt_est))
        if ev.rate_limits is not None:
            m.rate_limits = ev.rate_limits
        lats = m.latencies
        lats.append(ev.latency_ms)
        self.latency_known[mid] = None
        window = plan.latency_window
        while len(lats) > window:
            lats.popleft()
        if ev.ttft_ms is not None:
            m.ttfts.append(ev.ttft_ms)
            while len(m.ttfts) > window:
                m.ttfts.popleft()
        self.record_success(actions, att, pool, plan)
        rec = AttemptRecord(att.attempt_id, mid, att.provider_id, OutcomeClass.SUCCESS,
                            ev.status, ev.latency_ms)
        if req is None:
            self.log_probe(actions, att, rec, usage, cost)
            return
        if usage is None:  # else settle() -> book_usage() brought the counters up to date
            self.counters(m)
        m.requests += 1
        m.total_requests += 1
        req.attempts.append(rec)
        if req.features.stream and not req.committed:
            actions.append(Commit(req.request_id, att.attempt_id, mid, req.response_id))
        req.done = True
        actions.append(Deliver(req.request_id, att.attempt_id, mid, att.provider_id,
                               req.response_id, tuple(req.attempts), usage, cost))
        self.log_request(actions, req, "success", rec, usage, cost, ev.ttft_ms or att.ttft_ms)
        self.finish(req)
        if plan.quota_limits:
            self.check_limits(actions, m, pool)

    def check_limits(self, actions: list[Action], m: ModelState, pool: PoolConfig) -> None:
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

    def deadline_timer(self, actions: list[Action], request_id: str, due: float) -> None:
        req = self.requests.get(request_id)
        if req is None or req.done or req.deadline != due:
            return  # ended, or a later request that reuses the ID (its own timer)
        aid = req.current_attempt
        if aid is not None and aid in self.attempts:
            att = self.attempts.pop(aid)
            self.remember_finished(aid)
            actions.append(CancelAttempt(aid, "deadline"))
            self.settle(att, None)
            self.end_trial(att)
            if att.committed:
                self.record_failure(actions, att, OutcomeClass.STREAM_INTERRUPTED, True, None,
                                    None, req.pool)
                req.attempts.append(AttemptRecord(
                    aid, att.model_id, att.provider_id, OutcomeClass.STREAM_INTERRUPTED, None,
                    (self.now.mono - att.started) * 1000.0, "deadline exceeded after commit"))
                self.fail(actions, req, "stream_interrupted",
                          f"deadline exceeded while streaming from {att.model_id}")
                return
            # the history names every attempt, including the one the
            # deadline cut; it does not count against the model (the caller's
            # deadline, not the provider, ended it)
            req.attempts.append(AttemptRecord(
                aid, att.model_id, att.provider_id, OutcomeClass.TIMEOUT, None,
                (self.now.mono - att.started) * 1000.0, "request deadline exceeded",
                "deadline_exceeded"))
        self.fail(actions, req, "deadline_exceeded",
                  f"deadline of pool {req.pool.name!r} exceeded after {len(req.attempts)} attempt(s)")

    def on_cancel(self, actions: list[Action], ev: RequestCancelled) -> None:
        req = self.requests.get(ev.request_id)
        if req is None or req.done:
            return
        aid = req.current_attempt
        if aid is not None and aid in self.attempts:
            att = self.attempts.pop(aid)
            self.remember_finished(aid)
            actions.append(CancelAttempt(aid, "cancelled"))
            self.settle(att, settle_usage(ev.usage, ev.output_chars, req.features.prompt_tokens))
            self.end_trial(att)
        self.fail(actions, req, "cancelled", "request cancelled by the caller")

    def end_trial(self, att: AttemptState) -> None:
        """An attempt ended without an outcome (deadline, cancel): if it was
        its model's or provider's trial, the trial is over (R-47); any other
        attempt leaves a running trial alone."""
        if att.is_trial:
            self.models[att.model_id].trial_in_flight = False
        if att.provider_trial:
            self.providers[att.provider_id].trial_in_flight = False

    def drop_removed_models(self, actions: list[Action]) -> None:
        """After a reload removed models or providers (R-118a): cancel their
        attempts in flight (releasing the reservation), take them out of the
        requests in flight, and let those requests rotate on. A stream already
        committed to the removed model cannot rotate (R-65, R-68): it ends as
        interrupted, with the history naming the cut attempt."""
        for req in list(self.requests.values()):
            if any(mid not in self.models for mid in req.members):
                req.members = tuple(mid for mid in req.members if mid in self.models)
            if req.retry_model is not None and req.retry_model not in self.models:
                req.retry_model = None
        for aid, att in list(self.attempts.items()):
            if att.model_id in self.models and att.provider_id in self.providers:
                continue
            del self.attempts[aid]
            self.remember_finished(aid)
            actions.append(CancelAttempt(aid, "model removed by a configuration reload"))
            self.ledger.settle(list(att.limits), att.reservation, 0.0)
            owner = self.requests.get(att.request_id) if att.request_id else None
            if owner is not None and not owner.done and owner.current_attempt == aid:
                owner.current_attempt = None
                owner.exhausted.add(att.model_id)
                if att.committed:
                    owner.attempts.append(AttemptRecord(
                        aid, att.model_id, att.provider_id, OutcomeClass.STREAM_INTERRUPTED,
                        None, (self.now.mono - att.started) * 1000.0,
                        "model removed by a configuration reload after commit"))
                    self.fail(actions, owner, "stream_interrupted",
                              f"stream from {att.model_id} interrupted: the model was removed "
                              "by a configuration reload")
                    continue
                self.advance(actions, owner)
