"""The router's shortcut selection (`LazySelectOps.lazy_select`) decides
exactly as the general path does (SPEC R-53): same model, same trace text,
same strategy state left behind, for every built-in strategy it covers, on
random pools, health states, admission filters, prices, latency histories,
rate data, session maps, stale quota periods and requests half-way through
rotation. When it declines (returns None) it has emitted nothing and moved
no strategy state, and the general path then ends in the same state."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore import Tick, load_config
from meshcore.actions import Action
from meshcore.router.health import ModelStatus, ProviderStatus
from meshcore.router.router import Router
from meshcore.router.state import RequestState
from meshcore.testing import simple_config
from meshcore.types import Instant, RateLimitInfo, RequestFeatures

NAMES = "abcdefgh"
WALL = 1_790_000_000.0

MODEL = st.fixed_dictionaries({
    "status": st.sampled_from([ModelStatus.ACTIVE] * 4 + [ModelStatus.STANDBY,
                                                          ModelStatus.HALF_OPEN]),
    "trial": st.sampled_from([False, False, True]),
    "cw": st.sampled_from([None, None, 100, 1000]),
    "exhausted": st.sampled_from([False, False, False, True]),
    "pstatus": st.sampled_from([ProviderStatus.ACTIVE] * 4 + [ProviderStatus.DEACTIVATED]),
    "price": st.sampled_from([None, 1.0, 1.0, 2.0, 3.0]),
    "latencies": st.sampled_from([[], [], [100.0], [50.0, 150.0], [300.0]]),
    "remaining": st.sampled_from([None, 0, 100, 900]),
    "last": st.sampled_from([None, 9.0, 9.95]),
    "recent": st.integers(0, 3),
    "period": st.sampled_from(["", "2000-01-01", "2000-01", "current"]),
})

STRATEGIES = ["priority-selection", "cost-first", "latency-first", "session-stickiness",
              "rate-limit-aware", "load-balanced", "round-robin", "stick-until-failure"]


def build(strategy: str, models: list[dict[str, Any]], pool_extra: dict[str, Any]) -> Router:
    names = list(NAMES[: len(models)])
    data = simple_config(names, strategy=strategy, **pool_extra)
    for spec, n in zip(models, names, strict=True):
        mdef = data["models"][f"p{n}.{n}"]
        if spec["cw"] is not None:
            mdef["constraints"] = {"context_window": spec["cw"]}
        if spec["price"] is not None:
            mdef["pricing"] = {"input_per_1m": spec["price"], "output_per_1m": 2.0}
    r = Router(load_config(data), seed=5)
    r.handle(Tick(), Instant(10.0, WALL))
    for spec, mid in zip(models, r.pool_members["chat"], strict=True):
        m = r.models[mid]
        m.status = spec["status"]
        m.trial_in_flight = spec["trial"]
        r.providers[m.provider_id].status = spec["pstatus"]
        m.latencies.extend(spec["latencies"])
        if spec["latencies"]:
            r.latency_known[mid] = None
        if spec["remaining"] is not None:
            m.rate_limits = RateLimitInfo(requests_remaining=spec["remaining"],
                                          requests_limit=1000)
        m.last_request = spec["last"]
        m.recent.extend([9.5] * spec["recent"])
        if spec["period"] == "current":
            r.counters(m)
        else:
            m.period_key = spec["period"]
        m.requests = 3
    return r


@settings(max_examples=400, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    models=st.lists(MODEL, min_size=1, max_size=8),
    pointer=st.integers(-1, 9),
    rr_index=st.integers(0, 20),
    selections=st.sampled_from([0, 0, 1, 3]),
    prompt=st.sampled_from([10, 500]),
    max_tokens=st.sampled_from([None, 100]),
    session=st.sampled_from([None, "s1", "s2"]),
    mapped=st.integers(-1, 4),
    age=st.sampled_from([0.0, 100.0, 5000.0]),
    priority=st.lists(st.integers(0, 9), max_size=3),
    providers=st.lists(st.integers(0, 9), max_size=3),
    fallback=st.sampled_from(["round-robin", "stick-until-failure", "cost-first",
                              "latency-first", "error", "load-balanced"]),
    extra=st.sampled_from([{}, {"rate_limit": {"max_rpm": 2}},
                           {"rate_limit": {"min_delta": 0.5, "threshold": 0.5}},
                           {"cost_basis": "spend"}, {"affinity_mode": "strict"},
                           {"balance_mode": "absolute"}]),
)
def test_r53_lazy_select_matches_general_path(
    strategy: str, models: list[dict[str, Any]], pointer: int, rr_index: int,
    selections: int, prompt: int, max_tokens: int | None, session: str | None,
    mapped: int, age: float, priority: list[int], providers: list[int], fallback: str,
    extra: dict[str, Any],
) -> None:
    names = list(NAMES[: len(models)])
    pool_extra: dict[str, Any] = dict(extra)
    if strategy == "priority-selection":
        pool_extra["model_priority"] = [f"p{names[i]}.{names[i]}" for i in priority
                                        if i < len(names)]
        pool_extra["provider_priority"] = [f"p{names[i]}" for i in providers if i < len(names)]
        pool_extra["fallback_strategy"] = fallback
    r = build(strategy, models, pool_extra)
    members = r.pool_members["chat"]
    st_ = r.strategy_state["chat"]
    st_.pointer = members[pointer] if 0 <= pointer < len(members) else (
        "gone.model" if pointer == 9 else None)
    st_.rr_index = rr_index
    if session is not None and 0 <= mapped < len(members):
        st_.sessions["old"] = (members[0], WALL - 4000.0)
        st_.sessions[session] = (members[mapped], WALL - age)
    exhausted = {mid for spec, mid in zip(models, members, strict=True) if spec["exhausted"]}
    feats = RequestFeatures(prompt_tokens=prompt, max_tokens=max_tokens)

    def request(router: Router) -> RequestState:
        return RequestState(
            request_id="x", seq=1, pool=router.config.pools["chat"], members=members,
            features=feats, deadline=100.0, session_id=session, started_mono=10.0,
            started_wall=WALL, response_id="", exhausted=set(exhausted),
            selections=selections,
        )

    lazy_r = copy.deepcopy(r)
    slow_r = copy.deepcopy(r)
    lazy_actions: list[Action] = []
    lazy_req = request(lazy_r)
    lazy = lazy_r.lazy_select(lazy_actions, lazy_req)
    if lazy is None:
        assert lazy_actions == []
        assert lazy_req.selections == selections
        assert lazy_r.strategy_state["chat"].to_dict() == r.strategy_state["chat"].to_dict()
        lazy_cands = lazy_r.candidates(lazy_req)
        lazy = lazy_r.select(lazy_actions, lazy_req, lazy_cands) if lazy_cands else None
    slow_actions: list[Action] = []
    slow_req = request(slow_r)
    cands = slow_r.candidates(slow_req)
    slow = slow_r.select(slow_actions, slow_req, cands) if cands else None
    assert lazy == slow
    assert lazy_actions == slow_actions
    assert lazy_req.selections == slow_req.selections
    assert lazy_r.snapshot() == slow_r.snapshot()


def test_finished_attempts_evict_oldest_first(monkeypatch: Any) -> None:
    """Late facts about ended attempts are ignored for the last FINISHED_MAX
    attempts (R-34 attempt bookkeeping); eviction is oldest-first and a
    repeated ID keeps its original place, as with the plain dict before."""
    import meshcore.router.base as base

    monkeypatch.setattr(base, "FINISHED_MAX", 3)
    r = build("round-robin", [{"status": ModelStatus.ACTIVE, "trial": False, "cw": None,
                               "exhausted": False, "pstatus": ProviderStatus.ACTIVE,
                               "price": None, "latencies": [], "remaining": None,
                               "last": None, "recent": 0, "period": ""}], {})
    for aid in ["a", "b", "a", "c", "d"]:
        r.remember_finished(aid)
    assert list(r.finished_attempts) == ["b", "c", "d"]
    assert list(r.finished_order) == ["b", "c", "d"]
