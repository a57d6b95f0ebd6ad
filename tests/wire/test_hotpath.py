"""The per-chunk fast path (issue 3) behaves exactly like the general one.

R-67 (streamed chunks): `fast_loads` must give the values and exceptions of
`json.loads`, and a `Template` may only report hole values for an event
that `json.loads` decodes to the learned value with exactly those holes
changed, whatever the input (escapes, lookalike keys, other field orders,
other number spellings, truncation).
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
    Template,
    fast_loads,
    raw_new,
    replaced,
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
def test_raw_new_builds_what_the_class_builds_r67(
    role: str | None, content: str | None, refusal: str | None, index: int,
    finish: str | None, with_tools: bool, with_usage: bool,
) -> None:
    tools = (ChoiceDeltaToolCall(0, "c", "function", ChoiceDeltaFunction("f", "{}")),) \
        if with_tools else None
    usage = CompletionUsage(1, 2, 3) if with_usage else None
    delta = raw_new(ChoiceDelta)(ChoiceDelta, role, content, tools, refusal)
    choice = raw_new(ChunkChoice)(ChunkChoice, index, delta, finish)
    chunk = raw_new(ChatCompletionChunk)(ChatCompletionChunk, "id-1", 7, "m", (choice,), usage)
    slow = ChatCompletionChunk("id-1", 7, "m", (ChunkChoice(
        index, ChoiceDelta(role, content, tools, refusal), finish),), usage)
    assert type(chunk) is ChatCompletionChunk and type(chunk.choices[0].delta) is ChoiceDelta
    assert chunk == slow and hash(chunk) == hash(slow) and repr(chunk) == repr(slow)
    assert chunk.model_dump() == slow.model_dump()
    with pytest.raises(FrozenInstanceError):
        chunk.id = "x"  # type: ignore[misc]


def test_raw_new_falls_back_to_calling_other_classes() -> None:
    class Plain:
        def __init__(self, a: int, b: int = 2) -> None:
            self.a, self.b = a, b

    made = raw_new(Plain)(Plain, 1)
    assert type(made) is Plain and (made.a, made.b) == (1, 2)
    assert raw_new(ChoiceDelta) is ChoiceDelta.__dict__["__new__"]  # fast_frozen's constructor


def test_empty_delta_is_the_default_and_frozen() -> None:
    assert ChoiceDelta() == EMPTY_DELTA
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


PATH = ("choices", 0, "delta", "content")
USAGE = (("usage", "completion_tokens"), ("usage", "total_tokens"))
TEXTS = st.text(max_size=12) | st.sampled_from(
    ['"', "\\", '",', "\n", "\x00", "\x7f", "é", "}", "\u2028", "\ud83d", '\\"', "a\"b"])
COUNTS = st.integers(0, 10**19)


def _event(text: str, n: int = 1, total: int = 2, *, spaced: bool = False, ascii_only: bool = True,
           order: int = 0) -> str:
    fields: list[tuple[str, Any]] = [
        ("id", "c"), ("choices", [{"index": 0, "delta": {"content": text}}]),
        ("usage", {"completion_tokens": n, "total_tokens": total}),
    ]
    if order:
        fields = fields[order:] + fields[:order]
    return json.dumps(dict(fields), ensure_ascii=ascii_only,
                      separators=(", ", ": ") if spaced else (",", ":"))


def _expected(template_value: Any, hit: tuple[str, ...]) -> Any:
    value = replaced(template_value, PATH, hit[0])
    for path, digits in zip(USAGE, hit[1:], strict=True):
        value = replaced(value, path, int(digits))
    return value


def _check(template: Template, learned: Any, text: str) -> tuple[str, ...] | None:
    """The template's answer for `text`, checked against json.loads."""
    hit = template.match(text)
    if hit is not None:
        assert json.loads(text) == _expected(learned, hit)
        assert all(type(v) is str for v in hit)
    return hit


@settings(max_examples=150, deadline=None)
@given(first=TEXTS, counts=st.tuples(COUNTS, COUNTS), spaced=st.booleans(),
       ascii_only=st.booleans(), order=st.integers(0, 2),
       later=st.lists(st.tuples(TEXTS, COUNTS, COUNTS), min_size=1, max_size=5),
       tamper=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(
           ['"', "\\", "x", "}", "", "0", "-", ".5", "e1", " "])), max_size=3))
def test_template_hits_decode_like_json_loads_r67(
    first: str, counts: tuple[int, int], spaced: bool, ascii_only: bool, order: int,
    later: list[tuple[str, int, int]], tamper: list[tuple[int, str]],
) -> None:
    """Whatever is fed after learning (other texts and counts, escapes,
    huge numbers, tampered bytes), a reported hit is exactly what json.loads
    gives with the holes changed; plain texts and small counts always hit."""
    template = Template(PATH, USAGE)
    text = _event(first, *counts, spaced=spaced, ascii_only=ascii_only, order=order)
    learned = json.loads(text)
    if template.learn(text, learned) is False:
        # only a sentinel-valued or out-of-range hole may refuse to learn
        assert first == "\x00" or max(counts) >= 10**18
        return
    others = [_event(t, n, m, spaced=spaced, ascii_only=ascii_only, order=order)
              for t, n, m in later]
    for pos, chars in tamper:
        victim = others[-1]
        others.append(victim[:pos] + chars + victim[pos + 1:])
    for other, (t, n, m) in zip(others, later, strict=False):
        hit = _check(template, learned, other)
        if t.isprintable() and max(n, m) < 10**18:
            assert hit == (t, str(n), str(m))
    for other in others[len(later):]:
        _check(template, learned, other)


def test_template_refuses_lookalikes_and_other_number_spellings() -> None:
    template = Template(PATH, USAGE)
    base = _event("Hello", 5, 9)
    assert template.learn(base, json.loads(base))
    assert template.match(_event("world, again", 12, 30)) == ("world, again", "12", "30")
    assert template.match(_event('a"b\\c\n', 1, 2)) == ('a"b\\c\n', "1", "2")
    # escaped text is decoded by json's own scanstring; a bad escape is no hit
    assert template.match(base.replace("Hello", "\\u00e9\\ud83d\\ude00")) == ("é😀", "5", "9")
    assert template.match(base.replace("Hello", "bad\\x")) is None
    for number in ("5.0", "5e0", "05", "-5", "1" * 19, "5 "):
        assert template.match(base.replace(":5,", f":{number},")) is None
    assert template.match(base.replace('"Hello"', '"a","content":"b"')) is None
    assert template.match(base.replace("Hello", 'a"}],"x":{"y":"')) is None
    assert template.match(base[:-1]) is None
    assert template.match(base + " ") is None
    assert template.match(_event("Hello", 5, 9, spaced=True)) is None  # another layout
    empty = base.replace('"Hello"', '""')
    assert template.match(empty) == ("", "5", "9")
    single = Template(PATH)
    assert single.learn(base, json.loads(base))
    assert single.match(_event("other", 5, 9)) == ("other",)
    cut = base.index("Hello")
    overlap = base[:cut] + base[cut + 6:]  # head and tail share the text's quote
    assert overlap.startswith(base[:cut]) and single.match(overlap) is None


def test_template_proves_which_token_is_the_hole() -> None:
    """Keys of the same name elsewhere (nested, earlier, duplicated) and the
    same text or number elsewhere are never taken for the hole."""
    learned_texts = [
        '{"content":"A","choices":[{"delta":{"content":"A"}}],"usage":{"completion_tokens":1,'
        '"total_tokens":1,"x":{"total_tokens":1}}}',
        '{"choices":[{"delta":{"content":"A","content":"A"}}],"usage":{"completion_tokens":1,'
        '"total_tokens":1,"total_tokens":1}}',
        '{"usage":{"total_tokens":7,"completion_tokens":3},"choices":[{"delta":{"content":"A",'
        '"x":{"content":"A"}}}]}',
    ]
    for text in learned_texts:
        template = Template(PATH, USAGE)
        learned = json.loads(text)
        assert template.learn(text, learned)
        variants = [text.replace('"A"', '"B"'), text.replace(":1", ":2"), text.replace(":7", ":8"),
                    text.replace('"A"', '"B"', 1), text.replace(":1", ":2", 1),
                    text[::-1].replace('"A"', '"C"', 1)[::-1], text.replace(":3", ":4")]
        for variant in variants:
            _check(template, learned, variant)


def test_template_holes_in_any_order_give_values_in_path_order() -> None:
    template = Template(PATH, USAGE)
    text = ('{"usage":{"total_tokens":7,"completion_tokens":3},'
            '"choices":[{"delta":{"content":"A"}}]}')
    assert template.learn(text, json.loads(text))
    other = text.replace(":7", ":70").replace(":3", ":30").replace('"A"', '"xyz"')
    assert template.match(other) == ("xyz", "30", "70")


def test_template_learning_needs_accept_and_is_bounded() -> None:
    refuse = Template(PATH, accept=lambda value: None)
    text = _event("x")
    assert not refuse.learn(text, json.loads(text)) and refuse.match(text) is None
    assert refuse.learning  # a refused value costs no attempt
    template = Template(PATH, learns=2, accept=lambda value: value["id"])
    for i in range(4):  # the text is not under its key's own quotes: no split is proven
        bad = '{"id":"k","choices":[{"delta":{"content":"x"}}],"content":"x"}'.replace(
            '"x"}}]', f'"{i}"}}}}]')
        assert not template.learn(bad, {"id": "k", "choices": [{"delta": {"content": "x"}}]})
    assert not template.learning
    fresh = Template(PATH, accept=lambda value: value["id"])
    assert fresh.learn(text, json.loads(text)) and fresh.info == "c"
    assert not Template(PATH).learn(text, [1])  # not an object


def test_value_at_and_replaced() -> None:
    value: Any = {"a": [{"b": 1}, 2], "c": 3}
    assert value_at(value, ("a", 0, "b")) == 1
    assert value_at(value, ("a", 5)) is None and value_at(value, ("c", "d")) is None
    new = replaced(value, ("a", 0, "b"), 9)
    assert new == {"a": [{"b": 9}, 2], "c": 3} and value["a"][0]["b"] == 1
    assert new["a"] is not value["a"]


FREE = (("id",), ("created",), ("model",))


def _free_event(text: str, ident: str, created: int, model: str | None, *, spaced: bool,
                order: int) -> str:
    fields: list[tuple[str, Any]] = [
        ("id", ident), ("created", created),
        ("choices", [{"index": 0, "delta": {"content": text}}]),
    ]
    if model is not None:
        fields.append(("model", model))
    if order:
        fields = fields[order:] + fields[:order]
    return json.dumps(dict(fields), ensure_ascii=False,
                      separators=(", ", ": ") if spaced else (",", ":"))


@settings(max_examples=150, deadline=None)
@given(first=st.tuples(TEXTS, TEXTS, COUNTS), model=st.none() | TEXTS, spaced=st.booleans(),
       order=st.integers(0, 2),
       later=st.lists(st.tuples(TEXTS, TEXTS, COUNTS, st.none() | TEXTS), min_size=1,
                      max_size=5),
       tamper=st.lists(st.tuples(st.integers(0, 120), st.sampled_from(
           ['"', "\\", "x", "}", "", "0", "-", ".5", "e1", " ", "\n"])), max_size=3))
def test_free_holes_hit_only_what_json_loads_gives_r67(
    first: tuple[str, str, int], model: str | None, spaced: bool, order: int,
    later: list[tuple[str, str, int, str | None]], tamper: list[tuple[int, str]],
) -> None:
    """Free holes (per-stream ids, timestamps, model names): a hit on any
    later event, whatever its free values, escapes or tampered bytes, is an
    event json.loads decodes to the learned value with only the text and
    the free fields changed; free values without escapes always hit."""
    template = Template(PATH, free_paths=FREE)
    text = _free_event(first[0], first[1], first[2], model, spaced=spaced, order=order)
    learned = json.loads(text)
    if not template.learn(text, learned):
        return  # a sentinel-valued hole (or no proof): nothing to check
    # an empty id repeats the one before (the free values of one stream's events)
    later = [(t, i or (later[k - 1][1] if k else first[1]), c if i else (
        later[k - 1][2] if k else first[2]), m) for k, (t, i, c, m) in enumerate(later)]
    others = [_free_event(t, i, c, model if m is None else m, spaced=spaced, order=order)
              for t, i, c, m in later]
    for t, i, c, m in later:  # through the read path too (`frame`), text by text
        framed = Template(PATH, free_paths=FREE)
        assert framed.learn(text, learned) and framed.frame("data: ")
        event = _free_event(t, i, c, model if m is None else m, spaced=spaced, order=order)
        assert framed.match_read(f"data: {event}\n\n") == template.match(event)
    for pos, chars in tamper:
        victim = others[-1]
        others.append(victim[:pos] + chars + victim[pos + 1:])
    for k, other in enumerate(others):
        hit = template.match(other)
        if hit is not None:
            decoded = json.loads(other)
            expected = replaced(learned, PATH, hit[0])
            for path in FREE:
                if value_at(learned, path) is not None:
                    expected = replaced(expected, path, value_at(decoded, path))
            assert decoded == expected and len(hit) == 1
        if k < len(later):
            t, i, c, m = later[k]
            free_plain = all(v is None or (v.isprintable() and "\\" not in v and '"' not in v)
                             for v in (i, model if m is None else m))
            same_fields = m is None or model is not None  # no model field added
            if t.isprintable() and free_plain and same_fields and (
                    c == first[2] or max(c, first[2]) < 10**18):
                assert hit is not None and hit[0] == t


def test_a_frozen_template_matches_alike_and_keeps_no_stream_memory() -> None:
    """`freeze` (templates shared between threads): the same hits as a live
    template of that shape, no learning, no per-stream memory written."""
    text = '{"id":"c1","created":5,"choices":[{"delta":{"content":"A"}}]}'
    live = Template(PATH, free_paths=FREE)
    frozen = Template(PATH, free_paths=FREE)
    assert live.learn(text, json.loads(text)) and frozen.learn(text, json.loads(text))
    assert frozen.freeze() is frozen and not frozen.learning
    for other in (text.replace('"A"', '"B"'), text.replace('"A"', '"a\\\\"b"'),
                  text.replace('"c1"', '"c2"'), text.replace(":5,", ":5.0,"), text + " "):
        assert frozen.match(other) == live.match(other)
    assert frozen._seen == "" and live._seen != ""
    assert not frozen.learn(text, json.loads(text))
