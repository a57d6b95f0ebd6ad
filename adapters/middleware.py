"""Middleware hooks around requests (SPEC R-108).

A middleware is any object (or mapping) with some of `before_request(request,
context) -> request`, `after_response(response, context) -> response` and
`on_error(error, context) -> response | None`. `MiddlewareChain` holds the
hooks of one client in registration order and runs them for the drivers:

- `before_request` in registration order before every attempt, after the core
  selected the model (the context names it); a hook returning None keeps the
  request unchanged;
- `on_error` in registration order after each failed attempt before the core
  decides to retry or rotate, with the attempt's typed error; the first hook
  that returns a response ends the request with it (the failure still counts
  against the model); never after a stream committed;
- `after_response` in reverse registration order, once, after success; for a
  stream after it completed, with the aggregated `ChatCompletion` (its return
  value is then ignored).

A hook that raises ends the request and its exception reaches the caller.
The async client awaits hooks that return awaitables; the sync client
rejects coroutine functions when it is built.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshcore.actions import AttemptRecord
from meshcore.errors import ProviderError, error_from_attempt
from meshcore.events import AttemptFailed
from meshcore.wire.classify import classify
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    CompletionUsage,
)

__all__ = [
    "HOOKS",
    "MiddlewareChain",
    "MiddlewareContext",
    "aggregate_completion",
    "completion_chunks",
]

HOOKS = ("before_request", "after_response", "on_error")
Hook = Callable[..., Any]


@dataclass
class MiddlewareContext:
    """What hooks learn about the request (R-108); `metadata` is shared by all
    hooks of one request and seeded from the call's `metadata`."""

    request_id: str
    pool_name: str | None = None
    model_id: str | None = None
    provider_id: str | None = None
    attempt: int = 0
    timestamp: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)
    override: Any = None  # the response an on_error hook returned


def _hook(item: Any, name: str) -> Hook | None:
    fn = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
    if fn is None:
        return None
    if not callable(fn):
        raise TypeError(f"middleware {name} must be callable, got {type(fn).__name__}")
    return fn  # type: ignore[no-any-return]


def _is_async(fn: Hook) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))  # noqa: B004


class MiddlewareChain:
    """The hooks of one client; see module docstring."""

    def __init__(self, items: Sequence[Any] | None, *, allow_async: bool) -> None:
        self.before_hooks: list[Hook] = []
        self.after_hooks: list[Hook] = []
        self.error_hooks: list[Hook] = []
        for item in items or ():
            for name, bucket in zip(HOOKS, (self.before_hooks, self.after_hooks,
                                            self.error_hooks), strict=True):
                fn = _hook(item, name)
                if fn is None:
                    continue
                if not allow_async and _is_async(fn):
                    raise TypeError(
                        f"middleware {type(item).__name__}.{name} is a coroutine function: "
                        "the sync client accepts sync hooks only (use create_async)")
                bucket.append(fn)
        self._contexts: dict[str, MiddlewareContext] = {}

    def __bool__(self) -> bool:
        return bool(self.before_hooks or self.after_hooks or self.error_hooks)

    # ------------------------------------------------------------ contexts
    def start(self, request_id: str, metadata: Mapping[str, Any] | None) -> MiddlewareContext:
        """The context of a new request."""
        ctx = MiddlewareContext(request_id, metadata=dict(metadata or {}))
        self._contexts[request_id] = ctx
        return ctx

    def context(self, request_id: str) -> MiddlewareContext | None:
        """The context of a request in flight, if it has one."""
        return self._contexts.get(request_id)

    def finish(self, request_id: str) -> None:
        """Forget a finished request."""
        self._contexts.pop(request_id, None)

    @staticmethod
    def at_attempt(ctx: MiddlewareContext, send: Any, pool_name: str | None) -> None:
        """Point the context at the attempt `send` (a `SendAttempt`)."""
        ctx.model_id = send.model_id
        ctx.provider_id = send.provider_id
        ctx.attempt = int(send.attempt_number)
        ctx.pool_name = pool_name
        ctx.timestamp = time.time()

    # ------------------------------------------------------------ sync hooks
    def before(self, ctx: MiddlewareContext, request: Any) -> Any:
        """Run `before_request` hooks (sync)."""
        for fn in self.before_hooks:
            out = fn(request, ctx)
            request = request if out is None else out
        return request

    def error(self, ctx: MiddlewareContext, error: BaseException) -> Any:
        """Run `on_error` hooks (sync); the first response wins."""
        for fn in self.error_hooks:
            out = fn(error, ctx)
            if out is not None:
                ctx.override = out
                return out
        return None

    def after(self, ctx: MiddlewareContext, response: Any) -> Any:
        """Run `after_response` hooks in reverse order (sync)."""
        for fn in reversed(self.after_hooks):
            out = fn(response, ctx)
            response = response if out is None else out
        return response

    # ------------------------------------------------------------ async hooks
    async def abefore(self, ctx: MiddlewareContext, request: Any) -> Any:
        """Run `before_request` hooks, awaiting coroutines."""
        for fn in self.before_hooks:
            out = fn(request, ctx)
            if inspect.isawaitable(out):
                out = await out
            request = request if out is None else out
        return request

    async def aerror(self, ctx: MiddlewareContext, error: BaseException) -> Any:
        """Run `on_error` hooks, awaiting coroutines; the first response wins."""
        for fn in self.error_hooks:
            out = fn(error, ctx)
            if inspect.isawaitable(out):
                out = await out
            if out is not None:
                ctx.override = out
                return out
        return None

    async def aafter(self, ctx: MiddlewareContext, response: Any) -> Any:
        """Run `after_response` hooks in reverse order, awaiting coroutines."""
        for fn in reversed(self.after_hooks):
            out = fn(response, ctx)
            if inspect.isawaitable(out):
                out = await out
            response = response if out is None else out
        return response


def attempt_error(fact: AttemptFailed, send: Any, connector_id: str) -> ProviderError:
    """The typed error of one failed attempt, for `on_error`."""
    c = classify(fact, connector_id, False)
    rec = AttemptRecord(send.attempt_id, send.model_id, send.provider_id, c.outcome,
                        fact.status, fact.latency_ms, c.message, c.code, c.retry_after_s)
    return error_from_attempt(rec, getattr(send, "timeout_s", None))


def aggregate_completion(response_id: str, model: str, text: str, usage: Any = None,
                         finish_reason: str = "stop") -> ChatCompletion:
    """The aggregated response of a completed stream (R-69, R-108)."""
    cu = None
    if usage is not None:
        p, c = int(getattr(usage, "prompt_tokens", 0)), int(getattr(usage, "completion_tokens", 0))
        cu = CompletionUsage(p, c, p + c)
    return ChatCompletion(
        id=response_id, created=int(time.time()), model=model,
        choices=(Choice(0, ChatCompletionMessage(content=text), finish_reason),), usage=cu)


def completion_chunks(resp: Any, pieces: Sequence[str] | None = None) -> list[ChatCompletionChunk]:
    """A response as stream chunks (R-67): `pieces` (default: the whole
    content) as content deltas, role on the first, finish reason and usage on
    the last."""
    if isinstance(resp, ChatCompletionChunk):
        return [resp]
    if not isinstance(resp, ChatCompletion):
        return []
    choice = resp.choices[0] if resp.choices else None
    text = (choice.message.content or "") if choice is not None else ""
    parts = list(pieces) if pieces is not None else ([text] if text else [])
    if not parts:
        parts = [""]
    finish = (choice.finish_reason if choice is not None else None) or "stop"
    out: list[ChatCompletionChunk] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        delta = ChoiceDelta(role="assistant" if i == 0 else None, content=part)
        out.append(ChatCompletionChunk(
            id=resp.id, created=resp.created, model=resp.model,
            choices=(ChunkChoice(0, delta, finish if last else None),),
            usage=resp.usage if last else None))
    return out
