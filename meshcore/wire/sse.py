"""Incremental Server-Sent Events parser (bytes in, events out).

Theory of operation: `SSEParser.feed(data)` takes any slice of the byte
stream and returns the events completed by it; `close()` flushes the last
line and any pending event at end of stream. The parser follows the WHATWG
event-stream rules: lines end with LF, CRLF or CR (a CR at the end of one
chunk and an LF at the start of the next count once); a leading UTF-8 BOM
is dropped even when split across chunks; lines starting with `:` are
comments; `field: value` loses one leading space; several `data` lines join
with LF; a blank line dispatches the event (none when no data field was
seen); `id` persists until changed and is ignored when it holds NUL;
`retry` is kept only when all digits. Lines are split on bytes before
decoding, and since LF/CR never occur inside a multi-byte UTF-8 sequence,
a character split across chunks decodes intact. Invalid UTF-8 is replaced,
never raised. Any chunking of one stream gives identical events.
"""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"


class SSEEvent(NamedTuple):
    """One dispatched event. `event` defaults to `message`; `id` is the last
    event ID seen (None if never set); `retry` is the reconnection time in ms
    if this event carried a valid `retry` field."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


_tuple_new = tuple.__new__


class SSEParser:
    """Incremental SSE parser; see the module docstring.

    Hot path: `feed` splits the new bytes into lines once and handles the
    common lines (`data: ...`, `event: ...`, blank) inline; every other line
    goes through `_line`, the general WHATWG field rules.
    """

    __slots__ = (
        "_bom_pending",
        "_buf",
        "_cr_pending",
        "_data",
        "_event",
        "_head",
        "_last_id",
        "_retry",
        "lines_seen",
    )

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._buf = b""
        self._head = b""
        self._bom_pending = True
        self._cr_pending = False
        self._data: list[str] = []  # data lines of the pending event
        self._event = ""
        self._last_id: str | None = None
        self._retry: int | None = None
        self.lines_seen = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Feed the next bytes; return the events they complete, in order."""
        if self._bom_pending:
            head = self._head + bytes(data)
            if len(head) < 3 and _BOM.startswith(head):
                self._head = head
                return []
            self._head = b""
            self._bom_pending = False
            data = head[3:] if head.startswith(_BOM) else head
        if not data:
            return []
        if self._cr_pending and data[:1] == b"\n":
            data = data[1:]
        if b"\r" in data:
            self._cr_pending = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            self._cr_pending = False
        if b"\n" not in data:
            self._buf += data
            return []
        if self._buf:
            data = self._buf + data
        lines = data.split(b"\n")
        self._buf = lines.pop()
        self.lines_seen += len(lines)
        out: list[SSEEvent] = []
        pending = self._data
        for raw in lines:
            if raw[:6] == b"data: ":
                pending.append(raw[6:].decode("utf-8", "replace"))
            elif not raw:
                if pending:
                    out.append(_tuple_new(SSEEvent, (
                        self._event or "message",
                        pending[0] if len(pending) == 1 else "\n".join(pending),
                        self._last_id,
                        self._retry,
                    )))
                    pending.clear()
                self._event = ""
                self._retry = None
            elif raw[:7] == b"event: ":
                self._event = raw[7:].decode("utf-8", "replace")
            else:
                self._line(raw, out)
        return out

    def close(self) -> list[SSEEvent]:
        """End of stream: process a final unterminated line and dispatch a
        pending event that has data. The parser is reset afterwards."""
        out: list[SSEEvent] = []
        if self._bom_pending and self._head:
            self._buf = b"" if self._head == _BOM else self._head
        if self._buf:
            self.lines_seen += 1
            self._line(self._buf, out)
        if self._data:
            self.lines_seen += 1
            self._line(b"", out)
        self._reset()
        return out

    # -- internals ----------------------------------------------------------

    def _line(self, raw: bytes, out: list[SSEEvent]) -> None:
        """One line by the general rules (`lines_seen` is counted by callers)."""
        if not raw:
            if self._data:
                out.append(
                    SSEEvent(self._event or "message", "\n".join(self._data), self._last_id,
                             self._retry)
                )
                self._data.clear()
            self._event = ""
            self._retry = None
            return
        if raw[:5] == b"data:":
            payload = raw[6:] if raw[5:6] == b" " else raw[5:]
            self._data.append(payload.decode("utf-8", "replace"))
            return
        if raw[:1] == b":":
            return
        text = raw.decode("utf-8", "replace")
        name, sep, value = text.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
