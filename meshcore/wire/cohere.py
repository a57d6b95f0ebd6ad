"""Cohere v2 codec (SPEC R-74, R-76): chat, streamed chat, embeddings, models.

Theory of operation: Cohere v2 chat is close to the OpenAI shape, so the
request keeps roles, tools and tool_call_ids; only names differ (`top_p` ->
`p`, `stop` -> `stop_sequences`, `response_format` json_schema -> a
json_object with `json_schema`, `tool_choice` -> REQUIRED/NONE) and an
assistant message's text that accompanies tool calls travels as
`tool_plan`. Answers: `message.content[]` text blocks (or the `tool_plan`
when only tools are called), `message.tool_calls`, `finish_reason`
(COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS -> length, TOOL_CALL ->
tool_calls, ERROR* -> failure) and `usage.tokens` (else `billed_units`).
Streams carry typed events: `content-delta` and `tool-plan-delta` text,
`tool-call-start`/`-delta` tool-call fragments, and `message-end` (the end
marker with finish_reason and usage); `content-delta` events that repeat
one learned shape are recognised by a `hotpath.Template` and emitted
without decoding them (the shape is shared by the streams of one model). Embeddings use `/v2/embed` with
`input_type: search_document` and `embedding_types: [float]`; the
catalogue is `GET /v1/models`. Option `client_name` -> `X-Client-Name`.
"""

from __future__ import annotations

from typing import Any

from meshcore.config.schema import ProviderConfig
from meshcore.connectors import FAMILY_COHERE, ProviderConnectorInfo
from meshcore.types import OutcomeClass
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest, join_url, json_body
from meshcore.wire.classify import register_refiner
from meshcore.wire.codec_helpers import (
    JSONObj,
    get_int,
    get_list,
    get_obj,
    get_str,
    loads_any,
    loads_obj,
    make_refiner,
    opt_str,
    stop_list,
)
from meshcore.wire.hotpath import NO_TEMPLATE, Template
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChoiceDeltaFunction,
    ChoiceDeltaToolCall,
    CompletionRequest,
    CompletionResponse,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingRequest,
    EmbeddingUsage,
    FunctionCall,
    ModelInfo,
    ToolCall,
)
from meshcore.wire.registry import register_family
from meshcore.wire.sse import SSEEvent

FINISH_REASONS: dict[str, str] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
_ERROR_FINISH = ("ERROR", "ERROR_TOXIC", "ERROR_LIMIT", "USER_CANCEL")


def _content(msg: ChatMessage, dropped: list[str]) -> str | list[JSONObj]:
    if msg.content is None:
        return ""
    if isinstance(msg.content, str):
        return msg.content
    parts: list[JSONObj] = []
    for part in msg.content:
        if part.type == "text" and part.text is not None:
            parts.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and part.image_url is not None:
            parts.append({"type": "image_url", "image_url": {"url": part.image_url.url}})
        else:
            dropped.append(f"content part {part.type!r}")
    return parts


def _message(msg: ChatMessage, dropped: list[str]) -> JSONObj:
    if msg.role == "tool":
        return {"role": "tool", "tool_call_id": msg.tool_call_id or "",
                "content": _content(msg, dropped)}
    if msg.role == "assistant" and msg.tool_calls:
        out: JSONObj = {"role": "assistant"}
        text = _content(msg, dropped)
        if isinstance(text, list):
            text = "".join(str(p.get("text", "")) for p in text)
        if text:
            out["tool_plan"] = text
        out["tool_calls"] = [tc.model_dump() for tc in msg.tool_calls]
        return out
    role = msg.role
    if role == "developer":
        role = "system"
    elif role not in ("system", "user", "assistant"):
        dropped.append(f"role {role!r} sent as user")
        role = "user"
    return {"role": role, "content": _content(msg, dropped)}


def build_chat_body(request: ChatCompletionRequest, model: str) -> tuple[JSONObj, tuple[str, ...]]:
    """The `/v2/chat` body and the names of dropped parameters."""
    dropped: list[str] = []
    body: JSONObj = {"model": model,
                     "messages": [_message(m, dropped) for m in request.messages]}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["p"] = request.top_p
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    stops = stop_list(request.stop)
    if stops:
        body["stop_sequences"] = stops
    for name in ("seed", "frequency_penalty", "presence_penalty"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.tools:
        body["tools"] = [t.model_dump() for t in request.tools]
        choice = request.tool_choice
        if choice in ("required", "none"):
            body["tool_choice"] = str(choice).upper()
        elif choice not in (None, "auto"):
            dropped.append("tool_choice")
    rf = request.response_format
    if rf is not None and rf.type != "text":
        fmt: JSONObj = {"type": "json_object"}
        schema = get_obj(rf.json_schema, "schema") if rf.json_schema else None
        if schema is not None:
            fmt["json_schema"] = schema
        body["response_format"] = fmt
    if request.n is not None and request.n != 1:
        dropped.append("n")
    if request.user:
        dropped.append("user")
    dropped.extend(sorted(request.extra_params))
    if request.stream:
        body["stream"] = True
    if request.extra_body:
        body.update(request.extra_body)
    return body, tuple(dropped)


def usage_of(usage: Any) -> tuple[int, int] | None:
    """(prompt, completion) tokens from `usage.tokens`, else `billed_units`."""
    for key in ("tokens", "billed_units"):
        part = get_obj(usage, key)
        if part is not None:
            return get_int(part, "input_tokens") or 0, get_int(part, "output_tokens") or 0
    return None


def _tool_calls(items: list[Any]) -> tuple[ToolCall, ...]:
    calls: list[ToolCall] = []
    for item in items:
        fn = get_obj(item, "function")
        name, tid = get_str(fn, "name"), get_str(item, "id")
        if name is None or tid is None:
            raise ValueError("tool call without id or name")
        args = get_str(fn, "arguments") or ""
        calls.append(ToolCall(id=tid, function=FunctionCall(name=name, arguments=args)))
    return tuple(calls)


class CohereAttempt(Attempt):
    """One Cohere v2 chat or embed call."""

    family = FAMILY_COHERE

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self.dropped: tuple[str, ...] = ()
        self._tool_index = -1
        self._ended = False
        self._template = Template(
            ("delta", "message", "content", "text"), accept=plain_content_delta,
            share=(FAMILY_COHERE, ctx.base_url, ctx.wire_model),
        ) if self.stream else NO_TEMPLATE
        self.reuse_direct(self._template)

    def _headers(self) -> list[tuple[str, str]]:
        headers = self.base_headers()
        client = opt_str(self.ctx.options, "client_name")
        if client:
            headers.append(("x-client-name", client))
        return headers

    def build_request(self) -> HttpRequest:
        """`POST /v2/chat` or `POST /v2/embed`."""
        req = self.request
        if isinstance(req, EmbeddingRequest):
            body: JSONObj = {"model": self.ctx.wire_model, "texts": list(req.inputs),
                             "input_type": "search_document", "embedding_types": ["float"]}
            return HttpRequest("POST", join_url(self.ctx.base_url, "/v2/embed"),
                               self._headers(), json_body(body))
        if not isinstance(req, ChatCompletionRequest):
            raise ValueError(f"cohere: unsupported operation {type(req).__name__}")
        body, self.dropped = build_chat_body(req, self.ctx.wire_model)
        return HttpRequest("POST", join_url(self.ctx.base_url, "/v2/chat"), self._headers(),
                           json_body(body), stream=self.stream)

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """A v2 chat or embed answer."""
        obj = loads_obj(body)
        if obj is None:
            raise ValueError("body is not a JSON object")
        if isinstance(self.request, EmbeddingRequest):
            return self._parse_embed(obj)
        message = get_obj(obj, "message")
        reason = get_str(obj, "finish_reason")
        if message is None or reason is None:
            raise ValueError("chat answer without message or finish_reason")
        if reason in _ERROR_FINISH:
            raise ValueError(f"finish_reason {reason}")
        texts = []
        for block in get_list(message, "content"):
            if get_str(block, "type") == "text":
                text = get_str(block, "text")
                if text is None:
                    raise ValueError("text block without text")
                texts.append(text)
        calls = _tool_calls(get_list(message, "tool_calls"))
        content = "".join(texts) if texts else get_str(message, "tool_plan")
        usage = usage_of(obj.get("usage"))
        if usage is not None:
            self.set_usage(*usage)
        finish = FINISH_REASONS.get(reason, "stop")
        return ChatCompletion(
            id=self.ctx.response_id, created=self.ctx.created, model=self.ctx.model_id,
            choices=(Choice(index=0, finish_reason=finish, message=ChatCompletionMessage(
                content=content, tool_calls=calls or None)),),
            usage=self._usage,
        )

    def _parse_embed(self, obj: JSONObj) -> CreateEmbeddingResponse:
        vectors = get_list(get_obj(obj, "embeddings"), "float")
        assert isinstance(self.request, EmbeddingRequest)
        if len(vectors) != len(self.request.inputs):
            raise ValueError("embedding count differs from input count")
        data: list[Embedding] = []
        for i, vec in enumerate(vectors):
            if not isinstance(vec, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in vec
            ):
                raise ValueError("embedding is not a list of numbers")
            data.append(Embedding(index=i, embedding=tuple(float(v) for v in vec)))
        billed = get_int(get_obj(get_obj(obj, "meta"), "billed_units"), "input_tokens") or 0
        return CreateEmbeddingResponse(data=tuple(data), model=self.ctx.model_id,
                                       usage=EmbeddingUsage(billed, billed))

    def on_hit(self, hit: tuple[str, ...]) -> None:
        """A whole-read content delta of the learned shape: `on_event`'s hit branch."""
        if hit[0]:
            self.emit_text(hit[0])

    def on_event(self, event: SSEEvent) -> None:
        """One Cohere stream event."""
        data = event.data
        if self._ended or (data[:1] != "{" and data.strip() == "[DONE]"):
            return
        hit = self._template.match(data)
        if hit is not None:  # a content delta of the learned shape
            if hit[0]:
                self.emit_text(hit[0])
            return
        obj = loads_any(data)
        if not isinstance(obj, dict):
            raise ValueError("stream event is not a JSON object")
        if self._template.learning and self._template.learn(data, obj):
            self.direct_reads(self._template, event)
        etype = get_str(obj, "type") or event.event
        message = get_obj(get_obj(obj, "delta"), "message")
        if etype == "message-start":
            self.emit_delta(role="assistant")
        elif etype == "content-delta":
            text = get_str(get_obj(message, "content"), "text")
            if text is None:
                raise ValueError("content-delta without text")
            if text:
                self.emit_delta(content=text)
        elif etype == "tool-plan-delta":
            text = get_str(message, "tool_plan")
            if text:
                self.emit_delta(content=text)
        elif etype == "tool-call-start":
            self._on_tool_start(get_obj(message, "tool_calls"))
        elif etype == "tool-call-delta":
            args = get_str(get_obj(get_obj(message, "tool_calls"), "function"), "arguments")
            if self._tool_index < 0 or args is None:
                raise ValueError("tool-call-delta without an open call or arguments")
            if args:
                self.emit_delta(tool_calls=(ChoiceDeltaToolCall(
                    index=self._tool_index, function=ChoiceDeltaFunction(arguments=args)),))
        elif etype == "message-end":
            self._on_end(get_obj(obj, "delta"), event.data)
        # content-start, content-end, tool-call-end, citation-*: nothing to emit

    def _on_tool_start(self, call: JSONObj | None) -> None:
        fn = get_obj(call, "function")
        tid, name = get_str(call, "id"), get_str(fn, "name")
        if tid is None or name is None:
            raise ValueError("tool-call-start without id or name")
        self._tool_index += 1
        self.emit_delta(tool_calls=(ChoiceDeltaToolCall(
            index=self._tool_index, id=tid, type="function",
            function=ChoiceDeltaFunction(name=name, arguments=get_str(fn, "arguments") or ""),
        ),))

    def _on_end(self, delta: JSONObj | None, raw: str) -> None:
        usage = usage_of(get_obj(delta, "usage"))
        if usage is not None:
            self.set_usage(*usage)
        reason = get_str(delta, "finish_reason") or "COMPLETE"
        self._ended = True
        self._direct = None  # on_event ignores every later event
        if reason in _ERROR_FINISH:
            self.stream_error(f"finish_reason {reason}", raw)
            return
        finish = FINISH_REASONS.get(reason, "stop")
        if self._tool_index >= 0 and finish == "stop":
            finish = "tool_calls"
        self.emit_delta(finish_reason=finish)
        self.end_stream()


def plain_content_delta(obj: JSONObj) -> bool | None:
    """True for a `content-delta` event (its whole translation is "emit
    `delta.message.content.text` when non-empty"), else None: the `Template`
    fast path rests on this."""
    return True if get_str(obj, "type") == "content-delta" else None


def build_models_request(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> HttpRequest:
    """`GET {base}/v1/models?page_size=1000`."""
    base = (provider.base_url or info.base_url or "").rstrip("/")
    headers = [("authorization", f"Bearer {api_key}")] if api_key else []
    return HttpRequest("GET", join_url(base, "/v1/models?page_size=1000"), headers)


def parse_models(body: bytes) -> list[ModelInfo]:
    """`models[]` as ModelInfo (name, context_length)."""
    obj = loads_obj(body)
    if obj is None or not isinstance(obj.get("models"), list):
        raise ValueError("cohere models list: expected an object with models[]")
    out: list[ModelInfo] = []
    for item in get_list(obj, "models"):
        name = get_str(item, "name")
        if name is None:
            raise ValueError("cohere models list: entry without name")
        out.append(ModelInfo(id=name, name=name, context_window=get_int(item, "context_length")))
    return out


def classify_refine(status: int | None, body_excerpt: str) -> OutcomeClass | None:
    """R-72 refinement for Cohere (`message` texts); None = default R-33 rules."""
    obj = loads_any(body_excerpt) if body_excerpt else None
    text = (get_str(obj, "message") or "").lower()
    if "too many tokens" in text or ("context" in text and "exceed" in text):
        return OutcomeClass.CONTEXT_LENGTH_EXCEEDED
    if status is not None and status < 300:
        return OutcomeClass.SERVER_ERROR
    return None


register_family(FAMILY_COHERE, CohereAttempt, build_models_request=build_models_request,
                parse_models=parse_models)
register_refiner(FAMILY_COHERE, make_refiner(classify_refine))
