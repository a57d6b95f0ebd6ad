"""httpcore connection pools whose bookkeeping stays cheap with many connections.

httpcore (1.0.x) re-plans its pool on every request start and every
response close (`_assign_requests_to_connections`). That plan walks every
pooled connection, asks each idle one whether it expired, which is a
`poll()` system call per idle connection, and counts the pool once more per
idle connection (quadratic). With the few connections of a sequential client
this is invisible; with tens of concurrent streams (the proxy) it became most
of the process's CPU time and cut streaming throughput several-fold.

`LeanConnectionPool` / `LeanAsyncConnectionPool` replace that planning step,
keeping its contract (which requests get which connections, which
connections are handed back for closing):

- closed connections are dropped from the pool's list: the plan walks the
  whole list only when one may have closed (a response released on a closed
  connection, an error), with each sweep, while idle connections could
  exceed `max_keepalive_connections`, and always once the pool has handed
  out a response of httpcore's own path (whose close it does not see);
  otherwise a plan costs the same with 64 connections as with one;
- the expiry check of idle connections (keep-alive timeout, or a socket the
  server closed) runs for the whole pool at most once per `SWEEP_S`, and
  always for the idle connection about to be reused, so a dead connection is
  never handed a request;
- idle connections beyond `max_keepalive_connections` are closed (counting
  idle connections, which is what httpcore's own check means to count);
- a queued request takes the first available connection to its origin, else
  a new connection while under `max_connections`, else replaces an idle
  connection, exactly like httpcore.

Both pools hand out the lean HTTP/1.1 connections of `adapters.lean11` for
plain HTTP/1.1 (no proxy, no HTTP/2: httpcore's own classes otherwise), and
replace the pool's request path around them (`handle_request` /
`handle_async_request`), keeping its steps: the request is queued, the plan
assigns it a connection, a connection that turned unavailable meanwhile
sends it back to the queue, an exception or cancellation removes it and
re-plans, and closing the response hands the connection back (removes the
request, re-plans, closes what the plan dropped). What it no longer pays for
on every request:

- the wake-up event of a queued request (a `threading.Event`, or an anyio
  event found through sniffio) is made only when the request has to wait;
  a request that finds a connection at once never makes one;
- the lean connection's response is returned as it is, its body handed the
  pool to release on close, instead of a second `Response` built through
  httpcore's checked constructor around a pool stream (one generator layer
  less per body chunk);
- the async pool shields connection closing from cancellation only when
  there is a connection to close.

The overrides rely on httpcore 1.0's pool internals (`_connections`,
`_requests`, `_optional_thread_lock`, `_close_connections`,
`create_connection`, the pool streams, the request's `is_queued` /
`assign_to_connection` / `clear_connection` / `wait_for_connection`);
`pyproject.toml` pins httpcore below 1.1 and `tests/drivers/test_pool.py`
and `tests/drivers/test_lean_http11.py` check the pools against real servers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import httpcore
from httpcore._async.connection_pool import PoolByteStream as AsyncPoolByteStream
from httpcore._sync.connection_pool import PoolByteStream

from adapters.lean11 import (
    FastLock,
    LeanAsyncBody,
    LeanAsyncHTTPConnection,
    LeanBody,
    LeanHTTPConnection,
)

__all__ = [
    "SWEEP_S",
    "FastLock",
    "LeanAsyncConnectionPool",
    "LeanAsyncHTTPConnection",
    "LeanConnectionPool",
    "LeanHTTPConnection",
]

SWEEP_S = 1.0  # the whole-pool expiry sweep runs at most this often
_SCHEMES = (b"http", b"https", b"ws", b"wss")  # (httpcore refuses the others)
_NO_TIMEOUTS: dict[str, float] = {}


class _LeanPlan:
    """The replacement planning step, shared by the sync and async pools."""

    _connections: list[Any]
    _requests: list[Any]
    _max_connections: int
    _max_keepalive_connections: int
    _next_sweep: float = 0.0
    _tidy_due: bool = True
    """Whether the next plan walks the whole pool: set when a connection may
    have closed (a response released on a closed connection, an error); the
    walk also runs with each sweep and while idle connections could exceed
    `max_keepalive_connections`."""
    _tidy_always: bool = False
    """Set once the pool hands out a response of httpcore's own path, whose
    close re-plans without telling the pool: every plan walks the pool."""

    def _released(self, pool_request: Any) -> None:
        """A request leaves the pool: if its connection closed, tidy."""
        conn = pool_request.connection
        if conn is None or conn.is_closed():
            self._tidy_due = True

    def _plain_http11(self) -> bool:
        """Whether the pool makes plain HTTP/1.1 connections (no proxy, no
        HTTP/2): the ones the lean connection classes serve."""
        pool: Any = self
        return pool._proxy is None and not pool._http2 and bool(pool._http1)

    def _lean_connection_kwargs(self, origin: httpcore.Origin) -> dict[str, Any]:
        """The arguments of a plain HTTP/1.1 connection to `origin` (what
        httpcore's own pools pass, HTTP/1.1 only)."""
        pool: Any = self
        return {"origin": origin, "ssl_context": pool._ssl_context,
                "keepalive_expiry": pool._keepalive_expiry, "http1": True, "http2": False,
                "retries": pool._retries, "local_address": pool._local_address,
                "uds": pool._uds, "network_backend": pool._network_backend,
                "socket_options": pool._socket_options}

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_S
        conns = self._connections
        if (sweep or self._tidy_due or self._tidy_always
                or len(conns) > self._max_keepalive_connections):
            self._tidy_due = False
            kept: list[Any] = []
            idle = 0
            for conn in conns:
                if conn.is_closed():
                    continue
                if sweep and conn.has_expired():
                    closing.append(conn)
                    continue
                if conn.is_idle():
                    idle += 1
                kept.append(conn)
            surplus = idle - self._max_keepalive_connections
            if surplus > 0:
                for conn in [c for c in kept if c.is_idle()][:surplus]:
                    kept.remove(conn)
                    closing.append(conn)
            conns[:] = kept  # the pool keeps its own list object

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            chosen = None
            for conn in list(conns):
                if not (conn.can_handle_request(origin) and conn.is_available()):
                    continue
                if not sweep and conn.is_idle() and conn.has_expired():
                    conns.remove(conn)  # dead or timed out: never reuse it
                    closing.append(conn)
                    continue
                chosen = conn
                break
            if chosen is None:
                if len(conns) >= self._max_connections:
                    spare = next((c for c in conns if c.is_idle()), None)
                    if spare is None:
                        continue  # stays queued until a connection frees up
                    conns.remove(spare)
                    closing.append(spare)
                chosen = self.create_connection(origin)  # type: ignore[attr-defined]
                conns.append(chosen)
            pool_request.assign_to_connection(chosen)
        return closing


class _PoolRequest:
    """httpcore's `PoolRequest` whose wake-up event is made only when the
    request has to wait for a connection (under the pool's lock, which every
    assignment holds, so no wake-up is lost)."""

    __slots__ = ("_event", "_lock", "connection", "request")

    def __init__(self, request: httpcore.Request, lock: Any) -> None:
        self.request = request
        self.connection: Any = None
        self._event: threading.Event | None = None
        self._lock = lock

    def assign_to_connection(self, connection: Any) -> None:
        self.connection = connection
        if self._event is not None:
            self._event.set()

    def clear_connection(self) -> None:
        self.connection = None
        self._event = None

    def is_queued(self) -> bool:
        return self.connection is None

    def wait_for_connection(self, timeout: float | None = None) -> Any:
        if self.connection is None:
            with self._lock:
                event = None
                if self.connection is None:
                    event = self._event = threading.Event()
            if event is not None and not event.wait(None if timeout == float("inf")
                                                    else timeout):
                raise httpcore.PoolTimeout()
        assert self.connection is not None
        return self.connection


class LeanConnectionPool(_LeanPlan, httpcore.ConnectionPool):
    """`httpcore.ConnectionPool` with the cheap planning step, the lean
    request path and `LeanHTTPConnection`s (sync driver)."""

    def create_connection(self, origin: httpcore.Origin) -> httpcore.ConnectionInterface:
        if not self._plain_http11():
            return super().create_connection(origin)
        return LeanHTTPConnection(**self._lean_connection_kwargs(origin))

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.scheme not in _SCHEMES:
            return super().handle_request(request)  # (raises UnsupportedProtocol)
        timeout = request.extensions.get("timeout", _NO_TIMEOUTS).get("pool", None)
        lock = self._optional_thread_lock
        pool_request = _PoolRequest(request, lock)
        try:
            with lock:
                self._requests.append(pool_request)
                closing = self._assign_requests_to_connections()
            while True:
                if closing:
                    self._close_connections(closing)
                connection = pool_request.wait_for_connection(timeout)
                try:
                    if type(connection) is LeanHTTPConnection:
                        response = connection.exchange(request)  # (assigned by origin)
                    else:
                        response = connection.handle_request(request)
                    break
                except httpcore.ConnectionNotAvailable:
                    pool_request.clear_connection()  # taken meanwhile: plan again
                    self._tidy_due = True  # (or closed meanwhile)
                with lock:
                    closing = self._assign_requests_to_connections()
        except BaseException as exc:
            with lock:
                if pool_request in self._requests:
                    self._requests.remove(pool_request)
                self._tidy_due = True
                closing = self._assign_requests_to_connections()
            self._close_connections(closing)
            raise exc from None
        stream = response.stream
        if type(stream) is LeanBody:
            stream.pool, stream.pool_request = self, pool_request
            return response
        self._tidy_always = True
        return httpcore.Response(  # httpcore's own connection: its pool stream
            status=response.status, headers=response.headers,
            content=PoolByteStream(stream=stream, pool_request=pool_request,  # type: ignore[arg-type]
                                   pool=self),
            extensions=response.extensions)

    def release_request(self, pool_request: Any) -> None:
        """A response was closed: its request leaves the pool, which re-plans."""
        with self._optional_thread_lock:
            self._requests.remove(pool_request)
            self._released(pool_request)
            closing = self._assign_requests_to_connections()
        if closing:
            self._close_connections(closing)


class _AsyncPoolRequest:
    """httpcore's `AsyncPoolRequest` whose wake-up event is made only when
    the request has to wait (one event loop thread: no lock needed)."""

    __slots__ = ("_event", "connection", "request")

    def __init__(self, request: httpcore.Request) -> None:
        self.request = request
        self.connection: Any = None
        self._event: anyio.Event | None = None

    def assign_to_connection(self, connection: Any) -> None:
        self.connection = connection
        if self._event is not None:
            self._event.set()

    def clear_connection(self) -> None:
        self.connection = None
        self._event = None

    def is_queued(self) -> bool:
        return self.connection is None

    async def wait_for_connection(self, timeout: float | None = None) -> Any:
        if self.connection is None:
            event = self._event = anyio.Event()
            try:
                with anyio.fail_after(timeout):
                    await event.wait()
            except TimeoutError as exc:
                raise httpcore.PoolTimeout(exc) from exc
        assert self.connection is not None
        return self.connection


class LeanAsyncConnectionPool(_LeanPlan, httpcore.AsyncConnectionPool):
    """`httpcore.AsyncConnectionPool` with the cheap planning step, the lean
    request path and `LeanAsyncHTTPConnection`s (async driver)."""

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        if not self._plain_http11():
            return super().create_connection(origin)
        return LeanAsyncHTTPConnection(**self._lean_connection_kwargs(origin))

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.scheme not in _SCHEMES:
            return await super().handle_async_request(request)  # (raises UnsupportedProtocol)
        timeout = request.extensions.get("timeout", _NO_TIMEOUTS).get("pool", None)
        pool_request = _AsyncPoolRequest(request)
        requests: list[Any] = self._requests
        requests.append(pool_request)
        try:
            while True:
                closing = self._assign_requests_to_connections()
                if closing:
                    await self._close_connections(closing)
                connection = pool_request.connection
                if connection is None:
                    connection = await pool_request.wait_for_connection(timeout)
                try:
                    if type(connection) is LeanAsyncHTTPConnection:
                        response = await connection.exchange(request)  # (assigned by origin)
                    else:
                        response = await connection.handle_async_request(request)
                    break
                except httpcore.ConnectionNotAvailable:
                    pool_request.clear_connection()  # taken meanwhile: plan again
                    self._tidy_due = True  # (or closed meanwhile)
        except BaseException as exc:
            requests.remove(pool_request)
            self._tidy_due = True
            closing = self._assign_requests_to_connections()
            if closing:
                await self._close_connections(closing)  # (shielded by httpcore)
            raise exc from None
        stream = response.stream
        if type(stream) is LeanAsyncBody:
            stream.pool, stream.pool_request = self, pool_request
            return response
        self._tidy_always = True
        return httpcore.Response(  # httpcore's own connection: its pool stream
            status=response.status, headers=response.headers,
            content=AsyncPoolByteStream(stream=stream, pool_request=pool_request,  # type: ignore[arg-type]
                                        pool=self),
            extensions=response.extensions)

    async def release_request(self, pool_request: Any) -> None:
        """A response was closed: its request leaves the pool, which re-plans
        (closing what the plan dropped, shielded by httpcore)."""
        requests: list[Any] = self._requests
        requests.remove(pool_request)
        self._released(pool_request)
        closing = self._assign_requests_to_connections()
        if closing:
            await self._close_connections(closing)
