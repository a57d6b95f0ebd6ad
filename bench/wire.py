"""Wire-layer benchmark: SSE parse + translate per chunk, request building.

Run: `python bench/wire.py [--quick]`. Writes a markdown table to
bench/results/wire.md and prints it. Target (issue 3): <= 5 us per chunk
for SSE parse + translate into an OpenAI-shaped ChatCompletionChunk.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshcore.config.schema import ModelConfig, ProviderConfig  # noqa: E402
from meshcore.wire.models import parse_request  # noqa: E402
from meshcore.wire.registry import start_attempt  # noqa: E402
from meshcore.wire.sse import SSEParser  # noqa: E402

MODEL = ModelConfig(id="openai.gpt-4o", provider="openai.llm.v1", name="gpt-4o")
PROVIDER = ProviderConfig(id="openai.llm.v1", connector="openai.llm.v1")
CHAT = {"messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Explain SSE in one paragraph."}],
        "temperature": 0.3, "max_tokens": 256}


def _stream_body(n_chunks: int) -> bytes:
    parts = []
    for i in range(n_chunks):
        chunk = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1718000000,
                 "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
                 "choices": [{"index": 0, "delta": {"content": f"token{i} "},
                              "logprobs": None, "finish_reason": None}]}
        parts.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    parts.append(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def _attempt(stream: bool):  # type: ignore[no-untyped-def]
    req = parse_request("chat", {**CHAT, "stream": stream})
    return start_attempt(req, model=MODEL, provider=PROVIDER, api_key="sk-bench",
                         attempt_id="bench", model_id="openai.gpt-4o",
                         response_id="chatcmpl-bench", created=0)


def _time_per_op(fn: Callable[[], int], repeats: int) -> tuple[float, float]:
    """(median, best) microseconds per operation over `repeats` runs."""
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ops = fn()
        samples.append((time.perf_counter() - t0) / ops * 1e6)
    return statistics.median(samples), min(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "wire.md"))
    args = ap.parse_args()
    n_chunks = 200 if args.quick else 2000
    repeats = 3 if args.quick else 9
    body = _stream_body(n_chunks)
    network_pieces = [body[i:i + 1400] for i in range(0, len(body), 1400)]
    per_event = [b"data: " + p for p in body.split(b"data: ")[1:]]

    def sse_only() -> int:
        p = SSEParser()
        n = 0
        for piece in network_pieces:
            n += len(p.feed(piece))
        return n

    def parse_translate(pieces: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            a = _attempt(True)
            a.next_request()
            a.receive_head(200, [("content-type", "text/event-stream")])
            n = 0
            for piece in pieces:
                n += len(a.receive_data(piece))
            n += len(a.receive_end())
            assert a.outcome().__class__.__name__ == "AttemptSucceeded"
            return n
        return run

    parsed = parse_request("chat", CHAT)

    def build_requests() -> int:
        n = 500 if args.quick else 5000
        for _ in range(n):
            a = start_attempt(parsed, model=MODEL, provider=PROVIDER, api_key="k",
                              attempt_id="b", model_id="openai.gpt-4o", response_id="r",
                              created=0)
            a.next_request()
        return n

    def build_and_parse_request() -> int:
        n = 500 if args.quick else 5000
        for _ in range(n):
            req = parse_request("chat", CHAT)
            a = start_attempt(req, model=MODEL, provider=PROVIDER, api_key="k", attempt_id="b",
                              model_id="openai.gpt-4o", response_id="r", created=0)
            a.next_request()
        return n

    rows = [
        ("SSE parse only, 1400-byte network reads", "per event", _time_per_op(sse_only, repeats)),
        ("SSE parse + translate, 1400-byte reads", "per chunk",
         _time_per_op(parse_translate(network_pieces), repeats)),
        ("SSE parse + translate, one read per event", "per chunk",
         _time_per_op(parse_translate(per_event), repeats)),
        ("build HTTP request (parsed request)", "per request",
         _time_per_op(build_requests, repeats)),
        ("parse user dict + build HTTP request", "per request",
         _time_per_op(build_and_parse_request, repeats)),
    ]
    lines = [
        "# Wire-layer benchmark",
        "",
        f"Python {platform.python_version()} on {platform.machine()}; "
        f"{n_chunks} chunks per stream, {repeats} repeats (median and best).",
        "Target: SSE parse + translate <= 5 us per chunk.",
        "",
        "| case | unit | median (us) | best (us) |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, unit, (med, best) in rows:
        lines.append(f"| {name} | {unit} | {med:.2f} | {best:.2f} |")
    text = "\n".join(lines) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
