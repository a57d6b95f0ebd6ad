"""SPEC section 4 (request lifecycle) requirements not covered by
test_router_lifecycle.py: R-29, R-30, R-32, R-35 .. R-39, R-41, R-42."""

from __future__ import annotations

import re
from typing import Any

import pytest

from meshcore import load_config
from meshcore.actions import CancelAttempt, Deliver, Emit, Fail, SendAttempt
from meshcore.events import (
    AttemptFailed,
    AttemptSucceeded,
    OperatorCommand,
    RequestCancelled,
    RequestSubmitted,
    Tick,
)
from meshcore.records import RoutingEvent
from meshcore.router.retry import backoff_wait, bounded_retry_after, max_attempts_on_model
from meshcore.router.router import Router
from meshcore.testing import ScriptedProviders, Simulator, simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures, Usage

WALL0 = 1_790_000_000.0


def at(t: float) -> Instant:
    return Instant(t, WALL0 + t)


def sends(actions: list[Any]) -> list[SendAttempt]:
    return [a for a in actions if isinstance(a, SendAttempt)]


def two_provider_config(**pool: Any) -> dict[str, Any]:
    """p1 serves m1 and m2, p2 serves m3; pool order m1, m3, m2."""
    providers = {p: {"connector": "openai.compatible.v1", "base_url": f"http://127.0.0.1:1/{p}"}
                 for p in ("p1", "p2")}
    models = {
        "p1.m1": {"provider": "p1", "name": "m1", "capabilities": ["chat-completion"]},
        "p2.m3": {"provider": "p2", "name": "m3", "capabilities": ["chat-completion"]},
        "p1.m2": {"provider": "p1", "name": "m2", "capabilities": ["chat-completion"]},
    }
    return {"providers": providers, "models": models,
            "pools": {"chat": {"models": ["p1.m1", "p2.m3", "p1.m2"], **pool}}}


# ---- R-29 pipeline order ---------------------------------------------------------------


def test_r29_admission_runs_before_the_state_filter() -> None:
    """An inadmissible pool fails with no_admissible_model even when its
    members are in standby; an admissible standby pool gets on_all_standby."""
    cfg = simple_config(["a"])
    cfg["models"]["pa.a"]["constraints"] = {"context_window": 100}
    sim = Simulator(cfg, seed=1)
    sim.inject(OperatorCommand("deactivate", "pa.a"), at=0.0)
    big = sim.submit("chat", at=1.0, features=RequestFeatures(prompt_tokens=500))
    small = sim.submit("chat", at=2.0, features=RequestFeatures(prompt_tokens=5))
    trace = sim.run()
    assert trace.results[big].failure.reason == "no_admissible_model"  # type: ignore[union-attr]
    assert trace.results[small].failure.reason == "no_active_model"  # type: ignore[union-attr]
    assert not trace.actions(SendAttempt)


def test_r29_selection_then_budget_then_attempt() -> None:
    """The budget pre-flight judges the model the strategy chose (stage 7
    after stage 6): with rotate, the chosen model is skipped, the next sent."""
    cfg = simple_config(["a", "b"], strategy="priority", model_priority=["pb.b"],
                        on_budget_exceeded="rotate",
                        deactivation={"budget_limit": {"pb.b": 0.000001}})
    for m in cfg["models"].values():
        m["pricing"] = {"input_per_1m": 1.0, "output_per_1m": 1.0}
    sim = Simulator(cfg, seed=1)
    rid = sim.submit("chat", features=RequestFeatures(prompt_tokens=100, max_tokens=100))
    trace = sim.run(until=10.0)
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["pa.a"]
    assert trace.served_by()[rid] == "pa.a"


# ---- R-30 estimate ------------------------------------------------------------------------


def test_r30_admission_uses_prompt_estimate_plus_max_tokens() -> None:
    cfg = simple_config(["a", "b"])
    cfg["models"]["pa.a"]["constraints"] = {"context_window": 100}
    sim = Simulator(cfg, seed=1)
    fits = sim.submit("chat", at=0.0, features=RequestFeatures(prompt_tokens=60))
    over = sim.submit("chat", at=1.0, features=RequestFeatures(prompt_tokens=60, max_tokens=50))
    trace = sim.run()
    assert trace.served_by()[fits] == "pa.a"
    assert trace.served_by()[over] == "pb.b"


# ---- R-32 timeouts capped by the deadline -------------------------------------------------


def test_r32_attempt_timeouts_are_capped_by_the_remaining_deadline() -> None:
    r = Router(load_config(simple_config(["a"])), seed=1)
    acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures(stream=True), 5.0), at(0.0))
    (s,) = sends(acts)
    assert s.timeout_s == pytest.approx(5.0)  # provider timeout 60 s, deadline 5 s
    assert s.first_chunk_timeout_s == pytest.approx(5.0)  # 30 s, capped
    assert s.deadline_mono == pytest.approx(5.0)
    acts = r.handle(RequestSubmitted("r2", "chat", RequestFeatures(stream=True)), at(1.0))
    (s2,) = sends(acts)
    assert s2.timeout_s == pytest.approx(60.0) and s2.first_chunk_timeout_s == pytest.approx(30.0)


def test_r32_retry_gets_only_what_is_left_of_the_deadline() -> None:
    cfg = simple_config(["a"], retry={"max_attempts": 3, "backoff": "fixed",
                                      "initial_delay": "1s"}, deadline="10s")
    r = Router(load_config(cfg), seed=1)
    (s,) = sends(r.handle(RequestSubmitted("r1", "chat"), at(0.0)))
    r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 503), at(4.0))
    (s2,) = sends(r.handle(Tick(), at(5.0)))
    assert s2.timeout_s == pytest.approx(5.0)


# ---- R-35 local rejections ---------------------------------------------------------------


def test_r35_local_rejections_never_count() -> None:
    cfg = simple_config(["a"], strategy="session-stickiness", affinity_mode="strict")
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 0.000001}
    cfg["models"]["pa.a"]["pricing"] = {"input_per_1m": 1.0, "output_per_1m": 1.0}
    cfg["models"]["pa.a"]["constraints"] = {"context_window": 50}
    r = Router(load_config(cfg), seed=1)
    reasons = []
    for i, feats in enumerate([RequestFeatures(prompt_tokens=10, max_tokens=10),  # budget
                               RequestFeatures(prompt_tokens=500)]):  # admission
        acts = r.handle(RequestSubmitted(f"r{i}", "chat", feats), at(float(i)))
        reasons += [a.failure.reason for a in acts if isinstance(a, Fail)]
    assert reasons == ["budget_exceeded", "no_admissible_model"]
    m = r.models["pa.a"]
    assert m.failure_count == 0 and not m.window and m.status.value == "active"


# ---- R-36 max_attempts capped by max_retries + 1 -----------------------------------------


def test_r36_max_attempts_capped_by_provider_max_retries() -> None:
    cfg = simple_config(["a", "b"], retry={"max_attempts": 5, "backoff": "fixed",
                                           "initial_delay": "10ms"},
                        deactivation={"retry_limit": 10})
    cfg["providers"]["pa"]["max_retries"] = 1
    c = load_config(cfg)
    assert max_attempts_on_model(c.pools["chat"], c.providers["pa"]) == 2
    assert max_attempts_on_model(c.pools["chat"], c.providers["pb"]) == 4  # default 3 + 1
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "503"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["pa.a", "pa.a", "pb.b"]
    assert trace.served_by()[rid] == "pb.b"


# ---- R-37 backoff formulas ------------------------------------------------------------------


def pool_with(**retry: Any) -> Any:
    return load_config(simple_config(["a"], retry=retry)).pools["chat"]


def test_r37_fixed_waits_min_of_delay_and_cap() -> None:
    assert backoff_wait(pool_with(backoff="fixed", initial_delay="2s"), 3, None, 1, 1, "m") == 2.0
    p = pool_with(backoff="fixed", initial_delay="20s", max_delay="5s")
    assert backoff_wait(p, 1, None, 1, 1, "m") == 5.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_r37_exponential_jitter_bounds_and_seeding(n: int) -> None:
    p = pool_with(backoff="exponential_jitter", initial_delay="500ms", max_delay="3s")
    hi = min(3.0, 0.5 * 2 ** (n - 1))
    draws = [backoff_wait(p, n, None, seed, 7, "pa.a") for seed in range(200)]
    assert all(0.0 <= d <= hi for d in draws)
    assert max(draws) > 0.8 * hi and min(draws) < 0.2 * hi  # full jitter, not a constant
    again = [backoff_wait(p, n, None, seed, 7, "pa.a") for seed in range(200)]
    assert draws == again  # seeded


def test_r37_retry_after_formula_and_honor() -> None:
    p = pool_with(backoff="retry_after", initial_delay="500ms", max_delay="3s",
                  honor_retry_after=False)
    assert backoff_wait(p, 1, 7.0, 1, 1, "m") == 7.0
    assert 0.0 <= backoff_wait(p, 1, None, 1, 1, "m") <= 0.5
    honor = pool_with(backoff="fixed", initial_delay="1s", honor_retry_after=True)
    assert backoff_wait(honor, 1, 4.0, 1, 1, "m") == 4.0
    assert backoff_wait(honor, 1, 0.2, 1, 1, "m") == 1.0
    no = pool_with(backoff="fixed", initial_delay="1s", honor_retry_after=False)
    assert backoff_wait(no, 1, 4.0, 1, 1, "m") == 1.0


def test_r31_r37_wait_past_the_deadline_rotates_instead() -> None:
    cfg = simple_config(["a", "b"], retry={"max_attempts": 3, "backoff": "fixed",
                                           "initial_delay": "1s"}, deadline="20s")
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "429 with retry-after 8"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    # waits of 8 s (Retry-After beats the 1 s formula) end before the 20 s deadline
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["pa.a"] * 3 + ["pb.b"]
    assert trace.served_by()[rid] == "pb.b"
    sim2 = Simulator(simple_config(["a", "b"], retry={"max_attempts": 3, "backoff": "fixed",
                                                      "initial_delay": "1s"}, deadline="5s"),
                     ScriptedProviders({"pa.a": "429 with retry-after 8"}), seed=1)
    rid2 = sim2.submit("chat")
    t2 = sim2.run()
    assert [s.model_id for s in t2.actions(SendAttempt)] == ["pa.a", "pb.b"]
    assert t2.served_by()[rid2] == "pb.b"


# ---- R-38 Retry-After bound -----------------------------------------------------------------


def test_r38_retry_after_is_bounded() -> None:
    p = pool_with(max_retry_after="20s")
    assert bounded_retry_after(1000.0, p) == 20.0
    assert bounded_retry_after(-5.0, p) == 0.0
    assert bounded_retry_after(None, p) is None
    cfg = simple_config(["a", "b"], retry={"max_retry_after": "20s"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "429 with retry-after 1000"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run(until=5.0)
    res = trace.results[rid]
    assert isinstance(res, Deliver)
    assert res.attempts[0].retry_after_s == 20.0


# ---- R-39 scopes ---------------------------------------------------------------------------


def test_r39_scope_same_provider_prefers_an_untried_model_of_that_provider() -> None:
    sim = Simulator(two_provider_config(retry={"scope": "same_provider"}),
                    ScriptedProviders({"p1.m1": "503"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["p1.m1", "p1.m2"]
    assert trace.served_by()[rid] == "p1.m2"


def test_r39_scope_any_rotates_without_same_model_retry() -> None:
    sim = Simulator(two_provider_config(retry={"scope": "any", "max_attempts": 3}),
                    ScriptedProviders({"p1.m1": "503"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["p1.m1", "p2.m3"]
    assert trace.served_by()[rid] == "p2.m3"
    rotated = [a.record for a in trace.actions(Emit) if isinstance(a.record, RoutingEvent)
               and a.record.event_type == "model_rotated"]
    assert rotated[0].metadata == {"from_model": "p1.m1", "to_model": "p2.m3",
                                   "reason": "server_error"}


def test_r39_exhausted_model_is_not_selected_again() -> None:
    sim = Simulator(simple_config(["a", "b"], retry={"max_attempts": 1}),
                    ScriptedProviders({"pa.a": "500", "pb.b": "500"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert [s.model_id for s in trace.actions(SendAttempt)] == ["pa.a", "pb.b"]
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "exhausted"


# ---- R-41 response ids ----------------------------------------------------------------------


def test_r41_response_id_format_and_derivation() -> None:
    def ids(seed: int) -> list[str]:
        r = Router(load_config(simple_config(["a", "b"], retry={"max_attempts": 1})), seed=seed)
        out = []
        for i in range(3):
            (s,) = sends(r.handle(RequestSubmitted(f"r{i}", "chat"), at(float(i))))
            out.append(s.response_id)
            acts = r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 503),
                            at(i + 0.1))
            (s2,) = sends(acts)
            assert s2.response_id == s.response_id  # every attempt of a request
            d = r.handle(AttemptSucceeded(s2.attempt_id), at(i + 0.2))
            assert [a.response_id for a in d if isinstance(a, Deliver)] == [s.response_id]
        return out

    first = ids(5)
    assert all(re.fullmatch(r"chatcmpl-[0-9a-f]{24}", x) for x in first)
    assert len(set(first)) == 3
    assert ids(5) == first
    assert ids(6) != first


# ---- R-42 cancellation -----------------------------------------------------------------------


def test_r42_cancellation_leaves_health_unchanged() -> None:
    cfg = simple_config(["a"], deactivation={"retry_limit": 1})
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 1.0}
    cfg["models"]["pa.a"]["pricing"] = {"input_per_1m": 1000.0, "output_per_1m": 1000.0}
    r = Router(load_config(cfg), seed=1)
    (s,) = sends(r.handle(RequestSubmitted("r1", "chat", RequestFeatures(prompt_tokens=10,
                                                                         max_tokens=10)),
                          at(0.0)))
    before = (r.models["pa.a"].status, r.models["pa.a"].failure_count)
    acts = r.handle(RequestCancelled("r1", Usage(10, 4)), at(1.0))
    assert any(isinstance(a, CancelAttempt) and a.attempt_id == s.attempt_id for a in acts)
    fails = [a for a in acts if isinstance(a, Fail)]
    assert len(fails) == 1 and fails[0].failure.reason == "cancelled"
    assert not sends(acts)
    assert (r.models["pa.a"].status, r.models["pa.a"].failure_count) == before
    assert not r.models["pa.a"].window
    # the reservation is settled with the usage received so far
    used = r.usage()["budget_status"]["pa"]["daily"]["used"]
    assert used == pytest.approx((10 + 4) * 1000.0 / 1e6)
    # a late fact about the cancelled attempt is ignored
    late = r.handle(AttemptFailed(s.attempt_id, FailureKind.TIMEOUT), at(2.0))
    assert not [a for a in late if isinstance(a, (SendAttempt, Fail, Deliver))]
    assert r.models["pa.a"].failure_count == 0
