"""Allocation-light building blocks of the per-chunk stream path (issue 3).

Theory of operation: a streamed chunk costs one JSON decode and three frozen
model objects (`ChoiceDelta`, `ChunkChoice`, `ChatCompletionChunk`). Both
are cheaper than the general-purpose routes when done directly:

* `fast_loads(text)` decodes a string that starts with `{` and ends with `}`
  with the decoder's `raw_decode`, skipping the whitespace scans and type
  dispatch of `json.loads`. When that does not consume the whole string, or
  raises, it falls back to `json.loads(text)`, so the value returned or the
  exception raised is always exactly the one `json.loads` gives.
* `new_delta`, `new_choice` and `new_chunk` build the frozen, slotted model
  dataclasses with `object.__new__` plus the slots' own descriptors instead
  of the generated `__init__` (which goes through `object.__setattr__` once
  per field). Every field is set, so the objects are indistinguishable from
  constructor-built ones (equality, hashing, repr, immutability). The field
  lists are checked against the dataclasses at import time, so adding a
  field to one of them without updating this module fails loudly.
* `EMPTY_DELTA` is the shared empty `ChoiceDelta()` (finish chunks, empty
  provider deltas); sharing is safe because the object is immutable.
* `Stencil` skips JSON decoding for the events of a stream that differ only
  in one string, the text delta: OpenAI-compatible, Anthropic and Cohere
  content events repeat the same bytes around it. From one decoded event it
  learns prefix P (ending with the text's opening quote) and suffix Q
  (starting with the closing quote), and proves the split by decoding
  P + `\u0000` + Q and finding "\x00" at the text's path (so the quotes are
  that token's own delimiters, not an escaped quote or two neighbouring
  tokens). Since a JSON string token ends at its first unescaped quote, any
  later event P + m + Q whose middle m has no quote, backslash or control
  character decodes to the learned value with m at that path; the stencil
  then returns a copy of the learned value with only that path rebuilt
  (fresh dicts and lists along the path, untouched siblings shared: the
  codecs only read decoded events). Any other event is decoded normally,
  and learning is attempted a bounded number of times per stream, so a
  family whose events never repeat (Gemini's running token counts) pays
  almost nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from json.scanner import make_scanner
from typing import Any, cast

from meshcore.wire.models_chat import (
    ChatCompletionChunk,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionUsage,
)

_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(cast(Any, json.JSONDecoder()))
_json_loads = json.loads


def fast_loads(text: str) -> Any:
    """`json.loads(text)` with a cheaper route for a bare JSON object."""
    if text[:1] == "{" and text[-1:] == "}":
        try:
            value, end = _scan(text, 0)
        except Exception:  # re-raised identically by json.loads below
            return _json_loads(text)
        if end == len(text):
            return value
    return _json_loads(text)


Path = tuple[str | int, ...]


def value_at(value: Any, path: Path) -> Any:
    """The value at `path` (dict keys and list indexes), or None if absent."""
    for key in path:
        if type(key) is int:
            if type(value) is not list or not -1 < key < len(value):
                return None
        elif type(value) is not dict or key not in value:
            return None
        value = value[key]
    return value


def _verbatim(text: str) -> bool:
    """True when `text` is written unchanged inside a JSON string token."""
    return '"' not in text and "\\" not in text and text.isprintable()


class Stencil:
    """Per-stream decoder of events that differ only in the string at `path`
    (see the module docstring). `loads(text)` equals `json.loads(text)`:
    same value, same exception."""

    __slots__ = ("_inner", "_last", "_learns", "_min_len", "_path", "_prefix", "_suffix",
                 "_value")

    def __init__(self, path: Path, learns: int = 4) -> None:
        self._path = path
        self._inner = path[:-1]
        self._last = path[-1]
        self._learns = learns
        self._prefix: str | None = None
        self._suffix = ""
        self._min_len = 0
        self._value: Any = None

    def loads(self, text: str) -> Any:
        """Decode one event's JSON text."""
        prefix = self._prefix
        if (prefix is not None and text.startswith(prefix) and text.endswith(self._suffix)
                and len(text) >= self._min_len):
            middle = text[len(prefix):len(text) - len(self._suffix)]
            if '"' not in middle and "\\" not in middle and middle.isprintable():
                top = self._value.copy()
                node = top
                for key in self._inner:
                    child = node[key].copy()
                    node[key] = child
                    node = child
                node[self._last] = middle
                return top
        value = fast_loads(text)
        if self._learns > 0:
            self._learn(text, value)
        return value

    def loads_any(self, text: str) -> Any:
        """`loads(text)`, None when it is not JSON (as `codec_helpers.loads_any`)."""
        try:
            return self.loads(text)
        except (ValueError, TypeError, RecursionError):
            return None

    def _learn(self, text: str, value: Any) -> None:
        if type(value) is not dict:
            return
        s = value_at(value, self._path)
        if type(s) is not str or not _verbatim(s):
            return
        self._learns -= 1
        at = text.rfind(f'"{s}"')
        if at < 0:
            return
        prefix, suffix = text[:at + 1], text[at + 1 + len(s):]
        try:
            probe = fast_loads(prefix + "\\u0000" + suffix)
        except Exception:
            return
        if value_at(probe, self._path) == "\x00":
            self._prefix, self._suffix, self._value = prefix, suffix, value
            self._min_len = len(prefix) + len(suffix)


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    actual = tuple(f.name for f in fields(cls))
    if actual != names:  # pragma: no cover - guards future model edits
        raise RuntimeError(f"hotpath: {cls.__name__} fields changed: {actual}")
    attrs: dict[str, Any] = dict(vars(cls))
    return tuple(attrs[n].__set__ for n in names)


_new = object.__new__
_D_ROLE, _D_CONTENT, _D_TOOLS, _D_REFUSAL = _setters(
    ChoiceDelta, ("role", "content", "tool_calls", "refusal")
)
_C_INDEX, _C_DELTA, _C_FINISH, _C_LOGPROBS = _setters(
    ChunkChoice, ("index", "delta", "finish_reason", "logprobs")
)
_K_ID, _K_CREATED, _K_MODEL, _K_CHOICES, _K_USAGE, _K_OBJECT, _K_FP = _setters(
    ChatCompletionChunk,
    ("id", "created", "model", "choices", "usage", "object", "system_fingerprint"),
)
_CHUNK_OBJECT: str = ChatCompletionChunk("", 0, "", ()).object  # the field's default


def new_delta(
    role: str | None,
    content: str | None,
    tool_calls: tuple[ChoiceDeltaToolCall, ...] | None = None,
    refusal: str | None = None,
) -> ChoiceDelta:
    """`ChoiceDelta(role, content, tool_calls, refusal)`, built directly."""
    d: ChoiceDelta = _new(ChoiceDelta)
    _D_ROLE(d, role)
    _D_CONTENT(d, content)
    _D_TOOLS(d, tool_calls)
    _D_REFUSAL(d, refusal)
    return d


EMPTY_DELTA: ChoiceDelta = new_delta(None, None)


def new_choice(index: int, delta: ChoiceDelta, finish_reason: str | None) -> ChunkChoice:
    """`ChunkChoice(index, delta, finish_reason)` (no logprobs), built directly."""
    c: ChunkChoice = _new(ChunkChoice)
    _C_INDEX(c, index)
    _C_DELTA(c, delta)
    _C_FINISH(c, finish_reason)
    _C_LOGPROBS(c, None)
    return c


def new_chunk(
    response_id: str,
    created: int,
    model: str,
    choices: tuple[ChunkChoice, ...],
    usage: CompletionUsage | None = None,
) -> ChatCompletionChunk:
    """`ChatCompletionChunk(id, created, model, choices, usage)` with the
    default `object` and no `system_fingerprint`, built directly."""
    k: ChatCompletionChunk = _new(ChatCompletionChunk)
    _K_ID(k, response_id)
    _K_CREATED(k, created)
    _K_MODEL(k, model)
    _K_CHOICES(k, choices)
    _K_USAGE(k, usage)
    _K_OBJECT(k, _CHUNK_OBJECT)
    _K_FP(k, None)
    return k
