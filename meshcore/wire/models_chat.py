"""Chat completion request and response models (OpenAI field names).

Theory of operation: these frozen dataclasses are the unified chat shape
every provider family translates to and from. Requests are built from a
user's plain dict with `ChatCompletionRequest.from_dict` (which validates
and raises `ValueError` naming the bad field); responses are built by the
codecs and dumped back to the OpenAI wire shape with `model_dump()`.
Message contents are either a string or a tuple of `ContentPart` (text and
image parts). `extra_params` keeps other OpenAI parameters (logprobs,
parallel_tool_calls, ...) that OpenAI-compatible providers receive verbatim
and other families drop; `extra_body` is merged into the wire body
(R-105).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from meshcore.frozen import fast_frozen
from meshcore.wire.models_base import (
    _PLAIN,
    WireModel,
    ck_bool,
    ck_float,
    ck_int,
    ck_json_value,
    ck_list,
    ck_mapping,
    ck_req_str,
    ck_str,
    dump_value,
)

# ------------------------------------------------------------------ request parts


@dataclass(frozen=True, slots=True)
class ImageURL(WireModel):
    """An image reference: an http(s) URL or a `data:` URL."""

    url: str
    detail: str | None = None


fast_frozen(ImageURL)


@dataclass(frozen=True, slots=True)
class ContentPart(WireModel):
    """One part of a multi-part message: `type` is `text` or `image_url`
    (other types, e.g. `input_audio`, keep their payload in `data`)."""

    type: str
    text: str | None = None
    image_url: ImageURL | None = None
    data: dict[str, Any] | None = None

    def model_dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.text is not None:
            out["text"] = self.text
        if self.image_url is not None:
            out["image_url"] = self.image_url.model_dump()
        if self.data:
            out.update(self.data)
        return out


fast_frozen(ContentPart)


@dataclass(frozen=True, slots=True)
class FunctionCall(WireModel):
    """A function call: name and JSON-encoded arguments."""

    name: str
    arguments: str = ""


fast_frozen(FunctionCall)


@dataclass(frozen=True, slots=True)
class ToolCall(WireModel):
    """A tool call made by the assistant."""

    id: str
    function: FunctionCall
    type: str = "function"


fast_frozen(ToolCall)


@dataclass(frozen=True, slots=True)
class ChatMessage(WireModel):
    """One input message. `content` is a string, a tuple of parts, or None
    (an assistant message that only calls tools)."""

    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset({"content"})

    role: str
    content: str | tuple[ContentPart, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None


fast_frozen(ChatMessage)


@dataclass(frozen=True, slots=True)
class FunctionDefinition(WireModel):
    """A function tool's declaration."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


fast_frozen(FunctionDefinition)


@dataclass(frozen=True, slots=True)
class Tool(WireModel):
    """A tool the model may call."""

    function: FunctionDefinition
    type: str = "function"


fast_frozen(Tool)


@dataclass(frozen=True, slots=True)
class ResponseFormat(WireModel):
    """`response_format`: type `text`, `json_object` or `json_schema`."""

    type: str
    json_schema: dict[str, Any] | None = None


fast_frozen(ResponseFormat)


@dataclass(frozen=True, slots=True)
class StreamOptions(WireModel):
    """`stream_options`."""

    include_usage: bool | None = None


fast_frozen(StreamOptions)


@dataclass(frozen=True, slots=True)
class ChatCompletionRequest(WireModel):
    """A chat completion request in the OpenAI shape (R-105).

    `max_tokens` also receives `max_completion_tokens` from user input.
    """

    _SKIP: ClassVar[frozenset[str]] = frozenset({"extra_body", "extra_params"})

    model: str
    messages: tuple[ChatMessage, ...]
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    stop: str | tuple[str, ...] | None = None
    tools: tuple[Tool, ...] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    user: str | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    extra_params: dict[str, Any] = field(default_factory=dict)
    extra_body: dict[str, Any] | None = None

    def model_dump(self) -> dict[str, Any]:
        out = _dump_request(self) if type(self) is ChatCompletionRequest else (
            WireModel.model_dump(self))
        if not self.stream:
            out.pop("stream", None)
        for key, value in self.extra_params.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatCompletionRequest:
        """Parse a user's kwargs / JSON body; ValueError names the bad field."""
        return parse_chat_request(data)


fast_frozen(ChatCompletionRequest)


_REQUEST_SCALARS = ("temperature", "top_p", "n", "max_tokens", "stop", "tools", "tool_choice",
                    "response_format", "stream", "stream_options", "seed", "user",
                    "frequency_penalty", "presence_penalty")


def _dump_request(req: ChatCompletionRequest) -> dict[str, Any]:
    """`WireModel.model_dump(req)` for the exact class (request bodies are
    dumped once per attempt): the same fields in the same order, None left
    out, exact str/int/float/bool values copied, and a message of the exact
    `ChatMessage` class with only `role` and `content` (kept when None)
    dumped inline, everything else by `dump_value`."""
    out: dict[str, Any] = {}
    plain = _PLAIN
    model = req.model
    if model is not None:
        out["model"] = model if type(model) in plain else dump_value(model)
    msgs = req.messages
    if type(msgs) is tuple:
        dumped: list[Any] = []
        for m in msgs:
            if (type(m) is ChatMessage and m.name is None and m.tool_calls is None
                    and m.tool_call_id is None):
                d: dict[str, Any] = {}
                role, content = m.role, m.content
                if role is not None:
                    d["role"] = role if type(role) in plain else dump_value(role)
                d["content"] = content if content is None or type(content) in plain else (
                    dump_value(content))
                dumped.append(d)
            else:
                dumped.append(m if type(m) in plain else dump_value(m))
        out["messages"] = dumped
    elif msgs is not None:
        out["messages"] = msgs if type(msgs) in plain else dump_value(msgs)
    for name in _REQUEST_SCALARS:
        value = getattr(req, name)
        if value is not None:
            out[name] = value if type(value) in plain else dump_value(value)
    return out


# ------------------------------------------------------------------ responses


@dataclass(frozen=True, slots=True)
class CompletionUsage(WireModel):
    """Token usage as OpenAI reports it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


fast_frozen(CompletionUsage)


@dataclass(frozen=True, slots=True)
class ChatCompletionMessage(WireModel):
    """The assistant's message in a non-streamed completion."""

    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset({"content"})

    role: str = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    refusal: str | None = None


fast_frozen(ChatCompletionMessage)


@dataclass(frozen=True, slots=True)
class Choice(WireModel):
    """One choice of a completion."""

    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset({"finish_reason", "logprobs"})

    index: int
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


fast_frozen(Choice)


@dataclass(frozen=True, slots=True)
class ChatCompletion(WireModel):
    """A chat completion (`object: chat.completion`)."""

    id: str
    created: int
    model: str
    choices: tuple[Choice, ...]
    usage: CompletionUsage | None = None
    object: str = "chat.completion"
    system_fingerprint: str | None = None


fast_frozen(ChatCompletion)


@dataclass(frozen=True, slots=True)
class ChoiceDeltaFunction(WireModel):
    """A fragment of a streamed function call."""

    name: str | None = None
    arguments: str | None = None


fast_frozen(ChoiceDeltaFunction)


@dataclass(frozen=True, slots=True)
class ChoiceDeltaToolCall(WireModel):
    """A fragment of a streamed tool call."""

    index: int
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaFunction | None = None


fast_frozen(ChoiceDeltaToolCall)


@dataclass(frozen=True, slots=True)
class ChoiceDelta(WireModel):
    """The delta of a streamed choice."""

    role: str | None = None
    content: str | None = None
    tool_calls: tuple[ChoiceDeltaToolCall, ...] | None = None
    refusal: str | None = None


fast_frozen(ChoiceDelta)


@dataclass(frozen=True, slots=True)
class ChunkChoice(WireModel):
    """One choice of a stream chunk."""

    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset({"finish_reason"})

    index: int
    delta: ChoiceDelta
    finish_reason: str | None = None
    logprobs: dict[str, Any] | None = None


fast_frozen(ChunkChoice)


@dataclass(frozen=True, slots=True)
class ChatCompletionChunk(WireModel):
    """A stream chunk (`object: chat.completion.chunk`, R-67)."""

    id: str
    created: int
    model: str
    choices: tuple[ChunkChoice, ...]
    usage: CompletionUsage | None = None
    object: str = "chat.completion.chunk"
    system_fingerprint: str | None = None

    @property
    def has_content(self) -> bool:
        """True when the chunk carries content (R-65): a non-empty text or
        refusal delta or a tool-call delta. Role-only, empty and usage-only
        chunks are held back by the driver until commit."""
        for choice in self.choices:
            d = choice.delta
            if d.content or d.tool_calls or d.refusal:
                return True
        return False


# ------------------------------------------------------------------ parsing user input


fast_frozen(ChatCompletionChunk)

_CHAT_KEYS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "n", "max_tokens",
        "max_completion_tokens", "stop", "tools", "tool_choice", "response_format",
        "stream", "stream_options", "seed", "user", "frequency_penalty",
        "presence_penalty", "extra_body",
    }
)


def _parse_part(value: Any, path: str) -> ContentPart:
    if isinstance(value, str):
        return ContentPart(type="text", text=value)
    d = ck_mapping(value, path)
    ptype = ck_req_str(d.get("type"), f"{path}.type")
    if ptype == "text":
        return ContentPart(type="text", text=ck_req_str(d.get("text"), f"{path}.text"))
    if ptype == "image_url":
        raw = d.get("image_url")
        if isinstance(raw, str):
            return ContentPart(type="image_url", image_url=ImageURL(url=raw))
        img = ck_mapping(raw, f"{path}.image_url")
        return ContentPart(
            type="image_url",
            image_url=ImageURL(
                url=ck_req_str(img.get("url"), f"{path}.image_url.url"),
                detail=ck_str(img.get("detail"), f"{path}.image_url.detail", allow_none=True),
            ),
        )
    rest = {k: ck_json_value(v, f"{path}.{k}") for k, v in d.items() if k != "type"}
    return ContentPart(type=ptype, data=rest)


def _parse_tool_call(value: Any, path: str) -> ToolCall:
    d = ck_mapping(value, path)
    fn = ck_mapping(d.get("function"), f"{path}.function")
    args = fn.get("arguments", "")
    if isinstance(args, dict):
        import json

        args = json.dumps(args)
    return ToolCall(
        id=ck_req_str(d.get("id"), f"{path}.id"),
        type=ck_str(d.get("type", "function"), f"{path}.type") or "function",
        function=FunctionCall(
            name=ck_req_str(fn.get("name"), f"{path}.function.name"),
            arguments=ck_req_str(args, f"{path}.function.arguments"),
        ),
    )


def parse_message(value: Any, path: str) -> ChatMessage:
    """Parse one input message (dict or ChatMessage)."""
    if isinstance(value, ChatMessage):
        return value
    d = ck_mapping(value, path)
    role = ck_req_str(d.get("role"), f"{path}.role")
    raw = d.get("content")
    content: str | tuple[ContentPart, ...] | None
    if raw is None or isinstance(raw, str):
        content = raw
    else:
        parts = ck_list(raw, f"{path}.content")
        content = tuple(_parse_part(p, f"{path}.content[{i}]") for i, p in enumerate(parts))
    calls = d.get("tool_calls")
    tool_calls = (
        None
        if calls is None
        else tuple(
            _parse_tool_call(c, f"{path}.tool_calls[{i}]")
            for i, c in enumerate(ck_list(calls, f"{path}.tool_calls"))
        )
    )
    if content is None and tool_calls is None and role != "assistant":
        raise ValueError(f"{path}.content: required for role {role!r}")
    return ChatMessage(
        role=role,
        content=content,
        name=ck_str(d.get("name"), f"{path}.name", allow_none=True),
        tool_calls=tool_calls,
        tool_call_id=ck_str(d.get("tool_call_id"), f"{path}.tool_call_id", allow_none=True),
    )


def _parse_tool(value: Any, path: str) -> Tool:
    d = ck_mapping(value, path)
    ttype = ck_req_str(d.get("type", "function"), f"{path}.type")
    fn = ck_mapping(d.get("function"), f"{path}.function")
    params = fn.get("parameters")
    return Tool(
        type=ttype,
        function=FunctionDefinition(
            name=ck_req_str(fn.get("name"), f"{path}.function.name"),
            description=ck_str(fn.get("description"), f"{path}.function.description",
                               allow_none=True),
            parameters=None if params is None else ck_json_value(
                ck_mapping(params, f"{path}.function.parameters"), f"{path}.function.parameters"
            ),
            strict=ck_bool(fn.get("strict"), f"{path}.function.strict"),
        ),
    )


def _parse_stop(value: Any) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    items = ck_list(value, "stop")
    return tuple(ck_req_str(s, f"stop[{i}]") for i, s in enumerate(items))


def _parse_response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    d = ck_mapping(value, "response_format")
    rtype = ck_req_str(d.get("type"), "response_format.type")
    if rtype not in ("text", "json_object", "json_schema"):
        raise ValueError(f"response_format.type: unknown type {rtype!r}")
    schema = d.get("json_schema")
    return ResponseFormat(
        type=rtype,
        json_schema=None if schema is None else ck_json_value(
            ck_mapping(schema, "response_format.json_schema"), "response_format.json_schema"
        ),
    )


def _parse_tool_choice(value: Any) -> str | dict[str, Any] | None:
    if value is None or isinstance(value, str):
        return value
    result: dict[str, Any] = ck_json_value(ck_mapping(value, "tool_choice"), "tool_choice")
    return result


# The keys `_parse_plain` handles itself (every other key, or a non-None
# value of the keys in _PLAIN_IF_NONE, sends a request down the full parser).
_PLAIN_KEYS = frozenset(
    {
        "model", "messages", "temperature", "top_p", "n", "max_tokens",
        "max_completion_tokens", "stop", "stream", "seed", "user", "frequency_penalty",
        "presence_penalty",
    }
)
_PLAIN_IF_NONE = frozenset(
    {"tools", "tool_choice", "response_format", "stream_options", "extra_body"}
)


def _plain_float(value: Any, lo: float, hi: float) -> float | None:
    """`ck_float(value, .., lo=lo, hi=hi)` for an exact int or float in range
    (and None); raises LookupError for anything else (the caller falls back)."""
    if value is None:
        return None
    t = type(value)
    if t is float or (t is int and -(2**53) <= value <= 2**53):
        f = float(value)
        if lo <= f <= hi:  # NaN fails too
            return f
    raise LookupError


def _plain_int(value: Any, minimum: int | None) -> int | None:
    """`ck_int(value, .., minimum=minimum)` for an exact int in range (and
    None); raises LookupError for anything else."""
    if value is None:
        return None
    if type(value) is int and (minimum is None or value >= minimum):
        return value
    raise LookupError


def _parse_plain(d: dict[str, Any]) -> ChatCompletionRequest | None:
    """The common request shape, parsed without building any error path:
    only the keys of _PLAIN_KEYS (and those of _PLAIN_IF_NONE set to None),
    every value of the exact simple type the full parser accepts unchanged
    (str, int, float in range, bool), messages that are `ChatMessage`s or
    dicts holding exactly a str `role` and a str `content`. Returns the very
    object `parse_chat_request` builds, or None (for any other shape, every
    invalid one included) so the full parser decides and reports."""
    if type(d) is not dict:
        return None
    for key in d:
        if key not in _PLAIN_KEYS and (key not in _PLAIN_IF_NONE or d[key] is not None):
            return None
    msgs = d.get("messages")
    if (type(msgs) is not list and type(msgs) is not tuple) or not msgs:
        return None
    messages: list[ChatMessage] = []
    for m in msgs:
        if type(m) is dict:
            if len(m) != 2:
                return None
            role = m.get("role")
            content = m.get("content")
            if type(role) is not str or type(content) is not str:
                return None
            messages.append(ChatMessage(role, content))
        elif type(m) is ChatMessage:
            messages.append(m)
        else:
            return None
    model = d.get("model", "")
    stop = d.get("stop")
    stream = d.get("stream")
    user = d.get("user")
    if (type(model) is not str or (stream is not None and type(stream) is not bool)
            or (user is not None and type(user) is not str)):
        return None
    if stop is not None and type(stop) is not str:
        if type(stop) is not list and type(stop) is not tuple:
            return None
        for s in stop:
            if type(s) is not str:
                return None
        stop = tuple(stop)
    try:
        max_tokens = _plain_int(d.get("max_tokens"), 1)
        mct = _plain_int(d.get("max_completion_tokens"), 1)
        return ChatCompletionRequest(
            model, tuple(messages),
            _plain_float(d.get("temperature"), 0.0, 2.0),
            _plain_float(d.get("top_p"), 0.0, 1.0),
            _plain_int(d.get("n"), 1),
            mct if max_tokens is None else max_tokens,
            stop,
            stream=stream is True,
            seed=_plain_int(d.get("seed"), None),
            user=user,
            frequency_penalty=_plain_float(d.get("frequency_penalty"), -2.0, 2.0),
            presence_penalty=_plain_float(d.get("presence_penalty"), -2.0, 2.0),
            extra_params={},
        )
    except LookupError:
        return None


def parse_chat_request(data: dict[str, Any]) -> ChatCompletionRequest:
    """Validate and parse a chat request dict (R-105 parameters)."""
    plain = _parse_plain(data)
    if plain is not None:
        return plain
    return parse_chat_request_full(data)


def parse_chat_request_full(data: dict[str, Any]) -> ChatCompletionRequest:
    """`parse_chat_request` without the fast path for the common shape: every
    field through its validator (the reference the fast path is tested against)."""
    d = ck_mapping(data, "request")
    msgs = ck_list(d.get("messages"), "messages")
    if not msgs:
        raise ValueError("messages: must not be empty")
    max_tokens = ck_int(d.get("max_tokens"), "max_tokens", minimum=1)
    mct = ck_int(d.get("max_completion_tokens"), "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = mct
    so = d.get("stream_options")
    tools = d.get("tools")
    extra_body = d.get("extra_body")
    extra_params = {
        k: ck_json_value(v, k) for k, v in d.items() if k not in _CHAT_KEYS and v is not None
    }
    return ChatCompletionRequest(
        model=ck_str(d.get("model", ""), "model") or "",
        messages=tuple(parse_message(m, f"messages[{i}]") for i, m in enumerate(msgs)),
        temperature=ck_float(d.get("temperature"), "temperature", lo=0.0, hi=2.0),
        top_p=ck_float(d.get("top_p"), "top_p", lo=0.0, hi=1.0),
        n=ck_int(d.get("n"), "n", minimum=1),
        max_tokens=max_tokens,
        stop=_parse_stop(d.get("stop")),
        tools=None if tools is None else tuple(
            _parse_tool(t, f"tools[{i}]") for i, t in enumerate(ck_list(tools, "tools"))
        ),
        tool_choice=_parse_tool_choice(d.get("tool_choice")),
        response_format=_parse_response_format(d.get("response_format")),
        stream=bool(ck_bool(d.get("stream"), "stream")),
        stream_options=None if so is None else StreamOptions(
            include_usage=ck_bool(ck_mapping(so, "stream_options").get("include_usage"),
                                  "stream_options.include_usage")
        ),
        seed=ck_int(d.get("seed"), "seed"),
        user=ck_str(d.get("user"), "user", allow_none=True),
        frequency_penalty=ck_float(d.get("frequency_penalty"), "frequency_penalty",
                                   lo=-2.0, hi=2.0),
        presence_penalty=ck_float(d.get("presence_penalty"), "presence_penalty",
                                  lo=-2.0, hi=2.0),
        extra_params=extra_params,
        extra_body=None if extra_body is None else ck_json_value(
            ck_mapping(extra_body, "extra_body"), "extra_body"
        ),
    )
