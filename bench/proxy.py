"""Proxy benchmark (issue 6): latency the proxy adds over calling the fake provider
directly, and streaming throughput with 64 concurrent streams.

Run: `python bench/proxy.py [--requests N] [--streams 64] [--per-stream K] [--write]`.

The fake provider and `modelmesh serve` each run in their own process (so the
benchmark's client threads do not share a GIL with either server). Sequential part:
one keep-alive HTTP/1.1 connection to each, requests interleaved (direct, proxy,
direct, ...) so drift hits both alike; reported are median and p99 wall time per
non-streamed chat request and the difference (the latency the proxy adds, which
includes the whole routing path: ASGI, parsing, the core, the outbound httpcore
request and the response headers). Throughput part: 64 client threads, each with
its own keep-alive connection, run K streamed chat requests to the end (`[DONE]`);
reported are streams/s and chunks/s, direct and through the proxy.
Target: <= 1 ms added median. `--write` stores the table in bench/results/proxy.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BODY = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}]}


def start(argv: list[str]) -> tuple[subprocess.Popen[str], int]:
    """Start a child that prints `listening on http://HOST:PORT`; return it and the port."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    out = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in out], daemon=True).start()
    first = lines.get(timeout=30)
    return proc, int(first.strip().rsplit(":", 1)[1])


def post(conn: http.client.HTTPConnection, path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"content-type": "application/json",
                                                   "authorization": "Bearer k"})
    resp = conn.getresponse()
    payload = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{path}: {resp.status} {payload[:200]!r}")
    return payload


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100.0 * (len(s) - 1)))]


def sequential(fake: int, proxy: int, n: int) -> dict[str, float]:
    direct_c = http.client.HTTPConnection("127.0.0.1", fake, timeout=30)
    proxy_c = http.client.HTTPConnection("127.0.0.1", proxy, timeout=30)
    direct_body = {**BODY, "model": "m0"}
    for _ in range(50):  # warm-up: connections, pools, code paths
        post(direct_c, "/v1/chat/completions", direct_body)
        post(proxy_c, "/v1/chat/completions", BODY)
    d: list[float] = []
    p: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        post(direct_c, "/v1/chat/completions", direct_body)
        t1 = time.perf_counter()
        post(proxy_c, "/v1/chat/completions", BODY)
        t2 = time.perf_counter()
        d.append((t1 - t0) * 1000)
        p.append((t2 - t1) * 1000)
    direct_c.close()
    proxy_c.close()
    return {"direct_median": statistics.median(d), "direct_p99": pct(d, 99),
            "proxy_median": statistics.median(p), "proxy_p99": pct(p, 99),
            "added_median": statistics.median(p) - statistics.median(d),
            "added_p99": pct(p, 99) - pct(d, 99)}


def streams(port: int, model: str, threads: int, per: int) -> dict[str, float]:
    chunks = [0] * threads
    errors: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        try:
            for _ in range(per):
                body = post(conn, "/v1/chat/completions", {**BODY, "model": model,
                                                           "stream": True})
                if not body.endswith(b"data: [DONE]\n\n"):
                    errors.append("incomplete stream")
                chunks[i] += body.count(b"data: ") - 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} stream errors, first: {errors[0]}")
    return {"wall_s": wall, "streams_per_s": threads * per / wall,
            "chunks_per_s": sum(chunks) / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--per-stream", type=int, default=10)
    ap.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    fake, fport = start(["-m", "adapters.fake_provider", "--port", "0"])
    tmp = tempfile.TemporaryDirectory()
    cfg = {"providers": {"p0": {"connector": "openai.compatible.v1", "api_key": "k",
                                "base_url": f"http://127.0.0.1:{fport}/v1"}},
           "models": {"p0.m0": {"provider": "p0", "name": "m0",
                                "capabilities": ["chat-completion"]}},
           "pools": {"chat": {"models": ["p0.m0"]}}}
    path = Path(tmp.name) / "bench.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    proxy, pport = start(["-m", "adapters.cli", "serve", "--config", str(path), "--port", "0",
                          "--log-level", "ERROR", "--backend", args.backend])
    try:
        seq = sequential(fport, pport, args.requests)
        direct_s = streams(fport, "m0", args.streams, args.per_stream)
        proxy_s = streams(pport, "chat", args.streams, args.per_stream)
    finally:
        for proc in (proxy, fake):
            proc.terminate()
            proc.wait(timeout=30)
        tmp.cleanup()
    lines = [
        "# Proxy benchmark",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s) shared with other jobs; proxy backend {args.backend}.",
        "Fake provider and proxy each in their own process; client on loopback "
        "with keep-alive connections.",
        "",
        f"## Sequential non-streamed chat ({args.requests} requests, interleaved)",
        "",
        "| path | median ms | p99 ms |",
        "| --- | ---: | ---: |",
        f"| direct to fake provider | {seq['direct_median']:.3f} | {seq['direct_p99']:.3f} |",
        f"| through the proxy | {seq['proxy_median']:.3f} | {seq['proxy_p99']:.3f} |",
        f"| **added by the proxy** | **{seq['added_median']:.3f}** | "
        f"**{seq['added_p99']:.3f}** |",
        "",
        f"Target: <= 1 ms added median -> "
        f"{'met' if seq['added_median'] <= 1.0 else 'NOT met'}.",
        "",
        f"## Throughput: {args.streams} concurrent streams x {args.per_stream} each",
        "",
        "| path | wall s | streams/s | chunks/s |",
        "| --- | ---: | ---: | ---: |",
        f"| direct to fake provider | {direct_s['wall_s']:.2f} | "
        f"{direct_s['streams_per_s']:.0f} | {direct_s['chunks_per_s']:.0f} |",
        f"| through the proxy | {proxy_s['wall_s']:.2f} | {proxy_s['streams_per_s']:.0f} | "
        f"{proxy_s['chunks_per_s']:.0f} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        (ROOT / "bench" / "results" / "proxy.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
