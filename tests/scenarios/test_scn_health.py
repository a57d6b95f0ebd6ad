"""Fault catalogue across requests: a flapping primary and the accounting of who
served and with what usage, on all four targets (issue 6; SPEC R-41, R-44, R-47,
R-49, R-50, R-64, R-69, R-112)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _scenario_kit import (
    Session,
    Target,
    assert_served,
    assert_usage_totals,
    config,
    ok,
    served_log,
)

from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]
DEADLINE = 3.0
COOLDOWN = 0.6
P0, P1 = (7, 3), (4, 2)  # the token counts each provider reports


def _flapping_pool() -> dict[str, Any]:
    return {"strategy": "priority-selection", "model_priority": ["p0.m0", "p1.m1"],
            "deactivation": {"retry_limit": 3, "error_rate_threshold": 0.5,
                             "error_rate_window": 5, "error_rate_min_samples": 5},
            "recovery": {"cooldown": f"{COOLDOWN}s"}}


def _serve(sess: Session, model: str) -> None:
    out = sess.chat(deadline=DEADLINE)
    assert_served(out, model, P0 if model == "p0.m0" else P1, deadline=DEADLINE)


def test_flapping_primary_is_ejected_by_error_rate_then_recovers_r44(
        target: Target, servers: Servers) -> None:
    """R-44: a primary that fails every other request never reaches `retry_limit`
    (each success resets `failure_count`), but its error rate does (3 of 5): it goes
    to standby and takes no traffic; every request in between is served, by the
    fallback when the primary fails. R-47/R-49: after the cooldown its trial (a
    request, or the proxy's background probe, R-50) succeeds and it serves again."""
    fail = {"status": 500}
    flappy, steady = servers([fail, ok(*P0), fail, ok(*P0), fail, ok(*P0)], [ok(*P1)])
    with target.open(config([flappy, steady], pool=_flapping_pool())) as sess:
        for model in ("p1.m1", "p0.m0", "p1.m1", "p0.m0"):
            _serve(sess, model)
            row = sess.row("p0.m0")
            assert row["status"] == "active" and row["failure_count"] <= 1
        _serve(sess, "p1.m1")  # the 3rd failure in 5 outcomes ejects the primary
        ejected_at = time.monotonic()
        row = sess.row("p0.m0")
        assert (row["status"], row["reason"]) == ("standby", "error_threshold")
        _serve(sess, "p1.m1")  # in standby: no request reaches it
        assert served_log(flappy, steady) == ["m0", "m1", "m0", "m0", "m1", "m0", "m0",
                                              "m1", "m1"]
        if target.is_proxy:  # background probes run: the trial is a probe
            assert sess.wait_until(lambda: sess.row("p0.m0")["status"] == "active",
                                   timeout=COOLDOWN + 4.0)
            probe = flappy.requests[5]
            assert probe.json["max_tokens"] == 1  # the cheapest request
        else:
            assert sess.wait_until(lambda: time.monotonic() >= ejected_at + COOLDOWN + 0.05,
                                   timeout=COOLDOWN + 1.0)
        _serve(sess, "p0.m0")
        row = sess.row("p0.m0")
        assert (row["status"], row["failure_count"]) == ("active", 0)
        probes = 1 if target.is_proxy else 0  # probes count in tokens, not requests
        assert len(flappy.requests) == 6 + probes
        assert_usage_totals(sess, {"p0.m0": (3, P0[0] * (3 + probes), P0[1] * (3 + probes)),
                                   "p1.m1": (4, P1[0] * 4, P1[1] * 4)})


def test_accounting_names_the_serving_model_and_its_usage_r64(target: Target,
                                                              servers: Servers) -> None:
    """R-41/R-64/R-69: after a failover, the plain and the streamed answer name the
    model that served (never the pool) and carry its reported usage; the totals
    count only delivered answers; the proxy's headers say who served after how
    many attempts (R-112)."""
    bad, good = servers([{"status": 500}], [ok(13, 8)])
    with target.open(config([bad, good])) as sess:
        plain = sess.chat(deadline=DEADLINE)
        assert_served(plain, "p1.m1", (13, 8), deadline=DEADLINE)
        streamed = sess.chat(deadline=DEADLINE, stream=True)
        assert_served(streamed, "p1.m1", (13, 8), deadline=DEADLINE, stream=True,
                      text="Hello from m1")
        assert served_log(bad, good) == ["m0", "m1", "m0", "m1"]
        for out in (plain, streamed):
            if target.is_proxy:
                assert out.headers["x-modelmesh-provider"] == "p1"
                assert out.headers["x-modelmesh-attempts"] == "2"
        assert sess.row("p0.m0")["failure_count"] == 2
        assert_usage_totals(sess, {"p1.m1": (2, 26, 16)})
