"""SPEC section 5 (rotation policy) requirements not covered by
test_router_lifecycle.py: R-44 .. R-53, R-56."""

from __future__ import annotations

import calendar
from typing import Any

import pytest

from meshcore import load_config
from meshcore.actions import DeactivateModel, Emit, Fail, ReactivateModel, SendAttempt
from meshcore.events import (
    AttemptFailed,
    AttemptSucceeded,
    BackgroundProbes,
    OperatorCommand,
    RequestSubmitted,
    Tick,
)
from meshcore.records import RoutingEvent
from meshcore.router.router import Router
from meshcore.router.strategies import STRATEGY_IDS
from meshcore.testing import Simulator, simple_config
from meshcore.types import FailureKind, Instant, Purpose, RateLimitInfo, RequestFeatures, Usage

# 2026-09-21 02:58:00 UTC (a Monday)
WALL0 = calendar.timegm((2026, 9, 21, 2, 58, 0))


class Drive:
    """A router with a manual clock and helpers to answer attempts."""

    def __init__(self, cfg: dict[str, Any], seed: int = 1, wall0: float = WALL0) -> None:
        self.r = Router(load_config(cfg), seed)
        self.t = 0.0
        self.wall0 = wall0
        self.n = 0
        self.log: list[Any] = []

    def now(self) -> Instant:
        return Instant(self.t, self.wall0 + self.t)

    def handle(self, ev: Any, t: float | None = None) -> list[Any]:
        if t is not None:
            self.t = t
        acts = self.r.handle(ev, self.now())
        self.log.extend(acts)
        return acts

    def submit(self, t: float | None = None, **kw: Any) -> list[Any]:
        self.n += 1
        return self.handle(RequestSubmitted(f"r{self.n}", "chat", RequestFeatures(**kw)), t)

    def send(self, acts: list[Any]) -> SendAttempt:
        s = [a for a in acts if isinstance(a, SendAttempt)]
        assert len(s) == 1, acts
        return s[0]

    def ok(self, s: SendAttempt, **kw: Any) -> list[Any]:
        return self.handle(AttemptSucceeded(s.attempt_id, **kw))

    def fail(self, s: SendAttempt, status: int | None = 500,
             kind: FailureKind = FailureKind.HTTP_STATUS, **kw: Any) -> list[Any]:
        return self.handle(AttemptFailed(s.attempt_id, kind, status, **kw))

    def events(self, kind: str) -> list[RoutingEvent]:
        return [a.record for a in self.log if isinstance(a, Emit)
                and isinstance(a.record, RoutingEvent) and a.record.event_type == kind]

    def status(self, mid: str) -> str:
        return self.r.models[mid].status.value


# ---- R-44 ---------------------------------------------------------------------------------


def test_r44_error_rate_trigger() -> None:
    d = Drive(simple_config(["a", "b"], retry={"max_attempts": 1},
                            deactivation={"retry_limit": 10, "error_rate_threshold": 0.5,
                                          "error_rate_window": 4, "error_rate_min_samples": 4}))
    for i, good in enumerate([True, False, True]):
        s = d.send(d.submit(float(i)))
        assert s.model_id == "pa.a"
        if good:
            d.ok(s)
        else:
            d.ok(d.send(d.fail(s, 503)))  # rotated to b, which serves
    assert d.status("pa.a") == "active"  # 1 failure in 3 samples: below min_samples
    s = d.send(d.submit(5.0))
    d.fail(s, 503)  # window: ok, fail, ok, fail -> 0.5 over 4 samples
    assert d.status("pa.a") == "standby"
    assert d.events("model_deactivated")[0].metadata["reason"] == "error_threshold"


def test_r44_error_codes_decide_what_counts() -> None:
    d = Drive(simple_config(["a", "b"], retry={"max_attempts": 1},
                            deactivation={"retry_limit": 1, "error_codes": [503]}))
    d.fail(d.send(d.submit(0.0)), 500)
    assert d.status("pa.a") == "active" and d.r.models["pa.a"].failure_count == 0
    d.fail(d.send(d.submit(1.0)), 503)
    assert d.status("pa.a") == "standby"


def test_r44_maintenance_window_via_cron() -> None:
    """The pool's window applies to every member during each matching minute."""
    d = Drive(simple_config(["a"], deactivation={"maintenance_window": "* 3-4 * * *"}))
    d.ok(d.send(d.submit(0.0)))
    d.handle(Tick(), 119.0)  # 02:59:59
    assert d.status("pa.a") == "active"
    d.handle(Tick(), 120.0)  # 03:00 UTC
    assert d.status("pa.a") == "standby"
    ev = d.events("model_deactivated")
    assert ev[-1].metadata["reason"] == "maintenance_window"
    assert ev[-1].metadata["standby_until"] == "2026-09-21T05:00:00Z"
    fails = [a for a in d.submit(200.0) if isinstance(a, Fail)]
    assert fails and fails[0].failure.reason == "no_active_model"
    d.handle(Tick(), 120.0 + 2 * 3600.0 - 1.0)  # 04:59:59
    assert d.status("pa.a") == "standby"
    d.handle(Tick(), 120.0 + 2 * 3600.0)  # 05:00 UTC
    assert d.status("pa.a") == "active"
    assert d.events("model_activated")[-1].metadata["trigger"] == "maintenance_window_ended"
    assert d.send(d.submit()).model_id == "pa.a"


# ---- quota boundaries ---------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "until"),
    [("daily", calendar.timegm((2026, 9, 22, 0, 0, 0))),
     ("monthly", calendar.timegm((2026, 10, 1, 0, 0, 0))),
     ("rolling", WALL0 + 86400.0)],
)
def test_r45_quota_boundaries(schedule: str, until: float) -> None:
    d = Drive(simple_config(["a", "b"], deactivation={"request_limit": {"pa.a": 1}},
                            recovery={"quota_reset_schedule": schedule}))
    d.ok(d.send(d.submit(0.0)))
    deact = [a for a in d.log if isinstance(a, DeactivateModel)]
    assert deact and deact[0].reason == "request_limit"
    assert deact[0].until_wall == pytest.approx(until, abs=1.0)
    d.handle(Tick(), until - WALL0 - 10.0)
    assert d.status("pa.a") == "standby"
    d.handle(Tick(), until - WALL0 + 1.0)
    assert d.status("pa.a") == "active"
    assert d.events("model_activated")[-1].metadata["trigger"] == "quota_reset"
    assert d.send(d.submit()).model_id in ("pa.a", "pb.b")
    assert d.r.models["pa.a"].requests == 0  # the counter restarted with the period


@pytest.mark.parametrize("reason", ["request_limit", "quota_exhausted"])
def test_r47_latched_reasons_without_on_quota_reset(reason: str) -> None:
    cfg = simple_config(["a", "b"], retry={"max_attempts": 1},
                        deactivation={"request_limit": {"pa.a": 1}},
                        recovery={"on_quota_reset": False, "quota_reset_schedule": "daily"})
    d = Drive(cfg)
    s = d.send(d.submit(0.0))
    if reason == "request_limit":
        d.ok(s)
    else:
        d.fail(s, 402)
    deact = [a for a in d.log if isinstance(a, DeactivateModel)]
    assert deact[0].reason == reason and deact[0].until_wall is None
    d.handle(Tick(), 3 * 86400.0)  # several boundaries later
    assert d.status("pa.a") == "standby"
    d.handle(OperatorCommand("activate", "pa.a"))
    assert d.status("pa.a") == "active"


def test_r47_quota_exhausted_recovers_by_probe() -> None:
    d = Drive(simple_config(["a", "b"], retry={"max_attempts": 1},
                            recovery={"on_quota_reset": False, "probe_interval": "60s"}))
    d.fail(d.send(d.submit(0.0)), 402)
    d.handle(BackgroundProbes(True), 1.0)
    probes = [a for a in d.log if isinstance(a, SendAttempt) and a.purpose is Purpose.PROBE]
    assert [p.model_id for p in probes] == ["pa.a"]
    d.ok(probes[0])
    assert d.status("pa.a") == "active"
    assert d.events("model_activated")[-1].metadata["trigger"] == "probe_success"


# ---- R-46 precedence and reason change ---------------------------------------------------


def test_r46_precedence_and_reason_change_event() -> None:
    cfg = simple_config(["a", "b"], deactivation={"request_limit": {"pa.a": 1},
                                                  "maintenance_window": "* 3-4 * * *"},
                        recovery={"quota_reset_schedule": "daily"})
    d = Drive(cfg)
    d.ok(d.send(d.submit(0.0)))  # 02:58: request_limit
    assert [e.metadata["reason"] for e in d.events("model_deactivated")] == ["request_limit"]
    assert d.status("pb.b") == "active"
    d.handle(Tick(), 120.0)  # 03:00: maintenance outranks request_limit
    d.handle(Tick(), 120.0 + 7200.0)  # 05:00: maintenance ends, request_limit still holds
    reasons = [e.metadata["reason"] for e in d.events("model_deactivated")
               if e.model_id == "pa.a"]
    assert reasons == ["request_limit", "maintenance_window", "request_limit"]
    assert d.status("pb.b") == "active"  # b had only the window
    assert d.status("pa.a") == "standby"
    d.handle(OperatorCommand("deactivate", "pa.a"))
    assert d.events("model_deactivated")[-1].metadata["reason"] == "manual"


# ---- R-48 cooldown -----------------------------------------------------------------------


def test_r48_cooldown_growth_cap_and_retry_after() -> None:
    cfg = simple_config(["a"], retry={"max_attempts": 1}, deactivation={"retry_limit": 1},
                        recovery={"cooldown": "10s", "backoff_multiplier": 2,
                                  "max_cooldown": "25s"})
    d = Drive(cfg)
    t = 0.0
    deadlines = []
    for _ in range(3):
        d.fail(d.send(d.submit(t)), 500)  # ejection / failed half-open trial
        deact = [a for a in d.log if isinstance(a, DeactivateModel)][-1]
        deadlines.append(deact.until_wall - (WALL0 + d.t))
        t = d.r.models["pa.a"].cooldown_until + 0.01  # type: ignore[operator]
        d.handle(Tick(), t)
        assert d.status("pa.a") == "half_open"
    assert deadlines == pytest.approx([10.0, 20.0, 25.0], abs=0.01)
    # Retry-After beyond the cooldown sets the deadline (R-38 bound applies)
    d2 = Drive(simple_config(["a", "b"], retry={"max_attempts": 2, "max_delay": "10s"},
                             recovery={"cooldown": "10s"}))
    d2.fail(d2.send(d2.submit(0.0)), 429, headers=(("retry-after", "50"),))
    deact = [a for a in d2.log if isinstance(a, DeactivateModel)][-1]
    assert deact.reason == "error_threshold"
    assert deact.until_wall == pytest.approx(WALL0 + 50.0, abs=0.01)


# ---- probes -----------------------------------------------------------------


def test_r49_r50_background_probe_mode() -> None:
    cfg = simple_config(["a", "b"], retry={"max_attempts": 1}, deactivation={"retry_limit": 1},
                        recovery={"cooldown": "10s"})
    d = Drive(cfg)
    d.handle(BackgroundProbes(True), 0.0)
    d.fail(d.send(d.submit(0.5)), 500)  # a -> standby; rotated to b
    d.ok([a for a in d.log if isinstance(a, SendAttempt)][-1])
    acts = d.handle(Tick(), 10.6)
    probes = [a for a in acts if isinstance(a, SendAttempt)]
    assert len(probes) == 1 and probes[0].purpose is Purpose.PROBE
    assert probes[0].request_id is None and probes[0].model_id == "pa.a"
    assert d.status("pa.a") == "half_open"
    assert d.send(d.submit(11.0)).model_id == "pb.b"  # no user traffic while probing
    d.handle(Tick(), 12.0)
    assert len([a for a in d.log if isinstance(a, SendAttempt) and a.request_id is None]) == 1
    d.handle(AttemptSucceeded(probes[0].attempt_id, Usage(3, 1)), 12.5)
    assert d.status("pa.a") == "active"
    assert d.events("model_activated")[-1].metadata["trigger"] == "probe_success"
    u = d.r.usage()
    assert u["by_model"]["pa.a"]["tokens"] == 4  # probes count in usage ...
    assert u["by_model"]["pa.a"]["requests"] == 0  # ... but not as requests


# ---- R-51 manual commands ------------------------------------------------------------------


def test_r51_rotate_and_manual_activation() -> None:
    d = Drive(simple_config(["a", "b"], retry={"max_attempts": 1},
                            deactivation={"retry_limit": 5}))
    d.fail(d.send(d.submit(0.0)), 500)
    d.ok([a for a in d.log if isinstance(a, SendAttempt)][-1])
    assert d.r.models["pa.a"].failure_count == 1
    d.handle(OperatorCommand("rotate", "chat"), 1.0)
    cur = d.r.strategy_state["chat"].pointer
    assert d.status(cur) == "active"
    reasons = [e.metadata["reason"] for e in d.events("model_deactivated")]
    assert reasons == ["manual"]
    assert d.send(d.submit(2.0)).model_id == cur
    off = "pa.a" if cur == "pb.b" else "pb.b"
    d.handle(OperatorCommand("activate", off), 3.0)
    m = d.r.models[off]
    assert m.status.value == "active" and not m.reasons and m.failure_count == 0
    assert m.ejections == 0
    assert [a for a in d.log if isinstance(a, ReactivateModel)][-1].trigger == "manual"


# ---- R-52 provider cascade ---------------------------------------------------------------


def test_r52_key_rotation_before_provider_deactivation() -> None:
    cfg = simple_config(["a", "b"], retry={"max_attempts": 1})
    cfg["providers"]["pa"]["auth"] = {"api_key": ["k1", "k2"], "key_rotation": True}
    d = Drive(cfg)
    s = d.send(d.submit(0.0))
    assert s.key_index == 0
    d.fail(s, 401)
    assert d.r.providers["pa"].status.value == "active"
    d.ok([a for a in d.log if isinstance(a, SendAttempt)][-1])
    s2 = d.send(d.submit(1.0))
    assert s2.model_id == "pa.a" and s2.key_index == 1
    d.fail(s2, 401)  # every key failed
    assert d.r.providers["pa"].status.value == "deactivated"
    assert d.events("provider_deactivated")[-1].metadata["reason"] == "auth_failure"


def test_r52_on_api_outage() -> None:
    cfg = {
        "providers": {p: {"connector": "openai.compatible.v1",
                          "base_url": f"http://127.0.0.1:1/{p}"} for p in ("p1", "p2")},
        "models": {f"{p}.{m}": {"provider": p, "name": m, "capabilities": ["chat-completion"]}
                   for p, m in (("p1", "x"), ("p1", "y"), ("p2", "z"))},
        "pools": {"chat": {"models": ["p1.x", "p1.y", "p2.z"], "retry": {"max_attempts": 1},
                           "deactivation": {"retry_limit": 2},
                           "provider_deactivation": ["on_api_outage"]}},
    }
    d = Drive(cfg)
    s = d.send(d.submit(0.0))
    acts = d.fail(s, None, FailureKind.TIMEOUT)
    s2 = d.send(acts)
    assert s2.model_id == "p1.y"
    d.fail(s2, 503)  # second consecutive outage outcome across p1's models
    assert d.r.providers["p1"].status.value == "deactivated"
    assert d.events("provider_deactivated")[-1].metadata["reason"] == "api_outage"
    assert [a for a in d.log if isinstance(a, SendAttempt)][-1].model_id == "p2.z"


# ---- R-53 each strategy through the router ---------------------------------------------


def _served(strategy: str, n: int = 6, **pool: Any) -> list[str]:
    cfg = simple_config(["a", "b", "c"], strategy=strategy, **pool)
    for i, m in enumerate(cfg["models"].values()):
        m["pricing"] = {"input_per_1m": 3.0 - i, "output_per_1m": 3.0 - i}
    sim = Simulator(cfg, seed=3)
    for i in range(n):
        sim.submit("chat", at=float(i), session_id=f"s{i % 2}",
                   features=RequestFeatures(prompt_tokens=10, max_tokens=10))
    trace = sim.run()
    return [trace.served_by()[f"req-{i + 1}"] or "" for i in range(n)]


def test_r53_priority_selection() -> None:
    assert set(_served("priority", model_priority=["pb.b"])) == {"pb.b"}
    assert set(_served("priority", provider_priority=["pc"])) == {"pc.c"}
    assert _served("priority", 4) == ["pa.a", "pb.b", "pc.c", "pa.a"]  # round-robin fallback


def test_r53_cost_first_picks_the_cheapest() -> None:
    assert set(_served("cost-first")) == {"pc.c"}


def test_r53_latency_first_follows_measured_latency() -> None:
    d = Drive(simple_config(["a", "b"], strategy="latency-first", retry={"max_attempts": 1}))
    d.ok(d.send(d.submit(0.0)), latency_ms=900.0)
    s = d.send(d.submit(1.0))  # b has no history: it scores the median, a wins the tie
    assert s.model_id == "pa.a"
    d.ok(d.send(d.fail(s, 500)), latency_ms=10.0)  # rotated to b: 10 ms
    assert d.send(d.submit(2.0)).model_id == "pb.b"


def test_r53_session_stickiness_keeps_sessions() -> None:
    served = _served("session-stickiness", 8)
    assert len({served[i] for i in range(0, 8, 2)}) == 1
    assert len({served[i] for i in range(1, 8, 2)}) == 1


def test_r53_rate_limit_aware_skips_busy_models() -> None:
    d = Drive(simple_config(["a", "b"], strategy="rate-limit-aware"))
    d.ok(d.send(d.submit(0.0)),
         rate_limits=RateLimitInfo(requests_remaining=1, requests_limit=100))
    assert d.send(d.submit(1.0)).model_id == "pb.b"


def test_r53_load_balanced_is_seeded_and_spreads() -> None:
    first = _served("load-balanced", 30)
    assert _served("load-balanced", 30) == first
    assert set(first) == {"pa.a", "pb.b", "pc.c"}


def test_r53_every_strategy_serves_through_the_router() -> None:
    for sid in STRATEGY_IDS:
        served = _served(sid, 3)
        assert all(served), sid


# ---- R-56 try_anyway exclusions --------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "sent"),
    [("error", True), ("manual", False), ("provider", False)],
)
def test_r56_try_anyway_exclusions(how: str, sent: bool) -> None:
    cfg = simple_config(["a"], on_all_standby="try_anyway", retry={"max_attempts": 1},
                        deactivation={"retry_limit": 1}, recovery={"cooldown": "60s"})
    d = Drive(cfg)
    if how == "error":
        d.fail(d.send(d.submit(0.0)), 500)
    elif how == "manual":
        d.handle(OperatorCommand("deactivate", "pa.a"), 0.0)
    else:
        d.handle(OperatorCommand("deactivate", "pa"), 0.0)
    acts = d.submit(1.0)
    if sent:
        assert d.send(acts).model_id == "pa.a"
        assert d.status("pa.a") == "standby"
    else:
        fails = [a for a in acts if isinstance(a, Fail)]
        assert fails and fails[0].failure.reason == "no_active_model"
        assert not [a for a in acts if isinstance(a, SendAttempt)]


def test_r56_wait_beyond_the_deadline_fails_fast() -> None:
    cfg = simple_config(["a"], on_all_standby="wait", retry={"max_attempts": 1},
                        deactivation={"retry_limit": 1}, recovery={"cooldown": "60s"},
                        deadline="10s")
    d = Drive(cfg)
    d.fail(d.send(d.submit(0.0)), 500)
    acts = d.submit(1.0)
    fails = [a for a in acts if isinstance(a, Fail)]
    assert fails and fails[0].failure.reason == "no_active_model"
