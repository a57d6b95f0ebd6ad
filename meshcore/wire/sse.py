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
`retry` is kept only when all digits. Invalid UTF-8 is replaced, never
raised. Any chunking of one stream gives identical events.

Each `feed` keeps the bytes after the last line break for the next call
and decodes the complete lines before it in one go. Decoding them together
gives the same text as decoding line by line: LF never occurs inside a
multi-byte UTF-8 sequence, and the replacing decoder restarts at every byte
that cannot continue a sequence, so a bad sequence never swallows an LF.
`idle` is True when nothing is buffered or pending (no partial line, no
data lines, event name or retry of an undispatched event, no CR or BOM
check outstanding); the BOM check ends at the first byte that cannot begin
a BOM, so a stream's first read usually finds the parser idle. A read that is exactly one `data: X` line (optionally
after an `event: E` line) and a blank line, fed while idle (what a provider
flushing each event usually produces), becomes its event directly, checked
on the bytes (one `memchr` per LF) before anything is decoded; the parser
stays idle. A caller that recognises such a read itself may skip `feed`
altogether, counting its lines in `lines_seen` (see `Attempt`). Otherwise the
lines are handled in one loop with the pending event's name and
retry held in local variables; `data: X`, `event: E` and blank lines (the
shapes providers send) are handled inline, every other line goes through
`_line`, the general field rules. Searches use single characters only
(`13 in data`, `split("\n")`): CPython scans for one character far faster
than for a two-character string.
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
    """Incremental SSE parser; see the module docstring."""

    __slots__ = (
        "_bom_pending",
        "_buf",
        "_cr_pending",
        "_data",
        "_event",
        "_head",
        "_last_id",
        "_retry",
        "idle",
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
        # Nothing buffered or pending (no partial line, data, event name,
        # retry, CR or BOM check): the stream is at a clean event boundary.
        self.idle = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Feed the next bytes; return the events they complete, in order."""
        # A fresh parser (only the BOM check outstanding) fed bytes that do
        # not begin a BOM is an idle one: the check would just end here.
        if self._bom_pending and data[:1] != b"\xef" and data and not self._head:
            self._bom_pending = False
            self.idle = not (self._buf or self._data or self._cr_pending or self._event
                             or self._retry is not None)
        # One whole `data: X` event (optionally after `event: E`) read while
        # idle: its only LFs are the line end(s) and the blank line.
        if data[-2:] == b"\n\n" and self.idle and 13 not in data:
            first = data.find(10)
            if first == len(data) - 2:
                if data[:6] == b"data: ":
                    self.lines_seen += 2
                    return [_tuple_new(SSEEvent, ("message", data.decode("utf-8", "replace")[6:-2],
                                                  self._last_id, None))]
            elif (data[:7] == b"event: " and data.find(10, first + 1) == len(data) - 2
                  and data.startswith(b"data: ", first + 1)):
                text = data.decode("utf-8", "replace")
                cut = text.find("\n")  # LF is one byte and one character either way
                self.lines_seen += 3
                return [_tuple_new(SSEEvent, (text[7:cut] or "message", text[cut + 7:-2],
                                              self._last_id, None))]
        out = self._feed(data)
        self.idle = not (self._buf or self._data or self._cr_pending or self._bom_pending
                         or self._event or self._retry is not None)
        return out

    def _feed(self, data: bytes) -> list[SSEEvent]:
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
        if 13 in data:  # CR (an int operand is a plain memchr)
            if self._cr_pending and data[:1] == b"\n":
                data = data[1:]
            self._cr_pending = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        elif self._cr_pending:
            self._cr_pending = False
            if data[:1] == b"\n":
                data = data[1:]
        cut = data.rfind(b"\n") + 1
        if not cut:
            self._buf += data
            return []
        if self._buf:
            data = self._buf + data
            cut += len(self._buf)
        if cut == len(data):
            self._buf = b""
            lines = data.decode("utf-8", "replace").split("\n")
        else:
            self._buf = data[cut:]
            lines = data[:cut].decode("utf-8", "replace").split("\n")
        lines.pop()  # the empty string after the last LF
        n = len(lines)
        self.lines_seen += n
        if n < 4 and not lines[-1] and not self._data:  # one event, then its blank line?
            top = lines[0]
            name: str | None = None
            if n == 2 and top[:6] == "data: ":
                name, value = self._event, top[6:]
            elif n == 3 and top[:7] == "event: " and lines[1][:6] == "data: ":
                name, value = top[7:], lines[1][6:]
            if name is not None:
                one = _tuple_new(SSEEvent, (name or "message", value, self._last_id, self._retry))
                self._event = ""
                self._retry = None
                return [one]
        out: list[SSEEvent] = []
        pending = self._data
        event = self._event
        retry = self._retry
        last_id = self._last_id
        for raw in lines:
            if not raw:
                if pending:
                    out.append(_tuple_new(SSEEvent, (
                        event or "message",
                        pending[0] if len(pending) == 1 else "\n".join(pending),
                        last_id,
                        retry,
                    )))
                    pending.clear()
                event = ""
                retry = None
            elif raw[:6] == "data: ":
                pending.append(raw[6:])
            elif raw[:7] == "event: ":
                event = raw[7:]
            else:
                self._event = event
                self._retry = retry
                self._line(raw, out)  # never dispatches: `raw` is not blank
                event = self._event
                retry = self._retry
                last_id = self._last_id
        self._event = event
        self._retry = retry
        return out

    def take_partial(self) -> bytes | None:
        """When nothing is pending but an unfinished line (no data lines,
        event name or retry of an undispatched event, no CR or BOM check),
        return that line's bytes (maybe empty) and forget them, leaving the
        parser idle: feeding them again later, in front of the next bytes,
        gives what keeping them would have. Else None."""
        if (self._data or self._event or self._retry is not None or self._cr_pending
                or self._bom_pending):
            return None
        buf = self._buf
        self._buf = b""
        self.idle = True
        return buf

    def close(self) -> list[SSEEvent]:
        """End of stream: process a final unterminated line and dispatch a
        pending event that has data. The parser is reset afterwards."""
        out: list[SSEEvent] = []
        if self._bom_pending and self._head:
            self._buf = b"" if self._head == _BOM else self._head
        if self._buf:
            self.lines_seen += 1
            self._line(self._buf.decode("utf-8", "replace"), out)
        if self._data:
            self.lines_seen += 1
            self._line("", out)
        self._reset()
        return out

    # -- internals ----------------------------------------------------------

    def _line(self, line: str, out: list[SSEEvent]) -> None:
        """One decoded line by the general rules (`lines_seen` is counted by callers)."""
        if not line:
            if self._data:
                out.append(
                    SSEEvent(self._event or "message", "\n".join(self._data), self._last_id,
                             self._retry)
                )
                self._data.clear()
            self._event = ""
            self._retry = None
            return
        if line[:1] == ":":
            return
        name, sep, value = line.partition(":")
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
