"""How requests end: failure values and request-log records (R-34, R-92).

Theory of operation: `fail()` emits the single terminal `Fail` of a
request with its attempt history, a trace and the request-log record;
`log_request()` counts a finished request in the statistics and, when a
sink takes the request log, emits its `metadata`-level record of R-92 (the
shell adds text fields for the other levels; with no such sink nothing
would read the record, so none is built); `log_probe()` emits a probe's
record under the same condition (probes are not counted in the
statistics). `finish()` forgets an ended request and drops the deadline
timers of ended requests from the fronts of the timer queue's deadline
lanes (`timers.py`).
"""

from __future__ import annotations

from meshcore._mypyc import mypyc_attr
from meshcore.actions import (
    Action,
    AttemptRecord,
    Emit,
    Fail,
    Failure,
)
from meshcore.records import RequestLogEntry
from meshcore.router.calendar import iso_utc
from meshcore.router.healthops import HealthOps
from meshcore.router.state import AttemptState, RequestState
from meshcore.types import OutcomeClass, Usage

REQUEST_FAULTS = frozenset({OutcomeClass.BAD_REQUEST, OutcomeClass.CONTEXT_LENGTH_EXCEEDED})


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class EndingsOps(HealthOps):
    """Request endings; see module docstring."""

    # -- endings --------------------------------------------------------------------------
    def fail_exhausted(self, actions: list[Action], req: RequestState) -> None:
        n = len(req.attempts)
        last = req.attempts[-1] if req.attempts else None
        faults = bool(req.attempts) and all(a.outcome in REQUEST_FAULTS for a in req.attempts)
        self.fail(actions, req, "exhausted",
                  f"all providers exhausted for pool {req.pool.name!r} after {n} attempt(s)"
                  + (f"; last: {last.model_id} {last.outcome.value}" if last else ""),
                  request_fault=faults)

    def fail(self, actions: list[Action], req: RequestState, reason: str, message: str,
             **details: object) -> None:
        if req.done:
            return
        req.done = True
        failure = Failure(reason, message, req.pool.name, tuple(req.attempts), dict(details))
        actions.append(Fail(req.request_id, failure))
        self.trace(actions, "error", f"pool.{req.pool.name}", f"request failed: {message}",
                   request_id=req.request_id, reason=reason)
        last = req.attempts[-1] if req.attempts else None
        self.log_request(actions, req, reason, last, None, 0.0, None)
        self.finish(req)

    def finish(self, req: RequestState) -> None:
        self.requests.pop(req.request_id, None)
        self.timers.drop_ended_deadlines(self.requests)

    def log_request(self, actions: list[Action], req: RequestState, outcome: str,
                    rec: AttemptRecord | None, usage: Usage | None, cost: float,
                    ttft: float | None) -> None:
        """Count the finished request in the statistics and, when a sink takes
        the request log (`RouterBase.log_requests`), emit its record."""
        now = self.now
        ts = iso_utc(now.wall)
        latency = (now.mono - req.started_mono) * 1000.0
        tokens_in = usage.prompt_tokens if usage else 0
        tokens_out = usage.completion_tokens if usage else 0
        mid = pid = None
        if rec is not None:
            mid = rec.model_id
            pid = rec.provider_id
        if self.log_requests:
            cfg = self.config.models.get(mid) if mid else None
            actions.append(Emit(RequestLogEntry(
                ts, req.request_id, req.pool.name, req.pool.capability,
                "streaming" if req.features.stream else "synchronous",
                mid, pid, rec.status_code if rec else None,
                outcome, len(req.attempts), latency, ttft, tokens_in, tokens_out,
                cost, cfg is not None and cfg.pricing is None, False,
                None if outcome == "success" else {
                    "class": rec.outcome.value if rec else outcome,
                    "message": rec.message if rec else ""},
            )))
        self.stats_book.count(req.pool.name, mid, pid, bool(req.attempts), outcome == "success",
                              tokens_in, tokens_out, cost, latency, ts, now.mono)

    def log_probe(self, actions: list[Action], att: AttemptState, rec: AttemptRecord,
                  usage: Usage | None, cost: float) -> None:
        if not self.log_requests:
            return  # no sink takes the request log; probes are not in the statistics
        actions.append(Emit(RequestLogEntry(
            timestamp=iso_utc(self.now.wall), request_id=att.attempt_id, pool=att.pool or None,
            capability=None, delivery_mode="synchronous", model_id=att.model_id,
            provider_id=att.provider_id, status_code=rec.status_code, outcome=rec.outcome.value,
            attempts=1, latency_ms=rec.elapsed_ms,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0, cost=cost, probe=True,
        )))
