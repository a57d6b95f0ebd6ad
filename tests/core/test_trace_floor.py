"""R-89 / R-94: traces below every trace sink's `min_severity` are not built.

The per-decision `debug` traces are emitted only when some sink that
receives traces asks for `debug`; with no sink section the default `info`
applies. Other severities follow the same floor."""

from __future__ import annotations

from typing import Any

from meshcore import load_config
from meshcore.actions import Emit, SendAttempt
from meshcore.events import AttemptFailed, RequestSubmitted
from meshcore.records import TraceEntry
from meshcore.router.router import Router
from meshcore.testing import simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures

NOW = Instant(1.0, 1_790_000_000.0)


def _traces(observability: Any, strategy: str = "stick-until-failure") -> list[TraceEntry]:
    data = simple_config(strategy=strategy)
    if observability is not None:
        data["observability"] = observability
    r = Router(load_config(data), seed=3)
    acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures()), NOW)
    send = next(a for a in acts if isinstance(a, SendAttempt))
    acts += r.handle(AttemptFailed(send.attempt_id, FailureKind.HTTP_STATUS, status=500), NOW)
    return [a.record for a in acts if isinstance(a, Emit) and isinstance(a.record, TraceEntry)]


def _severities(traces: list[TraceEntry]) -> set[str]:
    return {t.severity for t in traces}


def test_r94_debug_decision_traces_only_when_a_sink_wants_debug() -> None:
    for strategy in ("stick-until-failure", "cost-first", "load-balanced"):
        debug = _traces([{"connector": "console", "tracing": {"min_severity": "debug"}}],
                        strategy)
        assert any(t.severity == "debug" and t.message.startswith("selected ")
                   for t in debug), strategy
        default = _traces(None, strategy)
        assert "debug" not in _severities(default), strategy
        assert "info" in _severities(default)  # "Initialized: ..." is still there


def test_r89_floor_is_the_lowest_min_severity_of_trace_sinks() -> None:
    sinks = [{"connector": "console", "tracing": {"min_severity": "error"}},
             {"connector": "console", "streams": ["traces"],
              "tracing": {"min_severity": "warning"}}]
    sev = _severities(_traces(sinks))
    assert "warning" in sev and "info" not in sev and "debug" not in sev
    only_error = _severities(_traces([{"connector": "console",
                                       "tracing": {"min_severity": "error"}}]))
    assert only_error <= {"error", "critical"}


def test_r89_sinks_without_the_traces_stream_do_not_lower_the_floor() -> None:
    sinks = [{"connector": "console", "streams": ["events"],
              "tracing": {"min_severity": "debug"}}]
    assert "debug" not in _severities(_traces(sinks))
