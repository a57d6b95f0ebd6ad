"""A blocking facade over the sync client and the async client (asyncio or trio).

The minimum of tests/conformance/_facade.py that the fault catalogue needs,
kept here so this directory stands alone. For an async driver, one event loop
runs in a helper thread (an anyio blocking portal) from client creation to
close, and every call is carried into it and bounded by `anyio.fail_after`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from adapters import ChatCompletionChunk, create, create_async
from adapters.client import ModelStatus

HARD_LIMIT = 20.0  # async calls: a bound on top of every request deadline


@dataclass
class Streamed:
    """The chunks a streamed call yielded and the error that ended it, if any."""

    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    error: BaseException | None = None


class ClientFacade:
    """Blocking access to one sync or async client."""

    def __init__(self, driver: str, client: Any, portal: BlockingPortal | None) -> None:
        self.driver = driver
        self.client = client
        self._portal = portal

    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run `fn` where the client lives, awaiting its result when it is awaitable."""
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

    def chat(self, messages: list[Any], **kw: Any) -> Any:
        """A non-streamed completion on pool `chat`; raises what the client raises."""
        return self.call(self.client.chat.completions.create, model="chat",
                         messages=messages, **kw)

    def stream(self, messages: list[Any], **kw: Any) -> Streamed:
        """A streamed completion on pool `chat`, consumed to its end."""
        out = Streamed()
        start = functools.partial(self.client.chat.completions.create, model="chat",
                                  messages=messages, stream=True, **kw)
        if self._portal is None:
            try:
                for chunk in start():
                    out.chunks.append(chunk)
            except Exception as exc:
                out.error = exc
            return out

        async def consume() -> Streamed:
            try:
                async for chunk in await start():
                    out.chunks.append(chunk)
            except Exception as exc:
                out.error = exc
            return out

        result: Streamed = self.call(consume)
        return result

    def row(self, model_id: str) -> ModelStatus:
        """The pool-status row of one member of pool `chat`."""
        status = self.call(self.client.pool_status_of, "chat")
        row: ModelStatus = next(m for m in status.models if m.model_id == model_id)
        return row


@contextmanager
def open_client(driver: str, config: dict[str, Any], *, seed: int) -> Iterator[ClientFacade]:
    """A fresh client for `config` on `driver` ("sync", "asyncio" or "trio")."""
    if driver == "sync":
        with create(config=config, seed=seed) as sync_client:
            yield ClientFacade(driver, sync_client, None)
        return
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal(backend=driver))
        client = portal.call(functools.partial(create_async, config=config, seed=seed))
        stack.callback(portal.call, client.close)
        yield ClientFacade(driver, client, portal)
