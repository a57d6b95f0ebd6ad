"""Lean HTTP/1.1 connections for the drivers' pools (httpcore 1.0, h11 0.16, httptools).

httpcore's HTTP/1.1 connection is written for every use httpcore has: each
request opens five `Trace` context managers (which do nothing unless a
`trace` extension or debug logging asks for them), each h11 event read goes
through a `contextlib` `map_exceptions` context manager (about 36 of them
for a streamed answer), every outgoing header is checked by h11's regexes
again on every request, the response is rebuilt by the pool through
httpcore's checked `Response` constructor (`typing.Mapping` isinstance
checks), and each body chunk climbs four generator layers (response, pool
stream, connection stream, the connection's event loop) to reach the
caller. In async, httpcore's pool also enters a shielded cancel scope on
every response close, and the connection's anyio locks yield to the event
loop.

`LeanHTTP11Connection` / `LeanAsyncHTTP11Connection` keep httpcore's class
(state machine, `is_available` / `is_idle` / `has_expired` / `is_closed`,
keep-alive expiry, `close`) and replace only the per-request path:

- the request is sent and the response head read in one method. A plain
  request (a known method and target, header pairs h11 accepted before, a
  Host header, a bytes body with its one Content-Length, or no body) is
  written byte for byte as h11 writes it, in one write (`wire_request`);
  any other goes through h11, with h11's exceptions mapped by plain
  `try`/`except` exactly as httpcore maps them (`h11.LocalProtocolError`
  while building the request -> `httpcore.LocalProtocolError`). Network
  errors pass through; a write error is ignored so that the server's answer
  is still read (the connection is then not reused);
- request headers are validated once per distinct (name, value) pair by
  h11's own `normalize_and_validate` and cached; h11's requests are
  assembled from the cached triples into h11's `Headers`, which
  `h11.Request` takes without validating again (method and target are
  checked by h11 once per distinct pair too). A list with more than one
  framing header (Content-Length / Transfer-Encoding) is validated as a
  whole, so h11 itself judges duplicates and conflicts. This relies on h11
  0.16's private `Headers` / `normalize_and_validate` and `h11.Request`'s
  `_parsed` flag: `H11_PREVALIDATED` is False on any other h11 version (or
  if those names are gone), and then every request goes through h11, which
  validates its headers itself, as in httpcore;
- the response is read by `adapters.respread.ResponseReader` (llhttp,
  through httptools) instead of h11's state machine: the same head, body
  and errors (`httpcore.RemoteProtocolError`), at a fraction of the cost.
  The connection goes idle for another request when the request went out
  whole without `Connection: close`, the response was read to its end and
  allows keep-alive (never HTTP/1.0), and nothing followed it; h11 then
  gets a fresh cycle if it was used. Otherwise it is closed;
- the response is a `LeanResponse` (an `httpcore.Response` built without the
  argument checks) whose `iter_stream()` / `aiter_stream()` is the body's
  own read loop: one generator between the caller and the socket. It is
  iterable once, closes its connection when closed before its end, and
  hands the connection back to the pool (`release_request`) when closed;
- the async connection takes no lock on the normal path (its state changes
  have no await between check and set) and enters a shielded cancel scope
  only to close a connection on an error, cancellation or early close, so a
  cancelled attempt never leaves a half-read connection in the pool. Its
  locks (around connecting, and httpcore's state lock on the traced path)
  are `FastLock`s: anyio's `fast_acquire`, no event loop iteration when the
  lock is free (an uncontended anyio lock otherwise yields once per acquire).

A request with a `trace` extension, or with debug logging of
`httpcore.http11` on, takes httpcore's own path (traces are kept), and so do
HEAD, CONNECT and upgrade requests (their responses are framed by the
request, which llhttp's response parser does not see; httpcore hands an
upgrade stream over). 1xx informational responses are skipped.
`tests/drivers/test_lean_http11.py` checks the behaviours on real loopback
servers and compares the lean connections with httpcore's on random
responses cut into random reads (the few places where the lean connection
is deliberately stricter are spelled out there);
`tests/drivers/test_respread.py` checks the reader and `wire_request`.
"""

from __future__ import annotations

import logging
import threading
import time
import typing
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import h11
import httpcore
from httpcore._async.http11 import HTTPConnectionState as AsyncState
from httpcore._models import ByteStream
from httpcore._sync.http11 import HTTPConnectionState

from adapters.respread import ResponseReader

__all__ = [
    "H11_PREVALIDATED",
    "FastLock",
    "LeanAsyncBody",
    "LeanAsyncHTTP11Connection",
    "LeanAsyncHTTPConnection",
    "LeanBody",
    "LeanHTTP11Connection",
    "LeanHTTPConnection",
    "LeanResponse",
    "h11_headers",
    "wire_request",
]

try:  # h11's private header form, checked against h11 0.16 only
    from h11._headers import Headers, normalize_and_validate
except ImportError:  # pragma: no cover (another h11: every request validated by h11)
    Headers = normalize_and_validate = None  # type: ignore[assignment,misc]
H11_PREVALIDATED = (Headers is not None
                    and str(getattr(h11, "__version__", "")).startswith("0.16."))
"""Whether request headers are validated once per distinct pair (h11 0.16,
whose private `Headers` / `normalize_and_validate` this was checked against;
on any other h11, `h11.Request` validates every request's headers itself)."""

_LOG = logging.getLogger("httpcore.http11")  # httpcore's traces log here at DEBUG
_NEW, _IDLE = HTTPConnectionState.NEW, HTTPConnectionState.IDLE
_ANEW, _AIDLE = AsyncState.NEW, AsyncState.IDLE  # (a separate enum in httpcore)
_DONE, _H11_IDLE = h11.DONE, h11.IDLE
_Data, _EndOfMessage = h11.Data, h11.EndOfMessage
_NO_TIMEOUTS: dict[str, float] = {}
_FRAMING = (b"content-length", b"transfer-encoding")

_VALID: dict[Any, tuple[bytes, bytes, bytes]] = {}
"""Per request header pair: h11's validated (raw name, lowercased name,
value) triple (bounded: cleared at `_VALID_MAX` pairs)."""
_VALID_MAX = 1024


def h11_headers(headers: list[Any]) -> Headers:
    """`headers` in h11's validated form, exactly as `normalize_and_validate`
    gives it. Each distinct pair is validated once (cached). A list that
    h11 would refuse, or with more than one framing header, or with an
    unhashable pair, is validated by h11 as a whole, so that h11 itself
    gives the verdict (and the same first error). Only with `H11_PREVALIDATED`."""
    assert H11_PREVALIDATED
    valid = _VALID
    items: list[tuple[bytes, bytes, bytes]] = []
    framing = 0
    try:
        for pair in headers:
            item = valid.get(pair)
            if item is None:
                (item,) = normalize_and_validate([pair])._full_items
                if len(valid) >= _VALID_MAX:
                    valid.clear()
                valid[pair] = item
            if item[1] in _FRAMING:
                framing += 1
            items.append(item)
    except (TypeError, ValueError, h11.LocalProtocolError):
        return normalize_and_validate(headers)
    if framing > 1:
        return normalize_and_validate(headers)
    return Headers(items)


_LINES: dict[tuple[bytes, bytes], bytes] = {}
"""Per (method, target) that h11 accepted: the request line h11 writes."""


def _request_line(method: Any, target: Any) -> bytes | None:
    line = _LINES.get((method, target))
    if line is None:
        if type(method) is not bytes or type(target) is not bytes:
            return None
        try:
            h11.Request(method=method, target=target, headers=[(b"Host", b"h")])
        except h11.LocalProtocolError:
            return None
        line = b"%s %s HTTP/1.1\r\n" % (method, target)
        if len(_LINES) >= _VALID_MAX:
            _LINES.clear()
        _LINES[(method, target)] = line
    return line


def wire_request(request: httpcore.Request) -> tuple[bytes, bool] | None:
    """The bytes h11 would write for `request` (request line, the Host line
    first as h11 puts it, the other headers in order, the body), and
    whether the connection may carry another request after it (no
    `Connection: close`). Only for the plain case, judged from what h11
    accepted before: known method and target, every header pair already
    validated (`_VALID`), a Host header, a bytes body whose one
    Content-Length matches it (or no body and no framing header). Anything
    else gives None, and h11 builds (and judges) the request."""
    if not H11_PREVALIDATED:
        return None
    line = _request_line(request.method, request.url.target)
    body = request.stream
    if line is None or type(body) is not ByteStream:
        return None
    content = b"".join(body)
    valid = _VALID
    host: list[bytes] = []
    rest: list[bytes] = []
    length: bytes | None = None
    keep = True
    for pair in request.headers:
        item = valid.get(pair)
        if item is None:
            return None
        raw, name, value = item
        if name == b"host":
            host.append(b"%s: %s\r\n" % (raw, value))
            continue
        rest.append(b"%s: %s\r\n" % (raw, value))
        if name == b"content-length":
            if length is not None:
                return None
            length = value
        elif name == b"transfer-encoding":
            return None
        elif name == b"connection" and b"close" in [
                v.strip().lower() for v in value.split(b",")]:
            keep = False
    if not host or (length != b"%d" % len(content) if length is not None else content):
        return None
    return b"".join((line, *host, *rest, b"\r\n", content)), keep


def _h11_request(request: httpcore.Request) -> h11.Request:
    """The h11 event of `request` (h11's errors mapped as httpcore maps them)."""
    method, target = request.method, request.url.target
    try:
        if not H11_PREVALIDATED:  # (h11's public, validating form)
            return h11.Request(method=method, target=target, headers=request.headers)
        return h11.Request(method=method, target=target, headers=h11_headers(request.headers),
                           _parsed=type(method) is bytes and type(target) is bytes)
    except h11.LocalProtocolError as exc:
        raise httpcore.LocalProtocolError(exc) from exc


class _Releaser(typing.Protocol):
    """The pool a sync response is handed back to when it is closed."""

    def release_request(self, pool_request: Any) -> None: ...


class _AsyncReleaser(typing.Protocol):
    """The pool an async response is handed back to when it is closed."""

    async def release_request(self, pool_request: Any) -> None: ...


class LeanResponse(httpcore.Response):
    """An `httpcore.Response` built without httpcore's argument checks (its
    headers are h11's bytes pairs already), whose body iterates straight
    from its connection when it is a lean body."""

    def __init__(self, status: int, *, headers: list[tuple[bytes, bytes]],
                 content: Any, extensions: dict[str, Any]) -> None:
        self.status = status
        self.headers = headers
        self.stream = content
        self.extensions = extensions
        self._stream_consumed = False

    def iter_stream(self) -> Iterator[bytes]:
        stream = self.stream
        if type(stream) is LeanBody:
            return stream.chunks(self)
        return super().iter_stream()  # pragma: no cover (lean responses carry lean bodies)

    def close(self) -> None:
        stream = self.stream
        if type(stream) is LeanBody:
            stream.close()
        else:  # pragma: no cover
            super().close()

    def aiter_stream(self) -> AsyncIterator[bytes]:
        stream = self.stream
        if type(stream) is LeanAsyncBody:
            return stream.chunks(self)
        return super().aiter_stream()  # pragma: no cover

    async def aclose(self) -> None:
        stream = self.stream
        if type(stream) is LeanAsyncBody:
            await stream.aclose()
        else:  # pragma: no cover
            await super().aclose()


def _consume(response: httpcore.Response | None, how: str) -> None:
    if response is None:
        return
    if response._stream_consumed:
        raise RuntimeError(f"Attempted to call '{how}' more than once.")
    response._stream_consumed = True


def _lean_response(reader: ResponseReader, body: Any, network: Any) -> LeanResponse:
    """The `LeanResponse` of a read response head whose body `body` reads."""
    return LeanResponse(reader.status, headers=reader.headers, content=body,
                        extensions={"http_version": reader.version,
                                    "reason_phrase": reader.reason, "network_stream": network})


_HTTPCORE_METHODS = (b"HEAD", b"CONNECT")


def _httpcore_path(request: httpcore.Request) -> bool:
    """Whether `request` takes httpcore's own path: traced (a `trace`
    extension or httpcore debug logging), or a request whose response only
    h11 frames (HEAD, CONNECT, an upgrade)."""
    if "trace" in request.extensions or _LOG.isEnabledFor(logging.DEBUG):
        return True
    if request.method in _HTTPCORE_METHODS:
        return True
    return any(len(name) == 7 and name.lower() == b"upgrade" for name, _ in request.headers)


def _go_idle(conn: Any, reader: ResponseReader, idle: Any) -> bool:
    """After a lean exchange on `conn` (sync or async): when the request went
    out whole without `Connection: close`, the response was read to its end
    and allows keep-alive, the connection goes `idle` for another request
    (keep-alive expiry set; h11 gets a fresh cycle if the request went
    through it, since the lean path read the response without h11). False:
    the caller closes it."""
    if not (reader.finished and reader.keep_alive and reader.request_sent):
        return False
    if conn._h11_state.our_state is not _H11_IDLE:
        conn._h11_state = h11.Connection(our_role=h11.CLIENT,
                                         max_incomplete_event_size=conn.MAX_INCOMPLETE_EVENT_SIZE)
    conn._state = idle
    if conn._keepalive_expiry is not None:
        conn._expire_at = time.monotonic() + conn._keepalive_expiry
    return True


# ---------------------------------------------------------------- sync


class LeanBody:
    """A response body read from a `LeanHTTP11Connection` (sync). A pool
    that hands the response out sets `pool` / `pool_request`: closing the
    body then releases the request (`pool.release_request`)."""

    __slots__ = ("_closed", "_conn", "_reader", "_timeout", "pool", "pool_request")

    def __init__(self, conn: LeanHTTP11Connection, reader: ResponseReader,
                 timeout: float | None) -> None:
        self._conn = conn
        self._reader = reader
        self._timeout = timeout
        self._closed = False
        self.pool: _Releaser | None = None
        self.pool_request: Any = None

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks(None)

    def chunks(self, response: httpcore.Response | None) -> Iterator[bytes]:
        """The body's pieces as they are read; closes the response on any
        exception (or when closed before its end)."""
        _consume(response, "for ... in response.iter_stream()")
        conn = self._conn
        reader = self._reader
        feed = reader.feed
        read = conn._network_stream.read
        size, timeout = conn.READ_NUM_BYTES, self._timeout
        try:
            while True:
                pieces = reader.pieces
                if pieces:
                    reader.pieces = []
                    yield from pieces
                if reader.complete:
                    reader.finished = True
                    return
                if reader.failure is not None:
                    raise reader.failure
                feed(read(size, timeout))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the response: the connection goes idle when the exchange is
        complete (else it is closed), then the pool request is released."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn._response_closed()
        finally:
            if self.pool is not None:
                self.pool.release_request(self.pool_request)


class LeanHTTP11Connection(httpcore.HTTP11Connection):
    """httpcore's HTTP/1.1 connection with the lean request path (sync)."""

    def __init__(self, origin: httpcore.Origin, stream: httpcore.NetworkStream,
                 keepalive_expiry: float | None = None) -> None:
        super().__init__(origin=origin, stream=stream, keepalive_expiry=keepalive_expiry)
        self._state_lock = threading.Lock()  # type: ignore[assignment]  # (same use)
        self._reader: ResponseReader | None = None  # the lean exchange under way

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on "
                               f"connection to {self._origin}")
        return self.exchange(request)

    def exchange(self, request: httpcore.Request) -> httpcore.Response:
        """`handle_request` for a request known to be for this origin."""
        if _httpcore_path(request):
            return super().handle_request(request)
        with self._state_lock:
            if self._state is _NEW or self._state is _IDLE:
                self._request_count += 1
                self._state = HTTPConnectionState.ACTIVE
                self._expire_at = None
            else:
                raise httpcore.ConnectionNotAvailable()
        reader = self._reader = ResponseReader()
        try:
            timeouts = request.extensions.get("timeout", _NO_TIMEOUTS)
            h11c = self._h11_state
            stream = self._network_stream
            timeout = timeouts.get("write", None)
            wire = wire_request(request)
            try:
                if wire is not None:
                    stream.write(wire[0], timeout)
                    reader.request_sent = wire[1]
                else:
                    stream.write(h11c.send(_h11_request(request)), timeout)
                    body = request.stream
                    assert type(body) is ByteStream or isinstance(body, typing.Iterable)
                    for chunk in body:
                        stream.write(h11c.send(_Data(data=chunk)), timeout)
                    end = h11c.send(_EndOfMessage())
                    if end:
                        stream.write(end, timeout)
                    reader.request_sent = h11c.our_state is _DONE
            except httpcore.WriteError:
                pass  # the server may have answered already: read its response
            timeout = timeouts.get("read", None)
            size = self.READ_NUM_BYTES
            feed = reader.feed
            while not reader.head_done:
                feed(stream.read(size, timeout))
            return _lean_response(reader, LeanBody(self, reader, timeout), stream)
        except BaseException:
            self._response_closed()
            raise

    def _response_closed(self) -> None:
        """After a lean exchange: the connection goes idle when the request
        was sent whole, the response was read to its end and both sides
        allow another request (h11 gets a fresh cycle); else it is closed.
        After httpcore's own path, httpcore's rule."""
        reader = self._reader
        if reader is None:
            super()._response_closed()
            return
        self._reader = None
        with self._state_lock:
            if not _go_idle(self, reader, _IDLE):
                self.close()


class LeanHTTPConnection(httpcore.HTTPConnection):
    """httpcore's connection for plain HTTP/1.1 (no proxy, no HTTP/2: what
    the sync driver's pool makes), on a `LeanHTTP11Connection`."""

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} "
                               f"on connection to {self._origin}")
        return self.exchange(request)

    def exchange(self, request: httpcore.Request) -> httpcore.Response:
        """`handle_request` for a request known to be for this origin (the
        pool assigned it by origin)."""
        conn = self._connection
        if conn is None:
            try:
                with self._request_lock:
                    if self._connection is None:
                        stream = self._connect(request)
                        self._connection = LeanHTTP11Connection(
                            origin=self._origin, stream=stream,
                            keepalive_expiry=self._keepalive_expiry)
            except BaseException:
                self._connect_failed = True
                raise
            conn = self._connection
        if type(conn) is LeanHTTP11Connection:
            return conn.exchange(request)
        return conn.handle_request(request)  # pragma: no cover


# ---------------------------------------------------------------- async


class FastLock:
    """An async lock (asyncio or trio, through anyio) whose uncontended
    acquire does not yield to the event loop; a contended one waits in
    order. Stands in for httpcore's `AsyncLock` (same `async with` use)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock: anyio.Lock | None = None  # made on first use, inside the loop

    async def __aenter__(self) -> FastLock:
        lock = self._lock
        if lock is None:
            lock = self._lock = anyio.Lock(fast_acquire=True)
        await lock.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._lock is not None
        self._lock.release()


class LeanAsyncBody:
    """A response body read from a `LeanAsyncHTTP11Connection` (`pool` /
    `pool_request` as in `LeanBody`)."""

    __slots__ = ("_closed", "_conn", "_reader", "_timeout", "pool", "pool_request")

    def __init__(self, conn: LeanAsyncHTTP11Connection, reader: ResponseReader,
                 timeout: float | None) -> None:
        self._conn = conn
        self._reader = reader
        self._timeout = timeout
        self._closed = False
        self.pool: _AsyncReleaser | None = None
        self.pool_request: Any = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks(None)

    async def chunks(self, response: httpcore.Response | None) -> AsyncIterator[bytes]:
        """The body's pieces as they are read; on any exception,
        cancellation or early close the response is closed, shielded."""
        _consume(response, "async for ... in response.aiter_stream()")
        conn = self._conn
        reader = self._reader
        feed = reader.feed
        read = conn._network_stream.read
        size, timeout = conn.READ_NUM_BYTES, self._timeout
        try:
            while True:
                pieces = reader.pieces
                if pieces:
                    reader.pieces = []
                    for piece in pieces:
                        yield piece
                if reader.complete:
                    reader.finished = True
                    return
                if reader.failure is not None:
                    raise reader.failure
                feed(await read(size, timeout))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the response (see `LeanBody.close`)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._conn._response_closed()
        finally:
            if self.pool is not None:
                await self.pool.release_request(self.pool_request)


class LeanAsyncHTTP11Connection(httpcore.AsyncHTTP11Connection):
    """httpcore's async HTTP/1.1 connection with the lean request path."""

    def __init__(self, origin: httpcore.Origin, stream: httpcore.AsyncNetworkStream,
                 keepalive_expiry: float | None = None) -> None:
        super().__init__(origin=origin, stream=stream, keepalive_expiry=keepalive_expiry)
        self._state_lock = FastLock()  # type: ignore[assignment]  # (httpcore's traced path)
        self._reader: ResponseReader | None = None  # the lean exchange under way

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} on "
                               f"connection to {self._origin}")
        return await self.exchange(request)

    async def exchange(self, request: httpcore.Request) -> httpcore.Response:
        """`handle_async_request` for a request known to be for this origin.
        No lock: nothing awaits between the state check and its change."""
        if _httpcore_path(request):
            return await super().handle_async_request(request)
        if self._state is _ANEW or self._state is _AIDLE:
            self._request_count += 1
            self._state = AsyncState.ACTIVE
            self._expire_at = None
        else:
            raise httpcore.ConnectionNotAvailable()
        reader = self._reader = ResponseReader()
        try:
            timeouts = request.extensions.get("timeout", _NO_TIMEOUTS)
            h11c = self._h11_state
            stream = self._network_stream
            timeout = timeouts.get("write", None)
            wire = wire_request(request)
            try:
                if wire is not None:
                    await stream.write(wire[0], timeout)
                    reader.request_sent = wire[1]
                else:
                    await stream.write(h11c.send(_h11_request(request)), timeout)
                    body = request.stream
                    if type(body) is ByteStream:
                        for chunk in body:
                            await stream.write(h11c.send(_Data(data=chunk)), timeout)
                    else:
                        assert isinstance(body, typing.AsyncIterable)
                        async for chunk in body:
                            await stream.write(h11c.send(_Data(data=chunk)), timeout)
                    end = h11c.send(_EndOfMessage())
                    if end:
                        await stream.write(end, timeout)
                    reader.request_sent = h11c.our_state is _DONE
            except httpcore.WriteError:
                pass  # the server may have answered already: read its response
            timeout = timeouts.get("read", None)
            size = self.READ_NUM_BYTES
            feed = reader.feed
            while not reader.head_done:
                feed(await stream.read(size, timeout))
            return _lean_response(reader, LeanAsyncBody(self, reader, timeout), stream)
        except BaseException:
            await self._response_closed()
            raise

    async def _response_closed(self) -> None:
        """`LeanHTTP11Connection._response_closed` without a lock (no await
        between check and change); only closing the connection awaits,
        shielded. After httpcore's own path, httpcore's rule, unlocked."""
        reader = self._reader
        self._reader = None
        if reader is not None:
            reuse = _go_idle(self, reader, _AIDLE)
        else:
            h11c = self._h11_state
            reuse = h11c.our_state is _DONE and h11c.their_state is _DONE
            if reuse:
                h11c.start_next_cycle()
                self._state = _AIDLE
                if self._keepalive_expiry is not None:
                    self._expire_at = time.monotonic() + self._keepalive_expiry
        if not reuse:
            with anyio.CancelScope(shield=True):
                await self.aclose()


class LeanAsyncHTTPConnection(httpcore.AsyncHTTPConnection):
    """httpcore's connection for plain HTTP/1.1 (no proxy, no HTTP/2: what
    the async driver's pool makes), on a `LeanAsyncHTTP11Connection`, with
    a `FastLock` around connecting."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request_lock = FastLock()  # type: ignore[assignment]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} "
                               f"on connection to {self._origin}")
        return await self.exchange(request)

    async def exchange(self, request: httpcore.Request) -> httpcore.Response:
        """`handle_async_request` for a request known to be for this origin."""
        conn = self._connection
        if conn is None:
            try:
                async with self._request_lock:
                    if self._connection is None:
                        stream = await self._connect(request)
                        self._connection = LeanAsyncHTTP11Connection(
                            origin=self._origin, stream=stream,
                            keepalive_expiry=self._keepalive_expiry)
            except BaseException:
                self._connect_failed = True
                raise
            conn = self._connection
        if type(conn) is LeanAsyncHTTP11Connection:
            return await conn.exchange(request)
        return await conn.handle_async_request(request)  # pragma: no cover

