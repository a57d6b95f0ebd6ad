"""Gemini generateContent translation: unified request -> body, body -> parts.

Theory of operation: pure functions. `build_body` turns a chat request into
a generateContent body (SPEC R-74): role assistant -> `model`, system
messages -> `systemInstruction`, sampling parameters -> `generationConfig`,
`response_format` -> `responseMimeType`/`responseSchema`, tools ->
`functionDeclarations`, assistant tool calls -> `functionCall` parts and
role `tool` messages -> `functionResponse` parts (the function name is
looked up from the assistant call with the same id). Consecutive messages
of one role merge, as Gemini expects alternating turns. The provider
option `safety_settings` is passed through as `safetySettings`.
`read_candidate` extracts text, function calls and the finish reason of a
response (or stream chunk); `usage_of` reads `usageMetadata`. Gemini has no
tool-call ids, so calls are numbered `call_<n>` in order of appearance.
"""

from __future__ import annotations

from typing import Any

from meshcore.types import OutcomeClass
from meshcore.wire.codec_helpers import (
    JSONObj,
    args_to_obj,
    get_int,
    get_list,
    get_obj,
    get_str,
    guess_image_mime,
    loads_any,
    obj_to_args,
    parse_data_url,
    stop_list,
)
from meshcore.wire.models import ChatCompletionRequest, ChatMessage, ContentPart

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "LANGUAGE": "content_filter",
    "MALFORMED_FUNCTION_CALL": "stop",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}

STATUS_CLASSES: dict[str, OutcomeClass] = {
    "RESOURCE_EXHAUSTED": OutcomeClass.RATE_LIMITED,
    "UNAUTHENTICATED": OutcomeClass.AUTH,
    "PERMISSION_DENIED": OutcomeClass.AUTH,
    "NOT_FOUND": OutcomeClass.MODEL_NOT_FOUND,
    "INVALID_ARGUMENT": OutcomeClass.BAD_REQUEST,
    "FAILED_PRECONDITION": OutcomeClass.BAD_REQUEST,
    "UNAVAILABLE": OutcomeClass.SERVER_ERROR,
    "INTERNAL": OutcomeClass.SERVER_ERROR,
    "DEADLINE_EXCEEDED": OutcomeClass.TIMEOUT,
}


def model_path(name: str) -> str:
    """`models/<name>` whether or not `name` already has the prefix."""
    return name if name.startswith(("models/", "tunedModels/")) else f"models/{name}"


def _parts(content: str | tuple[ContentPart, ...] | None, dropped: list[str]) -> list[JSONObj]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out: list[JSONObj] = []
    for part in content:
        if part.type == "text":
            if part.text:
                out.append({"text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            url = part.image_url.url
            data = parse_data_url(url)
            if data is not None:
                out.append({"inlineData": {"mimeType": data[0], "data": data[1]}})
            else:
                out.append({"fileData": {"mimeType": guess_image_mime(url), "fileUri": url}})
        else:
            dropped.append(f"content part {part.type!r}")
    return out


def _text(content: str | tuple[ContentPart, ...] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.text or "" for p in content if p.type == "text")


def _function_response(msg: ChatMessage, names: dict[str, str]) -> JSONObj:
    call_id = msg.tool_call_id or ""
    text = _text(msg.content)
    value = loads_any(text) if text.strip().startswith("{") else None
    response = value if isinstance(value, dict) else {"content": text}
    return {"functionResponse": {"name": names.get(call_id, call_id or "tool"),
                                 "response": response}}


def build_contents(
    messages: tuple[ChatMessage, ...], dropped: list[str]
) -> tuple[JSONObj | None, list[JSONObj]]:
    """(systemInstruction or None, contents) for OpenAI messages."""
    system: list[JSONObj] = []
    contents: list[JSONObj] = []
    names: dict[str, str] = {}
    for msg in messages:
        if msg.role in ("system", "developer"):
            text = _text(msg.content)
            if text:
                system.append({"text": text})
            continue
        if msg.role == "tool":
            role, parts = "user", [_function_response(msg, names)]
        elif msg.role == "assistant":
            parts = _parts(msg.content, dropped)
            for call in msg.tool_calls or ():
                names[call.id] = call.function.name
                args = args_to_obj(call.function.arguments)
                parts.append({"functionCall": {
                    "name": call.function.name,
                    "args": args if isinstance(args, dict) else {"value": args},
                }})
            role = "model"
        else:
            if msg.role != "user":
                dropped.append(f"role {msg.role!r} sent as user")
            role, parts = "user", _parts(msg.content, dropped)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role and (
            msg.role == "tool" and "functionResponse" in contents[-1]["parts"][-1]
        ):
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return ({"parts": system} if system else None), contents


def _tool_config(choice: str | dict[str, Any] | None, dropped: list[str]) -> JSONObj | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        mode = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}.get(choice)
        if mode is None:
            dropped.append(f"tool_choice {choice!r}")
            return None
        return {"functionCallingConfig": {"mode": mode}}
    name = get_str(get_obj(choice, "function"), "name")
    if name is None:
        dropped.append("tool_choice")
        return None
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def build_body(
    request: ChatCompletionRequest, options: dict[str, Any]
) -> tuple[JSONObj, tuple[str, ...]]:
    """The generateContent body and the names of dropped parameters."""
    dropped: list[str] = []
    system, contents = build_contents(request.messages, dropped)
    body: JSONObj = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    gen: JSONObj = {}
    if request.temperature is not None:
        gen["temperature"] = request.temperature
    if request.top_p is not None:
        gen["topP"] = request.top_p
    if request.max_tokens is not None:
        gen["maxOutputTokens"] = request.max_tokens
    stops = stop_list(request.stop)
    if stops:
        gen["stopSequences"] = stops
    if request.n is not None and request.n != 1:
        gen["candidateCount"] = request.n
    if request.seed is not None:
        gen["seed"] = request.seed
    if request.frequency_penalty is not None:
        gen["frequencyPenalty"] = request.frequency_penalty
    if request.presence_penalty is not None:
        gen["presencePenalty"] = request.presence_penalty
    rf = request.response_format
    if rf is not None and rf.type in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = get_obj(rf.json_schema, "schema") if rf.json_schema else None
        if schema is not None:
            gen["responseSchema"] = schema
    if gen:
        body["generationConfig"] = gen
    if request.tools:
        decls: list[JSONObj] = []
        for tool in request.tools:
            fn = tool.function
            decl: JSONObj = {"name": fn.name}
            if fn.description:
                decl["description"] = fn.description
            if fn.parameters:
                decl["parameters"] = fn.parameters
            decls.append(decl)
        body["tools"] = [{"functionDeclarations": decls}]
        tc = _tool_config(request.tool_choice, dropped)
        if tc is not None:
            body["toolConfig"] = tc
    safety = options.get("safety_settings")
    if isinstance(safety, (list, tuple)) and safety:
        body["safetySettings"] = list(safety)
    if request.user:
        dropped.append("user")
    dropped.extend(sorted(request.extra_params))
    if request.extra_body:
        body.update(request.extra_body)
    return body, tuple(dropped)


def usage_of(obj: Any) -> tuple[int, int] | None:
    """(prompt tokens, completion tokens) from `usageMetadata`, if present."""
    meta = get_obj(obj, "usageMetadata")
    if meta is None:
        return None
    return _count(meta, "promptTokenCount"), (
        _count(meta, "candidatesTokenCount") + _count(meta, "thoughtsTokenCount")
    )


def _count(meta: JSONObj, key: str) -> int:
    """`get_int(meta, key) or 0`, with the plain-int case inline (per chunk)."""
    v = meta.get(key)
    if type(v) is int and v >= 0:
        return v
    return get_int(meta, key) or 0


class CandidateView:
    """Text, function calls and finish reason of a response's first candidate."""

    __slots__ = ("calls", "finish", "raw_finish", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[tuple[str, str]] = []  # (name, arguments JSON)
        self.raw_finish: str | None = None
        self.finish: str | None = None


def read_candidate(obj: JSONObj) -> CandidateView:
    """The first candidate of a response; ValueError when malformed."""
    view = CandidateView()
    candidates = obj.get("candidates")
    if candidates is None:
        return view
    if not isinstance(candidates, list):
        raise ValueError("candidates is not a list")
    if not candidates:
        return view
    cand = candidates[0]
    if not isinstance(cand, dict):
        raise ValueError("candidate is not an object")
    content = cand.get("content")
    if content is not None and not isinstance(content, dict):
        raise ValueError("candidate content is not an object")
    for part in get_list(content, "parts"):
        if not isinstance(part, dict):
            raise ValueError("part is not an object")
        if part.get("thought") is True:
            continue
        text = part.get("text")
        if isinstance(text, str):
            view.text.append(text)
        call = get_obj(part, "functionCall")
        if call is not None:
            name = get_str(call, "name")
            if name is None:
                raise ValueError("functionCall without name")
            view.calls.append((name, obj_to_args(call.get("args"))))
    reason = cand.get("finishReason")
    if reason is not None:
        if not isinstance(reason, str):
            raise ValueError("finishReason is not a string")
        view.raw_finish = reason
        view.finish = FINISH_REASONS.get(reason, "stop")
        if view.calls and view.finish == "stop":
            view.finish = "tool_calls"
    return view


TEXT_PATH = ("candidates", 0, "content", "parts", 0, "text")
COUNT_PATHS = (("usageMetadata", "candidatesTokenCount"), ("usageMetadata", "totalTokenCount"))


def plain_text_counts(obj: JSONObj) -> tuple[int, int] | None:
    """(prompt tokens, thought tokens) of a stream response whose whole
    translation is "usage = (prompt, candidatesTokenCount + thoughts), then
    emit the text of its one part when non-empty": no error, no block, a
    first candidate without finish reason whose content is one plain text
    part. None otherwise. The `Template` fast path (text at `TEXT_PATH`,
    counts at `COUNT_PATHS`) rests on this."""
    meta = get_obj(obj, "usageMetadata")
    if meta is None or get_obj(obj, "error") is not None or block_reason(obj) is not None:
        return None
    candidates = obj.get("candidates")
    if type(candidates) is not list or not candidates:
        return None
    cand = candidates[0]
    if type(cand) is not dict or cand.get("finishReason") is not None:
        return None
    content = cand.get("content")
    parts = content.get("parts") if type(content) is dict else None
    if type(parts) is not list or len(parts) != 1:
        return None
    part = parts[0]
    if (type(part) is not dict or type(part.get("text")) is not str
            or part.get("thought") is True or part.get("functionCall") is not None):
        return None
    return _count(meta, "promptTokenCount"), _count(meta, "thoughtsTokenCount")


def block_reason(obj: JSONObj) -> str | None:
    """`promptFeedback.blockReason`, if the prompt was blocked."""
    return get_str(get_obj(obj, "promptFeedback"), "blockReason")


def error_class(status: int | None, obj: Any) -> OutcomeClass | None:
    """R-72 refinement for Gemini error bodies (`error.status`, `error.message`)."""
    err = get_obj(obj, "error")
    if err is None:
        return None
    gstatus = get_str(err, "status") or ""
    text = (get_str(err, "message") or "").lower()
    if "api key not valid" in text or "api_key_invalid" in text:
        return OutcomeClass.AUTH
    if ("token count" in text and "exceed" in text) or ("too long" in text and "input" in text):
        return OutcomeClass.CONTEXT_LENGTH_EXCEEDED
    if gstatus == "RESOURCE_EXHAUSTED" and ("billing" in text or ("quota exceeded" in text
                                            and "per day" in text)):
        return OutcomeClass.QUOTA_EXHAUSTED
    if status is None or status < 300:
        return STATUS_CLASSES.get(gstatus, OutcomeClass.SERVER_ERROR)
    return None
