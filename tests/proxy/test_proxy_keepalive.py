"""The proxy's keep-alive idle timeout under hypercorn's asyncio server
(`adapters.proxy.keepalive`): the same closing behaviour as hypercorn's own
task per request, checked against the stock class in the same tests, and
nothing installed when hypercorn's internals differ."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import hypercorn.asyncio.tcp_server as tcp_server
import pytest
from hypercorn.asyncio import serve
from hypercorn.asyncio.worker_context import AsyncioSingleTask
from hypercorn.config import Config

from adapters.proxy import keepalive

KEEP_ALIVE = 1.0
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class _Stock(AsyncioSingleTask):
    """hypercorn's class under another name, so `install()` leaves it in place."""


@pytest.fixture(params=["lean", "stock"])
def idle_class(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "lean":
        assert keepalive.install() and keepalive.installed()
    else:
        monkeypatch.setattr(tcp_server, "AsyncioSingleTask", _Stock)
        assert keepalive.install() is False and not keepalive.installed()
    yield request.param


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/slow":  # busy for longer than the keep-alive timeout
        await asyncio.sleep(KEEP_ALIVE * 1.5)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _serve(test: Callable[[int, asyncio.Event], Awaitable[None]]) -> None:
    """Run hypercorn's asyncio server with `_app` and call `test(port, stop)`."""
    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]
        config.keep_alive_timeout = KEEP_ALIVE
        config.graceful_timeout = 20.0
        config.loglevel = "ERROR"
        stop = asyncio.Event()
        server = asyncio.create_task(serve(_app, config, shutdown_trigger=stop.wait))
        try:
            await asyncio.wait_for(test(port, stop), 30)
        finally:
            stop.set()
            await asyncio.wait_for(server, 30)

    asyncio.run(main())


def _request(conn: socket.socket, path: str = "/") -> bytes:
    conn.sendall(REQUEST.replace(b"/", path.encode(), 1))
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    return conn


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def test_an_idle_connection_closes_after_the_keep_alive_timeout(idle_class: str) -> None:
    async def test(port: int, stop: asyncio.Event) -> None:
        conn = _connect(port)
        try:
            assert (await _in_thread(_request, conn)).startswith(b"HTTP/1.1 200")
            t0 = time.monotonic()
            assert await _in_thread(conn.recv, 100) == b""  # the server closed it
            waited = time.monotonic() - t0
            assert KEEP_ALIVE * 0.8 <= waited <= KEEP_ALIVE + 3.0, waited
        finally:
            conn.close()

    _serve(test)


def test_activity_and_busy_requests_keep_a_connection_open(idle_class: str) -> None:
    """The timeout counts from the end of the last response; a request that runs
    longer than the timeout is not cut."""
    async def test(port: int, stop: asyncio.Event) -> None:
        conn = _connect(port)
        try:
            for _ in range(4):  # 0.4 timeouts apart: longer than one timeout in all
                assert (await _in_thread(_request, conn)).startswith(b"HTTP/1.1 200")
                await asyncio.sleep(KEEP_ALIVE * 0.4)
            assert (await _in_thread(_request, conn, "/slow")).startswith(b"HTTP/1.1 200")
            assert (await _in_thread(_request, conn)).startswith(b"HTTP/1.1 200")
        finally:
            conn.close()

    _serve(test)


def test_shutdown_closes_idle_connections_at_once(idle_class: str) -> None:
    """Graceful shutdown: idle connections close at once (not after the
    keep-alive or graceful timeout), a busy one after its response."""
    async def test(port: int, stop: asyncio.Event) -> None:
        idle = [_connect(port) for _ in range(3)]
        busy = _connect(port)
        try:
            for conn in idle:
                await _in_thread(_request, conn)
            slow = asyncio.ensure_future(_in_thread(_request, busy, "/slow"))
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            stop.set()
            for conn in idle:
                assert await _in_thread(conn.recv, 100) == b""
            assert time.monotonic() - t0 < KEEP_ALIVE * 0.8
            assert (await slow).startswith(b"HTTP/1.1 200")
            assert await _in_thread(busy.recv, 100) == b""
        finally:
            for conn in (*idle, busy):
                conn.close()

    _serve(test)


def test_a_client_closed_connection_ends_its_server_task() -> None:
    """The safe-side difference: no task is left waiting for the idle timeout."""
    assert keepalive.install()

    def connections() -> int:
        return sum(1 for t in asyncio.all_tasks()
                   if getattr(t.get_coro(), "__name__", "") == "_server_callback")

    async def test(port: int, stop: asyncio.Event) -> None:
        conn = _connect(port)
        await _in_thread(_request, conn)
        assert connections() == 1
        conn.close()
        t0 = time.monotonic()
        while connections() and time.monotonic() - t0 < KEEP_ALIVE / 2:
            await asyncio.sleep(0.01)  # bounded: the server notices the close in a few ms
        assert connections() == 0  # stock: the task stays until the keep-alive timeout
        # and no timer holds on to the closed connection until then
        assert not [c for conns in keepalive._CONNECTIONS.values() for c in conns
                    if c._timer is not None]

    _serve(test)


def test_install_leaves_unknown_internals_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tcp_server, "AsyncioSingleTask", _Stock)
    assert keepalive.install() is False
    assert tcp_server.AsyncioSingleTask is _Stock
    monkeypatch.setattr(tcp_server, "AsyncioSingleTask", AsyncioSingleTask)

    async def other_idle_timeout(self: Any) -> None:
        await asyncio.sleep(self.config.keep_alive_timeout)

    monkeypatch.setattr(tcp_server.TCPServer, "_idle_timeout", other_idle_timeout)
    assert keepalive.install() is False
    assert tcp_server.AsyncioSingleTask is AsyncioSingleTask
    assert not keepalive.installed()


def test_any_other_action_runs_as_hypercorn_runs_it() -> None:
    """`restart` with an action other than `TCPServer._idle_timeout` hands it
    to hypercorn's own class: it runs as a task and `stop` cancels it."""
    assert keepalive.install()
    seen: list[str] = []

    async def action() -> None:
        seen.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    class Group:
        def __init__(self, tg: asyncio.TaskGroup) -> None:
            self._task_group = tg

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            single = keepalive.LeanIdleTask()
            await single.restart(Group(tg), action)
            await asyncio.sleep(0.01)
            await single.stop()
        assert seen == ["started", "cancelled"]

    asyncio.run(main())
