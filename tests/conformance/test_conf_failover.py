"""Conformance: failover, retries and Retry-After on every driver
(SPEC R-33, R-34, R-36..R-39)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from _facade import Driver, config_for

from adapters import (
    AllProvidersExhaustedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]

# fault step -> (outcome class of R-33, typed last_error of R-34)
FAULTS: dict[str, tuple[dict[str, Any], str, type[ProviderError]]] = {
    "500": ({"status": 500}, "server_error", ProviderError),
    "503": ({"status": 503}, "server_error", ProviderError),
    "timeout": ({"silent": True}, "timeout", ProviderTimeoutError),
    "reset": ({"reset": True}, "connection_error", ProviderError),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_failover_to_next_model_r34(driver: Driver, servers: Servers, fault: str) -> None:
    """R-34: a failing first model rotates to the next; the failure counts (R-35)."""
    step, outcome, error_type = FAULTS[fault]
    bad, good = servers([step], None)
    cfg = config_for([bad, good], timeout="0.4s")
    with driver.open(cfg) as mesh:
        t0 = time.monotonic()
        resp = mesh.chat()
        assert resp.model == "p1.m1"
        assert time.monotonic() - t0 < 3.0
        assert len(bad.requests) == 1 and len(good.requests) == 1
        assert mesh.row("p0.m0").failure_count == 1
        assert mesh.row("p1.m1").failure_count == 0
        # both fail now: the request ends with the history of both attempts
        good.set_plan([step])
        with pytest.raises(AllProvidersExhaustedError) as info:
            mesh.chat()
        err = info.value
        assert [a.outcome.value for a in err.attempts] == [outcome, outcome]
        assert [a.model_id for a in err.attempts] == ["p0.m0", "p1.m1"]
        assert isinstance(err.last_error, error_type)
        assert err.details["reason"] == "exhausted"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_same_model_retry_then_success_r36(driver: Driver, servers: Servers,
                                          status: int) -> None:
    """R-36: a retryable status is retried on the same model up to max_attempts."""
    (srv,) = servers([{"status": status}, {"status": status}, {}])
    cfg = config_for([srv], pool={"retry": {"max_attempts": 3, "backoff": "fixed",
                                            "initial_delay": "20ms"}})
    with driver.open(cfg) as mesh:
        assert mesh.chat().model == "p0.m0"
        assert len(srv.requests) == 3
        gaps = [b.received_at - a.received_at for a, b in zip(srv.requests, srv.requests[1:],
                                                               strict=False)]
        assert all(g >= 0.015 for g in gaps), gaps  # the fixed 20 ms backoff was waited
        assert mesh.row("p0.m0").failure_count == 0  # the success resets it


@pytest.mark.parametrize("header", ["retry_after", "retry_after_ms"])
def test_retry_after_is_honoured_r38(driver: Driver, servers: Servers, header: str) -> None:
    """R-37/R-38: the retry waits max(backoff, Retry-After), from either header."""
    value = 0.4 if header == "retry_after" else 400
    (srv,) = servers([{"status": 429, header: value}, {}])
    cfg = config_for([srv], pool={"retry": {"max_attempts": 2, "backoff": "fixed",
                                            "initial_delay": "10ms"}})
    with driver.open(cfg) as mesh:
        resp = mesh.chat()
        assert resp.model == "p0.m0"
        first, second = srv.requests
        assert 0.38 <= second.received_at - first.received_at < 2.0


def test_retry_after_beyond_deadline_is_skipped_r31(driver: Driver, servers: Servers) -> None:
    """R-31: a same-model retry whose wait passes the deadline rotates instead."""
    bad, good = servers([{"status": 429, "retry_after": 30}], None)
    cfg = config_for([bad, good], pool={"retry": {"max_attempts": 3, "initial_delay": "10ms"}})
    with driver.open(cfg) as mesh:
        t0 = time.monotonic()
        assert mesh.chat(timeout=3.0).model == "p1.m1"
        assert time.monotonic() - t0 < 2.0
        assert len(bad.requests) == 1


@pytest.mark.parametrize(("step", "pool", "counts"), [
    ({"status": 400}, {}, False),
    ({"status": 404}, {}, False),
    ({"status": 503}, {"retry": {"max_attempts": 3, "non_retryable_codes": [503]}}, True),
    ({"status": 400, "code": "context_length_exceeded"}, {}, False),
], ids=["400", "404", "503-non-retryable", "context-length"])
def test_non_retryable_rotates_at_once_r34(driver: Driver, servers: Servers,
                                           step: dict[str, Any], pool: dict[str, Any],
                                           counts: bool) -> None:
    """R-34/R-36: non-retryable outcomes never retry the same model; they rotate."""
    bad, good = servers([step], None)
    retry = {"max_attempts": 3, "initial_delay": "10ms", **pool.get("retry", {})}
    cfg = config_for([bad, good], pool={**pool, "retry": retry})
    with driver.open(cfg) as mesh:
        assert mesh.chat().model == "p1.m1"
        assert len(bad.requests) == 1
        assert mesh.row("p0.m0").failure_count == (1 if counts else 0)


def test_content_filter_fails_fast_r34(driver: Driver, servers: Servers) -> None:
    """R-34: content_filter neither retries nor rotates; the error reaches the caller."""
    bad, good = servers([{"status": 400, "code": "content_filter"}], None)
    with driver.open(config_for([bad, good])) as mesh:
        with pytest.raises(ProviderError) as info:
            mesh.chat()
        assert info.value.code == "content_filter"
        assert not isinstance(info.value, AllProvidersExhaustedError)
        assert good.requests == []


def test_rate_limited_exhausted_error_r34(driver: Driver, servers: Servers) -> None:
    """R-34: a 429 that ends the request surfaces RateLimitError as last_error."""
    (srv,) = servers([{"status": 429, "retry_after": 0.05}])
    cfg = config_for([srv], pool={"retry": {"max_attempts": 2, "backoff": "fixed",
                                            "initial_delay": "10ms"}})
    with driver.open(cfg) as mesh:
        with pytest.raises(AllProvidersExhaustedError) as info:
            mesh.chat()
        assert isinstance(info.value.last_error, RateLimitError)
        assert [a.outcome.value for a in info.value.attempts] == ["rate_limited"] * 2
