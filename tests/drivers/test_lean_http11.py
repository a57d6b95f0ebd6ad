"""adapters.lean11: the lean HTTP/1.1 connections keep httpcore's behaviour.

Against real loopback servers (a scripted raw-socket server and the fake
provider), on the drivers' pools (sync; async on asyncio and trio):
keep-alive reuse, `Connection: close` from either side, early close,
protocol errors, timeouts, cancellation mid-body, byte-exact bodies, 1xx
responses, queued requests. Hypothesis compares the lean connections with
httpcore's own on random responses cut into random reads (same head, same
body pieces, same connection state, or the same exception), and the cached
header validation with h11's own."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import h11
import httpcore
import pytest
from _mesh_helpers import wait_until
from h11._headers import normalize_and_validate
from httpcore._async.http11 import AsyncHTTP11UpgradeStream
from httpcore._sync.http11 import HTTP11UpgradeStream
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.fake_provider import FakeProviderServer
from adapters.http import AsyncDeadlineBackend, DeadlineBackend, core_request
from adapters.lean11 import (
    H11_PREVALIDATED,
    LeanAsyncBody,
    LeanAsyncHTTP11Connection,
    LeanAsyncHTTPConnection,
    LeanBody,
    LeanHTTP11Connection,
    LeanHTTPConnection,
    LeanResponse,
    h11_headers,
)
from adapters.pool import LeanAsyncConnectionPool, LeanConnectionPool

BACKENDS = ["asyncio", "trio"]
EXT = {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}}
CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


# ------------------------------------------------------------------ a scripted server


@dataclass
class Reply:
    """The server's answer to one request: `pieces` sent one `sendall` each,
    then the connection is closed (`close`), or held open without another
    byte until the client closes it (`hold`), or kept alive."""

    pieces: list[bytes]
    close: bool = False
    hold: bool = False


def head(status: int = 200, headers: list[tuple[str, str]] | None = None,
         reason: str = "OK", version: str = "1.1") -> bytes:
    lines = [f"HTTP/{version} {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def ok(body: bytes = b"ok", extra: list[tuple[str, str]] | None = None) -> Reply:
    return Reply([head(200, [("Content-Length", str(len(body))), *(extra or [])]) + body])


CHUNKED = [("Transfer-Encoding", "chunked")]


@dataclass
class ScriptServer:
    """A loopback HTTP/1.1 server whose answers come from `respond(request,
    body)`. Every socket operation has a timeout; `stop()` ends it."""

    respond: Callable[[h11.Request, bytes], Reply]
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, target)
    accepted: int = 0
    client_closed: int = 0  # held connections the client closed

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self._spawn(self._accept)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self.threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                cid = self.accepted
            self._spawn(self._serve, conn, cid)

    def _serve(self, conn: socket.socket, cid: int) -> None:
        conn.settimeout(5.0)
        pending = b""
        try:
            with conn:
                while not self.stopping.is_set():
                    parser = h11.Connection(h11.SERVER)
                    if pending:  # (h11 reads an empty piece as end of file)
                        parser.receive_data(pending)
                    request: h11.Request | None = None
                    body = b""
                    while True:
                        event = parser.next_event()
                        if event is h11.NEED_DATA:
                            data = conn.recv(65536)
                            if not data:
                                return
                            parser.receive_data(data)
                        elif isinstance(event, h11.Request):
                            request = event
                        elif isinstance(event, h11.Data):
                            body += event.data
                        elif isinstance(event, h11.EndOfMessage):
                            break
                        else:  # the client closed the connection
                            return
                    pending = parser.trailing_data[0]
                    assert request is not None
                    with self.lock:
                        self.requests.append((cid, request.target))
                    reply = self.respond(request, body)
                    for piece in reply.pieces:
                        conn.sendall(piece)
                    if reply.hold:
                        self._hold(conn)
                        return
                    if reply.close:
                        return
        except (OSError, h11.ProtocolError):
            return

    def _hold(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        end = time.monotonic() + 10.0
        while not self.stopping.is_set() and time.monotonic() < end:
            try:
                if conn.recv(65536) == b"":
                    with self.lock:
                        self.client_closed += 1
                    return
            except TimeoutError:
                continue

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()
        for t in self.threads:
            t.join(5.0)

    def __enter__(self) -> ScriptServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def by_target(replies: dict[bytes, Reply]) -> Callable[[h11.Request, bytes], Reply]:
    return lambda request, _body: replies[request.target]


def sync_pool(**kwargs: Any) -> LeanConnectionPool:
    return LeanConnectionPool(network_backend=DeadlineBackend(), **kwargs)


def async_pool(**kwargs: Any) -> LeanAsyncConnectionPool:
    return LeanAsyncConnectionPool(network_backend=AsyncDeadlineBackend(clock=time.monotonic),
                                   **kwargs)


def get(url: str, timeout: float = 5.0, headers: list[tuple[str, str]] | None = None
        ) -> httpcore.Request:
    return core_request("GET", url, headers or [], b"", timeout)


def clean(pool: Any) -> bool:
    """No request left in the pool, no connection in use or half-read."""
    return not pool._requests and all(c.is_idle() for c in pool.connections)


# ------------------------------------------------------------------ keep-alive


def test_sync_keep_alive_reuses_one_connection_on_the_lean_path() -> None:
    with FakeProviderServer() as srv, sync_pool(keepalive_expiry=60.0) as pool:
        for _ in range(4):
            resp = pool.handle_request(core_request(
                "POST", srv.url + "/v1/chat/completions",
                [("content-type", "application/json")], CHAT, 5.0))
            assert type(resp) is LeanResponse and type(resp.stream) is LeanBody
            assert resp.extensions["http_version"] == b"HTTP/1.1"
            assert resp.extensions["reason_phrase"] == b""  # (the fake provider sends none)
            (conn,) = pool.connections
            assert isinstance(conn, LeanHTTPConnection)
            inner = conn._connection
            assert type(inner) is LeanHTTP11Connection
            assert resp.extensions["network_stream"] is inner._network_stream
            assert not conn.is_available()  # busy until the response is closed
            body = b"".join(resp.iter_stream())
            resp.close()
            assert resp.status == 200 and json.loads(body)["object"] == "chat.completion"
            assert conn.is_idle() and conn.is_available() and not conn.has_expired()
        assert inner._request_count == 4 and inner._expire_at is not None
        assert clean(pool)
    assert len({rec.connection_id for rec in srv.requests}) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_keep_alive_reuses_one_connection_on_the_lean_path(backend: str) -> None:
    with FakeProviderServer() as srv:
        async def main() -> None:
            async with async_pool() as pool:
                for _ in range(4):
                    resp = await pool.handle_async_request(core_request(
                        "POST", srv.url + "/v1/chat/completions",
                        [("content-type", "application/json")], CHAT, 5.0))
                    assert type(resp) is LeanResponse and type(resp.stream) is LeanAsyncBody
                    assert resp.extensions["http_version"] == b"HTTP/1.1"
                    (conn,) = pool.connections
                    assert isinstance(conn, LeanAsyncHTTPConnection)
                    assert type(conn._connection) is LeanAsyncHTTP11Connection
                    assert resp.extensions["network_stream"] is conn._connection._network_stream
                    body = b"".join([p async for p in resp.aiter_stream()])
                    await resp.aclose()
                    assert json.loads(body)["object"] == "chat.completion"
                    assert conn.is_idle() and conn.is_available()
                assert clean(pool)

        anyio.run(main, backend=backend)
    assert len({rec.connection_id for rec in srv.requests}) == 1


# ------------------------------------------------------------------ Connection: close


CLOSING = {
    b"/server-close": Reply([head(200, [("Content-Length", "2"), ("Connection", "close")])
                             + b"ok"], close=True),
    b"/http10": Reply([head(200, [("Content-Length", "2")], version="1.0") + b"ok"], close=True),
    b"/until-eof": Reply([head(200, []) + b"read to the end"], close=True),
    b"/ok": ok(),
}


@pytest.mark.parametrize("path", ["/server-close", "/http10", "/until-eof", "client"])
def test_sync_connection_close_from_either_side_is_never_reused(path: str) -> None:
    with ScriptServer(by_target(CLOSING)) as srv, sync_pool() as pool:
        for _ in range(2):
            if path == "client":
                req = get(srv.url("/ok"), headers=[("Connection", "close")])
            else:
                req = get(srv.url(path))
            resp = pool.handle_request(req)
            (conn,) = pool.connections
            body = b"".join(resp.iter_stream())
            resp.close()
            assert body in (b"ok", b"read to the end")
            assert conn.is_closed() and pool.connections == [] and clean(pool)
        assert srv.accepted == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", ["/server-close", "/http10", "/until-eof", "client"])
def test_async_connection_close_from_either_side_is_never_reused(backend: str, path: str) -> None:
    with ScriptServer(by_target(CLOSING)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                for _ in range(2):
                    if path == "client":
                        req = get(srv.url("/ok"), headers=[("Connection", "close")])
                    else:
                        req = get(srv.url(path))
                    resp = await pool.handle_async_request(req)
                    (conn,) = pool.connections
                    assert await resp.aread() in (b"ok", b"read to the end")
                    await resp.aclose()
                    assert conn.is_closed() and pool.connections == [] and clean(pool)

        anyio.run(main, backend=backend)
        assert srv.accepted == 2


# ------------------------------------------------------------------ early close


HELD = {
    b"/held": Reply([head(200, CHUNKED) + chunk(b"first")], hold=True),
    b"/held-head": Reply([], hold=True),
    b"/ok": ok(),
}


def test_sync_early_close_mid_body_closes_the_connection() -> None:
    with ScriptServer(by_target(HELD)) as srv, sync_pool() as pool:
        resp = pool.handle_request(get(srv.url("/held")))
        (conn,) = pool.connections
        pieces = resp.iter_stream()
        assert next(pieces) == b"first"
        resp.close()
        assert conn.is_closed() and pool.connections == [] and clean(pool)
        assert wait_until(lambda: srv.client_closed == 1)
        again = pool.request("GET", srv.url("/ok"), extensions=EXT)
        assert again.status == 200 and again.content == b"ok"
        assert srv.accepted == 2 and clean(pool)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_early_close_mid_body_closes_the_connection(backend: str) -> None:
    with ScriptServer(by_target(HELD)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                resp = await pool.handle_async_request(get(srv.url("/held")))
                (conn,) = pool.connections
                pieces = resp.aiter_stream()
                assert await pieces.__anext__() == b"first"
                await pieces.aclose()  # the driver's order: the pieces, then the response
                await resp.aclose()
                assert conn.is_closed() and pool.connections == [] and clean(pool)
                again = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                assert again.content == b"ok" and clean(pool)

        anyio.run(main, backend=backend)
        assert wait_until(lambda: srv.client_closed == 1)
        assert srv.accepted == 2


# ------------------------------------------------------------------ cancellation


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_cancel_mid_body_leaves_no_half_read_connection(backend: str) -> None:
    with ScriptServer(by_target(HELD)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                resp = await pool.handle_async_request(get(srv.url("/held")))
                (conn,) = pool.connections
                pieces = resp.aiter_stream()
                with anyio.CancelScope() as scope:
                    assert await pieces.__anext__() == b"first"
                    scope.cancel()
                    await pieces.__anext__()  # cancelled in its read
                    raise AssertionError("the read was not cancelled")
                assert scope.cancelled_caught
                # (before any cleanup by the caller: the body closed itself)
                assert conn.is_closed() and pool.connections == [] and clean(pool)
                with anyio.CancelScope(shield=True):  # the driver's cleanup: no-ops now
                    await pieces.aclose()
                    await resp.aclose()
                again = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                assert again.content == b"ok" and clean(pool)

        anyio.run(main, backend=backend)
        assert wait_until(lambda: srv.client_closed == 1)
        assert srv.accepted == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_cancel_while_waiting_for_the_head(backend: str) -> None:
    with ScriptServer(by_target(HELD)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as tg:
                        async def cancel_once_sent() -> None:
                            for _ in range(1000):  # bounded poll: the server has the request
                                if srv.requests:
                                    break
                                await anyio.sleep(0.005)
                            scope.cancel()
                        tg.start_soon(cancel_once_sent)
                        await pool.handle_async_request(get(srv.url("/held-head")))
                        raise AssertionError("the request was not cancelled")
                assert scope.cancelled_caught
                assert pool.connections == [] and clean(pool)
                again = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                assert again.content == b"ok" and clean(pool)

        anyio.run(main, backend=backend)
        assert wait_until(lambda: srv.client_closed == 1)
        assert srv.accepted == 2


# ------------------------------------------------------------------ errors and timeouts


ERRORS = {
    b"/garbage": Reply([b"this is not HTTP\r\n\r\n"], close=True),
    b"/silent": Reply([], close=True),
    b"/bad-chunk": Reply([head(200, CHUNKED) + chunk(b"first") + b"zz\r\n"], hold=True),
    b"/short": Reply([head(200, [("Content-Length", "100")]) + b"only this"], close=True),
    **HELD,
}


def _expect_sync(pool: LeanConnectionPool, url: str, exc: type[Exception], timeout: float,
                 match: str | None = None) -> list[bytes]:
    """Request `url`, read its body; the error must come, from the request or
    the body, and leave the pool clean with no connection."""
    got: list[bytes] = []
    with pytest.raises(exc, match=match):
        resp = pool.handle_request(get(url, timeout))
        try:
            got.extend(resp.iter_stream())
        finally:
            resp.close()
    assert pool.connections == [] and clean(pool)
    return got


@pytest.mark.parametrize(("path", "exc", "match"), [
    ("/garbage", httpcore.RemoteProtocolError, None),
    ("/silent", httpcore.RemoteProtocolError, "Server disconnected without sending a response"),
    ("/bad-chunk", httpcore.RemoteProtocolError, None),
    ("/short", httpcore.RemoteProtocolError, None),
    ("/held-head", httpcore.ReadTimeout, None),
    ("/held", httpcore.ReadTimeout, None),
])
def test_sync_errors_map_like_httpcore_and_close_the_connection(
        path: str, exc: type[Exception], match: str | None) -> None:
    with ScriptServer(by_target(ERRORS)) as srv, sync_pool() as pool:
        got = _expect_sync(pool, srv.url(path), exc, 0.3, match)
        assert got == ([b"first"] if path in ("/held", "/bad-chunk") else
                       [b"only this"] if path == "/short" else [])
        assert pool.request("GET", srv.url("/ok"), extensions=EXT).content == b"ok"
        assert srv.accepted == 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("path", "exc"), [
    ("/garbage", httpcore.RemoteProtocolError),
    ("/silent", httpcore.RemoteProtocolError),
    ("/bad-chunk", httpcore.RemoteProtocolError),
    ("/held-head", httpcore.ReadTimeout),
    ("/held", httpcore.ReadTimeout),
])
def test_async_errors_map_like_httpcore_and_close_the_connection(
        backend: str, path: str, exc: type[Exception]) -> None:
    with ScriptServer(by_target(ERRORS)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                with pytest.raises(exc):
                    resp = await pool.handle_async_request(get(srv.url(path), 0.3))
                    try:
                        async for _ in resp.aiter_stream():
                            pass
                    finally:
                        await resp.aclose()
                assert pool.connections == [] and clean(pool)
                again = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                assert again.content == b"ok"

        anyio.run(main, backend=backend)
        assert srv.accepted == 2


def test_invalid_request_header_is_a_local_protocol_error() -> None:
    with ScriptServer(by_target(CLOSING)) as srv, sync_pool() as pool:
        with pytest.raises(httpcore.LocalProtocolError):
            pool.handle_request(get(srv.url("/ok"), headers=[("X-Bad", "a\r\nb")]))
        assert pool.connections == [] and clean(pool)
        assert pool.request("GET", srv.url("/ok"), extensions=EXT).content == b"ok"


# ------------------------------------------------------------------ bodies


_RNG = random.Random(7)
_BIG = _RNG.randbytes(200_000)  # several reads of 64 KiB
_PARTS = [_RNG.randbytes(n) for n in (1, 17, 70_000, 3, 0x1000)]
BODIES = {
    b"/length": ok(_BIG),
    b"/chunked": Reply([head(200, CHUNKED), *[chunk(p) for p in _PARTS], b"0\r\n\r\n"]),
    b"/informational": Reply([b"HTTP/1.1 100 Continue\r\n\r\n",
                              b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                              + head(201, [("Content-Length", "2"), ("X-Tag", "t")],
                                     reason="Created") + b"ok"]),
}


def test_sync_bodies_are_byte_exact_and_1xx_is_skipped() -> None:
    with ScriptServer(by_target(BODIES)) as srv, sync_pool() as pool:
        for _ in range(2):
            assert pool.request("GET", srv.url("/length"), extensions=EXT).content == _BIG
            resp = pool.handle_request(get(srv.url("/chunked")))
            pieces = list(resp.iter_stream())
            resp.close()
            assert b"".join(pieces) == b"".join(_PARTS) and len(pieces) >= len(_PARTS)
            resp = pool.request("GET", srv.url("/informational"), extensions=EXT)
            assert (resp.status, resp.content) == (201, b"ok")
            assert resp.extensions["reason_phrase"] == b"Created"
            assert (b"X-Tag", b"t") in resp.headers
        assert srv.accepted == 1 and clean(pool)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_bodies_are_byte_exact_and_1xx_is_skipped(backend: str) -> None:
    with ScriptServer(by_target(BODIES)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                for _ in range(2):
                    resp = await pool.request("GET", srv.url("/length"), extensions=EXT)
                    assert resp.content == _BIG
                    resp = await pool.request("GET", srv.url("/chunked"), extensions=EXT)
                    assert resp.content == b"".join(_PARTS)
                    resp = await pool.request("GET", srv.url("/informational"), extensions=EXT)
                    assert (resp.status, resp.content) == (201, b"ok")
                assert clean(pool)

        anyio.run(main, backend=backend)
        assert srv.accepted == 1


def test_responses_iterate_once() -> None:
    with ScriptServer(by_target(BODIES)) as srv, sync_pool() as pool:
        resp = pool.handle_request(get(srv.url("/length")))
        assert b"".join(resp.iter_stream()) == _BIG
        with pytest.raises(RuntimeError, match="more than once"):
            list(resp.iter_stream())
        resp.close()

        async def main() -> None:
            async with async_pool() as apool:
                resp = await apool.handle_async_request(get(srv.url("/length")))
                assert await resp.aread() == _BIG
                with pytest.raises(RuntimeError, match="more than once"):
                    async for _ in resp.aiter_stream():
                        pass
                await resp.aclose()

        anyio.run(main)


# ------------------------------------------------------------------ the pool's queue


def test_sync_request_waits_for_the_busy_connection_then_reuses_it() -> None:
    with ScriptServer(by_target(CLOSING)) as srv, sync_pool(max_connections=1) as pool:
        first = pool.handle_request(get(srv.url("/ok")))
        results: list[Any] = []
        waiter = threading.Thread(target=lambda: results.append(
            pool.request("GET", srv.url("/ok"), extensions=EXT).content))
        waiter.start()
        assert wait_until(lambda: len(pool._requests) == 2 and pool._requests[1].is_queued())
        with pytest.raises(httpcore.PoolTimeout):  # a third one gives up after its pool timeout
            pool.handle_request(get(srv.url("/ok"), timeout=0.05))
        assert first.read() == b"ok"
        first.close()
        waiter.join(5.0)
        assert results == [b"ok"] and clean(pool) and srv.accepted == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_request_waits_for_the_busy_connection_then_reuses_it(backend: str) -> None:
    with ScriptServer(by_target(CLOSING)) as srv:
        async def main() -> None:
            async with async_pool(max_connections=1) as pool:
                first = await pool.handle_async_request(get(srv.url("/ok")))
                results: list[bytes] = []

                async def second() -> None:
                    resp = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                    results.append(resp.content)

                async with anyio.create_task_group() as tg:
                    tg.start_soon(second)
                    for _ in range(1000):
                        if len(pool._requests) == 2:
                            break
                        await anyio.sleep(0.005)
                    assert pool._requests[1].is_queued()
                    with pytest.raises(httpcore.PoolTimeout):
                        await pool.handle_async_request(get(srv.url("/ok"), timeout=0.05))
                    assert await first.aread() == b"ok"
                    await first.aclose()
                assert results == [b"ok"] and clean(pool)

        anyio.run(main, backend=backend)
        assert srv.accepted == 1


# ------------------------------------------------------------------ httpcore's traced path


def test_trace_extension_takes_httpcore_path_and_the_connection_stays_lean() -> None:
    seen: list[str] = []
    with ScriptServer(by_target(CLOSING)) as srv, sync_pool() as pool:
        req = get(srv.url("/ok"))
        req.extensions["trace"] = lambda name, info: seen.append(name)
        resp = pool.handle_request(req)
        assert type(resp) is not LeanResponse  # httpcore's response and pool stream
        assert resp.read() == b"ok"
        resp.close()
        assert "http11.send_request_headers.started" in seen
        assert "http11.response_closed.complete" in seen
        assert pool.request("GET", srv.url("/ok"), extensions=EXT).content == b"ok"
        assert srv.accepted == 1 and clean(pool)


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_trace_extension_takes_httpcore_path(backend: str) -> None:
    seen: list[str] = []

    async def trace(name: str, info: dict[str, Any]) -> None:
        seen.append(name)

    with ScriptServer(by_target(CLOSING)) as srv:
        async def main() -> None:
            async with async_pool() as pool:
                req = get(srv.url("/ok"))
                req.extensions["trace"] = trace
                resp = await pool.handle_async_request(req)
                assert type(resp) is not LeanResponse
                assert await resp.aread() == b"ok"
                await resp.aclose()
                again = await pool.request("GET", srv.url("/ok"), extensions=EXT)
                assert again.content == b"ok" and clean(pool)

        anyio.run(main, backend=backend)
        assert "http11.receive_response_body.complete" in seen
        assert srv.accepted == 1


# ------------------------------------------------------------------ h11 header validation


_NAMES = st.sampled_from(["Host", "X-A", "Content-Length", "content-length", "Transfer-Encoding",
                          "Connection", "Bad Name", "", "X-\u00e9", "Accept"])
_VALUES = st.sampled_from(["1", "5", " 7 ", "5, 5", "5,6", "abc", "chunked", "Chunked", "gzip",
                           "close", "a\nb", "", "x" * 30, "1" * 25, "\u00e9", " lead"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=6), st.booleans())
def test_cached_header_validation_equals_h11s(pairs: list[tuple[str, str]], as_bytes: bool) -> None:
    headers: list[Any] = ([(n.encode("utf-8"), v.encode("utf-8")) for n, v in pairs]
                          if as_bytes else pairs)

    def verdict(fn: Callable[[list[Any]], Any]) -> Any:
        try:
            return fn(headers)._full_items
        except Exception as exc:
            return type(exc), str(exc)

    expected = verdict(normalize_and_validate)
    assert verdict(h11_headers) == expected
    assert verdict(h11_headers) == expected  # the second time from the cache
    assert verdict(lambda hs: h11_headers([list(p) for p in hs])) == expected  # unhashable


def test_cached_header_validation_is_on_for_the_h11_it_was_checked_against() -> None:
    # a tripwire: on another h11 the lean path validates every header again
    # (correct, slower); re-check h11_headers against that h11, then widen the guard
    assert H11_PREVALIDATED, f"h11 {h11.__version__} is not 0.16: see adapters.lean11"


def test_without_the_cached_validation_h11_validates_every_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import adapters.lean11

    monkeypatch.setattr(adapters.lean11, "H11_PREVALIDATED", False)  # (another h11)
    with ScriptServer(by_target(CLOSING)) as srv, sync_pool() as pool:
        for _ in range(2):
            assert pool.request("GET", srv.url("/ok"), extensions=EXT).content == b"ok"
        with pytest.raises(httpcore.LocalProtocolError):
            pool.handle_request(get(srv.url("/ok"), headers=[("X-Bad", "a\r\nb")]))
        assert clean(pool) and srv.accepted == 1


# ------------------------------------------------------------------ lean vs httpcore


_END = object()  # in a read script: the read times out


class Script(httpcore.NetworkStream):
    """A network stream that answers reads from a script (then end of file,
    or a read timeout), records writes, and may fail them."""

    def __init__(self, reads: list[Any], fail_writes: bool) -> None:
        self.reads = list(reads)
        self.fail_writes = fail_writes
        self.written: list[bytes] = []
        self.closed = False
        self.eof = False  # a read gave end of file

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.reads:
            self.eof = True
            return b""
        piece = self.reads.pop(0)
        if piece is _END:
            raise httpcore.ReadTimeout("scripted timeout")
        if len(piece) > max_bytes:
            self.reads.insert(0, piece[max_bytes:])
            piece = piece[:max_bytes]
        assert isinstance(piece, bytes)
        return piece

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self.fail_writes:
            raise httpcore.WriteError("scripted write failure")
        self.written.append(bytes(buffer))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, info: str) -> Any:
        return None


class AsyncScript(httpcore.AsyncNetworkStream):
    def __init__(self, reads: list[Any], fail_writes: bool) -> None:
        self.sync = Script(reads, fail_writes)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await anyio.lowlevel.checkpoint()
        return self.sync.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.sync.write(buffer, timeout)

    async def aclose(self) -> None:
        self.sync.close()


ORIGIN = httpcore.Origin(b"http", b"example.test", 80)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 2))):  # (101 ends the exchange: an upgrade)
        out += b"HTTP/1.1 %d Info\r\nX-I: 1\r\n\r\n" % draw(st.sampled_from([100, 101, 103]))
    status = draw(st.sampled_from([200, 201, 204, 304, 404, 429, 500]) | st.integers(200, 599))
    reason = draw(st.sampled_from(["OK", "", "Some Reason"]))
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"]))
    headers = draw(st.lists(st.tuples(st.sampled_from(["X-A", "x-b", "Server", "Set-Cookie"]),
                                      st.text("abc ;=/", max_size=8).map(str.strip)),
                            max_size=3))
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["length", "chunked", "eof", "short", "long",
                                    "bad-chunk", "bad-length"]))
    if draw(st.booleans()):
        headers.append(("Connection", draw(st.sampled_from(["close", "keep-alive"]))))
    payload = body
    if framing in ("length", "short", "long"):
        extra = {"length": 0, "short": 5, "long": -1}[framing]
        headers.append(("Content-Length", str(max(0, len(body) + extra))))
    elif framing == "bad-length":
        headers.append(("Content-Length", "1x"))
    elif framing in ("chunked", "bad-chunk"):
        headers.append(("Transfer-Encoding", "chunked"))
        sizes = draw(st.lists(st.integers(1, 50), max_size=6))
        payload, pos = b"", 0
        for n in sizes:
            payload += chunk(body[pos:pos + n])
            pos += n
        payload += chunk(body[pos:]) if body[pos:] else b""
        payload += b"zz\r\n" if framing == "bad-chunk" else b"0\r\n\r\n"
    out += head(status, headers, reason, version) + payload
    if draw(st.booleans()):  # a byte flipped anywhere (mostly a protocol error)
        pos = draw(st.integers(0, len(out) - 1))
        out = out[:pos] + bytes([draw(st.integers(0, 255))]) + out[pos + 1:]
    return out


@st.composite
def exchanges(draw: st.DrawFn) -> dict[str, Any]:
    first = draw(responses())
    data = first + draw(st.sampled_from([b""]) | responses())  # then a second one
    # (the second response comes in reads of its own: a server answers a
    # request once it has it, and the lean connection does not reuse one
    # whose first response arrived with bytes after it)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))) | {len(first)})
    reads: list[Any] = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    reads = [r for r in reads if r]
    if draw(st.booleans()):
        reads.append(_END)
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "CONNECT"]))
    req_headers = [("Host", "example.test")]
    extra = draw(st.sampled_from([None, ("Connection", "close"), ("X-Ok", "1"),
                                  ("X-Bad", "a\nb"), ("Content-Length", "3"),
                                  ("Upgrade", "websocket")]))
    if extra is not None:
        req_headers.append(extra)
    return {"reads": reads, "method": method, "headers": req_headers,
            "body": draw(st.binary(max_size=20)) if method == "POST" else None,
            "stop_after": draw(st.none() | st.integers(0, 3)),
            "fail_writes": draw(st.integers(0, 9)) == 0}


def _request(ex: dict[str, Any]) -> httpcore.Request:
    headers = list(ex["headers"])
    if ex["body"] is not None and ("Content-Length", "3") not in headers:
        headers.append(("Content-Length", str(len(ex["body"]))))
    return httpcore.Request(ex["method"], "http://example.test/x", headers=headers,
                            content=ex["body"], extensions=EXT)


def _message(exc: Exception) -> str:
    """An error's message where both readers must agree on it; a malformed
    response is reported in each parser's own words (h11's or llhttp's)."""
    return "" if isinstance(exc, httpcore.RemoteProtocolError) else str(exc)


def _httpcore_only(ex: dict[str, Any]) -> bool:
    """Requests the lean connections hand to httpcore's own path."""
    return ex["method"] in ("HEAD", "CONNECT") or ("Upgrade", "websocket") in ex["headers"]


def _ended_at_eof(out: list[Any], stream: Script, conn: Any) -> bool:
    """After a response that ended at end of file, h11 (httpcore) leaves the
    connection idle although nothing more can come; the lean connection
    closes it. Both are recorded alike, and the run stops there."""
    if not (stream.eof and out and not isinstance(out[-1][0], type)):
        return False
    out.append(("ended at end of file", conn.is_idle() or conn.is_closed(),
                b"".join(stream.written)))
    return True


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# a status line of a version other than HTTP/1.x (h11 takes any digit.digit)
_NOT_HTTP1 = re.compile(rb"(?:^|\n)HTTP/(?!1\.)[0-9]\.[0-9] ")


def _llhttp_stricter(ex: dict[str, Any]) -> bool:
    """Responses llhttp may refuse where h11 lets them through: control bytes,
    or a status line of HTTP/0.x or 2.x and up (found by Hypothesis:
    `HTTP/0.1 200 OK`)."""
    data = b"".join(r for r in ex["reads"] if isinstance(r, bytes))
    return bool(_CONTROL.search(data) or _NOT_HTTP1.search(data))


_HTTPCORE_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException)


def assert_answers_alike(lean: list[Any], ref: list[Any], ctl: bool = False) -> None:
    """The same record, except: where httpcore leaves a connection idle whose
    next exchange then fails or does not happen (bytes followed the response), the lean
    connection closes it at once, and the record ends there; and where
    httpcore fails on malformed bytes later or otherwise (h11 waits for a
    whole head before judging it), the lean connection may fail with a
    protocol error; and with `ctl` (`_llhttp_stricter`: control bytes or a
    status line that is not HTTP/1.x), llhttp may refuse what h11 lets
    through."""
    for i, (a, b) in enumerate(zip(lean, ref, strict=False)):
        if a == b:
            continue
        if (isinstance(a[0], type) and isinstance(b[0], type)
                and issubclass(a[0], httpcore.RemoteProtocolError)
                and issubclass(b[0], _HTTPCORE_ERRORS)):
            continue  # llhttp found the bytes malformed before h11 (which waited for more)
        if (ctl and isinstance(a[0], type) and issubclass(a[0], httpcore.RemoteProtocolError)
                and not isinstance(b[0], type)):
            return  # bytes that llhttp refuses and h11 lets through (both close)
        closed_early = (
            len(a) == 3 and isinstance(a[0], tuple) and a[0][1] and b[0][0] and a[2] == b[2]
            and (i + 1 == len(ref)  # (the last exchange of the run)
                 or (isinstance(ref[i + 1][0], type)
                 and issubclass(ref[i + 1][0], _HTTPCORE_ERRORS))))
        assert closed_early, (i, lean, ref)
        assert len(lean) == i + 1
        return
    assert len(lean) == len(ref), (lean, ref)


def _state(conn: Any) -> tuple[bool, bool, bool, int]:
    return conn.is_idle(), conn.is_closed(), conn.is_available(), conn._request_count


def run_sync(cls: type[httpcore.HTTP11Connection], ex: dict[str, Any]) -> list[Any]:
    stream = Script(ex["reads"], ex["fail_writes"])
    conn = cls(origin=ORIGIN, stream=stream, keepalive_expiry=60.0)
    out: list[Any] = []
    for _ in range(2):  # a second exchange on the connection when it is idle again
        try:
            resp = conn.handle_request(_request(ex))
            assert (type(resp) is LeanResponse) == (cls is LeanHTTP11Connection
                                                     and not _httpcore_only(ex))
            pieces = []
            for piece in resp.iter_stream():
                pieces.append(piece)
                if ex["stop_after"] is not None and len(pieces) > ex["stop_after"]:
                    break
            resp.close()
            network = resp.extensions["network_stream"]
            out.append((resp.status, resp.headers, resp.extensions["http_version"],
                        resp.extensions["reason_phrase"], pieces, type(network).__name__,
                        network.read(1 << 20) if isinstance(network, HTTP11UpgradeStream)
                        else None))  # (an upgrade's stream gives what followed the head)
        except Exception as exc:
            out.append((type(exc), _message(exc)))
        if _ended_at_eof(out, stream, conn):
            break
        out.append((_state(conn), stream.closed, b"".join(stream.written)))
        if not conn.is_idle():
            break
    return out


async def run_async(cls: type[httpcore.AsyncHTTP11Connection], ex: dict[str, Any]) -> list[Any]:
    stream = AsyncScript(ex["reads"], ex["fail_writes"])
    conn = cls(origin=ORIGIN, stream=stream, keepalive_expiry=60.0)
    out: list[Any] = []
    for _ in range(2):
        try:
            resp = await conn.handle_async_request(_request(ex))
            assert (type(resp) is LeanResponse) == (cls is LeanAsyncHTTP11Connection
                                                     and not _httpcore_only(ex))
            pieces = []
            async with aclosing(resp.aiter_stream()) as body:  # (as the driver closes it)
                async for piece in body:
                    pieces.append(piece)
                    if ex["stop_after"] is not None and len(pieces) > ex["stop_after"]:
                        break
            await resp.aclose()
            network = resp.extensions["network_stream"]
            out.append((resp.status, resp.headers, resp.extensions["http_version"],
                        resp.extensions["reason_phrase"], pieces, type(network).__name__,
                        await network.read(1 << 20)
                        if isinstance(network, AsyncHTTP11UpgradeStream) else None))
        except Exception as exc:
            out.append((type(exc), _message(exc)))
        if _ended_at_eof(out, stream.sync, conn):
            break
        out.append((_state(conn), stream.sync.closed, b"".join(stream.sync.written)))
        if not conn.is_idle():
            break
    return out


@settings(max_examples=300, deadline=None)
@given(exchanges())
def test_lean_connection_answers_like_httpcores(ex: dict[str, Any]) -> None:
    assert_answers_alike(run_sync(LeanHTTP11Connection, ex),
                         run_sync(httpcore.HTTP11Connection, ex), _llhttp_stricter(ex))


# httpcore's own bodies are nested async generators; closing the outer one
# early leaves the inner two to the garbage collector, which trio reports
# (the lean body is one generator, closed by its caller: no such report)
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object "
    "(HTTP11ConnectionByteStream|AsyncHTTP11Connection|Response|ByteStream)[.]:"
    "pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(ex=exchanges())
def test_lean_async_connection_answers_like_httpcores(backend: str, ex: dict[str, Any]) -> None:
    async def both() -> tuple[list[Any], list[Any]]:
        return (await run_async(LeanAsyncHTTP11Connection, ex),
                await run_async(httpcore.AsyncHTTP11Connection, ex))

    lean, reference = anyio.run(both, backend=backend)
    assert_answers_alike(lean, reference, _llhttp_stricter(ex))
