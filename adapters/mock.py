"""`mock_client(responses=[...])`: a client with the real surface and no network
(SPEC R-109, API.md section 4).

Chat calls take the next item of `responses`: a string (the content), a
`MockResponse`, or an exception instance (raised when reached). Items are used
in order and the last one repeats; an empty list repeats the default
`MockResponse()`. Every call is recorded in `calls` (`model`, `messages` and
the other keywords). `stream=True` yields the content split into words (each
chunk one word plus its following whitespace) with the chunk contract of R-67:
one `id`, the role on the first chunk, `finish_reason` and usage on the last.
The other members are stubs: `pool_status()` shows one active model
`mock-model`, `active_providers()` is `["mock-provider"]`, `explain()` selects
`mock-model`, `models.list()` is empty, `usage` accumulates the mock tokens,
embeddings are eight zeros per input.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, overload

from adapters.middleware import completion_chunks
from adapters.namespaces import (
    Audio,
    CallOptions,
    Chat,
    Embeddings,
    Images,
    SpeechResult,
)
from meshcore.errors import ModelMeshError
from meshcore.types import Operation
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    CompletionUsage,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingUsage,
    Image,
    ImagesResponse,
    ModelList,
    Transcription,
)

__all__ = ["AsyncMockClient", "MockCall", "MockClient", "MockResponse", "mock_client"]

MOCK_MODEL = "mock-model"
MOCK_PROVIDER = "mock-provider"
MOCK_POOL = "mock-pool"
_WORD = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class MockResponse:
    """One scripted chat answer (R-109 defaults)."""

    content: str = "Mock response"
    model: str = MOCK_MODEL
    tokens: int = 10
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"

    def __post_init__(self) -> None:
        if self.prompt_tokens is None:
            object.__setattr__(self, "prompt_tokens", self.tokens // 3)
        if self.completion_tokens is None:
            object.__setattr__(self, "completion_tokens",
                               self.tokens - int(self.prompt_tokens or 0))


@dataclass(frozen=True)
class MockCall:
    """One recorded call: `call.model`, `call.messages`, `call["temperature"]`."""

    operation: str
    model: str | None
    messages: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        if key in ("operation", "model", "messages"):
            return getattr(self, key)
        return self.kwargs[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Like `dict.get`."""
        try:
            return self[key]
        except KeyError:
            return default


def split_words(text: str) -> list[str]:
    """Chunks of a streamed mock answer: each word with its following whitespace."""
    return _WORD.findall(text) or [""]


class _MockCore:
    """The shared behaviour of both mock clients."""

    def __init__(self, responses: Sequence[Any] | None = None) -> None:
        self._responses = list(responses or ())
        self._index = 0
        self._seq = 0
        self._closed = False
        self.calls: list[MockCall] = []
        self._usage: dict[str, Any] = {"total_requests": 0, "prompt_tokens": 0,
                                       "completion_tokens": 0, "total_tokens": 0,
                                       "total_cost": 0.0, "by_model": {},
                                       "budget_status": None}
        self.chat = Chat(self)
        self.embeddings = Embeddings(self)
        self.images = Images(self)
        self.audio = Audio(self)
        self.warnings: tuple[str, ...] = ()

    # ------------------------------------------------------------ plumbing
    def _pool_names(self) -> list[str]:
        return []

    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise ModelMeshError("client is closed")

    def _next(self) -> MockResponse:
        if not self._responses:
            return MockResponse()
        item = self._responses[min(self._index, len(self._responses) - 1)]
        self._index += 1
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            return MockResponse(content=item)
        if isinstance(item, MockResponse):
            return item
        raise TypeError(f"mock responses are strings, MockResponse or exceptions, "
                        f"not {type(item).__name__}")

    def _count(self, model: str, prompt: int, completion: int) -> None:
        u = self._usage
        u["total_requests"] += 1
        u["prompt_tokens"] += prompt
        u["completion_tokens"] += completion
        u["total_tokens"] += prompt + completion
        row = u["by_model"].setdefault(model, {"requests": 0, "tokens": 0, "cost": 0.0})
        row["requests"] += 1
        row["tokens"] += prompt + completion

    def _record(self, operation: Operation, data: dict[str, Any],
                options: CallOptions) -> None:
        kwargs = {k: v for k, v in data.items() if k not in ("model", "messages")}
        for key in ("session_id", "timeout", "metadata"):
            value = getattr(options, key)
            if value is not None:
                kwargs[key] = value
        self.calls.append(MockCall(operation.value, data.get("model"), data.get("messages"),
                                   kwargs))

    def _response_id(self) -> str:
        self._seq += 1
        return "chatcmpl-" + hashlib.blake2b(f"mock:{self._seq}".encode(),
                                             digest_size=12).hexdigest()

    def _answer(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        """The result of one call (chunks list for streams)."""
        self._check_open()
        self._record(operation, data, options)
        if operation is Operation.CHAT:
            r = self._next()
            p, c = int(r.prompt_tokens or 0), int(r.completion_tokens or 0)
            self._count(r.model, p, c)
            resp = ChatCompletion(
                id=self._response_id(), created=int(time.time()), model=r.model,
                choices=(Choice(0, ChatCompletionMessage(content=r.content), r.finish_reason),),
                usage=CompletionUsage(p, c, p + c))
            if data.get("stream"):
                return completion_chunks(resp, split_words(r.content))
            return resp
        if operation is Operation.EMBEDDINGS:
            raw = data.get("input")
            inputs = [raw] if isinstance(raw, str) else list(raw or [])
            tokens = sum(max(1, len(str(t)) // 4) for t in inputs)
            self._count(MOCK_MODEL, tokens, 0)
            return CreateEmbeddingResponse(
                data=tuple(Embedding(i, (0.0,) * 8) for i in range(len(inputs))),
                model=MOCK_MODEL, usage=EmbeddingUsage(tokens, tokens))
        if operation is Operation.IMAGES:
            n = int(data.get("n") or 1)
            return ImagesResponse(created=int(time.time()), data=tuple(
                Image(url=f"https://mock.invalid/image-{i}.png") for i in range(n)))
        if operation is Operation.SPEECH:
            return SpeechResult(content=b"", content_type="audio/mpeg")
        if operation is Operation.TRANSCRIPTION:
            return Transcription(text=self._next().content)
        raise ValueError(f"unsupported operation {operation.value}")

    # ------------------------------------------------------------ stubs
    def explain(self, model: str = MOCK_POOL, messages: list[Any] | None = None,
                **params: Any) -> dict[str, Any]:
        """Dry run: always selects `mock-model`."""
        self._check_open()
        return {
            "pool_name": model, "strategy": "modelmesh.stick-until-failure.v1",
            "capability": "generation.text-generation.chat-completion",
            "selected_model": MOCK_MODEL, "selected_provider": MOCK_PROVIDER,
            "candidates": [{"model_id": MOCK_MODEL, "provider_id": MOCK_PROVIDER,
                            "status": "active", "eligible": True, "excluded_reason": None,
                            "standby_until": None, "score": None}],
            "reason": "stick-until-failure: mock-model is the current model",
        }

    def describe(self, pool: str | None = None) -> str:
        """One pool with the one mock model."""
        self._check_open()
        name = pool or MOCK_POOL
        return (f'Pool "{name}" (strategy: stick-until-failure)\n'
                f"  capability: generation.text-generation.chat-completion\n"
                f"  → {MOCK_MODEL} [{MOCK_PROVIDER}] (active)")

    def pool_status(self, pool: str | None = None) -> Any:
        """`PoolStatus` with one active model `mock-model` (a dict of it without `pool`)."""
        from adapters.client import ModelStatus, PoolStatus

        self._check_open()
        row = self._usage["by_model"].get(MOCK_MODEL, {"requests": 0, "tokens": 0, "cost": 0.0})
        status = PoolStatus(
            pool or MOCK_POOL, "generation.text-generation.chat-completion",
            "modelmesh.stick-until-failure.v1", 1, 0, 0, 1, MOCK_MODEL,
            (ModelStatus(MOCK_MODEL, MOCK_PROVIDER, "active", None, None, 0, 0.0,
                         int(row["requests"]), int(row["tokens"]), 0.0, None),))
        return status if pool is not None else {MOCK_POOL: status}

    @property
    def usage(self) -> dict[str, Any]:
        """Usage totals of the mock calls (R-64 shape)."""
        u = dict(self._usage)
        u["by_model"] = {k: dict(v) for k, v in self._usage["by_model"].items()}
        return u

    def active_providers(self) -> list[str]:
        """Always `["mock-provider"]`."""
        return [MOCK_PROVIDER]

    def rotate(self, pool: str) -> str | None:
        """No-op: the mock model stays selected."""
        return MOCK_MODEL

    def deactivate(self, target: str) -> None:
        """No-op."""

    def activate(self, target: str) -> None:
        """No-op."""


class _MockModels:
    def list(self) -> ModelList:
        """Always empty."""
        return ModelList()


class _AsyncMockModels:
    async def list(self) -> ModelList:
        """Always empty."""
        return ModelList()


class MockStream:
    """Sync iterator of mock chunks."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._it: Iterator[ChatCompletionChunk] = iter(chunks)

    def __iter__(self) -> MockStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._it)

    def close(self) -> None:
        """Stop early."""
        self._it = iter(())

    def __enter__(self) -> MockStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMockStream:
    """Async iterator of mock chunks."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = list(chunks)

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        """Stop early."""
        self._chunks = []

    async def __aenter__(self) -> AsyncMockStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class MockClient(_MockCore):
    """The sync mock client."""

    def __init__(self, responses: Sequence[Any] | None = None) -> None:
        super().__init__(responses)
        self.models = _MockModels()

    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any:
        out = self._answer(operation, data, options)
        return MockStream(out) if isinstance(out, list) else out

    def close(self) -> None:
        """Idempotent."""
        self._closed = True

    def __enter__(self) -> MockClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncMockClient(_MockCore):
    """The async mock client: awaited calls, async streams."""

    def __init__(self, responses: Sequence[Any] | None = None) -> None:
        super().__init__(responses)
        self.models = _AsyncMockModels()

    async def _call(self, operation: Operation, data: dict[str, Any],
                    options: CallOptions) -> Any:
        out = self._answer(operation, data, options)
        return AsyncMockStream(out) if isinstance(out, list) else out

    async def close(self) -> None:
        """Idempotent."""
        self._closed = True

    async def aclose(self) -> None:
        """Alias of `close()`."""
        await self.close()

    async def __aenter__(self) -> AsyncMockClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


@overload
def mock_client(responses: Sequence[Any] | None = ..., *,
                async_: Literal[False] = ...) -> MockClient: ...


@overload
def mock_client(responses: Sequence[Any] | None = ..., *,
                async_: Literal[True]) -> AsyncMockClient: ...


def mock_client(responses: Sequence[Any] | None = None, *,
                async_: bool = False) -> MockClient | AsyncMockClient:
    """A mock client (sync, or async with `async_=True`) answering from `responses`."""
    if isinstance(responses, (str, bytes, Mapping)):
        raise TypeError("responses must be a list")
    return AsyncMockClient(responses) if async_ else MockClient(responses)
