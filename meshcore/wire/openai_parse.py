"""Strict parsers of OpenAI-shaped response bodies into the unified model.

Theory of operation: provider bodies are untrusted. Each parser reads a
decoded JSON value and builds frozen model objects, raising `ValueError`
(with the offending path) on any wrong type or missing required field; the
attempt object turns that into a MALFORMED_BODY fact. IDs, model names and
timestamps are always the ones of the attempt (R-41, R-67), never the
provider's, so a pool name or a provider-side alias never leaks out.
"""

from __future__ import annotations

import json
import math
from typing import Any

from meshcore.wire.hotpath import EMPTY_DELTA, fast_loads, fast_loads_bytes
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChoiceDeltaFunction,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionUsage,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingUsage,
    FunctionCall,
    Image,
    ImagesResponse,
    ModelInfo,
    ToolCall,
    Transcription,
)

# A body the parsers accept: JSON text as bytes, bytearray or str (what
# json.loads takes). Spelled out in the signatures rather than `bytes` so that
# a compiled core accepts the same inputs as the interpreted one.
JsonText = bytes | bytearray | str


def loads(body: JsonText, path: str = "body") -> Any:
    """json.loads that reports failures as ValueError naming `path`."""
    try:
        if type(body) is bytes:
            return fast_loads_bytes(body)
        return fast_loads(body) if type(body) is str else json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None


def obj(value: Any, path: str) -> dict[str, Any]:
    """`value` as a JSON object, else ValueError."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object")
    return value


def arr(value: Any, path: str) -> list[Any]:
    """`value` as a JSON array, else ValueError."""
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected an array")
    return value


def opt_str(value: Any, path: str) -> str | None:
    """A string or None, else ValueError."""
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{path}: expected a string")


def num_int(value: Any, path: str, default: int = 0) -> int:
    """A non-negative integer (None -> default), else ValueError."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: expected an integer")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ValueError(f"{path}: expected an integer")
    if value < 0:
        raise ValueError(f"{path}: must be >= 0")
    return int(value)


def parse_usage(value: Any, path: str = "usage") -> CompletionUsage | None:
    """OpenAI `usage` (None when absent)."""
    if value is None:
        return None
    u = obj(value, path)
    p = num_int(u.get("prompt_tokens"), f"{path}.prompt_tokens")
    c = num_int(u.get("completion_tokens"), f"{path}.completion_tokens")
    t = num_int(u.get("total_tokens"), f"{path}.total_tokens", p + c)
    return CompletionUsage(p, c, t)


def _tool_calls(value: Any, path: str) -> tuple[ToolCall, ...] | None:
    if value is None:
        return None
    out: list[ToolCall] = []
    for i, raw in enumerate(arr(value, path)):
        tc = obj(raw, f"{path}[{i}]")
        fn = obj(tc.get("function"), f"{path}[{i}].function")
        name = opt_str(fn.get("name"), f"{path}[{i}].function.name") or ""
        args = fn.get("arguments", "")
        if isinstance(args, (dict, list)):
            args = json.dumps(args)
        out.append(
            ToolCall(
                id=opt_str(tc.get("id"), f"{path}[{i}].id") or f"call_{i}",
                type=opt_str(tc.get("type"), f"{path}[{i}].type") or "function",
                function=FunctionCall(name=name,
                                      arguments=opt_str(args, f"{path}[{i}].arguments") or ""),
            )
        )
    return tuple(out) or None


def _plain_count(value: Any, default: int) -> int:
    """`num_int(value, .., default)` for None or an exact non-negative int;
    LookupError for anything else (the caller falls back)."""
    if value is None:
        return default
    if type(value) is int and value >= 0:
        return value
    raise LookupError


def _plain_completion(
    d: dict[str, Any], response_id: str, model_id: str, created: int
) -> ChatCompletion | None:
    """The common completion shape parsed with type checks only (no error
    paths built): choices that are objects with a message object whose
    role, content, refusal and finish reason are strings or null and which
    has no tool calls, an int or absent index, usage counts that are
    non-negative ints or absent. The very object the full parser builds,
    or None for any other shape (invalid ones included: the full parser
    reports them)."""
    raw = d.get("choices")
    if type(raw) is not list or not raw:
        return None
    choices: list[Choice] = []
    try:
        for i, c in enumerate(raw):
            if type(c) is not dict:
                return None
            m = c.get("message")
            if type(m) is not dict or m.get("tool_calls") is not None:
                return None
            role = m.get("role")
            content = m.get("content")
            refusal = m.get("refusal")
            finish = c.get("finish_reason")
            for v in (role, content, refusal, finish):
                if v is not None and type(v) is not str:
                    return None
            choices.append(Choice(_plain_count(c.get("index"), i), ChatCompletionMessage(
                role or "assistant", content, None, refusal), finish))
        u = d.get("usage")
        usage = None
        if u is not None:
            if type(u) is not dict:
                return None
            p = _plain_count(u.get("prompt_tokens"), 0)
            n = _plain_count(u.get("completion_tokens"), 0)
            usage = CompletionUsage(p, n, _plain_count(u.get("total_tokens"), p + n))
    except LookupError:
        return None
    fp = d.get("system_fingerprint")
    if fp is not None and type(fp) is not str:
        return None
    return ChatCompletion(response_id, created, model_id, tuple(choices), usage,
                          system_fingerprint=fp)


def parse_chat_completion(
    body: JsonText, *, response_id: str, model_id: str, created: int
) -> ChatCompletion:
    """A non-streamed chat completion body (the common shape through
    `_plain_completion`, everything else through the full parser)."""
    value = loads(body)
    if type(value) is dict:
        plain = _plain_completion(value, response_id, model_id, created)
        if plain is not None:
            return plain
    return parse_completion_value(value, response_id=response_id, model_id=model_id,
                                  created=created)


def parse_completion_value(
    value: Any, *, response_id: str, model_id: str, created: int
) -> ChatCompletion:
    """A decoded chat completion body, every field through its validator
    (the reference `_plain_completion` is tested against)."""
    d = obj(value, "body")
    choices_raw = arr(d.get("choices"), "choices")
    choices: list[Choice] = []
    for i, raw in enumerate(choices_raw):
        c = obj(raw, f"choices[{i}]")
        m = obj(c.get("message"), f"choices[{i}].message")
        content = m.get("content")
        if isinstance(content, list):  # some servers return parts
            content = "".join(
                p.get("text", "") for p in content if isinstance(p, dict)
                and isinstance(p.get("text", ""), str)
            )
        choices.append(
            Choice(
                index=num_int(c.get("index"), f"choices[{i}].index", i),
                message=ChatCompletionMessage(
                    role=opt_str(m.get("role"), f"choices[{i}].message.role") or "assistant",
                    content=opt_str(content, f"choices[{i}].message.content"),
                    tool_calls=_tool_calls(m.get("tool_calls"), f"choices[{i}].message.tool_calls"),
                    refusal=opt_str(m.get("refusal"), f"choices[{i}].message.refusal"),
                ),
                finish_reason=opt_str(c.get("finish_reason"), f"choices[{i}].finish_reason"),
            )
        )
    if not choices:
        raise ValueError("choices: empty")
    return ChatCompletion(
        id=response_id,
        created=created,
        model=model_id,
        choices=tuple(choices),
        usage=parse_usage(d.get("usage")),
        system_fingerprint=opt_str(d.get("system_fingerprint"), "system_fingerprint"),
    )


def _delta_tool_calls(value: Any, path: str) -> tuple[ChoiceDeltaToolCall, ...] | None:
    if value is None:
        return None
    out: list[ChoiceDeltaToolCall] = []
    for i, raw in enumerate(arr(value, path)):
        tc = obj(raw, f"{path}[{i}]")
        fn_raw = tc.get("function")
        fn = None
        if fn_raw is not None:
            f = obj(fn_raw, f"{path}[{i}].function")
            fn = ChoiceDeltaFunction(
                name=opt_str(f.get("name"), f"{path}[{i}].function.name"),
                arguments=opt_str(f.get("arguments"), f"{path}[{i}].function.arguments"),
            )
        out.append(
            ChoiceDeltaToolCall(
                index=num_int(tc.get("index"), f"{path}[{i}].index", i),
                id=opt_str(tc.get("id"), f"{path}[{i}].id"),
                type=opt_str(tc.get("type"), f"{path}[{i}].type"),
                function=fn,
            )
        )
    return tuple(out) or None


def parse_chunk_choices(value: Any) -> tuple[ChunkChoice, ...]:
    """The `choices` of one stream chunk (plain type checks inline, an empty
    delta shared)."""
    if type(value) is not list:
        raise ValueError("choices: expected an array")
    out: list[ChunkChoice] = []
    for i, c in enumerate(value):
        if type(c) is not dict:
            raise ValueError(f"choices[{i}]: expected an object")
        d = c.get("delta")
        if d is None:
            d = {}
        elif type(d) is not dict:
            raise ValueError(f"choices[{i}].delta: expected an object")
        content = d.get("content")
        role = d.get("role")
        if (content is not None and type(content) is not str) or (
            role is not None and type(role) is not str
        ):
            raise ValueError(f"choices[{i}].delta: content and role must be strings")
        tcs = d.get("tool_calls")
        refusal = d.get("refusal")
        if tcs is None and refusal is None:
            delta = EMPTY_DELTA if content is None and role is None else ChoiceDelta(role, content)
        else:
            delta = ChoiceDelta(
                role,
                content,
                None if tcs is None else _delta_tool_calls(tcs, f"choices[{i}].tool_calls"),
                None if refusal is None else opt_str(refusal, f"choices[{i}].delta.refusal"),
            )
        idx = c.get("index", i)
        if type(idx) is not int:
            idx = num_int(idx, f"choices[{i}].index", i)
        fr = c.get("finish_reason")
        if fr is not None and type(fr) is not str:
            raise ValueError(f"choices[{i}].finish_reason: expected a string")
        out.append(ChunkChoice(idx, delta, fr))
    return tuple(out)


def parse_embeddings(body: JsonText, *, model_id: str) -> CreateEmbeddingResponse:
    """An embeddings body."""
    d = obj(loads(body), "body")
    data: list[Embedding] = []
    for i, raw in enumerate(arr(d.get("data"), "data")):
        e = obj(raw, f"data[{i}]")
        vec = e.get("embedding")
        emb: tuple[float, ...] | str
        if isinstance(vec, str):
            emb = vec
        else:
            items = arr(vec, f"data[{i}].embedding")
            for x in items:
                if isinstance(x, bool) or not isinstance(x, (int, float)):
                    raise ValueError(f"data[{i}].embedding: expected numbers")
            emb = tuple(float(x) for x in items)
        data.append(Embedding(index=num_int(e.get("index"), f"data[{i}].index", i), embedding=emb))
    u = d.get("usage")
    usage = EmbeddingUsage()
    if u is not None:
        uo = obj(u, "usage")
        p = num_int(uo.get("prompt_tokens"), "usage.prompt_tokens")
        usage = EmbeddingUsage(p, num_int(uo.get("total_tokens"), "usage.total_tokens", p))
    return CreateEmbeddingResponse(data=tuple(data), model=model_id, usage=usage)


def parse_images(body: JsonText, *, created: int) -> ImagesResponse:
    """An images body."""
    d = obj(loads(body), "body")
    out: list[Image] = []
    for i, raw in enumerate(arr(d.get("data"), "data")):
        im = obj(raw, f"data[{i}]")
        img = Image(
            url=opt_str(im.get("url"), f"data[{i}].url"),
            b64_json=opt_str(im.get("b64_json"), f"data[{i}].b64_json"),
            revised_prompt=opt_str(im.get("revised_prompt"), f"data[{i}].revised_prompt"),
        )
        if img.url is None and img.b64_json is None:
            raise ValueError(f"data[{i}]: neither url nor b64_json")
        out.append(img)
    return ImagesResponse(created=created, data=tuple(out))


def parse_transcription(body: JsonText, response_format: str | None) -> Transcription:
    """A transcription body: JSON for json/verbose_json, plain text otherwise."""
    if response_format in ("text", "srt", "vtt"):
        return Transcription(text=body if isinstance(body, str) else body.decode("utf-8"))
    d = obj(loads(body), "body")
    text = d.get("text")
    if not isinstance(text, str):
        raise ValueError("text: expected a string")
    dur = d.get("duration")
    if dur is not None and (isinstance(dur, bool) or not isinstance(dur, (int, float))):
        raise ValueError("duration: expected a number")
    segs = d.get("segments")
    segments = None
    if segs is not None:
        segments = tuple(obj(s, f"segments[{i}]") for i, s in enumerate(arr(segs, "segments")))
    return Transcription(
        text=text,
        language=opt_str(d.get("language"), "language"),
        duration=None if dur is None else float(dur),
        segments=segments,
    )


def parse_models(body: JsonText) -> list[ModelInfo]:
    """A `GET /models` body: `{"data": [...]}` or a bare list."""
    d = loads(body)
    items = arr(d, "body") if isinstance(d, list) else arr(obj(d, "body").get("data"), "data")
    out: list[ModelInfo] = []
    for i, raw in enumerate(items):
        m = obj(raw, f"data[{i}]")
        mid = m.get("id")
        if not isinstance(mid, str) or not mid:
            raise ValueError(f"data[{i}].id: expected a string")
        ctx = m.get("context_window", m.get("context_length"))
        created = m.get("created")
        out.append(
            ModelInfo(
                id=mid,
                name=mid,
                context_window=ctx if isinstance(ctx, int) and not isinstance(ctx, bool) else None,
                owned_by=m.get("owned_by") if isinstance(m.get("owned_by"), str) else None,
                created=created if isinstance(created, int) and not isinstance(created, bool)
                else None,
            )
        )
    return out
