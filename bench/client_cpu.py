"""Client CPU per request without a network (issue 4): `MeshClient` and
`AsyncMeshClient` against canned responses served from memory.

Run: `python bench/client_cpu.py [--n N] [--rounds R] [--only NAME]`. The
responses are the bytes a loopback `FakeProviderServer` (OpenAI format, the
13-word answer of bench/client.py) sends: captured once, then replayed by a
network backend that never touches a socket, one read per chunk of the
chunked body (one SSE event per read, as the real server's pacing gives).
Reported: CPU time (`time.process_time`) per request, the best of R rounds
of N requests, for the client and for a raw httpcore request of the same
bytes on the same null backend (what the client adds is the difference).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
import httpcore  # noqa: E402

from adapters import create, create_async  # noqa: E402
from adapters.fake_provider import FakeProviderServer  # noqa: E402
from adapters.http import AsyncDeadlineBackend, DeadlineBackend  # noqa: E402
from adapters.pool import LeanAsyncConnectionPool, LeanConnectionPool  # noqa: E402

MSG = [{"role": "user", "content": "Explain keep-alive in one sentence."}]
CONTENT = "Keep-alive lets one TCP connection carry many HTTP requests in a row."
BASE = "http://null.invalid/v1"


def _config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"p": {"connector": "openai.compatible.v1", "base_url": base_url,
                            "api_key": "bench-key", "timeout": "10s"}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m"]}},
    }


# ---------------------------------------------------------------- capture


class _Recorder:
    def __init__(self, inner: Any, log: list[tuple[str, bytes]]) -> None:
        self.inner, self.log = inner, log

    def read(self, n: int, timeout: float | None = None) -> bytes:
        data: bytes = self.inner.read(n, timeout)
        self.log.append(("r", data))
        return data

    def write(self, data: bytes, timeout: float | None = None) -> None:
        self.log.append(("w", data))
        self.inner.write(data, timeout)

    def close(self) -> None:
        self.inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _RecordingBackend(httpcore.NetworkBackend):
    def __init__(self, log: list[tuple[str, bytes]]) -> None:
        self.inner, self.log = httpcore.SyncBackend(), log

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _Recorder(self.inner.connect_tcp(*args, **kwargs), self.log)


def _split_chunked(head_and_body: bytes) -> list[bytes]:
    """A chunked response cut into reads: the head, then one read per chunk
    (the last chunk carries the terminating zero-size chunk)."""
    head, _, body = head_and_body.partition(b"\r\n\r\n")
    pieces = [head + b"\r\n\r\n"]
    pos = 0
    while pos < len(body):
        line_end = body.index(b"\r\n", pos)
        size = int(body[pos:line_end], 16)
        end = line_end + 2 + size + 2
        if size == 0:
            pieces[-1] += body[pos:]
            break
        pieces.append(body[pos:end])
        pos = end
    return pieces


def capture() -> tuple[list[bytes], list[bytes]]:
    """The reads of one plain and one streamed response of the fake provider."""
    log: list[tuple[str, bytes]] = []
    with FakeProviderServer([{"content": CONTENT}]) as srv, \
            create(config=_config(srv.base_url), seed=1) as client:
        client._driver.pool = LeanConnectionPool(
            network_backend=DeadlineBackend(inner=_RecordingBackend(log)))
        client.chat.completions.create(model="chat", messages=MSG)
        list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
    responses: list[bytes] = []
    for kind, data in log:
        if kind == "w":
            if not responses or responses[-1]:
                responses.append(b"")
        else:
            responses[-1] += data
    plain, stream = [r for r in responses if r][:2]
    return [plain], _split_chunked(stream)


# ---------------------------------------------------------------- null network


class _NullStream:
    """Answers each request with the canned reads (streamed ones for a body
    that asks for a stream)."""

    def __init__(self, plain: list[bytes], stream: list[bytes]) -> None:
        self.plain, self.stream = plain, stream
        self.queue: list[bytes] = []
        self.sent = b""
        self.request = b""  # the last request's bytes

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not self.queue:
            self.queue = list(reversed(self.stream if b'"stream":true' in self.sent
                                       else self.plain))
            self.request, self.sent = self.sent, b""
        return self.queue.pop()

    def write(self, data: bytes, timeout: float | None = None) -> None:
        if data[:5] == b"POST ":
            self.sent = b""
        if len(self.sent) < 65536:
            self.sent += data

    def close(self) -> None:
        pass

    def get_extra_info(self, info: str) -> Any:
        return None


class _NullAsyncStream(_NullStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        return _NullStream.read(self, max_bytes, timeout)

    async def write(self, data: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        _NullStream.write(self, data, timeout)

    async def aclose(self) -> None:
        pass


class NullBackend(httpcore.NetworkBackend):
    def __init__(self, plain: list[bytes], stream: list[bytes]) -> None:
        self.plain, self.stream = plain, stream
        self.last: _NullStream | None = None

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        self.last = _NullStream(self.plain, self.stream)
        return self.last


class NullAsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, plain: list[bytes], stream: list[bytes]) -> None:
        self.plain, self.stream = plain, stream

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _NullAsyncStream(self.plain, self.stream)

    async def sleep(self, seconds: float) -> None:
        pass


def _parse_request(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers (without host and content-length, which httpcore adds) and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = [line.split(b": ", 1) for line in head.split(b"\r\n")[1:]]
    return [(k, v) for k, v in headers if k.lower() != b"content-length"], body


# ---------------------------------------------------------------- measuring


def _best(fn: Callable[[], Any], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n)
    return best * 1e6


async def _abest(fn: Callable[[], Any], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            await fn()
        best = min(best, (time.process_time() - t0) / n)
    return best * 1e6


def bench_sync(plain: list[bytes], stream: list[bytes], n: int, rounds: int,
               reqs: list[tuple[list[tuple[bytes, bytes]], bytes]]) -> dict[str, float]:
    out: dict[str, float] = {}
    with create(config=_config(BASE), seed=1) as client:
        eng = client._engine
        null = NullBackend(plain, stream)
        client._driver.pool = LeanConnectionPool(network_backend=DeadlineBackend(
            clock=eng.clock, inner=null))
        create_chat = client.chat.completions.create
        for stream_it in (False, True):  # the client's exact requests, for the raw runs
            list(create_chat(model="chat", messages=MSG, stream=True)) if stream_it else \
                create_chat(model="chat", messages=MSG)
            assert null.last is not None
            reqs.append(_parse_request(null.last.request))
        for _ in range(50):
            create_chat(model="chat", messages=MSG)
            list(create_chat(model="chat", messages=MSG, stream=True))
        out["sync plain"] = _best(lambda: create_chat(model="chat", messages=MSG), n, rounds)
        out["sync stream"] = _best(
            lambda: list(create_chat(model="chat", messages=MSG, stream=True)), n, rounds)
    raw = httpcore.ConnectionPool(network_backend=NullBackend(plain, stream))

    def raw_req(req: tuple[list[tuple[bytes, bytes]], bytes]) -> None:
        with raw.stream("POST", BASE + "/chat/completions", headers=req[0],
                        content=req[1]) as r:
            for _ in r.iter_stream():
                pass
    out["raw plain"] = _best(lambda: raw_req(reqs[0]), n, rounds)
    out["raw stream"] = _best(lambda: raw_req(reqs[1]), n, rounds)
    return out


async def _bench_async(plain: list[bytes], stream: list[bytes], n: int, rounds: int,
                       out: dict[str, float], label: str,
                       reqs: list[tuple[list[tuple[bytes, bytes]], bytes]]) -> None:
    async with create_async(config=_config(BASE), seed=1) as client:
        eng = client._engine
        await client._driver.aclose()
        client._driver.pool = LeanAsyncConnectionPool(network_backend=AsyncDeadlineBackend(
            clock=eng.clock, inner=NullAsyncBackend(plain, stream)))
        create_chat = client.chat.completions.create

        async def cplain() -> None:
            await create_chat(model="chat", messages=MSG)

        async def cstream() -> None:
            s = await create_chat(model="chat", messages=MSG, stream=True)
            async for _ in s:
                pass
        for _ in range(50):
            await cplain()
            await cstream()
        out[f"{label} plain"] = await _abest(cplain, n, rounds)
        out[f"{label} stream"] = await _abest(cstream, n, rounds)
    raw = httpcore.AsyncConnectionPool(network_backend=NullAsyncBackend(plain, stream))

    async def raw_req(req: tuple[list[tuple[bytes, bytes]], bytes]) -> None:
        async with raw.stream("POST", BASE + "/chat/completions", headers=req[0],
                              content=req[1]) as r:
            async for _ in r.aiter_stream():
                pass
    out[f"{label} raw plain"] = await _abest(lambda: raw_req(reqs[0]), n, rounds)
    out[f"{label} raw stream"] = await _abest(lambda: raw_req(reqs[1]), n, rounds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=300, help="requests per round")
    ap.add_argument("--rounds", type=int, default=7, help="rounds (best is kept)")
    ap.add_argument("--only", choices=("sync", "asyncio", "trio"), default=None)
    args = ap.parse_args(argv)
    plain, stream = capture()
    out: dict[str, float] = {}
    reqs: list[tuple[list[tuple[bytes, bytes]], bytes]] = []  # the client's own requests
    out.update(bench_sync(plain, stream, args.n if args.only in (None, "sync") else 1,
                          args.rounds if args.only in (None, "sync") else 1, reqs))
    for backend in ("asyncio", "trio"):
        if args.only in (None, backend):
            anyio.run(_bench_async, plain, stream, args.n, args.rounds, out, backend, reqs,
                      backend=backend)
    for name, us in out.items():
        print(f"{name:16s} {us:7.1f} us CPU per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
