"""Custom Deactivation and Recovery of a pool's custom strategy (SPEC R-43, R-54).

Theory of operation: a custom strategy (a `module:Class`, an entry-point ID
or a pool's `strategy_instance`, see `custom_strategy.py`) must implement
Selection and may also implement Deactivation (`should_deactivate`,
`get_reason`) and Recovery (`should_recover`, `get_recovery_schedule`).
When the strategy object of a pool has both methods of an interface, that
interface replaces the default:

* Deactivation: after every attempt outcome on an `active` model the
  router builds a fresh `ModelSnapshot` and asks `should_deactivate`; on
  True, `get_reason` names the `DeactivationReason` (R-8). An unknown or
  missing reason becomes `error_threshold`. The built-in `retry_limit` and
  error-rate checks (R-44) are then skipped; the action-table rules of
  R-34 (quota exhaustion, an over-long Retry-After, a failed trial) still
  apply.
* Recovery: when a model enters standby (for any reason but `manual`) the
  deadline comes from `get_recovery_schedule` (wall epoch seconds; None =
  only a manual command or a probe can bring the model back). When that
  deadline passes, `should_recover` is asked; False asks for a new
  schedule (at least one second later, so a policy that keeps refusing
  cannot spin the timer loop).

The user's code runs inside the pure core but is isolated: an exception or
a malformed answer never breaks routing. A failing `should_deactivate`
counts as False, a failing `get_recovery_schedule` keeps the built-in
deadline, a failing `should_recover` counts as True. Nothing here does I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from meshcore.config.schema import PoolConfig
from meshcore.router.custom_strategy import CustomSelection, strategy_key, strategy_of
from meshcore.router.health import Reason
from meshcore.router.policy import ModelSnapshot
from meshcore.router.state import RECENT_WINDOW_S, ModelState

if TYPE_CHECKING:
    from meshcore.router.healthops import HealthOps

__all__ = [
    "MIN_RESCHEDULE_S",
    "ask_deactivation",
    "ask_recover",
    "ask_schedule",
    "deactivation_policy",
    "model_snapshot",
    "recovery_policy",
]

MIN_RESCHEDULE_S = 1.0


def _custom_impl(router: object, pool: PoolConfig) -> Any | None:
    """The user object behind `pool`'s custom strategy, or None (built-in)."""
    custom = getattr(router, "custom_strategies", None)
    if not custom:
        return None
    key = strategy_key(pool)
    if key not in custom and not (pool.has_strategy_instance and pool.strategy in custom):
        return None
    strat = strategy_of(router, pool)
    return strat.impl if isinstance(strat, CustomSelection) else None


def _has(impl: Any, *names: str) -> bool:
    return all(callable(getattr(impl, n, None)) for n in names)


def deactivation_policy(router: object, pool: PoolConfig) -> Any | None:
    """The pool's custom Deactivation (R-54), or None for the default."""
    impl = _custom_impl(router, pool)
    return impl if impl is not None and _has(impl, "should_deactivate", "get_reason") else None


def recovery_policy(router: object, pool: PoolConfig) -> Any | None:
    """The pool's custom Recovery (R-54), or None for the default."""
    impl = _custom_impl(router, pool)
    return impl if impl is not None and _has(
        impl, "should_recover", "get_recovery_schedule") else None


def model_snapshot(r: HealthOps, m: ModelState, pool: PoolConfig) -> ModelSnapshot:
    """A fresh read-only snapshot of `m` (R-43) for the policy calls."""
    r.counters(m)
    cfg = r.config.models.get(m.model_id)
    cutoff = r.now.mono - RECENT_WINDOW_S
    return ModelSnapshot(
        model_id=m.model_id, provider_id=m.provider_id, status=m.status.value,
        reasons=tuple(x.value for x in m.reasons), failure_count=m.failure_count,
        error_rate=m.error_rate(), standby_until=r.recovery_wall(m),
        requests_period=m.requests, tokens_period=m.tokens, spend_period=m.spend,
        latency_mean_ms=m.latency_mean(),
        pricing=None if cfg is None else cfg.pricing,
        context_window=None if cfg is None else cfg.context_window,
        pool_index=r.member_index.get(pool.name, {}).get(m.model_id, 0),
        rate_limits=m.rate_limits,
        recent_requests_60s=sum(1 for t in m.recent if t >= cutoff),
        last_request_mono=m.last_request,
    )


def ask_deactivation(impl: Any, snap: ModelSnapshot) -> Reason | None:
    """None when the model stays active, else the (validated) reason."""
    try:
        if not impl.should_deactivate(snap):
            return None
    except Exception:  # user code: never break routing
        return None
    try:
        raw = impl.get_reason(snap)
        return Reason(getattr(raw, "value", raw))
    except Exception:  # unknown, None or raising: the default reason
        return Reason.ERROR_THRESHOLD


def ask_schedule(impl: Any, snap: ModelSnapshot) -> tuple[bool, float | None]:
    """(True, wall or None) from `get_recovery_schedule`; (False, None) when
    it failed or answered something that is not a time (keep the default)."""
    try:
        raw = impl.get_recovery_schedule(snap)
    except Exception:
        return False, None
    if raw is None:
        return True, None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return False, None
    return True, float(raw)


def ask_recover(impl: Any, snap: ModelSnapshot) -> bool:
    """`should_recover`; True when it fails (the deadline already passed)."""
    try:
        return bool(impl.should_recover(snap))
    except Exception:
        return True
