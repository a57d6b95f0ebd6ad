"""R-92 / R-93: request-log records are built only when a sink takes them.

One `RequestLogEntry` per finished request when some sink other than the
null sink receives the `logs` stream; with no such sink (the library
default, R-90) none is built, since nothing would read it. The statistics
count every request either way (`Router.stats()`, `StatsFlush`)."""

from __future__ import annotations

from typing import Any

from meshcore import load_config
from meshcore.actions import Action, Emit, SendAttempt
from meshcore.events import (
    AttemptFailed,
    AttemptSucceeded,
    ConfigChanged,
    RequestSubmitted,
)
from meshcore.records import RequestLogEntry
from meshcore.router.router import Router
from meshcore.testing import simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures, Usage

LOGS = [{"connector": "console", "streams": ["logs"]}]


def at(t: float) -> Instant:
    return Instant(t, 1_790_000_000.0 + t)


def config(observability: Any) -> dict[str, Any]:
    data = simple_config(["a", "b"], retry={"max_attempts": 1})
    for m in data["models"].values():
        m["pricing"] = {"input_per_1m": 2.0, "output_per_1m": 4.0}
    if observability is not None:
        data["observability"] = observability
    return data


def logs(actions: list[Action]) -> list[RequestLogEntry]:
    return [a.record for a in actions
            if isinstance(a, Emit) and isinstance(a.record, RequestLogEntry)]


def run(r: Router, start: float = 1.0) -> list[Action]:
    """A request served by the first model, then one whose first attempt
    fails and whose second succeeds on the other model, then one that fails
    on both."""
    out: list[Action] = []
    feats = RequestFeatures(prompt_tokens=10, max_tokens=20)

    def send(acts: list[Action]) -> SendAttempt:
        out.extend(acts)
        return next(a for a in acts if isinstance(a, SendAttempt))

    s = send(r.handle(RequestSubmitted("r1", "chat", feats), at(start)))
    out += r.handle(AttemptSucceeded(s.attempt_id, Usage(10, 5), 40.0), at(start + 0.04))
    s = send(r.handle(RequestSubmitted("r2", "chat", feats), at(start + 1)))
    s = send(r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 500),
                      at(start + 1.1)))
    out += r.handle(AttemptSucceeded(s.attempt_id, Usage(12, 6), 30.0), at(start + 1.2))
    s = send(r.handle(RequestSubmitted("r3", "chat", feats), at(start + 2)))
    s = send(r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 400),
                      at(start + 2.1)))
    out += r.handle(AttemptFailed(s.attempt_id, FailureKind.HTTP_STATUS, 400), at(start + 2.2))
    return out


def test_r92_one_record_per_finished_request_with_a_logs_sink() -> None:
    r = Router(load_config(config(LOGS)), seed=1)
    recs = logs(run(r))
    assert [(e.request_id, e.outcome, e.attempts, e.model_id) for e in recs] == [
        ("r1", "success", 1, "pa.a"), ("r2", "success", 2, "pb.b"),
        ("r3", "exhausted", 2, "pb.b")]
    first = recs[0]
    assert (first.pool, first.tokens_in, first.tokens_out, first.status_code) == (
        "chat", 10, 5, 200)
    assert first.cost == 10 * 2.0 / 1e6 + 5 * 4.0 / 1e6
    assert round(first.latency_ms, 6) == 40.0  # submitted at 1.0, delivered at 1.04
    assert recs[2].error is not None and recs[2].error["class"] == "bad_request"


def test_r92_no_record_without_a_sink_that_takes_the_log_and_the_same_statistics() -> None:
    with_log = Router(load_config(config(LOGS)), seed=1)
    run(with_log)
    for observability in (None, [{"connector": "null"}],
                          [{"connector": "console", "streams": ["events", "traces", "stats"]}]):
        r = Router(load_config(config(observability)), seed=1)
        acts = run(r)
        assert logs(acts) == [], observability
        # the statistics do not depend on whether records are built
        assert r.stats() == with_log.stats(), observability
        assert r.stats()["pool.chat"]["requests_total"] == 3


def test_r92_a_reload_that_adds_a_logs_sink_turns_the_records_on() -> None:
    r = Router(load_config(config(None)), seed=1)
    assert logs(run(r)) == []
    r.handle(ConfigChanged(config(LOGS)), at(10.0))
    assert [e.request_id for e in logs(run(r, start=11.0))] == ["r1", "r2", "r3"]
    r.handle(ConfigChanged(config(None)), at(20.0))
    assert logs(run(r, start=21.0)) == []
