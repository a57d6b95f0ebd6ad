"""The stream objects the clients return for `stream=True` (API.md section 1).

`Stream` / `AsyncStream` wrap the driver's run of one streamed request, which
yields nothing but deliverable `ChatCompletionChunk`s (adapters/driver_sync.py,
driver_async.py): iterating a stream iterates that generator itself (no
wrapper call per chunk); `close()` / `aclose()` (or leaving the `with` block)
closes it, which cancels the in-flight attempt and drops its connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from meshcore.wire.models import ChatCompletionChunk

__all__ = ["AsyncStream", "Stream"]


class Stream:
    """A sync stream of `ChatCompletionChunk`s; `close()` cancels the request."""

    def __init__(self, gen: Iterator[Any]) -> None:
        self._gen = gen

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        """The driver's generator itself (it yields only chunks here)."""
        return self._gen

    def __next__(self) -> ChatCompletionChunk:
        while True:
            item = next(self._gen)
            if isinstance(item, ChatCompletionChunk):
                return item

    def close(self) -> None:
        """Stop early: the in-flight attempt is cancelled, its connection closed."""
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncStream:
    """An async stream of `ChatCompletionChunk`s; `aclose()` cancels the request."""

    def __init__(self, agen: AsyncGenerator[Any, None]) -> None:
        self._agen = agen

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        """The driver's async generator itself (it yields only chunks here)."""
        return self._agen

    async def __anext__(self) -> ChatCompletionChunk:
        while True:
            item = await self._agen.__anext__()
            if isinstance(item, ChatCompletionChunk):
                return item

    async def aclose(self) -> None:
        """Stop early: the in-flight attempt is cancelled, its connection closed."""
        await self._agen.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()
