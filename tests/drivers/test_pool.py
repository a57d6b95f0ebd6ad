"""adapters.pool: the drivers' connection pools keep httpcore's contract.

The lean planning step must hand requests the same connections httpcore
would (reuse, new connection under the limit, replace an idle one at the
limit, queue otherwise), never reuse a connection the server closed, and
close surplus idle connections. Unit tests drive the planning step with
stand-in connections; the rest runs real requests on loopback."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import anyio
import h11
import httpcore
import pytest
from _mesh_helpers import wait_until

from adapters.fake_provider import FakeProviderServer
from adapters.pool import SWEEP_S, LeanAsyncConnectionPool, LeanConnectionPool

# ------------------------------------------------------------------ the planning step


@dataclass(eq=False)  # identity, like httpcore's connections
class StubConn:
    origin: str
    idle: bool = True
    closed: bool = False
    expired: bool = False
    expiry_checks: int = 0
    queries: int = 0  # is_closed / is_idle calls

    def is_closed(self) -> bool:
        self.queries += 1
        return self.closed

    def has_expired(self) -> bool:
        self.expiry_checks += 1
        return self.expired

    def is_idle(self) -> bool:
        self.queries += 1
        return self.idle

    def is_available(self) -> bool:  # HTTP/1.1: only an idle connection takes a request
        return self.idle and not self.closed

    def can_handle_request(self, origin: str) -> bool:
        return origin == self.origin


@dataclass(eq=False)
class StubRequest:
    origin: str
    conn: StubConn | None = None

    @property
    def request(self) -> Any:
        return type("R", (), {"url": type("U", (), {"origin": self.origin})()})()

    def is_queued(self) -> bool:
        return self.conn is None

    def assign_to_connection(self, conn: StubConn) -> None:
        self.conn = conn
        conn.idle = False


@dataclass
class StubPool(LeanConnectionPool):
    conns: list[StubConn] = field(default_factory=list)
    reqs: list[StubRequest] = field(default_factory=list)
    limit: int = 3
    keepalive: int = 3

    def __post_init__(self) -> None:
        self._connections = self.conns
        self._requests = self.reqs
        self._max_connections = self.limit
        self._max_keepalive_connections = self.keepalive
        self._next_sweep = 0.0

    def create_connection(self, origin: Any) -> Any:
        return StubConn(origin, idle=True)


def test_reuses_an_idle_connection_to_the_same_origin() -> None:
    a, b = StubConn("x"), StubConn("y")
    req = StubRequest("y")
    pool = StubPool([a, b], [req])
    assert pool._assign_requests_to_connections() == []
    assert req.conn is b and pool.conns == [a, b]


def test_new_connection_under_the_limit_then_replace_idle_then_queue() -> None:
    busy = StubConn("x", idle=False)
    spare = StubConn("y")
    r1, r2, r3 = StubRequest("z"), StubRequest("z"), StubRequest("z")
    pool = StubPool([busy, spare], [r1, r2, r3], limit=3)
    closing = pool._assign_requests_to_connections()
    # r1 opens a third connection; r2 finds the pool full and replaces the idle
    # connection to "y"; r3 waits (every connection is busy)
    assert r1.conn is not None and r1.conn.origin == "z"
    assert closing == [spare] and r2.conn is not None and r2.conn is not r1.conn
    assert r3.conn is None and len(pool.conns) == 3


def test_closed_dropped_and_expired_closed_on_a_sweep() -> None:
    dead, old, ok = StubConn("x", closed=True), StubConn("x", expired=True), StubConn("x")
    req = StubRequest("x")
    pool = StubPool([dead, old, ok], [req])
    closing = pool._assign_requests_to_connections()
    assert closing == [old] and pool.conns == [ok] and req.conn is ok


def test_between_sweeps_only_the_reused_connection_is_checked_and_never_if_dead() -> None:
    pool = StubPool([], [], limit=5, keepalive=5)
    pool._assign_requests_to_connections()  # the sweep of this second
    conns = [StubConn("x") for _ in range(4)]
    conns[0].expired = True  # e.g. the server closed it
    pool.conns[:] = conns
    req = StubRequest("x")
    pool.reqs.append(req)
    closing = pool._assign_requests_to_connections()
    assert closing == [conns[0]] and req.conn is conns[1]
    assert [c.expiry_checks for c in conns] == [1, 1, 0, 0]  # no poll of the others


def test_between_sweeps_a_plan_does_not_walk_the_pool() -> None:
    pool = StubPool([], [], limit=64, keepalive=64)
    pool._assign_requests_to_connections()  # the sweep of this second (and the first tidy)
    conns = [StubConn("x") for _ in range(64)]
    pool.conns[:] = conns
    req = StubRequest("x")
    pool.reqs.append(req)
    assert pool._assign_requests_to_connections() == [] and req.conn is conns[0]
    assert sum(c.queries for c in conns) <= 1  # (the chosen one's idle check)


def test_a_released_request_whose_connection_closed_has_it_dropped() -> None:
    pool = StubPool([], [], limit=8, keepalive=8)
    pool._assign_requests_to_connections()
    conns = [StubConn("x") for _ in range(3)]
    pool.conns[:] = conns
    req = StubRequest("x")
    pool.reqs.append(req)
    pool._assign_requests_to_connections()
    assert req.conn is conns[0]
    conns[0].closed = True  # e.g. the response said Connection: close
    pool.reqs.remove(req)
    pool._released(type("PR", (), {"connection": conns[0]})())
    pool._assign_requests_to_connections()
    assert pool.conns == conns[1:]


def test_surplus_idle_connections_are_closed() -> None:
    conns = [StubConn("x") for _ in range(4)]
    pool = StubPool(list(conns), [], limit=10, keepalive=2)
    closing = pool._assign_requests_to_connections()
    assert closing == conns[:2] and pool.conns == conns[2:]


def test_sweep_period_is_bounded() -> None:
    assert 0 < SWEEP_S <= 5.0


# ------------------------------------------------------------------ real sockets


class ClosingServer:
    """Answers one request per connection with a keep-alive response, then
    closes the socket (a server-side idle close)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(5.0)
            h = h11.Connection(h11.SERVER)
            while True:
                ev = h.next_event()
                if ev is h11.NEED_DATA:
                    h.receive_data(conn.recv(65536))
                    continue
                if isinstance(ev, h11.EndOfMessage):
                    break
            body = b'{"ok": true}'
            conn.sendall(h.send(h11.Response(status_code=200, headers=[
                ("content-type", "application/json"), ("content-length", str(len(body)))])))
            conn.sendall(h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage()))
            conn.close()
            self.closed.set()

    def stop(self) -> None:
        self.sock.close()
        self.thread.join(5.0)


def test_sync_pool_never_reuses_a_connection_the_server_closed() -> None:
    srv = ClosingServer()
    try:
        with LeanConnectionPool() as pool:
            url = f"http://127.0.0.1:{srv.port}/"
            ext = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}
            assert pool.request("GET", url, extensions=ext).status == 200
            assert srv.closed.wait(5.0)
            # bounded poll until the client side sees the close (FIN arrived)
            assert wait_until(lambda: all(c.has_expired() for c in pool.connections))
            assert pool.request("GET", url, extensions=ext).status == 200
            assert srv.accepted == 2
    finally:
        srv.stop()


def test_sync_pool_reuses_keep_alive_connections() -> None:
    with FakeProviderServer() as srv, LeanConnectionPool() as pool:
        ext = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}
        for _ in range(5):
            r = pool.request("GET", srv.url + "/v1/models", extensions=ext)
            assert r.status == 200
        assert len({rec.connection_id for rec in srv.requests}) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_pool_concurrent_requests_all_served_and_connections_reused(backend: str) -> None:
    with FakeProviderServer([{"delay": 0.05}]) as srv:
        ext = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}

        async def main() -> tuple[list[int], int]:
            statuses: list[int] = []
            async with LeanAsyncConnectionPool(max_connections=8,
                                               max_keepalive_connections=8) as pool:
                async def one() -> None:
                    r = await pool.request("GET", srv.url + "/v1/models", extensions=ext)
                    statuses.append(r.status)

                for _ in range(3):  # three waves of 20 concurrent requests
                    with anyio.fail_after(20):
                        async with anyio.create_task_group() as tg:
                            for _ in range(20):
                                tg.start_soon(one)
                return statuses, len(pool.connections)

        statuses, pooled = anyio.run(main, backend=backend)
        assert statuses == [200] * 60
        assert pooled <= 8  # never above max_connections; idle ones stay for reuse
        assert len({rec.connection_id for rec in srv.requests}) <= 8


def test_drivers_use_the_lean_pools() -> None:
    from adapters import create, create_async

    cfg = {"providers": {"p": {"connector": "openai.compatible.v1",
                               "base_url": "http://127.0.0.1:9/v1"}},
           "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
           "pools": {"chat": {"models": ["p.m"]}}}
    with create(config=cfg, seed=1) as client:
        assert isinstance(client._driver.pool, LeanConnectionPool)
        assert isinstance(client._driver.pool, httpcore.ConnectionPool)
    aclient = create_async(config=cfg, seed=1)
    assert isinstance(aclient._driver.pool, LeanAsyncConnectionPool)
    anyio.run(aclient.aclose)


# ------------------------------------------------------------------ fast locks


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fast_lock_excludes_under_contention(backend: str) -> None:
    from adapters.pool import FastLock

    lock = FastLock()
    inside: list[int] = []
    overlaps: list[int] = []

    async def worker(n: int) -> None:
        for _ in range(20):
            async with lock:
                if inside:
                    overlaps.append(n)
                inside.append(n)
                await anyio.sleep(0)  # let the others try to enter
                inside.remove(n)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(worker, n)

    anyio.run(main, backend=backend)
    assert overlaps == [] and inside == []


def test_fast_lock_does_not_yield_when_free() -> None:
    from adapters.pool import FastLock

    async def main() -> int:
        lock = FastLock()
        ticks = 0
        stop = anyio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await anyio.sleep(0)

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.sleep(0)
            before = ticks
            for _ in range(50):
                async with lock:
                    pass
            seen = ticks - before
            stop.set()
        return seen

    assert anyio.run(main) == 0  # 50 acquires, not one event-loop iteration


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_pool_uses_lean_connections(backend: str) -> None:
    from adapters.pool import FastLock, LeanAsyncHTTPConnection

    with FakeProviderServer() as srv:
        async def main() -> None:
            async with LeanAsyncConnectionPool() as pool:
                for _ in range(3):
                    resp = await pool.request("POST", srv.url + "/v1/chat/completions",
                                              content=b'{"model": "m", "messages": []}',
                                              headers=[("content-type", "application/json")])
                    assert resp.status == 200
                (conn,) = pool.connections
                assert isinstance(conn, LeanAsyncHTTPConnection)
                assert isinstance(conn._connection._state_lock, FastLock)  # type: ignore[union-attr]
                with pytest.raises(RuntimeError, match="Attempted to send request"):
                    await conn.handle_async_request(httpcore.Request("GET", "http://example.invalid/"))

        anyio.run(main, backend=backend)
    assert len(srv.requests) == 3
