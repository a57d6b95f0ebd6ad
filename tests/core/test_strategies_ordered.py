"""Order-driven strategies of SPEC R-53: stick-until-failure, round-robin,
priority-selection."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from meshcore.config.schema import PoolConfig, SelectionConfig
from meshcore.router.policy import ModelSnapshot, NoSelection, SelectionRequest, StrategyState
from meshcore.router.strategies import (
    BuiltinStrategy,
    get_strategy,
    move_pointer_on_deactivation,
)
from meshcore.types import RequestFeatures

MEMBERS = ("a.m1", "b.m2", "c.m3")
A, B, C = MEMBERS


def snaps(*ids: str) -> list[ModelSnapshot]:
    """Candidates in pool order; provider = the ID's first segment."""
    return [
        ModelSnapshot(model_id=i, provider_id=i.split(".")[0], pool_index=MEMBERS.index(i))
        for i in sorted(ids, key=MEMBERS.index)
    ]


def sreq(
    seq: int = 1, attempt: int = 0, dry: bool = False, selection: SelectionConfig | None = None
) -> SelectionRequest:
    pool = PoolConfig(name="chat", selection=selection or SelectionConfig())
    return SelectionRequest(
        pool=pool, features=RequestFeatures(), session_id=None, now_mono=100.0,
        now_wall=1.7e9, seed=7, request_seq=seq, attempt_index=attempt, dry_run=dry,
    )


# ---- stick-until-failure ------------------------------------------------------

STICK = get_strategy("stick-until-failure", SelectionConfig())


def test_r53_stick_first_request_sets_pointer_to_first_candidate() -> None:
    state = StrategyState()
    res = STICK.select(snaps(B, C), sreq(), state, MEMBERS)
    assert res.model_id == B
    assert res.provider_id == "b"
    assert state.pointer == B
    for seq in range(2, 6):
        assert STICK.select(snaps(A, B, C), sreq(seq), state, MEMBERS).model_id == B


def test_r53_stick_in_request_rotation_goes_after_pointer_wrapping() -> None:
    state = StrategyState(pointer=B)
    # the current model was tried in this request: next in pool order
    assert STICK.select(snaps(A, C), sreq(attempt=1), state, MEMBERS).model_id == C
    state = StrategyState(pointer=C)
    assert STICK.select(snaps(A, B), sreq(attempt=1), state, MEMBERS).model_id == A
    # rotation inside a request does not move the pointer
    assert state.pointer == C


def test_r53_stick_pointer_removed_from_pool_is_reset() -> None:
    state = StrategyState(pointer="z.gone")
    assert STICK.select(snaps(B, C), sreq(), state, MEMBERS).model_id == B
    assert state.pointer == B


def test_r53_stick_dry_run_does_not_set_pointer() -> None:
    state = StrategyState()
    assert STICK.select(snaps(A, B), sreq(dry=True), state, MEMBERS).model_id == A
    assert state.pointer is None


def test_r53_move_pointer_on_deactivation_next_active_wrapping() -> None:
    state = StrategyState(pointer=B)
    assert move_pointer_on_deactivation(state, MEMBERS, [A, C]) == C
    assert state.pointer == C
    assert move_pointer_on_deactivation(state, MEMBERS, [A, B]) == A
    assert state.pointer == A


def test_r53_move_pointer_with_no_active_model_keeps_it() -> None:
    state = StrategyState(pointer=B)
    assert move_pointer_on_deactivation(state, MEMBERS, []) is None
    assert state.pointer == B
    unset = StrategyState()
    assert move_pointer_on_deactivation(unset, MEMBERS, [C, B]) == B


def test_r53_stick_recovered_model_does_not_take_traffic_back() -> None:
    state = StrategyState()
    assert STICK.select(snaps(A, B, C), sreq(1), state, MEMBERS).model_id == A
    # A leaves active: the router moves the pointer
    move_pointer_on_deactivation(state, MEMBERS, [B, C])
    assert STICK.select(snaps(B, C), sreq(2), state, MEMBERS).model_id == B
    # A recovers and is a candidate again: traffic stays on B
    assert STICK.select(snaps(A, B, C), sreq(3), state, MEMBERS).model_id == B


# ---- round-robin ----------------------------------------------------------------

RR = get_strategy("modelmesh.round-robin.v1", SelectionConfig())


def run_rr(state: StrategyState, cands: list[ModelSnapshot], n: int, dry: bool = False) -> list[str]:
    return [RR.select(cands, sreq(seq, dry=dry), state, MEMBERS).model_id for seq in range(n)]


def test_r53_round_robin_cycles_in_pool_order() -> None:
    assert run_rr(StrategyState(), snaps(A, B, C), 4) == [A, B, C, A]


def test_r53_round_robin_skips_standby_without_using_a_slot() -> None:
    assert run_rr(StrategyState(), snaps(A, C), 4) == [A, C, A, C]


def test_r53_round_robin_recovered_model_rejoins_at_its_position() -> None:
    state = StrategyState()
    assert run_rr(state, snaps(A, C), 2) == [A, C]
    assert run_rr(state, snaps(A, B, C), 3) == [A, B, C]


def test_r53_round_robin_index_advances_once_per_request() -> None:
    """In-request rotation (attempt_index > 0) reads the index but does not
    move it: the next request gets what it would have got anyway."""
    state = StrategyState()
    assert RR.select(snaps(A, B, C), sreq(1), state, MEMBERS).model_id == A
    assert RR.select(snaps(B, C), sreq(1, attempt=1), state, MEMBERS).model_id == B
    assert RR.select(snaps(C), sreq(1, attempt=2), state, MEMBERS).model_id == C
    assert state.rr_index == 1
    assert RR.select(snaps(A, B, C), sreq(2), state, MEMBERS).model_id == B


def test_r53_round_robin_explain_does_not_advance() -> None:
    state = StrategyState()
    assert run_rr(state, snaps(A, B, C), 3, dry=True) == [A, A, A]
    assert state.rr_index == 0
    assert run_rr(state, snaps(A, B, C), 1) == [A]


def test_r53_round_robin_index_survives_persistence() -> None:
    state = StrategyState()
    run_rr(state, snaps(A, B, C), 2)
    restored = StrategyState.from_dict(state.to_dict())
    assert run_rr(restored, snaps(A, B, C), 2) == [C, A]


# ---- priority-selection ---------------------------------------------------------


def prio(**kw: Any) -> tuple[SelectionConfig, BuiltinStrategy]:
    sel = replace(SelectionConfig(), **kw)
    return sel, get_strategy("priority", sel)


def test_r53_priority_model_priority_in_list_order() -> None:
    sel, strat = prio(model_priority=(C, B))
    state = StrategyState()
    assert strat.select(snaps(A, B, C), sreq(selection=sel), state, MEMBERS).model_id == C
    assert strat.select(snaps(A, B), sreq(selection=sel), state, MEMBERS).model_id == B


def test_r53_priority_provider_priority_then_pool_order() -> None:
    sel, strat = prio(provider_priority=("c", "b"))
    res = strat.select(snaps(A, B, C), sreq(selection=sel), StrategyState(), MEMBERS)
    assert res.model_id == C
    res = strat.select(snaps(A, B), sreq(selection=sel), StrategyState(), MEMBERS)
    assert res.model_id == B


def test_r53_priority_recovered_higher_priority_model_gets_traffic_back() -> None:
    sel, strat = prio(model_priority=(A,), provider_priority=("c",))
    state = StrategyState()
    picks = [
        strat.select(c, sreq(i, selection=sel), state, MEMBERS).model_id
        for i, c in enumerate([snaps(A, B, C), snaps(B, C), snaps(A, B, C)])
    ]
    assert picks == [A, C, A]


def test_r53_priority_fallback_strategy_over_the_rest() -> None:
    sel, strat = prio(model_priority=("z.none",), fallback_strategy="round-robin")
    state = StrategyState()
    picks = [
        strat.select(snaps(A, B, C), sreq(i, selection=sel), state, MEMBERS).model_id
        for i in range(4)
    ]
    assert picks == [A, B, C, A]
    res = strat.select(snaps(A, B), sreq(9, selection=sel), state, MEMBERS)
    assert "fallback modelmesh.round-robin.v1" in res.reason


def test_r53_priority_fallback_error_raises_no_selection() -> None:
    """`fallback_strategy: error`: the strategy raises NoSelection, which the
    router turns into NoActiveModelError."""
    sel, strat = prio(model_priority=(A,), fallback_strategy="error")
    assert strat.select(snaps(A, B), sreq(selection=sel), StrategyState(), MEMBERS).model_id == A
    with pytest.raises(NoSelection):
        strat.select(snaps(B, C), sreq(selection=sel), StrategyState(), MEMBERS)


def test_r53_priority_scores_rank_the_lists() -> None:
    sel, strat = prio(model_priority=(C,), provider_priority=("b",))
    s = {c.model_id: strat.score(c, sreq(selection=sel)) for c in snaps(A, B, C)}
    assert s[C] > s[B] > s[A]


def test_priority_fallback_cannot_be_itself() -> None:
    with pytest.raises(ValueError, match="priority-selection"):
        get_strategy("priority-selection",
                     replace(SelectionConfig(), fallback_strategy="priority"))
