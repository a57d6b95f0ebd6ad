"""Router lifecycle tests, driven through the simulator with virtual time."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore import (
    Deliver,
    Emit,
    Fail,
    Instant,
    OperatorCommand,
    RequestFeatures,
    RequestSubmitted,
    Router,
    RoutingEvent,
    SendAttempt,
    load_config,
)
from meshcore.testing import ScriptedProviders, Simulator, simple_config


def events(trace: Any, kind: str) -> list[RoutingEvent]:
    return [a.record for a in trace.actions(Emit)
            if isinstance(a.record, RoutingEvent) and a.record.event_type == kind]


def sends(trace: Any) -> list[SendAttempt]:
    return list(trace.actions(SendAttempt))


def test_r34_server_error_retries_then_rotates() -> None:
    cfg = simple_config(retry={"max_attempts": 2, "backoff": "fixed", "initial_delay": "1s"},
                        deactivation={"retry_limit": 5})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Deliver) and res.model_id == "pb.b"
    assert [s.model_id for s in sends(trace)] == ["pa.a", "pa.a", "pb.b"]
    assert [a.outcome.value for a in res.attempts] == ["server_error", "server_error", "success"]
    rotated = events(trace, "model_rotated")
    assert rotated and rotated[-1].metadata["to_model"] == "pb.b"


def test_r38_retry_after_is_honoured() -> None:
    cfg = simple_config(retry={"max_attempts": 2, "backoff": "fixed", "initial_delay": "100ms"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "429 with retry-after 3, then 200"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    times = [now.mono for now, _, acts in trace.steps for a in acts if isinstance(a, SendAttempt)]
    assert len(times) == 2 and times[1] - times[0] >= 3.0
    assert isinstance(trace.results[rid], Deliver) and trace.results[rid].model_id == "pa.a"


def test_r34_non_retryable_rotates_at_once() -> None:
    sim = Simulator(simple_config(), ScriptedProviders({"pa.a": "400"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert [s.model_id for s in sends(trace)] == ["pa.a", "pb.b"]
    assert isinstance(trace.results[rid], Deliver)


def test_r31_deadline_cancels_and_fails() -> None:
    cfg = simple_config(models=["a"], deadline="5s")
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "silent"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "deadline_exceeded"
    assert trace.steps[-1][0].mono == pytest.approx(5.0)


def test_r44_r47_deactivation_cooldown_half_open_recovery() -> None:
    cfg = simple_config(models=["a", "b"], retry={"max_attempts": 1},
                        deactivation={"retry_limit": 2}, recovery={"cooldown": "30s"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "503, 503, 200"}), seed=1)
    for i in range(3):
        sim.submit("chat", at=float(i))
    sim.submit("chat", at=40.0)
    trace = sim.run()
    deact = events(trace, "model_deactivated")
    assert deact and deact[0].model_id == "pa.a" and deact[0].metadata["reason"] == "error_threshold"
    act = events(trace, "model_activated")
    assert [e.metadata["status"] for e in act] == ["half_open"]
    # stick-until-failure: the recovered model does not take traffic back
    assert trace.served_by()["req-4"] == "pb.b"


def test_r49_half_open_trial_success_returns_to_active() -> None:
    cfg = simple_config(models=["a"], retry={"max_attempts": 1},
                        deactivation={"retry_limit": 1}, recovery={"cooldown": "10s"},
                        on_all_standby="fail_fast")
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500, 200"}), seed=1)
    sim.submit("chat", at=0.0)
    sim.submit("chat", at=5.0)
    sim.submit("chat", at=11.0)
    trace = sim.run()
    assert isinstance(trace.results["req-1"], Fail)
    assert isinstance(trace.results["req-2"], Fail)
    assert trace.results["req-2"].failure.reason == "no_active_model"
    assert trace.served_by()["req-3"] == "pa.a"
    statuses = [e.metadata["status"] for e in events(trace, "model_activated")]
    assert statuses == ["half_open", "active"]


def test_r53_round_robin_order_skips_standby() -> None:
    sim = Simulator(simple_config(strategy="round-robin"), seed=1)
    for i in range(4):
        sim.submit("chat", at=float(i))
    trace = sim.run()
    assert [trace.served_by()[f"req-{i}"] for i in range(1, 5)] == ["pa.a", "pb.b", "pc.c", "pa.a"]
    sim2 = Simulator(simple_config(strategy="round-robin"), seed=1)
    sim2.inject(OperatorCommand("deactivate", "pb.b"), at=0.0)
    for i in range(4):
        sim2.submit("chat", at=1.0 + i)
    t2 = sim2.run()
    assert [t2.served_by()[f"req-{i}"] for i in range(1, 5)] == ["pa.a", "pc.c", "pa.a", "pc.c"]


def test_r56_fail_fast_names_earliest_recovery() -> None:
    cfg = simple_config(models=["a"], retry={"max_attempts": 1},
                        deactivation={"retry_limit": 1}, recovery={"cooldown": "60s"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500"}), seed=1)
    sim.submit("chat", at=0.0)
    sim.submit("chat", at=1.0)
    trace = sim.run(until=2.0)
    res = trace.results["req-2"]
    assert isinstance(res, Fail) and res.failure.reason == "no_active_model"
    assert res.failure.details["earliest_recovery_at"] is not None
    assert events(trace, "pool_exhausted")


def test_r56_wait_continues_after_cooldown() -> None:
    cfg = simple_config(models=["a"], retry={"max_attempts": 1}, on_all_standby="wait",
                        deactivation={"retry_limit": 1}, recovery={"cooldown": "10s"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500, 200"}), seed=1)
    sim.submit("chat", at=0.0)
    sim.submit("chat", at=1.0)
    trace = sim.run()
    assert trace.served_by()["req-2"] == "pa.a"


def test_r52_auth_failure_deactivates_provider_and_rotates() -> None:
    sim = Simulator(simple_config(), ScriptedProviders({"pa.a": "401"}), seed=1)
    rid = sim.submit("chat")
    trace = sim.run()
    assert trace.served_by()[rid] == "pb.b"
    ev = events(trace, "provider_deactivated")
    assert ev and ev[0].provider_id == "pa" and ev[0].metadata["reason"] == "auth_failure"


def test_r65_r68_stream_cut_after_commit_is_interrupted() -> None:
    sim = Simulator(simple_config(), ScriptedProviders({"pa.a": "cut"}), seed=1)
    rid = sim.submit("chat", stream=True)
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "stream_interrupted"
    assert [s.model_id for s in sends(trace)] == ["pa.a"]


def test_r66_failure_before_commit_fails_over() -> None:
    sim = Simulator(simple_config(), ScriptedProviders({"pa.a": "503"}), seed=1)
    rid = sim.submit("chat", stream=True)
    trace = sim.run()
    assert trace.served_by()[rid] == "pb.b"


def test_r27_no_admissible_model() -> None:
    cfg = simple_config(models=["a"])
    cfg["models"]["pa.a"]["constraints"] = {"context_window": 100}
    sim = Simulator(cfg, seed=1)
    rid = sim.submit("chat", features=RequestFeatures(prompt_tokens=500))
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "no_admissible_model"
    assert not sends(trace)


def test_r28_unknown_pool_lists_close_matches() -> None:
    sim = Simulator(simple_config(), seed=1)
    rid = sim.submit("chaat")
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "unknown_pool"
    assert "chat" in res.failure.message


def test_r62_budget_breach_is_never_sent() -> None:
    cfg = simple_config(models=["a"])
    cfg["providers"]["pa"]["budget"] = {"daily_limit": 0.001}
    cfg["models"]["pa.a"]["pricing"] = {"input_per_1m": 10.0, "output_per_1m": 10.0}
    sim = Simulator(cfg, seed=1)
    rid = sim.submit("chat", features=RequestFeatures(prompt_tokens=1000, max_tokens=1000))
    trace = sim.run()
    res = trace.results[rid]
    assert isinstance(res, Fail) and res.failure.reason == "budget_exceeded"
    assert res.failure.details["limit_type"] == "daily"
    assert not sends(trace)


def test_r63_free_tier_chaining_request_limit() -> None:
    cfg = simple_config(models=["a", "b"], deactivation={"request_limit": {"pa.a": 3}},
                        recovery={"quota_reset_schedule": "daily"})
    sim = Simulator(cfg, seed=1)
    for i in range(5):
        sim.submit("chat", at=float(i))
    trace = sim.run(until=100.0)
    served = [trace.served_by()[f"req-{i}"] for i in range(1, 6)]
    assert served == ["pa.a", "pa.a", "pa.a", "pb.b", "pb.b"]


def test_r86_restore_keeps_remaining_cooldown() -> None:
    cfg = load_config(simple_config(models=["a", "b"], retry={"max_attempts": 1},
                                    deactivation={"retry_limit": 1},
                                    recovery={"cooldown": "60s"}))
    r = Router(cfg, seed=3)
    t0 = Instant(100.0, 1_790_000_000.0)
    acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures()), t0)
    send = next(a for a in acts if isinstance(a, SendAttempt))
    from meshcore import AttemptFailed, FailureKind

    r.handle(AttemptFailed(send.attempt_id, FailureKind.HTTP_STATUS, 500), Instant(101.0, t0.wall + 1))
    snap = r.snapshot()
    # restart 20 s later (wall), with a fresh monotonic clock
    r2 = Router.restore(cfg, snap, seed=3, now=Instant(5.0, t0.wall + 21))
    assert r2.pool_status("chat")["models"][0]["status"] == "standby"
    deadline = r2.next_deadline()
    assert deadline is not None and deadline == pytest.approx(5.0 + 40.0, abs=0.01)
