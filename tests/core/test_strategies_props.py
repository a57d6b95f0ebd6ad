"""Registry, interfaces and properties shared by every built-in strategy
(SPEC R-2 aliases, R-43 interfaces, R-53 strategies, ARCHITECTURE rule 4)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.config.schema import PoolConfig, Pricing, SelectionConfig
from meshcore.router.policy import (
    Deactivation,
    ModelSnapshot,
    NoSelection,
    Recovery,
    Selection,
    SelectionRequest,
    SelectionResult,
    SessionUnavailable,
    StrategyState,
)
from meshcore.router.strategies import STRATEGY_IDS, canonical_strategy_id, get_strategy
from meshcore.types import RateLimitInfo, RequestFeatures

NAMES = tuple(f"p{i % 3}.m{i}" for i in range(6))


# ---- registry ------------------------------------------------------------------


def test_r53_eight_canonical_ids() -> None:
    assert len(STRATEGY_IDS) == len(set(STRATEGY_IDS)) == 8
    assert all(s.startswith("modelmesh.") and s.endswith(".v1") for s in STRATEGY_IDS)
    for sid in STRATEGY_IDS:
        assert get_strategy(sid, SelectionConfig()).strategy_id == sid


@pytest.mark.parametrize(
    "alias",
    ["round-robin", "modelmesh.round-robin", "modelmesh.round-robin.v1",
     "rotation.modelmesh.round-robin.v1", "Round-Robin"],
)
def test_r2_strategy_aliases(alias: str) -> None:
    assert canonical_strategy_id(alias) == "modelmesh.round-robin.v1"


def test_r2_priority_means_priority_selection() -> None:
    assert canonical_strategy_id("priority") == "modelmesh.priority-selection.v1"


def test_r2_unknown_strategy_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="round-robin"):
        get_strategy("round-robbin", SelectionConfig())


# ---- R-43 interfaces --------------------------------------------------------------


def test_r43_builtins_satisfy_selection_protocol() -> None:
    for sid in STRATEGY_IDS:
        assert isinstance(get_strategy(sid, SelectionConfig()), Selection)


def test_r43_two_argument_select_works() -> None:
    strat = get_strategy("round-robin", SelectionConfig())
    cands = [ModelSnapshot("p0.m0", "p0"), ModelSnapshot("p1.m1", "p1", pool_index=1)]
    req = _request(SelectionConfig(), None, 1, 0, False)
    assert strat.select(cands, req) == SelectionResult("p0.m0", "p0", 0.0, "round-robin slot 0")


def test_r43_select_on_empty_list_is_a_programming_error() -> None:
    for sid in STRATEGY_IDS:
        with pytest.raises(ValueError):
            get_strategy(sid, SelectionConfig()).select(
                [], _request(SelectionConfig(), None, 1, 0, False), StrategyState(), NAMES
            )


def test_r43_custom_policies_are_checked_structurally() -> None:
    class Custom:
        def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
            return snapshot.failure_count > 2

        def get_reason(self, snapshot: ModelSnapshot) -> str | None:
            return "error_threshold" if self.should_deactivate(snapshot) else None

    assert isinstance(Custom(), Deactivation)
    assert not isinstance(Custom(), Recovery)
    assert not isinstance(Custom(), Selection)


# ---- properties for every strategy --------------------------------------------------


def _request(
    sel: SelectionConfig, session: str | None, seq: int, attempt: int, dry: bool,
    wall: float = 1.7e9, mono: float = 500.0, seed: int = 5,
) -> SelectionRequest:
    return SelectionRequest(
        pool=PoolConfig(name="pool", selection=sel),
        features=RequestFeatures(prompt_tokens=200, max_tokens=None),
        session_id=session, now_mono=mono, now_wall=wall, seed=seed,
        request_seq=seq, attempt_index=attempt, dry_run=dry,
    )


opt_int = st.one_of(st.none(), st.integers(0, 1000))
rate = st.one_of(
    st.none(),
    st.builds(RateLimitInfo, requests_remaining=opt_int, requests_limit=opt_int,
              tokens_remaining=opt_int, tokens_limit=opt_int),
)
pricing = st.one_of(
    st.none(), st.builds(Pricing, st.floats(0, 50), st.floats(0, 50), st.floats(0, 0.1))
)


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    members = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    chosen = draw(st.lists(st.booleans(), min_size=len(members), max_size=len(members)))
    if not any(chosen):
        chosen[draw(st.integers(0, len(members) - 1))] = True
    cands = [
        ModelSnapshot(
            model_id=m, provider_id=m.split(".")[0], pool_index=i,
            latency_mean_ms=draw(st.one_of(st.none(), st.floats(1, 5000))),
            pricing=draw(pricing), spend_period=draw(st.floats(0, 10)),
            rate_limits=draw(rate), recent_requests_60s=draw(st.integers(0, 20)),
            last_request_mono=draw(st.one_of(st.none(), st.floats(0, 500))),
        )
        for i, (m, keep) in enumerate(zip(members, chosen, strict=True)) if keep
    ]
    sel = SelectionConfig(
        model_priority=tuple(draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True))),
        provider_priority=tuple(draw(st.lists(st.sampled_from(["p0", "p1", "p2"]),
                                              max_size=2, unique=True))),
        fallback_strategy=draw(st.sampled_from(
            [s for s in STRATEGY_IDS if "priority" not in s] + ["error"])),
        balance_mode=draw(st.sampled_from(["relative", "absolute"])),
        rate_limit_threshold=draw(st.floats(0, 1)),
        rate_limit_min_delta_s=draw(st.floats(0, 5)),
        rate_limit_max_rpm=draw(st.integers(0, 10)),
        affinity_mode=draw(st.sampled_from(["fallback", "strict"])),
        session_timeout_s=draw(st.floats(1, 3600)),
        cost_basis=draw(st.sampled_from(["price", "spend"])),
        expected_output_ratio=draw(st.floats(0, 4)),
    )
    sessions = draw(st.dictionaries(
        st.sampled_from(["s1", "s2", "s3"]),
        st.tuples(st.sampled_from(NAMES), st.floats(1.7e9 - 7200, 1.7e9)), max_size=3))
    state = StrategyState(
        pointer=draw(st.one_of(st.none(), st.sampled_from(NAMES))),
        rr_index=draw(st.integers(0, 12)), sessions=sessions,
    )
    req = _request(sel, draw(st.one_of(st.none(), st.sampled_from(["s1", "s2", "s4"]))),
                   draw(st.integers(0, 50)), draw(st.integers(0, 2)), draw(st.booleans()),
                   seed=draw(st.integers(0, 2**32)))
    return {"members": members, "cands": cands, "sel": sel, "state": state, "req": req}


def _run(sid: str, sc: dict[str, Any], state: StrategyState) -> SelectionResult | str:
    strat = get_strategy(sid, sc["sel"])
    try:
        return strat.select(sc["cands"], sc["req"], state, sc["members"])
    except SessionUnavailable as exc:
        # strict affinity: session-stickiness itself, or as priority-selection's fallback
        sticky = sid.endswith("session-stickiness.v1") or (
            sid.endswith("priority-selection.v1")
            and sc["sel"].fallback_strategy.endswith("session-stickiness.v1"))
        assert sticky and sc["sel"].affinity_mode == "strict"
        return f"unavailable:{exc.model_id}"
    except NoSelection:
        assert sid.endswith("priority-selection.v1") and sc["sel"].fallback_strategy == "error"
        return "none"


@pytest.mark.parametrize("sid", STRATEGY_IDS)
@settings(max_examples=60, deadline=None)
@given(sc=scenario())
def test_r53_result_is_a_candidate_dry_run_is_pure_and_deterministic(
    sid: str, sc: dict[str, Any]
) -> None:
    before = copy.deepcopy(sc["state"])
    twin = copy.deepcopy(sc["state"])
    res = _run(sid, sc, sc["state"])
    if isinstance(res, SelectionResult):
        by_id = {c.model_id: c for c in sc["cands"]}
        assert res.model_id in by_id
        assert res.provider_id == by_id[res.model_id].provider_id
        assert math.isfinite(res.score)
    if sc["req"].dry_run:
        assert sc["state"] == before
    # same inputs -> same result and same state change
    assert _run(sid, sc, twin) == res
    assert twin == sc["state"]
    strat = get_strategy(sid, sc["sel"])
    scores = strat.scores(sc["cands"], sc["req"])
    assert len(scores) == len(sc["cands"])
    assert all(math.isfinite(s) for s in scores)
    assert all(math.isfinite(strat.score(c, sc["req"])) for c in sc["cands"])
