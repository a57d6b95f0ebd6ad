"""Core statistics (SPEC R-93, R-89 flush and retention) driven by the Simulator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.actions import Emit
from meshcore.events import Tick
from meshcore.records import StatsFlush
from meshcore.router.stats import StatsBook, percentile
from meshcore.testing import ScriptedProviders, Simulator, simple_config


def with_stats(cfg: dict[str, Any], flush: str = "10s", retention: str = "7d") -> dict[str, Any]:
    cfg["observability"] = {"connector": "modelmesh.null.v1",
                            "statistics": {"flush_interval": flush, "retention": retention}}
    return cfg


def flushes(sim: Simulator) -> list[tuple[float, StatsFlush]]:
    return [(now.mono, a.record) for now, _, acts in sim.trace.steps for a in acts
            if isinstance(a, Emit) and isinstance(a.record, StatsFlush)]


def test_request_counters_per_scope_r93() -> None:
    sim = Simulator(simple_config(["a", "b"]), ScriptedProviders({"pa.a": "500"}))
    for i in range(3):
        sim.submit("chat", at=float(i))
    sim.run()
    stats = sim.router.stats()
    pool = stats["pool.chat"]
    assert pool["requests_total"] == 3
    assert pool["requests_success"] == 3  # a fails, b serves every request
    assert stats["model.pb.b"]["requests_success"] == 3
    assert stats["provider.pb"]["tokens_in"] == 30 and stats["provider.pb"]["tokens_out"] == 15
    assert pool["error_rate"] == 0.0
    assert pool["rotation_events"] >= 1  # a -> b
    assert stats["model.pb.b"]["latency_p50"] == pytest.approx(50.0)  # scripted latency 0.05 s
    assert pool["last_updated"].endswith("Z")


def test_failed_requests_and_error_rate_r93() -> None:
    cfg = simple_config(["a"])
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "200, 500, 200, 500"}))
    for i in range(4):
        sim.submit("chat", at=float(i) * 0.01)
    sim.run()
    pool = sim.router.stats()["pool.chat"]
    assert pool["requests_total"] == 4
    assert pool["requests_failed"] == pool["requests_total"] - pool["requests_success"]
    assert pool["requests_failed"] >= 1
    assert pool["error_rate"] == pool["requests_failed"] / 4


def test_standby_downtime_and_events_r93() -> None:
    cfg = simple_config(["a", "b"], deactivation={"retry_limit": 1},
                        recovery={"cooldown": "30s", "max_cooldown": "30s"})
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500, 200"}))
    sim.submit("chat", at=0.0)
    sim.inject(Tick(), at=10.0)  # the view is at the router's latest `now`
    sim.run(until=10.0)
    mid = sim.router.stats()["model.pa.a"]
    assert mid["standby_events"] == 1
    assert 9.0 <= mid["downtime_total"] <= 10.5  # an open standby period counts up to now
    sim.submit("chat", at=100.0)
    sim.run()
    after = sim.router.stats()["model.pa.a"]
    assert after["standby_events"] == 1
    assert 25.0 <= after["downtime_total"] <= 35.0  # closed when the cooldown ended
    assert sim.router.stats()["pool.chat"]["standby_events"] == 1


def test_flush_timer_emits_every_interval_r89() -> None:
    sim = Simulator(with_stats(simple_config(["a"]), flush="10s"))
    sim.submit("chat", at=0.0)
    sim.run(until=35.0)
    got = flushes(sim)
    assert [round(t) for t, _ in got] == [10, 20, 30]
    assert got[0][1].scopes["pool.chat"]["requests_total"] == 1


def test_no_flush_timer_without_statistics_sink_r89() -> None:
    sim = Simulator(simple_config(["a"]))
    sim.submit("chat", at=0.0)
    sim.run(until=500.0)
    assert flushes(sim) == []
    assert sim.router.next_deadline() is None


def test_retention_drops_old_statistics_r89() -> None:
    sim = Simulator(with_stats(simple_config(["a"]), flush="1h", retention="100s"))
    sim.submit("chat", at=0.0)
    sim.run(until=50.0)
    assert sim.router.stats()["pool.chat"]["requests_total"] == 1
    sim.submit("chat", at=300.0)
    sim.run(until=301.0)
    assert sim.router.stats()["pool.chat"]["requests_total"] == 1  # the first one is gone


def test_stats_do_not_change_routing_decisions_r110() -> None:
    scripts = {"pa.a": "500, 200, 429 with retry-after 2, 200"}

    def run(cfg: dict[str, Any]) -> list[str | None]:
        sim = Simulator(cfg, ScriptedProviders(dict(scripts)), seed=4)
        for i in range(6):
            sim.submit("chat", at=float(i))
        sim.run(until=60.0)
        return list(sim.trace.served_by().values())

    assert run(simple_config(["a", "b"])) == run(with_stats(simple_config(["a", "b"])))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1,
                max_size=200))
def test_percentiles_are_sample_values_and_ordered_r93(values: list[float]) -> None:
    ordered = sorted(values)
    p50, p95, p99 = (percentile(ordered, q) for q in (50, 95, 99))
    assert p50 in ordered and p99 in ordered
    assert ordered[0] <= p50 <= p95 <= p99 <= ordered[-1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["200", "500", "timeout"]), min_size=1, max_size=12))
def test_totals_add_up_r93(script: list[str]) -> None:
    sim = Simulator(simple_config(["a"]), ScriptedProviders({"pa.a": ", ".join(script)}))
    for i in range(len(script)):
        sim.submit("chat", at=float(i) * 100)
    sim.run()
    results = sim.trace.results
    pool = sim.router.stats()["pool.chat"]
    assert pool["requests_total"] == len(results)
    delivered = sum(1 for r in results.values() if type(r).__name__ == "Deliver")
    assert pool["requests_success"] == delivered
    assert pool["requests_success"] + pool["requests_failed"] == pool["requests_total"]


def test_latency_window_keeps_last_1000_samples_r93() -> None:
    book = StatsBook(retention_s=1e9)
    from meshcore.records import RequestLogEntry

    for i in range(1500):
        book.request(RequestLogEntry("t", f"r{i}", "p", None, "synchronous", "m", "x", 200,
                                     "success", 1, float(i)), mono=float(i))
    view = book.view(1500.0, {})
    assert view["pool.p"]["requests_total"] == 1500
    assert view["pool.p"]["latency_p50"] >= 500.0  # only the last 1000 samples count
    assert view["pool.p"]["latency_avg"] == sum(range(500, 1500)) / 1000


def test_latency_window_of_a_scope_fed_by_several_keys_r93() -> None:
    """A pool's last 1,000 samples come from whichever models served them:
    the per-(pool, model, provider) sample queues merge back in arrival
    order, ties of the same instant included."""
    book = StatsBook(retention_s=1e9)
    from meshcore.records import RequestLogEntry

    for i in range(1500):
        model = "a" if (i // 7) % 3 else "b"  # uneven runs of each model
        book.request(RequestLogEntry("t", f"r{i}", "p", None, "synchronous", model, "x", 200,
                                     "success", 1, float(i)), mono=float(i // 2))
    view = book.view(1500.0, {})
    assert view["pool.p"]["latency_avg"] == sum(range(500, 1500)) / 1000
    assert view["provider.x"]["latency_avg"] == sum(range(500, 1500)) / 1000
    b_samples = [i for i in range(1500) if not (i // 7) % 3]
    assert view["model.b"]["latency_avg"] == sum(b_samples) / len(b_samples)
    assert view["pool.p"]["latency_p50"] == 999.0
