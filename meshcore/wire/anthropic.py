"""Anthropic Messages codec (SPEC R-74, R-76): the per-attempt object.

Theory of operation: `AnthropicAttempt` builds one `POST /v1/messages`
request (body from `anthropic_translate.build_body`, headers `x-api-key`
and `anthropic-version`) and parses either the JSON message or the SSE
stream. Stream events map onto OpenAI chunks: `message_start` gives the
prompt usage and a role chunk, `content_block_start` opens a text or
tool_use block (a tool_use block becomes a tool-call delta with id and
name, later `input_json_delta` fragments become its arguments),
`content_block_delta` text becomes content, `message_delta` carries the
stop reason and cumulative output usage, `message_stop` is the end marker
(the finish chunk with usage is emitted only then, so a stream cut after
`message_delta` is still incomplete), `ping` and unknown events are
ignored, and `error` is a STREAM_ERROR failure whose excerpt is the error
event. Text deltas that repeat one learned shape (`plain_text_delta`) are
recognised by a `hotpath.Template` and emitted without decoding them (the
shape is shared by the streams of one model). The catalogue call is `GET /v1/models`. The module registers the `anthropic`
family on import.
"""

from __future__ import annotations

from typing import Any

from meshcore.config.schema import ProviderConfig
from meshcore.connectors import FAMILY_ANTHROPIC, ProviderConnectorInfo
from meshcore.types import OutcomeClass
from meshcore.wire import anthropic_translate as tr
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest, join_url, json_body
from meshcore.wire.classify import register_refiner
from meshcore.wire.codec_helpers import (
    get_int,
    get_list,
    get_obj,
    get_str,
    loads_any,
    loads_obj,
    make_refiner,
    obj_to_args,
    opt_str,
)
from meshcore.wire.hotpath import NO_TEMPLATE, Template
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ChoiceDeltaFunction,
    ChoiceDeltaToolCall,
    CompletionRequest,
    CompletionResponse,
    CompletionUsage,
    ModelInfo,
)
from meshcore.wire.registry import register_family
from meshcore.wire.sse import SSEEvent


def _version(options: dict[str, Any]) -> str:
    return opt_str(options, "anthropic_version", tr.DEFAULT_VERSION) or tr.DEFAULT_VERSION


class AnthropicAttempt(Attempt):
    """One Messages API call (chat, streamed or not)."""

    family = FAMILY_ANTHROPIC

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self.dropped: tuple[str, ...] = ()
        self._blocks: dict[int, int] = {}  # content block index -> tool-call index
        self._tools = 0
        self._prompt: int | None = None
        self._completion: int | None = None
        self._stop_reason: str | None = None
        self._ended = False
        self._template = Template(
            ("delta", "text"), accept=plain_text_delta,
            share=(FAMILY_ANTHROPIC, ctx.base_url, ctx.wire_model),
        ) if self.stream else NO_TEMPLATE
        self.reuse_direct(self._template)

    # ------------------------------------------------------------ request

    def build_request(self) -> HttpRequest:
        """`POST {base}/v1/messages` with the translated body."""
        req = self.request
        if not isinstance(req, ChatCompletionRequest):
            raise ValueError(f"anthropic: unsupported operation {type(req).__name__}")
        body, self.dropped = tr.build_body(
            req, self.ctx.wire_model, self.ctx.model.max_output_tokens, self.ctx.options
        )
        headers = self.base_headers()
        headers.append(("anthropic-version", _version(self.ctx.options)))
        return HttpRequest(
            method="POST",
            url=join_url(self.ctx.base_url, "/v1/messages"),
            headers=headers,
            body=json_body(body),
            stream=self.stream,
        )

    # ------------------------------------------------------------ non-streamed

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """A Messages API answer as a ChatCompletion."""
        obj = loads_obj(body)
        if obj is None:
            raise ValueError("body is not a JSON object")
        parsed = tr.parse_message(obj)
        if parsed is None:
            raise ValueError("body is not an Anthropic message")
        message, finish, prompt, completion = parsed
        usage = None
        if prompt is not None or completion is not None:
            usage = CompletionUsage(prompt or 0, completion or 0, (prompt or 0) + (completion or 0))
            self._usage = usage
        return ChatCompletion(
            id=self.ctx.response_id,
            created=self.ctx.created,
            model=self.ctx.model_id,
            choices=(Choice(index=0, message=message, finish_reason=finish),),
            usage=usage,
        )

    # ------------------------------------------------------------ stream

    def on_hit(self, hit: tuple[str, ...]) -> None:
        """A whole-read text delta of the learned shape: `on_event`'s hit branch."""
        if hit[0]:
            self.emit_text(hit[0])

    def on_event(self, event: SSEEvent) -> None:
        """Translate one Anthropic stream event."""
        if self._ended:
            return
        hit = self._template.match(event.data)
        if hit is not None:  # a text delta of the learned shape
            if hit[0]:
                self.emit_text(hit[0])
            return
        data = loads_any(event.data)
        if not isinstance(data, dict):
            raise ValueError("stream event data is not a JSON object")
        if self._template.learning and self._template.learn(event.data, data):
            self.direct_reads(self._template, event)
        etype = get_str(data, "type") or event.event
        if etype == "message_start":
            self._on_message_start(data)
        elif etype == "content_block_start":
            self._on_block_start(data)
        elif etype == "content_block_delta":
            self._on_block_delta(data)
        elif etype == "message_delta":
            self._on_message_delta(data)
        elif etype == "message_stop":
            self._on_message_stop()
        elif etype == "error":
            etype_err, message = tr.error_info(data)
            self.stream_error(f"{etype_err or 'error'}: {message or ''}", event.data)
        # ping, content_block_stop and unknown event types are ignored

    def _update_usage(self, usage: Any) -> None:
        prompt, completion = tr.usage_of(usage)
        if prompt is not None:
            self._prompt = prompt
        if completion is not None:
            self._completion = completion
        if self._prompt is not None or self._completion is not None:
            self.set_usage(self._prompt or 0, self._completion or 0)

    def _on_message_start(self, data: dict[str, Any]) -> None:
        message = get_obj(data, "message")
        if message is None:
            raise ValueError("message_start without message")
        self._update_usage(message.get("usage"))
        self.emit_delta(role="assistant")

    def _on_block_start(self, data: dict[str, Any]) -> None:
        index = get_int(data, "index")
        block = get_obj(data, "content_block")
        if index is None or block is None:
            raise ValueError("content_block_start without index or block")
        btype = get_str(block, "type")
        if btype == "text":
            text = get_str(block, "text")
            if text:
                self.emit_delta(content=text)
        elif btype == "tool_use":
            tid, name = get_str(block, "id"), get_str(block, "name")
            if tid is None or name is None:
                raise ValueError("tool_use block without id or name")
            tool_index = self._tools
            self._tools += 1
            self._blocks[index] = tool_index
            initial = block.get("input")
            args = obj_to_args(initial) if isinstance(initial, dict) and initial else ""
            self.emit_delta(tool_calls=(ChoiceDeltaToolCall(
                index=tool_index, id=tid, type="function",
                function=ChoiceDeltaFunction(name=name, arguments=args),
            ),))

    def _on_block_delta(self, data: dict[str, Any]) -> None:
        index = get_int(data, "index")
        delta = get_obj(data, "delta")
        if index is None or delta is None:
            raise ValueError("content_block_delta without index or delta")
        dtype = get_str(delta, "type")
        if dtype == "text_delta":
            text = get_str(delta, "text")
            if text is None:
                raise ValueError("text_delta without text")
            if text:
                self.emit_delta(content=text)
        elif dtype == "input_json_delta":
            part = get_str(delta, "partial_json")
            if part is None:
                raise ValueError("input_json_delta without partial_json")
            tool_index = self._blocks.get(index)
            if tool_index is None:
                raise ValueError("input_json_delta for a block that is not tool_use")
            if part:
                self.emit_delta(tool_calls=(ChoiceDeltaToolCall(
                    index=tool_index, function=ChoiceDeltaFunction(arguments=part)
                ),))
        # thinking_delta, signature_delta, citations_delta: not expressible, dropped

    def _on_message_delta(self, data: dict[str, Any]) -> None:
        delta = get_obj(data, "delta")
        if delta is not None:
            reason = get_str(delta, "stop_reason")
            if reason is not None:
                self._stop_reason = reason
        self._update_usage(data.get("usage"))

    def _on_message_stop(self) -> None:
        finish = tr.finish_reason(self._stop_reason)
        if self._tools and finish == "stop":
            finish = "tool_calls"
        self.emit_delta(finish_reason=finish)
        self.end_stream()
        self._ended = True
        self._direct = None  # on_event ignores every later event


def plain_text_delta(data: dict[str, Any]) -> bool | None:
    """True for a `content_block_delta` event whose whole translation is
    "emit `delta.text` when non-empty" (a `text_delta` with an index), else
    None: the `Template` fast path rests on this."""
    if get_str(data, "type") != "content_block_delta" or get_int(data, "index") is None:
        return None
    return True if get_str(get_obj(data, "delta"), "type") == "text_delta" else None


# ------------------------------------------------------------ catalogue and classification


def build_models_request(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> HttpRequest:
    """`GET {base}/v1/models?limit=1000` (R-72 Model Catalogue)."""
    base = (provider.base_url or info.base_url or "").rstrip("/")
    headers: list[tuple[str, str]] = []
    if api_key:
        headers.append(("x-api-key", api_key))
    headers.append(("anthropic-version", _version(provider.options)))
    return HttpRequest(method="GET", url=join_url(base, "/v1/models?limit=1000"), headers=headers)


def parse_models(body: bytes) -> list[ModelInfo]:
    """`data[]` of a models list as ModelInfo; ValueError when malformed."""
    obj = loads_obj(body)
    if obj is None or not isinstance(obj.get("data"), list):
        raise ValueError("anthropic models list: expected an object with data[]")
    out: list[ModelInfo] = []
    for item in get_list(obj, "data"):
        mid = get_str(item, "id")
        if mid is None:
            raise ValueError("anthropic models list: entry without id")
        out.append(ModelInfo(id=mid, name=get_str(item, "display_name") or mid))
    return out


def classify_refine(status: int | None, body_excerpt: str) -> OutcomeClass | None:
    """R-72 Error Classification refinement for Anthropic (529 overloaded ->
    server_error, error types, credit balance, prompt too long); None means
    "apply the default R-33 rules"."""
    return tr.error_class(status, loads_any(body_excerpt) if body_excerpt else None)


register_family(
    FAMILY_ANTHROPIC,
    AnthropicAttempt,
    build_models_request=build_models_request,
    parse_models=parse_models,
)
register_refiner(FAMILY_ANTHROPIC, make_refiner(classify_refine))
