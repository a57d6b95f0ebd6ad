"""What the sync and async drivers share: the core behind one door.

`Engine` owns the `Router`, the optional `Recorder` and the routing of
actions to the request that waits for them. Every `handle()` reads the
clock *inside* the lock (so monotonic readings reach the core in order even
when threads race), records the step, and files each action in the mailbox
(`Run`) of its request: `SendAttempt`, `Commit`, `Deliver`, `Fail` by
request id and `CancelAttempt` through the attempt's owner. Probes
(`SendAttempt` without a request) are returned to the caller, which runs
them. `SaveState` goes to the state sync (adapters/storage/hook.py) and
`Emit` records to the observability dispatcher (adapters/observability/hook.py);
the status actions need no driver work (those, by exact class, skip the
routing step altogether). A `Run` keeps the batches of chunks it released and
joins their text only when asked (`partial_text`).

The rest are pure helpers both drivers use: starting the wire attempt with
the resolved key (a provider whose URL was resolved apart from its config
is rebuilt once per provider and URL, not per attempt), picking the bound
that limits the next socket operation (and the `FailureKind` to report when
it hits; `AttemptTiming.read_bound` / `read_deadline` are the per-chunk
forms for a streamed body), building probe requests, the items of an
`on_error` answer the caller gets, and what an interrupted attempt had received.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from adapters.build import Built
from adapters.connectors import prepare_custom
from adapters.http import failure_kind_of
from adapters.recording import Recorder
from meshcore.actions import (
    Action,
    CancelAttempt,
    Commit,
    DeactivateModel,
    DeactivateProvider,
    Deliver,
    Emit,
    Fail,
    ReactivateModel,
    ReactivateProvider,
    SaveState,
    SendAttempt,
)
from meshcore.config.membership import model_serves_operation
from meshcore.config.schema import ProviderConfig
from meshcore.events import AttemptFailed, AttemptSucceeded, Event
from meshcore.frozen import fast_frozen
from meshcore.router.router import Router
from meshcore.types import FailureKind, Instant, Operation, Usage
from meshcore.wire.attempt import Attempt, HttpRequest
from meshcore.wire.models import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    EmbeddingRequest,
)
from meshcore.wire.registry import build_models_request, start_attempt

__all__ = ["RUN_META", "Bound", "Engine", "Final", "Run", "next_bound"]

RUN_META: ContextVar[dict[str, Any] | None] = ContextVar("modelmesh_run_meta", default=None)
"""Set by a caller (the proxy) around one request: the run it starts fills the dict
with `request_id`, `attempts` and the `model_id` / `provider_id` of the latest
attempt (the serving one once delivered), for response headers (R-112)."""


# Actions that `_route` files nowhere, by exact class (none of them is a
# subclass of a routed action; a subclass of any action still goes to `_route`).
_UNROUTED = frozenset({Emit, SaveState, DeactivateModel, ReactivateModel, DeactivateProvider,
                       ReactivateProvider})


@fast_frozen
@dataclass(frozen=True, slots=True)
class Final:
    """The last item of a non-streamed run: the delivered result."""

    value: Any


def _no_wake() -> None:
    pass


def _no_cancel(_aid: str) -> None:
    pass


class Run:
    """The mailbox and stream state of one request in flight (a slotted
    class built once per request: the attributes below, nothing else)."""

    __slots__ = ("attempts", "buffer", "cancelled", "committed", "current", "meta",
                 "on_cancel", "owned", "pending", "reading", "released", "request_id", "wake")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.pending: deque[Action] = deque()
        self.wake: Callable[[], None] = _no_wake
        self.on_cancel: Callable[[str], None] = _no_cancel
        self.cancelled: set[str] = set()
        self.committed: str | None = None
        self.buffer: list[ChatCompletionChunk] = []
        # the batches of chunks released to the caller (their text is joined
        # only when asked for: `partial_text`)
        self.released: list[list[ChatCompletionChunk]] = []
        self.attempts: dict[str, Attempt] = {}
        self.current: Attempt | None = None
        self.meta: dict[str, Any] | None = None
        self.owned: list[str] = []  # attempt ids routed to this run
        # the network stream of a streamed body being read (sync driver): a
        # CancelAttempt meanwhile shuts its socket down to end the read at once
        self.reading: Any = None

    def push(self, action: Action) -> None:
        self.pending.append(action)
        if self.meta is not None and isinstance(action, (SendAttempt, Deliver)):
            self.meta["model_id"] = action.model_id
            self.meta["provider_id"] = action.provider_id
            if isinstance(action, SendAttempt):
                self.meta["attempts"] = self.meta.get("attempts", 0) + 1
        if isinstance(action, CancelAttempt):
            self.cancelled.add(action.attempt_id)
            self.on_cancel(action.attempt_id)
        self.wake()

    def pop(self) -> Action | None:
        try:
            return self.pending.popleft()
        except IndexError:
            return None

    def settle_first_chunk(self, attempt_id: str) -> bool:
        """Apply the core's answer to an attempt's first chunk: take its
        Commit / CancelAttempt actions off the queue, remember the commit, and
        return True when the core cancelled the attempt instead."""
        keep: deque[Action] = deque()
        cancelled = False
        for a in self.pending:
            if isinstance(a, Commit) and a.attempt_id == attempt_id:
                self.committed = a.attempt_id
            elif isinstance(a, CancelAttempt) and a.attempt_id == attempt_id:
                cancelled = True
            else:
                keep.append(a)
        self.pending = keep
        return cancelled

    def deliverable(self, chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
        """Chunks the caller may see now (after commit); the rest is held."""
        if self.committed is None:
            self.buffer.extend(chunks)
            return []
        if self.buffer:
            out = self.buffer + chunks
            self.buffer = []
        else:
            out = chunks
        if out:
            self.released.append(out)
        return out

    @property
    def partial_text(self) -> str:
        """The text of every chunk released to the caller so far."""
        return "".join(ch.delta.content for batch in self.released for c in batch
                       for ch in c.choices if ch.delta.content)


class Engine:
    """The router behind a lock, with recording and action routing."""

    def __init__(
        self,
        built: Built,
        seed: int,
        clock: Callable[[], float],
        record: str | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.built = built
        self.config = built.config
        self.seed = seed
        # custom strategies and provider connectors
        self.router = Router(built.config, seed, strategies=prepare_custom(built.data))
        self.clock = clock
        self.recorder = Recorder(record, built.config, seed) if record is not None else None
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self._runs: dict[str, Run] = {}
        self._owners: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._rebased: dict[str, tuple[ProviderConfig, str, ProviderConfig]] = {}
        from adapters.storage.hook import EngineState

        # Storage load/restore/save and secret refresh.
        self.state = EngineState(self)
        from adapters.observability.hook import EngineObserver

        # Sinks (R-88..R-98) and middleware.
        self.observer = EngineObserver(self)

    # ------------------------------------------------------------ the one door
    def now(self) -> Instant:
        """The current clock reading (driver clock + wall clock)."""
        return Instant(self.clock(), time.time())

    def handle(self, event: Event) -> list[SendAttempt]:
        """Feed one event; file actions in mailboxes; return probes to run."""
        probes: list[SendAttempt] = []
        with self._lock:
            self.state.before(probes)
            now = self.now()
            actions = self.router.handle(event, now)
            if self.recorder is not None:
                self.recorder.record(now, event, actions)
            for a in actions:
                if type(a) not in _UNROUTED:  # records and status actions go to no run
                    self._route(a, probes)
            self.observer.after(actions)
        self.state.after(event, actions)
        return probes

    def _route(self, a: Action, probes: list[SendAttempt]) -> None:
        if isinstance(a, SendAttempt):
            if a.request_id is None:
                probes.append(a)
                return
            self._owners[a.attempt_id] = a.request_id
            run = self._runs.get(a.request_id)
            if run is not None:
                run.owned.append(a.attempt_id)
        elif isinstance(a, CancelAttempt):
            rid = self._owners.pop(a.attempt_id, None)
            run = self._runs.get(rid) if rid is not None else None
        elif isinstance(a, (Commit, Deliver, Fail)):
            run = self._runs.get(a.request_id)
        else:
            return
        if run is not None:
            run.push(a)

    def view(self, fn: Callable[[Router], Any]) -> Any:
        """Run a read-only query on the router under the lock."""
        with self._lock:
            return fn(self.router)

    def next_deadline(self) -> float | None:
        with self._lock:
            return self.router.next_deadline()

    def request_deadline(self, request_id: str) -> float | None:
        """The request's end-to-end deadline on the driver clock (R-31)."""
        with self._lock:
            req = getattr(self.router, "requests", {}).get(request_id)
            dl = getattr(req, "deadline", None)
            return float(dl) if isinstance(dl, (int, float)) else None

    # ------------------------------------------------------------ runs
    def new_request_id(self) -> str:
        return f"req-{next(self._ids)}"

    def register(self, run: Run) -> None:
        meta = RUN_META.get()
        if meta is not None and run.meta is None:
            run.meta = meta
            meta["request_id"] = run.request_id
        with self._lock:
            self._runs[run.request_id] = run

    def unregister(self, run: Run) -> None:
        with self._lock:
            self._runs.pop(run.request_id, None)
            for aid in run.owned:  # not a scan of every request's attempts
                if self._owners.get(aid) == run.request_id:
                    del self._owners[aid]

    def close(self) -> None:
        self.state.close()
        self.observer.close()
        if self.recorder is not None:
            self.recorder.close()

    # ------------------------------------------------------------ attempts
    def start_attempt(self, send: SendAttempt, request: CompletionRequest) -> Attempt:
        """The wire layer's per-attempt object for `send` (resolved key and URL)."""
        self.state.refresh_for(send)
        self.observer.attempt_started(send, request)
        provider = self.config.providers[send.provider_id]
        url = self.built.base_urls.get(send.provider_id)
        if url is not None and url != provider.base_url:
            # the provider with its resolved URL, made once per (provider, URL)
            rebased = self._rebased.get(send.provider_id)
            if rebased is None or rebased[0] is not provider or rebased[1] != url:
                rebased = (provider, url, replace(provider, base_url=url))
                self._rebased[send.provider_id] = rebased
            provider = rebased[2]
        keys = self.built.api_keys.get(send.provider_id, ())
        key = keys[send.key_index % len(keys)] if keys else None
        return start_attempt(
            request,
            model=self.config.models[send.model_id],
            provider=provider,
            api_key=key or None,
            attempt_id=send.attempt_id,
            model_id=send.model_id,
            response_id=send.response_id,
            created=int(time.time()),
        )

    def probe_request(self, send: SendAttempt) -> CompletionRequest | HttpRequest:
        """R-50: the cheapest request for the model's capability."""
        self.state.refresh_for(send)
        mid = send.model_id
        if model_serves_operation(self.config, mid, Operation.CHAT):
            return ChatCompletionRequest(
                model=send.model_name,
                messages=(ChatMessage(role="user", content="ping"),),
                max_tokens=1,
            )
        if model_serves_operation(self.config, mid, Operation.EMBEDDINGS):
            return EmbeddingRequest(model=send.model_name, input="ping")
        provider = self.config.providers[send.provider_id]
        url = self.built.base_urls.get(send.provider_id)
        if url is not None:
            provider = replace(provider, base_url=url)
        keys = self.built.api_keys.get(send.provider_id, ())
        return build_models_request(provider, keys[0] if keys else None)


class AttemptTiming:
    """The clock side of one attempt, shared by both drivers (R-31, R-32, R-66):
    when it started, its first-chunk bound, the request's deadline, when data
    last arrived and the time to first content. `bound()` is the deadline of
    the next socket operation, `first_content()` notes the time to first
    content once, and `timed()` stamps the attempt's fact with the measures."""

    __slots__ = ("_attempt", "_clock", "_settled", "_timeout", "deadline", "first_at", "last",
                 "started", "ttft")

    def __init__(self, engine: Engine, run: Run, send: SendAttempt, attempt: Attempt) -> None:
        self._attempt = attempt
        self._clock = engine.clock
        self._timeout = send.timeout_s
        self.started = self.last = engine.clock()
        self.first_at = (self.started + send.first_chunk_timeout_s
                         if attempt.stream and send.first_chunk_timeout_s is not None else None)
        self.deadline = engine.request_deadline(run.request_id)
        self.ttft: float | None = None
        self._settled = False  # see `read_deadline`

    def bound(self, head_seen: bool) -> Bound:
        """The binding bound for the next read or write (see `next_bound`)."""
        a = self._attempt
        return next_bound(stream=a.stream, started=self.started, timeout_s=self._timeout,
                          first_chunk_at=self.first_at, request_deadline=self.deadline,
                          head_seen=head_seen, has_content=a.has_content, last_data=self.last)

    def read_bound(self) -> Bound:
        """`bound(head_seen=True)` for the next read of a streamed body, the
        per-chunk fast path: once the first-chunk bound no longer applies
        (content arrived, or there is none) the bound is the gap since the
        last data or the request deadline, whichever comes first (the gap
        on a tie), without `next_bound`'s general walk."""
        a = self._attempt
        if not a.stream or (self.first_at is not None and not a.has_content):
            return self.bound(head_seen=True)
        at = self.last + self._timeout
        dl = self.deadline
        if dl is not None and dl < at:
            return Bound(dl, FailureKind.DEADLINE)
        return Bound(at, FailureKind.STREAM_GAP)

    def read_deadline(self) -> float:
        """`read_bound().at` without building the `Bound` (the drivers set it
        before every read of a streamed body; the kind only matters when a
        read fails, and then `read_bound()` gives it: nothing it depends on
        changes during the read)."""
        if not self._settled:  # until the first-chunk bound is gone for good
            a = self._attempt
            if not a.stream or (self.first_at is not None and not a.has_content):
                return self.bound(head_seen=True).at
            self._settled = True  # a stream's content never goes away
        at = self.last + self._timeout
        dl = self.deadline
        return dl if dl is not None and dl < at else at

    def data(self) -> None:
        """Body bytes just arrived."""
        self.last = self._clock()

    def first_content(self) -> float | None:
        """The time to first content (ms) when a stream's content has just
        begun (it is reported once), else None."""
        if self.ttft is None and self._attempt.stream and self._attempt.has_content:
            self.ttft = (self._clock() - self.started) * 1000.0
            return self.ttft
        return None

    def timed(self, fact: AttemptSucceeded | AttemptFailed) -> AttemptSucceeded | AttemptFailed:
        """`fact` with the latency and time to first content measured here."""
        return with_timing(fact, (self._clock() - self.started) * 1000.0, self.ttft)


def caller_items(items: list[Any], streamed: bool) -> list[Any]:
    """The items of an `on_error` answer (R-108) the caller receives: only
    the chunks of a streamed request."""
    return [i for i in items if isinstance(i, ChatCompletionChunk)] if streamed else items


def received_so_far(attempt: Attempt | None) -> tuple[Usage | None, int]:
    """Usage and output characters an in-flight attempt had received (R-42)."""
    if attempt is None:
        return None, 0
    u = attempt.usage
    usage = Usage(u.prompt_tokens, u.completion_tokens) if u is not None else None
    return usage, len(attempt.partial_text)


def transport_failure(run: Run, attempt_id: str, attempt: Attempt, exc: BaseException,
                      bound: Bound) -> AttemptFailed | None:
    """The fact of an attempt whose HTTP exchange raised `exc`: None when the
    core had cancelled the attempt (the drivers interrupt its read on purpose),
    else the transport failure; a timeout takes the kind of the bound it hit."""
    if attempt_id in run.cancelled:
        return None
    kind = failure_kind_of(exc)
    if kind is FailureKind.TIMEOUT:
        kind = bound.kind
    return attempt.fail(kind, f"{type(exc).__name__}: {exc}"[:300])


def with_timing(
    fact: AttemptSucceeded | AttemptFailed, latency_ms: float, ttft_ms: float | None
) -> AttemptSucceeded | AttemptFailed:
    """The fact with the driver-measured latency (and ttft for streams)."""
    if isinstance(fact, AttemptSucceeded):  # built directly: replace() is slow on the hot path
        return AttemptSucceeded(fact.attempt_id, fact.usage, latency_ms, ttft_ms, fact.status,
                                fact.rate_limits, fact.output_chars)
    return replace(fact, latency_ms=latency_ms)


@fast_frozen
@dataclass(frozen=True, slots=True)
class Bound:
    """The deadline of the next socket operation and what hitting it means."""

    at: float
    kind: FailureKind


def next_bound(
    *,
    stream: bool,
    started: float,
    timeout_s: float,
    first_chunk_at: float | None,
    request_deadline: float | None,
    head_seen: bool,
    has_content: bool,
    last_data: float,
) -> Bound:
    """R-31/R-32: the binding bound for the next read. Non-streamed: the
    whole attempt within `timeout_s`. Streams: `timeout_s` for the head and
    for every later gap, the first-chunk bound until content, and always
    the request deadline."""
    # the first of equal candidates wins, in the order: own timeout, first chunk, deadline
    if not stream or not head_seen:
        at, kind = started + timeout_s, FailureKind.TIMEOUT
    else:
        at, kind = last_data + timeout_s, FailureKind.STREAM_GAP
    if stream and not has_content and first_chunk_at is not None and first_chunk_at < at:
        at, kind = first_chunk_at, FailureKind.TTFT_TIMEOUT
    if request_deadline is not None and request_deadline < at:
        at, kind = request_deadline, FailureKind.DEADLINE
    return Bound(at, kind)


def models_probe_fact(
    attempt_id: str, status: int | None, excerpt: bytes, kind: FailureKind | None
) -> AttemptSucceeded | AttemptFailed:
    """The fact of a models-list probe (no wire attempt object exists for it)."""
    if kind is None and status is not None and 200 <= status < 300:
        return AttemptSucceeded(attempt_id, status=status)
    return AttemptFailed(
        attempt_id,
        kind if kind is not None else FailureKind.HTTP_STATUS,
        status=status,
        body_excerpt=excerpt[:2048].decode("utf-8", "replace"),
    )
