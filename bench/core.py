"""Core routing benchmark: one request's routing decisions.

Measures, per request, `Router.handle(RequestSubmitted)` (up to the
`SendAttempt`) plus `Router.handle(AttemptSucceeded)` (up to the `Deliver`)
with `time.perf_counter_ns` (the two calls are timed; picking the
`SendAttempt` out of the actions and building the success event in between
is the driver's work and is not), after a warm-up, for pools of 1, 10, 100 and
1,000 models under each of the eight built-in strategies. Targets (issue
2): p50 <= 15 us and p99 <= 50 us per request at 100 models; the 1,000-model
cost at most 2x the 100-model cost. Not a timed test: run it by hand.

Run: `python bench/core.py [--quick] [--requests N]`. Prints the table and
(not with `--quick`) writes it to bench/results/core.md, keeping whatever
follows the analysis marker in that file.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshcore import load_config  # noqa: E402
from meshcore.actions import Deliver, SendAttempt  # noqa: E402
from meshcore.events import AttemptSucceeded, RequestSubmitted  # noqa: E402
from meshcore.router.router import Router  # noqa: E402
from meshcore.router.strategies import STRATEGY_IDS  # noqa: E402
from meshcore.types import Instant, RateLimitInfo, RequestFeatures, Usage  # noqa: E402

SIZES = (1, 10, 100, 1000)
MARKER = "<!-- analysis: kept by bench/core.py -->"
SECTION_START = "<!-- table: "
# the installed build of meshcore: each writes its own table, the other's is kept
MODES = {"compiled": "compiled with mypyc (what `pip install .` builds)",
         "pure": "as pure Python (`MESHCORE_PURE=1`, editable installs)"}


def build_mode() -> str:
    """`compiled` when meshcore was built with mypyc, else `pure`."""
    from meshcore._mypyc import build

    return build()


def _section(body: str, mode: str) -> str:
    """One mode's table section of an earlier results file ('' if none)."""
    start = body.find(f"{SECTION_START}{mode} -->")
    if start < 0:
        return ""
    end = body.find(SECTION_START, start + 1)
    return body[start:end if end >= 0 else len(body)].rstrip("\n") + "\n"
WALL0 = 1_790_000_000.0


def config(n: int, strategy: str) -> dict[str, Any]:
    """n models spread over ten OpenAI-compatible providers, one pool."""
    providers = {
        f"p{i}": {"connector": "openai.compatible.v1", "base_url": f"http://127.0.0.1:1/{i}"}
        for i in range(min(n, 10))
    }
    models = {
        f"p{i % 10}.m{i}": {"provider": f"p{i % 10}", "name": f"m{i}",
                            "capabilities": ["chat-completion"],
                            "pricing": {"input_per_1m": 1.0 + i % 7, "output_per_1m": 2.0}}
        for i in range(n)
    }
    return {"providers": providers, "models": models,
            "pools": {"chat": {"models": list(models), "strategy": strategy}}}


def measure(n: int, strategy: str, requests: int, warmup: int) -> tuple[float, float, float]:
    """(p50, p99, mean) microseconds per request."""
    r = Router(load_config(config(n, strategy)), seed=1)
    feats = RequestFeatures(prompt_tokens=50, max_tokens=100)
    usage = Usage(50, 20)
    rl = RateLimitInfo(requests_remaining=900, requests_limit=1000)
    samples: list[int] = []
    mono = 0.0
    perf = time.perf_counter_ns
    for i in range(warmup + requests):
        mono += 0.01
        now = Instant(mono, WALL0 + mono)
        ev = RequestSubmitted(f"r{i}", "chat", feats, None, f"s{i % 50}")
        t0 = perf()
        acts = r.handle(ev, now)
        t1 = perf()
        # the driver's part (finding the send, building the fact) is not timed
        send = next(a for a in acts if isinstance(a, SendAttempt))
        done = AttemptSucceeded(send.attempt_id, usage, 120.0, rate_limits=rl)
        t2 = perf()
        acts = r.handle(done, now)
        t3 = perf()
        assert any(isinstance(a, Deliver) for a in acts)
        if i >= warmup:
            samples.append(t1 - t0 + t3 - t2)
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000.0
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000.0
    return p50, p99, statistics.fmean(samples) / 1000.0


def short(sid: str) -> str:
    return sid[len("modelmesh."):-len(".v1")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer requests")
    ap.add_argument("--requests", type=int, default=0)
    args = ap.parse_args()
    load = os.getloadavg()
    requests = args.requests or (300 if args.quick else 3000)
    warmup = max(50, requests // 10)
    rows = []
    verdicts = []
    for sid in STRATEGY_IDS:
        res = {n: measure(n, sid, requests, warmup) for n in SIZES}
        cells = " | ".join(f"{res[n][0]:.1f} / {res[n][1]:.1f}" for n in SIZES)
        ratio = res[1000][0] / res[100][0]
        ok = res[100][0] <= 15.0 and res[100][1] <= 50.0 and ratio <= 2.0
        rows.append(f"| {short(sid)} | {cells} | {ratio:.2f} | {'yes' if ok else 'NO'} |")
        verdicts.append(ok)
        print(rows[-1], flush=True)
    mode = build_mode()
    head = [
        "# Core routing benchmark",
        "",
        "Per request: `handle(RequestSubmitted)` -> `SendAttempt`, then "
        "`handle(AttemptSucceeded)` -> `Deliver`, timed with `time.perf_counter_ns`.",
        f"{requests} requests after {warmup} warm-up requests per cell. "
        "Cells are p50 / p99 in microseconds.",
        "Targets: p50 <= 15 us and p99 <= 50 us at 100 models; 1,000-model p50 at most "
        "2x the 100-model p50.",
        "",
        f"Python {platform.python_version()} on {platform.machine()} "
        f"({platform.system()}), shared 2-core machine.",
    ]
    table = [
        f"{SECTION_START}{mode} -->",
        f"## meshcore {MODES[mode]}",
        "",
        "| strategy | 1 | 10 | 100 | 1,000 | p50 1000/100 | targets met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Load average (1/5/15 min) just before this run: {load[0]:.2f}, {load[1]:.2f}, "
        f"{load[2]:.2f}.",
        "",
    ]
    print("\n".join([*head, "", *table]))
    if args.quick:
        return  # a quick run is a smoke test: the results file keeps the full run
    out = ROOT / "bench" / "results" / "core.md"
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    body, _, analysis = old.partition(MARKER)
    sections = {m: part for m in MODES if (part := _section(body, m))}
    sections[mode] = "\n".join(table)
    text = "\n".join([*head, "", *(sections[m] for m in MODES if m in sections)])
    if analysis:  # the hand-written analysis below the marker is kept
        text += "\n" + MARKER + analysis
    out.write_text(text, encoding="utf-8")
    print(f"all targets met: {all(verdicts)}")


if __name__ == "__main__":
    main()
