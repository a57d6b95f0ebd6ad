"""The proxy's ASGI application (SPEC R-112 .. R-118).

`ProxyApp(client, settings)` serves an `AsyncMeshClient` over the OpenAI REST
API. Per request: drain check (R-118), CORS preflight (R-115), route and
`proxy.endpoints` check (R-112), method, bearer auth (R-113), the loopback rule
for commands, bounded body (413) and media type (415), then the handler. The
handler runs in its own cancel scope; while a routed call is in flight a
watcher task listens for `http.disconnect`, so a client that goes away cancels
its request (R-42), and the drain watcher can cancel what is still running
when `shutdown_timeout` passes (R-118).

Per-request cost (issue 6): everything that depends only on the settings
(CORS headers, token bytes, route table) is computed once, when the settings
are installed; request headers are read once into a dict; the body is parsed
once; calls without ModelMesh headers share one `CallOptions`; cancel scopes
are made from the running backend's own class (found once per lifespan, which
skips anyio's backend lookup per scope). The disconnect watcher is spawned
into the app's long-lived task group (when the lifespan runs), not into a task
group per request, and only for calls that await the network: a new task group
plus its cancellation costs more per request than the rest of the app's own
work. The watcher ends when the server reports `http.disconnect`, which
hypercorn (like any ASGI server) does as soon as the response is complete, or
at the latest when the app stops. On asyncio the watcher starts
`WATCH_AFTER_S` (50 ms) after the call, from one loop timer shared by all
requests (`adapters.proxy.flight.LateWatch`), and only if the request is still
running: a watcher task costs about as much CPU as the rest of the app's work,
and a call answered within 50 ms gains nothing from it (a disconnect is
noticed within 50 ms + the time the server takes to report it). Under trio it
starts at once.

Response headers of routed calls come from `adapters.engine.RUN_META`, which
the run of the request fills in (`X-ModelMesh-Model`, `-Provider`, `-Attempts`,
`X-Request-Id`). Streams are held until the first deliverable chunk, i.e. the
commit point (R-65): a failure before it is an ordinary JSON error (R-66); a
failure after it ends the stream with an SSE `error` event and no `[DONE]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import anyio.abc

from adapters.client import AsyncMeshClient, AsyncStream
from adapters.engine import RUN_META
from adapters.namespaces import CallOptions
from adapters.observability import CONTENT_TYPE, metrics_text
from adapters.proxy.asgi import Receive, Responder, Scope, Send, dumps, header_map, read_body
from adapters.proxy.asgi import loads as loads_json
from adapters.proxy.auth import bearer_token, is_loopback, token_bytes_match
from adapters.proxy.errors import (
    ProxyError,
    error_for_exception,
    invalid_request,
    stream_error_payload,
)
from adapters.proxy.flight import Flight as _Flight
from adapters.proxy.flight import LateWatch
from adapters.proxy.health import health_body
from adapters.proxy.multipart import boundary_of, parse_form
from adapters.proxy.routes import (
    JSON_BODY,
    OPERATIONS,
    WATCHED,
    Route,
    media_type,
    param_of,
)
from adapters.proxy.routes import route as find_route
from adapters.proxy.routes import text as header_text
from adapters.proxy.settings import ProxySettings
from adapters.proxy.sse import SSE_DONE, SSE_HEADERS, sse_data, sse_error
from meshcore.errors import ModelMeshError
from meshcore.wire.models import parse_request

__all__ = ["ProxyApp"]

log = logging.getLogger("modelmesh.proxy")

WATCH_AFTER_S = 0.05
"""On asyncio, a routed call's disconnect watcher starts this long after the call."""
_NO_OPTIONS = CallOptions()


@dataclass
class _Body:
    raw: bytes = b""
    data: dict[str, Any] = field(default_factory=dict)


class ProxyApp:
    """ASGI application serving `client` with `settings` (R-111 .. R-118).

    Use as the app of an ASGI server; its lifespan enters the client (so
    background probes run) and the drain watcher. Without a lifespan (tests
    calling it directly) wrap the calls in `async with app.running():`.
    """

    def __init__(self, client: AsyncMeshClient, settings: ProxySettings, *,
                 on_ready: Callable[[], None] | None = None) -> None:
        self.client = client
        self.settings = settings
        self.port = settings.port
        self.on_ready = on_ready
        self.started_at = time.monotonic()
        self.total_requests = 0
        self.draining = False
        self.flights: set[_Flight] = set()
        self._shutdown: anyio.Event | None = None
        self._drained: anyio.Event | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._scope_type: type[anyio.CancelScope] = anyio.CancelScope
        self._late = LateWatch(self.flights, self._start_watcher)
        self._cors_fixed: list[tuple[bytes, bytes]] | None = None
        self._tokens: tuple[bytes, ...] = ()
        self._prepare_settings()
        self._handlers: dict[str, Callable[[Scope, _Flight, Route, _Body],
                                           Awaitable[None]]] = {
            "models": self._models, "health": self._health, "metrics": self._metrics,
            "pools": self._pools, "usage": self._usage, "explain": self._explain,
            "rotate": self._rotate, "command": self._command,
            **{name: self._routed for name in OPERATIONS},
        }

    # ------------------------------------------------------------ lifecycle
    @asynccontextmanager
    async def running(self) -> AsyncIterator[ProxyApp]:
        """Run the client's background work and the drain watcher."""
        async with self.client, anyio.create_task_group() as tg:
            self._shutdown = anyio.Event()
            self._drained = anyio.Event()
            tg.start_soon(self._drain_watcher)
            self._scope_type = type(anyio.CancelScope())  # the backend's own class
            self._tg = tg
            try:
                yield self
            finally:
                self._tg = None
                self._scope_type = anyio.CancelScope
                self._late.close()
                tg.cancel_scope.cancel()

    def begin_shutdown(self) -> None:
        """R-118: new requests get 503 `shutting_down`; in-flight ones get
        `shutdown_timeout` to finish, then are cancelled."""
        self.draining = True
        if self._shutdown is not None:
            self._shutdown.set()

    async def wait_drained(self) -> None:
        """Wait until the drain after `begin_shutdown()` has finished."""
        if self._drained is not None:
            await self._drained.wait()

    async def _drain_watcher(self) -> None:
        assert self._shutdown is not None and self._drained is not None
        await self._shutdown.wait()
        with anyio.move_on_after(self.settings.shutdown_timeout):
            while self.flights:
                await anyio.sleep(0.01)
        for flight in list(self.flights):
            flight.cancel("shutdown")
        while self.flights:
            await anyio.sleep(0.01)
        self._drained.set()

    # ------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        msg = await receive()
        if msg["type"] != "lifespan.startup":
            return
        try:
            async with self.running():
                await send({"type": "lifespan.startup.complete"})
                if self.on_ready is not None:
                    self.on_ready()
                await receive()
        except Exception as exc:  # pragma: no cover - defensive
            log.exception("proxy lifespan failed")
            await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    def _prepare_settings(self) -> None:
        """Per-settings constants: CORS headers when they do not depend on the
        request's Origin, and the configured tokens as bytes."""
        s = self.settings
        self._tokens = tuple(t.encode() for t in s.tokens)
        if not s.cors_enabled:
            self._cors_fixed = []
        elif set(s.cors_origins) == {"*"}:
            self._cors_fixed = [(b"access-control-allow-origin", b"*")]
        else:
            self._cors_fixed = None  # depends on the Origin header

    def _cors(self, headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
        if self._cors_fixed is not None:
            return self._cors_fixed
        origins = self.settings.cors_origins
        origin = header_text(headers.get(b"origin"))
        if origin is not None and origin in origins and origin != "*":
            return [(b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"vary", b"Origin")]
        if "*" in origins:
            return [(b"access-control-allow-origin", b"*")]
        return []

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.total_requests += 1
        headers = header_map(scope)
        out = Responder(send, self._cors(headers))
        flight = _Flight(out=out, headers=headers)
        self.flights.add(flight)
        try:
            if self._tg is not None:
                with self._scope_type() as cs:
                    flight.scope = cs
                    await self._guarded(scope, receive, flight, self._tg)
            else:  # no lifespan (direct ASGI calls): a task group for the watcher
                async with anyio.create_task_group() as tg:
                    flight.scope = tg.cancel_scope
                    await self._guarded(scope, receive, flight, tg)
                    tg.cancel_scope.cancel()
            if flight.reason == "shutdown" and not out.finished:
                if not out.started:
                    await out.error(ProxyError(503, "the proxy is shutting down",
                                               "api_error", "shutting_down"))
                elif flight.streaming:
                    stop = ProxyError(503, "the proxy is shutting down", "api_error",
                                      "shutting_down")
                    await out.body(sse_error(stop.body()))
        finally:
            flight.done = True
            self.flights.discard(flight)

    async def _guarded(self, scope: Scope, receive: Receive, flight: _Flight,
                       tg: anyio.abc.TaskGroup) -> None:
        """Dispatch, turning exceptions into error answers while none has started."""
        out = flight.out
        assert out is not None
        try:
            await self._dispatch(scope, receive, tg, flight)
        except ProxyError as err:
            if not out.started:
                await out.error(err)
        except ConnectionAbortedError:
            pass
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"),
                          scope.get("path"))
            if not out.started:
                await out.error(ProxyError(500, "internal error", "api_error",
                                           "internal_error"))

    def _watch(self, tg: anyio.abc.TaskGroup, receive: Receive, flight: _Flight) -> None:
        """Start the disconnect watcher of `flight`: on asyncio, with the app's
        task group, `WATCH_AFTER_S` later if the request still runs; else now."""
        loop = asyncio._get_running_loop()
        if loop is None or tg is not self._tg:
            tg.start_soon(self._watch_disconnect, receive, flight)
            return
        self._late.add(loop, flight, receive, WATCH_AFTER_S)

    def _start_watcher(self, flight: _Flight) -> None:
        tg = self._tg
        if tg is not None and flight.receive is not None:
            with contextlib.suppress(RuntimeError):  # the task group closed (shutdown)
                tg.start_soon(self._watch_disconnect, flight.receive, flight)

    @staticmethod
    async def _watch_disconnect(receive: Receive, flight: _Flight) -> None:
        """Cancel `flight` when its client goes away; returns on the server's
        `http.disconnect`, which also comes once the response is complete."""
        try:
            while not flight.done:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    flight.cancel("disconnect")
                    return
        except Exception:  # the server's receive failed: nothing left to watch
            log.debug("disconnect watcher stopped", exc_info=True)

    async def _dispatch(self, scope: Scope, receive: Receive, tg: anyio.abc.TaskGroup,
                        flight: _Flight) -> None:
        s = self.settings
        out = flight.out
        assert out is not None
        hdrs = flight.headers
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", "/"))
        route = find_route(path)
        if self.draining:
            if route is not None and route.handler == "health":
                await self._health(scope, flight, route, _Body())
                return
            raise ProxyError(503, "the proxy is shutting down", "api_error", "shutting_down")
        if method == "OPTIONS":
            if not s.cors_enabled:
                raise ProxyError(405, "method OPTIONS not allowed (CORS is disabled)",
                                 code="method_not_allowed")
            await self._preflight(hdrs, out)
            return
        if route is None or route.template not in s.endpoints:
            raise ProxyError(404, f"no endpoint {path}", code="not_found")
        if method not in route.methods:
            raise ProxyError(405, f"method {method} not allowed on {path}",
                             code="method_not_allowed",
                             headers=[("allow", ", ".join((*route.methods, "OPTIONS")))])
        if route.handler != "health" and s.auth_enabled and not token_bytes_match(
                bearer_token(header_text(hdrs.get(b"authorization"))), self._tokens):
            raise ProxyError(401, "missing or invalid bearer token", "authentication_error",
                             "invalid_api_key", headers=[("www-authenticate", "Bearer")])
        if (method == "POST" and path.startswith("/v1/modelmesh/") and not s.auth_enabled
                and not is_loopback(scope.get("client"))):
            raise ProxyError(403, "commands need authentication or a loopback client",
                             "permission_error", "forbidden")
        body = await self._read(scope, receive, route, hdrs) if method == "POST" else _Body()
        if route.handler in WATCHED:
            self._watch(tg, receive, flight)
        await self._handlers[route.handler](scope, flight, route, body)

    async def _preflight(self, hdrs: dict[bytes, bytes], out: Responder) -> None:
        allow = "Authorization, Content-Type"
        requested = header_text(hdrs.get(b"access-control-request-headers"))
        if requested:
            extra = [h.strip() for h in requested.split(",") if h.strip()
                     and h.strip().lower() not in ("authorization", "content-type")]
            if extra:
                allow = ", ".join([allow, *extra])
        await out.start(204, [(b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                              (b"access-control-allow-headers", allow.encode("latin-1")),
                              (b"access-control-max-age", b"600")])
        await out.body(b"")

    async def _read(self, scope: Scope, receive: Receive, route: Route,
                    hdrs: dict[bytes, bytes]) -> _Body:
        limit = self.settings.max_body_size
        media = media_type(hdrs.get(b"content-type"))
        if route.handler in JSON_BODY and not (
                media == "application/json" or media.endswith("+json")):
            raise ProxyError(415, f"unsupported Content-Type {media or '(none)'}; "
                             "use application/json", code="unsupported_media_type")
        if route.handler == "transcriptions" and media != "multipart/form-data":
            raise ProxyError(415, f"unsupported Content-Type {media or '(none)'}; "
                             "use multipart/form-data", code="unsupported_media_type")
        raw = await read_body(scope, receive, limit, hdrs)
        if route.handler in JSON_BODY:
            if not raw or raw.isspace():
                raise invalid_request("empty request body")
            try:
                data = loads_json(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise invalid_request(f"invalid JSON body: {exc}") from None
            if not isinstance(data, dict):
                raise invalid_request("the JSON body must be an object")
            return _Body(raw, data)
        if route.handler == "transcriptions":
            form = parse_form(raw, boundary_of(header_text(hdrs.get(b"content-type")) or ""))
            if "temperature" in form:
                try:
                    form["temperature"] = float(form["temperature"])
                except (TypeError, ValueError):
                    raise invalid_request("temperature: must be a number",
                                          "temperature") from None
            if "file" not in form or not isinstance(form["file"], tuple):
                raise invalid_request("file: missing audio file", "file")
            return _Body(raw, form)
        return _Body(raw)

    # ------------------------------------------------------------ routed calls
    @staticmethod
    def _options(hdrs: dict[bytes, bytes]) -> CallOptions:
        session = header_text(hdrs.get(b"x-modelmesh-session"))
        raw = header_text(hdrs.get(b"x-modelmesh-timeout"))
        if not session and raw is None:
            return _NO_OPTIONS  # the usual case (CallOptions is frozen)
        timeout: float | None = None
        if raw is not None:
            try:
                timeout = float(raw)
            except ValueError:
                timeout = math.nan
            if not math.isfinite(timeout) or timeout <= 0:
                raise invalid_request("X-ModelMesh-Timeout: must be a positive number of "
                                      "seconds", "X-ModelMesh-Timeout")
        return CallOptions(session_id=session or None, timeout=timeout)

    def _pool_name(self, model: str) -> str:
        try:
            return self.client._pool_for(model)
        except ModelMeshError:
            return model

    @staticmethod
    def _meta_headers(meta: dict[str, Any], pool: str) -> list[tuple[bytes, bytes]]:
        out = [(b"x-modelmesh-pool", pool.encode("latin-1", "replace"))]
        for key, name in (("model_id", b"x-modelmesh-model"),
                          ("provider_id", b"x-modelmesh-provider"),
                          ("attempts", b"x-modelmesh-attempts"),
                          ("request_id", b"x-request-id")):
            if key in meta:
                out.append((name, str(meta[key]).encode("latin-1", "replace")))
        return out

    async def _routed(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        op = OPERATIONS[route.handler]
        data = body.data
        model = data.get("model")
        if not isinstance(model, str) or not model:
            raise invalid_request("model: a pool name, capability or model ID is required",
                                  "model")
        try:
            request = parse_request(op, data)  # validated once; the client routes it as is
        except (ValueError, TypeError) as exc:
            raise invalid_request(str(exc), param_of(str(exc))) from None
        options = self._options(flight.headers)
        pool = self._pool_name(model)
        flight.pool = pool
        meta: dict[str, Any] = {}
        token = RUN_META.set(meta)
        try:
            try:
                result = await self.client._call(op, data, options, request)
            except ModelMeshError as exc:
                raise error_for_exception(exc, pool) from None
            if isinstance(result, AsyncStream):
                opts = data.get("stream_options")
                include = isinstance(opts, dict) and opts.get("include_usage") is True
                await self._stream(flight, result, meta, pool, include)
                return
            await self._result(flight, route.handler, data, result, meta, pool)
        finally:
            RUN_META.reset(token)

    async def _result(self, flight: _Flight, handler: str, data: dict[str, Any], result: Any,
                      meta: dict[str, Any], pool: str) -> None:
        out = flight.out
        assert out is not None
        headers = self._meta_headers(meta, pool)
        if handler == "speech":
            await out.full(200, bytes(result.content),
                           str(result.content_type).encode("latin-1"), headers)
            return
        if handler == "transcriptions":
            fmt = data.get("response_format") or "json"
            if fmt in ("text", "srt", "vtt"):
                await out.full(200, str(result.text).encode(), b"text/plain; charset=utf-8",
                               headers)
                return
            value = result.model_dump() if fmt == "verbose_json" else {"text": result.text}
            await out.json(200, value, headers)
            return
        await out.json(200, result.model_dump(), headers)

    async def _stream(self, flight: _Flight, stream: AsyncStream, meta: dict[str, Any],
                      pool: str, include_usage: bool) -> None:
        out = flight.out
        assert out is not None
        try:
            try:
                first = await stream.__anext__()
            except StopAsyncIteration:
                first = None
            except ModelMeshError as exc:  # before commit: an ordinary JSON error
                raise error_for_exception(exc, pool) from None
            flight.streaming = True
            await out.start(200, [*SSE_HEADERS, *self._meta_headers(meta, pool)])
            usage: Any = None
            last: dict[str, Any] | None = None
            try:
                chunk = first
                while chunk is not None:
                    d = chunk.model_dump()
                    u = d.pop("usage", None)
                    if u is not None:
                        usage = u
                    last = d
                    await out.body(sse_data(d), more=True)
                    try:
                        chunk = await stream.__anext__()
                    except StopAsyncIteration:
                        chunk = None
            except ModelMeshError as exc:  # after commit: error event, no [DONE]
                await out.body(sse_error(stream_error_payload(exc, pool)))
                return
            tail = SSE_DONE
            if include_usage and usage is not None and last is not None:
                tail = sse_data({"id": last.get("id"), "object": last.get("object"),
                                 "created": last.get("created"), "model": last.get("model"),
                                 "choices": [], "usage": usage}) + SSE_DONE
            await out.body(tail)
        finally:
            with self._scope_type(shield=True):
                await stream.aclose()

    # ------------------------------------------------------------ other endpoints
    async def _models(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        listing = await self.client.models.list()
        created = int(time.time())
        d = listing.model_dump()
        for item in d.get("data", []):
            if not item.get("created"):
                item["created"] = created
        await flight.out.json(200, d)

    async def _health(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        pools: dict[str, Any] = {}
        if not self.client._closed:
            status = self.client.pool_status()
            assert isinstance(status, dict)
            pools = status
        code, value = health_body(
            draining=self.draining, host=self.settings.host, port=self.port,
            uptime=time.monotonic() - self.started_at, active=max(0, len(self.flights) - 1),
            total=self.total_requests, pools=pools)
        await flight.out.json(code, value)

    async def _metrics(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        text = metrics_text(self.client)
        if text is None:
            raise ProxyError(404, "no prometheus sink is configured", code="not_found")
        assert flight.out is not None
        await flight.out.full(200, text, CONTENT_TYPE.encode())

    async def _pools(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        status = self.client.pool_status()
        assert isinstance(status, dict)
        await flight.out.json(200, {name: asdict(p) for name, p in status.items()})

    async def _usage(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        await flight.out.json(200, self.client.usage)

    def _known_pool(self, pool: str) -> str:
        if pool not in self.client._built.config.pools:
            raise ProxyError(404, f"unknown pool {pool!r}", code="not_found", param="pool")
        return pool

    async def _explain(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        pool = self._known_pool(route.params[0])
        await flight.out.json(200, self.client.explain(pool))

    async def _rotate(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        pool = self._known_pool(route.params[0])
        await flight.out.json(200, {"selected_model": self.client.rotate(pool)})

    async def _command(self, scope: Scope, flight: _Flight, route: Route, body: _Body) -> None:
        assert flight.out is not None
        kind, target, op = route.params
        config = self.client._built.config
        known = config.models if kind == "models" else config.providers
        if target not in known:
            raise ProxyError(404, f"unknown {kind[:-1]} {target!r}", code="not_found",
                             param="id")
        if op == "activate":
            self.client.activate(target)
        else:
            self.client.deactivate(target)
        await flight.out.json(200, {"ok": True, "op": op, "target": target})

    # ------------------------------------------------------------ reload (R-118a)
    def apply_settings(self, settings: ProxySettings) -> None:
        """Install reloaded settings; host and port keep their running values."""
        if (settings.host, settings.port) != (self.settings.host, self.settings.port):
            log.warning("proxy.host / proxy.port changes take effect only on restart")
        from dataclasses import replace

        self.settings = replace(settings, host=self.settings.host, port=self.settings.port)
        self._prepare_settings()

    @staticmethod
    def encode(value: Any) -> bytes:
        """JSON encoding used for every body (exposed for tests and tools)."""
        return dumps(value)
