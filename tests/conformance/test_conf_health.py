"""Conformance: deactivation, recovery, provider cascade, deadlines and budgets on
every driver (SPEC R-31, R-44, R-47..R-49, R-52, R-59, R-62)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from _facade import Driver, Mesh, config_for, model, provider

from adapters import (
    AllProvidersExhaustedError,
    AuthenticationError,
    BudgetExceededError,
    NoActiveModelError,
    StreamInterruptedError,
)
from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]
COOLDOWN = 0.6


def _health_pool(**extra: Any) -> dict[str, Any]:
    return {"strategy": "priority-selection", "model_priority": ["p0.m0", "p1.m1"],
            "deactivation": {"retry_limit": 2},
            "recovery": {"cooldown": f"{COOLDOWN}s"}, **extra}


def _deactivate_p0(mesh: Mesh, bad: FakeProviderServer) -> float:
    """Two requests, each failing once on p0 and served by p1: p0 reaches retry_limit."""
    assert mesh.chat().model == "p1.m1"
    assert mesh.row("p0.m0").status == "active"
    assert mesh.chat().model == "p1.m1"
    at = time.monotonic()
    row = mesh.row("p0.m0")
    assert (row.status, row.reason, row.failure_count) == ("standby", "error_threshold", 2)
    assert len(bad.requests) == 2
    return at


def test_deactivation_after_retry_limit_and_recovery_r44_r47(
        driver: Driver, servers: Servers) -> None:
    """R-44: `retry_limit` counted failures put the model in standby; while it
    cools down it gets no traffic; R-47/R-49: after the cooldown its trial
    succeeds and it takes traffic back (priority-selection)."""
    bad, good = servers([{"status": 500}, {"status": 500}, {}], None)
    with driver.open(config_for([bad, good], pool=_health_pool())) as mesh:
        at = _deactivate_p0(mesh, bad)
        assert mesh.chat().model == "p1.m1"  # in standby: no request reaches p0
        assert len(bad.requests) == 2
        assert mesh.status().standby == 1
        ex = mesh.explain()
        assert ex["selected_model"] == "p1.m1"
        assert mesh.wait_until(lambda: time.monotonic() >= at + COOLDOWN + 0.05, timeout=5)
        resp = mesh.chat()  # the half-open trial (R-49, no background probes)
        assert resp.model == "p0.m0"
        row = mesh.row("p0.m0")
        assert (row.status, row.failure_count) == ("active", 0)
        assert mesh.chat().model == "p0.m0"


def test_failed_trial_goes_back_to_standby_r49(driver: Driver, servers: Servers) -> None:
    """R-49: a counted failure of the half-open trial puts the model back in standby."""
    bad, good = servers([{"status": 500}], None)
    with driver.open(config_for([bad, good], pool=_health_pool())) as mesh:
        at = _deactivate_p0(mesh, bad)
        assert mesh.wait_until(lambda: time.monotonic() >= at + COOLDOWN + 0.05, timeout=5)
        assert mesh.chat().model == "p1.m1"  # trial on p0 failed, then p1 served
        assert len(bad.requests) == 3
        row = mesh.row("p0.m0")
        assert (row.status, row.reason) == ("standby", "error_threshold")


@pytest.mark.parametrize("driver", ["asyncio", "trio"], indirect=True)
def test_background_probe_recovers_model_r49(driver: Driver, servers: Servers) -> None:
    """R-49: inside `async with`, the trial is a background probe sent when the
    cooldown expires; user traffic returns only after it succeeded."""
    bad, good = servers([{"status": 500}, {"status": 500}, {}], None)
    with driver.open(config_for([bad, good], pool=_health_pool()), background=True) as mesh:
        _deactivate_p0(mesh, bad)
        assert mesh.wait_until(lambda: mesh.row("p0.m0").status == "active", timeout=5)
        probe = bad.requests[2]
        assert probe.json["max_tokens"] == 1  # the cheapest chat request
        assert mesh.chat().model == "p0.m0"
        assert len(bad.requests) == 4


def test_all_standby_fails_fast_without_a_call_r56(driver: Driver, servers: Servers) -> None:
    """R-56: with every member in standby, `fail_fast` raises NoActiveModelError
    and calls no provider."""
    (bad,) = servers([{"status": 503}])
    cfg = config_for([bad], pool={"deactivation": {"retry_limit": 1},
                                  "recovery": {"cooldown": "60s"}})
    with driver.open(cfg) as mesh:
        with pytest.raises(AllProvidersExhaustedError):
            mesh.chat()
        with pytest.raises(NoActiveModelError) as info:
            mesh.chat()
        assert info.value.details["pool_name"] == "chat"
        assert len(bad.requests) == 1


def test_auth_failure_deactivates_provider_in_every_pool_r52(
        driver: Driver, servers: Servers) -> None:
    """R-34/R-52: a 401 deactivates the provider (all its models, all pools) and
    the request rotates to another provider; no further call reaches it."""
    bad, good = servers([{"status": 401}], None)
    cfg = {
        "providers": {"p0": provider(bad), "p1": provider(good)},
        "models": {"p0.m0": model("p0", "m0"), "p0.mx": model("p0", "mx"),
                   "p1.m1": model("p1", "m1")},
        "pools": {
            "chat": {"models": ["p0.m0", "p0.mx", "p1.m1"], "retry": {"max_attempts": 2}},
            "other": {"models": ["p0.mx", "p1.m1"], "retry": {"max_attempts": 2}},
        },
    }
    with driver.open(cfg) as mesh:
        assert mesh.chat().model == "p1.m1"
        assert len(bad.requests) == 1  # no retry, and p0.mx (same provider) is skipped
        assert mesh.call(mesh.client.active_providers) == ["p1"]
        for pool in ("chat", "other"):
            ex = mesh.explain(pool)
            assert ex["selected_model"] == "p1.m1"
            eligible = {c["model_id"]: c["eligible"] for c in ex["candidates"]}
            assert eligible["p0.mx"] is False  # never tried, deactivated with its provider
        assert mesh.chat(model="other").model == "p1.m1"
        assert len(bad.requests) == 1
        # only the failing provider left: the caller sees AuthenticationError
        good.set_plan([{"status": 403}])
        with pytest.raises(AllProvidersExhaustedError) as info:
            mesh.chat(model="other")
        assert isinstance(info.value.last_error, AuthenticationError)


@pytest.mark.parametrize("where", ["call", "pool"])
def test_end_to_end_deadline_r31(driver: Driver, servers: Servers, where: str) -> None:
    """R-31: the deadline bounds the whole request across attempts; the request
    fails with reason `deadline_exceeded` and no later attempt starts."""
    slow, good = servers([{"silent": True}], None)
    pool = {"deadline": "0.5s"} if where == "pool" else {}
    with driver.open(config_for([slow, good], timeout="5s", pool=pool)) as mesh:
        t0 = time.monotonic()
        with pytest.raises(AllProvidersExhaustedError) as info:
            if where == "call":
                mesh.chat(timeout=0.5)
            else:
                mesh.call(mesh.client.chat.completions.create, model="chat",
                          messages=[{"role": "user", "content": "hi"}])
        elapsed = time.monotonic() - t0
        assert 0.45 <= elapsed < 2.5
        assert info.value.details["reason"] == "deadline_exceeded"
        assert good.requests == []


def test_deadline_bounds_a_slow_stream_r31(driver: Driver, servers: Servers) -> None:
    """R-31: for streams the deadline covers the body until the last chunk."""
    (srv,) = servers([{"chunk_delay": 0.3, "content": "one two three four five six"}])
    with driver.open(config_for([srv], timeout="5s")) as mesh:
        t0 = time.monotonic()
        res = mesh.stream(timeout=0.7)
        assert time.monotonic() - t0 < 2.5
        # committed at the first chunk, then cut by the deadline
        assert isinstance(res.error, StreamInterruptedError)
        assert res.text == res.error.partial_text
        assert res.text.startswith("one") and res.text != "one two three four five six"


def _budget_config(bad: FakeProviderServer, good: FakeProviderServer,
                   on_exceeded: str) -> dict[str, Any]:
    price = {"pricing": {"input_per_1m": 1000.0, "output_per_1m": 1000.0}}
    return config_for(
        [bad, good],
        providers={"p0": {"budget": {"daily_limit": 0.01}}},
        models={"p0.m0": price, "p1.m1": price},
        pool={"on_budget_exceeded": on_exceeded},
    )


def test_budget_breach_is_never_sent_r62(driver: Driver, servers: Servers) -> None:
    """R-59/R-62 `error`: the estimate breaches the limit, so nothing is sent and
    BudgetExceededError reaches the caller; the model's health is untouched."""
    bad, good = servers(None, None)
    with driver.open(_budget_config(bad, good, "error")) as mesh:
        with pytest.raises(BudgetExceededError) as info:
            mesh.chat(max_tokens=50)
        assert info.value.limit_type == "daily"
        assert info.value.actual_value > 0.01
        assert bad.requests == [] and good.requests == []
        row = mesh.row("p0.m0")
        assert (row.status, row.failure_count) == ("active", 0)


def test_budget_breach_rotates_r62(driver: Driver, servers: Servers) -> None:
    """R-62 `rotate`: the breaching provider's model goes to standby
    (`budget_exceeded`) unsent and the next candidate serves."""
    bad, good = servers(None, None)
    with driver.open(_budget_config(bad, good, "rotate")) as mesh:
        assert mesh.chat(max_tokens=50).model == "p1.m1"
        assert bad.requests == []
        row = mesh.row("p0.m0")
        assert (row.status, row.reason, row.failure_count) == ("standby", "budget_exceeded", 0)


def test_all_standby_wait_for_recovery_r56(driver: Driver, servers: Servers) -> None:
    """R-56 `wait`: the request waits (a timer wakes the driver) for the earliest
    recovery inside its deadline and is served by that model's trial."""
    (srv,) = servers([{"status": 503}, {}])
    cfg = config_for([srv], pool={"deactivation": {"retry_limit": 1},
                                  "recovery": {"cooldown": f"{COOLDOWN}s"},
                                  "on_all_standby": "wait"})
    with driver.open(cfg) as mesh:
        with pytest.raises(AllProvidersExhaustedError):
            mesh.chat()
        failed_at = srv.requests[0].received_at
        assert mesh.row("p0.m0").status == "standby"
        assert mesh.chat(timeout=5.0).model == "p0.m0"
        waited = srv.requests[1].received_at - failed_at
        assert COOLDOWN - 0.05 <= waited < COOLDOWN + 1.5
        assert mesh.row("p0.m0").status == "active"
