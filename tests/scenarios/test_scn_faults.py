"""Fault catalogue, non-streamed requests, on the sync client, the async client on
asyncio and trio, and the proxy (issue 6; SPEC R-31..R-34, R-38, R-64, R-116).

Each scenario checks who served (or which error, with its attempt history), that
the call ended within its deadline, and that the usage the caller saw and the
usage totals are exactly what the fake provider reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

from _scenario_kit import (
    MARGIN,
    Target,
    assert_failed,
    assert_served,
    assert_usage_totals,
    config,
    ok,
    served_log,
)

from adapters import AllProvidersExhaustedError, ProviderError, RateLimitError
from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]
DEADLINE = 3.0
FIXED = {"backoff": "fixed", "initial_delay": "20ms"}


def test_429_with_retry_after_waits_then_same_model_r38(target: Target,
                                                        servers: Servers) -> None:
    """R-37/R-38: a 429 with `Retry-After: 0.4` is retried on the same model after
    max(backoff, Retry-After); the retry serves."""
    (srv,) = servers([{"status": 429, "retry_after": 0.4}, ok(11, 5)])
    cfg = config([srv], pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p0.m0", (11, 5), deadline=DEADLINE, text="Hello from m0")
        assert served_log(srv) == ["m0", "m0"]
        first, second = srv.requests
        assert 0.38 <= second.received_at - first.received_at < 0.4 + MARGIN
        assert out.elapsed >= 0.38
        assert sess.row("p0.m0")["failure_count"] == 0  # the success reset it
        if target.is_proxy:
            assert out.headers["x-modelmesh-attempts"] == "2"
        assert_usage_totals(sess, {"p0.m0": (1, 11, 5)})


def test_429_with_http_date_retry_after_r38(target: Target, servers: Servers) -> None:
    """R-38: a Retry-After given as an HTTP-date (2 s ahead, whole seconds) is
    converted with the wall clock at receipt and waited before the retry."""
    when = formatdate(time.time() + 2.0, usegmt=True)
    (srv,) = servers([{"status": 429, "retry_after": when}, ok(11, 5)])
    cfg = config([srv], pool={"retry": {"max_attempts": 2, **FIXED}})
    deadline = 4.0
    with target.open(cfg) as sess:
        out = sess.chat(deadline=deadline)
        assert_served(out, "p0.m0", (11, 5), deadline=deadline)
        first, second = srv.requests
        assert 0.9 <= second.received_at - first.received_at < 2.0 + MARGIN


def test_429_retry_after_above_max_delay_rotates_and_cools_down_r34(
        target: Target, servers: Servers) -> None:
    """R-34/R-48: a Retry-After (30 s) above `retry.max_delay` (1 s) is not waited:
    the request rotates at once and the model goes to standby (`error_threshold`)."""
    bad, good = servers([{"status": 429, "retry_after": 30}], [ok(12, 6)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 3, "max_delay": "1s",
                                              **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p1.m1", (12, 6), deadline=DEADLINE)
        assert out.elapsed < 1.0
        assert served_log(bad, good) == ["m0", "m1"]
        row = sess.row("p0.m0")
        assert (row["status"], row["reason"]) == ("standby", "error_threshold")
        _ = sess.chat(deadline=DEADLINE)  # cooling down: no request reaches it
        assert served_log(bad, good) == ["m0", "m1", "m1"]
        assert_usage_totals(sess, {"p1.m1": (2, 24, 12)})


def test_429_without_retry_after_backs_off_then_rotates_r34(target: Target,
                                                            servers: Servers) -> None:
    """R-34/R-37: a persistent 429 without Retry-After is retried after the plain
    backoff (no extra wait), then the request rotates; both attempts count."""
    bad, good = servers([{"status": 429}], [ok(12, 6)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 2, "backoff": "fixed",
                                              "initial_delay": "50ms"},
                                    "deactivation": {"retry_limit": 10}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p1.m1", (12, 6), deadline=DEADLINE)
        assert served_log(bad, good) == ["m0", "m0", "m1"]
        first, second = bad.requests
        assert 0.045 <= second.received_at - first.received_at < 0.05 + MARGIN
        row = sess.row("p0.m0")
        assert (row["status"], row["failure_count"]) == ("active", 2)
        assert_usage_totals(sess, {"p1.m1": (1, 12, 6)})
        # the same fault when it ends the request: RateLimitError as last_error
        good.set_plan([{"status": 429}])
        bad.reset()
        good.reset()
        out = sess.chat(deadline=DEADLINE)
        assert_failed(out, "exhausted", [("p0.m0", "rate_limited")] * 2
                      + [("p1.m1", "rate_limited")] * 2, deadline=DEADLINE)
        if not target.is_proxy:
            assert isinstance(out.exc, AllProvidersExhaustedError)
            assert isinstance(out.exc.last_error, RateLimitError)
        else:
            codes = {a["status_code"] for a in out.body["modelmesh"]["attempts"]}
            assert codes == {429}


def test_500_once_is_retried_on_the_same_model_r36(target: Target, servers: Servers) -> None:
    """R-36: one 500 then success: the retry on the same model serves; no rotation."""
    srv, other = servers([{"status": 500}, ok(9, 4)], [ok(1, 1)])
    cfg = config([srv, other], pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p0.m0", (9, 4), deadline=DEADLINE)
        assert served_log(srv, other) == ["m0", "m0"]
        assert sess.row("p0.m0")["failure_count"] == 0
        assert_usage_totals(sess, {"p0.m0": (1, 9, 4)})


def test_malformed_body_is_retried_then_rotates_r34(target: Target, servers: Servers) -> None:
    """R-33/R-34: a 2xx with invalid JSON is a `server_error`, always retried on the
    same model, then rotated."""
    bad, good = servers([{"malformed": True}], [ok(5, 7)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p1.m1", (5, 7), deadline=DEADLINE)
        assert served_log(bad, good) == ["m0", "m0", "m1"]
        assert sess.row("p0.m0")["failure_count"] == 2
        assert_usage_totals(sess, {"p1.m1": (1, 5, 7)})


def test_503_persistent_exhausts_every_model_r34(target: Target, servers: Servers) -> None:
    """R-34: a persistent 503 everywhere: each model is retried, then the request
    fails with the full attempt history; proxy 502 `all_providers_exhausted` (R-116)."""
    a, b = servers([{"status": 503}], [{"status": 503}])
    cfg = config([a, b], pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        expected = [("p0.m0", "server_error")] * 2 + [("p1.m1", "server_error")] * 2
        assert_failed(out, "exhausted", expected, deadline=DEADLINE)
        assert served_log(a, b) == ["m0", "m0", "m1", "m1"]
        if target.is_proxy:
            rows = out.body["modelmesh"]["attempts"]
            assert [(r["provider_id"], r["status_code"]) for r in rows] == [
                ("p0", 503), ("p0", 503), ("p1", 503), ("p1", 503)]
        else:
            assert isinstance(out.exc, AllProvidersExhaustedError)
            last = out.exc.last_error
            assert isinstance(last, ProviderError) and last.status_code == 503
        assert sess.row("p0.m0")["failure_count"] == 2
        assert_usage_totals(sess, {})  # nothing delivered, no usage reported


def test_connection_reset_is_retried_then_rotates_r34(target: Target,
                                                      servers: Servers) -> None:
    """R-33/R-34: a TCP reset is `connection_error`: retried on the same model,
    then rotated; it counts against the model."""
    bad, good = servers([{"reset": True}], [ok(8, 3)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p1.m1", (8, 3), deadline=DEADLINE)
        assert served_log(bad, good) == ["m0", "m0", "m1"]
        assert sess.row("p0.m0")["failure_count"] == 2
        assert_usage_totals(sess, {"p1.m1": (1, 8, 3)})


def test_silent_provider_times_out_and_rotates_r32(target: Target, servers: Servers) -> None:
    """R-32/R-34: a provider that never answers hits the provider timeout (0.5 s);
    a timeout is not retried on the same model; the next model serves."""
    bad, good = servers([{"silent": True}], [ok(10, 2)])
    cfg = config([bad, good], timeout="0.5s",
                 pool={"retry": {"max_attempts": 2, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p1.m1", (10, 2), deadline=DEADLINE)
        assert served_log(bad, good) == ["m0", "m1"]
        assert out.elapsed >= 0.45
        assert sess.row("p0.m0")["failure_count"] == 1
        assert_usage_totals(sess, {"p1.m1": (1, 10, 2)})


def test_silent_everywhere_ends_at_the_deadline_r31(target: Target, servers: Servers) -> None:
    """R-31: the request deadline (1 s) cuts a silent attempt whose provider timeout
    (5 s) is longer: `deadline_exceeded`, proxy 504 (R-116), no further attempt."""
    a, b = servers([{"silent": True}], [{"silent": True}])
    deadline = 1.0
    cfg = config([a, b], timeout="5s")
    with target.open(cfg) as sess:
        out = sess.chat(deadline=deadline)
        assert_failed(out, "deadline_exceeded", None, deadline=deadline)
        assert out.elapsed >= deadline - 0.05
        assert served_log(a, b) == ["m0"]
        assert_usage_totals(sess, {})


def test_deadline_exceeded_names_the_cut_attempt_r34(target: Target, servers: Servers) -> None:
    """R-34: the error's attempt history has one record per attempt, including the
    one in flight when the deadline (0.6 s) passed."""
    (a,) = servers([{"silent": True}])
    with target.open(config([a], timeout="5s")) as sess:
        out = sess.chat(deadline=0.6)
        assert_failed(out, "deadline_exceeded", None, deadline=0.6)
        assert served_log(a) == ["m0"]
        assert [m for m, _ in out.attempts] == ["p0.m0"]


def test_context_length_rotates_to_a_larger_window_r34(target: Target,
                                                       servers: Servers) -> None:
    """R-34: `context_length_exceeded` rotates only to candidates with a larger or
    unknown context window (m1's is smaller: skipped); it never counts."""
    cle = {"status": 400, "code": "context_length_exceeded"}
    a, b, c = servers([cle], [ok(1, 1)], [ok(14, 9)])
    cfg = config([a, b, c], models={"p0.m0": {"constraints": {"context_window": 8000}},
                                    "p1.m1": {"constraints": {"context_window": 4000}}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_served(out, "p2.m2", (14, 9), deadline=DEADLINE)
        assert served_log(a, b, c) == ["m0", "m2"]
        assert sess.row("p0.m0")["failure_count"] == 0
        assert_usage_totals(sess, {"p2.m2": (1, 14, 9)})


def test_context_length_everywhere_is_a_request_fault_r116(target: Target,
                                                           servers: Servers) -> None:
    """R-34/R-116: every attempt `context_length_exceeded`: the client raises
    AllProvidersExhaustedError; the proxy answers 400 with the provider code."""
    cle = {"status": 400, "code": "context_length_exceeded"}
    a, b = servers([cle], [cle])
    with target.open(config([a, b])) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_failed(out, "exhausted", [("p0.m0", "context_length_exceeded"),
                                         ("p1.m1", "context_length_exceeded")],
                      deadline=DEADLINE, proxy=(400, "context_length_exceeded"))
        if not target.is_proxy:
            assert isinstance(out.exc, AllProvidersExhaustedError)
            last = out.exc.last_error
            assert isinstance(last, ProviderError) and last.code == "context_length_exceeded"
        assert served_log(a, b) == ["m0", "m1"]
        assert sess.row("p0.m0")["failure_count"] == 0


def test_content_filter_fails_fast_r34(target: Target, servers: Servers) -> None:
    """R-34: `content_filter` neither retries nor rotates: the error reaches the
    caller directly; proxy 400 `content_filter` (R-116)."""
    bad, good = servers([{"status": 400, "code": "content_filter"}], [ok(1, 1)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 3, **FIXED}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE)
        assert_failed(out, "content_filter", [("p0.m0", "content_filter")],
                      deadline=DEADLINE)
        if not target.is_proxy:
            assert isinstance(out.exc, ProviderError)
            assert not isinstance(out.exc, AllProvidersExhaustedError)
        assert served_log(bad, good) == ["m0"]
        assert sess.row("p0.m0")["failure_count"] == 0
        assert_usage_totals(sess, {})
