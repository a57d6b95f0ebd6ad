"""Reading an HTTP/1.1 response for the lean connections, on httptools.

Theory of operation: h11 turns a response into event objects through a
state machine, a reader per framing and per-event validation, which costs
about 100 us per response head and 15 us per streamed chunk on a small
machine: most of what a lean connection spends on a request. httptools
wraps llhttp (the parser of Node.js) and calls back once per piece of the
response from C, so the same response costs a few microseconds.

`ResponseReader` is fed the bytes as they arrive and keeps what the
connection needs: the final head (status, reason, HTTP version, headers as
received, values without surrounding blanks, as h11 gives them), the body
pieces not yet handed out, whether the message is complete, and whether
the connection may carry another request. 1xx informational heads are
skipped. The body is framed by Content-Length or chunked encoding (llhttp
checks both; as in h11, no other transfer coding is accepted), or runs
until end of file. Trailers are read and dropped.
Lines may end in a bare LF, as h11 allows.
Anything wrong (a malformed head or chunk, a head over 100 KiB, end of file
inside a head or a framed body, a 101 upgrade nobody asked for) raises
`httpcore.RemoteProtocolError`, as httpcore maps h11's errors. Bytes after
the end of the response keep the connection from being reused.

The request side stays with h11 (see `adapters.lean11`); requests whose
response llhttp cannot frame alone (HEAD, CONNECT, an upgrade) are not
read here.
"""

from __future__ import annotations

import re

import httpcore
import httptools

__all__ = ["DISCONNECTED", "MAX_HEAD", "ResponseReader"]

DISCONNECTED = "Server disconnected without sending a response."
MAX_HEAD = 100 * 1024
"""The longest response head read (httpcore's limit for h11's incomplete events)."""

_VERSIONS = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}
_BLANKS = b" \t"
_REASON = re.compile(rb"[^\x00\n\r\x0b\x0c]*")  # as h11 takes it: no NUL, no line breaks


class ResponseReader:
    """One response, fed with `feed(data)` (`b""` is end of file)."""

    __slots__ = ("_info", "_parser", "_seen", "complete", "failure", "finished", "head_done",
                 "headers", "keep_alive", "pieces", "reason", "request_sent", "status",
                 "version")

    def __init__(self) -> None:
        self._parser = parser = httptools.HttpResponseParser(self)
        parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)  # bare LF, as h11
        self.status = 0
        self.reason = b""
        self.version = b"HTTP/1.1"
        self.headers: list[tuple[bytes, bytes]] = []
        self.pieces: list[bytes] = []
        self.head_done = False  # the final (not 1xx) head is read
        self.complete = False  # the whole response is read
        self.finished = False  # ... and its body was handed out to the end (set by the body)
        self.keep_alive = False
        self.request_sent = False  # (the connection's: the request went out whole, no close)
        self.failure: httpcore.RemoteProtocolError | None = None
        """An error found after body pieces that are still to be handed out
        (the body raises it once they are)."""
        self._info = False  # inside a 1xx message
        self._seen = 0  # bytes fed before the final head ended

    # ------------------------------------------------------ llhttp callbacks

    def on_message_begin(self) -> None:
        if self.complete:  # bytes after the response
            self.keep_alive = False
        else:  # the final head after a 1xx one
            self.reason = b""
            self.headers = []

    def on_status(self, data: bytes) -> None:
        if self.head_done:  # (bytes after the response)
            return
        if not _REASON.fullmatch(data):
            raise ValueError(f"invalid reason phrase {data!r}")
        self.reason += data  # (may come in pieces)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:  # (trailers are dropped)
            return
        value = value.rstrip(_BLANKS)
        if len(name) == 17 and name.lower() == b"transfer-encoding" and (
                value.lower() != b"chunked"):  # (as h11: llhttp reads others to the end)
            raise ValueError("only Transfer-Encoding: chunked is supported")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:  # (bytes after the response)
            return
        parser = self._parser
        status = parser.get_status_code()
        if status < 200:
            self._info = True
            return
        self.status = status
        version = parser.get_http_version()
        self.version = _VERSIONS.get(version) or b"HTTP/" + version.encode()
        # as h11: an HTTP/1.0 server's connection is never reused
        self.keep_alive = version == "1.1" and parser.should_keep_alive()
        self.head_done = True

    def on_body(self, data: bytes) -> None:
        if not self.complete:  # (not bytes after the response)
            self.pieces.append(data)

    def on_message_complete(self) -> None:
        if self._info:
            self._info = False
        elif self.head_done:
            self.complete = True

    # ------------------------------------------------------------- feeding

    def feed(self, data: bytes) -> None:
        """Parse `data`; `b""` means the server closed the connection."""
        if not data:
            self._end_of_file()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail("the server switched protocols (101) without being asked to")
        except httptools.HttpParserError as exc:  # (a callback's error is the context)
            self._fail(f"malformed response: {exc.__context__ or exc}")
        if not self.head_done:
            self._seen += len(data)
            if self._seen > MAX_HEAD:
                raise httpcore.RemoteProtocolError(
                    f"response head longer than {MAX_HEAD} bytes")

    def _fail(self, message: str) -> None:
        if self.complete:  # bytes after the response
            self.keep_alive = False
            return
        error = httpcore.RemoteProtocolError(message)
        if not self.pieces:
            raise error
        self.failure = error  # (the pieces before it are handed out first, as h11 does)

    def _end_of_file(self) -> None:
        if self.complete:
            return
        if not self.head_done:
            if self._seen == 0:
                raise httpcore.RemoteProtocolError(DISCONNECTED)
            raise httpcore.RemoteProtocolError(
                "peer closed connection without sending a complete response head")
        if self._until_eof():
            self.complete = True
            self.keep_alive = False
            return
        raise httpcore.RemoteProtocolError(
            "peer closed connection without sending complete message body")

    def _until_eof(self) -> bool:
        """Whether the body runs to end of file (no Content-Length, not chunked)."""
        for name, value in self.headers:
            low = name.lower()
            if low == b"content-length":
                return False
            if low == b"transfer-encoding" and value.lower().endswith(b"chunked"):
                return False
        return True
