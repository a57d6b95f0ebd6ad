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

Split (on by default, `--no-split` skips it): after the headline loop (direct and
proxy only, the pair the target is about), a second sequential loop in which each
round also calls two stand-ins served exactly like the proxy (hypercorn, same
settings, same loop):
`hypercorn`, a trivial ASGI app answering canned JSON (the server's own cost),
and `app`, the real `ProxyApp` whose client call returns a canned result (the
server plus the proxy app's own work, without the outbound call). The rest of
the added latency is the async client call (routing, driver, httpcore, the
second loopback hop). Each stand-in runs in its own process, like the proxy.
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
MARKER = "<!-- analysis: kept by --write -->"
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


def _child(kind: str, config: str, loop: str) -> int:
    """Serve one benchmark target (`proxy`, `app` or `hypercorn`) on a free port."""
    sys.path.insert(0, str(ROOT))
    import anyio

    from adapters.proxy.server import ConfigSource, backend_options, open_listener, run_proxy
    from adapters.proxy.server import serve_app as serve

    def announce(url: str) -> None:
        print(f"listening on {url}", flush=True)

    if kind == "proxy":
        return run_proxy(ConfigSource(config), port=0, log_level="ERROR", announce=announce,
                         loop=loop)
    import signal

    from adapters.build import build
    from adapters.client import AsyncMeshClient
    from adapters.proxy.app import ProxyApp
    from adapters.proxy.settings import settings_from

    built = build((), config=config)
    client = AsyncMeshClient(built)
    app = ProxyApp(client, settings_from(built, port=0))
    if kind == "app":
        real = client._call
        canned: dict[str, Any] = {}

        async def call(op: Any, data: dict[str, Any], options: Any, request: Any = None) -> Any:
            if "r" not in canned:  # one real call, then the same result every time
                canned["r"] = await real(op, data, options, request)
            return canned["r"]

        client._call = call  # type: ignore[method-assign]
    else:
        payload = json.dumps({"id": "x", "object": "chat.completion", "created": 1,
                              "model": "m0", "choices": []}).encode()
        inner = app

        class Trivial:
            settings = inner.settings

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] == "lifespan":
                    await inner(scope, receive, send)
                    return
                while (await receive()).get("more_body"):
                    pass
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(payload))]})
                await send({"type": "http.response.body", "body": payload})

        target: Any = Trivial()
    sock = open_listener("127.0.0.1", 0)

    async def trigger() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs:
            async for _ in sigs:
                app.begin_shutdown()
                return

    async def main() -> None:
        await serve(target if kind == "hypercorn" else app, sock, backend="asyncio",
                    shutdown_trigger=trigger, log_level="ERROR")

    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    anyio.run(main, backend="asyncio", backend_options=backend_options("asyncio", loop))
    return 0


def ready(port: int) -> None:
    """Wait (bounded) until a child answers: it announces before its lifespan ran."""
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            post(conn, "/v1/chat/completions", BODY)
            return
        except (ConnectionError, RuntimeError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # bounded poll: the child is still starting
        finally:
            conn.close()


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


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process `pid` (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sequential(fake: int, proxy: int, n: int,
               others: dict[str, int] | None = None,
               pids: dict[str, int] | None = None) -> dict[str, float]:
    """Interleaved sequential requests: direct, proxy, then each of `others`.
    With `pids` (name -> server process), also the CPU time each server
    process spent per request it served (`cpu_<name>`, microseconds)."""
    direct_c = http.client.HTTPConnection("127.0.0.1", fake, timeout=30)
    conns = {"proxy": http.client.HTTPConnection("127.0.0.1", proxy, timeout=30)}
    for name, port in (others or {}).items():
        conns[name] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    direct_body = {**BODY, "model": "m0"}
    for _ in range(50):  # warm-up: connections, pools, code paths
        post(direct_c, "/v1/chat/completions", direct_body)
        for c in conns.values():
            post(c, "/v1/chat/completions", BODY)
    d: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in conns}
    cpu0 = {name: cpu_seconds(pid) for name, pid in (pids or {}).items()}
    for _ in range(n):
        t0 = time.perf_counter()
        post(direct_c, "/v1/chat/completions", direct_body)
        d.append((time.perf_counter() - t0) * 1000)
        for name, c in conns.items():
            t0 = time.perf_counter()
            post(c, "/v1/chat/completions", BODY)
            times[name].append((time.perf_counter() - t0) * 1000)
    cpu1 = {name: cpu_seconds(pid) for name, pid in (pids or {}).items()}
    direct_c.close()
    for c in conns.values():
        c.close()
    p = times["proxy"]
    cpu: dict[str, float] = {}
    for name, before in cpu0.items():
        after = cpu1[name]
        if before is not None and after is not None:
            served = 2 * n if name == "fake" else n  # the fake serves direct + proxied
            cpu[f"cpu_{name}"] = (after - before) / served * 1e6
    out = {"direct_median": statistics.median(d), "direct_p99": pct(d, 99),
           "proxy_median": statistics.median(p), "proxy_p99": pct(p, 99),
           "added_median": statistics.median(p) - statistics.median(d),
           "added_p99": pct(p, 99) - pct(d, 99)}
    for name, values in times.items():
        out[f"{name}_added"] = statistics.median(values) - statistics.median(d)
    out.update(cpu)
    return out


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
    ap.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                    help="asyncio event loop of the proxy and stand-ins (auto: uvloop if "
                    "installed)")
    ap.add_argument("--no-split", dest="split", action="store_false",
                    help="skip the hypercorn / app stand-ins")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--child", choices=("proxy", "app", "hypercorn"), help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(args.child, args.config, args.loop)
    fake, fport = start(["-m", "adapters.fake_provider", "--port", "0"])
    tmp = tempfile.TemporaryDirectory()
    cfg = {"providers": {"p0": {"connector": "openai.compatible.v1", "api_key": "k",
                                "base_url": f"http://127.0.0.1:{fport}/v1"}},
           "models": {"p0.m0": {"provider": "p0", "name": "m0",
                                "capabilities": ["chat-completion"]}},
           "pools": {"chat": {"models": ["p0.m0"]}}}
    path = Path(tmp.name) / "bench.json"
    path.write_text(json.dumps(cfg), encoding="utf-8")
    if args.backend == "trio":
        proxy, pport = start(["-m", "adapters.cli", "serve", "--config", str(path), "--port",
                              "0", "--log-level", "ERROR", "--backend", "trio"])
    else:
        proxy, pport = start([__file__, "--child", "proxy", "--config", str(path),
                              "--loop", args.loop])
    procs = [proxy, fake]
    pids = {"proxy": proxy.pid, "fake": fake.pid}
    try:
        stand_ins: dict[str, int] = {}
        if args.split:
            for kind in ("hypercorn", "app"):
                proc, port = start([__file__, "--child", kind, "--config", str(path),
                                    "--loop", args.loop])
                procs.insert(0, proc)
                stand_ins[kind] = port
                pids[kind] = proc.pid
        for port in (pport, *stand_ins.values()):
            ready(port)
        # the headline pair alone (what the target is about), then the split
        # in a second loop with the stand-ins interleaved (their requests
        # between the proxy's cool its caches)
        seq = sequential(fport, pport, args.requests, None,
                         {"proxy": pids["proxy"], "fake": pids["fake"]})
        split = sequential(fport, pport, args.requests, stand_ins, pids) if stand_ins else {}
        direct_s = streams(fport, "m0", args.streams, args.per_stream)
        proxy_s = streams(pport, "chat", args.streams, args.per_stream)
        after = sequential(fport, pport, max(100, args.requests // 5))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        tmp.cleanup()
    loop = "trio" if args.backend == "trio" else args.loop
    if loop == "auto":
        from adapters.proxy.server import backend_options

        loop = "uvloop" if backend_options("asyncio") else "asyncio"
    lines = [
        "# Proxy benchmark",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPU(s) shared with other jobs; proxy backend {args.backend} "
        f"(event loop: {loop}).",
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
    ]
    if split:
        hyp, app = split["hypercorn_added"], split["app_added"]
        lines += [
            f"Split of the added median, from a second loop of {args.requests} rounds in "
            "which each round also calls the two stand-ins (a trivial ASGI app under "
            "hypercorn, and the proxy app with a canned client result). With four servers "
            "taking turns the proxy's caches are colder there; that loop's own added median: "
            f"{split['added_median']:.3f} ms.",
            "",
            "| part | ms |",
            "| --- | ---: |",
            f"| hypercorn (trivial ASGI app vs the fake provider) | {hyp:.3f} |",
            f"| proxy app's own work (app with a canned client result, minus hypercorn) | "
            f"{app - hyp:.3f} |",
            f"| async client call (routing, driver, httpcore, second hop) | "
            f"{split['added_median'] - app:.3f} |",
            "",
        ]
    if "cpu_proxy" in seq:
        lines += [
            "CPU time per request in each server process (user + system, from /proc; "
            "less noisy than wall time on a shared machine, and it is what the added "
            "latency is made of: the proxy process works through each request serially):",
            "",
            "| server process | CPU us per request |",
            "| --- | ---: |",
            f"| fake provider | {seq['cpu_fake']:.0f} |",
            *([f"| hypercorn stand-in (trivial ASGI app; second loop) | "
               f"{split['cpu_hypercorn']:.0f} |",
               f"| app stand-in (proxy app, canned client result; second loop) | "
               f"{split['cpu_app']:.0f} |"]
              if "cpu_app" in split else []),
            f"| proxy (hypercorn + app + async client + outbound httpcore) | "
            f"{seq['cpu_proxy']:.0f} |",
            "",
        ]
    lines += [
        f"After the stream phase (its ~{args.streams} pooled upstream connections still "
        f"open): added median {after['added_median']:.3f} ms.",
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
        out = ROOT / "bench" / "results" / "proxy.md"
        # keep the hand-written analysis below the marker across re-runs
        old = out.read_text(encoding="utf-8") if out.exists() else ""
        if MARKER in old:
            text += "\n" + MARKER + old.split(MARKER, 1)[1]
        out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
