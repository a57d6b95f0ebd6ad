"""The router's fast path for stick-until-failure and round-robin
(`SelectionOps.fast_select`) chooses exactly what the strategy classes choose
(SPEC R-53), on random pools, health states, admission filters, requests
half-way through rotation and strategy states; the strategy state it leaves
behind (pointer, round-robin index) is the same too."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore import Tick, load_config
from meshcore.router.health import ModelStatus, ProviderStatus
from meshcore.router.policy import SelectionRequest, StrategyState
from meshcore.router.router import Router
from meshcore.router.state import RequestState
from meshcore.router.strategies import get_strategy
from meshcore.testing import simple_config
from meshcore.types import Instant, RequestFeatures

NAMES = "abcdefgh"

MODEL_STATE = st.tuples(
    st.sampled_from([ModelStatus.ACTIVE, ModelStatus.ACTIVE, ModelStatus.STANDBY,
                     ModelStatus.HALF_OPEN]),
    st.booleans(),  # trial in flight (half-open)
    st.sampled_from([None, None, 100, 1000]),  # context window
    st.booleans(),  # exhausted in this request
    st.sampled_from([ProviderStatus.ACTIVE, ProviderStatus.ACTIVE,
                     ProviderStatus.DEACTIVATED, ProviderStatus.HALF_OPEN]),
)


@settings(max_examples=250, deadline=None)
@given(
    strategy=st.sampled_from(["stick-until-failure", "round-robin"]),
    states=st.lists(MODEL_STATE, min_size=1, max_size=8),
    pointer=st.integers(-1, 9),
    rr_index=st.integers(0, 20),
    selections=st.sampled_from([0, 0, 1, 3]),
    prompt=st.sampled_from([10, 500]),
    probes=st.booleans(),
)
def test_r53_fast_path_matches_strategy_classes(
    strategy: str,
    states: list[tuple[ModelStatus, bool, int | None, bool, ProviderStatus]],
    pointer: int,
    rr_index: int,
    selections: int,
    prompt: int,
    probes: bool,
) -> None:
    names = list(NAMES[: len(states)])
    data = simple_config(names, strategy=strategy)
    for (_, _, cw, _, _), n in zip(states, names, strict=True):
        if cw is not None:
            data["models"][f"p{n}.{n}"]["constraints"] = {"context_window": cw}
    r = Router(load_config(data), seed=5)
    r.handle(Tick(), Instant(10.0, 1_790_000_000.0))
    r.probes_running = probes
    members = r.pool_members["chat"]
    exhausted = set()
    for (status, trial, _, ex, pstatus), mid in zip(states, members, strict=True):
        m = r.models[mid]
        m.status = status
        m.trial_in_flight = trial
        r.providers[m.provider_id].status = pstatus
        r.providers[m.provider_id].trial_in_flight = trial
        if ex:
            exhausted.add(mid)
    ptr = members[pointer] if 0 <= pointer < len(members) else (
        "gone.model" if pointer == 9 else None)
    base = StrategyState(pointer=ptr, rr_index=rr_index)
    pool = r.config.pools["chat"]
    feats = RequestFeatures(prompt_tokens=prompt)

    def request() -> RequestState:
        return RequestState(
            request_id="x", seq=1, pool=pool, members=members, features=feats,
            deadline=100.0, session_id=None, started_mono=10.0,
            started_wall=1_790_000_000.0, response_id="", exhausted=set(exhausted),
            selections=selections,
        )

    # the fast path
    r.strategy_state["chat"] = copy.deepcopy(base)
    fast = r.fast_select([], request())
    fast_state = r.strategy_state["chat"]

    # the strategy class over the candidate list
    slow_state = copy.deepcopy(base)
    cands = r.candidates(request())
    if not cands:
        slow = None
    else:
        index = {mid: i for i, mid in enumerate(members)}
        snaps = [r.snapshot_of(mid, index[mid]) for mid in cands]
        sreq = SelectionRequest(
            pool=pool, features=feats, session_id=None, now_mono=10.0,
            now_wall=1_790_000_000.0, seed=5, request_seq=1, attempt_index=selections,
        )
        slow = get_strategy(pool.strategy, pool.selection).select(
            snaps, sreq, slow_state, members).model_id
    assert fast == slow
    assert (fast_state.pointer, fast_state.rr_index) == (slow_state.pointer, slow_state.rr_index)
