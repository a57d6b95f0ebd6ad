"""Conformance: each strategy's order on every driver, and identical decisions
on all three drivers for the same seed and fault plan (SPEC R-53, R-99, R-110;
ARCHITECTURE rules 3-5)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _facade import DRIVERS, Driver, config_for

from adapters.demo import decision_lines
from adapters.fake_provider import FakeProviderServer
from meshcore import replay

Servers = Callable[..., list[FakeProviderServer]]


def _served(mesh: Any, n: int, **kw: Any) -> list[str]:
    return [mesh.chat(**kw).model for _ in range(n)]


def test_stick_until_failure_order_r53(driver: Driver, servers: Servers) -> None:
    """Sticks to the current model; on its deactivation moves on and stays."""
    a, b, c = servers([{}, {}, {"status": 500}], None, None)
    cfg = config_for([a, b, c], pool={"strategy": "stick-until-failure",
                                      "deactivation": {"retry_limit": 1},
                                      "recovery": {"cooldown": "60s"}})
    with driver.open(cfg) as mesh:
        assert _served(mesh, 5) == ["p0.m0", "p0.m0", "p1.m1", "p1.m1", "p1.m1"]
        assert len(a.requests) == 3 and c.requests == []


def test_round_robin_order_r53(driver: Driver, servers: Servers) -> None:
    """[A,B,C] -> A,B,C,A; with B in standby -> A,C,A,C (R-53 example)."""
    a, b, c = servers(None, None, None)
    with driver.open(config_for([a, b, c], pool={"strategy": "round-robin"})) as mesh:
        assert _served(mesh, 4) == ["p0.m0", "p1.m1", "p2.m2", "p0.m0"]
        mesh.call(mesh.client.deactivate, "p1.m1")
        assert _served(mesh, 4) == ["p2.m2", "p0.m0", "p2.m2", "p0.m0"]
        assert mesh.explain()["selected_model"] == mesh.explain()["selected_model"]


def test_priority_selection_order_r53(driver: Driver, servers: Servers) -> None:
    """model_priority first; a recovered higher-priority model gets traffic back."""
    a, b, c = servers(None, None, None)
    cfg = config_for([a, b, c], pool={"strategy": "priority-selection",
                                      "model_priority": ["p2.m2", "p0.m0"]})
    with driver.open(cfg) as mesh:
        assert _served(mesh, 2) == ["p2.m2", "p2.m2"]
        mesh.call(mesh.client.deactivate, "p2.m2")
        assert _served(mesh, 2) == ["p0.m0", "p0.m0"]
        mesh.call(mesh.client.activate, "p2.m2")
        assert _served(mesh, 1) == ["p2.m2"]


def test_cost_first_order_r53(driver: Driver, servers: Servers) -> None:
    """The cheapest estimated request wins; unpriced models rank last."""
    a, b, c = servers(None, None, None)
    price = {"p1.m1": {"pricing": {"input_per_1m": 0.5, "output_per_1m": 1.0}},
             "p2.m2": {"pricing": {"input_per_1m": 5.0, "output_per_1m": 15.0}}}
    cfg = config_for([a, b, c], models=price, pool={"strategy": "cost-first"})
    with driver.open(cfg) as mesh:
        assert _served(mesh, 2) == ["p1.m1", "p1.m1"]
        mesh.call(mesh.client.deactivate, "p1.m1")
        assert _served(mesh, 1) == ["p2.m2"]


def test_latency_first_order_r53(driver: Driver, servers: Servers) -> None:
    """Lowest mean latency wins; a model without history scores the median."""
    slow, fast = servers([{"status": 500}, {"delay": 0.15}], None)
    with driver.open(config_for([slow, fast], pool={"strategy": "latency-first"})) as mesh:
        # 1: p0 fails, p1 serves (p1 known fast); 2: p0 unknown = median = tie -> pool
        # order -> p0 (known slow now); then p1 always
        assert _served(mesh, 5) == ["p1.m1", "p0.m0", "p1.m1", "p1.m1", "p1.m1"]


def test_session_stickiness_order_r53(driver: Driver, servers: Servers) -> None:
    """A session keeps its model; assignment is the same on every driver."""
    a, b, c = servers(None, None, None)
    with driver.open(config_for([a, b, c], pool={"strategy": "session-stickiness"})) as mesh:
        first = {f"s{i}": mesh.chat(session_id=f"s{i}").model for i in range(8)}
        again = {f"s{i}": mesh.chat(session_id=f"s{i}").model for i in reversed(range(8))}
        assert first == again
        assert len(set(first.values())) >= 2  # rendezvous spreads sessions
        assert _served(mesh, 2) == ["p0.m0", "p0.m0"]  # no session key: pool order
        mesh.call(mesh.client.deactivate, first["s0"])
        moved = mesh.chat(session_id="s0").model  # fallback mode reassigns
        assert moved != first["s0"]
        assert mesh.chat(session_id="s0").model == moved


def test_rate_limit_aware_order_r53(driver: Driver, servers: Servers) -> None:
    """The first model in pool order below the usage threshold wins (R-55 headers)."""
    low = {"headers": {"x-ratelimit-limit-requests": "100",
                       "x-ratelimit-remaining-requests": "5"}}
    a, b = servers([low], None)
    with driver.open(config_for([a, b], pool={"strategy": "rate-limit-aware"})) as mesh:
        assert _served(mesh, 3) == ["p0.m0", "p1.m1", "p1.m1"]
        a.set_plan([{"headers": {"x-ratelimit-limit-requests": "100",
                                 "x-ratelimit-remaining-requests": "90"}}])
        mesh.call(mesh.client.deactivate, "p1.m1")
        assert _served(mesh, 1) == ["p0.m0"]  # refreshes p0's rate data (90 % left)
        mesh.call(mesh.client.activate, "p1.m1")
        assert _served(mesh, 1) == ["p0.m0"]


def test_load_balanced_is_seeded_r53(driver: Driver, servers: Servers) -> None:
    """Weighted random draws from the seeded RNG: every model serves, and the
    same seed gives the same sequence again on a fresh client."""
    a, b, c = servers(None, None, None)
    cfg = config_for([a, b, c], pool={"strategy": "load-balanced"})
    with driver.open(cfg, seed=99) as mesh:
        first = _served(mesh, 24)
    with driver.open(cfg, seed=99) as mesh:
        assert _served(mesh, 24) == first
    assert set(Counter(first)) == {"p0.m0", "p1.m1", "p2.m2"}


# ------------------------------------------------------------ cross-driver determinism

PLAN_A = [{"status": 503, "retry_after": 0.05}, {}, {"status": 500}, {"status": 500}, {},
          {"reset": True}, {}]
PLAN_B = [{}, {"status": 429, "retry_after": 0.05}, {}, {"status": 400}, {}]


def _scenario(driver: Driver, log: Path) -> tuple[list[str], list[str]]:
    with FakeProviderServer({"m0": PLAN_A}) as a, FakeProviderServer({"m1": PLAN_B}) as b, \
            FakeProviderServer() as c:
        cfg = config_for([a, b, c], pool={
            "strategy": "load-balanced",
            "retry": {"max_attempts": 2, "initial_delay": "10ms", "max_delay": "40ms"},
            "deactivation": {"retry_limit": 2},
            "recovery": {"cooldown": "60s"},
        })
        served: list[str] = []
        with driver.open(cfg, seed=2024, record=str(log)) as mesh:
            for i in range(14):
                if i % 4 == 3:
                    res = mesh.stream()
                    served.append(f"stream {sorted(res.models)} {type(res.error).__name__}")
                else:
                    served.append(mesh.chat().model)
    lines = log.read_text().splitlines()
    assert replay(lines).ok
    return served, decision_lines(lines)


def test_same_seed_and_plan_same_decisions_on_all_drivers_r99(tmp_path: Path) -> None:
    """ARCHITECTURE rules 3-5: identical routing decisions (sends, retries,
    rotations, deactivations, deliveries) on sync, asyncio and trio."""
    results = {name: _scenario(Driver(name), tmp_path / f"{name}.jsonl") for name in DRIVERS}
    served, decisions = results["sync"]
    assert any("model_deactivated" in d for d in decisions)
    assert any("retry" in d for d in decisions)
    assert any("model_rotated" in d for d in decisions)
    for name in ("asyncio", "trio"):
        assert results[name][0] == served, name
        assert results[name][1] == decisions, name

