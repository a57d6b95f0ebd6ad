"""The engine's side of observability and middleware.

`EngineObserver` is what `adapters.engine.Engine` calls: `after(actions)`
inside the engine lock after every `handle()` (the records of `Emit` actions
go to the sinks, with the request / response texts of the `summary` and `full`
log levels taken from the request's run), `attempt_started(send, request)`
when a driver starts an attempt (to remember the request for those texts), and
`close()` (final statistics flush, shutdown trace, drain). It also holds the
client's `MiddlewareChain` (R-108), installed by the client, for the drivers.
The shell-side traces of `engine.state` (secret warnings R-13, storage load /
save failures R-87, lock timeouts R-82) are connected here: the ones recorded
before the observer existed are replayed, later ones are published as they
happen, to every sink that receives traces (honouring `min_severity`).
The final statistics flush at close is also handed to the storage
(`modelmesh/stats`, R-85). Nothing here may raise into the request path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from adapters.middleware import (
    MiddlewareChain,
    MiddlewareContext,
    aggregate_completion,
    attempt_error,
    completion_chunks,
)
from adapters.observability.dispatch import Observability, request_texts
from adapters.observability.factory import build_observability
from meshcore.actions import Action, Deliver
from meshcore.events import AttemptFailed
from meshcore.records import RequestLogEntry, TraceEntry
from meshcore.router.calendar import iso_utc

if TYPE_CHECKING:
    from adapters.engine import Engine

__all__ = ["EngineObserver", "override_items"]


class EngineObserver:
    """Observability and middleware of one engine; see module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.middleware = MiddlewareChain(None, allow_async=True)
        self.observability: Observability = build_observability(
            engine.built, budget_source=self._budget)
        self._requests: dict[str, Any] = {}
        state = getattr(engine, "state", None)
        if state is not None:  # shell-side traces reach the sinks
            for entry in list(state.traces):
                self.publish_trace(entry)
            state.on_trace = self.publish_trace

    def publish_trace(self, entry: TraceEntry) -> None:
        """Deliver one shell-side `TraceEntry` to the sinks (never raises)."""
        obs = self.observability
        if not obs.active:
            return
        try:
            obs.publish(entry.to_dict())
        except Exception:
            return

    def _budget(self) -> Any:
        return self.engine.view(lambda r: r.usage().get("budget_status"))

    def install(self, obs: Observability) -> None:
        """Replace the sinks (the proxy installs its R-90 default this way)."""
        old, self.observability = self.observability, obs
        old.close()

    # ------------------------------------------------------------ engine calls
    def attempt_started(self, send: Any, request: Any) -> None:
        """Remember the request of a user attempt for the log texts (R-92)."""
        if self.observability.needs_texts and send.request_id is not None:
            self._requests[send.request_id] = request

    def after(self, actions: list[Action]) -> None:
        """Deliver the records of one `handle()` call's actions."""
        obs = self.observability
        if not obs.active:
            return
        try:
            obs.process(actions, self._texts)
        except Exception:
            return

    def _texts(self, rec: RequestLogEntry, end: Action | None) -> dict[str, Any] | None:
        request = self._requests.pop(rec.request_id, None)
        run = self.engine._runs.get(rec.request_id)
        result: Any = None
        streamed: str | None = None
        if isinstance(end, Deliver) and run is not None:
            att = run.attempts.get(end.attempt_id)
            if att is not None:
                if att.stream:
                    streamed = att.partial_text
                else:
                    result = att.result
        if request is None and result is None and streamed is None:
            return None
        return request_texts(request, result, streamed)

    def close(self) -> None:
        """Final statistics flush and shutdown trace; drain and close the sinks."""
        obs = self.observability
        if not obs.active:
            obs.close()
            return
        final = None
        try:
            now = self.engine.now()

            def flush(r: Any) -> Any:
                return r.stats_book.flush(now.mono, iso_utc(now.wall), r.pool_members)

            final = self.engine.view(flush)
        except Exception:
            final = None
        obs.close(final)

    def set_middleware(self, chain: MiddlewareChain) -> None:
        """Install the client's middleware."""
        self.middleware = chain

    # ------------------------------------------------------------ middleware
    def mw_begin(self, run: Any, metadata: Mapping[str, Any] | None) -> MiddlewareContext | None:
        """The middleware context of a new run (None without middleware)."""
        return self.middleware.start(run.request_id, metadata) if self.middleware else None

    def mw_end(self, run: Any) -> None:
        """Forget a finished run's context."""
        if self.middleware:
            self.middleware.finish(run.request_id)

    def _at(self, ctx: MiddlewareContext, send: Any) -> None:
        def pool(r: Any) -> str | None:
            req = r.requests.get(ctx.request_id)
            return None if req is None else str(req.pool.name)

        self.middleware.at_attempt(ctx, send, self.engine.view(pool))

    def mw_before(self, ctx: MiddlewareContext | None, send: Any, request: Any) -> Any:
        """`before_request` hooks for one attempt (sync)."""
        if ctx is None:
            return request
        self._at(ctx, send)
        return self.middleware.before(ctx, request)

    async def mw_abefore(self, ctx: MiddlewareContext | None, send: Any, request: Any) -> Any:
        """`before_request` hooks for one attempt (async)."""
        if ctx is None:
            return request
        self._at(ctx, send)
        return await self.middleware.abefore(ctx, request)

    def _error(self, send: Any, fact: AttemptFailed) -> BaseException:
        connector = self.engine.config.providers[send.provider_id].connector
        return attempt_error(fact, send, connector)

    def mw_error(self, ctx: MiddlewareContext | None, send: Any, fact: Any,
                 committed: bool) -> None:
        """`on_error` hooks after a failed, uncommitted attempt (sync)."""
        if ctx is not None and isinstance(fact, AttemptFailed) and not committed \
                and self.middleware.error_hooks:
            self.middleware.error(ctx, self._error(send, fact))

    async def mw_aerror(self, ctx: MiddlewareContext | None, send: Any, fact: Any,
                        committed: bool) -> None:
        """`on_error` hooks after a failed, uncommitted attempt (async)."""
        if ctx is not None and isinstance(fact, AttemptFailed) and not committed \
                and self.middleware.error_hooks:
            await self.middleware.aerror(ctx, self._error(send, fact))

    def _aggregate(self, action: Deliver, att: Any, text: str) -> Any:
        return aggregate_completion(action.response_id, action.model_id, text,
                                    getattr(att, "usage", None))

    def mw_after(self, ctx: MiddlewareContext | None, action: Deliver, att: Any,
                 result: Any, text: str) -> Any:
        """`after_response` hooks once after success (sync); for a stream
        (`att.stream`) with the aggregated response, the return ignored."""
        if ctx is None or not self.middleware.after_hooks:
            return result
        if att is not None and att.stream:
            self.middleware.after(ctx, self._aggregate(action, att, text))
            return result
        return self.middleware.after(ctx, result)

    async def mw_aafter(self, ctx: MiddlewareContext | None, action: Deliver, att: Any,
                        result: Any, text: str) -> Any:
        """`after_response` hooks once after success (async)."""
        if ctx is None or not self.middleware.after_hooks:
            return result
        if att is not None and att.stream:
            await self.middleware.aafter(ctx, self._aggregate(action, att, text))
            return result
        return await self.middleware.aafter(ctx, result)


def override_items(ctx: MiddlewareContext, stream: bool) -> list[Any]:
    """What the caller receives when an `on_error` hook answered: stream chunks
    built from the response (R-67 shape) or one `Final`."""
    from adapters.engine import Final

    resp = ctx.override
    if stream:
        if isinstance(resp, (list, tuple)):
            return list(resp)
        return list(completion_chunks(resp))
    return [Final(resp)]
