"""The plain-request fast paths change nothing (issue 4).

Each non-streamed request passes through a handful of shortcuts for the
common shape: `parse_chat_request` (plain kwargs), `WireModel.model_dump`
and `dump_value` (exact scalar types copied directly), the compact JSON
encoder, `fast_loads_bytes` (response bodies), `parse_chat_completion`
(plain completions), `parse_rate_limits` (one lookup per header, durations
remembered) and `features_of` (text-only messages). Every test here runs
random valid and invalid inputs through the shortcut and through the
general path (or a verbatim copy of the code before the shortcut) and
requires identical results: equal values with equal reprs (so `1` and
`1.0` differ), or the same exception type and message.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import fields
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.wire import models_chat
from meshcore.wire.attempt import json_body
from meshcore.wire.codec_helpers import dumps as helper_dumps
from meshcore.wire.codec_helpers import loads_any, loads_obj
from meshcore.wire.hotpath import fast_loads, fast_loads_bytes
from meshcore.wire.models import (
    ChatCompletionRequest,
    ChatMessage,
    WireModel,
    parse_chat_request,
)
from meshcore.wire.models_base import dump_value
from meshcore.wire.openai_parse import parse_chat_completion, parse_completion_value
from meshcore.wire.ratelimit import parse_duration_header, parse_rate_limits
from meshcore.wire.tokens import _has_image, estimate_tokens, features_of

SETTINGS = settings(max_examples=200, deadline=None)


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """("ok", repr of the value) or (exception type, message)."""
    try:
        return "ok", repr(fn(*args, **kwargs))
    except Exception as exc:  # the very exception is the thing compared
        return type(exc).__name__, str(exc)


# ------------------------------------------------------------ request parsing


def _with(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A deep copy of `value` with `new` at `path` (unchanged when a
    container on the way is missing)."""
    value = copy.deepcopy(value)
    node = value
    try:
        for key in path[:-1]:
            node = node[key]
        if isinstance(node, dict) or (isinstance(node, list) and path[-1] < len(node)):
            node[path[-1]] = new
    except (KeyError, IndexError, TypeError):
        pass
    return value


_ODD = st.sampled_from([
    None, True, False, 0, 1, -1, 3, 2**53 + 1, 10**400, 0.5, 1.0, 2.0, 2.5, -0.0, -2.0,
    math.nan, math.inf, -math.inf, "", "x", "gpt-4o", [], ["a"], ["a", 1], ("s",), {},
    {"type": "text"}, {"include_usage": True}, b"x",
])
_FLOAT = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-5, 5), _ODD)
_INT = st.one_of(st.none(), st.integers(-3, 10**6), st.floats(-3, 10), st.booleans(), _ODD)
_TEXT = st.text(max_size=12)


class _Role(str, Enum):
    USER = "user"


_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]),
                           "content": _TEXT}),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "tool", _Role.USER]),
                           "content": st.one_of(st.none(), _TEXT, st.just([]),
                                                st.just([{"type": "text", "text": "hi"}]),
                                                st.just(["plain part"]), st.just(5))},
                          optional={"name": st.one_of(_TEXT, st.just(3)),
                                    "tool_call_id": _TEXT}),
    st.fixed_dictionaries({"content": _TEXT}),
    st.just(ChatMessage("user", "prebuilt")),
    st.just("not a message"),
    st.dictionaries(st.sampled_from(["role", "content", 1]), _TEXT, max_size=3),
)

_PLAIN_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]),
                                        "content": _TEXT})
_REQUEST = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(_PLAIN_MESSAGE, min_size=1, max_size=3),
                           st.lists(_MESSAGE, max_size=4),
                           st.lists(_MESSAGE, min_size=1, max_size=3).map(tuple), _ODD)},
    optional={
        "model": st.one_of(_TEXT, _ODD),
        "temperature": _FLOAT, "top_p": _FLOAT, "frequency_penalty": _FLOAT,
        "presence_penalty": _FLOAT,
        "n": _INT, "max_tokens": _INT, "max_completion_tokens": _INT, "seed": _INT,
        "stop": st.one_of(st.none(), _TEXT, st.lists(_TEXT, max_size=3),
                          st.lists(_TEXT, max_size=2).map(tuple), _ODD),
        "stream": st.one_of(st.booleans(), _ODD),
        "user": st.one_of(_TEXT, _ODD),
        "tools": st.one_of(st.none(), st.just([{"type": "function",
                                                 "function": {"name": "f"}}]), _ODD),
        "tool_choice": st.one_of(st.none(), st.just("auto"), _ODD),
        "response_format": st.one_of(st.none(), st.just({"type": "json_object"}), _ODD),
        "stream_options": st.one_of(st.none(), st.just({"include_usage": True}), _ODD),
        "extra_body": st.one_of(st.none(), st.just({"k": 1}), _ODD),
        "logprobs": st.one_of(st.none(), st.booleans(), _ODD),
    },
)


# Mostly the plain shape (so the fast path's own checks are what decides),
# with values from valid, boundary and invalid alike.
_NEAR_PLAIN = st.fixed_dictionaries(
    {"messages": st.lists(_PLAIN_MESSAGE, min_size=1, max_size=2)},
    optional={
        "model": st.one_of(_TEXT, _ODD),
        "temperature": _FLOAT, "top_p": _FLOAT, "frequency_penalty": _FLOAT,
        "presence_penalty": _FLOAT,
        "n": _INT, "max_tokens": _INT, "max_completion_tokens": _INT, "seed": _INT,
        "stop": st.one_of(st.none(), _TEXT, st.lists(st.one_of(_TEXT, _ODD), max_size=2)),
        "stream": st.one_of(st.booleans(), _ODD), "user": st.one_of(_TEXT, _ODD),
        "tools": st.none(), "extra_body": st.none(),
    },
)


@SETTINGS
@given(st.one_of(_NEAR_PLAIN, _REQUEST))
def test_parse_chat_request_equals_full_parser(data: dict[str, Any]) -> None:
    assert _outcome(parse_chat_request, data) == _outcome(
        models_chat.parse_chat_request_full, data)


_PLAIN_REQUEST = st.fixed_dictionaries(
    {"messages": st.lists(_PLAIN_MESSAGE, min_size=1, max_size=2)},
    optional={"model": _TEXT, "temperature": st.floats(0, 2), "top_p": st.floats(0, 1),
              "n": st.integers(1, 5), "max_tokens": st.integers(1, 10**6), "seed": st.integers(),
              "stop": st.lists(_TEXT, max_size=2), "stream": st.booleans(), "user": _TEXT},
)
_REQUEST_SPOTS = [(k,) for k in (
    "model", "messages", "temperature", "top_p", "n", "max_tokens", "max_completion_tokens",
    "stop", "stream", "seed", "user", "frequency_penalty", "presence_penalty", "tools",
    "tool_choice", "response_format", "stream_options", "extra_body", "logprobs",
)] + [("messages", 0), ("messages", 0, "role"), ("messages", 0, "content"),
      ("messages", 0, "name"), ("stop", 0)]
_REQUEST_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 3, 2**53 + 1, 10**400, 0.5, 1.0, 2.0, 2.5, -0.0, -2.0, -2.5,
    math.nan, math.inf, "", "x", [], ["a"], ["a", 1], ("s",), {}, {"type": "text"},
    {"role": "user", "content": "c"}, [{"role": "user", "content": "c"}],
]


@settings(max_examples=25, deadline=None)
@given(_PLAIN_REQUEST)
def test_plain_request_changes_equal_full_parser(data: dict[str, Any]) -> None:
    """A plain request, then every one-value change of it at every spot."""
    for spot in [(), *_REQUEST_SPOTS]:
        for new in _REQUEST_VALUES if spot else [None]:
            changed = _with(data, spot, new) if spot else data
            assert _outcome(parse_chat_request, changed) == _outcome(
                models_chat.parse_chat_request_full, changed), (spot, new)


@pytest.mark.parametrize("data", [
    {"messages": [{"role": "user", "content": "hi"}]},
    {"model": "m", "messages": ({"role": "system", "content": "s"},
                                ChatMessage("user", "u")),
     "temperature": 1, "top_p": 0.5, "n": 1, "max_completion_tokens": 7, "stop": ["x"],
     "stream": True, "seed": -3, "user": "u", "frequency_penalty": -2,
     "presence_penalty": 2.0, "tools": None, "extra_body": None},
])
def test_plain_requests_take_the_fast_path(data: dict[str, Any]) -> None:
    fast = models_chat._parse_plain(data)
    assert fast is not None
    full = models_chat.parse_chat_request_full(data)
    assert fast == full and repr(fast) == repr(full)


@pytest.mark.parametrize("data", [
    {"messages": [{"role": "user", "content": "hi", "name": "n"}]},
    {"messages": [{"role": "user", "content": "hi"}], "temperature": 2.5},
    {"messages": [{"role": "user", "content": "hi"}], "max_tokens": True},
    {"messages": [{"role": "user", "content": "hi"}], "logprobs": True},
    {"messages": []},
])
def test_other_requests_take_the_full_parser(data: dict[str, Any]) -> None:
    assert models_chat._parse_plain(data) is None


# ------------------------------------------------------------ dumping


def _reference_dump_value(value: Any) -> Any:
    """`dump_value` as it was before the exact-type shortcuts."""
    if isinstance(value, WireModel):
        return _reference_model_dump(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_reference_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _reference_dump_value(v) for k, v in value.items()}
    return value


def _reference_model_dump(model: WireModel) -> dict[str, Any]:
    """`WireModel.model_dump` as it was (subclass overrides kept)."""
    kind = type(model)
    if kind is ChatCompletionRequest:
        assert isinstance(model, ChatCompletionRequest)
        out = _reference_fields(model)
        if not model.stream:
            out.pop("stream", None)
        for key, value in model.extra_params.items():
            out.setdefault(key, value)
        return out
    if kind.model_dump is not WireModel.model_dump:
        return model.model_dump()  # ContentPart's own (it calls dump_value only for images)
    return _reference_fields(model)


def _reference_fields(model: WireModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(model):  # type: ignore[arg-type]
        if f.name in model._SKIP:
            continue
        value = getattr(model, f.name)
        if value is None and f.name not in model._KEEP_NONE:
            continue
        out[f.name] = _reference_dump_value(value)
    return out


_RICH_REQUEST = st.fixed_dictionaries(
    {"messages": st.lists(st.one_of(
        st.fixed_dictionaries({"role": st.sampled_from(["user", _Role.USER]),
                               "content": st.one_of(_TEXT, st.lists(st.one_of(
                                   _TEXT,
                                   st.fixed_dictionaries({"type": st.just("image_url"),
                                                          "image_url": _TEXT}),
                                   st.fixed_dictionaries({"type": st.just("input_audio"),
                                                          "data": _TEXT})), max_size=2))},
                              optional={"name": _TEXT}),
        st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none(),
                               "tool_calls": st.just([{"id": "c1", "function": {
                                   "name": "f", "arguments": {"a": [1, 2.5, None]}}}])}),
    ), min_size=1, max_size=3)},
    optional={
        "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 99),
        "stop": st.one_of(_TEXT, st.lists(_TEXT, max_size=2)), "stream": st.booleans(),
        "tools": st.just([{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object"}, "strict": True}}]),
        "tool_choice": st.one_of(st.just("auto"), st.just({"type": "function"})),
        "response_format": st.just({"type": "json_schema", "json_schema": {"n": 1}}),
        "stream_options": st.just({"include_usage": False}),
        "extra_body": st.just({"k": [1]}),
        "logprobs": st.booleans(), "top_logprobs": st.integers(0, 5),
    },
)


@SETTINGS
@given(_RICH_REQUEST)
def test_model_dump_equals_reference(data: dict[str, Any]) -> None:
    req = parse_chat_request(data)
    dumped = req.model_dump()
    reference = _reference_model_dump(req)
    assert dumped == reference and repr(dumped) == repr(reference)
    assert json_body(dumped) == json.dumps(
        dumped, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert helper_dumps(dumped) == json_body(dumped)


@SETTINGS
@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT,
              st.sampled_from(list(_Role))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=8,
))
def test_dump_value_equals_reference(value: Any) -> None:
    got, want = dump_value(value), _reference_dump_value(value)
    assert got == want and repr(got) == repr(want)


# ------------------------------------------------------------ JSON bodies

_JSON_BYTES = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([b"{}", b'{"a":1}\n', b'{"a":1} x', b"{\x00\x00\x00", b'\xef\xbb\xbf{"a":1}',
                     b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b" {}", b"{", b"[1]", b'{"a":1}\t ',
                     b'{"a":1}\x0c', '{"é":"ü"}'.encode("utf-16"), b'{"a":1,}', b"{" * 5000]),
    st.builds(lambda v, tail: json.dumps(v).encode() + tail,
              st.dictionaries(_TEXT, st.one_of(st.integers(), _TEXT)),
              st.sampled_from([b"", b"\n", b"  \r\n", b"}", b"\x00"])),
)


@SETTINGS
@given(_JSON_BYTES)
def test_fast_loads_equal_json_loads(body: bytes) -> None:
    assert _outcome(fast_loads_bytes, body) == _outcome(json.loads, body)
    text = body.decode("utf-8", "replace")
    assert _outcome(fast_loads, text) == _outcome(json.loads, text)
    assert _outcome(loads_obj, body) == _outcome(lambda b: (
        lambda v: v if isinstance(v, dict) else None)(_safe_loads(b)), body)
    assert _outcome(loads_any, body) == _outcome(_safe_loads, body)


def _safe_loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None


# ------------------------------------------------------------ completion parsing

_MAYBE_STR = st.one_of(st.none(), _TEXT, st.integers(0, 3), st.just(["part"]))
_COUNT = st.one_of(st.sampled_from([None, 0, 1, 5, -1, -2, 2.0, 2.5, True, "3"]),
                   st.integers(0, 10**6))
_CHOICE = st.one_of(
    st.fixed_dictionaries(
        {"message": st.one_of(
            st.fixed_dictionaries({}, optional={
                "role": _MAYBE_STR, "content": st.one_of(_MAYBE_STR, st.just(
                    [{"type": "text", "text": "a"}, {"text": 3}, "x"])),
                "refusal": _MAYBE_STR, "annotations": st.just([]),
                "tool_calls": st.one_of(st.none(), st.just([]), st.just(
                    [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]))}),
            _MAYBE_STR)},
        optional={"index": _COUNT, "finish_reason": _MAYBE_STR, "logprobs": st.none()}),
    _MAYBE_STR,
)
_COMPLETION = st.fixed_dictionaries(
    {"choices": st.one_of(st.lists(_CHOICE, max_size=3), _MAYBE_STR)},
    optional={
        "id": _TEXT, "object": st.just("chat.completion"),
        "usage": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
            "prompt_tokens": _COUNT, "completion_tokens": _COUNT, "total_tokens": _COUNT}),
            _MAYBE_STR),
        "system_fingerprint": _MAYBE_STR,
    },
)


_STR_OR_NONE = st.one_of(st.none(), _TEXT)
_GOOD_COUNT = st.one_of(st.none(), st.integers(0, 10**6))
_PLAIN_COMPLETION = st.fixed_dictionaries({
    "choices": st.lists(st.fixed_dictionaries({
        "message": st.fixed_dictionaries({
            "role": _STR_OR_NONE, "content": _STR_OR_NONE, "refusal": _STR_OR_NONE,
            "tool_calls": st.none()}),
        "index": _GOOD_COUNT, "finish_reason": _STR_OR_NONE}), min_size=1, max_size=2),
    "usage": st.one_of(st.none(), st.fixed_dictionaries(
        {"prompt_tokens": _GOOD_COUNT, "completion_tokens": _GOOD_COUNT,
         "total_tokens": _GOOD_COUNT})),
    "system_fingerprint": _STR_OR_NONE,
})
# One value of a plain completion replaced (each path below exists in the
# plain shape; a None container on the way skips the change).
_SPOTS = [("choices", 0, "message", k) for k in ("role", "content", "refusal", "tool_calls")] + [
    ("choices", 0, k) for k in ("index", "finish_reason", "message")] + [
    ("usage", k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")] + [
    ("usage",), ("system_fingerprint",), ("choices",), ("choices", 0)]
_SPOT_VALUES: list[Any] = [
    None, -1, -2, 0, 3, 2.0, 2.5, True, "3", "", [], ["p"], {}, [{"type": "text", "text": "a"}],
    [{"id": "c", "function": {"name": "f", "arguments": "{}"}}],
]


@settings(max_examples=40, deadline=None)
@given(_PLAIN_COMPLETION)
def test_parse_plain_completion_equals_full_parser(value: Any) -> None:
    """A plain completion, then every one-value change of it at every spot."""
    check = test_parse_chat_completion_equals_full_parser.hypothesis.inner_test  # type: ignore[attr-defined]
    check(value, b"")
    for spot in _SPOTS:
        for new in _SPOT_VALUES:
            check(_with(value, spot, new), b"\n")


@SETTINGS
@given(st.one_of(_COMPLETION, _MAYBE_STR, st.lists(st.integers(), max_size=2)),
       st.sampled_from([b"", b"\n", b"x"]))
def test_parse_chat_completion_equals_full_parser(value: Any, tail: bytes) -> None:
    ids = {"response_id": "chatcmpl-1", "model_id": "m", "created": 7}
    body = json.dumps(value).encode() + tail
    if tail == b"x":
        want = _outcome(parse_chat_completion, body, **ids)
        assert want[0] == "ValueError" and want[1].startswith("body: invalid JSON (Extra data")
        return
    want = _outcome(parse_completion_value, value, **ids)
    assert _outcome(parse_chat_completion, body, **ids) == want
    assert _outcome(parse_chat_completion, body.decode(), **ids) == want


# ------------------------------------------------------------ rate limits


def _reference_rate_limits(headers: list[tuple[str, str]]) -> Any:
    """`parse_rate_limits` as it was (prefix tests, no remembered durations)."""
    from meshcore.types import RateLimitInfo
    from meshcore.wire import ratelimit as rl

    found: dict[str, int | float] = {}
    generic: dict[str, int | float] = {}
    for raw_name, value in headers:
        name = raw_name.lower()
        if not (name.startswith("x-ratelimit-") or name.startswith("anthropic-ratelimit-")):
            continue
        target = generic if name in rl._GENERIC else found
        key = rl._INT_FIELDS.get(name)
        if key is not None:
            n = rl._int(value)
            if n is not None:
                target[key] = n
            continue
        key = rl._RESET_FIELDS.get(name)
        if key is not None:
            d = parse_duration_header(value)
            if d is not None:
                target[key] = d
    for key, val in generic.items():
        found.setdefault(key, val)
    if not found:
        return None

    def opt_int(v: int | float | None) -> int | None:
        return None if v is None else int(v)

    def opt_float(v: int | float | None) -> float | None:
        return None if v is None else float(v)

    return RateLimitInfo(
        requests_remaining=opt_int(found.get("requests_remaining")),
        requests_limit=opt_int(found.get("requests_limit")),
        tokens_remaining=opt_int(found.get("tokens_remaining")),
        tokens_limit=opt_int(found.get("tokens_limit")),
        requests_reset_s=opt_float(found.get("requests_reset_s")),
        tokens_reset_s=opt_float(found.get("tokens_reset_s")),
    )


_RL_NAMES = st.sampled_from([
    "x-ratelimit-remaining-requests", "X-RateLimit-Limit-Requests", "x-ratelimit-remaining",
    "x-ratelimit-limit", "x-ratelimit-reset", "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-reset",
    "Anthropic-Ratelimit-Tokens-Limit", "x-ratelimit-other", "content-type", "retry-after",
])
_RL_VALUES = st.one_of(
    st.sampled_from(["6ms", "0s", "1m30s", "1.5", "20", " 7 ", "-1", "1e3", "2.0", "nan", "inf",
                     "1h2m3.5s", "x", "", "６", "1.5s2"]),
    st.integers(0, 10**6).map(str), _TEXT,
)


@SETTINGS
@given(st.lists(st.tuples(_RL_NAMES, _RL_VALUES), max_size=8))
def test_rate_limits_equal_reference(headers: list[tuple[str, str]]) -> None:
    got, want = parse_rate_limits(headers), _reference_rate_limits(headers)
    assert got == want and repr(got) == repr(want)
    assert repr(parse_rate_limits(headers)) == repr(want)  # second time: durations remembered


# ------------------------------------------------------------ features


def _reference_features(req: ChatCompletionRequest) -> Any:
    from meshcore.types import Operation, RequestFeatures

    return RequestFeatures(
        operation=Operation.CHAT, stream=req.stream, tools=bool(req.tools),
        vision=_has_image(req),
        response_format=req.response_format.type if req.response_format else None,
        prompt_tokens=estimate_tokens(req.messages), max_tokens=req.max_tokens, user=req.user,
    )


@SETTINGS
@given(_RICH_REQUEST)
def test_features_equal_reference(data: dict[str, Any]) -> None:
    req = parse_chat_request(data)
    assert repr(features_of(req)) == repr(_reference_features(req))


class _Unencodable:
    def __repr__(self) -> str:
        return "<unencodable>"


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.just(_Unencodable()),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4) | st.integers() | st.floats() | st.booleans()
                      | st.none() | st.just(()), inner, max_size=4),
    max_leaves=12,
)


def _encoded(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except Exception as exc:  # the exception is compared: type and message
        return type(exc).__name__, str(exc)


@SETTINGS
@given(_JSONISH, st.integers(0, 3))
def test_json_body_equals_the_compact_encoder(value: Any, cycle: int) -> None:
    """`json_body` (a reused encoder for dicts) gives `_COMPACT.encode`'s
    bytes, or raises its exception, for any value: NaN and infinities,
    non-string keys, unencodable objects, circular references."""
    from meshcore.wire.attempt_parts import _COMPACT

    if cycle == 1 and isinstance(value, dict):
        value["self"] = value
    elif cycle == 2:
        value = {"outer": [value, {}]}
        value["outer"][1]["back"] = value["outer"]
    reference = _encoded(lambda v: _COMPACT.encode(v).encode("utf-8"), value)
    assert _encoded(json_body, value) == reference
