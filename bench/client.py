"""Client benchmark (issue 4): the clients' wall time per request against a raw
httpcore request to the same loopback fake provider.

Run: `python bench/client.py [--requests N] [--quick]`. One run measures, side by
side and interleaved request by request (so drift hits every variant alike):

- sync: `MeshClient` vs a raw `httpcore.ConnectionPool` request;
- async (asyncio, then trio): `AsyncMeshClient` vs a raw `httpcore.AsyncConnectionPool`
  request on the same event loop;
- and, for both, the raw request once more on the client's own transport (its pool
  and network backend), which separates the client's work from its transport;

each plain and streaming, twice: against a `FakeProviderServer` running in the
benchmark's own process (threads) and against the fake provider in a child
process (as a real provider would be). The raw request sends the very bytes the client sent
(body and headers are copied from the fake provider's record of the client's
first request) and reads the whole body. Reported: median wall time per request
and the ratio client / raw. Target: <= 1.15x. The script also profiles the sync
client (cProfile) and lists the hottest functions. Results go to
bench/results/client.md and stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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

TARGET = 1.15
MSG = [{"role": "user", "content": "Explain keep-alive in one sentence."}]
CONTENT = "Keep-alive lets one TCP connection carry many HTTP requests in a row."


def _config(srv: Any) -> dict[str, Any]:
    return {
        "providers": {"p": {"connector": "openai.compatible.v1", "base_url": srv.base_url,
                            "api_key": "bench-key", "timeout": "10s"}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m"]}},
    }


class _Remote:
    """A fake provider in its own process (as a real provider is), with the
    requests the client sends it captured beforehand from an in-process copy
    (same config, so the same bytes): `requests` holds [plain, stream]."""

    def __init__(self, plan: list[dict[str, Any]]) -> None:
        with FakeProviderServer(plan) as cap:
            with create(config=_config(cap), seed=1) as client:
                client.chat.completions.create(model="chat", messages=MSG)
                list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
            self.requests = list(cap.requests)
        self._dir = tempfile.TemporaryDirectory()
        plan_file = Path(self._dir.name) / "plan.json"
        plan_file.write_text(json.dumps(plan), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapters.fake_provider", "--port", "0", "--plan",
             str(plan_file)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()  # "listening on http://127.0.0.1:PORT"
        if "listening on" not in first:
            self.close()
            raise RuntimeError(f"fake provider did not start: {first!r}")
        self.url = first.strip().rsplit(" ", 1)[1]
        self.base_url = self.url + "/v1"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._dir.cleanup()


def _raw_request(srv: Any, index: int) -> tuple[str, list[tuple[str, str]], bytes]:
    rec = srv.requests[index]
    skip = {"host", "content-length"}
    headers = [(k, v) for k, v in rec.headers.items() if k not in skip]
    return srv.url + rec.path, headers, rec.body


Sample = dict[str, list[float]]


def _median_us(values: list[float]) -> float:
    return statistics.median(values) * 1e6


# ---------------------------------------------------------------- sync


def _bench_sync(srv: Any, n: int, warmup: int) -> Sample:
    samples: Sample = {}
    with create(config=_config(srv), seed=1) as client, httpcore.ConnectionPool() as pool, \
            LeanConnectionPool(network_backend=DeadlineBackend()) as same:
        client.chat.completions.create(model="chat", messages=MSG)
        list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
        plain_req, stream_req = _raw_request(srv, 0), _raw_request(srv, 1)

        def raw(req: tuple[str, list[tuple[str, str]], bytes],
                on: httpcore.ConnectionPool = pool) -> None:
            url, headers, body = req
            with on.stream("POST", url, headers=headers, content=body) as resp:
                for _ in resp.iter_stream():
                    pass

        variants: dict[str, Callable[[], object]] = {
            "raw plain": lambda: raw(plain_req),
            "same plain": lambda: raw(plain_req, same),
            "client plain": lambda: client.chat.completions.create(model="chat",
                                                                   messages=MSG),
            "raw stream": lambda: raw(stream_req),
            "same stream": lambda: raw(stream_req, same),
            "client stream": lambda: list(client.chat.completions.create(
                model="chat", messages=MSG, stream=True)),
        }
        for name in variants:
            samples[name] = []
        for i in range(warmup + n):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                if i >= warmup:
                    samples[name].append(dt)
    return samples


# client-side stages whose cumulative time per request the report breaks down
STAGES = (
    ("adapters/client.py", "_prepare", "request parsing (parse_request)"),
    ("adapters/engine.py", "handle", "core: Engine.handle (Router.handle + recording)"),
    ("adapters/engine.py", "start_attempt", "wire: build the HTTP request"),
    ("meshcore/wire/attempt.py", "receive_head", "wire: response head"),
    ("meshcore/wire/attempt.py", "receive_data", "wire: body / SSE parse + translate"),
    ("meshcore/wire/attempt.py", "receive_end", "wire: end of body (plain parse)"),
    ("adapters/engine.py", "next_bound", "driver: deadline bookkeeping"),
    ("httpcore/_sync/connection_pool.py", "handle_request", "httpcore request (incl. waits)"),
)


def _stage_table(stats: pstats.Stats, requests: int) -> str:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = ["| stage | cumulative us per request |", "| --- | ---: |"]
    for path, func, label in STAGES:
        total = sum(v[3] for (file, _line, name), v in raw.items()
                    if name == func and file.endswith(path))
        rows.append(f"| {label} | {total / requests * 1e6:.0f} |")
    return "\n".join(rows)


def _profile_sync(srv: FakeProviderServer, n: int) -> tuple[str, str]:
    with create(config=_config(srv), seed=1) as client:
        client.chat.completions.create(model="chat", messages=MSG)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            client.chat.completions.create(model="chat", messages=MSG)
            list(client.chat.completions.create(model="chat", messages=MSG, stream=True))
        prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stages = _stage_table(stats, 2 * n)
    stats.sort_stats("tottime").print_stats(40)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    root = str(ROOT) + "/"
    # socket send/recv are waits on the fake provider, not client CPU: left out
    body = [ln.replace(root, "") for ln in lines[start + 1:] if "_socket.socket" not in ln]
    return "\n".join([lines[start], *body[:15]]), stages


# ---------------------------------------------------------------- async


async def _bench_async(srv: Any, n: int, warmup: int, out: Sample) -> None:
    async with create_async(config=_config(srv), seed=1) as client, \
            httpcore.AsyncConnectionPool() as pool, \
            LeanAsyncConnectionPool(network_backend=AsyncDeadlineBackend(
                clock=anyio.current_time)) as same:
        await client.chat.completions.create(model="chat", messages=MSG)
        stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
        _ = [c async for c in stream]
        count = len(srv.requests)
        plain_req, stream_req = _raw_request(srv, count - 2), _raw_request(srv, count - 1)

        async def raw(req: tuple[str, list[tuple[str, str]], bytes],
                      on: httpcore.AsyncConnectionPool = pool) -> None:
            url, headers, body = req
            async with on.stream("POST", url, headers=headers, content=body) as resp:
                async for _ in resp.aiter_stream():
                    pass

        async def client_plain() -> None:
            await client.chat.completions.create(model="chat", messages=MSG)

        async def client_stream() -> None:
            s = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
            async for _ in s:
                pass

        variants: dict[str, Callable[[], Awaitable[None]]] = {
            "raw plain": lambda: raw(plain_req),
            "same plain": lambda: raw(plain_req, same),
            "client plain": client_plain,
            "raw stream": lambda: raw(stream_req),
            "same stream": lambda: raw(stream_req, same),
            "client stream": client_stream,
        }
        for name in variants:
            out[name] = []
        for i in range(warmup + n):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                await fn()
                dt = time.perf_counter() - t0
                if i >= warmup:
                    out[name].append(dt)


# ---------------------------------------------------------------- report


Row = tuple[str, float, float, float, float]  # case, raw, same transport, client, ratio


def _rows(label: str, samples: Sample) -> list[Row]:
    rows = []
    for mode in ("plain", "stream"):
        raw = _median_us(samples[f"raw {mode}"])
        same = _median_us(samples[f"same {mode}"])
        cli = _median_us(samples[f"client {mode}"])
        rows.append((f"{label} {mode}", raw, same, cli, cli / raw))
    return rows


def _measure(srv: Any, n: int, warmup: int) -> list[Row]:
    sync_samples = _bench_sync(srv, n, warmup)
    async_samples: Sample = {}
    anyio.run(_bench_async, srv, n, warmup, async_samples, backend="asyncio")
    trio_samples: Sample = {}
    anyio.run(_bench_async, srv, n, warmup, trio_samples, backend="trio")
    return (_rows("sync", sync_samples) + _rows("async (asyncio)", async_samples)
            + _rows("async (trio)", trio_samples))


def _table(rows: list[Row]) -> list[str]:
    lines = ["| case | raw httpcore (us) | raw, client's transport (us) | client (us) "
             "| client / raw | client / same transport | target <= 1.15x |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, raw, same, cli, ratio in rows:
        lines.append(f"| {name} | {raw:.0f} | {same:.0f} | {cli:.0f} | {ratio:.2f}x | "
                     f"{cli / same:.2f}x | {'met' if ratio <= TARGET else 'MISSED'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--requests", type=int, default=400, help="measured requests per variant")
    ap.add_argument("--quick", action="store_true", help="60 requests, no results file")
    args = ap.parse_args(argv)
    n = 60 if args.quick else args.requests
    warmup = max(10, n // 10)
    plan = [{"content": CONTENT}]
    with FakeProviderServer(plan) as srv:
        rows = _measure(srv, n, warmup)
        profile, stages = _profile_sync(srv, min(n, 200))
    remote = _Remote(plan)
    try:
        remote_rows = _measure(remote, n, warmup)
    finally:
        remote.close()
    met = all(r[4] <= TARGET for r in rows + remote_rows)
    lines = [
        "# Client benchmark",
        "",
        f"`python bench/client.py --requests {n}` on Python {platform.python_version()}, "
        f"{platform.machine()} ({platform.system()}); {n} measured requests per variant "
        f"after {warmup} warm-up rounds, variants interleaved request by request, against "
        "one loopback `FakeProviderServer` (OpenAI format, a 13-word answer; streams are "
        "one SSE event per word).",
        "",
        "Median wall time per request. *raw* is an httpcore request with the byte-identical "
        "body and headers the client sent, body read to the end, on httpcore's default "
        "pool and network backend (what a user calling httpcore directly gets); *raw, "
        "client's transport* is the same request on the pool and network backend the "
        "client's driver uses (`adapters.pool`, `adapters.http` / `adapters.aio_net`: "
        "coalesced writes, asyncio transports, non-yielding locks), so *client / same "
        "transport* is the cost of the client's own work alone; *client* is "
        "`chat.completions.create(...)` through a one-model pool (routing, wire "
        "translation, response objects). The target is judged on *client / raw*.",
        "",
        "The numbers come from a small shared machine (2 cores, other jobs running at the "
        f"same time; load average {os.getloadavg()[0]:.1f} at the end of this run): the sync "
        "ratios repeat within about 0.1 between runs, the async ones move by up to about "
        "0.5, mostly through the raw baseline.",
        "",
        "### Fake provider in the benchmark's process (threads)",
        "",
        *_table(rows),
        "",
        "### Fake provider in its own process (as a real provider is)",
        "",
        "Same requests (their bytes captured from an in-process copy first), against "
        "`python -m adapters.fake_provider` in a child process: the provider no longer "
        "competes with the client for the interpreter lock, so the raw call gets faster "
        "and the client's own CPU time weighs more.",
        "",
        *_table(remote_rows),
    ]
    lines.append("")
    if met:
        lines.append("Target met in every case.")
    else:
        missed = ", ".join(f"{r[0]} {r[4]:.2f}x ({r[3] - r[1]:.0f} us over raw)"
                           for r in rows + remote_rows if r[4] > TARGET)
        lines.append(f"**Target missed**: {missed}. The overhead is CPU time in the client "
                     "per request; the loopback fake provider answers in well under a "
                     "millisecond, so a fixed overhead weighs far more here than against a "
                     "real provider (hundreds of milliseconds).")
    lines += ["", "Where the sync client's time goes (cProfile, cumulative time per request, "
              "plain and streamed requests averaged; profiling inflates every number, so "
              "compare the rows with each other, not with the table above):", "", stages]
    lines += ["", f"Hottest functions of the sync client ({min(n, 200)} plain + "
              f"{min(n, 200)} streamed requests under cProfile, by own time; the fake "
              "provider's threads are not profiled; socket send/recv, which are waits on the "
              "provider, are left out):", "", "```", profile, "```", ""]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        out = ROOT / "bench" / "results" / "client.md"
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
