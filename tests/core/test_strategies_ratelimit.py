"""Rate-limit driven strategies of SPEC R-53 (with the R-55 rate data):
rate-limit-aware and load-balanced."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from meshcore.config.schema import PoolConfig, SelectionConfig
from meshcore.router.policy import ModelSnapshot, SelectionRequest, StrategyState
from meshcore.router.strategies import get_strategy
from meshcore.types import RateLimitInfo, RequestFeatures

NOW = 1000.0


def snap(i: int, req: tuple[int, int] | None = None, tok: tuple[int, int] | None = None,
         **kw: Any) -> ModelSnapshot:
    rl = None
    if req is not None or tok is not None:
        rl = RateLimitInfo(
            requests_remaining=req[0] if req else None, requests_limit=req[1] if req else None,
            tokens_remaining=tok[0] if tok else None, tokens_limit=tok[1] if tok else None,
        )
    return ModelSnapshot(model_id=f"p{i}.m{i}", provider_id=f"p{i}", pool_index=i,
                         rate_limits=rl, **kw)


def sreq(seq: int = 1, attempt: int = 0, seed: int = 11, **sel: Any) -> SelectionRequest:
    pool = PoolConfig(name="chat", selection=replace(SelectionConfig(), **sel))
    return SelectionRequest(
        pool=pool, features=RequestFeatures(), session_id=None, now_mono=NOW, now_wall=1.7e9,
        seed=seed, request_seq=seq, attempt_index=attempt,
    )


def pick(strategy: str, cands: list[ModelSnapshot], req: SelectionRequest) -> str:
    strat = get_strategy(strategy, req.pool.selection)
    return strat.select(cands, req, StrategyState(), [c.model_id for c in cands]).model_id


# ---- rate-limit-aware ------------------------------------------------------------


def test_r53_rate_limit_aware_first_under_threshold() -> None:
    cands = [snap(0, req=(10, 100)), snap(1, req=(50, 100)), snap(2, req=(90, 100))]
    assert pick("rate-limit-aware", cands, sreq()) == "p1.m1"  # usage .9, .5 (< .8)
    assert pick("rate-limit-aware", cands, sreq(rate_limit_threshold=0.95)) == "p0.m0"


def test_r53_rate_limit_aware_tokens_when_no_request_data() -> None:
    cands = [snap(0, tok=(1000, 100000)), snap(1, tok=(90000, 100000))]
    assert pick("rate-limit-aware", cands, sreq()) == "p1.m1"


def test_r53_rate_limit_aware_falls_back_to_most_headroom() -> None:
    cands = [snap(0, req=(5, 100)), snap(1, req=(15, 100)), snap(2, req=(15, 100))]
    assert pick("rate-limit-aware", cands, sreq()) == "p1.m1"  # ties by pool order


def test_r55_rate_limit_aware_local_counting_against_max_rpm() -> None:
    cands = [snap(0, recent_requests_60s=5), snap(1, recent_requests_60s=1)]
    assert pick("rate-limit-aware", cands, sreq(rate_limit_max_rpm=5)) == "p1.m1"
    # max_rpm 6: 5/6 of the local budget used >= threshold 0.8
    assert pick("rate-limit-aware", cands, sreq(rate_limit_max_rpm=6)) == "p1.m1"
    assert pick("rate-limit-aware", cands, sreq(rate_limit_max_rpm=10)) == "p0.m0"
    # without max_rpm and headers, nobody has rate data: first candidate
    assert pick("rate-limit-aware", cands, sreq()) == "p0.m0"


def test_r53_rate_limit_aware_min_delta() -> None:
    cands = [snap(0, last_request_mono=NOW - 0.5), snap(1, last_request_mono=NOW - 2.0)]
    assert pick("rate-limit-aware", cands, sreq(rate_limit_min_delta_s=1.0)) == "p1.m1"
    assert pick("rate-limit-aware", cands, sreq(rate_limit_min_delta_s=0.0)) == "p0.m0"


def test_r53_rate_limit_aware_headroom_score() -> None:
    strat = get_strategy("rate-limit-aware", SelectionConfig())
    assert strat.score(snap(0, req=(25, 100)), sreq()) == 0.25
    assert strat.score(snap(0), sreq()) == 1.0


# ---- load-balanced ---------------------------------------------------------------


def draws(cands: list[ModelSnapshot], n: int, **sel: Any) -> Counter[str]:
    return Counter(pick("load-balanced", cands, sreq(seq, **sel)) for seq in range(n))


def test_r53_load_balanced_relative_weights() -> None:
    cands = [snap(0, req=(75, 100)), snap(1, req=(25, 100))]
    counts = draws(cands, 2000)
    assert 0.70 < counts["p0.m0"] / 2000 < 0.80


def test_r53_load_balanced_absolute_weights() -> None:
    # relative weights are equal (0.5 each); absolute ones are 900:100
    cands = [snap(0, req=(900, 1800)), snap(1, req=(100, 200))]
    rel = draws(cands, 2000)
    ab = draws(cands, 2000, balance_mode="absolute")
    assert 0.45 < rel["p0.m0"] / 2000 < 0.55
    assert 0.86 < ab["p0.m0"] / 2000 < 0.94


def test_r53_load_balanced_zero_weight_never_chosen_and_all_zero_first() -> None:
    cands = [snap(0, req=(0, 100)), snap(1, req=(40, 100))]
    assert set(draws(cands, 200)) == {"p1.m1"}
    zero = [snap(0, req=(0, 100)), snap(1, req=(0, 100))]
    assert set(draws(zero, 50)) == {"p0.m0"}


def test_r53_load_balanced_unknown_weight_is_median_of_known() -> None:
    strat = get_strategy("load-balanced", SelectionConfig())
    cands = [snap(0), snap(1, req=(20, 100)), snap(2, req=(60, 100))]
    assert strat.scores(cands, sreq()) == pytest.approx([0.4, 0.2, 0.6])
    assert strat.scores([snap(0), snap(1)], sreq()) == [1.0, 1.0]


def test_r53_load_balanced_no_rate_data_is_uniform() -> None:
    counts = draws([snap(0), snap(1), snap(2)], 3000)
    assert all(800 < counts[f"p{i}.m{i}"] < 1200 for i in range(3))


def test_r53_load_balanced_is_seeded_and_derived() -> None:
    """Same seed/request/attempt -> same draw; the draw depends on them."""
    cands = [snap(i) for i in range(4)]
    a = [pick("load-balanced", cands, sreq(seq)) for seq in range(30)]
    b = [pick("load-balanced", cands, sreq(seq)) for seq in range(30)]
    assert a == b
    assert len(set(a)) > 1
    c = [pick("load-balanced", cands, sreq(seq, seed=12)) for seq in range(30)]
    assert c != a
    d = [pick("load-balanced", cands, sreq(seq, attempt=1)) for seq in range(30)]
    assert d != a
