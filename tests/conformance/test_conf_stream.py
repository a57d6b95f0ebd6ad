"""Conformance: the streaming commit point on every driver (SPEC R-65..R-68)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _facade import Driver, config_for

from adapters import AllProvidersExhaustedError, StreamInterruptedError
from adapters.fake_provider import FakeProviderServer

Servers = Callable[..., list[FakeProviderServer]]

# failures before the first content chunk: each must fail over invisibly
PRE_COMMIT: dict[str, tuple[dict[str, Any], str]] = {
    "status-500": ({"status": 500}, "server_error"),
    "malformed-chunk": ({"malformed": True}, "server_error"),
    "cut-before-content": ({"cut_after_chunks": 0}, "connection_error"),
    "error-event": ({"stream_error": 0}, "server_error"),
    "ttft-timeout": ({"ttft_delay": 3.0}, "ttft_timeout"),
    "reset": ({"reset": True}, "connection_error"),
}


@pytest.mark.parametrize("fault", list(PRE_COMMIT))
def test_failover_before_first_chunk_r66(driver: Driver, servers: Servers, fault: str) -> None:
    """R-65/R-66: a pre-commit failure rotates; nothing of it reaches the caller."""
    step, outcome = PRE_COMMIT[fault]
    bad, good = servers([{**step, "content": "BAD OUTPUT"}], None)
    cfg = config_for([bad, good], pool={"stream_first_chunk_timeout": "0.4s"})
    with driver.open(cfg) as mesh:
        res = mesh.stream()
        assert res.error is None, res.error
        assert res.models == {"p1.m1"}
        assert res.text == "Hello from m1"
        assert len({c.id for c in res.chunks}) == 1  # one id for the whole stream
        assert res.chunks[0].choices[0].delta.role == "assistant"
        assert len(bad.requests) == 1 and len(good.requests) == 1
        # all fail: the history names the pre-commit outcome class
        good.set_plan([step])
        res = mesh.stream()
        assert res.chunks == []
        assert isinstance(res.error, AllProvidersExhaustedError)
        assert [a.outcome.value for a in res.error.attempts] == [outcome, outcome]


@pytest.mark.parametrize("step", [
    {"cut_after_chunks": 2},
    {"stream_error": 2},
    {"no_done": True},
], ids=["cut", "error-event", "no-end-marker"])
def test_interrupted_after_commit_r68(driver: Driver, servers: Servers,
                                      step: dict[str, Any]) -> None:
    """R-68: after commit there is no retry or rotation; every chunk received is
    yielded, then StreamInterruptedError carries the partial text and model."""
    bad, good = servers([{**step, "content": "alpha beta gamma delta"}], None)
    cfg = config_for([bad, good], pool={"retry": {"max_attempts": 3}})
    with driver.open(cfg) as mesh:
        res = mesh.stream()
        err = res.error
        assert isinstance(err, StreamInterruptedError), err
        assert err.model_id == "p0.m0"
        assert res.text == err.partial_text
        assert res.text.startswith("alpha")
        assert res.models == {"p0.m0"}
        finals = [c for c in res.chunks if c.choices and c.choices[0].finish_reason]
        assert finals == []  # a truncated stream is never presented as complete
        assert len(bad.requests) == 1 and good.requests == []
        assert mesh.row("p0.m0").failure_count == 1  # it counts against the model


def test_complete_stream_shape_r67(driver: Driver, servers: Servers) -> None:
    """R-67: a complete stream: one id, the real model, one final chunk."""
    (srv,) = servers([{"content": "one two three"}])
    with driver.open(config_for([srv])) as mesh:
        res = mesh.stream()
        assert res.error is None
        assert res.text == "one two three"
        assert res.models == {"p0.m0"}
        assert len({c.id for c in res.chunks}) == 1
        finals = [c for c in res.chunks if c.choices and c.choices[0].finish_reason]
        assert [c.choices[0].finish_reason for c in finals] == ["stop"]
        assert srv.requests[0].json["stream"] is True


# Closing a stream early leaves httpcore's nested body generators to the garbage
# collector; trio's finalizer reports that with a ResourceWarning (the connection
# itself is closed, which is what the scenario checks).
@pytest.mark.filterwarnings("ignore:Async generator 'httpcore.:ResourceWarning")
def test_closing_a_stream_early_cancels_r42(driver: Driver, servers: Servers) -> None:
    """R-42: closing a stream early cancels the attempt: no further attempt, the
    connection is closed, the model's health is unchanged, the client still works."""
    plan = [{"chunk_delay": 0.2, "content": "one two three four five six seven"}, {}]
    srv, other = servers(plan, None)
    with driver.open(config_for([srv, other])) as mesh:
        got = mesh.stream_then_close(2)
        assert got[0].choices[0].delta.role == "assistant"
        assert {c.model for c in got} == {"p0.m0"}
        assert other.requests == []
        row = mesh.row("p0.m0")
        assert (row.status, row.failure_count) == ("active", 0)
        assert mesh.chat().model == "p0.m0"
        # the cancelled attempt's connection was not reused
        assert len({r.connection_id for r in srv.requests}) == 2


def test_connection_reuse_r107(driver: Driver, servers: Servers) -> None:
    """Keep-alive: sequential plain and streamed requests share one connection."""
    (srv,) = servers(None)
    with driver.open(config_for([srv])) as mesh:
        for _ in range(3):
            assert mesh.chat().model == "p0.m0"
            assert mesh.stream().error is None
        assert len(srv.requests) == 6
        assert len({r.connection_id for r in srv.requests}) == 1
