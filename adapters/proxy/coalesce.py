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

`install()` points hypercorn's protocol wrapper at it (hypercorn creates its
HTTP/1.1 protocol by that module-level name). It changes hypercorn for the
whole process, which is the `modelmesh serve` process; it installs nothing
when hypercorn's internals differ from what it relies on (the name and the
private `_send_h11_event` method), so serving then works exactly as stock.
"""

from __future__ import annotations

from typing import Any

import h11

__all__ = ["install", "installed"]

_STATE: dict[str, Any] = {"class": None}


def _make_class(base: Any) -> Any:
    from hypercorn.events import RawData

    class CoalescingH11Protocol(base):  # type: ignore[misc]
        """hypercorn's `H11Protocol`, sending a response head with the next event."""

        _held = b""

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
