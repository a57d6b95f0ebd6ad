"""Token estimate (SPEC R-30) and request features (R-27)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.types import Operation
from meshcore.wire.models import parse_request
from meshcore.wire.tokens import estimate_tokens, features_of


def test_r30_text_messages() -> None:
    msgs = [{"role": "system", "content": "abcde"}, {"role": "user", "content": "xyz"}]
    assert estimate_tokens(msgs) == math.ceil(8 / 4) + 3 * 2


def test_r30_image_parts_and_text_parts() -> None:
    msgs = [{"role": "user", "content": [
        {"type": "text", "text": "a" * 9},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://x.invalid/i.png"}},
    ]}]
    assert estimate_tokens(msgs) == 3 + 3 + 85 * 2
    req = parse_request("chat", {"messages": msgs})
    assert estimate_tokens(req.messages) == 3 + 3 + 170  # type: ignore[union-attr]


def test_r30_tool_only_message_counts_overhead() -> None:
    msgs = [{"role": "assistant", "content": None,
             "tool_calls": [{"id": "c", "type": "function",
                             "function": {"name": "f", "arguments": "{}"}}]}]
    assert estimate_tokens(msgs) == 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=6))
def test_r30_formula_property(texts: list[str]) -> None:
    msgs = [{"role": "user", "content": t} for t in texts]
    assert estimate_tokens(msgs) == math.ceil(sum(len(t) for t in texts) / 4) + 3 * len(texts)


def test_features_of_chat() -> None:
    req = parse_request("chat", {
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "u"}}]}],
        "stream": True, "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s"}},
        "max_completion_tokens": 50, "user": "alice",
    })
    f = features_of(req)
    assert f.operation is Operation.CHAT and f.stream and f.tools and f.vision
    assert f.response_format == "json_schema" and f.max_tokens == 50 and f.user == "alice"
    assert f.prompt_tokens == 1 + 3 + 85


def test_features_of_other_operations() -> None:
    e = features_of(parse_request("embeddings", {"input": ["abcd", "efgh1"]}))
    assert e.operation is Operation.EMBEDDINGS and e.prompt_tokens == 3
    assert not e.stream and not e.vision
    assert features_of(parse_request("images", {"prompt": "a" * 10})).prompt_tokens == 3
    s = features_of(parse_request("speech", {"input": "hello", "voice": "alloy"}))
    assert s.operation is Operation.SPEECH and s.prompt_tokens == 2
    t = features_of(parse_request("transcription", {"file": b"x"}))
    assert t.operation is Operation.TRANSCRIPTION and t.prompt_tokens == 0
