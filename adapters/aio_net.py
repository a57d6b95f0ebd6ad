"""httpcore network backends without the anyio stream layer (async driver).

httpcore's default async backend goes through anyio's byte streams. On
asyncio every read and write there opens an anyio cancel scope for its
timeout (`fail_after`), and every `send()` plus every `receive()` that finds
data already buffered yields one full event-loop iteration (anyio's
checkpoint). A plain request costs several such iterations; on a loopback
provider they were most of the async driver's extra time over the sync one.

`AsyncioStream` talks to asyncio (or uvloop) directly through a small
`asyncio.Protocol`:

- incoming data is queued by the protocol as the loop delivers it; `read()`
  returns queued data at once and waits on a future only when nothing is
  queued. Its timeout is a `call_later` handle that fails that future; no
  cancel scope, no extra loop iteration;
- `write()` hands the bytes to the transport and waits only while the
  transport has asked the protocol to pause writing (flow control);
- reading is paused while more than `HIGH_WATER` bytes are queued;
- end of file reads as `b""`, a connection lost with an error (a reset)
  raises `httpcore.ReadError`, a timeout `httpcore.ReadTimeout` /
  `WriteTimeout` / `ConnectTimeout`, exactly as httpcore's own backends map
  them; TLS is the loop's native `start_tls`.

Cancellation is asyncio's: anyio's cancel scopes (the drivers' attempt
bounds) cancel the task, which cancels the future a read or write waits on.
The stream's `get_extra_info("socket")` is the transport's socket, so the
drivers' read interrupt (`interrupt_read`, a shutdown of a duplicate file
descriptor) ends a pending read as before.

`AutoBackend` picks per connection: `AsyncioBackend` under asyncio, httpcore's
own trio backend under trio (trio's sockets need no adapter), so one driver
still runs unchanged on both.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import typing

import httpcore
from httpcore._utils import is_socket_readable

__all__ = ["HIGH_WATER", "AsyncioBackend", "AsyncioStream", "AutoBackend"]

HIGH_WATER = 256 * 1024  # queued bytes above which the transport stops reading
_LOW_WATER = HIGH_WATER // 4


class _Timeout(Exception):
    """A read or write outlived its timeout (mapped to httpcore's classes)."""


def _expire(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_exception(_Timeout())


class _Protocol(asyncio.Protocol):
    """Queues what the loop delivers; wakes the one waiting reader/writer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.queued = 0
        self.eof = False
        self.error: BaseException | None = None
        self.lost = False
        self.reading_paused = False
        self.writing_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake_reader()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` of the queued data (the queue is not empty)."""
        chunks = self.chunks
        first = chunks[0]
        if len(first) <= max_bytes and len(chunks) == 1:
            chunks.clear()
            data = first
        else:
            parts: list[bytes] = []
            room = max_bytes
            while chunks and room > 0:
                piece = chunks.popleft()
                if len(piece) > room:
                    chunks.appendleft(piece[room:])
                    piece = piece[:room]
                parts.append(piece)
                room -= len(piece)
            data = b"".join(parts)
        self.queued -= len(data)
        if self.reading_paused and self.queued <= _LOW_WATER and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        return data


async def _wait(proto: _Protocol, fut: asyncio.Future[None], timeout: float | None) -> None:
    handle = None if timeout is None else proto.loop.call_later(max(0.0, timeout), _expire, fut)
    try:
        await fut
    finally:
        if handle is not None:
            handle.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection on an asyncio transport (see the module docstring)."""

    def __init__(self, transport: asyncio.Transport, proto: _Protocol) -> None:
        self._transport = transport
        self._proto = proto

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        proto = self._proto
        while not proto.chunks:
            if proto.error is not None:
                raise httpcore.ReadError(str(proto.error) or type(proto.error).__name__)
            if proto.eof:
                return b""
            fut = proto.read_waiter = proto.loop.create_future()
            try:
                await _wait(proto, fut, timeout)
            except _Timeout:
                raise httpcore.ReadTimeout("read timed out") from None
            finally:
                proto.read_waiter = None
        return proto.take(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        proto = self._proto
        if proto.lost or self._transport.is_closing():
            raise httpcore.WriteError(str(proto.error) if proto.error else "connection closed")
        self._transport.write(buffer)
        while proto.writing_paused and not proto.lost:
            fut = proto.drain_waiter = proto.loop.create_future()
            try:
                await _wait(proto, fut, timeout)
            except _Timeout:
                raise httpcore.WriteTimeout("write timed out") from None
            finally:
                proto.drain_waiter = None
        if proto.lost and proto.error is not None:
            raise httpcore.WriteError(str(proto.error))

    async def aclose(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        proto = self._proto
        try:
            async with asyncio.timeout(timeout):
                tls = await proto.loop.start_tls(
                    self._transport, proto, ssl_context, server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout,
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("TLS handshake timed out") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if tls is None:  # the transport closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        proto.transport = tls
        return AsyncioStream(tls, proto)

    def get_extra_info(self, info: str) -> typing.Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            proto = self._proto
            if proto.chunks or proto.eof or proto.lost:
                return True
            return is_socket_readable(transport.get_extra_info("socket"))
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections straight on the running asyncio (or uvloop) loop."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                transport, proto = await loop.create_connection(
                    lambda: _Protocol(loop), host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return AsyncioStream(transport, proto)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class AutoBackend(httpcore.AsyncNetworkBackend):
    """`AsyncioBackend` under asyncio, httpcore's trio backend under trio."""

    def __init__(self) -> None:
        self._asyncio = AsyncioBackend()
        self._trio: httpcore.AsyncNetworkBackend | None = None

    def _pick(self) -> httpcore.AsyncNetworkBackend:
        if _on_asyncio():
            return self._asyncio
        if self._trio is None:
            self._trio = httpcore.TrioBackend()
        return self._trio

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._pick().connect_tcp(host, port, timeout, local_address,
                                              socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._pick().sleep(seconds)
