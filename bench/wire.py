"""Wire-layer benchmark: SSE parse + translate per chunk, request building.

Run: `python bench/wire.py [--quick] [--out PATH]`. Prints a markdown table
(and writes it to PATH); bench/results/wire.md records chosen runs. Target (issue 3): <= 5 us
per streamed chunk for SSE parse + translation into OpenAI-shaped
`ChatCompletionChunk`s, for each streaming family (OpenAI-compatible,
Anthropic, Gemini, Cohere), and request building per request.

Each family's stream is a realistic body of N text deltas (the shape the
provider really sends, including Anthropic `event:` lines and pings, Gemini
usage on every chunk, Cohere's nested deltas) plus its start and end events.
"Per chunk" divides the whole stream time (start/end events included) by
the number of content chunks the attempt emitted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshcore.config.schema import ModelConfig, ProviderConfig  # noqa: E402
from meshcore.wire.models import parse_request  # noqa: E402
from meshcore.wire.registry import start_attempt  # noqa: E402
from meshcore.wire.sse import SSEParser  # noqa: E402
from meshcore.wire.tokens import features_of  # noqa: E402

CHAT = {"messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Explain SSE in one paragraph."}],
        "temperature": 0.3, "max_tokens": 256}

# family -> (connector id, wire model name)
FAMILIES: dict[str, tuple[str, str]] = {
    "openai": ("openai.llm.v1", "gpt-4o"),
    "anthropic": ("anthropic.claude.v1", "claude-3-5-haiku-20241022"),
    "gemini": ("google.gemini.v1", "gemini-1.5-flash"),
    "cohere": ("cohere.nlp.v1", "command-r-plus"),
}


def _sse(obj: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _openai_body(n: int) -> bytes:
    parts = [_sse({"id": "chatcmpl-abc", "object": "chat.completion.chunk",
                   "created": 1718000000, "model": "gpt-4o-2024-08-06",
                   "system_fingerprint": "fp_1",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "logprobs": None, "finish_reason": None}]})]
    for i in range(n):
        # json.dumps default separators: the spaced form OpenAI actually sends
        chunk = {"id": "chatcmpl-abc", "object": "chat.completion.chunk", "created": 1718000000,
                 "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1",
                 "choices": [{"index": 0, "delta": {"content": f"token{i} "},
                              "logprobs": None, "finish_reason": None}]}
        parts.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    parts.append(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
    parts.append(_sse({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": n,
                                                "total_tokens": 20 + n}}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


def _anthropic_body(n: int) -> bytes:
    parts = [
        _sse({"type": "message_start", "message": {
            "id": "msg_01S", "type": "message", "role": "assistant",
            "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": None,
            "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 1}}},
            "message_start"),
        _sse({"type": "content_block_start", "index": 0,
              "content_block": {"type": "text", "text": ""}}, "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    for i in range(n):
        parts.append(_sse({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": f"token{i} "}},
                          "content_block_delta"))
    parts += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                 "stop_sequence": None},
              "usage": {"output_tokens": n}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return b"".join(parts)


def _gemini_body(n: int) -> bytes:
    parts = []
    for i in range(n):
        cand: dict[str, Any] = {"content": {"parts": [{"text": f"token{i} "}], "role": "model"},
                                "index": 0}
        if i == n - 1:
            cand["finishReason"] = "STOP"
        parts.append(_sse({"candidates": [cand],
                           "usageMetadata": {"promptTokenCount": 6,
                                             "candidatesTokenCount": i + 1,
                                             "totalTokenCount": i + 7},
                           "modelVersion": "gemini-1.5-flash",
                           "responseId": "abcdefghijklmnop"}))
    return b"".join(parts)


def _cohere_body(n: int) -> bytes:
    parts = [
        _sse({"id": "s1", "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
            "citations": []}}}, "message-start"),
        _sse({"type": "content-start", "index": 0,
              "delta": {"message": {"content": {"type": "text", "text": ""}}}}, "content-start"),
    ]
    for i in range(n):
        parts.append(_sse({"type": "content-delta", "index": 0,
                           "delta": {"message": {"content": {"text": f"token{i} "}}}},
                          "content-delta"))
    parts += [
        _sse({"type": "content-end", "index": 0}, "content-end"),
        _sse({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {
            "billed_units": {"input_tokens": 4, "output_tokens": n},
            "tokens": {"input_tokens": 64, "output_tokens": n}}}}, "message-end"),
    ]
    return b"".join(parts)


BODIES: dict[str, Callable[[int], bytes]] = {
    "openai": _openai_body, "anthropic": _anthropic_body,
    "gemini": _gemini_body, "cohere": _cohere_body,
}


# The configuration objects a client holds (built once, as a loaded config is).
CONFIGS: dict[str, tuple[ModelConfig, ProviderConfig]] = {
    family: (ModelConfig(id=f"{family}.bench", provider="p", name=name),
             ProviderConfig(id="p", connector=connector))
    for family, (connector, name) in FAMILIES.items()
}


def _attempt(family: str, stream: bool, parsed: Any = None):  # type: ignore[no-untyped-def]
    model, provider = CONFIGS[family]
    req = parsed if parsed is not None else parse_request("chat", {**CHAT, "stream": stream})
    return start_attempt(req, model=model, provider=provider,
                         api_key="sk-bench", attempt_id="bench", model_id=f"{family}.bench",
                         response_id="chatcmpl-bench", created=0)


def _time_per_op(fn: Callable[[], int], repeats: int) -> tuple[float, float]:
    """(median, best) microseconds per operation over `repeats` runs."""
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ops = fn()
        samples.append((time.perf_counter() - t0) / ops * 1e6)
    return statistics.median(samples), min(samples)


def _reads(body: bytes) -> list[bytes]:
    return [body[i:i + 1400] for i in range(0, len(body), 1400)]


def _per_event(body: bytes) -> list[bytes]:
    return [e + b"\n\n" for e in body.split(b"\n\n") if e]


def _stream_runner(family: str, pieces: list[bytes]) -> Callable[[], int]:
    def run() -> int:
        a = _attempt(family, True)
        a.next_request()
        a.receive_head(200, [("content-type", "text/event-stream")])
        n = 0
        for piece in pieces:
            for ch in a.receive_data(piece):
                n += ch.has_content
        for ch in a.receive_end():
            n += ch.has_content
        assert a.outcome().__class__.__name__ == "AttemptSucceeded", a.outcome()
        return n
    return run


def _request_runner(family: str, n: int, reparse: bool) -> Callable[[], int]:
    parsed = parse_request("chat", CHAT)

    def run() -> int:
        for _ in range(n):
            a = _attempt(family, False, parse_request("chat", CHAT) if reparse else parsed)
            a.next_request()
        return n
    return run


# Non-streamed response bodies in each provider's real shape (tests/wire/fixtures),
# with the rate-limit headers the provider sends alongside.
RESPONSES: dict[str, tuple[list[tuple[str, str]], Any]] = {
    "openai": ([("content-type", "application/json"), ("x-ratelimit-limit-requests", "10000"),
                ("x-ratelimit-remaining-requests", "9999"), ("x-ratelimit-reset-requests", "6ms"),
                ("x-ratelimit-limit-tokens", "30000000"),
                ("x-ratelimit-remaining-tokens", "29999990"),
                ("x-ratelimit-reset-tokens", "0s"), ("openai-processing-ms", "310")],
               {"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion",
                "created": 1741569952, "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "SSE streams events over one HTTP response.",
                    "refusal": None, "annotations": []}, "logprobs": None,
                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0}},
                "service_tier": "default", "system_fingerprint": "fp_1"}),
    "anthropic": ([("content-type", "application/json"),
                   ("anthropic-ratelimit-requests-limit", "50"),
                   ("anthropic-ratelimit-requests-remaining", "49"),
                   ("anthropic-ratelimit-tokens-limit", "40000"),
                   ("anthropic-ratelimit-tokens-remaining", "39000")],
                  {"id": "msg_01ABC", "type": "message", "role": "assistant",
                   "model": "claude-3-5-haiku-20241022",
                   "content": [{"type": "text", "text": "SSE streams events over HTTP."}],
                   "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 12, "output_tokens": 6}}),
    "gemini": ([("content-type", "application/json; charset=UTF-8")],
               {"candidates": [{"content": {"parts": [{"text": "SSE streams events."}],
                                            "role": "model"},
                                "finishReason": "STOP", "index": 0,
                                "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                   "probability": "NEGLIGIBLE"}]}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4,
                                  "totalTokenCount": 14},
                "modelVersion": "gemini-1.5-flash"}),
    "cohere": ([("content-type", "application/json")],
               {"id": "c14c80c3", "message": {"role": "assistant", "content": [
                   {"type": "text", "text": "SSE streams events over HTTP."}]},
                "finish_reason": "COMPLETE",
                "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 7},
                          "tokens": {"input_tokens": 65, "output_tokens": 7}}}),
}


def _round_trip_runner(family: str, n: int) -> Callable[[], int]:
    """Per plain (non-streamed) request, what the client's wire layer does:
    parse the user's kwargs, take the request's features (router input),
    create the attempt and build its HTTP request, then feed the provider's
    response (head with rate-limit headers, body in one read) and take the
    outcome."""
    headers, obj = RESPONSES[family]
    # the provider's own serialisation: spaced separators, as servers usually send
    body = json.dumps(obj).encode()

    def run() -> int:
        for _ in range(n):
            req = parse_request("chat", CHAT)
            features_of(req)
            a = _attempt(family, False, req)
            a.next_request()
            a.receive_head(200, headers)
            a.receive_data(body)
            a.receive_end()
            assert a.outcome().__class__.__name__ == "AttemptSucceeded", a.outcome()
        return n
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args()
    n_chunks = 200 if args.quick else 500
    n_requests = 200 if args.quick else 500
    repeats = 3 if args.quick else 31

    oa_pieces = _reads(_openai_body(n_chunks))

    def sse_only() -> int:
        p = SSEParser()
        n = 0
        for piece in oa_pieces:
            n += len(p.feed(piece))
        return n

    rows: list[tuple[str, str, tuple[float, float]]] = [
        ("SSE parse only (openai body), 1400-byte reads", "per event",
         _time_per_op(sse_only, repeats)),
    ]
    for family, make_body in BODIES.items():
        body = make_body(n_chunks)
        rows.append((f"{family}: SSE parse + translate, 1400-byte reads", "per chunk",
                     _time_per_op(_stream_runner(family, _reads(body)), repeats)))
        rows.append((f"{family}: SSE parse + translate, one read per event", "per chunk",
                     _time_per_op(_stream_runner(family, _per_event(body)), repeats)))
    for family in BODIES:
        rows.append((f"{family}: build HTTP request (parsed request)", "per request",
                     _time_per_op(_request_runner(family, n_requests, False), repeats)))
    rows.append(("openai: parse user dict + build HTTP request", "per request",
                 _time_per_op(_request_runner("openai", n_requests, True), repeats)))
    for family in BODIES:
        rows.append((f"{family}: plain request round trip (parse kwargs + build + parse "
                     "response)", "per request",
                     _time_per_op(_round_trip_runner(family, n_requests), repeats)))
    lines = [
        "| case | unit | median (us) | best (us) |",
        "| --- | --- | ---: | ---: |",
    ]
    for name, unit, (med, best) in rows:
        lines.append(f"| {name} | {unit} | {med:.2f} | {best:.2f} |")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    header = (f"{datetime.now().isoformat(timespec='seconds')}: Python "
              f"{platform.python_version()} on {platform.machine()} ({os.cpu_count()} CPUs), "
              f"load average {load} (1/5/15 min) at the end; {n_chunks} content chunks per "
              f"stream, {repeats} repeats (median and best).")
    text = header + "\n\n" + "\n".join(lines) + "\n"
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
