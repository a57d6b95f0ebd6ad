"""The async driver: anyio + `httpcore.AsyncConnectionPool`, unchanged under
asyncio and trio (ARCHITECTURE rule 9).

The same loop as the sync driver, awaited: `execute()` is an async generator
that submits the request, carries out the core's actions (`SendAttempt`,
`Commit`, `Deliver`, `Fail`), and between them waits for its mailbox or for
`router.next_deadline()` on the event loop clock (`anyio.current_time()`,
so trio's MockClock drives it) before sending a `Tick`. Any number of
requests run concurrently on one client: the router is single-threaded here
and `handle()` never awaits, so no lock is needed and the recording stays
in order. Each network await runs in its own cancel scope that a
`CancelAttempt` filed by another task cancels; caller cancellation reports
`RequestCancelled` and closes the connection under a shielded scope. As in
the sync driver, a streamed request yields nothing but chunks, and each read
of a streamed body is bounded by `AttemptTiming.read_deadline`; the hooks
that do nothing without middleware (R-108) and the probe runner with no
probes to run are not awaited at all (no coroutine per call).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio
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
    AsyncDeadlineBackend,
    core_request,
    encode_headers,
    failure_kind_of,
    interrupt_read,
    normalise_headers,
    timeout_extension,
)
from adapters.middleware import MiddlewareContext
from adapters.observability.hook import override_items
from adapters.pool import LeanAsyncConnectionPool
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
from meshcore.wire.attempt import HttpRequest
from meshcore.wire.models import ChatCompletionChunk, CompletionRequest
from meshcore.wire.tokens import features_of

__all__ = ["AsyncDriver"]

Item = ChatCompletionChunk | Final
ProbeSink = Callable[[list[SendAttempt]], Awaitable[None]]


class _Aborted(Exception):
    """The core cancelled the attempt (CancelAttempt)."""


class AsyncDriver:
    """Executes the core's actions with async HTTP on one connection pool."""

    def __init__(self, engine: Engine, max_connections: int = 100) -> None:
        self.engine = engine
        self.pool = LeanAsyncConnectionPool(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=60.0,
            network_backend=AsyncDeadlineBackend(clock=engine.clock),
        )
        self.probe_sink: ProbeSink | None = None

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self.pool.aclose()

    async def probes(self, probes: list[SendAttempt]) -> None:
        """Run (or hand to the background task group) the probes the core asked for."""
        if not probes:
            return
        if self.probe_sink is not None:
            await self.probe_sink(probes)
            return
        for send in probes:
            await self.probe(send)

    # ------------------------------------------------------------ one request
    async def execute(
        self,
        request: CompletionRequest,
        model: str,
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> AsyncGenerator[Item, None]:
        """Run one request; yields deliverable chunks (streams) or one `Final`.
        A streamed request yields nothing but `ChatCompletionChunk`s (the
        client iterates it directly). `metadata` seeds the middleware
        context (R-108)."""
        eng = self.engine
        streamed = bool(getattr(request, "stream", False))
        run = Run(eng.new_request_id())
        # "event": made by _wait when the request has to wait; "scope": the cancel
        # scope of the HTTP exchange in progress; "reading": the network stream of a
        # streamed body being read (no scope per read: see _attempt)
        box: dict[str, Any] = {"event": None, "scope": None, "reading": None}

        def wake() -> None:
            event = box["event"]
            if event is not None:
                event.set()

        def on_cancel(_aid: str) -> None:
            scope = box["scope"]
            if scope is not None:
                scope.cancel()
            elif box["reading"] is not None:
                interrupt_read(box["reading"])

        run.wake = wake
        run.on_cancel = on_cancel
        eng.register(run)
        obs = eng.observer
        ctx = obs.mw_begin(run, metadata)
        finished = False
        try:
            probes = eng.handle(RequestSubmitted(
                run.request_id, model, features_of(request), timeout, session_id))
            if probes:  # (most calls have none: no coroutine for them)
                await self.probes(probes)
            while True:
                action = run.pop()
                if action is None:
                    await self._wait(run, box)
                    continue
                if isinstance(action, SendAttempt):
                    async with aclosing(self._attempt(run, action, request, box, ctx)) as chunks:
                        async for chunk in chunks:
                            yield chunk
                    if ctx is not None and ctx.override is not None:
                        finished = True  # an on_error hook answered
                        await self.probes(eng.handle(RequestCancelled(run.request_id)))
                        for item in caller_items(override_items(ctx, streamed), streamed):
                            yield item
                        return
                elif isinstance(action, Commit):
                    run.committed = action.attempt_id
                    for chunk in run.deliverable([]):
                        yield chunk
                elif isinstance(action, Deliver):
                    for chunk in (run.deliverable([]) if run.committed else []):
                        yield chunk
                    finished = True
                    att = run.attempts.get(action.attempt_id)
                    result = att.result if att is not None else None
                    if ctx is not None:  # R-108 `after_response` hooks
                        result = await obs.mw_aafter(ctx, action, att, result, run.partial_text)
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
                # handle() is synchronous: it runs even inside a cancelled scope.
                probes = eng.handle(RequestCancelled(run.request_id, usage, chars))
                if probes and self.probe_sink is not None:
                    with anyio.CancelScope(shield=True):
                        await self.probe_sink(probes)
            raise
        finally:
            obs.mw_end(run)
            eng.unregister(run)

    async def _wait(self, run: Run, box: dict[str, Any]) -> None:
        eng = self.engine
        if run.pending:
            return
        deadline = eng.next_deadline()
        delay = 1.0 if deadline is None else deadline - eng.clock()
        if delay > 0:
            box["event"] = anyio.Event()
            if run.pending:
                return
            with anyio.move_on_after(delay):
                await box["event"].wait()
            if run.pending:
                return
        if deadline is not None and eng.clock() >= deadline:
            await self.probes(eng.handle(Tick()))

    # ------------------------------------------------------------ one attempt
    async def _attempt(
        self, run: Run, send: SendAttempt, request: CompletionRequest, box: dict[str, Any],
        ctx: MiddlewareContext | None = None,
    ) -> AsyncGenerator[Item, None]:
        eng = self.engine
        clock = eng.clock
        if ctx is not None:  # (without middleware the hooks are no-ops: no coroutines)
            request = await eng.observer.mw_abefore(ctx, send, request)  # may raise
        try:
            attempt = eng.start_attempt(send, request)
        except Exception as exc:
            await self.probes(eng.handle(AttemptFailed(
                send.attempt_id, FailureKind.CONNECTION, detail=f"cannot start attempt: {exc!r}")))
            return
        aid = send.attempt_id
        run.attempts[aid] = attempt
        run.current = attempt
        run.buffer = []  # nothing of an earlier, failed attempt survives
        timing = AttemptTiming(eng, run, send, attempt)
        response: httpcore.Response | None = None
        pieces: Any = None
        fact: AttemptSucceeded | AttemptFailed | None = None
        bound = timing.bound(head_seen=False)
        token = IO_DEADLINE.set(bound.at)
        streaming = False  # reading a streamed body: its reads have their own bounds
        try:
            steps = 0
            while (hreq := attempt.next_request()) is not None:
                streaming = False
                if hreq.delay_s > 0:
                    await self._delay(hreq, bound.at)
                if steps:  # (the first step's bound is the one set above: nothing it reads changed)
                    bound = timing.bound(head_seen=False)
                    IO_DEADLINE.set(bound.at)
                steps += 1
                body: list[bytes] | None = None
                with anyio.CancelScope() as scope:
                    box["scope"] = scope
                    if aid in run.cancelled:
                        scope.cancel()
                    response = await self.pool.handle_async_request(core_request(
                        hreq.method, hreq.url, hreq.headers, hreq.body, bound.at - clock()))
                    if not attempt.stream:
                        # a plain body yields nothing to the caller while it is read,
                        # so it is read inside the same cancel scope (one scope, not
                        # one per piece: entering a scope is costly)
                        body = [part async for part in response.aiter_stream()]
                box["scope"] = None
                if response is None or aid in run.cancelled:
                    raise _Aborted
                attempt.receive_head(response.status,
                                     normalise_headers(response.headers, time.time()))
                timing.data()
                if body is not None:
                    for part in body:
                        attempt.receive_data(part)  # a plain body gives no chunks
                pieces = response.aiter_stream() if body is None else None
                # A streamed body is read without a cancel scope per read (entering
                # one costs ~5 us on asyncio, ~9 us on trio, per chunk): a
                # CancelAttempt during a read shuts the connection's socket down
                # instead, which ends the read at once. Without a network stream
                # to interrupt, each read gets its scope as before.
                network = response.extensions.get("network_stream")
                cancelled = run.cancelled
                receive = attempt.receive_data
                streaming = pieces is not None
                while pieces is not None:
                    IO_DEADLINE.set(timing.read_deadline())
                    piece: bytes | None = None
                    if aid in cancelled:
                        raise _Aborted
                    if network is not None:
                        box["reading"] = network
                        try:
                            piece = await pieces.__anext__()
                        except StopAsyncIteration:
                            piece = b""
                        finally:
                            box["reading"] = None
                    else:
                        with anyio.CancelScope() as scope:
                            box["scope"] = scope
                            try:
                                piece = await pieces.__anext__()
                            except StopAsyncIteration:
                                piece = b""
                        box["scope"] = None
                    if aid in cancelled:
                        raise _Aborted
                    if not piece:
                        break
                    timing.last = clock()  # = timing.data()
                    chunks = receive(piece)
                    if timing.ttft is None and (ttft := timing.first_content()) is not None:
                        await self._first_chunk(run, send, ttft)
                    if chunks:
                        if run.committed is not None and not run.buffer:
                            run.released.append(chunks)  # = run.deliverable(chunks)
                        else:
                            chunks = run.deliverable(chunks)
                        for chunk in chunks:
                            yield chunk
                chunks = attempt.receive_end()
                if (ttft := timing.first_content()) is not None:
                    await self._first_chunk(run, send, ttft)
                for chunk in run.deliverable(chunks):
                    yield chunk
                pieces = None
                resp, response = response, None
                await resp.aclose()
            fact = attempt.outcome()
        except _Aborted:
            fact = None
        except TRANSPORT_ERRORS as exc:
            # a streamed body's read failed: its bound is `read_bound()` again,
            # computed from the same facts (no data arrived since it was set)
            fact = transport_failure(run, aid, attempt, exc,
                                     timing.read_bound() if streaming else bound)
        finally:
            box["scope"] = None
            box["reading"] = None
            IO_DEADLINE.reset(token)
            if pieces is not None or response is not None:
                with anyio.CancelScope(shield=True):
                    if pieces is not None:
                        await pieces.aclose()
                    if response is not None:
                        await response.aclose()
        if fact is not None and aid not in run.cancelled:
            fact = timing.timed(fact)
            if ctx is not None:
                await eng.observer.mw_aerror(ctx, send, fact, run.committed is not None)
            probes = eng.handle(fact)
            if probes:
                await self.probes(probes)
        run.current = None

    async def _first_chunk(self, run: Run, send: SendAttempt, ttft: float) -> None:
        probes = self.engine.handle(AttemptFirstChunk(send.attempt_id, ttft))
        if probes:
            await self.probes(probes)
        if run.settle_first_chunk(send.attempt_id):
            raise _Aborted

    async def _delay(self, hreq: HttpRequest, bound_at: float) -> None:
        if hreq.delay_s <= 0:
            return
        remaining = bound_at - self.engine.clock()
        await anyio.sleep(max(0.0, min(hreq.delay_s, remaining)))
        if hreq.delay_s >= remaining:
            raise httpcore.ReadTimeout("attempt timeout passed while waiting to poll")

    # ------------------------------------------------------------ probes
    async def probe(self, send: SendAttempt) -> None:
        """Run one probe attempt to completion and report its fact."""
        eng = self.engine
        req = eng.probe_request(send)
        if not isinstance(req, HttpRequest):
            run = Run(f"probe:{send.attempt_id}")
            async with aclosing(self._attempt(run, send, req, {"scope": None})) as items:
                async for _ in items:
                    pass
            return
        started = eng.clock()
        status: int | None = None
        body = b""
        kind: FailureKind | None = None
        token = IO_DEADLINE.set(started + send.timeout_s)
        try:
            resp = await self.pool.request(
                req.method, req.url, headers=encode_headers(req.headers, req.url),
                extensions={"timeout": timeout_extension(send.timeout_s)})
            status, body = resp.status, resp.content[:2048]
        except TRANSPORT_ERRORS as exc:
            kind = failure_kind_of(exc)
        finally:
            IO_DEADLINE.reset(token)
        fact = models_probe_fact(send.attempt_id, status, body, kind)
        await self.probes(eng.handle(with_timing(fact, (eng.clock() - started) * 1000.0, None)))
