"""httpcore connection pools whose bookkeeping stays cheap with many connections.

httpcore (1.0.x) re-plans its pool on every request start and every
response close (`_assign_requests_to_connections`). That plan walks every
pooled connection, asks each idle one whether it expired, which is a
`poll()` system call per idle connection, and counts the pool once more per
idle connection (quadratic). With the few connections of a sequential client
this is invisible; with tens of concurrent streams (the proxy) it became most
of the process's CPU time and cut streaming throughput several-fold.

`LeanConnectionPool` / `LeanAsyncConnectionPool` replace only that planning
step, keeping its contract (which requests get which connections, which
connections are handed back for closing):

- closed connections are dropped on every plan, as before;
- the expiry check of idle connections (keep-alive timeout, or a socket the
  server closed) runs for the whole pool at most once per `SWEEP_S`, and
  always for the idle connection about to be reused, so a dead connection is
  never handed a request;
- idle connections beyond `max_keepalive_connections` are closed (counting
  idle connections, which is what httpcore's own check means to count);
- a queued request takes the first available connection to its origin, else
  a new connection while under `max_connections`, else replaces an idle
  connection, exactly like httpcore.

The async pool also hands out `LeanAsyncHTTPConnection`s: httpcore's
HTTP/1.1 connection takes an anyio lock three times per request (the
connection's request lock, the HTTP/1.1 state lock at the start and at the
end of the response), and an uncontended anyio lock still yields one event
loop iteration per acquire. Its locks are `FastLock`s (anyio's
`fast_acquire`: no yield when the lock is free; waiting and fairness when it
is not), which saves those loop iterations on every request.

The overrides rely on httpcore 1.0's pool internals (`_connections`,
`_requests`, `create_connection`, the request's `is_queued` /
`assign_to_connection`); `pyproject.toml` pins httpcore below 1.1 and
`tests/drivers/test_pool.py` checks the pools against real servers.
"""

from __future__ import annotations

import time
import types
from typing import Any

import anyio
import httpcore

__all__ = [
    "SWEEP_S",
    "FastLock",
    "LeanAsyncConnectionPool",
    "LeanAsyncHTTPConnection",
    "LeanConnectionPool",
]

SWEEP_S = 1.0  # the whole-pool expiry sweep runs at most this often


class _LeanPlan:
    """The replacement planning step, shared by the sync and async pools."""

    _connections: list[Any]
    _requests: list[Any]
    _max_connections: int
    _max_keepalive_connections: int
    _next_sweep: float = 0.0

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        now = time.monotonic()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_S
        conns = self._connections
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


class LeanConnectionPool(_LeanPlan, httpcore.ConnectionPool):
    """`httpcore.ConnectionPool` with the cheap planning step (sync driver)."""


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

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: types.TracebackType | None) -> None:
        assert self._lock is not None
        self._lock.release()


class _LeanHTTP11Connection(httpcore.AsyncHTTP11Connection):
    def __init__(self, origin: httpcore.Origin, stream: httpcore.AsyncNetworkStream,
                 keepalive_expiry: float | None = None) -> None:
        super().__init__(origin=origin, stream=stream, keepalive_expiry=keepalive_expiry)
        self._state_lock = FastLock()  # type: ignore[assignment]


class LeanAsyncHTTPConnection(httpcore.AsyncHTTPConnection):
    """httpcore's connection for plain HTTP/1.1 (no proxy, no HTTP/2: what
    the async driver's pool makes), with `FastLock`s."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request_lock = FastLock()  # type: ignore[assignment]

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if not self.can_handle_request(request.url.origin):
            raise RuntimeError(f"Attempted to send request to {request.url.origin} "
                               f"on connection to {self._origin}")
        if self._connection is None:
            try:
                async with self._request_lock:
                    if self._connection is None:
                        stream = await self._connect(request)
                        self._connection = _LeanHTTP11Connection(
                            origin=self._origin, stream=stream,
                            keepalive_expiry=self._keepalive_expiry)
            except BaseException:
                self._connect_failed = True
                raise
        return await self._connection.handle_async_request(request)


class LeanAsyncConnectionPool(_LeanPlan, httpcore.AsyncConnectionPool):
    """`httpcore.AsyncConnectionPool` with the cheap planning step and
    `LeanAsyncHTTPConnection`s (async driver)."""

    def create_connection(self, origin: httpcore.Origin) -> httpcore.AsyncConnectionInterface:
        if self._proxy is not None or self._http2 or not self._http1:
            return super().create_connection(origin)
        return LeanAsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry, http1=True, http2=False,
            retries=self._retries, local_address=self._local_address, uds=self._uds,
            network_backend=self._network_backend, socket_options=self._socket_options)
