"""Anthropic Messages translation: unified request -> body, body -> unified result.

Theory of operation: pure functions with no attempt state. `build_body`
turns a `ChatCompletionRequest` into a `POST /v1/messages` body (SPEC R-74):
system messages join into `system`, consecutive same-role messages merge
into one message of content blocks (Anthropic wants strict alternation),
assistant tool calls become `tool_use` blocks, role `tool` messages become
`tool_result` blocks of a user message, and images become `image` blocks
(data URLs as base64 sources, other URLs as url sources). `max_tokens` is
always sent. Parameters the family cannot express are listed in the
returned `dropped` tuple (R-70 debug traces). `parse_message` reads a
non-streamed answer; `error_class` maps Anthropic error types to R-33
classes.
"""

from __future__ import annotations

from typing import Any

from meshcore.types import OutcomeClass
from meshcore.wire.codec_helpers import (
    JSONObj,
    args_to_obj,
    get_int,
    get_obj,
    get_str,
    obj_to_args,
    opt_int,
    parse_data_url,
    stop_list,
)
from meshcore.wire.models import (
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    FunctionCall,
    ToolCall,
)

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

ERROR_TYPES: dict[str, OutcomeClass] = {
    "invalid_request_error": OutcomeClass.BAD_REQUEST,
    "authentication_error": OutcomeClass.AUTH,
    "permission_error": OutcomeClass.AUTH,
    "not_found_error": OutcomeClass.MODEL_NOT_FOUND,
    "request_too_large": OutcomeClass.BAD_REQUEST,
    "rate_limit_error": OutcomeClass.RATE_LIMITED,
    "billing_error": OutcomeClass.QUOTA_EXHAUSTED,
    "api_error": OutcomeClass.SERVER_ERROR,
    "overloaded_error": OutcomeClass.SERVER_ERROR,
    "timeout_error": OutcomeClass.TIMEOUT,
}


def _text_of(content: str | tuple[ContentPart, ...] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.text or "" for p in content if p.type == "text")


def _part_blocks(
    content: str | tuple[ContentPart, ...] | None, dropped: list[str]
) -> list[JSONObj]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[JSONObj] = []
    for part in content:
        if part.type == "text":
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url.url
            data = parse_data_url(url)
            if data is not None:
                mime, payload = data
                blocks.append(
                    {"type": "image",
                     "source": {"type": "base64", "media_type": mime, "data": payload}}
                )
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            dropped.append(f"content part {part.type!r}")
    return blocks


def _tool_use_blocks(calls: tuple[ToolCall, ...] | None) -> list[JSONObj]:
    out: list[JSONObj] = []
    for call in calls or ():
        inp = args_to_obj(call.function.arguments)
        if not isinstance(inp, dict):
            inp = {"value": inp}
        out.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": inp})
    return out


def _convert(msg: ChatMessage, dropped: list[str]) -> tuple[str, list[JSONObj] | str] | None:
    """One OpenAI message as (role, content) or None (dropped / empty)."""
    if msg.role == "tool":
        block: JSONObj = {
            "type": "tool_result",
            "tool_use_id": msg.tool_call_id or "",
            "content": _text_of(msg.content),
        }
        return "user", [block]
    if msg.role == "assistant":
        if not msg.tool_calls and isinstance(msg.content, str):
            return ("assistant", msg.content) if msg.content else None
        blocks = _part_blocks(msg.content, dropped) + _tool_use_blocks(msg.tool_calls)
        return ("assistant", blocks) if blocks else None
    if msg.role != "user":
        dropped.append(f"role {msg.role!r} sent as user")
    if isinstance(msg.content, str):
        return ("user", msg.content) if msg.content else None
    blocks = _part_blocks(msg.content, dropped)
    return ("user", blocks) if blocks else None


def _as_blocks(content: list[JSONObj] | str) -> list[JSONObj]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def build_messages(
    messages: tuple[ChatMessage, ...], dropped: list[str]
) -> tuple[str | None, list[JSONObj]]:
    """(system text or None, Anthropic messages) for OpenAI messages."""
    system_parts: list[str] = []
    out: list[JSONObj] = []
    for msg in messages:
        if msg.role in ("system", "developer"):
            text = _text_of(msg.content)
            if text:
                system_parts.append(text)
            continue
        converted = _convert(msg, dropped)
        if converted is None:
            continue
        role, content = converted
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _as_blocks(out[-1]["content"]) + _as_blocks(content)
        else:
            out.append({"role": role, "content": content})
    system = "\n\n".join(system_parts) if system_parts else None
    return system, out


def _tool_choice(choice: str | dict[str, Any] | None, dropped: list[str]) -> JSONObj | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "any": "any", "none": "none"}.get(choice)
        if mapped is None:
            dropped.append(f"tool_choice {choice!r}")
            return None
        return {"type": mapped}
    fn = get_obj(choice, "function")
    name = get_str(fn, "name")
    if name:
        return {"type": "tool", "name": name}
    dropped.append("tool_choice")
    return None


def resolve_max_tokens(
    request: ChatCompletionRequest, max_output_tokens: int | None, options: dict[str, Any]
) -> int:
    """R-74: the request's max_tokens, else the model's max_output_tokens,
    else the connector option `max_tokens` (default 4096)."""
    if request.max_tokens is not None and request.max_tokens > 0:
        return request.max_tokens
    if max_output_tokens is not None and max_output_tokens > 0:
        return max_output_tokens
    return opt_int(options, "max_tokens", DEFAULT_MAX_TOKENS)


def build_body(
    request: ChatCompletionRequest,
    model_name: str,
    max_output_tokens: int | None,
    options: dict[str, Any],
) -> tuple[JSONObj, tuple[str, ...]]:
    """The `/v1/messages` body and the names of dropped parameters."""
    dropped: list[str] = []
    system, messages = build_messages(request.messages, dropped)
    body: JSONObj = {
        "model": model_name,
        "max_tokens": resolve_max_tokens(request, max_output_tokens, options),
    }
    if system is not None:
        body["system"] = system
    body["messages"] = messages
    if request.temperature is not None:
        if request.temperature > 1.0:
            dropped.append("temperature above 1.0 clamped")
        body["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        body["top_p"] = request.top_p
    stops = stop_list(request.stop)
    if stops:
        body["stop_sequences"] = stops
    if request.tools:
        tools: list[JSONObj] = []
        for tool in request.tools:
            fn = tool.function
            entry: JSONObj = {"name": fn.name}
            if fn.description:
                entry["description"] = fn.description
            entry["input_schema"] = (
                fn.parameters if fn.parameters else {"type": "object", "properties": {}}
            )
            tools.append(entry)
        body["tools"] = tools
        tc = _tool_choice(request.tool_choice, dropped)
        if tc is not None:
            body["tool_choice"] = tc
    elif request.tool_choice is not None:
        dropped.append("tool_choice without tools")
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    for name in ("seed", "frequency_penalty", "presence_penalty", "response_format"):
        if getattr(request, name) is not None:
            dropped.append(name)
    if request.n is not None and request.n != 1:
        dropped.append("n")
    dropped.extend(sorted(request.extra_params))
    if request.extra_body:
        body.update(request.extra_body)
    return body, tuple(dropped)


def usage_of(usage: Any) -> tuple[int | None, int | None]:
    """(prompt tokens, completion tokens) of an Anthropic usage object;
    cache reads and writes count as prompt tokens."""
    if not isinstance(usage, dict):
        return None, None
    prompt = get_int(usage, "input_tokens")
    if prompt is not None:
        prompt += (get_int(usage, "cache_creation_input_tokens") or 0) + (
            get_int(usage, "cache_read_input_tokens") or 0
        )
    return prompt, get_int(usage, "output_tokens")


def finish_reason(stop_reason: Any) -> str:
    """The OpenAI finish_reason of an Anthropic stop_reason."""
    if isinstance(stop_reason, str):
        return FINISH_REASONS.get(stop_reason, "stop")
    return "stop"


def parse_message(obj: JSONObj) -> tuple[ChatCompletionMessage, str, int | None, int | None] | None:
    """(message, finish_reason, prompt tokens, completion tokens), or None
    when `obj` is not a Messages API answer."""
    content = obj.get("content")
    if not isinstance(content, list) or obj.get("type", "message") != "message":
        return None
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            return None
        btype = block.get("type")
        if btype == "text":
            text = block.get("text")
            if not isinstance(text, str):
                return None
            texts.append(text)
        elif btype == "tool_use":
            tid, name = get_str(block, "id"), get_str(block, "name")
            if tid is None or name is None:
                return None
            calls.append(
                ToolCall(id=tid, function=FunctionCall(name=name,
                                                       arguments=obj_to_args(block.get("input"))))
            )
    message = ChatCompletionMessage(
        content="".join(texts) if texts else None,
        tool_calls=tuple(calls) if calls else None,
    )
    prompt, completion = usage_of(obj.get("usage"))
    finish = finish_reason(obj.get("stop_reason"))
    if calls and finish == "stop":
        finish = "tool_calls"
    return message, finish, prompt, completion


def error_info(obj: Any) -> tuple[str | None, str | None]:
    """(error type, message) of an Anthropic error body or stream event."""
    err = get_obj(obj, "error")
    return get_str(err, "type"), get_str(err, "message")


def error_class(status: int | None, obj: Any) -> OutcomeClass | None:
    """R-72 refinement for Anthropic: 529 -> server_error; error types map to
    classes; a too-low credit balance is quota exhaustion; a too-long prompt
    is context_length_exceeded. None = use the default R-33 rules."""
    if status == 529:
        return OutcomeClass.SERVER_ERROR
    etype, message = error_info(obj)
    text = (message or "").lower()
    if "credit balance" in text:
        return OutcomeClass.QUOTA_EXHAUSTED
    if etype in ("invalid_request_error", "request_too_large") and (
        "prompt is too long" in text or "too many tokens" in text or ("context" in text
        and "exceed" in text)
    ):
        return OutcomeClass.CONTEXT_LENGTH_EXCEEDED
    if status is None or status < 300:
        return ERROR_TYPES.get(etype or "", OutcomeClass.SERVER_ERROR)
    if etype in ("overloaded_error", "api_error", "rate_limit_error", "billing_error"):
        return ERROR_TYPES[etype]
    return None
