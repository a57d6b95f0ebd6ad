"""The conformance suite's driver facade (issue 4); fixtures live in conftest.py.

Every scenario is written once, as plain blocking code against `Mesh`, and
runs on the three drivers: the sync client on the test thread, and the async
client under asyncio and under trio. For the async drivers one event loop
runs in a helper thread for the whole scenario (an anyio blocking portal),
and every facade call is carried into that loop, so the client, its
connection pool and its clock all live in one loop from start to close.

Each client call passes a request deadline (`timeout=`) and every async call
is also wrapped in `anyio.fail_after`, so no scenario can hang.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from adapters import ChatCompletionChunk, PoolStatus, create, create_async
from adapters.client import ModelStatus
from adapters.fake_provider import FakeProviderServer

DRIVERS = ("sync", "asyncio", "trio")
MSG = [{"role": "user", "content": "hello there"}]
CALL_TIMEOUT = 8.0  # request deadline of every call unless a scenario sets one
HARD_LIMIT = 20.0  # async calls: fail_after bound on top of the request deadline


def provider(srv: FakeProviderServer, *, timeout: str = "3s", **extra: Any) -> dict[str, Any]:
    """A provider definition pointing at a fake server (OpenAI-compatible)."""
    return {"connector": "openai.compatible.v1", "base_url": srv.base_url,
            "api_key": "test-key", "timeout": timeout, **extra}


def model(pid: str, name: str, **extra: Any) -> dict[str, Any]:
    """A chat model definition of provider `pid`."""
    return {"provider": pid, "name": name, "capabilities": ["chat-completion"], **extra}


def config_for(servers: list[FakeProviderServer], *, timeout: str = "3s",
               pool: dict[str, Any] | None = None,
               providers: dict[str, dict[str, Any]] | None = None,
               models: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Provider `p<i>` with model `p<i>.m<i>` per server, all in pool `chat`
    (pool order = server order), no same-model retry unless `pool` says so.
    `providers` / `models` merge extra keys into the generated entries."""
    provs: dict[str, Any] = {}
    mods: dict[str, Any] = {}
    for i, srv in enumerate(servers):
        pid = f"p{i}"
        provs[pid] = provider(srv, timeout=timeout, **(providers or {}).get(pid, {}))
        mods[f"{pid}.m{i}"] = model(pid, f"m{i}", **(models or {}).get(f"{pid}.m{i}", {}))
    return {
        "providers": provs,
        "models": mods,
        "pools": {"chat": {"models": list(mods), "retry": {"max_attempts": 1},
                           **(pool or {})}},
    }


@dataclass
class StreamResult:
    """What a streamed call yielded, and the error that ended it (if any)."""

    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def text(self) -> str:
        return "".join(c.choices[0].delta.content or "" for c in self.chunks if c.choices)

    @property
    def models(self) -> set[str]:
        return {c.model for c in self.chunks}


class Mesh:
    """A blocking facade over one sync or async client."""

    def __init__(self, driver: str, client: Any, portal: BlockingPortal | None) -> None:
        self.driver = driver
        self.client = client
        self._portal = portal

    @property
    def is_async(self) -> bool:
        return self._portal is not None

    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run `fn` where the client lives (awaiting it when it is async)."""
        if self._portal is None:
            return fn(*args, **kw)
        target = functools.partial(fn, *args, **kw)

        async def bounded() -> Any:
            with anyio.fail_after(HARD_LIMIT):
                result = target()
                if isinstance(result, Awaitable):
                    result = await result
                return result

        return self._portal.call(bounded)

    def chat(self, model: str = "chat", messages: list[Any] | None = None, **kw: Any) -> Any:
        """`chat.completions.create(...)` (non-streamed); raises what the client raises."""
        kw.setdefault("timeout", CALL_TIMEOUT)
        return self.call(self.client.chat.completions.create, model=model,
                         messages=messages or MSG, **kw)

    def stream(self, model: str = "chat", messages: list[Any] | None = None,
               **kw: Any) -> StreamResult:
        """A streamed call, consumed to the end; the ending error is captured."""
        kw.setdefault("timeout", CALL_TIMEOUT)
        out = StreamResult()
        create_fn = functools.partial(self.client.chat.completions.create, model=model,
                                      messages=messages or MSG, stream=True, **kw)
        if self._portal is None:
            try:
                for chunk in create_fn():
                    out.chunks.append(chunk)
            except Exception as exc:
                out.error = exc
            return out

        async def consume() -> StreamResult:
            try:
                stream = await create_fn()
                async for chunk in stream:
                    out.chunks.append(chunk)
            except Exception as exc:
                out.error = exc
            return out

        result: StreamResult = self.call(consume)
        return result

    def stream_then_close(self, n: int, **kw: Any) -> list[ChatCompletionChunk]:
        """Read `n` chunks of a stream, then close it early (caller cancellation, R-42)."""
        kw.setdefault("timeout", CALL_TIMEOUT)
        create_fn = functools.partial(self.client.chat.completions.create, model="chat",
                                      messages=MSG, stream=True, **kw)
        if self._portal is None:
            stream = create_fn()
            got = [next(stream) for _ in range(n)]
            stream.close()
            return got

        async def partial() -> list[ChatCompletionChunk]:
            stream = await create_fn()
            got = [await stream.__anext__() for _ in range(n)]
            await stream.aclose()
            return got

        result: list[ChatCompletionChunk] = self.call(partial)
        return result

    def status(self, pool: str = "chat") -> PoolStatus:
        result: PoolStatus = self.call(self.client.pool_status_of, pool)
        return result

    def row(self, model_id: str, pool: str = "chat") -> ModelStatus:
        """The pool-status row of one member."""
        return next(m for m in self.status(pool).models if m.model_id == model_id)

    def explain(self, pool: str = "chat") -> dict[str, Any]:
        result: dict[str, Any] = self.call(self.client.explain, pool)
        return result

    def wait_until(self, cond: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Bounded poll of `cond` (evaluated on the test thread)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.02)
        return cond()


@dataclass(frozen=True)
class Driver:
    """One of the three drivers; `open()` yields a `Mesh` over a fresh client."""

    name: str

    @contextmanager
    def open(self, config: dict[str, Any], *, seed: int = 11, record: str | None = None,
             background: bool = False) -> Iterator[Mesh]:
        """A client for `config`. `background=True` (async only) enters the
        client's `async with`, which runs timers and background probes (R-49)."""
        if self.name == "sync":
            with create(config=config, seed=seed, record=record) as sync_client:
                yield Mesh(self.name, sync_client, None)
            return
        with ExitStack() as stack:
            portal = stack.enter_context(start_blocking_portal(backend=self.name))
            client = portal.call(functools.partial(create_async, config=config, seed=seed,
                                                   record=record))
            if background:
                stack.enter_context(portal.wrap_async_context_manager(client))
            else:
                stack.callback(portal.call, client.close)
            yield Mesh(self.name, client, portal)
