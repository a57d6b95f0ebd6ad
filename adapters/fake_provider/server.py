"""`FakeProviderServer`: a real loopback HTTP/1.1 server with a scriptable fault plan.

One accept thread and one thread per connection; HTTP parsing by h11 over plain sockets,
keep-alive supported. Every wait (delays, silence, socket reads) is bounded by a stop
event, so `stop()` returns promptly even while a request is being held open. The server
runs in its own threads, so sync, asyncio and trio tests can all use it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import h11

from adapters.fake_provider.formats import BodyReply, Call, Family, Route, get_family
from adapters.fake_provider.plan import FaultStep, Plan

__all__ = ["FakeProviderServer", "RecordedRequest"]

_POLL = 0.05
_MAX_BODY = 64 * 1024 * 1024
_DRIP = 64


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake provider received (recorded before it is answered)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    json: Any
    model: str | None
    received_at: float  # time.monotonic() at receipt
    received_wall: float  # time.time() at receipt
    connection_id: int
    step: FaultStep = field(default_factory=FaultStep)


class _Closed(Exception):
    """The connection is gone (peer closed, reset, or the server is stopping)."""


class _Conn:
    """One accepted connection and its h11 state."""

    def __init__(self, sock: socket.socket, conn_id: int) -> None:
        self.sock = sock
        self.id = conn_id
        self.h11 = h11.Connection(h11.SERVER)


class FakeProviderServer:
    """A loopback HTTP server that answers like an AI provider, following a fault plan.

    `plan` is a list of steps (the last repeating), a mapping model -> steps (with an
    optional `"*"` entry), a `Plan`, or None (always succeed); see `Plan.parse`.
    `format` is `openai`, `anthropic` or `gemini`. Use as a context manager or call
    `start()` / `stop()`.
    """

    def __init__(
        self,
        plan: object = None,
        format: str = "openai",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.family: Family = get_family(format)
        self.format = format
        self.host = host
        self.port = port
        self._plan = Plan.parse(plan)
        self._lock = threading.Lock()
        self._cursors: dict[str | None, int] = {}
        self._records: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[int, tuple[_Conn, threading.Thread]] = {}
        self._conn_ids = itertools.count(1)
        self._started = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeProviderServer:
        """Bind, listen and start the accept thread; returns self."""
        if self._started:
            raise RuntimeError("FakeProviderServer already started")
        self._started = True
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        listener.settimeout(_POLL * 2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"fake-provider-accept-{self.port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listener and every connection, then join the threads (idempotent)."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
            with contextlib.suppress(OSError):
                listener.close()
        with self._lock:
            conns = list(self._conns.values())
        for conn, _thread in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for _conn, thread in conns:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ public state

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:PORT`."""
        if self._listener is None and not self._started:
            raise RuntimeError("FakeProviderServer not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The `base_url` a provider configuration of this family points at."""
        return self.url + self.family.base_path

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, in order of receipt."""
        with self._lock:
            return list(self._records)

    def requests_for(self, model: str | None) -> list[RecordedRequest]:
        """The recorded requests whose model is `model`."""
        return [r for r in self.requests if r.model == model]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Poll until at least `count` requests were recorded; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self._records) >= count:
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            threading.Event().wait(min(0.01, remaining))

    @property
    def plan(self) -> Plan:
        """The current plan."""
        return self._plan

    def set_plan(self, plan: object) -> None:
        """Replace the plan; every model's cursor starts again at the first step."""
        parsed = Plan.parse(plan)
        with self._lock:
            self._plan = parsed
            self._cursors.clear()

    def reset(self) -> None:
        """Forget the recorded requests and rewind every plan cursor."""
        with self._lock:
            self._records.clear()
            self._cursors.clear()

    # ------------------------------------------------------------ accept and read

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                sock, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(_POLL * 2)
            conn = _Conn(sock, next(self._conn_ids))
            thread = threading.Thread(
                target=self._serve_connection, args=(conn,),
                name=f"fake-provider-conn-{conn.id}", daemon=True,
            )
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    break
                self._conns[conn.id] = (conn, thread)
            thread.start()

    def _recv(self, conn: _Conn) -> bytes:
        while True:
            if self._stopping.is_set():
                raise _Closed
            try:
                return conn.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Closed from exc

    def _next_event(self, conn: _Conn) -> Any:
        while True:
            event = conn.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if conn.h11.they_are_waiting_for_100_continue:
                self._send(conn, h11.InformationalResponse(status_code=100, headers=[]))
            conn.h11.receive_data(self._recv(conn))

    def _send(self, conn: _Conn, event: Any) -> None:
        data = conn.h11.send(event)
        if data:
            self._sendall(conn, data)

    def _sendall(self, conn: _Conn, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._stopping.is_set():
                raise _Closed
            try:
                sent = conn.sock.send(view)
            except TimeoutError:
                continue
            except OSError as exc:
                raise _Closed from exc
            view = view[sent:]

    def _serve_connection(self, conn: _Conn) -> None:
        try:
            while not self._stopping.is_set():
                event = self._next_event(conn)
                if isinstance(event, h11.ConnectionClosed):
                    break
                if not isinstance(event, h11.Request):
                    break
                body = bytearray()
                while True:
                    part = self._next_event(conn)
                    if isinstance(part, h11.Data):
                        body += part.data
                        if len(body) > _MAX_BODY:
                            raise _Closed
                    elif isinstance(part, h11.EndOfMessage):
                        break
                    else:
                        raise _Closed
                if not self._handle(conn, event, bytes(body)):
                    break
                if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
                    conn.h11.start_next_cycle()
                else:
                    break
        except (_Closed, h11.ProtocolError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.sock.close()
            with self._lock:
                self._conns.pop(conn.id, None)

    # ------------------------------------------------------------ answering

    def _next_step(self, model: str | None) -> FaultStep:
        with self._lock:
            index = self._cursors.get(model, 0)
            self._cursors[model] = index + 1
            return self._plan.step(model, index)

    def _handle(self, conn: _Conn, request: h11.Request, body: bytes) -> bool:
        """Answer one request; False when the connection must be dropped afterwards."""
        received_at, received_wall = time.monotonic(), time.time()
        target = request.target.decode("latin-1")
        parts = urlsplit(target)
        headers: dict[str, str] = {}
        for name, value in request.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                parsed = None
        call = Call(
            method=request.method.decode("ascii").upper(), path=parts.path,
            query=dict(parse_qsl(parts.query)), headers=headers, body=body, json=parsed,
        )
        route = self.family.route(call)
        step = self._next_step(route.model) if route.error_status is None else FaultStep()
        record = RecordedRequest(
            method=call.method, path=call.path, query=parts.query, headers=headers,
            body=body, json=parsed, model=route.model, received_at=received_at,
            received_wall=received_wall, connection_id=conn.id, step=step,
        )
        with self._lock:
            self._records.append(record)
        if route.error_status is not None:
            code = "not_found" if route.error_status == 404 else "method_not_allowed"
            self._send_body(conn, route.error_status, "application/json",
                            self.family.error_body(route.error_status, None, code), [])
            return True
        return self._apply(conn, route, call, step)

    def _wait(self, seconds: float) -> None:
        """Sleep, but give up at once when the server stops."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Closed

    def _apply(self, conn: _Conn, route: Route, call: Call, step: FaultStep) -> bool:
        self._wait(step.delay)
        if step.reset:
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            return False
        if step.silent:
            self._hold_silently(conn)
            return False
        extra = step.response_headers()
        if step.body is not None:
            raw = step.body.encode() if isinstance(step.body, str) else json.dumps(
                step.body).encode()
            return self._send_body(conn, step.status, "application/json", raw, extra,
                                   step.chunk_delay)
        if not step.is_success:
            raw = self.family.error_body(step.status, step, None)
            return self._send_body(conn, step.status, "application/json", raw, extra,
                                   step.chunk_delay)
        if route.stream:
            return self._stream(conn, route, call, step, extra)
        self._wait(step.ttft_delay)
        reply: BodyReply = self.family.reply(route, call, step)
        raw = reply.body
        if step.malformed:
            raw = raw[: max(1, len(raw) // 2)] if raw.startswith(b"{") else b'{"id": "x", '
        return self._send_body(conn, step.status, reply.content_type, raw,
                               [*reply.headers, *extra], step.chunk_delay)

    def _hold_silently(self, conn: _Conn) -> None:
        """Never answer: wait until the client hangs up or the server stops."""
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([conn.sock], [], [], _POLL)
            except (OSError, ValueError):
                return
            if readable:
                try:
                    if not conn.sock.recv(65536):
                        return
                except TimeoutError:
                    continue
                except OSError:
                    return

    def _head(self, status: int, content_type: str, extra: list[tuple[str, str]],
              length: int | None) -> h11.Response:
        headers = [("content-type", content_type), ("server", "modelmesh-fake-provider"),
                   ("x-request-id", f"req_fake_{int(time.time() * 1000)}")]
        if length is not None:
            headers.append(("content-length", str(length)))
        else:
            headers.append(("cache-control", "no-cache"))
        overridden = {name.lower() for name, _ in extra}
        headers = [h for h in headers if h[0] not in overridden or h[0] == "content-length"]
        headers.extend(h for h in extra if h[0].lower() != "content-length")
        return h11.Response(status_code=status, headers=headers)

    def _send_body(self, conn: _Conn, status: int, content_type: str, raw: bytes,
                   extra: list[tuple[str, str]], drip: float = 0.0) -> bool:
        if status in (204, 304):
            raw = b""
        head = self._head(status, content_type, extra, len(raw))
        if drip > 0:
            self._send(conn, head)
            for i in range(0, len(raw), _DRIP):
                self._wait(drip)
                self._send(conn, h11.Data(data=raw[i : i + _DRIP]))
            self._send(conn, h11.EndOfMessage())
            return True
        # a whole response in one write, as a server with the body in hand
        # usually sends a small one (one TCP segment, one wake-up of the peer)
        h = conn.h11
        data = h.send(head) or b""
        if raw:
            data += h.send(h11.Data(data=raw)) or b""
        data += h.send(h11.EndOfMessage()) or b""
        self._sendall(conn, data)
        return True

    def _stream(self, conn: _Conn, route: Route, call: Call, step: FaultStep,
                extra: list[tuple[str, str]]) -> bool:
        script = self.family.stream(route, call, step)
        self._send(conn, self._head(step.status, "text/event-stream", extra, None))
        for pre_event in script.preamble:
            self._send(conn, h11.Data(data=pre_event))
        self._wait(step.ttft_delay)
        if step.malformed:
            self._send(conn, h11.Data(data=script.malformed_event))
        for index, event in enumerate(self._content_with_stops(script.content)):
            if step.cut_after_chunks is not None and index >= step.cut_after_chunks:
                return False  # close mid-body: no terminating chunk, no end marker
            if step.stream_error is not None and index >= step.stream_error:
                self._send(conn, h11.Data(data=script.error_event))
                self._send(conn, h11.EndOfMessage())
                return True
            if event is None:
                break
            if step.stall_after_chunks is not None and index == step.stall_after_chunks:
                self._wait(step.stall_for)
            self._wait(step.chunk_delay)
            self._send(conn, h11.Data(data=event))
        for tail_event in script.tail:
            self._send(conn, h11.Data(data=tail_event))
        if not step.no_done:
            for end_event in script.end:
                self._send(conn, h11.Data(data=end_event))
        self._send(conn, h11.EndOfMessage())
        return True

    @staticmethod
    def _content_with_stops(content: tuple[bytes, ...]) -> Iterator[bytes | None]:
        """The content events, then a `None` marking the end (where late faults apply)."""
        yield from content
        yield None
