"""Proxy instruction count per request (issue 6), for A/B comparisons on a noisy machine.

Run: `python bench/proxy_instr.py [--requests N] [--warmup W]` (needs valgrind).

Wall time and even CPU time per request move by 30-40 % between runs on a
shared machine; the number of machine instructions the proxy process executes
per request does not. This starts the fake provider normally and the proxy
process (the same child `bench/proxy.py` starts) under valgrind's callgrind
with instrumentation off, sends W warm-up requests, switches instrumentation on
(`callgrind_control -i on`), sends N sequential non-streamed chat requests over
one keep-alive connection, switches it off, and prints the proxy's
instructions per request (everything the process ran meanwhile: hypercorn, the
app, the client, the outbound request, the event loop). Not a timed test: run
it by hand, before and after a change.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import proxy as proxy_bench  # noqa: E402  (bench/proxy.py)


def _control(pid: int, *args: str) -> str:
    return subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                          capture_output=True, text=True, timeout=120).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--keep", metavar="FILE", help="keep callgrind's output file here "
                    "(for callgrind_annotate)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (callgrind) is not installed", file=sys.stderr)
        return 2
    fake, fport = proxy_bench.start(["-m", "adapters.fake_provider", "--port", "0"])
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "bench.json"
    path.write_text(proxy_bench.json.dumps({
        "providers": {"p0": {"connector": "openai.compatible.v1", "api_key": "k",
                             "base_url": f"http://127.0.0.1:{fport}/v1"}},
        "models": {"p0.m0": {"provider": "p0", "name": "m0",
                             "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p0.m0"]}}}), encoding="utf-8")
    out = Path(tmp.name) / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           f"--callgrind-out-file={out}", sys.executable, str(ROOT / "bench" / "proxy.py"),
           "--child", "proxy", "--config", str(path), "--loop", "auto"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening on http://127.0.0.1:PORT" (bounded below)
        port = int(line.strip().rsplit(":", 1)[1])
        proxy_bench.ready(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(args.warmup):
            proxy_bench.post(conn, "/v1/chat/completions", proxy_bench.BODY)
        _control(proc.pid, "-i", "on")
        t0 = time.perf_counter()
        for _ in range(args.requests):
            proxy_bench.post(conn, "/v1/chat/completions", proxy_bench.BODY)
        wall = time.perf_counter() - t0
        _control(proc.pid, "-i", "off")
        conn.close()
        status = _control(proc.pid, "--stat")
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        fake.terminate()
        fake.wait(timeout=30)
    text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
    if args.keep:
        shutil.copyfile(out, args.keep)
    tmp.cleanup()
    found = re.search(r"^totals:\s*(\d+)", text, re.M)  # (the dump at exit)
    if not found:
        print(status)
        print("no callgrind totals found", file=sys.stderr)
        return 1
    total = int(found.group(1))
    print(f"proxy instructions per request: {total / args.requests / 1000:.1f} k "
          f"({args.requests} requests after {args.warmup} warm-up; "
          f"{wall / args.requests * 1000:.1f} ms each under valgrind)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
