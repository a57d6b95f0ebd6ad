"""Read-only views of the router: explain, pool status, usage, describe.

Theory of operation: these functions read the router's state and never
change it: `explain()` runs the pool's strategy in dry-run mode on a copy
of its state (R-106: round-robin index, session map and counters stay
untouched), `pool_status()` and `usage()` summarise counters, `describe()`
renders the text of R-106.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from meshcore.router.calendar import iso_utc, period_key
from meshcore.router.custom_strategy import strategy_of
from meshcore.router.health import ModelStatus, top_reason
from meshcore.router.policy import NoSelection, SelectionRequest, SessionUnavailable
from meshcore.router.state import RequestState
from meshcore.types import RequestFeatures

if TYPE_CHECKING:
    from meshcore.router.requests import RequestOps


def short_strategy(sid: str) -> str:
    if sid.startswith("modelmesh.") and sid.endswith(".v1"):
        return sid[len("modelmesh."):-len(".v1")]
    return sid


def explain(r: RequestOps, pool_name: str, features: RequestFeatures | None) -> dict[str, Any]:
    pool = r.config.pools[pool_name]
    members = r.pool_members[pool_name]
    req = RequestState(
        request_id="explain", seq=r.request_seq + 1, pool=pool, members=members,
        features=features or RequestFeatures(), deadline=r.now.mono + pool.deadline_s,
        session_id=(features.user if features else None), started_mono=r.now.mono,
        started_wall=r.now.wall, response_id="",
    )
    cands: list[str] = []
    rows: list[dict[str, Any]] = []
    index = {mid: i for i, mid in enumerate(members)}
    strat = strategy_of(r, pool)
    sreq = SelectionRequest(
        pool=pool, features=req.features, session_id=req.session_id, now_mono=r.now.mono,
        now_wall=r.now.wall, seed=r.seed, request_seq=req.seq, attempt_index=0, dry_run=True,
    )
    for mid in members:
        m = r.models[mid]
        excluded = r.admission_reason(req, mid)
        eligible = r.eligible(m)
        if excluded is None and not eligible:
            excluded = r.standby_text(mid)
        if excluded is None:
            cands.append(mid)
        until = r.recovery_wall(m)
        rows.append({
            "model_id": mid, "provider_id": m.provider_id, "status": m.status.value,
            "eligible": excluded is None, "excluded_reason": excluded,
            "standby_until": iso_utc(until) if until is not None else None,
            "score": None,
        })
    selected = None
    reason = f"No active model in pool {pool_name!r}"
    if cands:
        snaps = [r.snapshot_of(mid, index[mid]) for mid in cands]
        # scores in the context of the whole candidate list, as select() sees it
        by_id = dict(zip(cands, strat.scores(snaps, sreq), strict=True))
        for row in rows:
            row["score"] = by_id.get(row["model_id"])
        state = copy.deepcopy(r.strategy_state[pool_name])
        try:
            res = strat.select(snaps, sreq, state, members)
            selected = res.model_id
            reason = f"{short_strategy(pool.strategy)}: {res.reason}"
        except SessionUnavailable as exc:
            reason = f"No active model: session model {exc.model_id} unavailable"
        except NoSelection:
            reason = "No active model: priority list exhausted and fallback is error"
    return {
        "pool_name": pool_name,
        "strategy": pool.strategy,
        "capability": pool.capability,
        "selected_model": selected,
        "selected_provider": r.models[selected].provider_id if selected else None,
        "candidates": rows,
        "reason": reason,
    }


def current_model(r: RequestOps, pool_name: str) -> str | None:
    st = r.strategy_state.get(pool_name)
    if st is not None and st.pointer:
        return st.pointer
    return r.last_selected.get(pool_name)


def pool_status(r: RequestOps, pool_name: str) -> dict[str, Any]:
    pool = r.config.pools[pool_name]
    rows = []
    counts = {"active": 0, "standby": 0, "half_open": 0}
    for mid in r.pool_members[pool_name]:
        m = r.counters(r.models[mid])
        status = m.status.value
        if r.provider_blocks(m.provider_id) and m.status is ModelStatus.ACTIVE:
            status = "standby"
        counts[status] += 1
        top = top_reason(m.reasons)
        until = r.recovery_wall(m)
        rows.append({
            "model_id": mid, "provider_id": m.provider_id, "status": status,
            "reason": top.value if top else (
                r.providers[m.provider_id].reason if r.provider_blocks(m.provider_id) else None),
            "standby_until": iso_utc(until) if until is not None else None,
            "failure_count": m.failure_count, "error_rate": m.error_rate(),
            "requests": m.total_requests, "tokens": m.total_tokens, "cost": m.total_cost,
            "latency_avg_ms": m.latency_mean(),
        })
    return {
        "name": pool_name, "capability": pool.capability, "strategy": pool.strategy,
        "active": counts["active"], "standby": counts["standby"],
        "half_open": counts["half_open"], "total": len(rows),
        "current_model": current_model(r, pool_name), "models": rows,
    }


def usage(r: RequestOps) -> dict[str, Any]:
    by_model = {
        mid: {"requests": m.total_requests, "tokens": m.total_tokens, "cost": m.total_cost}
        for mid, m in sorted(r.models.items())
        if m.total_requests or m.total_tokens or m.total_cost
    }
    budget: dict[str, Any] = {}
    for pid, p in sorted(r.config.providers.items()):
        for window, limit in (("daily", p.budget_daily_limit), ("monthly", p.budget_monthly_limit)):
            if limit is None:
                continue
            key = period_key(window, r.now.wall)
            used = r.ledger.spent("provider", pid, key)
            budget.setdefault(pid, {})[window] = {
                "period": key, "limit": limit, "used": used,
                "remaining": max(0.0, limit - used), "exceeded": used >= limit,
            }
    return {
        "total_requests": sum(m.total_requests for m in r.models.values()),
        "prompt_tokens": sum(m.total_prompt for m in r.models.values()),
        "completion_tokens": sum(m.total_completion for m in r.models.values()),
        "total_tokens": sum(m.total_tokens for m in r.models.values()),
        "total_cost": sum(m.total_cost for m in r.models.values()),
        "by_model": by_model,
        "budget_status": budget or None,
    }


def describe(r: RequestOps, pool_name: str | None = None) -> str:
    names = [pool_name] if pool_name is not None else list(r.config.pools)
    blocks = []
    for name in names:
        st = pool_status(r, name)
        lines = [f'Pool "{name}" (strategy: {short_strategy(st["strategy"])})',
                 f"  capability: {st['capability']}"]
        for row in st["models"]:
            marker = "→" if row["model_id"] == st["current_model"] else " "
            detail = row["status"]
            if row["reason"]:
                detail += f": {row['reason']}"
                if row["standby_until"]:
                    detail += f" until {row['standby_until']}"
            lines.append(f"  {marker} {row['model_id']} [{row['provider_id']}] ({detail})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
