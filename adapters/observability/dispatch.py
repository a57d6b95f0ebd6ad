"""Delivery of observability records to sinks (SPEC R-88 .. R-98).

`Observability` receives the core's actions after every `handle()` (from the
`Engine`, under its lock), takes the records out of the `Emit` actions, adds
the text fields of the `summary` / `full` log levels from the request and
response the shell holds (R-92), and hands each record to every sink that
wants it, shaped by the sink's settings and redacted (R-95).

Isolation (R-98): sinks marked `inline` (null, prometheus) are cheap and run on
the caller's thread inside a try/except; every other sink (console, file,
json-log, callback, webhook, custom ones) runs on one sink-delivery worker
thread fed by a bounded queue (records are dropped, never waited for, when
it is full). The request path therefore never waits on a sink. A sink that
raises gets at most one `error` trace per minute, delivered to the other
sinks; delivery to the other sinks continues.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.observability.base import METHOD_OF, SinkSettings
from adapters.observability.redact import Redactor
from meshcore.actions import Action, Deliver, Emit, Fail
from meshcore.records import RequestLogEntry, RoutingEvent, StatsFlush, TraceEntry
from meshcore.router.calendar import iso_utc

_STREAM_OF_CLASS: dict[type, str] = {
    RoutingEvent: "events", RequestLogEntry: "logs", StatsFlush: "stats", TraceEntry: "traces",
}

__all__ = ["ERROR_TRACE_INTERVAL", "BoundSink", "Observability", "request_texts"]

ERROR_TRACE_INTERVAL = 60.0
QUEUE_SIZE = 10000
_STOP = object()


@dataclass
class BoundSink:
    """One configured sink with its settings and redactor."""

    name: str
    sink: Any
    settings: SinkSettings
    redactor: Redactor
    last_error: float | None = None

    @property
    def inline(self) -> bool:
        return bool(getattr(self.sink, "inline", False))


def _last_user_text(request: Any) -> str | None:
    messages = getattr(request, "messages", None)
    if messages:
        for msg in reversed(messages):
            if getattr(msg, "role", None) != "user":
                continue
            content = getattr(msg, "content", None)
            if isinstance(content, str):
                return content
            if isinstance(content, tuple):
                return " ".join(p.text for p in content if getattr(p, "text", None))
            return None
    for attr in ("input", "prompt"):
        value = getattr(request, attr, None)
        if isinstance(value, str):
            return value
        if isinstance(value, tuple) and value and isinstance(value[-1], str):
            return str(value[-1])
    return None


def request_texts(request: Any, result: Any, streamed_text: str | None) -> dict[str, Any]:
    """The R-92 text fields: last user message and response text (summary),
    complete request and response bodies (full)."""
    out: dict[str, Any] = {"request_text": _last_user_text(request)}
    dump = getattr(request, "model_dump", None)
    out["request_body"] = dump() if callable(dump) else None
    if streamed_text is not None:
        out["response_text"] = streamed_text
        out["response_body"] = {"content": streamed_text}
        return out
    text = None
    choices = getattr(result, "choices", None)
    if choices:
        text = getattr(getattr(choices[0], "message", None), "content", None)
    if text is None and isinstance(getattr(result, "text", None), str):
        text = result.text
    out["response_text"] = text if isinstance(text, str) else None
    rdump = getattr(result, "model_dump", None)
    out["response_body"] = rdump() if callable(rdump) and not isinstance(
        result, (bytes, bytearray)) else None
    return out


def _bind_call(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    return lambda: fn(*args)


class Observability:
    """The sinks of one client and their delivery; see module docstring."""

    def __init__(self, sinks: Sequence[BoundSink], *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.sinks = list(sinks)
        self._clock = clock
        self._wall = wall
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0
        self._closed = False
        self.dropped = 0
        self.needs_texts = any(
            "logs" in s.settings.streams and s.settings.level != "metadata" for s in self.sinks)
        # record classes no sink takes: never turned into dicts
        wanted = {stream for s in self.sinks for stream in s.settings.streams}
        self._unwanted = tuple(cls for cls, stream in _STREAM_OF_CLASS.items()
                               if stream not in wanted)
        self.wants_attempts = [s for s in self.sinks if hasattr(s.sink, "attempts")]

    @property
    def active(self) -> bool:
        """False when there is nothing to deliver to (the null default)."""
        return bool(self.sinks)

    # ------------------------------------------------------------ intake
    def process(self, actions: Iterable[Action],
                texts_for: Callable[[RequestLogEntry, Action | None], dict[str, Any] | None]
                | None = None) -> None:
        """Deliver the records of one `handle()` call's actions."""
        if not self.sinks or self._closed:
            return
        acts = list(actions)
        ends = {a.request_id: a for a in acts if isinstance(a, (Deliver, Fail))}
        pools: dict[str, str | None] = {}
        unwanted = self._unwanted
        for a in acts:
            if not isinstance(a, Emit):
                continue
            rec = a.record
            is_log = isinstance(rec, RequestLogEntry)
            if is_log:
                pools[rec.request_id] = rec.pool  # the attempts sinks need it
            if isinstance(rec, unwanted):
                continue  # no sink takes this stream
            texts = None
            if is_log and self.needs_texts and texts_for is not None and not rec.probe:
                try:
                    texts = texts_for(rec, ends.get(rec.request_id))
                except Exception:
                    texts = None
            to_dict = getattr(rec, "to_dict", None)
            if callable(to_dict):
                self.publish(to_dict(), texts)
        for rid, end in ends.items():
            history = end.attempts if isinstance(end, Deliver) else end.failure.attempts
            pool = pools.get(rid) or (end.failure.pool if isinstance(end, Fail) else None)
            for bound in self.wants_attempts:
                self._call(bound, _bind_call(bound.sink.attempts, pool, history))

    def publish(self, record: dict[str, Any], texts: Mapping[str, Any] | None = None) -> None:
        """Deliver one record dict (inline sinks now, the others on the worker)."""
        if not self.sinks or self._closed:
            return
        later = False
        for bound in self.sinks:
            if not bound.settings.wants(record):
                continue
            if bound.inline:
                self._deliver(bound, record, texts)
            else:
                later = True
        if later:
            self._enqueue((record, texts))

    def trace(self, severity: str, message: str, **metadata: Any) -> None:
        """A shell-side trace (e.g. shutdown) to every sink that wants it."""
        self.publish(TraceEntry(severity, iso_utc(self._wall()), "mesh", message,
                                dict(metadata)).to_dict())

    # ------------------------------------------------------------ delivery
    def _deliver(self, bound: BoundSink, record: dict[str, Any],
                 texts: Mapping[str, Any] | None) -> None:
        shaped = bound.settings.shape(record, texts)
        clean = bound.redactor.scrub(shaped)
        method = getattr(bound.sink, METHOD_OF.get(str(record.get("type")), "write"), None)
        if method is None:
            method = getattr(bound.sink, "write", None)
        if method is not None:
            self._call(bound, lambda: method(clean))

    def _call(self, bound: BoundSink, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Exception as exc:
            self._failed(bound, exc)

    def _failed(self, bound: BoundSink, exc: BaseException) -> None:
        now = self._clock()
        if bound.last_error is not None and now - bound.last_error < ERROR_TRACE_INTERVAL:
            return
        bound.last_error = now
        rec = TraceEntry("error", iso_utc(self._wall()), "mesh",
                         f"observability sink {bound.name} failed",
                         {"sink": bound.name}, f"{type(exc).__name__}: {exc}").to_dict()
        for other in self.sinks:
            if other is bound or not other.settings.wants(rec):
                continue
            try:
                method = getattr(other.sink, "trace", None) or other.sink.write
                method(other.redactor.scrub(other.settings.shape(rec, None)))
            except Exception:
                continue

    def _enqueue(self, item: Any) -> None:
        self._ensure_worker()
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.notify_all()

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        with self._start_lock:
            if self._worker is None:
                t = threading.Thread(target=self._run, name="modelmesh-sinks", daemon=True)
                t.start()
                self._worker = t

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            record, texts = item
            try:
                for bound in self.sinks:
                    if not bound.inline and bound.settings.wants(record):
                        self._deliver(bound, record, texts)
            finally:
                self._done()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued record was delivered (tests, close)."""
        end = time.monotonic() + timeout
        with self._idle:
            while self._pending > 0:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # ------------------------------------------------------------ output and close
    def metrics_text(self) -> bytes | None:
        """Prometheus exposition text of the first prometheus sink, if any."""
        for bound in self.sinks:
            render = getattr(bound.sink, "render", None)
            if callable(render):
                out = render()
                return bytes(out)
        return None

    def close(self, final_stats: StatsFlush | None = None, timeout: float = 5.0) -> None:
        """Final statistics flush and shutdown trace, drain the worker, close sinks."""
        if self._closed:
            return
        if self.sinks:
            if final_stats is not None:
                self.publish(final_stats.to_dict())
            self.trace("info", "Shutdown")
        self._closed = True
        if self._worker is not None:
            self.drain(timeout)
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
            self._worker.join(timeout=1.0)
        for bound in self.sinks:
            close = getattr(bound.sink, "close", None)
            if callable(close):
                self._call(bound, close)
