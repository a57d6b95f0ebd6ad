"""SPEC sections 6 and 7 (budgets, usage, streaming) requirements not covered
by test_router_lifecycle.py: R-57 .. R-69."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore import load_config
from meshcore.actions import CancelAttempt, Commit, Deliver, Fail, SendAttempt
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    RequestSubmitted,
    Tick,
)
from meshcore.router.router import Router
from meshcore.testing import Simulator, simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures, Usage

WALL0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
FEATS = RequestFeatures(prompt_tokens=100, max_tokens=100)


def at(t: float, day: int = 0) -> Instant:
    return Instant(t + day * 86400.0, WALL0 + t + day * 86400.0)


def priced(models: list[str], price: float = 10.0, **pool: Any) -> dict[str, Any]:
    pool.setdefault("retry", {"max_attempts": 1})
    cfg = simple_config(models, **pool)
    for m in cfg["models"].values():
        m["pricing"] = {"input_per_1m": price, "output_per_1m": 2 * price, "per_request": 0.001}
    return cfg


def one(actions: list[Any], kind: type) -> Any:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, actions
    return found[0]


# ---- R-57 cost ---------------------------------------------------------------------------


def test_r57_cost_formula() -> None:
    r = Router(load_config(priced(["a"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    d = one(r.handle(AttemptSucceeded(s.attempt_id, Usage(1000, 500)), at(1)), Deliver)
    assert d.cost == pytest.approx(1000 * 10 / 1e6 + 500 * 20 / 1e6 + 0.001)


# ---- budgets ---------------------------------------------------------


def test_r58_failed_attempts_with_usage_count_toward_spend() -> None:
    cfg = priced(["a", "b"])
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 10.0}
    r = Router(load_config(cfg), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 500, usage=Usage(100, 50)),
             at(1))
    used = r.usage()["budget_status"]["pa"]["daily"]["used"]
    assert used == pytest.approx(100 * 10 / 1e6 + 50 * 20 / 1e6 + 0.001)


def test_r59_concurrent_reservations_count_against_each_other() -> None:
    cfg = priced(["a"])
    est = 100 * 10 / 1e6 + 100 * 20 / 1e6 + 0.001
    cfg["providers"]["pa"]["budget"] = {"daily_limit": est * 1.5}
    r = Router(load_config(cfg), seed=1)
    s1 = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    f = one(r.handle(RequestSubmitted("r2", "chat", FEATS), at(1)), Fail)
    assert f.failure.reason == "budget_exceeded"
    assert f.failure.details["actual_value"] == pytest.approx(2 * est)
    assert f.failure.details["limit_type"] == "daily"
    # settling the first (with little actual usage) frees room for another
    r.handle(AttemptSucceeded(s1.attempt_id, Usage(1, 1)), at(2))
    one(r.handle(RequestSubmitted("r3", "chat", FEATS), at(3)), SendAttempt)


def test_r59_estimate_falls_back_to_max_output_tokens_then_4096() -> None:
    cfg = priced(["a"], price=1.0)
    cfg["models"]["pa.a"]["pricing"]["per_request"] = 0.0
    # 10 prompt + 4096 output tokens at $1/$2 per 1M = 0.00820200 > 0.008
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 0.008}
    r = Router(load_config(cfg), seed=1)
    f = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(prompt_tokens=10)), at(0)),
            Fail)
    assert f.failure.details["actual_value"] == pytest.approx((10 + 2 * 4096) / 1e6)
    cfg["models"]["pa.a"]["constraints"] = {"max_output_tokens": 100}
    r2 = Router(load_config(cfg), seed=1)
    one(r2.handle(RequestSubmitted("r1", "chat", RequestFeatures(prompt_tokens=10)), at(0)),
        SendAttempt)


def test_r60_settle_estimates_missing_usage_from_text() -> None:
    r = Router(load_config(priced(["a"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    d = one(r.handle(AttemptSucceeded(s.attempt_id, None, output_chars=40), at(1)), Deliver)
    assert d.usage is not None and d.usage.estimated
    assert (d.usage.prompt_tokens, d.usage.completion_tokens) == (100, 10)


# ---- R-61 periods, R-62 error / rotate ----------------------------------------------------


def test_r61_daily_spend_resets_at_the_next_utc_day() -> None:
    cfg = priced(["a"])
    est = 100 * 10 / 1e6 + 100 * 20 / 1e6 + 0.001
    cfg["providers"]["pa"]["budget"] = {"daily_limit": est * 1.2}
    r = Router(load_config(cfg), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    r.handle(AttemptSucceeded(s.attempt_id, Usage(100, 100)), at(1))
    assert one(r.handle(RequestSubmitted("r2", "chat", FEATS), at(2)), Fail)
    one(r.handle(RequestSubmitted("r3", "chat", FEATS), at(2, day=1)), SendAttempt)
    assert r.usage()["budget_status"]["pa"]["daily"]["period"] == "2026-09-22"


def test_r62_rotate_puts_the_provider_models_in_standby() -> None:
    cfg = priced(["a", "b"], on_budget_exceeded="rotate")
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 0.0001}
    r = Router(load_config(cfg), seed=1)
    acts = r.handle(RequestSubmitted("r1", "chat", FEATS), at(0))
    assert one(acts, SendAttempt).model_id == "pb.b"
    m = r.models["pa.a"]
    assert m.status.value == "standby" and "budget_exceeded" in [x.value for x in m.reasons]
    assert m.failure_count == 0  # never a model failure
    r.handle(Tick(), at(0, day=1))
    assert r.models["pa.a"].status.value == "active"


# ---- R-63 token_limit chaining, R-64 usage totals -----------------------------------------


def test_r63_token_limit_chaining() -> None:
    cfg = simple_config(["a", "b"], deactivation={"token_limit": {"pa.a": 30}},
                        recovery={"quota_reset_schedule": "daily"})
    sim = Simulator(cfg, seed=1)  # every scripted success uses 15 tokens
    for i in range(4):
        sim.submit("chat", at=float(i))
    trace = sim.run(until=100.0)
    assert [trace.served_by()[f"req-{i}"] for i in range(1, 5)] == ["pa.a", "pa.a", "pb.b",
                                                                    "pb.b"]


def test_r64_usage_totals() -> None:
    r = Router(load_config(priced(["a", "b"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0)), SendAttempt)
    acts = r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 500,
                                  usage=Usage(7, 3)), at(1))
    s2 = one(acts, SendAttempt)
    d = one(r.handle(AttemptSucceeded(s2.attempt_id, Usage(100, 50)), at(2)), Deliver)
    u = r.usage()
    assert u["total_requests"] == 1
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (107, 53, 160)
    failed_cost = 7 * 10 / 1e6 + 3 * 20 / 1e6 + 0.001
    assert u["total_cost"] == pytest.approx(d.cost + failed_cost)
    assert u["by_model"]["pa.a"] == {"requests": 0, "tokens": 10,
                                     "cost": pytest.approx(failed_cost)}
    assert u["by_model"]["pb.b"]["requests"] == 1
    assert u["budget_status"] is None


# ---- R-65 .. R-69 streaming ---------------------------------------------------------------


def test_r65_commit_at_first_content_chunk_only_once() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True)), at(0)),
            SendAttempt)
    c = one(r.handle(AttemptFirstChunk(s.attempt_id, 120.0), at(0.1)), Commit)
    assert (c.request_id, c.attempt_id, c.model_id) == ("r1", s.attempt_id, "pa.a")
    assert c.response_id == s.response_id
    assert not r.handle(AttemptFirstChunk(s.attempt_id, 130.0), at(0.2))  # once
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(5, 5), 300.0, 120.0), at(0.3))
    assert not [a for a in acts if isinstance(a, Commit)]
    one(acts, Deliver)


def test_r66_pre_commit_ttft_timeout_fails_over() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True)), at(0)),
            SendAttempt)
    s2 = one(r.handle(AttemptFailed(s.attempt_id, FailureKind.TTFT_TIMEOUT), at(30)),
             SendAttempt)
    assert s2.model_id == "pb.b"
    assert r.models["pa.a"].failure_count == 1  # ttft_timeout counts


@pytest.mark.parametrize("kind", [FailureKind.CONNECTION, FailureKind.STREAM_GAP,
                                  FailureKind.STREAM_INCOMPLETE, FailureKind.STREAM_ERROR])
def test_r68_r69_failure_after_commit_is_final_counted_and_settled(kind: FailureKind) -> None:
    cfg = priced(["a", "b"], retry={"max_attempts": 3})
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 10.0}
    r = Router(load_config(cfg), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True,
                                                                    prompt_tokens=100)),
                     at(0)), SendAttempt)
    r.handle(AttemptFirstChunk(s.attempt_id), at(0.1))
    acts = r.handle(AttemptFailed(s.attempt_id, kind, 200, output_chars=80), at(1.0))
    f = one(acts, Fail)
    assert f.failure.reason == "stream_interrupted"
    assert f.failure.attempts[-1].outcome.value == "stream_interrupted"
    assert not [a for a in acts if isinstance(a, SendAttempt)]  # no retry, no rotation
    assert r.models["pa.a"].failure_count == 1
    # the tokens actually received are settled: 100 prompt (estimate) + 80/4 completion
    used = r.usage()["budget_status"]["pa"]["daily"]["used"]
    assert used == pytest.approx(100 * 10 / 1e6 + 20 * 20 / 1e6 + 0.001)


def test_r68_deadline_after_commit_is_an_interruption() -> None:
    r = Router(load_config(simple_config(["a"], deadline="5s")), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True)), at(0)),
            SendAttempt)
    r.handle(AttemptFirstChunk(s.attempt_id), at(1.0))
    acts = r.handle(Tick(), at(5.0))
    assert one(acts, CancelAttempt).attempt_id == s.attempt_id
    assert one(acts, Fail).failure.reason == "stream_interrupted"
    assert r.models["pa.a"].failure_count == 1


def test_r69_stream_latency_and_ttft_are_recorded() -> None:
    r = Router(load_config(simple_config(["a"])), seed=1)
    s = one(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True)), at(0)),
            SendAttempt)
    r.handle(AttemptFirstChunk(s.attempt_id, 150.0), at(0.15))
    r.handle(AttemptSucceeded(s.attempt_id, Usage(5, 5), 900.0, 150.0), at(0.9))
    m = r.models["pa.a"]
    assert list(m.latencies) == [900.0] and list(m.ttfts) == [150.0]
    assert r.usage()["by_model"]["pa.a"]["tokens"] == 10


def test_r118a_r68_reload_removing_the_model_of_a_committed_stream_interrupts_it() -> None:
    """A reload that removes the model a stream is committed to cancels the
    attempt and ends the request as interrupted: no rotation to another model
    after content was delivered (R-65, R-68). Before commit it rotates on."""
    from meshcore.events import AttemptFirstChunk, ConfigChanged

    data = simple_config(["a", "b"])
    smaller = simple_config(["b"])
    for committed in (True, False):
        r = Router(load_config(data), seed=1)
        now = Instant(1.0, 1_790_000_000.0)
        acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True)), now)
        send = next(a for a in acts if isinstance(a, SendAttempt))
        assert send.model_id == "pa.a"
        if committed:
            acts = r.handle(AttemptFirstChunk(send.attempt_id, 5.0), now)
            assert any(isinstance(a, Commit) for a in acts)
        acts = r.handle(ConfigChanged(smaller), Instant(2.0, 1_790_000_001.0))
        assert any(isinstance(a, CancelAttempt) and a.attempt_id == send.attempt_id
                   for a in acts)
        sends = [a for a in acts if isinstance(a, SendAttempt)]
        fails = [a for a in acts if isinstance(a, Fail)]
        if committed:
            assert sends == [] and len(fails) == 1
            assert fails[0].failure.reason == "stream_interrupted"
            assert [x.model_id for x in fails[0].failure.attempts] == ["pa.a"]
        else:
            assert fails == [] and [s.model_id for s in sends] == ["pb.b"]
