"""The per-request path reads configuration-derived values from caches
(`base.PoolPlan`, `RouterBase.sync_mode`, `StatsBook.request_scopes`) and
keeps request deadlines in a FIFO lane of the timer queue (issue 2). Each
test changes the cached value under the router (a reload, a prune) and then
sends a request, so a cache that went stale fails it."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore import load_config
from meshcore.actions import (
    Action,
    CancelAttempt,
    DeactivateModel,
    Deliver,
    Fail,
    SaveState,
    SendAttempt,
)
from meshcore.events import (
    AttemptFailed,
    AttemptSucceeded,
    BackgroundProbes,
    ConfigChanged,
    RequestSubmitted,
    StateRestored,
    Tick,
)
from meshcore.records import RequestLogEntry
from meshcore.router.calendar import period_key
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult
from meshcore.router.router import Router
from meshcore.router.stats import StatsBook, percentile
from meshcore.router.timers import MAX_LANES, TimerQueue
from meshcore.testing import simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures, Usage

WALL0 = 1_790_000_000.0


def at(mono: float) -> Instant:
    return Instant(mono, WALL0 + mono)


def send_of(acts: list[Action]) -> SendAttempt:
    return next(a for a in acts if isinstance(a, SendAttempt))


FEATS = RequestFeatures(prompt_tokens=1000, max_tokens=100)


def serve(r: Router, rid: str, mono: float) -> str:
    """Submit `rid` to pool chat and answer its attempt with a success."""
    s = send_of(r.handle(RequestSubmitted(rid, "chat", FEATS), at(mono)))
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1), 10.0), at(mono))
    assert any(isinstance(a, Deliver) for a in acts)
    return s.model_id


def priced(strategy: str, **pool: Any) -> dict[str, Any]:
    """Three models; c is the cheapest, a the dearest."""
    cfg = simple_config(["a", "b", "c"], strategy=strategy, **pool)
    for mid, price in (("pa.a", 9.0), ("pb.b", 5.0), ("pc.c", 1.0)):
        cfg["models"][mid]["pricing"] = {"input_per_1m": price, "output_per_1m": price}
    return cfg


# -- PoolPlan ----------------------------------------------------------------------------
def test_reload_changes_the_latency_window() -> None:
    cfg = simple_config(["a"], selection={"latency_window": 3})
    r = Router(load_config(cfg), seed=1)
    for i in range(5):
        serve(r, f"r{i}", 1.0 + i)
    assert len(r.models["pa.a"].latencies) == 3
    r.handle(ConfigChanged(simple_config(["a"], selection={"latency_window": 5})), at(10.0))
    for i in range(5):
        serve(r, f"s{i}", 11.0 + i)
    assert len(r.models["pa.a"].latencies) == 5


def test_reload_changes_the_error_rate_window() -> None:
    cfg = simple_config(["a"], deactivation={"error_rate_window": 2})
    r = Router(load_config(cfg), seed=1)
    for i in range(4):
        serve(r, f"r{i}", 1.0 + i)
    assert len(r.models["pa.a"].window) == 2
    r.handle(ConfigChanged(simple_config(["a"], deactivation={"error_rate_window": 4})),
             at(10.0))
    for i in range(4):
        serve(r, f"s{i}", 11.0 + i)
    assert len(r.models["pa.a"].window) == 4


def test_reload_adds_a_request_limit() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    assert [serve(r, f"r{i}", 1.0 + i) for i in range(3)] == ["pa.a"] * 3
    limited = simple_config(["a", "b"], deactivation={"request_limit": 5})
    r.handle(ConfigChanged(limited), at(10.0))
    got = [serve(r, f"s{i}", 11.0 + i) for i in range(4)]
    # a reaches its limit with its 5th request of the period, then b serves
    assert got == ["pa.a", "pa.a", "pb.b", "pb.b"]
    assert r.models["pa.a"].status.value == "standby"


def test_reload_from_a_pointer_strategy_to_cost_first() -> None:
    r = Router(load_config(priced("stick-until-failure")), seed=1)
    assert serve(r, "r0", 1.0) == "pa.a"
    r.handle(ConfigChanged(priced("cost-first")), at(2.0))
    assert [serve(r, f"s{i}", 3.0 + i) for i in range(2)] == ["pc.c", "pc.c"]
    r.handle(ConfigChanged(priced("round-robin")), at(10.0))
    assert [serve(r, f"t{i}", 11.0 + i) for i in range(3)] == ["pa.a", "pb.b", "pc.c"]


class EjectAfterServing:
    """A custom strategy whose Deactivation ejects a model once it has
    answered (it then has latency history)."""

    def select(self, candidates: Sequence[ModelSnapshot],
               request: SelectionRequest) -> SelectionResult:
        c = candidates[0]
        return SelectionResult(c.model_id, c.provider_id, 1.0, "first")

    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        return snapshot.latency_mean_ms is not None

    def get_reason(self, snapshot: ModelSnapshot) -> str:
        return "manual"


def test_reload_to_a_custom_deactivation_policy() -> None:
    custom = {"acme.eject.v1": EjectAfterServing()}
    r = Router(load_config(simple_config(["a", "b"])), seed=1, strategies=custom)
    s = send_of(r.handle(RequestSubmitted("r0", "chat", FEATS), at(1.0)))
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(1.0))
    assert not any(isinstance(a, DeactivateModel) for a in acts)
    r.handle(ConfigChanged(simple_config(["a", "b"], strategy="acme.eject.v1")), at(2.0))
    # asked before the selection (a has served) and after the outcome
    acts = r.handle(RequestSubmitted("r1", "chat", FEATS), at(3.0))
    assert [a.model_id for a in acts if isinstance(a, DeactivateModel)] == ["pa.a"]
    s = send_of(acts)
    assert s.model_id == "pb.b"
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(3.0))
    assert [a.model_id for a in acts if isinstance(a, DeactivateModel)] == ["pb.b"]


def test_reload_switches_the_sync_policy() -> None:
    r = Router(load_config(simple_config(["a"])), seed=1)
    s = send_of(acts := r.handle(RequestSubmitted("r0", "chat", RequestFeatures()), at(1.0)))
    assert not any(isinstance(a, SaveState) for a in acts)
    immediate = {**simple_config(["a"]), "storage": {"sync_policy": "immediate"}}
    r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(1.0))
    r.handle(ConfigChanged(immediate), at(2.0))
    acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures()), at(3.0))
    assert any(isinstance(a, SaveState) for a in acts)
    r.handle(ConfigChanged(simple_config(["a"])), at(4.0))
    acts = r.handle(RequestSubmitted("r2", "chat", RequestFeatures()), at(5.0))
    assert not any(isinstance(a, SaveState) for a in acts)


def test_plans_are_dropped_on_restore_and_rebuilt() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    serve(r, "r0", 1.0)
    assert r.pool_plans
    r.handle(StateRestored(r.snapshot()), at(2.0))
    assert not r.pool_plans
    assert serve(r, "r1", 3.0) == "pa.a"
    assert r.pool_plans["chat"].pool is r.config.pools["chat"]


def test_a_request_in_flight_across_a_reload_keeps_its_pools_settings() -> None:
    """The plan is checked against the pool object: an answer to a request
    submitted before a reload is booked with that request's pool settings."""
    r = Router(load_config(simple_config(["a"], selection={"latency_window": 2})), seed=1)
    for i in range(2):
        serve(r, f"r{i}", 1.0 + i)
    s = send_of(r.handle(RequestSubmitted("old", "chat", RequestFeatures()), at(5.0)))
    r.handle(ConfigChanged(simple_config(["a"], selection={"latency_window": 4})), at(6.0))
    r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(7.0))
    assert len(r.models["pa.a"].latencies) == 2  # the old pool's window
    serve(r, "new", 8.0)
    assert len(r.models["pa.a"].latencies) == 3  # the new pool's window


# -- quota counters ----------------------------------------------------------------------
def test_success_without_usage_on_a_new_day_resets_the_period_counters() -> None:
    """The answer's counters() call is skipped only when booking the usage
    already made it; without usage it must still start the new period."""
    r = Router(load_config(simple_config(["a"], deactivation={"quota_window": "daily"})),
               seed=1)
    for i in range(3):
        serve(r, f"r{i}", 1.0 + i)
    assert r.models["pa.a"].requests == 3
    midnight = 86_400.0 - WALL0 % 86_400.0  # the next 00:00 UTC, as a mono offset
    s = send_of(r.handle(RequestSubmitted("late", "chat", FEATS), at(midnight - 5.0)))
    # the answer (no usage, no text) arrives after midnight
    acts = r.handle(AttemptSucceeded(s.attempt_id, None, 10.0), at(midnight + 5.0))
    assert any(isinstance(a, Deliver) for a in acts)
    m = r.models["pa.a"]
    assert m.requests == 1
    assert m.period_key == period_key("daily", WALL0 + midnight) != period_key("daily", WALL0)


# -- deadline lane -------------------------------------------------------------------------
def test_ended_requests_leave_no_deadline_timers() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    for i in range(400):  # 400 s of traffic, deadline 120 s
        serve(r, f"r{i}", 1.0 + i)
    assert len(r.timers) <= 1
    assert r.next_deadline() is None


def test_deadlines_of_requests_in_flight_still_fire_in_order() -> None:
    r = Router(load_config(simple_config(["a", "b"], deadline=10.0)), seed=1)
    sends = {}
    for i in range(5):
        sends[f"r{i}"] = send_of(r.handle(
            RequestSubmitted(f"r{i}", "chat", RequestFeatures()), at(1.0 + i)))
    # r0 and r3 end; r1, r2 and r4 hang
    for rid in ("r3", "r0"):
        r.handle(AttemptSucceeded(sends[rid].attempt_id, Usage(1, 1)), at(6.0))
    assert r.next_deadline() == 12.0
    acts = r.handle(Tick(), at(14.5))
    assert [a.request_id for a in acts if isinstance(a, Fail)] == ["r1", "r2"]
    assert [a.attempt_id for a in acts if isinstance(a, CancelAttempt)] == ["r1#1", "r2#1"]
    assert r.next_deadline() == 15.0
    acts = r.handle(Tick(), at(15.0))
    assert [a.request_id for a in acts if isinstance(a, Fail)] == ["r4"]
    assert r.next_deadline() is None


def test_a_reused_request_id_is_not_cut_by_the_earlier_requests_deadline() -> None:
    """Bug fix: the deadline timer of an ended request used to fail a later
    request with the same ID when it fired."""
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    r.handle(RequestSubmitted("long", "chat", FEATS, timeout_s=1000.0), at(1.0))
    # r1's deadline (122) is before long's (1001): it goes to the heap, where
    # it stays after r1 ends
    serve(r, "r1", 2.0)
    s = send_of(r.handle(RequestSubmitted("r1", "chat", FEATS), at(100.0)))
    acts = r.handle(Tick(), at(122.5))
    assert not any(isinstance(a, Fail) for a in acts)
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(130.0))
    assert any(isinstance(a, Deliver) for a in acts)


def test_a_reused_id_behind_a_live_deadline_is_also_safe() -> None:
    r = Router(load_config(simple_config(["a", "b"])), seed=1)
    keep = send_of(r.handle(RequestSubmitted("keep", "chat", RequestFeatures()), at(1.0)))
    serve(r, "x", 2.0)  # x's entry stays in the lane behind keep's (121.0, 122.0)
    s = send_of(r.handle(RequestSubmitted("x", "chat", RequestFeatures()), at(50.0)))
    acts = r.handle(Tick(), at(122.5))
    assert [a.request_id for a in acts if isinstance(a, Fail)] == ["keep"]
    assert keep.attempt_id in [a.attempt_id for a in acts if isinstance(a, CancelAttempt)]
    acts = r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(130.0))
    assert any(isinstance(a, Deliver) for a in acts)


def test_a_failed_attempts_retry_and_deadline_keep_their_order() -> None:
    r = Router(load_config(simple_config(["a"], deadline=5.0,
                                         retry={"backoff": "fixed", "initial_delay": 1.0})),
               seed=1)
    s = send_of(r.handle(RequestSubmitted("r", "chat", RequestFeatures()), at(1.0)))
    r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 503), at(2.0))
    assert r.next_deadline() == 3.0  # the retry, then the deadline at 6.0
    acts = r.handle(Tick(), at(3.0))
    assert send_of(acts).attempt_number == 2
    acts = r.handle(Tick(), at(6.0))
    assert [a.failure.reason for a in acts if isinstance(a, Fail)] == ["deadline_exceeded"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(0, 3),
                          st.integers(0, 11)), max_size=80),
       st.randoms(use_true_random=False))
def test_the_lanes_and_the_heap_fire_in_one_heaps_order(
    ops: list[tuple[bool, int, int, int]], rnd: random.Random
) -> None:
    """Whatever mix of plain and deadline pushes (over more distinct
    timeouts than there are lanes), pops at rising `now` and drops of ended
    deadlines: the queue fires what one heap holding every entry would fire,
    in the same order, except deadlines of ended keys (which the router
    ignores when they fire), and `next_due` is always the earliest entry."""
    q = TimerQueue()
    ref: list[tuple[float, int, str, str]] = []
    ended: set[str] = set()
    now = 0.0
    fired: list[tuple[float, str, str]] = []
    expect: list[tuple[float, str, str]] = []

    def pop_all(now: float) -> None:
        while (item := q.pop_due(now)) is not None:
            fired.append(item)
        while ref and ref[0][0] <= now:
            due, _, kind, key = heapq.heappop(ref)
            expect.append((due, kind, key))

    def check_next_due() -> None:
        heads = [q.heap[0][0]] if q.heap else []
        heads += [lane[0][0] for lane in q.lanes.values() if lane]
        assert q.next_due == min(heads, default=math.inf)

    for seq, (deadline, due, step, timeout) in enumerate(ops, start=1):
        key = f"k{seq}"
        if deadline:
            q.push_deadline(float(due), key, float(timeout))
        else:
            q.push(float(due), "retry", key)
        heapq.heappush(ref, (float(due), seq, "deadline" if deadline else "retry", key))
        check_next_due()
        if rnd.random() < 0.3:
            ended.add(f"k{rnd.randint(1, seq)}")
            q.drop_ended_deadlines({f"k{i}" for i in range(1, seq + 1)} - ended)
            check_next_due()
        now += step
        pop_all(now)
        check_next_due()
    pop_all(1e9)
    assert len(q) == 0 and q.earliest() is None
    assert len(q.lanes) <= MAX_LANES

    def live(items: list[tuple[float, str, str]]) -> list[tuple[float, str, str]]:
        return [e for e in items if not (e[1] == "deadline" and e[2] in ended)]

    assert live(fired) == live(expect)
    assert set(expect) - set(fired) <= {e for e in expect if e[1] == "deadline"
                                        and e[2] in ended}


def test_pools_with_different_deadlines_each_get_a_lane() -> None:
    cfg = simple_config(["a", "b"], deadline=30.0)
    cfg["pools"]["slow"] = {"models": ["pb.b"], "strategy": "stick-until-failure",
                            "deadline": 600.0}
    r = Router(load_config(cfg), seed=1)
    for i in range(200):
        pool = "slow" if i % 3 else "chat"
        s = send_of(r.handle(RequestSubmitted(f"r{i}", pool, FEATS), at(1.0 + i)))
        if i % 2:  # half stay in flight for a while: answered two steps later
            continue
        r.handle(AttemptSucceeded(s.attempt_id, Usage(1, 1)), at(1.0 + i))
        prev = f"r{i - 1}#1"
        if i and prev in r.attempts:
            r.handle(AttemptSucceeded(prev, Usage(1, 1)), at(1.0 + i))
    assert len(r.timers.heap) == 0
    assert len(r.timers) <= 2


# -- statistics ------------------------------------------------------------------------------
def entry(pool: str, model: str | None, cost: float, outcome: str = "success",
          attempts: int = 1) -> RequestLogEntry:
    provider = None if model is None else f"p{model}"
    return RequestLogEntry("2026-01-01T00:00:00Z", "r", pool, None, "synchronous", model,
                           provider, None, outcome, attempts, 12.5, None, 3, 4, cost)


def test_a_scope_deleted_by_retention_comes_back_with_the_next_request() -> None:
    book = StatsBook(retention_s=100.0)
    book.request(entry("chat", "a", 0.5), 1.0)
    assert book.view(2.0, {})["model.a"]["requests_total"] == 1
    assert "model.a" not in book.view(500.0, {})  # pruned: the scope is gone
    book.request(entry("chat", "a", 0.25), 501.0)
    view = book.view(502.0, {})
    assert view["model.a"]["requests_total"] == 1
    assert view["pool.chat"]["cost_total"] == 0.25
    assert view["provider.pa"]["latency_p50"] == 12.5


def test_request_counters_per_scope() -> None:
    book = StatsBook()
    book.request(entry("chat", "a", 0.1), 1.0)
    book.request(entry("chat", "b", 0.2, outcome="exhausted"), 2.0)
    book.request(entry("chat", None, 0.0, outcome="no_active_model", attempts=0), 3.0)
    book.request(entry("other", "a", 0.4), 4.0)
    view = book.view(5.0, {})
    assert sorted(view) == ["model.a", "model.b", "pool.chat", "pool.other", "provider.pa",
                            "provider.pb"]
    chat = view["pool.chat"]
    assert (chat["requests_total"], chat["requests_success"], chat["requests_failed"]) == (3, 1, 2)
    assert chat["cost_total"] == 0.1 + 0.2 + 0.0
    assert view["model.a"]["requests_total"] == 2
    assert view["model.a"]["cost_total"] == 0.1 + 0.4
    assert view["model.a"]["tokens_in"] == 6 and view["model.a"]["tokens_out"] == 8
    assert view["model.b"]["error_rate"] == 1.0


class ReferenceBook:
    """The request counters of R-93 as first written (one dict row per scope
    and bucket, scope IDs computed per record), to check `StatsBook`'s
    cached scopes and list rows against."""

    def __init__(self, retention: float) -> None:
        self.retention = retention
        self.width = retention / 100
        self.scopes: dict[str, dict[str, Any]] = {}

    def request(self, rec: RequestLogEntry, mono: float) -> None:
        ids = [sid for sid in (
            f"pool.{rec.pool}" if rec.pool else None,
            f"model.{rec.model_id}" if rec.model_id and rec.attempts else None,
            f"provider.{rec.provider_id}" if rec.provider_id and rec.attempts else None,
        ) if sid is not None]
        ok = rec.outcome == "success"
        for sid in ids:
            sc = self.scopes.setdefault(sid, {"buckets": {}, "samples": [], "mono": 0.0,
                                              "ts": ""})
            row = sc["buckets"].setdefault(int(mono // self.width), {
                k: 0.0 for k in ("total", "ok", "failed", "in", "out", "cost")})
            row["total"] += 1
            row["ok" if ok else "failed"] += 1
            row["in"] += rec.tokens_in
            row["out"] += rec.tokens_out
            row["cost"] += rec.cost
            sc["mono"] = mono
            sc["ts"] = rec.timestamp
            if ok:
                sc["samples"] = [*sc["samples"], (mono, float(rec.latency_ms))][-1000:]

    def view(self, mono: float) -> dict[str, tuple[Any, ...]]:
        oldest = int((mono - self.retention) // self.width)
        out = {}
        for sid in sorted(self.scopes):
            sc = self.scopes[sid]
            sc["buckets"] = {b: r for b, r in sc["buckets"].items() if b > oldest}
            sc["samples"] = [s for s in sc["samples"] if s[0] >= mono - self.retention]
            if not sc["buckets"] and sc["mono"] < mono - self.retention:
                del self.scopes[sid]
                continue
            tot = {k: 0.0 for k in ("total", "ok", "failed", "in", "out", "cost")}
            for row in sc["buckets"].values():
                for k, v in row.items():
                    tot[k] += v
            lat = sorted(v for _, v in sc["samples"])
            out[sid] = (int(tot["total"]), int(tot["ok"]), int(tot["failed"]), int(tot["in"]),
                        int(tot["out"]), tot["cost"], sum(lat) / len(lat) if lat else 0.0,
                        percentile(lat, 50), percentile(lat, 99), sc["ts"])
        return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["chat", "code", ""]), st.sampled_from(["a", "b", None]),
    st.floats(0.0, 1.0), st.booleans(), st.integers(0, 2), st.floats(0.0, 40.0),
    st.booleans()), max_size=80))
def test_request_statistics_match_the_reference(
    steps: list[tuple[str, str | None, float, bool, int, float, bool]]
) -> None:
    book = StatsBook(retention_s=100.0)
    ref = ReferenceBook(100.0)
    mono = 0.0
    for pool, model, cost, ok, attempts, dt, look in steps:
        mono += dt
        rec = RequestLogEntry(f"t{mono}", "r", pool or None, None, "synchronous", model,
                              None if model is None else f"p{model}", None,
                              "success" if ok else "exhausted", attempts, cost * 1000, None,
                              attempts, 2 * attempts, cost)
        book.request(rec, mono)
        ref.request(rec, mono)
        if look:
            view = book.view(mono, {})
            want = ref.view(mono)
            got = {sid: (v["requests_total"], v["requests_success"], v["requests_failed"],
                         v["tokens_in"], v["tokens_out"], v["latency_avg"], v["latency_p50"],
                         v["latency_p99"], v["last_updated"]) for sid, v in view.items()}
            assert got == {sid: (*w[:5], *w[6:]) for sid, w in want.items()}
            # a scope's cost is summed per (pool, model, provider) key, then
            # across keys: the same total up to the order of float additions
            for sid, w in want.items():
                assert view[sid]["cost_total"] == pytest.approx(w[5], rel=1e-12, abs=1e-15)


# -- probes in flight (R-50) -------------------------------------------------------------------
def test_a_user_attempts_answer_does_not_end_a_probe_in_flight() -> None:
    """Bug fix (found by test_router_props): the outcome of a user attempt
    sent before the model went to standby cleared the model's probe flag
    while its probe was still out, so a second probe followed (R-50)."""
    quota = '{"error": {"code": "insufficient_quota"}}'
    for answer in ("success", "failure"):
        r = Router(load_config(simple_config(["a"])), seed=1)
        first = send_of(r.handle(RequestSubmitted("r1", "chat", FEATS), at(1.0)))
        second = send_of(r.handle(RequestSubmitted("r2", "chat", FEATS), at(1.0)))
        r.handle(AttemptFailed(first.attempt_id, FailureKind.HTTP_STATUS, 429, (), quota),
                 at(2.0))
        probes = [a for a in r.handle(BackgroundProbes(True), at(3.0))
                  if isinstance(a, SendAttempt)]
        assert [a.purpose.value for a in probes] == ["probe"]
        if answer == "success":
            r.handle(AttemptSucceeded(second.attempt_id, Usage(1, 1)), at(4.0))
        else:
            r.handle(AttemptFailed(second.attempt_id, FailureKind.HTTP_STATUS, 500), at(4.0))
        assert r.models["pa.a"].probe_in_flight, answer
        r.handle(BackgroundProbes(False), at(5.0))
        acts = r.handle(BackgroundProbes(True), at(6.0))
        assert not any(isinstance(a, SendAttempt) for a in acts), answer
        # the probe's own answer ends it
        r.handle(AttemptFailed(probes[0].attempt_id, FailureKind.HTTP_STATUS, 500), at(7.0))
        assert not r.models["pa.a"].probe_in_flight
