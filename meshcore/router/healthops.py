"""Model and provider health: deactivation, recovery, probes (R-44..R-52).

Theory of operation: every status change goes through the tables of
`health.py`. `deactivate()` adds a standby reason with the wall time at
which it may clear (or None when latched) and, for `error_threshold`, the
grown cooldown of R-48. A timer per model fires when the earliest reason
may clear; `reevaluate()` then drops the reasons that no longer hold and
moves the model to `half_open` (cooldown) or `active` (everything else),
emitting exactly one event per change. Outcomes of attempts arrive through
`record_success()` / `record_failure()`; only a probe's own outcome ends
the probe in flight of its model (and of its provider, for a provider
probe), so at most one probe per model is out at a time (R-50). Provider deactivation (auth,
outage, manual) makes every model of the provider ineligible in every pool;
recovery is by probe (background probes running) or by a half-open trial
after `max_cooldown`. A pool's custom strategy may replace the deactivation
check and the recovery schedule (R-54, `custom_policy.py`); whether a pool
has one is read from its `PoolPlan` (base.py) on the success path.
"""

from __future__ import annotations

from meshcore._mypyc import mypyc_attr
from meshcore.actions import (
    Action,
    DeactivateModel,
    DeactivateProvider,
    ReactivateModel,
    ReactivateProvider,
    SendAttempt,
)
from meshcore.config.schema import PoolConfig
from meshcore.router.base import PoolPlan, RouterBase
from meshcore.router.budget import cost_of
from meshcore.router.calendar import iso_utc, period_key
from meshcore.router.cron import parse_cron
from meshcore.router.custom_policy import (
    MIN_RESCHEDULE_S,
    ask_deactivation,
    ask_recover,
    ask_schedule,
    deactivation_policy,
    model_snapshot,
    recovery_policy,
)
from meshcore.router.health import (
    REASON_TRIGGERS,
    ModelInput,
    ModelStatus,
    ProviderInput,
    ProviderStatus,
    Reason,
    next_model_status,
    next_provider_status,
    top_reason,
)
from meshcore.router.state import AttemptState, ModelState
from meshcore.router.strategies import move_pointer_on_deactivation
from meshcore.types import OutcomeClass, Purpose, Usage

# Tolerance for deadline comparisons: wall-clock floats near 1.8e9 carry about
# 2.4e-7 s of rounding, so mono->wall->mono round trips are not exact.
EPS = 1e-3


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class HealthOps(RouterBase):
    """Health transitions; see module docstring."""

    # -- usage -------------------------------------------------------------
    def book_usage(self, model_id: str, usage: Usage) -> float:
        """Charge one attempt's or probe's usage (R-57, R-58, R-64): the
        model's period and total counters and its provider's budgets; returns
        the cost."""
        cost = cost_of(self.config.models[model_id].pricing, usage)
        m = self.counters(self.models[model_id])
        total = usage.total_tokens
        m.tokens += total
        m.spend += cost
        m.total_tokens += total
        m.total_prompt += usage.prompt_tokens
        m.total_completion += usage.completion_tokens
        m.total_cost += cost
        if self.budgets_configured:  # else no provider has a budget limit
            prov = self.provider_cfg(m.provider_id)
            if prov.budget_daily_limit is not None:
                self.ledger.add_spend("provider", m.provider_id,
                                      period_key("daily", self.now.wall), cost)
            if prov.budget_monthly_limit is not None:
                self.ledger.add_spend("provider", m.provider_id,
                                      period_key("monthly", self.now.wall), cost)
        self.dirty = True
        return cost

    # -- eligibility -----------------------------------------------------
    def provider_blocks(self, provider_id: str) -> bool:
        p = self.providers.get(provider_id)
        if p is None:
            return True
        if p.status is ProviderStatus.DEACTIVATED:
            return True
        return p.status is ProviderStatus.HALF_OPEN and p.trial_in_flight

    def eligible(self, m: ModelState) -> bool:
        """The state filter of R-29 step 4 (`provider_blocks()` inlined: this
        runs for every member a selection looks at)."""
        p = self.providers.get(m.provider_id)
        if p is None:
            return False
        pst = p.status
        if pst is not ProviderStatus.ACTIVE and (
            pst is ProviderStatus.DEACTIVATED
            or (pst is ProviderStatus.HALF_OPEN and p.trial_in_flight)
        ):
            return False
        st = m.status
        if st is ModelStatus.ACTIVE:
            return True
        if st is ModelStatus.HALF_OPEN:
            return not m.trial_in_flight and not self.probes_running and not m.probe_in_flight
        return False

    def recovery_wall(self, m: ModelState) -> float | None:
        """When every standby reason of `m` will have cleared; None if latched."""
        if m.status is not ModelStatus.STANDBY:
            return None
        if any(v is None for v in m.reasons.values()):
            return None
        times = [v for v in m.reasons.values() if v is not None]
        return max(times) if times else None

    # -- deactivation ------------------------------------------------------
    def cooldown_deadline(self, m: ModelState, pool: PoolConfig, retry_after: float) -> float:
        """R-48: now + max(C, R), never shortening an existing deadline."""
        rec = pool.recovery
        if m.active_since is not None and self.now.mono - m.active_since >= rec.max_cooldown_s:
            m.ejections = 0
        m.ejections += 1
        c = min(rec.max_cooldown_s, rec.cooldown_s * rec.backoff_multiplier ** (m.ejections - 1))
        deadline = self.now.mono + max(c, retry_after)
        if m.cooldown_until is not None and m.cooldown_until > deadline:
            deadline = m.cooldown_until
        return deadline

    def deactivate(
        self,
        actions: list[Action],
        m: ModelState,
        reason: Reason,
        clear_wall: float | None,
        pool: PoolConfig,
        retry_after: float = 0.0,
        trial_failed: bool = False,
    ) -> None:
        before = top_reason(m.reasons)
        if reason is Reason.ERROR_THRESHOLD:
            m.cooldown_until = self.cooldown_deadline(m, pool, retry_after)
            clear_wall = self.mono_to_wall(m.cooldown_until)
        elif reason in m.reasons:
            old = m.reasons[reason]
            if old is None or (clear_wall is not None and old > clear_wall):
                clear_wall = old
        m.reasons[reason] = clear_wall
        was = m.status
        m.status = next_model_status(
            was, ModelInput.TRIAL_FAILED if trial_failed else ModelInput.DEACTIVATE
        )
        m.trial_in_flight = False
        m.active_since = None
        self.dirty = True
        self.custom_schedule(m, reason, pool)
        top = top_reason(m.reasons)
        assert top is not None
        until = self.recovery_wall(m)
        if was is not ModelStatus.STANDBY or top is not before:
            if was is not ModelStatus.STANDBY:
                m.standby_since_wall = self.now.wall
            self.event(
                actions, "model_deactivated", model_id=m.model_id, provider_id=m.provider_id,
                pool_id=pool.name or None, reason=top.value,
                standby_until=iso_utc(until) if until is not None else None,
            )
            actions.append(DeactivateModel(m.model_id, top.value, until))
            self.trace(
                actions, "error", f"pool.{pool.name}" if pool.name else "router",
                f"model {m.model_id} deactivated: {top.value}",
                model_id=m.model_id, reason=top.value,
            )
        if was is ModelStatus.ACTIVE:
            self.move_pointers(actions, m.model_id)
        self.schedule_model(m)

    def move_pointers(self, actions: list[Action], model_id: str) -> None:
        """Stick-until-failure pointers leave a model that left `active`."""
        for name in self.pools_of.get(model_id, ()):
            pool = self.config.pools[name]
            if pool.strategy != "modelmesh.stick-until-failure.v1":
                continue
            st = self.strategy_state[name]
            if st.pointer != model_id:
                continue
            members = self.pool_members[name]
            active = [
                mid for mid in members
                if self.models[mid].status is ModelStatus.ACTIVE
                and not self.provider_blocks(self.models[mid].provider_id)
            ]
            new = move_pointer_on_deactivation(st, members, active)
            if new is not None and new != model_id:
                self.event(actions, "model_rotated", model_id=new, pool_id=name,
                           from_model=model_id, to_model=new, reason="deactivated")

    def schedule_model(self, m: ModelState) -> None:
        """Wake when the earliest standby reason may clear (never in the past,
        so a reason that does not clear cannot spin the timer loop)."""
        times = [
            self.wall_to_mono(v) for r, v in m.reasons.items()
            if v is not None and r is not Reason.ERROR_THRESHOLD
        ]
        if Reason.ERROR_THRESHOLD in m.reasons and m.cooldown_until is not None:
            times.append(m.cooldown_until)
        if times:
            self.timers.push(max(min(times), self.now.mono + EPS), "model", m.model_id)

    # -- recovery ------------------------------------------------------------
    def reevaluate(self, actions: list[Action], m: ModelState) -> None:
        """Drop standby reasons that no longer hold (R-46, R-47)."""
        if m.status is not ModelStatus.STANDBY or not m.reasons:
            return
        before = top_reason(m.reasons)
        cleared: list[Reason] = []
        for reason, clear in list(m.reasons.items()):
            if clear is None:
                continue
            if reason is Reason.ERROR_THRESHOLD:
                if m.cooldown_until is not None and m.cooldown_until <= self.now.mono + EPS:
                    cleared.append(reason)
                continue
            if clear > self.now.wall + EPS:
                continue
            if reason is Reason.MAINTENANCE_WINDOW:
                expr = self.gov_pool(m.model_id).deactivation.maintenance_window
                if expr and parse_cron(expr).matches(self.now.wall):
                    m.reasons[reason] = parse_cron(expr).next_non_match(self.now.wall)
                    continue
            cleared.append(reason)
        if cleared and not self.custom_recover(m, cleared):
            cleared = []
        if not cleared:
            self.schedule_model(m)
            return
        for reason in cleared:
            del m.reasons[reason]
            if reason in (Reason.REQUEST_LIMIT, Reason.TOKEN_LIMIT, Reason.QUOTA_EXHAUSTED):
                m.period_key = ""  # counters restart with the new quota period
                self.counters(m)
        self.dirty = True
        if m.reasons:
            top = top_reason(m.reasons)
            if top is not before and top is not None:
                until = self.recovery_wall(m)
                self.event(actions, "model_deactivated", model_id=m.model_id,
                           provider_id=m.provider_id, reason=top.value,
                           standby_until=iso_utc(until) if until is not None else None)
                actions.append(DeactivateModel(m.model_id, top.value, until))
            self.schedule_model(m)
            return
        if Reason.ERROR_THRESHOLD in cleared:
            self.set_status(actions, m, ModelInput.COOLDOWN_EXPIRED, "cooldown_expired")
            if self.probes_running:
                self.send_probe(actions, m)
        else:
            self.set_status(actions, m, ModelInput.CONDITIONS_CLEARED, REASON_TRIGGERS[cleared[0]])

    def set_status(
        self, actions: list[Action], m: ModelState, inp: ModelInput, trigger: str
    ) -> None:
        """Leave standby or half_open and announce it (model_activated)."""
        was = m.status
        m.status = next_model_status(was, inp)
        if m.status is was:
            return
        if m.status is ModelStatus.ACTIVE:
            m.reasons.clear()
            m.cooldown_until = None
            m.active_since = self.now.mono
            m.standby_since_wall = None
        self.dirty = True
        self.event(actions, "model_activated", model_id=m.model_id, provider_id=m.provider_id,
                   trigger=trigger, status=m.status.value)
        actions.append(ReactivateModel(m.model_id, trigger, m.status.value))
        self.trace(actions, "info", "router", f"model {m.model_id} recovered ({trigger})",
                   model_id=m.model_id, trigger=trigger)

    # -- outcomes ------------------------------------------------------------
    def record_success(
        self, actions: list[Action], att: AttemptState, pool: PoolConfig, plan: PoolPlan
    ) -> None:
        """A successful attempt or probe on `pool` (`plan` is its PoolPlan)."""
        m = self.models[att.model_id]
        m.failure_count = 0
        window = m.window
        window.append(False)
        limit = plan.error_window
        while len(window) > limit:
            window.popleft()
        if att.is_trial:  # only the trial's own answer ends the trial
            m.trial_in_flight = False
        if att.probe:  # only a probe's answer ends the probe in flight
            m.probe_in_flight = False
        if m.status is not ModelStatus.ACTIVE:
            for r in (Reason.ERROR_THRESHOLD, Reason.QUOTA_EXHAUSTED):
                m.reasons.pop(r, None)
            if not m.reasons:
                trigger = (
                    "startup_probe" if att.startup
                    else "probe_success" if att.probe else "cooldown_expired"
                )
                self.set_status(actions, m, ModelInput.TRIAL_SUCCESS, trigger)
        p = self.providers[att.provider_id]
        p.consecutive_outage = 0
        if p.keys_failed:
            p.keys_failed.clear()
        if att.provider_trial:
            p.trial_in_flight = False
            if att.probe:
                p.probe_in_flight = False
        if p.status is not ProviderStatus.ACTIVE:
            self.provider_input(actions, att.provider_id, ProviderInput.TRIAL_SUCCESS,
                                "probe_success")
        if plan.custom_deactivation is not None:
            self.custom_deactivation(actions, m, pool, 0.0)

    def push_window(self, m: ModelState, failed: bool, pool: PoolConfig) -> None:
        m.window.append(failed)
        while len(m.window) > max(1, pool.deactivation.error_rate_window):
            m.window.popleft()

    def record_failure(
        self,
        actions: list[Action],
        att: AttemptState,
        cls: OutcomeClass,
        counted: bool,
        status: int | None,
        retry_after: float | None,
        pool: PoolConfig,
    ) -> None:
        m = self.models[att.model_id]
        was_trial = m.status is ModelStatus.HALF_OPEN or att.is_trial or att.probe
        if att.is_trial:  # only the trial's own answer ends the trial
            m.trial_in_flight = False
        if att.probe:  # only a probe's answer ends the probe in flight
            m.probe_in_flight = False
        if counted:
            m.failure_count += 1
            self.push_window(m, True, pool)
            self.dirty = True
            self.trace(actions, "warning", f"pool.{pool.name}" if pool.name else "router",
                       f"attempt on {m.model_id} failed: {cls.value}", model_id=m.model_id,
                       failure_count=m.failure_count, threshold=pool.deactivation.retry_limit)
        ra = retry_after or 0.0
        if cls is OutcomeClass.QUOTA_EXHAUSTED:
            self.deactivate(actions, m, Reason.QUOTA_EXHAUSTED, self.quota_clear_wall(m), pool)
        elif counted and m.status is not ModelStatus.ACTIVE and was_trial:
            self.deactivate(actions, m, Reason.ERROR_THRESHOLD, None, pool, ra,
                            trial_failed=m.status is ModelStatus.HALF_OPEN)
        elif counted and m.status is ModelStatus.ACTIVE:
            d = pool.deactivation
            builtin = deactivation_policy(self, pool) is None  # custom replaces it
            over_count = builtin and m.failure_count >= d.retry_limit
            over_rate = (
                builtin and len(m.window) >= d.error_rate_min_samples
                and m.error_rate() >= d.error_rate_threshold
            )
            long_ra = (
                cls is OutcomeClass.RATE_LIMITED and ra > pool.retry.max_delay_s
            )
            if over_count or over_rate or long_ra:
                self.deactivate(actions, m, Reason.ERROR_THRESHOLD, None, pool, ra)
        elif (
            not counted and cls is OutcomeClass.RATE_LIMITED
            and ra > pool.retry.max_delay_s and m.status is ModelStatus.ACTIVE
        ):
            self.deactivate(actions, m, Reason.ERROR_THRESHOLD, None, pool, ra)
        self.custom_deactivation(actions, m, pool, ra)
        self.provider_outcome(actions, att, cls, status, pool)

    # -- custom Deactivation / Recovery (R-54) ------------------------------------
    def custom_sweep(self, actions: list[Action], members: tuple[str, ...],
                     pool: PoolConfig) -> None:
        """R-43: a custom Deactivation is also evaluated before every selection
        (only pools with a custom policy pay for this scan)."""
        for mid in members:
            m = self.models[mid]
            if m.status is ModelStatus.ACTIVE:
                self.custom_deactivation(actions, m, pool, 0.0)

    def custom_deactivation(
        self, actions: list[Action], m: ModelState, pool: PoolConfig, retry_after: float
    ) -> None:
        """After an attempt outcome: the custom strategy's Deactivation decides."""
        impl = deactivation_policy(self, pool)
        if impl is None or m.status is not ModelStatus.ACTIVE:
            return
        reason = ask_deactivation(impl, model_snapshot(self, m, pool))
        if reason is None:
            return
        clear: float | None = None
        if reason in (Reason.QUOTA_EXHAUSTED, Reason.REQUEST_LIMIT, Reason.TOKEN_LIMIT):
            clear = self.quota_clear_wall(m)
        elif reason is not Reason.MANUAL and reason is not Reason.ERROR_THRESHOLD:
            clear = self.now.wall + pool.recovery.cooldown_s
        self.deactivate(actions, m, reason, clear, pool, retry_after)

    def custom_schedule(self, m: ModelState, reason: Reason, pool: PoolConfig) -> None:
        """On entering standby: the custom Recovery's schedule replaces the
        deadline of `reason` (never for `manual`)."""
        impl = recovery_policy(self, pool)
        if impl is None or reason is Reason.MANUAL:
            return
        ok, wall = ask_schedule(impl, model_snapshot(self, m, pool))
        if ok:
            self.set_deadline(m, reason, wall)

    def set_deadline(self, m: ModelState, reason: Reason, wall: float | None) -> None:
        m.reasons[reason] = wall
        if reason is Reason.ERROR_THRESHOLD:
            m.cooldown_until = None if wall is None else self.wall_to_mono(wall)

    def custom_recover(self, m: ModelState, due: list[Reason]) -> bool:
        """At a deadline: the custom Recovery's `should_recover`; on False each
        due reason gets a new schedule (at least MIN_RESCHEDULE_S later)."""
        pool = self.gov_pool(m.model_id)
        impl = recovery_policy(self, pool)
        if impl is None or Reason.MANUAL in due:
            return True
        snap = model_snapshot(self, m, pool)
        if ask_recover(impl, snap):
            return True
        ok, wall = ask_schedule(impl, snap)
        floor = self.now.wall + MIN_RESCHEDULE_S
        for reason in due:
            if not ok:
                new: float | None = floor
            else:
                new = None if wall is None else max(wall, floor)
            self.set_deadline(m, reason, new)
        self.dirty = True
        return False

    def quota_clear_wall(self, m: ModelState) -> float | None:
        """When a quota/request/token standby ends (R-45, R-47)."""
        from meshcore.router.calendar import next_boundary

        pool = self.gov_pool(m.model_id)
        if not pool.recovery.on_quota_reset:
            return None
        return next_boundary(self.quota_schedule(m.model_id), self.now.wall, self.now.wall)

    # -- providers -------------------------------------------------------------
    def provider_outcome(
        self,
        actions: list[Action],
        att: AttemptState,
        cls: OutcomeClass,
        status: int | None,
        pool: PoolConfig,
    ) -> None:
        p = self.providers[att.provider_id]
        if att.provider_trial:
            p.trial_in_flight = False
            if att.probe:
                p.probe_in_flight = False
        cascade = pool.provider_deactivation
        if cls is OutcomeClass.AUTH:
            keys = self.provider_cfg(att.provider_id).api_keys
            cfg = self.provider_cfg(att.provider_id)
            if cfg.key_rotation and len(keys) > 1:
                p.keys_failed.add(p.key_index)
                p.key_index = (p.key_index + 1) % len(keys)
                if len(p.keys_failed) < len(keys):
                    return
            if "on_auth_failure" in cascade:
                self.deactivate_provider(actions, att.provider_id, "auth_failure", pool)
            return
        if cls is OutcomeClass.RATE_LIMITED:
            cfg = self.provider_cfg(att.provider_id)
            if cfg.key_rotation and len(cfg.api_keys) > 1:
                p.key_index = (p.key_index + 1) % len(cfg.api_keys)
        outage = cls in (OutcomeClass.TIMEOUT, OutcomeClass.CONNECTION_ERROR) or (
            status is not None and 500 <= status < 600
        )
        if outage:
            p.consecutive_outage += 1
            if (
                "on_api_outage" in cascade
                and p.consecutive_outage >= pool.deactivation.retry_limit
            ):
                self.deactivate_provider(actions, att.provider_id, "api_outage", pool)
        elif cls is not OutcomeClass.SUCCESS:
            pass
        if p.status is ProviderStatus.HALF_OPEN and outage:
            self.provider_input(actions, att.provider_id, ProviderInput.TRIAL_FAILED, "")
            self.schedule_provider(att.provider_id)

    def deactivate_provider(
        self, actions: list[Action], provider_id: str, reason: str, pool: PoolConfig | None
    ) -> None:
        p = self.providers[provider_id]
        was = p.status
        p.status = next_provider_status(was, ProviderInput.DEACTIVATE)
        p.reason = reason
        if pool is not None:
            p.recovery_policy = pool.provider_recovery
            p.probe_interval_s = pool.recovery.probe_interval_s
            p.max_cooldown_s = pool.recovery.max_cooldown_s
        if reason == "health_check":
            p.recovery_policy = "on_probe_success"
        p.consecutive_outage = 0
        self.dirty = True
        if was is not ProviderStatus.DEACTIVATED:
            self.event(actions, "provider_deactivated", provider_id=provider_id, reason=reason)
            actions.append(DeactivateProvider(provider_id, reason))
            self.trace(actions, "error", f"provider.{provider_id}",
                       f"provider {provider_id} deactivated: {reason}", reason=reason)
            for mid, ms in self.models.items():
                if ms.provider_id == provider_id:
                    self.move_pointers(actions, mid)
        self.schedule_provider(provider_id)

    def schedule_provider(self, provider_id: str) -> None:
        p = self.providers[provider_id]
        if p.status is not ProviderStatus.DEACTIVATED or p.reason == "manual":
            return
        if p.recovery_policy != "on_probe_success":
            return
        if self.probes_running:
            if p.probe_interval_s > 0:
                self.timers.push(self.now.mono + p.probe_interval_s, "pprobe", provider_id)
        else:
            p.until_wall = self.now.wall + p.max_cooldown_s
            self.timers.push(self.now.mono + p.max_cooldown_s, "provider", provider_id)

    def provider_input(
        self, actions: list[Action], provider_id: str, inp: ProviderInput, trigger: str
    ) -> None:
        p = self.providers[provider_id]
        was = p.status
        p.status = next_provider_status(was, inp)
        if p.status is was:
            return
        self.dirty = True
        if p.status is ProviderStatus.ACTIVE:
            p.reason = None
            p.until_wall = None
            p.keys_failed.clear()
            self.event(actions, "provider_recovered", provider_id=provider_id, trigger=trigger)
            actions.append(ReactivateProvider(provider_id, trigger))
            self.trace(actions, "info", f"provider.{provider_id}",
                       f"provider {provider_id} recovered ({trigger})", trigger=trigger)

    def provider_timer(self, actions: list[Action], provider_id: str, kind: str) -> None:
        p = self.providers.get(provider_id)
        if p is None or p.status is not ProviderStatus.DEACTIVATED or p.reason == "manual":
            return
        if kind == "provider" and not self.probes_running:
            if p.until_wall is not None and p.until_wall <= self.now.wall + EPS:
                self.provider_input(actions, provider_id, ProviderInput.RECOVERY_DUE, "")
        elif kind == "pprobe" and self.probes_running and not p.probe_in_flight:
            for mid in sorted(self.models):
                if self.models[mid].provider_id == provider_id and mid in self.governing:
                    self.send_probe(actions, self.models[mid], provider_probe=True)
                    break
            self.timers.push(self.now.mono + max(p.probe_interval_s, 1.0), "pprobe", provider_id)

    # -- probes -------------------------------------------------------------------
    def send_probe(
        self, actions: list[Action], m: ModelState, provider_probe: bool = False
    ) -> None:
        if m.probe_in_flight:
            return
        self.probe_seq += 1
        aid = f"probe-{self.probe_seq}"
        cfg = self.model_cfg(m.model_id)
        prov = self.provider_cfg(m.provider_id)
        pool = self.gov_pool(m.model_id)
        self.attempts[aid] = AttemptState(
            aid, None, m.model_id, m.provider_id, pool.name, self.now.mono, 1, probe=True,
            provider_trial=provider_probe,
        )
        m.probe_in_flight = True
        if provider_probe:
            self.providers[m.provider_id].probe_in_flight = True
        actions.append(SendAttempt(
            aid, None, m.model_id, m.provider_id, cfg.name, 1, prov.timeout_s,
            purpose=Purpose.PROBE, key_index=self.providers[m.provider_id].key_index,
        ))

    def probe_timer(self, actions: list[Action], model_id: str) -> None:
        """Periodic probe of a quota_exhausted model (R-47 probe_interval)."""
        m = self.models.get(model_id)
        if m is None or Reason.QUOTA_EXHAUSTED not in m.reasons or not self.probes_running:
            return
        interval = self.gov_pool(model_id).recovery.probe_interval_s
        if interval <= 0:
            return
        self.send_probe(actions, m)
        self.timers.push(self.now.mono + interval, "probe", model_id)

    # -- maintenance windows ------------------------------------------------------
    def maintenance_timer(self, actions: list[Action], model_id: str) -> None:
        m = self.models.get(model_id)
        expr = self.gov_pool(model_id).deactivation.maintenance_window
        if m is None or not expr:
            return
        cron = parse_cron(expr)
        if cron.matches(self.now.wall):
            end = cron.next_non_match(self.now.wall)
            self.deactivate(actions, m, Reason.MAINTENANCE_WINDOW, end, self.gov_pool(model_id))
            nxt = cron.next_match(end)
        else:
            nxt = cron.next_match(self.now.wall)
        if nxt is not None:
            self.timers.push(self.wall_to_mono(nxt), "maint", model_id)
