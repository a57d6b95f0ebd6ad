"""The per-attempt sans-IO object (SPEC R-72 Model Execution) and its helpers.

Theory of operation: one `Attempt` drives one call to one provider. The
driver loops::

    while (req := attempt.next_request()) is not None:
        (wait req.delay_s, then) send req; attempt.receive_head(status, headers)
        for piece in body: chunks = attempt.receive_data(piece)   # stream output
        chunks = attempt.receive_end()
    fact = attempt.outcome()          # AttemptSucceeded | AttemptFailed

and calls `attempt.fail(kind, detail)` instead when the transport fails
(timeout, reset, cancellation). The base class owns everything that is the
same for every family: step bookkeeping, status and header capture,
rate-limit parsing, bounded body excerpts, the SSE parser, chunk building
(`id` = response_id, `model` = canonical model ID, `created`), holding the
finish chunk so usage can ride on it (R-67), content tracking (R-65), and
the rule that nothing malformed ever raises out of the object: every codec
hook runs under a guard that turns exceptions into failure facts.

A family codec subclasses `Attempt` and implements:

* `build_request() -> HttpRequest` (single-step families), or overrides
  `build_next() -> HttpRequest | None` for multi-step ones;
* `parse_body(body: bytes) -> CompletionResponse | None` for non-streamed
  2xx bodies (None = "not finished, another step follows"; raise
  `ContentBlocked` for a 2xx safety block; any other exception is a
  MALFORMED_BODY failure);
* `on_event(event: SSEEvent) -> None` for streams, calling `emit_delta`
  (or `emit_text`, its cheaper form for a text-only delta), `set_usage`,
  `end_stream` and `stream_error`.

Per streamed chunk the base class does as little as it can: `set_usage`
only records the counts (the `CompletionUsage` is built when first read),
and `emit_text` builds and releases a text chunk inline once the first
chunk is out. A codec whose `hotpath.Template` has learned the stream's
text events may also call `direct_reads`: then, while the SSE parser is
idle, each leading whole event of a read (up to a blank line, its SSE
framing included) is decoded on its own, matched by the template and
handed to the codec's `on_hit`, without the parser or `on_event`; the
first piece that does not match, and everything after it, goes to the
parser. Feeding a read in pieces cut at event boundaries gives the parser's
usual events, and what the parser would have made of a matching piece is
exactly that one event (see `Template.frame`). A codec whose template
starts from a shape another attempt shared and framed (`Template(share=)`)
calls `reuse_direct` in its constructor, so its reads skip the parser from
the first matching event on. An attempt is built per call, so state that
starts as an immutable value is a class-level default.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from meshcore._mypyc import mypyc_attr
from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.types import FailureKind, RateLimitInfo
from meshcore.wire.attempt_parts import (
    ALLOWED_HEADER_PREFIXES,
    ALLOWED_HEADERS,
    AttemptContext,
    ContentBlocked,
    HttpRequest,
    allowed_headers,
    auth_headers,
    join_url,
    json_body,
    response_has_content,
    text_of_response,
    usage_of,
    usage_of_response,
    with_assistant_role,
)
from meshcore.wire.hotpath import EMPTY_DELTA, Template, raw_new
from meshcore.wire.models import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionRequest,
    CompletionResponse,
    CompletionUsage,
)
from meshcore.wire.ratelimit import parse_rate_limits
from meshcore.wire.sse import SSEEvent, SSEParser

__all__ = [
    "ALLOWED_HEADERS",
    "ALLOWED_HEADER_PREFIXES",
    "EXCERPT_BYTES",
    "Attempt",
    "AttemptContext",
    "ContentBlocked",
    "HttpRequest",
    "allowed_headers",
    "auth_headers",
    "join_url",
    "json_body",
    "text_of_response",
    "usage_of_response",
]

# `new(cls, *args)` == `cls(*args)`, minus `type.__call__` (see hotpath.raw_new)
_NEW_CHUNK = raw_new(ChatCompletionChunk)
_NEW_CHOICE = raw_new(ChunkChoice)
_NEW_DELTA = raw_new(ChoiceDelta)
EXCERPT_BYTES = 2048
_KEEP_ERROR_BYTES = 16384


@mypyc_attr(allow_interpreted_subclasses=True)  # custom families subclass it
class Attempt:
    """Base per-attempt object; see the module docstring for the protocol."""

    family: ClassVar[str] = ""

    # State that starts as an immutable value is a class-level default (an
    # attempt assigns its own when it changes): an attempt is built per call.
    steps_sent: int = 0
    status: int | None = None
    rate_limits: RateLimitInfo | None = None
    _sse: SSEParser | None = None
    _sse_ok = False  # `_sse is not None and _is_ok()`, kept in step
    _events_seen = 0
    _done = False
    _failure: AttemptFailed | None = None
    _result: CompletionResponse | None = None
    _usage_obj: CompletionUsage | None = None
    _usage_counts: tuple[int, int, int] | None = None  # newer than _usage_obj
    _chars = 0
    _has_content = False
    _complete = False
    _finish_reason: str | None = None
    _first_sent = False
    _pending_final: ChatCompletionChunk | None = None
    _usage_emitted = False
    _direct: Template | None = None  # see `direct_reads`
    _buf_head = b""  # see `_take_partial`

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        self.request = request
        self.ctx = ctx
        self.stream = isinstance(request, ChatCompletionRequest) and request.stream
        self.headers: list[tuple[str, str]] = []
        self._body = bytearray()
        self._excerpt = bytearray()
        self._text: list[str] = []
        self._out: list[ChatCompletionChunk] = []

    # ------------------------------------------------------------ driver API

    @property
    def done(self) -> bool:
        """True once the attempt has a final outcome."""
        return self._done

    @property
    def has_content(self) -> bool:
        """True once a content-bearing chunk (or result) was produced (R-65)."""
        return self._has_content

    @property
    def result(self) -> CompletionResponse | None:
        """The unified response of a successful non-streamed attempt."""
        return self._result

    @property
    def partial_text(self) -> str:
        """All text streamed so far."""
        return "".join(self._text)

    @property
    def usage(self) -> CompletionUsage | None:
        """Usage reported by the provider so far, if any."""
        return self._usage

    @property
    def _usage(self) -> CompletionUsage | None:
        # Built on first read after `set_usage` (streams report running
        # counts on every chunk); an equal object already held is kept.
        counts = self._usage_counts
        if counts is not None:
            self._usage_counts = None
            u = self._usage_obj
            if u is None or (u.prompt_tokens, u.completion_tokens, u.total_tokens) != counts:
                self._usage_obj = CompletionUsage(*counts)
        return self._usage_obj

    @_usage.setter
    def _usage(self, value: CompletionUsage | None) -> None:
        self._usage_counts = None
        self._usage_obj = value

    def next_request(self) -> HttpRequest | None:
        """The next HTTP request to send, or None when the attempt is done."""
        if self._done:
            return None
        try:
            req = self.build_next()
        except Exception as exc:  # a codec bug must not escape as an exception
            self._set_failure(FailureKind.MALFORMED_BODY, f"request build failed: {exc!r}")
            return None
        if req is not None:
            self.steps_sent += 1
            if req.stream and self._sse is None:
                self._sse = SSEParser()
                self._sse_ok = self._is_ok()
        return req

    def receive_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Status and headers of the current step's response."""
        self.status = int(status)
        self._sse_ok = self._sse is not None and 200 <= self.status < 300
        self.headers = [(n.lower(), v) for n, v in headers]
        self._body = bytearray()
        self._excerpt = bytearray()
        try:
            rl = parse_rate_limits(self.headers)
        except Exception:
            rl = None
        if rl is not None:
            self.rate_limits = rl

    def receive_data(self, data: bytes) -> list[ChatCompletionChunk]:
        """Body bytes. For a 2xx stream: the chunks completed by them."""
        if self._done or not data:
            return []
        if len(self._excerpt) < EXCERPT_BYTES:
            self._excerpt += data[: EXCERPT_BYTES - len(self._excerpt)]
        sse = self._sse
        if sse is None or not self._sse_ok:
            if self._is_ok() or len(self._body) < _KEEP_ERROR_BYTES:
                self._body += data
            return []
        out: list[ChatCompletionChunk] = []
        self._out = out
        direct = self._direct
        if direct is not None and (sse.idle or self._take_partial(sse)):
            # Leading whole events the template recognises skip the parser
            # (which stays idle); the parser gets the rest of the read.
            whole = False  # the whole read was refused as one event already
            if self._buf_head:
                data = self._buf_head + data
                self._buf_head = b""
            elif data.endswith(b"\n\n"):  # maybe exactly one event: no search needed
                hit = direct.match_read(data.decode("utf-8", "replace"))
                whole = hit is None
                if hit is not None:
                    sse.lines_seen += direct.read_lines
                    self._events_seen += 1
                    try:
                        self.on_hit(hit)
                    except Exception as exc:
                        self._set_failure(FailureKind.MALFORMED_BODY,
                                          f"malformed stream event: {exc!r}")
                    self._out = []
                    return out
            pos = 0
            size = len(data)
            lines = direct.read_lines
            extra = lines == 3  # an `event:` line before the `data:` line
            match_read = direct.match_read
            on_hit = self.on_hit
            while True:
                # the candidate event ends at the LF after its `data:` line's
                # LF (single-byte searches: memchr); `match_read` checks it
                end = data.find(10, pos)
                if extra and end >= 0:
                    end = data.find(10, end + 1)
                end += 2
                if end < 2 or end > size or (whole and end == size and not pos):
                    break
                hit = match_read(data[pos:end].decode("utf-8", "replace"))
                if hit is None:
                    break
                sse.lines_seen += lines
                self._events_seen += 1
                try:
                    on_hit(hit)
                except Exception as exc:
                    self._set_failure(FailureKind.MALFORMED_BODY,
                                      f"malformed stream event: {exc!r}")
                    self._out = []
                    return out
                if end == size:
                    self._out = []
                    return out
                pos = end
            if pos:
                data = data[pos:]
        try:
            events = sse.feed(data)
            if events:
                self._events_seen += len(events)  # only "none yet" matters
                on_event = self.on_event
                for ev in events:
                    on_event(ev)
                    if self._done:
                        break
        except Exception as exc:
            self._set_failure(FailureKind.MALFORMED_BODY, f"malformed stream event: {exc!r}")
        self._out = []
        return out

    def receive_end(self) -> list[ChatCompletionChunk]:
        """End of the current step's body. Returns any final stream chunks."""
        if self._done:
            return []
        if self.status is None:
            self._set_failure(FailureKind.CONNECTION, "body ended before a response head")
            return []
        if not self._is_ok():
            self._set_failure(FailureKind.HTTP_STATUS, f"HTTP {self.status}")
            return []
        if self._sse is not None:
            return self._end_stream_step()
        try:
            res = self.parse_body(bytes(self._body))
        # distinct names: mypyc types a handler variable by its first handler
        # and would reject any other exception bound to the same name
        except ContentBlocked as blocked:
            self._set_failure(FailureKind.CONTENT_BLOCKED, str(blocked)[:300])
            return []
        except Exception as exc:
            self._set_failure(FailureKind.MALFORMED_BODY, f"unparsable body: {exc!r}"[:300])
            return []
        if res is not None:
            self._result = res
            text = text_of_response(res)
            self._chars = len(text)
            self._has_content = response_has_content(res, text)
            if self._usage is None:
                self._usage = usage_of_response(res)
            self._done = True
        return []

    def outcome(self) -> AttemptSucceeded | AttemptFailed:
        """The fact for the router: success with usage, or a failure."""
        if self._failure is not None:
            return self._failure
        if not self._done:
            kind = FailureKind.STREAM_INCOMPLETE if self.stream else FailureKind.MALFORMED_BODY
            return self._set_failure(kind, "attempt ended before completion")
        return AttemptSucceeded(
            attempt_id=self.ctx.attempt_id,
            usage=usage_of(self._usage),
            status=self.status if self.status is not None else 200,
            rate_limits=self.rate_limits,
            output_chars=self._chars,
        )

    def fail(self, kind: FailureKind, detail: str = "") -> AttemptFailed:
        """A transport failure seen by the driver; keeps partial usage/chars."""
        if self._failure is not None:
            return self._failure
        return self._set_failure(kind, detail)

    # ------------------------------------------------------------ codec hooks

    def build_next(self) -> HttpRequest | None:
        """Next request; default: `build_request()` once, then None."""
        if self.steps_sent:
            return None
        return self.build_request()

    def build_request(self) -> HttpRequest:
        """The single request of a one-step family."""
        raise NotImplementedError

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """Parse a non-streamed 2xx body (None: another step follows)."""
        raise NotImplementedError

    def on_event(self, event: SSEEvent) -> None:
        """Handle one SSE event of a 2xx stream."""
        raise NotImplementedError

    def on_hit(self, hit: tuple[str, ...]) -> None:
        """Handle an event recognised by the template given to `direct_reads`
        from its hole values (only called once that was given)."""
        raise NotImplementedError

    # ------------------------------------------------------------ helpers for codecs

    def base_headers(self, content_type: str | None = "application/json") -> list[tuple[str, str]]:
        """Auth headers plus content type (and accept for streams)."""
        hdrs = auth_headers(self.ctx)
        if content_type:
            hdrs.append(("content-type", content_type))
        if self.stream:
            hdrs.append(("accept", "text/event-stream"))
        return hdrs

    def make_chunk(
        self,
        delta: ChoiceDelta,
        finish_reason: str | None = None,
        index: int = 0,
        usage: CompletionUsage | None = None,
    ) -> ChatCompletionChunk:
        """A chunk with this attempt's id, model and created."""
        ctx = self.ctx
        return ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id,
                                   (ChunkChoice(index, delta, finish_reason),), usage)

    def emit_delta(
        self,
        content: str | None = None,
        tool_calls: tuple[ChoiceDeltaToolCall, ...] | None = None,
        finish_reason: str | None = None,
        role: str | None = None,
        index: int = 0,
        refusal: str | None = None,
    ) -> None:
        """Emit one delta as a chunk (the finish chunk is held for usage)."""
        if content is None and tool_calls is None and role is None and refusal is None:
            delta = EMPTY_DELTA
        else:
            delta = ChoiceDelta(role, content, tool_calls, refusal)
        ctx = self.ctx
        self.emit_chunk(ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id,
                                            (ChunkChoice(index, delta, finish_reason),)))

    def direct_reads(self, template: Template, event: SSEEvent) -> None:
        """Let reads that are exactly one event like `event` (same name and
        framing) with data `template` matches skip the SSE parser and
        `on_event`: `receive_data` hands their hole values to `on_hit`. The
        codec calls this after `template` learned from `event`, and only
        while `on_event`, for such an event, would do nothing but `on_hit`
        (it sets `_direct` back to None when that stops holding)."""
        prefix = "data: " if event.event == "message" else f"event: {event.event}\ndata: "
        self._direct = template if template.frame(prefix) else None

    def reuse_direct(self, template: Template) -> None:
        """`direct_reads` from the first read on, when `template` starts from
        a shared shape that an earlier attempt of this codec framed for
        whole reads (`Template(share=...)`): the codec calls this from its
        constructor, under the same condition as `direct_reads`."""
        if template.read_lines:
            self._direct = template

    def emit_text(self, text: str, index: int = 0) -> None:
        """`emit_delta(content=text, index=index)`, the per-chunk fast path:
        once the first chunk is out and no finish chunk is held, the chunk
        is built and released inline."""
        if self._pending_final is not None or not self._first_sent:
            self.emit_delta(content=text, index=index)
            return
        ctx = self.ctx
        delta = _NEW_DELTA(ChoiceDelta, None, text)
        self._out.append(_NEW_CHUNK(ChatCompletionChunk, ctx.response_id, ctx.created,
                                    ctx.model_id, (_NEW_CHOICE(ChunkChoice, index, delta, None),)))
        if text:
            self._text.append(text)
            self._chars += len(text)
            self._has_content = True

    def emit_chunk(self, chunk: ChatCompletionChunk) -> None:
        """Emit a ready chunk: the first gets `role: assistant` (R-67); a chunk
        with a finish reason is held until usage or the end marker."""
        if self._pending_final is not None:
            self._release(self._pending_final)
            self._pending_final = None
        choices = chunk.choices
        if choices and choices[0].finish_reason is not None:
            self._finish_reason = choices[0].finish_reason
            self._pending_final = chunk
            return
        self._release(chunk)

    def set_usage(self, prompt_tokens: int, completion_tokens: int,
                  total_tokens: int | None = None) -> None:
        """Record usage reported in the stream."""
        total = total_tokens if total_tokens is not None else prompt_tokens + completion_tokens
        self._usage_counts = (int(prompt_tokens), int(completion_tokens), int(total))

    def end_stream(self) -> None:
        """The family's end marker arrived: flush the final chunk with usage."""
        self._flush_final()
        self._complete = True

    def stream_error(self, detail: str, excerpt: str = "") -> None:
        """An error event inside a 2xx stream."""
        if excerpt:
            self._excerpt = bytearray(excerpt.encode("utf-8", "replace")[:EXCERPT_BYTES])
        self._set_failure(FailureKind.STREAM_ERROR, detail[:300])

    def mark_blocked(self, detail: str) -> None:
        """A stream reported a safety block before any content."""
        self._set_failure(FailureKind.CONTENT_BLOCKED, detail[:300])

    # ------------------------------------------------------------ internals

    def _is_ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def _release(self, chunk: ChatCompletionChunk) -> None:
        if not self._first_sent:
            self._first_sent = True
            if chunk.choices and chunk.choices[0].delta.role is None:
                chunk = with_assistant_role(chunk)
        for choice in chunk.choices:
            d = choice.delta
            content = d.content
            if content:
                self._text.append(content)
                self._chars += len(content)
                self._has_content = True
            if d.tool_calls:
                self._has_content = True
                for tc in d.tool_calls:
                    if tc.function is not None and tc.function.arguments:
                        self._chars += len(tc.function.arguments)
            if d.refusal:
                self._has_content = True
        if chunk.usage is not None:
            self._usage_emitted = True
        self._out.append(chunk)

    def _flush_final(self) -> None:
        final = self._pending_final
        self._pending_final = None
        if final is not None:
            usage = self._usage
            if usage is not None and final.usage is None:
                final = (ChatCompletionChunk(final.id, final.created, final.model, final.choices,
                                             usage, final.object, final.system_fingerprint)
                         if type(final) is ChatCompletionChunk else replace(final, usage=usage))
            self._release(final)
        elif self._usage is not None and not self._usage_emitted:
            ctx = self.ctx
            self._release(ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id, (),
                                              self._usage))

    def _take_partial(self, sse: SSEParser) -> bool:
        """Make the parser idle by taking back an unfinished first line of
        the next event (kept in `_buf_head` for `receive_data` to put in
        front of the read); False when anything else is pending."""
        head = sse.take_partial()
        if head is None:
            return False
        self._buf_head = head
        return True

    def _end_stream_step(self) -> list[ChatCompletionChunk]:
        assert self._sse is not None
        out: list[ChatCompletionChunk] = []
        self._out = out
        try:
            for ev in self._sse.close():
                self._events_seen += 1
                self.on_event(ev)
                if self._done:
                    break
        except Exception as exc:
            self._set_failure(FailureKind.MALFORMED_BODY, f"malformed stream event: {exc!r}")
        if not self._done:
            if self._complete:
                self._flush_final()
                if self._finish_reason == "content_filter" and not self._has_content:
                    self._set_failure(FailureKind.CONTENT_BLOCKED, "content_filter")
                else:
                    self._done = True
            elif self._events_seen == 0 and self._excerpt.lstrip()[:1] == b"{":
                self.stream_error("2xx response is not an event stream")
            else:
                self._set_failure(FailureKind.STREAM_INCOMPLETE,
                                  "stream ended without its end marker")
        self._out = []
        return out

    def _set_failure(self, kind: FailureKind, detail: str) -> AttemptFailed:
        excerpt = bytes(self._excerpt[:EXCERPT_BYTES]).decode("utf-8", "replace")
        self._failure = AttemptFailed(
            attempt_id=self.ctx.attempt_id,
            kind=kind,
            status=self.status,
            headers=allowed_headers(self.headers),
            body_excerpt=excerpt,
            usage=usage_of(self._usage),
            output_chars=self._chars,
            detail=detail[:500],
        )
        self._done = True
        return self._failure
