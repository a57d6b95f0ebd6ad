"""Fault catalogue, streamed requests, on the sync client, the async client on
asyncio and trio, and the proxy (issue 6; SPEC R-32, R-65..R-69, R-114).

Before commit a failure is invisible (retry or rotation, R-66); after commit the
stream ends with an error and is never presented as complete (R-68): no final
chunk with a finish reason, `StreamInterruptedError` on the clients, and on the
proxy an SSE `error` event and no `[DONE]` (R-114).
"""

from __future__ import annotations

from collections.abc import Callable

from _scenario_kit import (
    Target,
    assert_failed,
    assert_interrupted,
    assert_served,
    assert_usage_totals,
    config,
    ok,
    served_log,
)

from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]
DEADLINE = 3.0
WORDS = "alpha beta gamma delta epsilon"


def test_slow_first_token_rotates_on_ttft_timeout_r66(target: Target,
                                                      servers: Servers) -> None:
    """R-32/R-66: a first content chunk later than `stream_first_chunk_timeout`
    (0.4 s) is a `ttft_timeout` before commit: the next model serves and nothing
    of the slow attempt reaches the caller."""
    slow, good = servers([ok(3, 3, ttft_delay=2.0, content="SLOW OUTPUT")],
                         [ok(15, 4)])
    cfg = config([slow, good], pool={"stream_first_chunk_timeout": "0.4s"})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_served(out, "p1.m1", (15, 4), deadline=DEADLINE, text="Hello from m1",
                      stream=True)
        assert served_log(slow, good) == ["m0", "m1"]
        assert 0.35 <= out.elapsed < 2.0  # rotated at the TTFT bound, not after 2 s
        assert sess.row("p0.m0")["failure_count"] == 1
        assert_usage_totals(sess, {"p1.m1": (1, 15, 4)})


def test_slow_first_token_within_its_bound_is_served_r32(target: Target,
                                                         servers: Servers) -> None:
    """R-32: a slow first token (0.5 s) within `stream_first_chunk_timeout` (1.5 s)
    is waited for; the model serves the stream."""
    slow, other = servers([ok(6, 5, ttft_delay=0.5)], [ok(1, 1)])
    cfg = config([slow, other], pool={"stream_first_chunk_timeout": "1.5s"})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_served(out, "p0.m0", (6, 5), deadline=DEADLINE, text="Hello from m0",
                      stream=True)
        assert out.elapsed >= 0.45
        assert served_log(slow, other) == ["m0"]
        assert_usage_totals(sess, {"p0.m0": (1, 6, 5)})


def test_cut_stream_is_interrupted_r68(target: Target, servers: Servers) -> None:
    """R-68: the connection closes after two content chunks: no retry, no rotation;
    the partial content, then an error; it counts against the model."""
    bad, good = servers([ok(5, 5, cut_after_chunks=2, content=WORDS)], [ok(1, 1)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 3}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_interrupted(out, "p0.m0", deadline=DEADLINE)
        assert out.text == "alpha beta "
        assert served_log(bad, good) == ["m0"]
        assert sess.row("p0.m0")["failure_count"] == 1


def test_stalled_stream_is_interrupted_by_the_gap_timeout_r32(target: Target,
                                                              servers: Servers) -> None:
    """R-32/R-68: after two chunks the provider stalls (5 s) longer than its
    `timeout` (0.6 s): the stream is interrupted at the gap bound, well before the
    request deadline, and never completes."""
    (stall,) = servers([ok(5, 5, content=WORDS, stall_after_chunks=2, stall_for=5.0)])
    (good,) = servers([ok(1, 1)])
    cfg = config([stall, good], timeout="0.6s", pool={"retry": {"max_attempts": 3}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_interrupted(out, "p0.m0", deadline=DEADLINE)
        assert out.text == "alpha beta "
        assert 0.55 <= out.elapsed < DEADLINE  # ended by the gap, not by the deadline
        assert served_log(stall, good) == ["m0"]
        assert sess.row("p0.m0")["failure_count"] == 1


def test_stalled_stream_is_interrupted_by_the_deadline_r31(target: Target,
                                                           servers: Servers) -> None:
    """R-31/R-68: a stall shorter than the provider timeout but past the request
    deadline (1.2 s): the deadline ends the stream after commit, as interrupted."""
    (stall,) = servers([ok(5, 5, content=WORDS, stall_after_chunks=1, stall_for=5.0)])
    deadline = 1.2
    cfg = config([stall], timeout="4s")
    with target.open(cfg) as sess:
        out = sess.chat(deadline=deadline, stream=True)
        assert_interrupted(out, "p0.m0", deadline=deadline)
        assert out.text == "alpha "
        assert out.elapsed >= deadline - 0.05
        assert served_log(stall) == ["m0"]


def test_malformed_chunk_before_commit_retries_then_rotates_r66(target: Target,
                                                                servers: Servers) -> None:
    """R-33/R-34/R-66: an invalid chunk before any content is a `server_error`:
    always retried on the same model, then rotated; invisible to the caller."""
    bad, good = servers([ok(2, 2, malformed=True, content="BAD OUTPUT")], [ok(16, 6)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 2, "backoff": "fixed",
                                              "initial_delay": "20ms"}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_served(out, "p1.m1", (16, 6), deadline=DEADLINE, text="Hello from m1",
                      stream=True)
        assert served_log(bad, good) == ["m0", "m0", "m1"]
        assert sess.row("p0.m0")["failure_count"] == 2
        assert_usage_totals(sess, {"p1.m1": (1, 16, 6)})


def test_missing_done_is_never_complete_r67(target: Target, servers: Servers) -> None:
    """R-67/R-68: the provider sends every chunk, its finish chunk and usage, then
    ends without `[DONE]`: the stream is interrupted, and the finish chunk is not
    passed on as if the answer were complete."""
    bad, good = servers([ok(5, 5, no_done=True, content=WORDS)], [ok(1, 1)])
    cfg = config([bad, good], pool={"retry": {"max_attempts": 3}})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_interrupted(out, "p0.m0", deadline=DEADLINE)
        assert out.text == WORDS
        assert served_log(bad, good) == ["m0"]
        assert sess.row("p0.m0")["failure_count"] == 1


def test_error_event_after_commit_is_interrupted_r68(target: Target,
                                                     servers: Servers) -> None:
    """R-68: an in-stream provider error event after commit ends the stream as
    interrupted; no rotation."""
    bad, good = servers([ok(5, 5, stream_error=3, content=WORDS)], [ok(1, 1)])
    with target.open(config([bad, good])) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_interrupted(out, "p0.m0", deadline=DEADLINE)
        assert out.text == "alpha beta gamma "
        assert served_log(bad, good) == ["m0"]


def test_stream_failing_everywhere_before_commit_is_a_json_error_r66(
        target: Target, servers: Servers) -> None:
    """R-66/R-114: when every attempt fails before commit, the streamed request
    ends like a plain one: the clients raise AllProvidersExhaustedError, and the
    proxy, having sent no headers yet, answers a JSON 502 (R-116), not SSE."""
    a, b = servers([{"status": 503}], [ok(1, 1, cut_after_chunks=0)])
    with target.open(config([a, b])) as sess:
        out = sess.chat(deadline=DEADLINE, stream=True)
        assert_failed(out, "exhausted", [("p0.m0", "server_error"),
                                         ("p1.m1", "connection_error")], deadline=DEADLINE)
        assert out.text == "" and out.chunk_models == set()
        assert served_log(a, b) == ["m0", "m1"]
        assert_usage_totals(sess, {})


def test_first_token_later_than_the_deadline_r31(target: Target, servers: Servers) -> None:
    """R-31/R-66: a first token later than the request deadline (1 s), with a
    generous `stream_first_chunk_timeout`: the request ends at the deadline before
    commit, as `deadline_exceeded` (proxy: JSON 504, R-116), with no rotation."""
    slow, other = servers([ok(1, 1, ttft_delay=4.0)], [ok(1, 1)])
    deadline = 1.0
    cfg = config([slow, other], timeout="5s", pool={"stream_first_chunk_timeout": "5s"})
    with target.open(cfg) as sess:
        out = sess.chat(deadline=deadline, stream=True)
        assert_failed(out, "deadline_exceeded", None, deadline=deadline)
        assert out.elapsed >= deadline - 0.05
        assert out.text == "" and out.chunk_models == set()
        assert served_log(slow, other) == ["m0"]
