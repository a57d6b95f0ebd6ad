"""adapters.respread.ResponseReader on its own: the cases the connection
tests (tests/drivers/test_lean_http11.py) reach only rarely."""

from __future__ import annotations

import h11
import httpcore
import pytest

from adapters.lean11 import h11_headers, wire_request
from adapters.respread import DISCONNECTED, MAX_HEAD, ResponseReader


def read_all(*parts: bytes) -> ResponseReader:
    reader = ResponseReader()
    for part in parts:
        reader.feed(part)
    return reader


def test_head_fields_as_h11_gives_them_and_the_body_in_pieces() -> None:
    r = read_all(b"HTTP/1.1 201 Created Here\r\nX-A:  padded \t\r\nx-b: 2\r\n"
                 b"Content-Length: 5\r\n\r\nab", b"cde")
    assert (r.status, r.reason, r.version) == (201, b"Created Here", b"HTTP/1.1")
    assert r.headers == [(b"X-A", b"padded"), (b"x-b", b"2"), (b"Content-Length", b"5")]
    assert r.pieces == [b"ab", b"cde"] and r.complete and r.keep_alive


def test_informational_heads_are_skipped_and_trailers_dropped() -> None:
    r = read_all(b"HTTP/1.1 100 Continue\r\nX-I: 1\r\n\r\nHTTP/1.1 200 OK\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert r.status == 200 and r.reason == b"OK"
    assert r.headers == [(b"Transfer-Encoding", b"chunked")]
    assert r.pieces == [b"abc"] and r.complete


@pytest.mark.parametrize(("head", "keep"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
])
def test_keep_alive_follows_the_response_and_never_http10(head: bytes, keep: bool) -> None:
    assert read_all(head).keep_alive is keep


def test_body_until_end_of_file_completes_at_eof_and_is_not_reused() -> None:
    r = read_all(b"HTTP/1.1 200 OK\r\n\r\nsome", b"thing")
    assert not r.complete
    r.feed(b"")
    assert r.complete and not r.keep_alive and r.pieces == [b"some", b"thing"]


@pytest.mark.parametrize(("parts", "match"), [
    ([b""], DISCONNECTED),
    ([b"HTTP/1.1 200 OK\r\nContent-Le", b""], "complete response head"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", b""], "complete message body"),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", b""],
     "complete message body"),
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"], "only Transfer-Encoding: chunked"),
    ([b"HTTP/1.1 200 O\x00K\r\n\r\n"], "reason phrase"),
    ([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"],
     "switched protocols"),
    ([b"HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n"], "malformed response"),
    ([b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"v" * MAX_HEAD], "longer than"),
])
def test_malformed_or_cut_responses_are_protocol_errors(parts: list[bytes], match: str) -> None:
    with pytest.raises(httpcore.RemoteProtocolError, match=match):
        read_all(*parts)


def test_pieces_before_an_error_come_first_then_the_error() -> None:
    r = read_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\nzz\r\n")
    assert r.pieces == [b"first"] and isinstance(r.failure, httpcore.RemoteProtocolError)


def test_bytes_after_the_response_are_ignored_but_forbid_reuse() -> None:
    r = read_all(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 Other\r\nX: 1\r\n\r\ngarbage")
    assert (r.status, r.reason, r.headers, r.pieces) == (204, b"No Content", [], [])
    assert r.complete and not r.keep_alive


# ------------------------------------------------- requests written without h11


def _h11_bytes(request: httpcore.Request) -> bytes:
    conn = h11.Connection(h11.CLIENT)
    out = conn.send(h11.Request(method=request.method, target=request.url.target,
                                headers=request.headers))
    out += b"".join(conn.send(h11.Data(data=c)) for c in request.stream)  # type: ignore[union-attr]
    return out + conn.send(h11.EndOfMessage())


_HEADERS = [("User-Agent", "t"), ("Host", "a.test"), ("Content-Type", "application/json")]


@pytest.mark.parametrize(("method", "headers", "body", "keep"), [
    ("POST", [*_HEADERS, ("Content-Length", "7")], b'{"a":1}', True),
    ("GET", _HEADERS, b"", True),
    ("POST", [*_HEADERS, ("Connection", "keep-alive, Close"), ("Content-Length", "2")],
     b"{}", False),
])
def test_plain_requests_are_written_byte_for_byte_as_h11_writes_them(
        method: str, headers: list[tuple[str, str]], body: bytes, keep: bool) -> None:
    request = httpcore.Request(method, "http://a.test/v1/x?q=1", headers=headers, content=body)
    h11_headers(request.headers)  # (as the first request's h11 path does: pairs validated)
    assert wire_request(request) == (_h11_bytes(request), keep)


@pytest.mark.parametrize(("headers", "body"), [
    ([("Host", "a.test"), ("Content-Length", "3")], b"{}"),  # length mismatch: h11 judges
    ([("Host", "a.test")], b"{}"),  # a body without framing
    ([("Host", "a.test"), ("Transfer-Encoding", "chunked")], b"{}"),
    ([("Content-Length", "2")], b"{}"),  # no Host
    ([("Host", "a.test"), ("X-Never-Seen", "1"), ("Content-Length", "2")], b"{}"),
])
def test_other_requests_are_left_to_h11(headers: list[tuple[str, str]], body: bytes) -> None:
    request = httpcore.Request("POST", "http://a.test/x", headers=headers, content=body)
    if ("X-Never-Seen", "1") not in headers:
        h11_headers(request.headers)
    assert wire_request(request) is None
