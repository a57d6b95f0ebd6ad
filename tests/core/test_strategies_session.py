"""session-stickiness (SPEC R-53, R-85/R-86 session map persistence)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.config.schema import PoolConfig, SelectionConfig
from meshcore.router.policy import (
    ModelSnapshot,
    SelectionRequest,
    SessionUnavailable,
    StrategyState,
)
from meshcore.router.rng import stable_hash64
from meshcore.router.strategies import get_strategy
from meshcore.types import RequestFeatures

MEMBERS = tuple(f"p{i}.m{i}" for i in range(5))
T0 = 1.7e9


def snaps(ids: list[str] | tuple[str, ...] = MEMBERS) -> list[ModelSnapshot]:
    return [
        ModelSnapshot(model_id=m, provider_id=m.split(".")[0], pool_index=MEMBERS.index(m))
        for m in sorted(ids, key=MEMBERS.index)
    ]


def sreq(session: str | None, wall: float = T0, dry: bool = False, **sel: Any) -> SelectionRequest:
    pool = PoolConfig(name="chat", selection=replace(SelectionConfig(), **sel))
    return SelectionRequest(
        pool=pool, features=RequestFeatures(), session_id=session, now_mono=1.0,
        now_wall=wall, seed=3, request_seq=1, dry_run=dry,
    )


def select(state: StrategyState, req: SelectionRequest, ids: Any = MEMBERS) -> str:
    strat = get_strategy("session-stickiness", req.pool.selection)
    return strat.select(snaps(ids), req, state, MEMBERS).model_id


def rendezvous(session: str, ids: Sequence[str]) -> str:
    return max(ids, key=lambda m: stable_hash64(session, m))


def test_r53_no_session_key_takes_first_candidate() -> None:
    state = StrategyState()
    assert select(state, sreq(None), MEMBERS[2:]) == MEMBERS[2]
    assert state.sessions == {}


def test_r53_first_assignment_is_rendezvous_and_recorded() -> None:
    state = StrategyState()
    chosen = select(state, sreq("user-42"))
    assert chosen == rendezvous("user-42", MEMBERS)
    assert state.sessions == {"user-42": (chosen, T0)}


def test_r53_sessions_spread_over_models() -> None:
    """Different sessions land on different models (not all on the first)."""
    state = StrategyState()
    picks = {select(state, sreq(f"s{i}")) for i in range(40)}
    assert len(picks) >= 3


def test_r53_known_session_goes_to_its_model() -> None:
    other = next(m for m in MEMBERS if m != rendezvous("s", MEMBERS))
    state = StrategyState(sessions={"s": (other, T0)})
    assert select(state, sreq("s", T0 + 60)) == other
    assert state.sessions["s"] == (other, T0 + 60)


def test_r53_idle_expiry() -> None:
    other = next(m for m in MEMBERS if m != rendezvous("s", MEMBERS))
    timeout = 1800.0
    state = StrategyState(sessions={"s": (other, T0)})
    assert select(state, sreq("s", T0 + timeout)) == other  # exactly at the timeout: kept
    state = StrategyState(sessions={"s": (other, T0)})
    assert select(state, sreq("s", T0 + timeout + 1)) == rendezvous("s", MEMBERS)


def test_r53_strict_mode_signals_unavailable_session_model() -> None:
    mapped = MEMBERS[1]
    state = StrategyState(sessions={"s": (mapped, T0)})
    req = sreq("s", T0 + 5, affinity_mode="strict")
    with pytest.raises(SessionUnavailable) as info:
        select(state, req, [m for m in MEMBERS if m != mapped])
    assert info.value.model_id == mapped
    assert state.sessions == {"s": (mapped, T0)}


def test_r53_fallback_mode_reassigns_over_remaining_candidates() -> None:
    mapped = MEMBERS[1]
    rest = [m for m in MEMBERS if m != mapped]
    state = StrategyState(sessions={"s": (mapped, T0)})
    assert select(state, sreq("s", T0 + 5), rest) == rendezvous("s", rest)
    assert state.sessions["s"] == (rendezvous("s", rest), T0 + 5)


def test_r53_expired_sessions_are_purged_on_update() -> None:
    state = StrategyState(sessions={"old": (MEMBERS[0], T0 - 4000), "live": (MEMBERS[1], T0 - 10)})
    select(state, sreq("new"))
    assert list(state.sessions) == ["live", "new"]


def test_r53_dry_run_changes_nothing() -> None:
    state = StrategyState(sessions={"old": (MEMBERS[0], T0 - 4000)})
    before = state.to_dict()
    select(state, sreq("x", dry=True))
    assert state.to_dict() == before


def test_r85_session_map_survives_json_round_trip() -> None:
    state = StrategyState()
    for i in range(5):
        select(state, sreq(f"s{i}", T0 + i))
    restored = StrategyState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert select(restored, sreq("s3", T0 + 100)) == state.sessions["s3"][0]


def test_strategy_state_from_dict_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        StrategyState.from_dict({"sessions": {"s": ["m"]}})
    with pytest.raises(ValueError):
        StrategyState.from_dict({"rr_index": "3"})


@settings(max_examples=40, deadline=None)
@given(session=st.text(min_size=1, max_size=16), data=st.data())
def test_r53_removing_another_model_does_not_move_a_new_session(
    session: str, data: st.DataObject
) -> None:
    """Rendezvous hashing: identical across processes and minimal movement."""
    chosen = select(StrategyState(), sreq(session))
    other = data.draw(st.sampled_from([m for m in MEMBERS if m != chosen]))
    assert select(StrategyState(), sreq(session), [m for m in MEMBERS if m != other]) == chosen
