"""One write per response head and first body piece under hypercorn's HTTP/1.1.

Theory of operation: hypercorn holds an ASGI app's `http.response.start`
until the first `http.response.body` and then sends the two back to back,
but through two protocol sends, so a small non-streamed answer leaves in two
TCP segments: the client wakes up for the head, then again for the body.
Measured on this project's loopback benchmark, that second write and wake-up
cost 30-75 us of wall time per proxied request (hypercorn with a trivial app,
interleaved A/B).

`CoalescingH11Protocol` is hypercorn's `H11Protocol` with one change: the
bytes of a final response head are held and sent together with whatever h11
event goes out next, which hypercorn's HTTP stream always sends at once (the
first body piece, or the end of the message for an error answer). Nothing is
reordered or delayed past the same call chain; empty sends are skipped.
Informational (1xx) heads are sent as before.

It also builds a final response head's h11 event from headers validated
once per distinct (name, value) pair (`adapters.lean11.h11_headers`, h11's
own validation, cached) instead of h11 checking every header of every
response with two regular expressions (about 12 headers per proxied answer,
~5 % of the proxy's CPU per request). This part is used only when
hypercorn's `stream_send` still builds that head exactly as it did when this
was written (`_STREAM_SEND_HEAD`) and h11 is the version the cache was
checked against; otherwise hypercorn's own method builds it.

`install()` points hypercorn's protocol wrapper at it (hypercorn creates its
HTTP/1.1 protocol by that module-level name). It changes hypercorn for the
whole process, which is the `modelmesh serve` process; it installs nothing
when hypercorn's internals differ from what it relies on (the name and the
private `_send_h11_event` method), so serving then works exactly as stock.
"""

from __future__ import annotations

import inspect
import textwrap
from itertools import chain
from typing import Any

import h11

from adapters.lean11 import H11_PREVALIDATED, h11_headers

__all__ = ["install", "installed"]

_STATE: dict[str, Any] = {"class": None}

_STREAM_SEND_HEAD = """\
    if isinstance(event, Response):
        if event.status_code >= 200:
            headers = list(chain(event.headers, self.config.response_headers("h11")))
            if self.keep_alive_requests >= self.config.keep_alive_max_requests:
                headers.append((b"connection", b"close"))
            await self._send_h11_event(
                h11.Response(
                    headers=headers,
                    status_code=event.status_code,
                )
            )
"""
"""hypercorn's (0.17) final response head in `H11Protocol.stream_send`, which
the cached-validation head below reproduces."""


def _head_matches(base: Any) -> bool:
    try:
        source = textwrap.dedent(inspect.getsource(base.stream_send))
    except (OSError, TypeError):
        return False
    return H11_PREVALIDATED and _STREAM_SEND_HEAD in source


def _make_class(base: Any) -> Any:
    from hypercorn.events import RawData
    from hypercorn.protocol.events import Response

    cached_head = _head_matches(base)

    class CoalescingH11Protocol(base):  # type: ignore[misc]
        """hypercorn's `H11Protocol`, sending a response head with the next event."""

        _held = b""
        _cached_head = cached_head

        async def stream_send(self, event: Any) -> None:
            if (self._cached_head and isinstance(event, Response)
                    and event.status_code >= 200):
                headers = list(chain(event.headers, self.config.response_headers("h11")))
                if self.keep_alive_requests >= self.config.keep_alive_max_requests:
                    headers.append((b"connection", b"close"))
                valid: Any
                try:
                    valid = h11_headers(headers)
                except h11.LocalProtocolError:
                    valid = headers  # (h11.Response raises the same error below)
                await self._send_h11_event(
                    h11.Response(headers=valid, status_code=event.status_code))
                return
            await super().stream_send(event)

        async def _send_h11_event(self, event: Any) -> None:
            try:
                data = self.connection.send(event)
            except h11.LocalProtocolError:
                if self.connection.their_state != h11.ERROR:
                    raise
                return
            if type(event) is h11.Response:
                self._held += data
                return
            if self._held:
                data, self._held = self._held + data, b""
            if data:
                await self.send(RawData(data=data))

    return CoalescingH11Protocol


def install() -> bool:
    """Make hypercorn's HTTP/1.1 protocol the coalescing one; True when it is
    in place (idempotent), False when hypercorn's internals did not match."""
    try:
        import hypercorn.protocol as protocol
        from hypercorn.protocol.h11 import H11Protocol
    except ImportError:
        return False
    current = getattr(protocol, "H11Protocol", None)
    if current is not None and current is _STATE["class"]:
        return True
    if current is not H11Protocol or not callable(getattr(H11Protocol, "_send_h11_event", None)):
        return False
    cls = _make_class(H11Protocol)
    _STATE["class"] = cls
    protocol.H11Protocol = cls  # type: ignore[attr-defined]
    return True


def installed() -> bool:
    """Whether `install()` is in effect."""
    try:
        import hypercorn.protocol as protocol
    except ImportError:
        return False
    return _STATE["class"] is not None and getattr(protocol, "H11Protocol", None) is _STATE["class"]
