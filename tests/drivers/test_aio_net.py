"""adapters.aio_net (asyncio network backend) and the coalescing stream
wrappers of adapters.http, against real loopback servers."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import struct
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpcore
import pytest

from adapters.aio_net import HIGH_WATER, AsyncioBackend, AsyncioStream, AutoBackend
from adapters.http import COALESCE_MAX, AsyncDeadlineBackend, DeadlineBackend

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(20):
            await main()
    asyncio.run(bounded())


async def serve(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> tuple[Any, int]:
    async def closing(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await handler(r, w)
        finally:
            w.transport.abort()  # the server side never outlives its test

    server = await asyncio.start_server(closing, "127.0.0.1", 0, ssl=ssl_ctx)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def until(cond: Callable[[], bool]) -> None:
    for _ in range(2000):  # bounded poll, ~10 s at most
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def test_reads_queued_data_in_pieces_then_eof() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"hello")
        await w.drain()
        w.write(b"world")
        await w.drain()
        w.close()

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert await stream.read(3, timeout=5) == b"hel"
            got = b""
            while True:
                piece = await stream.read(4, timeout=5)
                assert len(piece) <= 4
                if not piece:
                    break
                got += piece
            assert got == b"loworld"
            assert await stream.read(10, timeout=5) == b""  # end of file stays end of file
            assert stream.get_extra_info("is_readable") is True
            await stream.aclose()
    run(main)


def test_read_timeout_then_data_still_arrives() -> None:
    release = asyncio.Event()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await release.wait()
        w.write(b"late")
        await w.drain()
        w.close()

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert stream.get_extra_info("is_readable") is False  # idle, nothing sent
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(100, timeout=0.05)
            release.set()
            assert await stream.read(100, timeout=5) == b"late"
            await stream.aclose()
    run(main)


def test_reset_connection_is_read_error() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()  # RST instead of FIN

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            await stream.write(b"x" * 10, timeout=5)
            with pytest.raises(httpcore.ReadError):
                while await stream.read(100, timeout=5):
                    pass
            with pytest.raises(httpcore.WriteError):
                await stream.write(b"more", timeout=5)
            await stream.aclose()
    run(main)


def test_connect_refused_is_connect_error() -> None:
    async def main() -> None:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(httpcore.ConnectError):
            await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
    run(main)


def test_write_waits_for_the_peer_then_times_out() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)  # never reads

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            assert isinstance(stream, AsyncioStream)
            block = b"x" * (1 << 20)
            with pytest.raises(httpcore.WriteTimeout):
                for _ in range(512):  # at most 512 MiB; the socket buffers fill long before
                    await stream.write(block, timeout=0.2)
            await stream.aclose()
            server.close()
    run(main)


def test_reading_pauses_above_the_high_water_mark() -> None:
    total = 4 * HIGH_WATER

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"y" * total)
        await w.drain()
        w.close()

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            proto = stream._proto  # type: ignore[attr-defined]
            await until(lambda: proto.reading_paused)
            assert proto.queued <= HIGH_WATER + (1 << 18)  # at most one loop read past it
            got = 0
            while piece := await stream.read(65536, timeout=5):
                got += len(piece)
            assert got == total
            assert not proto.reading_paused
            await stream.aclose()
    run(main)


def test_cancelled_read_leaves_the_stream_usable() -> None:
    release = asyncio.Event()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await release.wait()
        w.write(b"after")
        await w.drain()

    async def main() -> None:
        server, port = await serve(handler)
        async with server:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            with anyio.move_on_after(0.05) as scope:
                await stream.read(100)
            assert scope.cancelled_caught
            release.set()
            assert await stream.read(100, timeout=5) == b"after"
            await stream.aclose()
    run(main)


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = tmp / "cert.pem"
    key_pem = tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_pem, key_pem)
    client_ctx = ssl.create_default_context(cafile=str(cert_pem))
    return server_ctx, client_ctx


def test_https_request_through_the_async_driver_backend() -> None:
    """TLS via the loop's start_tls, end to end through httpcore."""
    body = b'{"ok": true}'
    finished: list[bool] = []

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                await r.readuntil(b"\r\n\r\n")
                w.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body))
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()
            finished.append(True)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            server_ctx, client_ctx = _self_signed(Path(tmp))
            server, port = await serve(handler, server_ctx)
            async with server:
                pool = httpcore.AsyncConnectionPool(
                    ssl_context=client_ctx,
                    network_backend=AsyncDeadlineBackend(clock=asyncio.get_running_loop().time))
                async with pool:
                    for _ in range(3):  # the same TLS connection serves all three
                        resp = await pool.request("GET", f"https://localhost:{port}/x")
                        assert resp.status == 200 and resp.content == body
                    assert len(pool.connections) == 1
                    ssl_object = resp.extensions["network_stream"].get_extra_info("ssl_object")
                    assert ssl_object is not None and ssl_object.version().startswith("TLS")
                await until(lambda: bool(finished))  # the server saw the pool close it
    run(main)


def test_bad_certificate_is_connect_error() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read(100)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            server_ctx, _ = _self_signed(Path(tmp))
            server, port = await serve(handler, server_ctx)
            async with server:
                stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
                with pytest.raises(httpcore.ConnectError):
                    await stream.start_tls(ssl.create_default_context(), "localhost", timeout=5)
    run(main)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_auto_backend_picks_the_running_library(backend: str) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    async def main() -> str:
        stream = await AutoBackend().connect_tcp("127.0.0.1", port, timeout=5)
        try:
            return type(stream).__name__
        finally:
            await stream.aclose()

    try:
        name = anyio.run(main, backend=backend)
    finally:
        listener.close()
    assert name == ("AsyncioStream" if backend == "asyncio" else "TrioStream")


# ---------------------------------------------------------------- write coalescing


class _Recorder:
    def __init__(self) -> None:
        self.log: list[tuple[str, bytes]] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.log.append(("read", b""))
        return b"r"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.log.append(("write", buffer))

    def close(self) -> None:
        self.log.append(("close", b""))

    def get_extra_info(self, info: str) -> Any:
        return None


class _SyncInner(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.stream = _Recorder()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return self.stream  # type: ignore[return-value]


def test_writes_are_sent_together_at_the_first_read() -> None:
    inner = _SyncInner()
    stream = DeadlineBackend(inner=inner).connect_tcp("h", 1)
    stream.write(b"HEAD\r\n\r\n")
    stream.write(b"")
    stream.write(b"body")
    assert inner.stream.log == []  # nothing on the wire before the response is read
    assert stream.read(10) == b"r"
    assert inner.stream.log == [("write", b"HEAD\r\n\r\nbody"), ("read", b"")]
    stream.read(10)
    assert inner.stream.log[-1] == ("read", b"")  # nothing held: no empty write
    big = b"z" * COALESCE_MAX
    stream.write(b"a")
    stream.write(big)  # reaching the limit sends at once
    assert inner.stream.log[-1] == ("write", b"a" + big)
    stream.write(b"dropped")
    stream.close()
    assert inner.stream.log[-1] == ("close", b"")


def test_async_writes_are_sent_together_at_the_first_read() -> None:
    rec: list[tuple[str, bytes]] = []

    class Inner:
        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            rec.append(("read", b""))
            return b"r"

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            rec.append(("write", buffer))

        async def aclose(self) -> None:
            rec.append(("close", b""))

    class Backend(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                              local_address: str | None = None,
                              socket_options: Any = None) -> httpcore.AsyncNetworkStream:
            return Inner()  # type: ignore[return-value]

    async def main() -> None:
        stream = await AsyncDeadlineBackend(clock=lambda: 0.0, inner=Backend()).connect_tcp("h", 1)
        await stream.write(b"HEAD")
        await stream.write(b"body")
        assert rec == []
        await stream.read(5)
        assert rec == [("write", b"HEADbody"), ("read", b"")]
        await stream.write(b"x" * COALESCE_MAX)
        assert rec[-1] == ("write", b"x" * COALESCE_MAX)
        await stream.aclose()
        assert rec[-1] == ("close", b"")
    anyio.run(main)
