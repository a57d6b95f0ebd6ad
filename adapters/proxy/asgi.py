"""Small ASGI plumbing for the proxy: reading a bounded body, header lookup,
and a responder that remembers whether the response has started (so a late
failure can still choose between a JSON error and an SSE `error` event).

Hot-path notes (issue 6): request headers are collected once per request
into a dict (`header_map`), the JSON encoder is built once at import, a
JSON object body skips json's encoding detection (`loads`), a
single-message body is returned without copying, and fixed response headers
are prepared by the caller once, not per request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import Any

from adapters.proxy.errors import ProxyError

__all__ = ["Receive", "Responder", "Scope", "Send", "dumps", "header", "header_map", "loads",
           "read_body"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]


def _default(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        dump = getattr(value, "model_dump", None)
        return dump() if callable(dump) else asdict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (bytes, bytearray)):
        return None
    return str(value)


_ENCODE = json.JSONEncoder(separators=(",", ":"), default=_default, ensure_ascii=False).encode


def dumps(value: Any) -> bytes:
    """Compact JSON; dataclasses, enums and other values are made JSON-able."""
    return _ENCODE(value).encode()


_DECODE = json.JSONDecoder().decode  # what json.loads uses for default arguments


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`: the same value or the same exception. A body that
    starts with `{` and a non-NUL byte is UTF-8 by json's own detection, so it
    is decoded as json would decode it, without the detection step."""
    if raw[:1] == b"{" and raw[1:2] not in (b"", b"\x00"):
        return _DECODE(raw.decode("utf-8", "surrogatepass"))
    return json.loads(raw)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (lower-case `name`), decoded as latin-1."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """All request headers as {lower-case name: first value}, built once per request."""
    out: dict[bytes, bytes] = {}
    for key, value in scope.get("headers", ()):
        name = bytes(key).lower()
        if name not in out:
            out[name] = bytes(value)
    return out


async def read_body(scope: Scope, receive: Receive, limit: int,
                    headers: dict[bytes, bytes] | None = None) -> bytes:
    """The whole request body; 413 beyond `limit` bytes (checked against
    Content-Length first, then while reading). `headers` is the request's
    `header_map` when the caller already has it."""
    if headers is None:
        length = header(scope, b"content-length")
    else:
        raw_length = headers.get(b"content-length")
        length = None if raw_length is None else raw_length.decode("latin-1")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ProxyError(400, "invalid Content-Length", code="invalid_request") from None
        if declared > limit:
            raise ProxyError(413, f"request body larger than {limit} bytes",
                             code="request_too_large")
    msg = await receive()
    if msg["type"] == "http.disconnect":
        raise ConnectionAbortedError("client disconnected")
    first = bytes(msg.get("body", b""))
    if len(first) > limit:
        raise ProxyError(413, f"request body larger than {limit} bytes",
                         code="request_too_large")
    if not msg.get("more_body", False):
        return first  # the usual case: the whole body in one message
    parts: list[bytes] = [first]
    size = len(first)
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ConnectionAbortedError("client disconnected")
        chunk = bytes(msg.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise ProxyError(413, f"request body larger than {limit} bytes",
                             code="request_too_large")
        parts.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(parts)


class Responder:
    """Wraps ASGI `send`: adds fixed headers (CORS) and tracks progress.
    `extra` is shared, never modified (the app builds it once per settings)."""

    def __init__(self, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        self._send = send
        self.extra = extra
        self.started = False
        self.finished = False
        self.status = 0

    async def start(self, status: int, headers: Headers = ()) -> None:
        """Send the response head."""
        self.started = True
        self.status = status
        await self._send({"type": "http.response.start", "status": status,
                          "headers": [*headers, *self.extra] if self.extra else list(headers)})

    async def body(self, data: bytes, more: bool = False) -> None:
        """Send (part of) the body; `more=False` ends the response."""
        if not more:
            self.finished = True
        await self._send({"type": "http.response.body", "body": data, "more_body": more})

    async def full(self, status: int, data: bytes, content_type: bytes,
                   headers: Headers = ()) -> None:
        """A complete response in one go."""
        await self.start(status, [(b"content-type", content_type),
                                  (b"content-length", b"%d" % len(data)), *headers])
        await self.body(data)

    async def json(self, status: int, value: Any, headers: Headers = ()) -> None:
        """A JSON response."""
        await self.full(status, dumps(value), b"application/json", headers)

    async def error(self, err: ProxyError) -> None:
        """An R-116 error response."""
        hdrs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers]
        await self.full(err.status, err.body_bytes(), b"application/json", hdrs)
