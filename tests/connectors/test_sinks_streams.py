"""Records no sink takes are never built; the default console's streams
follow the log level (R-88, R-90); RequestLogEntry.to_dict equals asdict."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.observability import (
    BoundSink,
    CallbackSink,
    Observability,
    Redactor,
    SinkSettings,
)
from adapters.observability.factory import default_console
from meshcore.actions import Deliver, Emit
from meshcore.records import RequestLogEntry, RoutingEvent, TraceEntry

TS = "2026-01-01T00:00:00Z"


def entry(**kw: Any) -> RequestLogEntry:
    base: dict[str, Any] = dict(timestamp=TS, request_id="r1", pool="chat", capability=None,
                                delivery_mode="synchronous", model_id="p0.m0",
                                provider_id="p0", status_code=200, outcome="success",
                                attempts=1, latency_ms=12.0)
    base.update(kw)
    return RequestLogEntry(**base)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    pool=st.none() | st.text(max_size=5),
    status=st.none() | st.integers(100, 599),
    ttft=st.none() | st.floats(0, 1e4),
    tokens=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    flags=st.tuples(st.booleans(), st.booleans()),
    error=st.none() | st.dictionaries(st.text(max_size=5), JSONISH, max_size=3),
)
def test_log_entry_to_dict_equals_asdict(pool: str | None, status: int | None,
                                         ttft: float | None, tokens: tuple[int, int],
                                         flags: tuple[bool, bool],
                                         error: dict[str, Any] | None) -> None:
    e = entry(pool=pool, status_code=status, ttft_ms=ttft, tokens_in=tokens[0],
              tokens_out=tokens[1], unpriced=flags[0], probe=flags[1], error=error)
    got = e.to_dict()
    assert got == {"type": "log", **asdict(e)}
    assert list(got) == ["type", *asdict(e)]  # same key order
    if error is not None:  # a deep copy, as asdict makes: the record stays as it was
        assert got["error"] is not error
        got["error"]["__changed__"] = 1
        assert "__changed__" not in e.error  # type: ignore[operator]


def _obs(streams: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[Any], Observability]:
    got: list[dict[str, Any]] = []
    history: list[Any] = []

    class Attempts(CallbackSink):
        def attempts(self, pool: str | None, records: Any) -> None:
            history.append(pool)

    sinks = [BoundSink("cb", Attempts(got.append), SinkSettings(streams=streams), Redactor())]
    return got, history, Observability(sinks)


def test_records_of_unwanted_streams_are_never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = RequestLogEntry.to_dict

    def counting(self: RequestLogEntry) -> dict[str, Any]:
        built.append(self.request_id)
        return real(self)

    monkeypatch.setattr(RequestLogEntry, "to_dict", counting)
    log = entry()
    trace = TraceEntry("warning", TS, "router", "attempt failed")
    event = RoutingEvent("model_rotated", TS, "p0.m0", "p0", "chat", {})
    deliver = Deliver("r1", "r1#1", "p0.m0", "p0", "resp-1")
    got, history, obs = _obs(("traces",))
    obs.process([Emit(log), Emit(trace), Emit(event), deliver])
    assert obs.drain(5.0)
    assert built == []  # no sink takes logs: the dict is never made
    assert [r["type"] for r in got] == ["trace"]
    assert history == ["chat"]  # the attempts sink still learns the request's pool
    got, history, obs = _obs(("logs", "traces"))
    obs.process([Emit(log), Emit(trace), Emit(event), deliver])
    assert obs.drain(5.0)
    assert built == ["r1"] and [r["type"] for r in got] == ["log", "trace"]


@pytest.mark.parametrize("level,streams", [
    ("debug", ["events", "logs", "stats", "traces"]),
    ("info", ["events", "logs", "stats", "traces"]),
    ("warning", ["traces"]),
    ("error", ["traces"]),
    ("critical", ["traces"]),
])
def test_r90_default_console_streams_follow_the_log_level(level: str, streams: list[str]) -> None:
    sink = default_console(level)
    assert sorted(sink["streams"]) == streams
    assert sink["tracing"]["min_severity"] == level
