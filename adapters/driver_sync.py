"""The sync driver: a short sequential loop on `httpcore.ConnectionPool`.

`SyncDriver.execute()` runs one request on the calling thread. It submits
the request to the core and then only carries out what the core says:
`SendAttempt` -> one attempt over HTTP (outside the router lock), feeding
the wire attempt object and reporting `AttemptFirstChunk` /
`AttemptSucceeded` / `AttemptFailed` with measured timings; `Commit` ->
release held stream chunks; `Deliver` / `Fail` -> finish. Between actions it
sleeps until `router.next_deadline()` (or until another thread files an
action in its mailbox) and then sends a `Tick`. It is a generator: streams
yield chunks as they become deliverable (and nothing else, so the client's
`Stream` iterates it directly); a non-streamed run yields one `Final`.
Caller cancellation (closing the generator, KeyboardInterrupt) reports
`RequestCancelled` and closes the attempt's connection.

Every socket operation is bounded by the binding deadline of the attempt
(`engine.next_bound`) through `adapters.http.IO_DEADLINE`. A streamed body
is read by `_read_stream`, the per-chunk path: before each read it sets the
gap bound (`AttemptTiming.read_deadline`, the `at` of `read_bound`, whose
kind is asked for only when a read fails), and after it notes the arrival
time, feeds the wire attempt and releases the chunks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpcore

from adapters.engine import (
    AttemptTiming,
    Engine,
    Final,
    Run,
    caller_items,
    models_probe_fact,
    received_so_far,
    transport_failure,
    with_timing,
)
from adapters.http import (
    IO_DEADLINE,
    TRANSPORT_ERRORS,
    DeadlineBackend,
    core_request,
    encode_headers,
    failure_kind_of,
    interrupt_read,
    normalise_headers,
    timeout_extension,
)
from adapters.middleware import MiddlewareContext
from adapters.observability.hook import override_items
from adapters.pool import LeanConnectionPool
from meshcore.actions import Commit, Deliver, Fail, SendAttempt
from meshcore.errors import error_from_failure
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    RequestCancelled,
    RequestSubmitted,
    Tick,
)
from meshcore.types import FailureKind
from meshcore.wire.attempt import Attempt, HttpRequest
from meshcore.wire.models import ChatCompletionChunk, CompletionRequest
from meshcore.wire.tokens import features_of

__all__ = ["SyncDriver"]

Item = ChatCompletionChunk | Final


class _Aborted(Exception):
    """The core cancelled the attempt (CancelAttempt)."""


class SyncDriver:
    """Executes the core's actions with blocking HTTP on one connection pool."""

    def __init__(self, engine: Engine, max_connections: int = 100) -> None:
        self.engine = engine
        self.pool = LeanConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=60.0,
            network_backend=DeadlineBackend(clock=engine.clock),
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    # ------------------------------------------------------------ one request
    def execute(
        self,
        request: CompletionRequest,
        model: str,
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Iterator[Item]:
        """Run one request; yields deliverable chunks (streams) or one `Final`.
        A streamed request yields nothing but `ChatCompletionChunk`s (the
        client iterates it directly). `metadata` seeds the middleware
        context (R-108)."""
        eng = self.engine
        streamed = bool(getattr(request, "stream", False))
        run = Run(eng.new_request_id())
        # the condition is made on the first wait only: most requests never
        # wait (their next action is already queued when they look)
        conds: list[threading.Condition] = []

        def wake() -> None:
            if conds:
                with conds[0]:
                    conds[0].notify_all()

        def on_cancel(_aid: str) -> None:
            network = run.reading
            if network is not None:
                interrupt_read(network)

        run.wake = wake
        run.on_cancel = on_cancel
        eng.register(run)
        obs = eng.observer
        ctx = obs.mw_begin(run, metadata)
        finished = False
        try:
            self._probes(eng.handle(RequestSubmitted(
                run.request_id, model, features_of(request), timeout, session_id)))
            while True:
                action = run.pop()
                if action is None:
                    if not conds:
                        conds.append(threading.Condition())
                    self._wait(run, conds[0])
                    continue
                if isinstance(action, SendAttempt):
                    yield from self._attempt(run, action, request, ctx)
                    if ctx is not None and ctx.override is not None:
                        finished = True  # an on_error hook answered
                        self._probes(eng.handle(RequestCancelled(run.request_id)))
                        yield from caller_items(override_items(ctx, streamed), streamed)
                        return
                elif isinstance(action, Commit):
                    run.committed = action.attempt_id
                    yield from run.deliverable([])
                elif isinstance(action, Deliver):
                    yield from run.deliverable([]) if run.committed else []
                    finished = True
                    att = run.attempts.get(action.attempt_id)
                    result = obs.mw_after(  # the text only matters to middleware
                        ctx, action, att, att.result if att is not None else None,
                        run.partial_text if ctx is not None else "")
                    if not (att is not None and att.stream) and not streamed:
                        yield Final(result)
                    return
                elif isinstance(action, Fail):
                    finished = True
                    raise error_from_failure(action.failure, run.partial_text)
        except BaseException:
            if not finished:
                finished = True
                usage, chars = received_so_far(run.current)
                self._probes(eng.handle(RequestCancelled(run.request_id, usage, chars)))
            raise
        finally:
            obs.mw_end(run)
            eng.unregister(run)

    def _wait(self, run: Run, cond: threading.Condition) -> None:
        eng = self.engine
        deadline = eng.next_deadline()
        with cond:
            if run.pending:
                return
            delay = 1.0 if deadline is None else deadline - eng.clock()
            if delay > 0:
                cond.wait(delay)
            if run.pending:
                return
        if deadline is not None and eng.clock() >= deadline:
            self._probes(eng.handle(Tick()))

    # ------------------------------------------------------------ one attempt
    def _attempt(self, run: Run, send: SendAttempt, request: CompletionRequest,
                 ctx: MiddlewareContext | None = None) -> Iterator[Item]:
        eng = self.engine
        clock = eng.clock
        request = eng.observer.mw_before(ctx, send, request)  # may raise to the caller
        try:
            attempt = eng.start_attempt(send, request)
        except Exception as exc:
            self._probes(eng.handle(AttemptFailed(send.attempt_id, FailureKind.CONNECTION,
                                                  detail=f"cannot start attempt: {exc!r}")))
            return
        run.attempts[send.attempt_id] = attempt
        run.current = attempt
        run.buffer = []  # nothing of an earlier, failed attempt survives
        timing = AttemptTiming(eng, run, send, attempt)
        aid = send.attempt_id
        response: httpcore.Response | None = None
        fact: AttemptSucceeded | AttemptFailed | None = None
        bound = timing.bound(head_seen=False)
        token = IO_DEADLINE.set(bound.at)
        streaming = False  # reading a streamed body: its reads have their own bounds
        try:
            steps = 0
            while (hreq := attempt.next_request()) is not None:
                streaming = False
                if hreq.delay_s > 0:
                    self._delay(hreq, bound.at)
                if steps:  # (the first step's bound is the one set above: nothing it reads changed)
                    bound = timing.bound(head_seen=False)
                    IO_DEADLINE.set(bound.at)
                steps += 1
                response = self.pool.handle_request(core_request(
                    hreq.method, hreq.url, hreq.headers, hreq.body, bound.at - clock()))
                attempt.receive_head(response.status,
                                     normalise_headers(response.headers, time.time()))
                timing.data()
                if attempt.stream:
                    streaming = True
                    yield from self._read_stream(run, send, attempt, response, timing)
                else:  # a plain body: no chunks, the bound set above holds throughout
                    cancelled = run.cancelled
                    if aid in cancelled:
                        raise _Aborted
                    for piece in response.iter_stream():
                        if aid in cancelled:
                            raise _Aborted
                        attempt.receive_data(piece)
                    if aid in cancelled:
                        raise _Aborted
                chunks = attempt.receive_end()
                if (ttft := timing.first_content()) is not None:
                    self._first_chunk(run, send, ttft)
                if chunks:
                    yield from run.deliverable(chunks)
                response.close()
                response = None
                if send.attempt_id in run.cancelled:
                    raise _Aborted
            fact = attempt.outcome()
        except _Aborted:
            fact = None
        except TRANSPORT_ERRORS as exc:
            # a streamed body's read failed: its bound is `read_bound()` again,
            # computed from the same facts (no data arrived since it was set)
            fact = transport_failure(run, aid, attempt, exc,
                                     timing.read_bound() if streaming else bound)
        finally:
            run.reading = None
            IO_DEADLINE.reset(token)
            if response is not None:
                response.close()
        if fact is not None and send.attempt_id not in run.cancelled:
            fact = timing.timed(fact)
            eng.observer.mw_error(ctx, send, fact, run.committed is not None)
            self._probes(eng.handle(fact))
        run.current = None

    def _read_stream(self, run: Run, send: SendAttempt, attempt: Attempt,
                     response: httpcore.Response, timing: AttemptTiming) -> Iterator[Item]:
        """Read a streamed body, yielding the chunks the caller may see. Each
        read is bounded by `timing.read_deadline()`; a CancelAttempt filed
        meanwhile interrupts the read (`run.reading`). The per-chunk path:
        nothing here runs per read that the loop does not need."""
        aid = send.attempt_id
        clock = self.engine.clock
        cancelled = run.cancelled
        network = response.extensions.get("network_stream")
        pieces = response.iter_stream()
        receive = attempt.receive_data
        while True:
            IO_DEADLINE.set(timing.read_deadline())
            if aid in cancelled:
                raise _Aborted
            run.reading = network
            try:
                piece = next(pieces, None)
            finally:
                run.reading = None
            if aid in cancelled:
                raise _Aborted
            if piece is None:
                return
            timing.last = clock()  # = timing.data()
            chunks = receive(piece)
            if timing.ttft is None and (ttft := timing.first_content()) is not None:
                self._first_chunk(run, send, ttft)
            if chunks:
                if run.committed is not None and not run.buffer:  # = run.deliverable(chunks)
                    run.released.append(chunks)
                    yield from chunks
                else:
                    yield from run.deliverable(chunks)

    def _first_chunk(self, run: Run, send: SendAttempt, ttft: float) -> None:
        self._probes(self.engine.handle(AttemptFirstChunk(send.attempt_id, ttft)))
        if run.settle_first_chunk(send.attempt_id):
            raise _Aborted

    def _delay(self, hreq: HttpRequest, bound_at: float) -> None:
        if hreq.delay_s <= 0:
            return
        remaining = bound_at - self.engine.clock()
        time.sleep(max(0.0, min(hreq.delay_s, remaining)))
        if hreq.delay_s >= remaining:
            raise httpcore.ReadTimeout("attempt timeout passed while waiting to poll")

    # ------------------------------------------------------------ probes
    def _probes(self, probes: list[SendAttempt]) -> None:
        for send in probes:
            self._probe(send)

    def _probe(self, send: SendAttempt) -> None:
        eng = self.engine
        req = eng.probe_request(send)
        if not isinstance(req, HttpRequest):
            run = Run(f"probe:{send.attempt_id}")
            for _ in self._attempt(run, send, req):
                pass
            return
        started = eng.clock()
        status: int | None = None
        body = b""
        kind: FailureKind | None = None
        token = IO_DEADLINE.set(started + send.timeout_s)
        try:
            resp = self.pool.request(req.method, req.url, headers=encode_headers(req.headers, req.url),
                                     extensions={"timeout": timeout_extension(send.timeout_s)})
            status, body = resp.status, resp.content[:2048]
        except TRANSPORT_ERRORS as exc:
            kind = failure_kind_of(exc)
        finally:
            IO_DEADLINE.reset(token)
        fact = models_probe_fact(send.attempt_id, status, body, kind)
        self._probes(eng.handle(with_timing(fact, (eng.clock() - started) * 1000.0, None)))
