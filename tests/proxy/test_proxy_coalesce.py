"""The proxy's hypercorn sends a response head with its first body piece (one write).

The spy is a subclass of whichever HTTP/1.1 protocol class is in place that
records every RawData the protocol hands to its transport; the stock class
shows the two writes the coalescing one saves, so the count can fail."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hypercorn.protocol as hprotocol
from _proxy_helpers import MSG, TIMEOUT, provider_config
from hypercorn.events import RawData
from hypercorn.protocol.h11 import H11Protocol

from adapters.fake_provider import FakeProviderServer
from adapters.proxy import coalesce
from adapters.proxy.server import ProxyServer


def _spy_on(base: Any, writes: list[bytes]) -> Any:
    class Spy(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            inner = self.send

            async def send(event: Any) -> None:
                if isinstance(event, RawData):
                    writes.append(bytes(event.data))
                await inner(event)

            self.send = send

    return Spy


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[list[bytes]]:
    stock = request.param == "stock"
    assert coalesce.install()
    base = H11Protocol if stock else hprotocol.H11Protocol
    seen: list[bytes] = []
    monkeypatch.setattr(hprotocol, "H11Protocol", _spy_on(base, seen))
    yield seen


def _chat(port: int) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps({"model": "chat", "messages": MSG}),
                     {"content-type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("writes", ["coalescing", "stock"], indirect=True)
def test_plain_answer_is_one_write(writes: list[bytes], backend: str,
                                   request: pytest.FixtureRequest) -> None:
    stock = request.node.callspec.params["writes"] == "stock"
    with FakeProviderServer([{"content": "hi there"}]) as srv, \
            ProxyServer(provider_config([srv]), backend=backend, seed=1) as proxy:
        status, body = _chat(proxy.port)
    assert status == 200
    assert json.loads(body)["choices"][0]["message"]["content"] == "hi there"
    answer = [w for w in writes if w]
    if stock:  # hypercorn's own protocol: the head, then the body
        assert len(answer) == 2 and answer[0].startswith(b"HTTP/1.1 200")
        assert answer[1] == body
    else:
        assert len(answer) == 1, answer
        head, _, rest = answer[0].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"content-length" in head.lower()
        assert rest == body


@pytest.mark.parametrize("writes", ["coalescing"], indirect=True)
def test_stream_and_error_answers_are_whole(writes: list[bytes]) -> None:
    """A streamed answer still goes out event by event (the head with the first
    one), and an answer hypercorn makes itself (a malformed request) is complete."""
    with FakeProviderServer([{"content": "one two three"}]) as srv, \
            ProxyServer(provider_config([srv]), seed=1) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=TIMEOUT)
        conn.request("POST", "/v1/chat/completions",
                     json.dumps({"model": "chat", "messages": MSG, "stream": True}),
                     {"content-type": "application/json"})
        resp = conn.getresponse()
        text = resp.read()
        conn.close()
        assert resp.status == 200 and text.rstrip().endswith(b"data: [DONE]")
        streamed = [w for w in writes if w]
        assert streamed[0].startswith(b"HTTP/1.1 200") and b"data: " in streamed[0]
        assert len(streamed) > 2  # not held back: one write per event
        writes.clear()
        conn2 = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=TIMEOUT)
        conn2.sock = None
        conn2.connect()
        assert conn2.sock is not None
        conn2.sock.sendall(b"GARBAGE\r\n\r\n")
        data = conn2.sock.recv(65536)
        conn2.close()
    assert data.startswith(b"HTTP/1.1 400")
    assert [w for w in writes if w] == [data]


def test_install_leaves_unknown_internals_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:
        pass

    monkeypatch.setattr(hprotocol, "H11Protocol", Other)
    assert coalesce.install() is False
    assert hprotocol.H11Protocol is Other
    assert not coalesce.installed()


def test_held_head_goes_out_with_next_event() -> None:
    """Unit level: a head is held, the next event carries it, empty sends are skipped."""
    assert coalesce.install()
    cls = hprotocol.H11Protocol
    sent: list[bytes] = []
    proto = cls.__new__(cls)
    proto.connection = h11.Connection(h11.SERVER)
    proto.connection.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(proto.connection.next_event(), h11.Request)

    async def send(event: Any) -> None:
        sent.append(bytes(event.data))

    proto.send = send

    async def run() -> None:
        await proto._send_h11_event(h11.Response(status_code=200,
                                                 headers=[(b"content-length", b"2")]))
        assert sent == []
        await proto._send_h11_event(h11.Data(data=b"ok"))
        await proto._send_h11_event(h11.EndOfMessage())

    import anyio
    anyio.run(run)
    assert len(sent) == 1 and sent[0].endswith(b"\r\n\r\nok")


def _answer(cls: Any, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The bytes `cls` writes for a final head with `headers`, then `ok`."""
    import anyio
    from hypercorn.config import Config
    from hypercorn.protocol.events import Body, EndBody, Response

    sent: list[bytes] = []
    proto = cls.__new__(cls)
    proto.connection = h11.Connection(h11.SERVER)
    proto.connection.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(proto.connection.next_event(), h11.Request)
    proto.config = Config()
    proto.config.include_date_header = False
    proto.keep_alive_requests = 0

    async def send(event: Any) -> None:
        sent.append(bytes(event.data))

    proto.send = send

    async def run() -> None:
        await proto.stream_send(Response(stream_id=1, status_code=201, headers=headers))
        await proto.stream_send(Body(stream_id=1, data=b"ok"))
        await proto.stream_send(EndBody(stream_id=1))

    anyio.run(run)
    return b"".join(sent)


@pytest.mark.parametrize("headers", [
    [(b"content-type", b"application/json"), (b"Content-Length", b"2"), (b"x-a", b"b  c")],
    [(b"content-length", b"2"), (b"content-length", b"2")],  # framing: h11 judges the list
    [(b"x-modelmesh-model", b"p0.m0"), (b"content-length", b"2")],
])
def test_head_built_from_cached_validation_is_byte_identical(
        headers: list[tuple[bytes, bytes]]) -> None:
    assert coalesce.install()
    cls = hprotocol.H11Protocol
    assert cls._cached_head  # the installed hypercorn is the one it was checked against
    for _ in range(2):  # (the second time from the cache)
        assert _answer(cls, headers) == _answer(H11Protocol, headers)


@pytest.mark.parametrize("bad", [(b"x-bad", b"a\nb"), (b"bad name", b"v"),
                                 (b"content-length", b"1x")])
def test_head_with_an_invalid_header_fails_as_in_hypercorn(bad: tuple[bytes, bytes]) -> None:
    assert coalesce.install()
    for cls in (hprotocol.H11Protocol, H11Protocol):
        with pytest.raises(h11.LocalProtocolError):
            _answer(cls, [bad, (b"content-length", b"2")])


def test_head_cache_is_used_only_for_the_stream_send_it_was_checked_against() -> None:
    class Changed(H11Protocol):  # type: ignore[misc]
        async def stream_send(self, event: Any) -> None:  # (a different method)
            await super().stream_send(event)

    assert coalesce._head_matches(H11Protocol)
    assert not coalesce._head_matches(Changed)
    assert coalesce._make_class(Changed)._cached_head is False
