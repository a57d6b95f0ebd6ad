"""Shared HTTP edge helpers of the drivers.

Everything here sits at the boundary between httpcore and the pure core:

* `failure_kind_of` maps an httpcore (or anyio) exception to the `FailureKind`
  fact the core classifies (ARCHITECTURE rule 7: the driver reports facts);
* `normalise_headers` decodes response headers, lowercases their names and
  converts the two time formats the core never sees: an HTTP-date
  `Retry-After` (SPEC R-38) and Anthropic's RFC 3339 `*-reset` times (R-55),
  both turned into seconds with the wall clock at receipt;
* `DeadlineBackend` / `AsyncDeadlineBackend` wrap httpcore's network backend
  so that every socket read and write is bounded by a per-task deadline held
  in the context variable `IO_DEADLINE`. httpcore fixes one read timeout
  per response body; the wrapper lets the drivers enforce first-chunk,
  inter-chunk and whole-body bounds precisely without extra threads. The
  wrappers also coalesce a request's writes into one send at its first read
  (httpcore writes head and body separately: two system calls and two
  wake-ups of the server per request), and the async one runs on
  `adapters.aio_net` (asyncio transports directly, trio sockets directly).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import socket
import ssl
import time
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpcore
from httpcore._models import ByteStream

from adapters.aio_net import AutoBackend
from meshcore.types import FailureKind

__all__ = [
    "IO_DEADLINE",
    "AsyncDeadlineBackend",
    "DeadlineBackend",
    "encode_headers",
    "failure_kind_of",
    "http_date_seconds",
    "normalise_headers",
    "rfc3339_seconds",
    "timeout_extension",
]

IO_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "modelmesh_io_deadline", default=None
)
"""Absolute deadline (on the driver's clock) bounding every socket operation
of the current thread or task; None = only httpcore's own timeouts apply."""

_RESET_HEADERS = frozenset({
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
})


# ---------------------------------------------------------------- exceptions


def failure_kind_of(exc: BaseException) -> FailureKind:
    """The `FailureKind` of a transport exception: timeouts are TIMEOUT, every
    other network or protocol failure is CONNECTION. The caller refines a
    timeout into TTFT_TIMEOUT / STREAM_GAP when it knows which bound hit."""
    if isinstance(exc, (httpcore.TimeoutException, TimeoutError)):
        return FailureKind.TIMEOUT
    return FailureKind.CONNECTION


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
    TimeoutError,
    OSError,
    ssl.SSLError,
)
"""Exceptions that mean "the transport failed" (not a programming error)."""


# ---------------------------------------------------------------- headers


def _fmt_seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}".rstrip("0").rstrip(".") or "0"


def http_date_seconds(value: str, wall_now: float) -> float | None:
    """Seconds from `wall_now` until the HTTP-date `value` (0 for a past
    date); None when `value` is not an HTTP-date."""
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - wall_now)


def rfc3339_seconds(value: str, wall_now: float) -> float | None:
    """Seconds from `wall_now` until the RFC 3339 time `value` (0 if past);
    None when `value` is not such a time."""
    text = value.strip()
    if not text or "T" not in text.upper():
        return None
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - wall_now)


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value.strip()))
    except ValueError:
        return False


def normalise_headers(
    raw: Iterable[tuple[bytes | str, bytes | str]], wall_now: float
) -> list[tuple[str, str]]:
    """Decoded, lowercased headers with time values turned into seconds:
    `retry-after` given as an HTTP-date (R-38) and Anthropic `*-reset` RFC
    3339 times (R-55) become decimal seconds from `wall_now`. Decoded names
    are cached per raw name (bounded; `normalise_headers_general` is the
    uncached path the tests prove equal)."""
    out: list[tuple[str, str]] = []
    names = _NAMES
    for name_raw, value_raw in raw:
        name = names.get(name_raw)
        if name is None:
            name = _name_of(name_raw)
            if len(names) >= 512:
                names.clear()
            names[name_raw] = name
        value = (value_raw.decode("latin-1") if isinstance(value_raw, bytes)
                 else value_raw).strip()
        if name in _TIME_HEADERS and value and not _is_number(value):
            value = _seconds_value(name, value, wall_now)
        out.append((name, value))
    return out


_NAMES: dict[bytes | str, str] = {}
_TIME_HEADERS = _RESET_HEADERS | {"retry-after"}


def _name_of(name_raw: bytes | str) -> str:
    return (name_raw.decode("latin-1") if isinstance(name_raw, bytes) else name_raw).lower()


def _seconds_value(name: str, value: str, wall_now: float) -> str:
    secs = (http_date_seconds(value, wall_now) if name == "retry-after"
            else rfc3339_seconds(value, wall_now))
    return value if secs is None else _fmt_seconds(secs)


def normalise_headers_general(
    raw: Iterable[tuple[bytes | str, bytes | str]], wall_now: float
) -> list[tuple[str, str]]:
    """`normalise_headers` without the name cache (the general path)."""
    out: list[tuple[str, str]] = []
    for name_raw, value_raw in raw:
        name = (name_raw.decode("latin-1") if isinstance(name_raw, bytes) else name_raw).lower()
        value = value_raw.decode("latin-1") if isinstance(value_raw, bytes) else value_raw
        value = value.strip()
        if name == "retry-after" and value and not _is_number(value):
            secs = http_date_seconds(value, wall_now)
            if secs is not None:
                value = _fmt_seconds(secs)
        elif name in _RESET_HEADERS and value and not _is_number(value):
            secs = rfc3339_seconds(value, wall_now)
            if secs is not None:
                value = _fmt_seconds(secs)
        out.append((name, value))
    return out


def encode_headers(
    headers: Iterable[tuple[str, str]], url: str | None = None, body: bytes | None = None
) -> list[tuple[bytes, bytes]]:
    """Request headers as bytes pairs for httpcore, adding `Host` (from
    `url`) and `Content-Length` (of `body`) when missing: httpcore sends
    exactly the headers it is given."""
    out = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    names = {n.lower() for n, _ in out}
    if url is not None and b"host" not in names:
        out.insert(0, (b"host", _host_of(url)))
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        out.append((b"content-length", str(len(body)).encode("ascii")))
    return out


def _host_of(url: str) -> bytes:
    """The `Host` header value of `url` (its netloc without user info)."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return netloc.encode("idna" if not netloc.isascii() else "ascii")


def _encode_headers(headers: Iterable[tuple[str, str]], host: bytes,
                    body: bytes) -> list[tuple[bytes, bytes]]:
    """`encode_headers` with the `Host` value of the URL known. The encoded
    headers (Host added) are cached per (headers, Host) (bounded): an
    attempt's headers are the same from one request to the next, only the
    body length changes; every call gets its own list."""
    items = tuple(headers)
    try:
        cached = _ENCODED.get((items, host))
    except TypeError:  # unhashable items: encoded (and refused) as they are
        cached = None
    if cached is None:
        out = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in items]
        names = {n.lower() for n, _ in out}
        if b"host" not in names:
            out.insert(0, (b"host", host))
        cached = (out, b"content-length" not in names and b"transfer-encoding" not in names)
        try:
            if len(_ENCODED) >= 256:
                _ENCODED.clear()
            _ENCODED[(items, host)] = cached
        except TypeError:
            pass
    out = cached[0].copy()
    if cached[1]:
        out.append((b"content-length", str(len(body)).encode("ascii")))
    return out


_ENCODED: dict[tuple[tuple[tuple[str, str], ...], bytes],
               tuple[list[tuple[bytes, bytes]], bool]] = {}


_URLS: dict[str, tuple[httpcore.URL, bytes | None]] = {}
"""Per URL string: httpcore's parsed URL and the `Host` value (None when
`urlsplit` refuses the URL: the general path then raises as before)."""

_METHODS: dict[str, bytes] = {"GET": b"GET", "POST": b"POST"}


def core_request(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes,
                 timeout_s: float) -> httpcore.Request:
    """The httpcore request for one HTTP exchange of an attempt. Parsed URLs
    and their `Host` values are cached per URL string (httpcore never
    changes a URL object), which saves a `urlparse` and a `urlsplit` per
    request on the hot path. The request object is built directly: its
    headers are bytes pairs already (`_encode_headers`), its method an
    ASCII verb, its content bytes, so httpcore's argument checks would only
    copy them (`request_general` is the checked construction; the tests
    prove the two equal)."""
    cached = _URLS.get(url)
    if cached is None:
        if len(_URLS) > 256:
            _URLS.clear()
        try:
            host: bytes | None = _host_of(url)
        except ValueError:
            host = None
        cached = _URLS[url] = (httpcore.URL(url), host)
    parsed, host = cached
    verb = _METHODS.get(method)
    if host is None or verb is None or type(body) is not bytes:
        return request_general(method, url, headers, body, timeout_s)
    req = httpcore.Request.__new__(httpcore.Request)
    req.method = verb
    req.url = parsed
    req.headers = _encode_headers(headers, host, body)
    req.stream = ByteStream(body)
    req.extensions = {"timeout": timeout_extension(timeout_s)}
    return req



def request_general(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes,
                    timeout_s: float) -> httpcore.Request:
    """`core_request` through httpcore's checked constructor (the general path)."""
    return httpcore.Request(
        method, httpcore.URL(url), headers=encode_headers(headers, url, body), content=body,
        extensions={"timeout": timeout_extension(timeout_s)},
    )


def interrupt_read(network_stream: typing.Any) -> None:
    """End a read in progress on an httpcore network stream at once (the
    drivers' CancelAttempt during a streamed body): shut the connection's
    socket down, so the pending read sees end-of-file and httpcore drops the
    connection. The loops' socket wrappers (asyncio's and uvloop's transport
    sockets) refuse `shutdown()`, so it is applied to a duplicate of the file
    descriptor, which shuts down the same connection; httpcore still owns and
    closes the original."""
    sock = network_stream.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, ValueError):  # already closed: nothing to do
        dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


def timeout_extension(seconds: float) -> dict[str, float]:
    """httpcore's per-request timeout extension with every bound = `seconds`."""
    s = max(0.001, seconds)
    return {"connect": s, "read": s, "write": s, "pool": s}


# ---------------------------------------------------------------- deadline backends


def _bounded(timeout: float | None, clock: Callable[[], float]) -> float | None:
    deadline = IO_DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - clock()
    if remaining <= 0:
        raise httpcore.ReadTimeout("attempt deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


COALESCE_MAX = 64 * 1024
"""Request bytes held back at most before they are sent anyway (see `_Stream`)."""


class _Stream(httpcore.NetworkStream):
    """A connection whose socket operations are bounded by `IO_DEADLINE`,
    and whose writes are coalesced: httpcore writes a request's head and its
    body separately, which on loopback cost a send system call and a wake-up
    of the server each. Writes are held (up to `COALESCE_MAX` bytes) and sent
    together by the next read, which is when HTTP/1.1 needs them on the wire;
    a request abandoned before its response is read is never sent."""

    def __init__(self, inner: httpcore.NetworkStream, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self._held: list[bytes] = []
        self._held_bytes = 0

    def _flush(self, timeout: float | None) -> None:
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._held_bytes = 0
        self._inner.write(data, _bounded(timeout, self._clock))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._held:
            self._flush(timeout)
        return self._inner.read(max_bytes, _bounded(timeout, self._clock))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._held.append(buffer)
        self._held_bytes += len(buffer)
        if self._held_bytes >= COALESCE_MAX:
            self._flush(timeout)

    def close(self) -> None:
        self._held = []
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        if self._held:
            self._flush(timeout)
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      _bounded(timeout, self._clock))
        return _Stream(inner, self._clock)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with every socket operation bounded by
    `IO_DEADLINE` (on `time.monotonic`)."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner or httpcore.SyncBackend()
        self._clock = clock

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.connect_tcp(host, port, _bounded(timeout, self._clock),
                                        local_address, socket_options)
        return _Stream(inner, self._clock)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    """`_Stream` for the async driver: bounded, with coalesced writes."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, clock: Callable[[], float]) -> None:
        self._inner = inner
        self._clock = clock
        self._held: list[bytes] = []
        self._held_bytes = 0

    async def _flush(self, timeout: float | None) -> None:
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._held_bytes = 0
        await self._inner.write(data, _bounded(timeout, self._clock))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._held:
            await self._flush(timeout)
        return await self._inner.read(max_bytes, _bounded(timeout, self._clock))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        self._held.append(buffer)
        self._held_bytes += len(buffer)
        if self._held_bytes >= COALESCE_MAX:
            await self._flush(timeout)

    async def aclose(self) -> None:
        self._held = []
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._held:
            await self._flush(timeout)
        inner = await self._inner.start_tls(ssl_context, server_hostname,
                                            _bounded(timeout, self._clock))
        return _AsyncStream(inner, self._clock)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    """An async httpcore backend (by default `adapters.aio_net.AutoBackend`:
    native asyncio / uvloop transports under asyncio, httpcore's trio backend
    under trio) with every socket operation bounded by `IO_DEADLINE` on
    `clock` (the event loop clock) and writes coalesced as in `_Stream`."""

    def __init__(self, clock: Callable[[], float],
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner: httpcore.AsyncNetworkBackend = inner or AutoBackend()
        self._clock = clock

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.connect_tcp(host, port, _bounded(timeout, self._clock),
                                              local_address, socket_options)
        return _AsyncStream(inner, self._clock)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
