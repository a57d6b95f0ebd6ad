"""The per-chunk fast path (issue 3) behaves exactly like the general one.

R-67 (streamed chunks): the hot-path constructors, `fast_loads` and the
per-stream `Stencil` must give the same objects, values and exceptions as
the dataclass constructors and `json.loads`, whatever the input.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.wire.hotpath import (
    EMPTY_DELTA,
    Stencil,
    fast_loads,
    new_choice,
    new_chunk,
    new_delta,
    value_at,
)
from meshcore.wire.models import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaFunction,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionUsage,
)

OPT_TEXT = st.none() | st.text(max_size=8)


@settings(max_examples=60, deadline=None)
@given(role=OPT_TEXT, content=OPT_TEXT, refusal=OPT_TEXT, index=st.integers(0, 3),
       finish=OPT_TEXT, with_tools=st.booleans(), with_usage=st.booleans())
def test_fast_constructors_equal_dataclass_constructors_r67(
    role: str | None, content: str | None, refusal: str | None, index: int,
    finish: str | None, with_tools: bool, with_usage: bool,
) -> None:
    tools = (ChoiceDeltaToolCall(0, "c", "function", ChoiceDeltaFunction("f", "{}")),) \
        if with_tools else None
    usage = CompletionUsage(1, 2, 3) if with_usage else None
    delta = new_delta(role, content, tools, refusal)
    assert delta == ChoiceDelta(role, content, tools, refusal)
    choice = new_choice(index, delta, finish)
    assert choice == ChunkChoice(index, ChoiceDelta(role, content, tools, refusal), finish)
    chunk = new_chunk("id-1", 7, "m", (choice,), usage)
    slow = ChatCompletionChunk("id-1", 7, "m", (choice,), usage)
    assert chunk == slow
    assert hash(chunk) == hash(slow)
    assert repr(chunk) == repr(slow)
    assert chunk.model_dump() == slow.model_dump()


def test_fast_objects_stay_frozen_and_empty_delta_is_the_default() -> None:
    assert ChoiceDelta() == EMPTY_DELTA
    chunk = new_chunk("i", 0, "m", (new_choice(0, EMPTY_DELTA, "stop"),))
    with pytest.raises(FrozenInstanceError):
        chunk.id = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        EMPTY_DELTA.content = "x"  # type: ignore[misc]


def _outcome(fn: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", fn(text)
    except Exception as exc:  # compare the exception type and message
        return "error", (type(exc), str(exc))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                               max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(value=JSON_VALUES, cut=st.integers(0, 40), junk=st.sampled_from(["", " ", "}", "x", "\\"]))
def test_fast_loads_matches_json_loads_values_and_errors(value: Any, cut: int, junk: str) -> None:
    text = json.dumps(value, separators=(",", ":"))
    for candidate in (text, text[:cut] + junk + text[cut:], text + junk, "{" + text[cut:]):
        assert _outcome(fast_loads, candidate) == _outcome(json.loads, candidate)


def _openai_event(content: str, extra: str = "") -> str:
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                       "choices": [{"index": 0, "delta": {"content": content},
                                    "finish_reason": None}]}, ensure_ascii=False) + extra


PATH = ("choices", 0, "delta", "content")
TEXTS = st.text(max_size=12) | st.sampled_from(['"', "\\", '",', "\n", "\x00", "é", "}"])


@settings(max_examples=120, deadline=None)
@given(first=TEXTS, later=st.lists(TEXTS, min_size=1, max_size=6),
       tamper=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(['"', "\\", "x", "}", ""])),
                       max_size=2))
def test_stencil_loads_equals_json_loads_r67(
    first: str, later: list[str], tamper: list[tuple[int, str]]
) -> None:
    """Any sequence of events (same shape, other texts, tampered bytes)
    decodes through the stencil exactly as through json.loads."""
    stencil = Stencil(PATH)
    texts = [_openai_event(first)] + [_openai_event(t) for t in later]
    for pos, char in tamper:  # corrupt one event: wrong bytes must fail identically
        victim = texts[-1]
        texts.append(victim[:pos] + char + victim[pos + 1:])
    for text in texts:
        assert _outcome(stencil.loads, text) == _outcome(json.loads, text)


def test_stencil_learns_and_rejects_lookalikes() -> None:
    stencil = Stencil(PATH)
    learned = _openai_event("Hello")
    assert stencil.loads(learned) == json.loads(learned)
    hit = stencil.loads(_openai_event("world, again"))
    assert value_at(hit, PATH) == "world, again"
    assert hit == json.loads(_openai_event("world, again"))
    # a text with an escaped quote or a quote-splitting payload is decoded normally
    tricky = _openai_event('a"}],"x":{"y":"')
    assert stencil.loads(tricky) == json.loads(tricky)
    with pytest.raises(json.JSONDecodeError):
        stencil.loads(learned[:-1] + ',}')
    # duplicate keys: the last one wins, as in json.loads
    dup = '{"choices":[{"delta":{"content":"A","content":"B"}}]}'
    s2 = Stencil(PATH)
    assert s2.loads(dup) == json.loads(dup)
    dup2 = '{"choices":[{"delta":{"content":"A","content":"C"}}]}'
    assert s2.loads(dup2) == json.loads(dup2)


def test_stencil_verifies_which_token_it_learned() -> None:
    """The same text later in the event (another key) is not mistaken for
    the delta: the learned split is proven by a probe decode."""
    stencil = Stencil(PATH)
    for tag in ("A", "Q", "A"):
        text = '{"choices":[{"delta":{"content":"A"}}],"tag":"' + tag + '"}'
        assert stencil.loads(text) == json.loads(text)


def test_stencil_results_are_fresh_along_the_path() -> None:
    stencil = Stencil(PATH)
    first = stencil.loads(_openai_event("one"))
    second = stencil.loads(_openai_event("two"))
    assert value_at(first, PATH) == "one" and value_at(second, PATH) == "two"
    assert first["choices"] is not second["choices"]


def test_stencil_learning_is_bounded() -> None:
    stencil = Stencil(PATH, learns=2)
    for i in range(6):  # every event differs outside the text: no stencil fits
        text = json.dumps({"n": i, "choices": [{"delta": {"content": "x"}}]})
        assert stencil.loads(text) == json.loads(text)
    assert stencil._learns == 0  # two learning attempts, then plain decoding
    assert stencil.loads_any("not json") is None
