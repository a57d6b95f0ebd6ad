"""Snapshots of the router's durable state (SPEC R-85, R-86).

Theory of operation: `take()` turns the state into a JSON-able dict with
a schema version. Every deadline is written as absolute wall-clock epoch
seconds, converted from the monotonic clock with the latest `now` the
router received (the core reads no clock). `apply()` does the reverse at
the `now` of the `StateRestored` event: time spent while the process was
down counts, so a cooldown that had 40 s left comes back 40 s after
start, and a deadline that already passed clears at once.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from meshcore.router.health import ModelStatus, ProviderStatus, Reason
from meshcore.router.policy import StrategyState

if TYPE_CHECKING:
    from meshcore.router.healthops import HealthOps

SCHEMA = 1


def take(r: HealthOps) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for mid in sorted(r.models):
        m = r.models[mid]
        models[mid] = {
            "status": m.status.value,
            "reasons": {k.value: v for k, v in m.reasons.items()},
            "standby_until": r.recovery_wall(m),
            "cooldown_until": None if m.cooldown_until is None else r.mono_to_wall(m.cooldown_until),
            "ejections": m.ejections,
            "failure_count": m.failure_count,
            "window": [bool(x) for x in m.window],
            "period_key": m.period_key,
            "requests": m.requests,
            "tokens": m.tokens,
            "spend": m.spend,
            "latencies": list(m.latencies),
            "standby_since": m.standby_since_wall,
            # how long it has been active decides whether its ejection count resets
            "active_since": None if m.active_since is None else r.mono_to_wall(m.active_since),
        }
    providers = {
        pid: {
            "status": p.status.value,
            "reason": p.reason,
            "standby_until": p.until_wall,
            "key_index": p.key_index,
            "recovery_policy": p.recovery_policy,
            "probe_interval": p.probe_interval_s,
            "max_cooldown": p.max_cooldown_s,
        }
        for pid, p in sorted(r.providers.items())
    }
    pools = {name: st.to_dict() for name, st in sorted(r.strategy_state.items())}
    budgets = [
        [scope, key, period, spend]
        for (scope, key, period), spend in sorted(r.ledger.spend.items())
    ]
    return {
        "schema": SCHEMA,
        "saved_at": r.now.wall,
        "models": models,
        "providers": providers,
        "pools": pools,
        "budgets": budgets,
    }


def apply(r: HealthOps, snap: object, actions: list[Any]) -> None:
    """Load a snapshot into the router at `r.now` (R-86)."""
    if not isinstance(snap, dict) or snap.get("schema") != SCHEMA:
        r.trace(actions, "warning", "mesh",
                f"ignoring state snapshot with unknown schema {snap.get('schema')!r}"
                if isinstance(snap, dict) else "ignoring state snapshot that is not a dict")
        return
    try:
        _apply(r, snap, actions)
    except (KeyError, TypeError, ValueError) as exc:
        r.trace(actions, "error", "mesh", "state snapshot could not be loaded", error=str(exc))


def _apply(r: HealthOps, snap: dict[str, Any], actions: list[Any]) -> None:
    for mid, d in dict(snap.get("models", {})).items():
        m = r.models.get(mid)
        if m is None:
            continue
        m.status = ModelStatus(d["status"])
        m.reasons = {Reason(k): (None if v is None else float(v))
                     for k, v in dict(d.get("reasons", {})).items()}
        cd = d.get("cooldown_until")
        m.cooldown_until = None if cd is None else r.wall_to_mono(float(cd))
        m.ejections = int(d.get("ejections", 0))
        m.failure_count = int(d.get("failure_count", 0))
        m.window = deque(bool(x) for x in d.get("window", []))
        m.period_key = str(d.get("period_key", ""))
        m.requests = int(d.get("requests", 0))
        m.tokens = int(d.get("tokens", 0))
        m.spend = float(d.get("spend", 0.0))
        m.latencies = deque(float(x) for x in d.get("latencies", []))
        m.standby_since_wall = d.get("standby_since")
        if m.status is ModelStatus.STANDBY and not m.reasons:
            m.status = ModelStatus.ACTIVE
        if m.status is ModelStatus.ACTIVE:
            since = d.get("active_since")  # (older snapshots: active from the restore on)
            m.active_since = r.now.mono if since is None else min(
                r.now.mono, r.wall_to_mono(float(since)))
        r.counters(m)
    for pid, d in dict(snap.get("providers", {})).items():
        p = r.providers.get(pid)
        if p is None:
            continue
        p.status = ProviderStatus(d["status"])
        p.reason = d.get("reason")
        p.until_wall = d.get("standby_until")
        p.key_index = int(d.get("key_index", 0))
        p.recovery_policy = str(d.get("recovery_policy", p.recovery_policy))
        p.probe_interval_s = float(d.get("probe_interval", p.probe_interval_s))
        p.max_cooldown_s = float(d.get("max_cooldown", p.max_cooldown_s))
    for name, d in dict(snap.get("pools", {})).items():
        if name not in r.config.pools:
            continue
        st = StrategyState.from_dict(d)
        timeout = r.config.pools[name].selection.session_timeout_s
        st.sessions = {
            sid: (mid, last) for sid, (mid, last) in st.sessions.items()
            if r.now.wall - float(last) <= timeout
        }
        r.strategy_state[name] = st
    r.ledger.spend = {
        (str(s), str(k), str(p)): float(v) for s, k, p, v in snap.get("budgets", [])
    }
    for m in r.models.values():
        if m.status is ModelStatus.STANDBY:
            r.reevaluate(actions, m)
    for pid, p in r.providers.items():
        if p.status is not ProviderStatus.DEACTIVATED:
            continue
        if p.until_wall is not None and not r.probes_running:
            # keep the remaining time to the half-open trial
            r.timers.push(max(r.wall_to_mono(float(p.until_wall)), r.now.mono), "provider", pid)
        else:
            r.schedule_provider(pid)
