"""Metric-ranked strategies of SPEC R-53: cost-first and latency-first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from meshcore.config.schema import PoolConfig, Pricing, SelectionConfig
from meshcore.router.policy import ModelSnapshot, SelectionRequest, StrategyState
from meshcore.router.strategies import LOWEST_SCORE, get_strategy
from meshcore.types import RequestFeatures


def snap(i: int, **kw: Any) -> ModelSnapshot:
    return ModelSnapshot(model_id=f"p{i}.m{i}", provider_id=f"p{i}", pool_index=i, **kw)


def sreq(features: RequestFeatures | None = None, **sel: Any) -> SelectionRequest:
    pool = PoolConfig(name="chat", selection=replace(SelectionConfig(), **sel))
    return SelectionRequest(
        pool=pool, features=features or RequestFeatures(prompt_tokens=1000), session_id=None,
        now_mono=5.0, now_wall=1.7e9, seed=1, request_seq=1,
    )


def pick(strategy: str, cands: list[ModelSnapshot], req: SelectionRequest) -> str:
    strat = get_strategy(strategy, req.pool.selection)
    return strat.select(cands, req, StrategyState(), [c.model_id for c in cands]).model_id


# ---- cost-first ---------------------------------------------------------------


def test_r53_cost_first_price_basis_uses_expected_output_ratio() -> None:
    """P=1000, O=P*ratio. m0: 1000*3 + 1000*15 = 18000e-6; m1: 1000*10 + 1000*5 = 15000e-6."""
    cands = [snap(0, pricing=Pricing(3.0, 15.0)), snap(1, pricing=Pricing(10.0, 5.0))]
    assert pick("cost-first", cands, sreq()) == "p1.m1"
    # ratio 0.1: m0 = 3000+1500 = 4500, m1 = 10000+500 = 10500
    assert pick("cost-first", cands, sreq(expected_output_ratio=0.1)) == "p0.m0"
    strat = get_strategy("cost-first", SelectionConfig())
    assert strat.score(cands[1], sreq()) == pytest.approx(-0.015)


def test_r53_cost_first_max_tokens_overrides_ratio() -> None:
    cands = [snap(0, pricing=Pricing(3.0, 15.0)), snap(1, pricing=Pricing(10.0, 5.0))]
    feats = RequestFeatures(prompt_tokens=1000, max_tokens=10)
    # m0 = 3000 + 150, m1 = 10000 + 50
    assert pick("cost-first", cands, sreq(feats)) == "p0.m0"


def test_r53_cost_first_per_request_price_counts() -> None:
    cands = [snap(0, pricing=Pricing(1.0, 1.0, per_request=0.01)), snap(1, pricing=Pricing(2.0, 2.0))]
    assert pick("cost-first", cands, sreq()) == "p1.m1"


def test_r53_cost_first_unpriced_rank_last_and_ties_by_pool_order() -> None:
    cands = [snap(0), snap(1, pricing=Pricing(100.0, 100.0)), snap(2, pricing=Pricing(100.0, 100.0))]
    assert pick("cost-first", cands, sreq()) == "p1.m1"
    strat = get_strategy("cost-first", SelectionConfig())
    assert strat.score(cands[0], sreq()) == LOWEST_SCORE
    assert pick("cost-first", [snap(0), snap(1)], sreq()) == "p0.m0"


def test_r53_cost_first_spend_basis() -> None:
    cands = [
        snap(0, pricing=Pricing(1.0, 1.0), spend_period=2.5),
        snap(1, pricing=Pricing(9.0, 9.0), spend_period=0.4),
        snap(2, spend_period=0.0),  # unpriced: last even with no spend
    ]
    assert pick("cost-first", cands, sreq(cost_basis="spend")) == "p1.m1"


# ---- latency-first ------------------------------------------------------------


def test_r53_latency_first_lowest_mean() -> None:
    cands = [snap(0, latency_mean_ms=300.0), snap(1, latency_mean_ms=120.0), snap(2, latency_mean_ms=500.0)]
    assert pick("latency-first", cands, sreq()) == "p1.m1"


def test_r53_latency_first_unknown_scores_median_of_known() -> None:
    strat = get_strategy("latency-first", SelectionConfig())
    cands = [snap(0), snap(1, latency_mean_ms=100.0), snap(2, latency_mean_ms=500.0)]
    assert strat.scores(cands, sreq()) == [-300.0, -100.0, -500.0]
    assert pick("latency-first", cands, sreq()) == "p1.m1"
    # the median (300) beats a slower known model; ties go to pool order
    cands = [snap(0, latency_mean_ms=400.0), snap(1), snap(2, latency_mean_ms=200.0)]
    assert strat.scores(cands, sreq())[1] == -300.0
    scores = strat.scores(cands, sreq())
    assert scores[2] > scores[1] > scores[0]
    assert pick("latency-first", cands, sreq()) == "p2.m2"
    assert pick("latency-first", [snap(0), snap(1, latency_mean_ms=300.0)], sreq()) == "p0.m0"


def test_r53_latency_first_no_history_is_pool_order() -> None:
    assert pick("latency-first", [snap(0), snap(1), snap(2)], sreq()) == "p0.m0"
    cands = [snap(0, latency_mean_ms=50.0), snap(1, latency_mean_ms=50.0)]
    assert pick("latency-first", cands, sreq()) == "p0.m0"
