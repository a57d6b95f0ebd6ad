"""`MeshClient` / `AsyncMeshClient` and `create()` / `create_async()` (API.md section 1,
SPEC R-104 .. R-110).

Construction does all the work that can fail (R-104): `adapters.build` resolves the
arguments into a validated config with resolved secrets, a seed is drawn when none is
given (R-110), and the `Engine` wraps a fresh `Router`. Requests run on the sync driver
(calling thread, router behind a `threading.Lock`) or the async driver (anyio). The
extensions (`explain`, `describe`, `pool_status`, `usage`, `rotate`, `activate`,
`deactivate`, `active_providers`) are read-only views or operator commands on the core
and are plain (non-awaited) methods on both clients.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, fields
from dataclasses import replace as dc_replace
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread

from adapters.build import Built, build
from adapters.discovery import Discovery
from adapters.engine import Engine, Final
from adapters.middleware import MiddlewareChain
from adapters.namespaces import Audio, CallOptions, Chat, Embeddings, Images, Models, SpeechResult
from adapters.recording import draw_seed
from adapters.streams import AsyncStream, Stream
from meshcore.actions import SendAttempt
from meshcore.capabilities import resolve_ex
from meshcore.config.membership import most_specific_pool
from meshcore.errors import ModelMeshError, UnknownPoolError
from meshcore.events import BackgroundProbes, ConfigChanged, OperatorCommand, Tick
from meshcore.types import Operation
from meshcore.wire.models import (
    CompletionRequest,
    ModelList,
    SpeechResponse,
    parse_request,
)
from meshcore.wire.tokens import features_of

__all__ = [
    "AsyncMeshClient",
    "AsyncStream",
    "MeshClient",
    "ModelStatus",
    "PoolStatus",
    "Stream",
    "create",
    "create_async",
]


class _Indexable:
    """`obj["field"]` reads a field; an unknown key raises KeyError."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        return getattr(self, key)


@dataclass(frozen=True)
class ModelStatus(_Indexable):
    """One pool member's state (R-106)."""

    model_id: str
    provider_id: str
    status: str
    reason: str | None
    standby_until: Any
    failure_count: int
    error_rate: float
    requests: int
    tokens: int
    cost: float
    latency_avg_ms: float | None


@dataclass(frozen=True)
class PoolStatus(_Indexable):
    """A pool's state (R-106); `status["active"]` works like `status.active`."""

    name: str
    capability: str | None
    strategy: str
    active: int
    standby: int
    half_open: int
    total: int
    current_model: str | None
    models: tuple[ModelStatus, ...]


def _pool_status(raw: Mapping[str, Any]) -> PoolStatus:
    names = {f.name for f in fields(ModelStatus)}
    rows = tuple(ModelStatus(**{k: v for k, v in m.items() if k in names})
                 for m in raw.get("models", ()))
    return PoolStatus(raw["name"], raw.get("capability"), raw.get("strategy", ""),
                      int(raw.get("active", 0)), int(raw.get("standby", 0)),
                      int(raw.get("half_open", 0)), int(raw.get("total", 0)),
                      raw.get("current_model"), rows)


def wrap_result(value: Any) -> Any:
    """Shell-side result types (speech gets `stream_to_file`)."""
    if isinstance(value, SpeechResponse) and not isinstance(value, SpeechResult):
        return SpeechResult(content=value.content, content_type=value.content_type)
    return value


class ClientCore:
    """What both clients share: the engine and the extension methods."""

    def __init__(self, built: Built, seed: int, engine: Engine,
                 middleware: Sequence[Any] | None) -> None:
        self._built = built
        self.seed = seed
        self._engine = engine
        self._middleware = list(middleware or ())
        self._closed = False
        self.chat = Chat(self)
        self.embeddings = Embeddings(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.warnings: tuple[str, ...] = built.warnings

    # ------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._closed:
            raise ModelMeshError("client is closed")

    def _pool_names(self) -> list[str]:
        return list(self._built.config.pools)

    def _prepare(self, operation: Operation, data: dict[str, Any]) -> CompletionRequest:
        self._check_open()
        try:
            return parse_request(operation, data)
        except ValueError as exc:
            raise ValueError(f"invalid {operation.value} request: {exc}") from None

    def _pool_for(self, model: str) -> str:
        config = self._built.config
        if model in config.pools:
            return model
        try:
            path, _ = resolve_ex(model, config.custom_capabilities)
        except (ModelMeshError, ValueError):
            path = None
        pool = most_specific_pool(config, path) if path is not None else None
        if pool is None:
            names = sorted(config.pools)
            raise UnknownPoolError(f"Unknown pool {model!r}. Pools: {', '.join(names)}",
                                   {"pools": names, "model": model})
        return pool

    def _view_now(self) -> Any:
        return self._engine.now()

    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError

    def _run_probes(self, probes: list[SendAttempt]) -> None:
        """Hook: the sync client runs probes inline, the async one schedules them."""

    def _discovery_feed(self, event: Any) -> None:
        """Feed a discovery event (R-102, R-103) and adopt the router's
        configuration, which now holds the registered discovered models."""
        probes = self._engine.handle(event)
        cfg = self._engine.view(lambda r: r.config)
        if cfg is not self._built.config:
            self._built = dc_replace(self._built, config=cfg)
            self._engine.config = cfg
        self._run_probes(probes)

    # ------------------------------------------------------------ extensions
    def explain(self, model: str, messages: list[Any] | None = None,
                **params: Any) -> dict[str, Any]:
        """Dry run of the routing decision; no provider call, no state change."""
        self._check_open()
        pool = self._pool_for(model)
        features = None
        if messages is not None:
            data = {k: v for k, v in params.items() if v is not None}
            features = features_of(parse_request(Operation.CHAT,
                                                 {"model": model, "messages": messages, **data}))
        now = self._view_now()
        result: dict[str, Any] = self._engine.view(lambda r: r.explain(pool, features, now))
        return result

    def describe(self, pool: str | None = None) -> str:
        """Human-readable text per pool (R-106)."""
        self._check_open()
        if pool is not None and pool not in self._built.config.pools:
            raise UnknownPoolError(f"Unknown pool {pool!r}", {"pool": pool})
        text: str = self._engine.view(lambda r: r.describe(pool))
        return text

    def pool_status(self, pool: str | None = None) -> PoolStatus | dict[str, PoolStatus]:
        """`PoolStatus` of one pool, or a dict of all pools."""
        self._check_open()
        if pool is None:
            return {name: self.pool_status_of(name) for name in self._built.config.pools}
        return self.pool_status_of(pool)

    def pool_status_of(self, pool: str) -> PoolStatus:
        """`PoolStatus` of one pool (UnknownPoolError if there is none)."""
        if pool not in self._built.config.pools:
            raise UnknownPoolError(f"Unknown pool {pool!r}", {"pool": pool})
        return _pool_status(self._engine.view(lambda r: r.pool_status(pool)))

    @property
    def usage(self) -> dict[str, Any]:
        """Usage totals (R-64)."""
        self._check_open()
        result: dict[str, Any] = self._engine.view(lambda r: r.usage())
        return result

    def active_providers(self) -> list[str]:
        """Provider IDs with at least one eligible model."""
        self._check_open()
        result: list[str] = self._engine.view(lambda r: r.active_providers())
        return result

    def rotate(self, pool: str) -> str | None:
        """Put the pool's current model in standby (`manual`); return the new pick."""
        self._check_open()
        if pool not in self._built.config.pools:
            raise UnknownPoolError(f"Unknown pool {pool!r}", {"pool": pool})
        self._run_probes(self._engine.handle(OperatorCommand("rotate", pool)))
        selected: str | None = self.explain(pool).get("selected_model")
        return selected

    def _command(self, op: str, target: str) -> None:
        self._check_open()
        config = self._built.config
        if target not in config.models and target not in config.providers:
            raise ModelMeshError(f"unknown model or provider {target!r}", {"target": target})
        self._run_probes(self._engine.handle(OperatorCommand(op, target)))

    def reconfigure(self, built: Built) -> None:
        """Install a new validated configuration (the proxy's reload, R-118a): the
        core receives `ConfigChanged` (surviving models and pools keep their state)
        and attempts started from now on use the new keys and URLs."""
        self._check_open()
        probes = self._engine.handle(ConfigChanged(built.data))
        self._engine.built = built
        self._engine.config = built.config
        self._built = built
        self.warnings = built.warnings
        self._run_probes(probes)

    def deactivate(self, target: str) -> None:
        """Manual deactivation of a model or provider ID (R-51)."""
        self._command("deactivate", target)

    def activate(self, target: str) -> None:
        """Manual activation of a model or provider ID (R-51)."""
        self._command("activate", target)


class MeshClient(ClientCore):
    """The sync client (API.md section 1). Shareable across threads."""

    def __init__(self, built: Built, *, seed: int | None = None, record: str | None = None,
                 middleware: Sequence[Any] | None = None) -> None:
        from adapters.driver_sync import SyncDriver

        chain = MiddlewareChain(middleware, allow_async=False)  # TypeError here
        seed = draw_seed() if seed is None else int(seed)
        engine = Engine(built, seed, time.monotonic, record=record, lock=threading.Lock())
        engine.observer.set_middleware(chain)
        super().__init__(built, seed, engine, middleware)
        self._driver = SyncDriver(engine)
        self.models = Models(self)
        self._close_lock = threading.Lock()
        self.discovery = Discovery(engine, self._discovery_feed)
        self.warnings = (*self.warnings, *self.discovery.auto_discover())

    def _run_probes(self, probes: list[SendAttempt]) -> None:
        self._driver._probes(probes)

    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        request = self._prepare(operation, data)
        self.discovery.run_due()  # discovery runs inline when due
        gen = self._driver.execute(request, str(data.get("model", "")),
                                   session_id=options.session_id, timeout=options.timeout,
                                   metadata=options.metadata)
        if getattr(request, "stream", False):
            return Stream(gen)
        result: Any = None
        for item in gen:
            if isinstance(item, Final):
                result = item.value
        return wrap_result(result)

    def close(self) -> None:
        """Close connections and the event log; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._driver.close()
        self.discovery.close()
        self._engine.close()

    def __enter__(self) -> MeshClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def create(
    *capabilities: str,
    pool: str | None = None,
    providers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    strategy: str | None = None,
    api_keys: Mapping[str, str] | None = None,
    config: object = None,
    middleware: Sequence[Any] | None = None,
    record: str | None = None,
    seed: int | None = None,
) -> MeshClient:
    """Build a sync `MeshClient` (API.md section 1, SPEC R-19)."""
    built = build(capabilities, pool=pool, providers=providers, models=models,
                  strategy=strategy, api_keys=api_keys, config=config)
    return MeshClient(built, seed=seed, record=record, middleware=middleware)


def model_list(names: Sequence[str]) -> ModelList:
    """The pools as an OpenAI model list."""
    return Models(_Names(names)).list()


class _Names:
    def __init__(self, names: Sequence[str]) -> None:
        self._names = list(names)

    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError

    def _pool_names(self) -> list[str]:
        return self._names


# ---------------------------------------------------------------- async client


class AsyncModels:
    """`models` namespace of the async client."""

    def __init__(self, client: ClientCore) -> None:
        self._client = client

    async def list(self) -> ModelList:
        """The pools (`id` = pool name, `owned_by: modelmesh`)."""
        return model_list(self._client._pool_names())


_BASE_LOOP_TIME = asyncio.BaseEventLoop.time  # `return time.monotonic()`


def _loop_clock() -> float:
    """The running event loop's clock, as `anyio.current_time()` reads it
    (so trio's MockClock applies), without anyio's backend detection on
    every call (and asyncio's own `time` without the call): the drivers
    read the clock several times per request and per streamed chunk."""
    loop = asyncio._get_running_loop()
    if loop is not None:
        if type(loop).time is _BASE_LOOP_TIME:
            return time.monotonic()
        return loop.time()
    trio = sys.modules.get("trio")  # under trio it is imported already
    if trio is not None:
        try:
            return float(trio.current_time())
        except RuntimeError:
            pass
    return anyio.current_time()


class AsyncMeshClient(ClientCore):
    """The async client (API.md section 1): awaited calls, async streams, any
    number of concurrent requests; `async with` also runs background work
    (timers and probes)."""

    def __init__(self, built: Built, *, seed: int | None = None, record: str | None = None,
                 middleware: Sequence[Any] | None = None) -> None:
        from adapters.driver_async import AsyncDriver

        chain = MiddlewareChain(middleware, allow_async=True)
        seed = draw_seed() if seed is None else int(seed)
        engine = Engine(built, seed, _loop_clock, record=record)
        engine.observer.set_middleware(chain)
        engine.state.inline_saves = False  # state saves run on a worker thread (_save_soon)
        super().__init__(built, seed, engine, middleware)
        self._driver = AsyncDriver(engine)
        self.models = AsyncModels(self)
        self._deferred: list[SendAttempt] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self.discovery = Discovery(engine, self._discovery_feed)
        self._discovery_started = False

    async def _discovery_step(self) -> None:
        """Startup listing (R-18, R-20) once, then due discovery runs inline
        when no `async with` runs them in the background (R-107)."""
        if not self._discovery_started:
            self._discovery_started = True
            self.warnings = (*self.warnings, *await self.discovery.auto_discover_async())
        if self._tg is None:
            await self.discovery.run_due_async()

    def _view_now(self) -> Any:
        try:
            return self._engine.now()
        except Exception:
            return None

    def _run_probes(self, probes: list[SendAttempt]) -> None:
        if self._tg is not None:
            for send in probes:
                self._tg.start_soon(self._driver.probe, send)
        else:
            self._deferred.extend(probes)

    async def _call(self, operation: Operation, data: dict[str, Any],
                    options: CallOptions, request: CompletionRequest | None = None) -> Any:
        """Route one call; `request` is `data` already parsed by `parse_request`
        (the proxy validates the body before routing and passes it on)."""
        if request is None:
            request = self._prepare(operation, data)
        else:
            self._check_open()
        if self._tg is None or not self._discovery_started:
            await self._discovery_step()
        if self._deferred:
            probes, self._deferred = self._deferred, []
            await self._driver.probes(probes)
        agen = self._driver.execute(request, str(data.get("model", "")),
                                    session_id=options.session_id, timeout=options.timeout,
                                    metadata=options.metadata)
        if getattr(request, "stream", False):
            return AsyncStream(agen)
        result: Any = None
        async with aclosing(agen) as items:
            async for item in items:
                if isinstance(item, Final):
                    result = item.value
        if (sync := self._engine.state.sync) is not None and sync.pending:
            await self._save_soon()
        return wrap_result(result)

    async def _save_soon(self) -> None:
        """R-83: write a queued state snapshot off the event loop (in the
        background inside `async with`, else before the call returns)."""
        state = self._engine.state
        if state.sync is None or not state.sync.pending:
            return
        if self._tg is not None:
            self._tg.start_soon(state.aflush)
        else:
            await state.aflush()

    async def _ticker(self) -> None:
        eng = self._engine
        while True:
            deadline = eng.next_deadline()
            delay = 1.0 if deadline is None else max(0.0, deadline - eng.clock())
            await anyio.sleep(min(delay, 1.0))
            deadline = eng.next_deadline()
            if deadline is not None and eng.clock() >= deadline:
                self._run_probes(eng.handle(Tick()))
            await eng.state.aflush()

    async def __aenter__(self) -> AsyncMeshClient:
        self._check_open()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg

        async def sink(probes: list[SendAttempt]) -> None:
            self._run_probes(probes)

        self._driver.probe_sink = sink
        self._run_probes(self._engine.handle(BackgroundProbes(True)))
        await self._discovery_step()
        tg.start_soon(self.discovery.run_background)
        tg.start_soon(self._ticker)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        tg, self._tg = self._tg, None
        self._driver.probe_sink = None
        if tg is not None:
            if not self._closed:
                self._engine.handle(BackgroundProbes(False))
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
        await self.close()

    async def close(self) -> None:
        """Close connections and the event log; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        with anyio.CancelScope(shield=True):
            await self._driver.aclose()
            await self.discovery.aclose()
            await anyio.to_thread.run_sync(self._engine.state.close)
        self._engine.close()

    async def aclose(self) -> None:
        """Alias of `close()`."""
        await self.close()


def create_async(
    *capabilities: str,
    pool: str | None = None,
    providers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    strategy: str | None = None,
    api_keys: Mapping[str, str] | None = None,
    config: object = None,
    middleware: Sequence[Any] | None = None,
    record: str | None = None,
    seed: int | None = None,
) -> AsyncMeshClient:
    """Build an `AsyncMeshClient` (same arguments as `create`)."""
    built = build(capabilities, pool=pool, providers=providers, models=models,
                  strategy=strategy, api_keys=api_keys, config=config)
    return AsyncMeshClient(built, seed=seed, record=record, middleware=middleware)
