"""The codecs' per-chunk fast paths change nothing (issue 3, R-67).

Every streaming family translates the text events of a learned shape
straight from a `Template`'s hole values. These tests stream the same body,
cut the same way, through two attempts: one as shipped and one whose
template never learns (so every event takes the general decode-and-walk
path), and require identical chunks, outcome, usage and text. The streams
mix plain text events with lookalikes the fast path must not take: escaped
and non-ASCII text, reordered or extra fields, nested keys of the same
name, numbers spelled as floats, other event types, malformed events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.wire.attempt import Attempt
from meshcore.wire.hotpath import Template, forget_shapes, frozen_set
from meshcore.wire.models import ChatCompletionChunk, ChoiceDelta, parse_request
from meshcore.wire.registry import start_attempt

CONNECTORS = {
    "openai": ("openai.llm.v1", "gpt-4o"),
    "anthropic": ("anthropic.claude.v1", "claude-3-5-haiku-20241022"),
    "gemini": ("google.gemini.v1", "gemini-1.5-flash"),
    "cohere": ("cohere.nlp.v1", "command-r-plus"),
}


class CountingTemplate(Template):
    """A template that counts its hits (to show the fast path ran)."""

    __slots__ = ("hits", "read_hits")

    def __init__(self, other: Template, learns: int = 4) -> None:
        super().__init__(other._text_path, other._int_paths, other._accept, learns,
                         other._free_paths)  # no `share`: this stream learns on its own
        self.hits = 0
        self.read_hits = 0  # those of them that skipped the SSE parser

    def match(self, text: str) -> tuple[str, ...] | None:
        hit = super().match(text)
        self.hits += hit is not None
        return hit

    def match_read(self, text: str) -> tuple[str, ...] | None:
        hit = super().match_read(text)
        self.hits += hit is not None
        self.read_hits += hit is not None
        return hit


def _attempt(family: str, learns: int) -> Attempt:
    connector, name = CONNECTORS[family]
    req = parse_request("chat", {"messages": [{"role": "user", "content": "hi"}], "stream": True})
    a = start_attempt(req, model=ModelConfig(id=f"{family}.m", provider="p", name=name),
                      provider=ProviderConfig(id="p", connector=connector), api_key="k",
                      attempt_id="a1", model_id=f"{family}.m", response_id="chatcmpl-1",
                      created=1_700_000_000)
    codec: Any = a
    codec._template = CountingTemplate(codec._template, learns)
    codec._direct = None  # not a shared shape's direct reads either
    if not learns and hasattr(codec, "_others"):
        codec._others = None  # nor OpenAI's first, finish and usage chunk templates
    assert a.next_request() is not None
    a.receive_head(200, [("content-type", "text/event-stream")])
    return a


def _run(family: str, body: bytes, cuts: list[int], learns: int) -> tuple[Any, ...]:
    a = _attempt(family, learns)
    chunks: list[ChatCompletionChunk] = []
    start = 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(body)}), len(body)]:
        chunks += a.receive_data(body[start:cut])
        start = cut
    chunks += a.receive_end()
    template = cast(Any, a)._template
    return (chunks, a.outcome(), a.usage, a.partial_text, a.has_content), (
        template.hits, template.read_hits)


def _event_cuts(body: bytes) -> list[int]:
    """Cuts after every blank line: one read per event (whole-read path)."""
    cuts, at = [], body.find(b"\n\n")
    while at >= 0:
        cuts.append(at + 2)
        at = body.find(b"\n\n", at + 2)
    return cuts


def _same_both_ways(family: str, body: bytes, cuts: list[int]) -> int:
    """Same results with and without the fast paths, for `cuts` and for one
    read per event; the template hits of the `cuts` run."""
    fast, (hits, _) = _run(family, body, cuts, 4)
    slow, slow_hits = _run(family, body, cuts, 0)
    assert slow_hits == (0, 0)
    assert fast == slow
    per_event = _event_cuts(body)
    fast_reads, (event_hits, whole_reads) = _run(family, body, per_event, 4)
    assert fast_reads == _run(family, body, per_event, 0)[0]
    assert whole_reads <= event_hits
    return int(hits)


def _whole_reads(family: str, body: bytes) -> int:
    """Template hits that skipped the SSE parser, with one read per event."""
    return int(_run(family, body, _event_cuts(body), 4)[1][1])


def _sse(obj: Any, event: str | None = None, **dump: Any) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    text = obj if isinstance(obj, str) else json.dumps(obj, **dump)
    return head + b"data: " + text.encode() + b"\n\n"


# ---------------------------------------------------------------- event makers

def _openai(kind: str, text: str, n: int) -> bytes:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1718000000,
        "model": "gpt-4o", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": {"content": text}, "logprobs": None,
                     "finish_reason": None}]}
    c0 = chunk["choices"][0]
    dump: dict[str, Any] = {}
    if kind == "ascii":
        dump["ensure_ascii"] = True
    elif kind == "compact":
        dump["separators"] = (",", ":")
    elif kind == "reordered":
        chunk = {"choices": chunk.pop("choices"), **chunk}
    elif kind == "usage_null":
        chunk["usage"] = None
    elif kind == "usage":
        chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": n + 3}
    elif kind == "role":
        c0["delta"]["role"] = "assistant"
    elif kind == "index":
        c0["index"] = n % 3
    elif kind == "index_float":
        c0["index"] = 1.0
    elif kind == "nested":
        chunk["x"] = {"delta": {"content": text}}
    elif kind == "created":
        chunk["created"] = 1718000000 + n
    elif kind == "null":
        c0["delta"]["content"] = None
    elif kind == "number":
        c0["delta"]["content"] = n
    elif kind == "finish":
        c0["finish_reason"] = "length"
    elif kind == "refusal":
        c0["delta"]["refusal"] = text
    elif kind == "error":
        chunk["error"] = {"message": text}
    elif kind == "role_chunk":  # a stream's first chunk
        c0["delta"] = {"role": "assistant", "content": text}
    elif kind == "role_finish":  # a first chunk that also finishes (general path only)
        c0["delta"] = {"role": "assistant", "content": text}
        c0["finish_reason"] = "stop"
    elif kind == "finish_chunk":  # the finish chunk (no delta, or an empty or null one)
        c0["delta"] = [{}, None, {"content": None}][n % 3]
        c0["finish_reason"] = ["stop", "length", text][n % 3]
    elif kind == "usage_chunk":  # the usage chunk (counts as the provider sends them)
        chunk["choices"] = []
        chunk["usage"] = {"prompt_tokens": 3, "completion_tokens": n % 10**18,
                          "total_tokens": n % 10**18 + 3}
        if n % 4 == 1:
            chunk["model"] = text
    elif kind == "id":  # per-stream fields the fast path skips (free holes)
        chunk["id"] = f"chatcmpl-{text}"
    elif kind == "model":
        chunk["model"] = text
    elif kind == "fingerprint":
        chunk["system_fingerprint"] = None if n % 2 else text
    elif kind == "obfuscation":
        chunk["obfuscation"] = text
    elif kind == "broken":
        return _sse(json.dumps(chunk)[:-1])
    return _sse(chunk, **({"ensure_ascii": False} | dump))


def _openai_end(usage: bool) -> bytes:
    tail = _sse({"choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3,
                                          "total_tokens": 5}}) if usage else b""
    return (_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + tail
            + b"data: [DONE]\n\n")


def _anthropic(kind: str, text: str, n: int) -> bytes:
    ev: dict[str, Any] = {"type": "content_block_delta", "index": 0,
                          "delta": {"type": "text_delta", "text": text}}
    name = "content_block_delta"
    if kind == "ascii":
        return _sse(ev, name)  # json.dumps escapes non-ASCII by default
    if kind == "compact":
        return _sse(ev, name, separators=(",", ":"), ensure_ascii=False)
    if kind == "reordered":
        ev = {"delta": ev["delta"], "index": 0, "type": ev["type"]}
    elif kind == "index_float":
        ev["index"] = 0.0
    elif kind == "no_index":
        del ev["index"]
    elif kind == "thinking":
        ev["delta"] = {"type": "thinking_delta", "thinking": "hmm", "text": text}
    elif kind == "other_type":
        ev["type"] = "content_block_start"
    elif kind == "nested":
        ev["x"] = {"text": text}
    elif kind == "event_name":
        name = "other"
    elif kind == "ping":
        return _sse({"type": "ping"}, "ping")
    elif kind == "number":
        ev["delta"]["text"] = n
    elif kind == "error":
        return _sse({"type": "error", "error": {"type": "overloaded_error", "message": text}},
                    "error", ensure_ascii=False)
    elif kind == "broken":
        return _sse(json.dumps(ev)[:-2], name)
    return _sse(ev, name, ensure_ascii=False)


def _anthropic_start() -> bytes:
    return (_sse({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
        "usage": {"input_tokens": 5, "output_tokens": 1}}}, "message_start")
        + _sse({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}, "content_block_start"))


def _anthropic_end(usage: bool) -> bytes:
    return (_sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            + _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                    **({"usage": {"output_tokens": 9}} if usage else {})}, "message_delta")
            + _sse({"type": "message_stop"}, "message_stop"))


def _gemini(kind: str, text: str, n: int) -> bytes:
    meta: dict[str, Any] = {"promptTokenCount": 6, "candidatesTokenCount": n,
                            "totalTokenCount": n + 6}
    cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    ev: dict[str, Any] = {"candidates": [cand], "usageMetadata": meta,
                          "modelVersion": "gemini-1.5-flash", "responseId": "r1"}
    dump: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}
    if kind == "ascii":
        dump["ensure_ascii"] = True
    elif kind == "spaced":
        dump["separators"] = (", ", ": ")
    elif kind == "reordered":
        ev = {"usageMetadata": {"totalTokenCount": n + 6, "candidatesTokenCount": n,
                                "promptTokenCount": 6}, "candidates": [cand]}
    elif kind == "float":
        meta["candidatesTokenCount"] = float(n)
    elif kind == "prompt":
        meta["promptTokenCount"] = n % 5
    elif kind == "thoughts":
        meta["thoughtsTokenCount"] = 4
    elif kind == "no_total":
        del meta["totalTokenCount"]
    elif kind == "two_parts":
        cand["content"]["parts"].append({"text": "!"})
    elif kind == "thought":
        cand["content"]["parts"][0]["thought"] = True
    elif kind == "call":
        cand["content"]["parts"][0]["functionCall"] = {"name": "f", "args": {"a": n}}
    elif kind == "nested":
        ev["x"] = {"candidatesTokenCount": n, "text": text}
    elif kind == "blocked":
        ev["promptFeedback"] = {"blockReason": "SAFETY"}
    elif kind == "response_id":  # per-stream fields the fast path skips (free holes)
        ev["responseId"] = text
        ev["modelVersion"] = f"m{n}"
    elif kind == "error":
        ev = {"error": {"status": "INTERNAL", "message": text}}
    elif kind == "broken":
        return _sse(json.dumps(ev)[:-1])
    return _sse(ev, **dump)


def _gemini_end(usage: bool) -> bytes:
    meta = {"usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 99,
                              "totalTokenCount": 105}} if usage else {}
    return _sse({"candidates": [{"content": {"parts": [{"text": "."}], "role": "model"},
                                 "finishReason": "STOP", "index": 0}], **meta},
                separators=(",", ":"))


def _cohere(kind: str, text: str, n: int) -> bytes:
    ev: dict[str, Any] = {"type": "content-delta", "index": 0,
                          "delta": {"message": {"content": {"text": text}}}}
    name = "content-delta"
    if kind == "ascii":
        return _sse(ev, name)
    if kind == "compact":
        return _sse(ev, name, separators=(",", ":"), ensure_ascii=False)
    if kind == "reordered":
        ev = {"delta": ev["delta"], "type": ev["type"], "index": 0}
    elif kind == "plan":
        ev = {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": text}}}
    elif kind == "nested":
        ev["x"] = {"text": text, "content": {"text": text}}
    elif kind == "no_type":
        del ev["type"]
    elif kind == "other_type":
        ev["type"] = "content-start"
    elif kind == "number":
        ev["delta"]["message"]["content"]["text"] = n
    elif kind == "broken":
        return _sse(json.dumps(ev)[:-1], name)
    return _sse(ev, name, ensure_ascii=False)


def _cohere_start() -> bytes:
    return (_sse({"id": "s1", "type": "message-start", "delta": {"message": {
        "role": "assistant", "content": []}}}, "message-start")
        + _sse({"type": "content-start", "index": 0, "delta": {"message": {
            "content": {"type": "text", "text": ""}}}}, "content-start"))


def _cohere_end(usage: bool) -> bytes:
    counts = {"usage": {"billed_units": {"input_tokens": 4, "output_tokens": 7},
                        "tokens": {"input_tokens": 64, "output_tokens": 7}}} if usage else {}
    return (_sse({"type": "content-end", "index": 0}, "content-end")
            + _sse({"type": "message-end", "delta": {"finish_reason": "COMPLETE", **counts}},
                   "message-end"))


Maker = Callable[[str, str, int], bytes]
FAMILIES: dict[str, tuple[Maker, bytes, Callable[[bool], bytes], list[str]]] = {
    "openai": (_openai, b"", _openai_end,
               ["ascii", "compact", "reordered", "usage_null", "usage", "role", "index",
                "index_float", "nested", "created", "null", "number", "finish", "refusal",
                "error", "id", "model", "fingerprint", "obfuscation", "role_chunk",
                "role_finish", "finish_chunk", "usage_chunk", "broken"]),
    "anthropic": (_anthropic, _anthropic_start(), _anthropic_end,
                  ["ascii", "compact", "reordered", "index_float", "no_index", "thinking",
                   "other_type",
                   "nested", "event_name", "ping", "number", "error", "broken"]),
    "gemini": (_gemini, b"", _gemini_end,
               ["ascii", "spaced", "reordered", "float", "prompt", "thoughts", "no_total",
                "two_parts", "thought", "call", "nested", "blocked", "response_id", "error",
                "broken"]),
    "cohere": (_cohere, _cohere_start(), _cohere_end,
               ["ascii", "compact", "reordered", "plan", "nested", "no_type", "other_type",
                "number",
                "broken"]),
}
TEXTS = st.text(max_size=10) | st.sampled_from(
    ["", '"', "\\", '\\"', "\n", "\x00", "é", "😀", "\u2028", "}", '","text":"x', "token "])


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)),
       events=st.lists(st.tuples(st.integers(0, 3), TEXTS, st.integers(0, 10**20)),
                       min_size=1, max_size=14),
       lookalikes=st.lists(st.integers(0, 99), min_size=1, max_size=3),
       cuts=st.lists(st.integers(0, 3000), max_size=8), usage_at_end=st.booleans())
def test_fast_path_equals_general_path_on_mixed_streams_r67(
    family: str, events: list[tuple[int, str, int]], lookalikes: list[int], cuts: list[int],
    usage_at_end: bool,
) -> None:
    """Plain events (three in four) mixed with a few lookalike kinds and
    malformed events, any chunking: shipped attempt == attempt without the
    fast path."""
    make, start, end, kinds = FAMILIES[family]
    parts = [start]
    for i, (pick, text, n) in enumerate(events):
        kind = "plain" if pick else kinds[lookalikes[i % len(lookalikes)] % len(kinds)]
        parts.append(make(kind, text, n))
    body = b"".join([*parts, end(usage_at_end)])
    _same_both_ways(family, body, cuts)


@settings(max_examples=25, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)),
       texts=st.lists(st.text(max_size=8), min_size=2, max_size=12),
       cuts=st.lists(st.integers(0, 3000), max_size=5))
def test_plain_streams_take_the_fast_path_r67(
    family: str, texts: list[str], cuts: list[int]
) -> None:
    """Streams of plain text events (any text: escapes are decoded on the
    fast path too) learn on the first event and take the fast path for all
    later ones, with the general path's results."""
    make, start, end, _ = FAMILIES[family]
    body = b"".join([start, *(make("plain", t, i) for i, t in enumerate(texts)), end(False)])
    hits = _same_both_ways(family, body, cuts)
    if "\x00" not in texts[0]:  # a sentinel-valued first text is not learned from
        # one read per event: every plain event after the first skips the parser
        assert hits == _whole_reads(family, body) == len(texts) - 1


def test_each_lookalike_kind_against_a_learned_stream() -> None:
    """Every lookalike kind after a learned plain event, and streams made
    of one kind only (so a kind the codec accepts is learned and then hit;
    counts repeat and alternate; usage at the end or not): the outputs
    match the general path."""
    texts = ("tok", 'a"b', "é\\n", "x", "", "y")
    for family, (make, start, end, kinds) in FAMILIES.items():
        for kind in ["plain", *kinds]:
            for text in texts:
                body = b"".join([start, make("plain", "first", 1), make(kind, text, 7),
                                 make("plain", "again", 8), end(True)])
                _same_both_ways(family, body, [])
            for counts in ([7] * len(texts), list(range(len(texts))), [7, 8] * len(texts)):
                for usage in (True, False):
                    events = (make(kind, t, n) for t, n in zip(texts, counts, strict=False))
                    _same_both_ways(family, b"".join([start, *events, end(usage)]), [])
                    # one text throughout: a kind's literals repeat, only counts change
                    same = (make(kind, "same", n) for n in counts)
                    _same_both_ways(family, b"".join([start, *same, end(usage)]), [])


def test_events_after_the_end_marker_stay_ignored() -> None:
    """Plain events after the family's end marker are ignored by the general
    path (OpenAI's codec keeps translating after `[DONE]`, on both paths);
    the whole-read path must stop at the marker too."""
    for family, (make, start, end, _) in FAMILIES.items():
        plain = [make("plain", t, i) for i, t in enumerate(("a", "b", "c"))]
        body = b"".join([start, *plain, end(True), *plain])
        # `b` and `c` before the end marker (and for OpenAI all three after it)
        assert _whole_reads(family, body) == (5 if family == "openai" else 2)
        _same_both_ways(family, body, [])


_DELTAS = st.builds(
    lambda content, refusal, calls: ChoiceDelta(None, content, calls, refusal),
    st.none() | st.text(max_size=5), st.none() | st.text(max_size=3),
    st.none() | st.just(()),
)


@settings(max_examples=60, deadline=None)
@given(deltas=st.lists(_DELTAS, min_size=1, max_size=3),
       finish=st.none() | st.sampled_from(["stop", "length"]),
       fingerprint=st.none() | st.text(max_size=3), usage=st.booleans(), sub=st.booleans())
def test_first_chunk_role_rewrite_equals_dataclasses_replace(
    deltas: list[Any], finish: str | None, fingerprint: str | None, usage: bool, sub: bool,
) -> None:
    """The written-out R-67 role rewrite builds what three `replace` calls build
    (and a subclass still goes through `replace`)."""
    from dataclasses import dataclass, replace

    from meshcore.wire.attempt_parts import with_assistant_role
    from meshcore.wire.models import ChunkChoice, CompletionUsage

    @dataclass(frozen=True, slots=True)
    class Chunk2(ChatCompletionChunk):
        pass

    kind = Chunk2 if sub else ChatCompletionChunk
    choices = tuple(ChunkChoice(i, d, finish) for i, d in enumerate(deltas))
    chunk = kind("id", 5, "m", choices, CompletionUsage(1, 2, 3) if usage else None,
                 system_fingerprint=fingerprint)
    c0 = chunk.choices[0]
    want = replace(chunk, choices=(replace(c0, delta=replace(c0.delta, role="assistant")),
                                   *chunk.choices[1:]))
    got = with_assistant_role(chunk)
    assert got == want and repr(got) == repr(want) and type(got) is type(want)


# ---------------------------------------------------------------- shared shapes

# What differs between two streams of one provider model: OpenAI's id and
# created, Gemini's responseId (the other families' text events carry neither).
_NEXT_STREAM: dict[str, list[tuple[bytes, bytes]]] = {
    "openai": [(b'"chatcmpl-x"', b'"chatcmpl-Qz9"'), (b"1718000000", b"1718000777")],
    "gemini": [(b'"r1"', b'"resp-2"')],
    "anthropic": [],
    "cohere": [],
}


def _shipped(family: str) -> Attempt:
    """An attempt as `start_attempt` makes it (its template shared by key)."""
    connector, name = CONNECTORS[family]
    req = parse_request("chat", {"messages": [{"role": "user", "content": "hi"}], "stream": True})
    return start_attempt(req, model=ModelConfig(id=f"{family}.m", provider="p", name=name),
                         provider=ProviderConfig(id="p", connector=connector), api_key="k",
                         attempt_id="a1", model_id=f"{family}.m", response_id="chatcmpl-1",
                         created=1_700_000_000)


def _feed(a: Attempt, body: bytes, cuts: list[int]) -> tuple[Any, ...]:
    assert a.next_request() is not None
    a.receive_head(200, [("content-type", "text/event-stream")])
    chunks: list[ChatCompletionChunk] = []
    start = 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(body)}), len(body)]:
        chunks += a.receive_data(body[start:cut])
        start = cut
    chunks += a.receive_end()
    return chunks, a.outcome(), a.usage, a.partial_text, a.has_content


@settings(max_examples=60, deadline=None)
@given(family=st.sampled_from(sorted(FAMILIES)),
       first=st.lists(TEXTS, min_size=1, max_size=4),
       events=st.lists(st.tuples(st.integers(0, 3), TEXTS, st.integers(0, 10**20)),
                       min_size=1, max_size=10),
       lookalikes=st.lists(st.integers(0, 99), min_size=1, max_size=3),
       cuts=st.lists(st.integers(0, 3000), max_size=6), per_event=st.booleans())
def test_shared_shapes_change_nothing_r67(
    family: str, first: list[str], events: list[tuple[int, str, int]], lookalikes: list[int],
    cuts: list[int], per_event: bool,
) -> None:
    """A stream that starts from the shape an earlier stream of the same
    model learned (other ids and timestamps, lookalikes, any chunking,
    whole-event reads from its first event on) gives what the general path
    gives; a plain stream then matches from its first event without learning."""
    forget_shapes()
    make, start, end, kinds = FAMILIES[family]

    def next_stream(body: bytes) -> bytes:
        for old, new in _NEXT_STREAM[family]:
            body = body.replace(old, new)
        return body

    earlier = b"".join([start, *(make("plain", t, i) for i, t in enumerate(first)), end(True)])
    _feed(_shipped(family), earlier, _event_cuts(earlier))  # learns and shares its shape
    if "\x00" not in first[0]:  # it learned: a plain next stream matches without learning
        again = cast(Any, _shipped(family))
        assert again._template.read_lines and again._direct is again._template
        plain = next_stream(earlier)
        assert _feed(again, plain, _event_cuts(plain)) == _run(
            family, plain, _event_cuts(plain), 0)[0]
        assert again._template._learns == 4
    parts = [start]
    for i, (pick, text, n) in enumerate(events):
        kind = "plain" if pick else kinds[lookalikes[i % len(lookalikes)] % len(kinds)]
        parts.append(make(kind, text, n))
    body = next_stream(b"".join([*parts, end(False)]))
    read_cuts = _event_cuts(body) if per_event else cuts
    assert _feed(_shipped(family), body, read_cuts) == _run(family, body, read_cuts, 0)[0]


def test_shapes_are_shared_by_key_and_paths_only() -> None:
    """Another key, or other paths under the same key, start unlearned."""
    forget_shapes()
    text = '{"id":"c1","created":5,"choices":[{"delta":{"content":"A"}}]}'
    first = Template(("choices", 0, "delta", "content"), free_paths=(("id",), ("created",)),
                     share="k")
    assert first.learn(text, json.loads(text)) and first.frame("data: ")
    later = Template(("choices", 0, "delta", "content"), free_paths=(("id",), ("created",)),
                     share="k")
    other = text.replace('"c1"', '"c2"').replace(":5,", ":77,").replace('"A"', '"B"')
    assert later.match(other) == ("B",) and later.read_lines == 2
    assert later.match_read(f"data: {other}\n\n") == ("B",)
    assert later.match(other.replace('"c2"', '"c\\"2"')) is None  # escapes: general path
    assert Template(("choices", 0, "delta", "content"), share="k2").match(other) is None
    assert Template(("choices", 0, "delta", "content"), share="k").match(other) is None
    assert Template(("choices", 0, "delta", "content"), free_paths=(("id",), ("created",)),
                    share="k", learns=0).match(other) is None  # a template that never learns
    forget_shapes()
    assert Template(("choices", 0, "delta", "content"), free_paths=(("id",), ("created",)),
                    share="k").match(other) is None


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=4), first=TEXTS, n=st.integers(0, 10**6),
       usage=st.booleans())
def test_openai_first_finish_and_usage_chunks_take_their_templates_r67(
    texts: list[str], first: str, n: int, usage: bool,
) -> None:
    """A stream's first chunk (role), finish chunk and usage chunk, once an
    earlier stream of the model learned their shapes, are translated from
    their templates without learning, to what the general path gives."""
    forget_shapes()
    parts = [_openai("role_chunk", first, n), *(_openai("plain", t, n) for t in texts),
             _openai("finish_chunk", "stop", n)]
    if usage:
        parts.append(_openai("usage_chunk", "", n))
    body = b"".join([*parts, b"data: [DONE]\n\n"])
    _feed(_shipped("openai"), body, _event_cuts(body))  # learns the shapes
    again = cast(Any, _shipped("openai"))
    shared = frozen_set(again._others)
    assert shared is not None
    # (the sentinel itself is not learned from; no usage chunk: nothing to learn)
    assert [t is not None for t in shared] == [first != "\x00", True, usage]
    later = body.replace(b'"chatcmpl-x"', b'"chatcmpl-Qz9"')
    assert _feed(again, later, _event_cuts(later)) == _run(
        "openai", later, _event_cuts(later), 0)[0]
    assert frozen_set(again._others) == shared  # matched: nothing learned again
