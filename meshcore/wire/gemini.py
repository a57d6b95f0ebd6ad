"""Gemini generateContent codec (SPEC R-74, R-76): the per-attempt object.

Theory of operation: `GeminiAttempt` builds `POST /models/{name}:generateContent`
(or `:streamGenerateContent?alt=sse` for streams, `:batchEmbedContents` for
embeddings) with the key only in the `x-goog-api-key` header, never in the
URL. A non-streamed answer becomes a ChatCompletion; a blocked prompt
(`promptFeedback.blockReason`) or a safety-finished candidate without any
content raises `ContentBlocked` (CONTENT_BLOCKED failure). In a stream each
`data:` event is a whole GenerateContentResponse: text parts become content
deltas, function calls complete tool-call deltas, `usageMetadata` updates
usage, an `error` object is a STREAM_ERROR, and the first candidate with a
`finishReason` is the end marker. Events that repeat one learned shape of
text plus running token counts (`gemini_translate.plain_text_counts`) are
recognised by a `hotpath.Template` and translated without decoding them
(`responseId` and `modelVersion` are free holes; the shape is shared by the
streams of one model). The catalogue call is `GET /models`.
Registers the `gemini` family on import.
"""

from __future__ import annotations

from meshcore.config.schema import ProviderConfig
from meshcore.connectors import FAMILY_GEMINI, ProviderConnectorInfo
from meshcore.types import OutcomeClass
from meshcore.wire import gemini_translate as tr
from meshcore.wire.attempt import (
    Attempt,
    AttemptContext,
    ContentBlocked,
    HttpRequest,
    join_url,
    json_body,
)
from meshcore.wire.classify import register_refiner
from meshcore.wire.codec_helpers import (
    get_int,
    get_list,
    get_obj,
    get_str,
    loads_any,
    loads_obj,
    make_refiner,
)
from meshcore.wire.hotpath import NO_TEMPLATE, Template
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionMessage,
    ChatCompletionRequest,
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


class GeminiAttempt(Attempt):
    """One generateContent / streamGenerateContent / batchEmbedContents call."""

    family = FAMILY_GEMINI

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self.dropped: tuple[str, ...] = ()
        self._calls = 0
        self._ended = False
        # `responseId` and `modelVersion` are never read (R-41: the attempt's own id and model)
        self._template = Template(
            tr.TEXT_PATH, tr.COUNT_PATHS, accept=tr.plain_text_counts,
            free_paths=(("responseId",), ("modelVersion",)),
            share=(FAMILY_GEMINI, ctx.base_url, ctx.wire_model),
        ) if self.stream else NO_TEMPLATE
        self.reuse_direct(self._template)

    def build_request(self) -> HttpRequest:
        """The HTTP request for a chat or embeddings call."""
        path = tr.model_path(self.ctx.wire_model)
        req = self.request
        if isinstance(req, EmbeddingRequest):
            items: list[dict[str, object]] = []
            for text in req.inputs:
                item: dict[str, object] = {"model": path, "content": {"parts": [{"text": text}]}}
                if req.dimensions is not None:
                    item["outputDimensionality"] = req.dimensions
                items.append(item)
            body = {"requests": items}
            return HttpRequest("POST", join_url(self.ctx.base_url, f"/{path}:batchEmbedContents"),
                               self.base_headers(), json_body(body))
        if not isinstance(req, ChatCompletionRequest):
            raise ValueError(f"gemini: unsupported operation {type(req).__name__}")
        chat_body, self.dropped = tr.build_body(req, self.ctx.options)
        action = ":streamGenerateContent?alt=sse" if self.stream else ":generateContent"
        return HttpRequest("POST", join_url(self.ctx.base_url, f"/{path}{action}"),
                           self.base_headers(), json_body(chat_body), stream=self.stream)

    # ------------------------------------------------------------ non-streamed

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """A generateContent or batchEmbedContents answer."""
        obj = loads_obj(body)
        if obj is None:
            raise ValueError("body is not a JSON object")
        if isinstance(self.request, EmbeddingRequest):
            return self._parse_embeddings(obj)
        usage = tr.usage_of(obj)
        if usage is not None:
            self.set_usage(*usage)
        blocked = tr.block_reason(obj)
        if blocked is not None:
            raise ContentBlocked(f"prompt blocked: {blocked}")
        view = tr.read_candidate(obj)
        if view.raw_finish is None and not view.text and not view.calls:
            raise ValueError("response without candidates")
        text = "".join(view.text)
        if view.finish == "content_filter" and not text and not view.calls:
            raise ContentBlocked(f"candidate blocked: {view.raw_finish}")
        calls = tuple(
            ToolCall(id=f"call_{i}", function=FunctionCall(name=name, arguments=args))
            for i, (name, args) in enumerate(view.calls)
        )
        message = ChatCompletionMessage(content=text if view.text else None,
                                        tool_calls=calls or None)
        finish = view.finish or ("tool_calls" if calls else "stop")
        return ChatCompletion(
            id=self.ctx.response_id, created=self.ctx.created, model=self.ctx.model_id,
            choices=(Choice(index=0, message=message, finish_reason=finish),),
            usage=self._usage,
        )

    def _parse_embeddings(self, obj: dict[str, object]) -> CreateEmbeddingResponse:
        items = obj.get("embeddings")
        if not isinstance(items, list):
            raise ValueError("embeddings is not a list")
        data: list[Embedding] = []
        for i, item in enumerate(items):
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
            ):
                raise ValueError("embedding values are not a list of numbers")
            data.append(Embedding(index=i, embedding=tuple(float(v) for v in values)))
        assert isinstance(self.request, EmbeddingRequest)
        if len(data) != len(self.request.inputs):
            raise ValueError("embedding count differs from input count")
        return CreateEmbeddingResponse(data=tuple(data), model=self.ctx.model_id,
                                       usage=EmbeddingUsage())

    # ------------------------------------------------------------ stream

    def on_hit(self, hit: tuple[str, ...]) -> None:
        """A whole-read event of the learned shape: `on_event`'s hit branch."""
        prompt, thoughts = self._template.info
        completion = int(hit[1]) + thoughts
        self._usage_counts = (prompt, completion, prompt + completion)  # = set_usage
        if hit[0]:
            self.emit_text(hit[0])

    def on_event(self, event: SSEEvent) -> None:
        """One streamed GenerateContentResponse."""
        if self._ended:
            return
        hit = self._template.match(event.data)
        if hit is not None:  # text and running counts of the learned shape
            prompt, thoughts = self._template.info
            completion = int(hit[1]) + thoughts
            self._usage_counts = (prompt, completion, prompt + completion)  # = set_usage
            if hit[0]:
                self.emit_text(hit[0])
            return
        obj = loads_any(event.data)
        if not isinstance(obj, dict):
            raise ValueError("stream event is not a JSON object")
        if self._template.learning and self._template.learn(event.data, obj):
            self.direct_reads(self._template, event)
        if get_obj(obj, "error") is not None:
            err = get_obj(obj, "error")
            self.stream_error(f"{get_str(err, 'status') or 'error'}: "
                              f"{get_str(err, 'message') or ''}", event.data)
            return
        usage = tr.usage_of(obj)
        if usage is not None:
            self.set_usage(*usage)
        blocked = tr.block_reason(obj)
        if blocked is not None:
            self.mark_blocked(f"prompt blocked: {blocked}")
            return
        view = tr.read_candidate(obj)
        text = "".join(view.text)
        if text:
            self.emit_delta(content=text)
        for name, args in view.calls:
            index = self._calls
            self._calls += 1
            self.emit_delta(tool_calls=(ChoiceDeltaToolCall(
                index=index, id=f"call_{index}", type="function",
                function=ChoiceDeltaFunction(name=name, arguments=args),
            ),))
        if view.finish is not None:
            finish = view.finish
            if self._calls and finish == "stop":
                finish = "tool_calls"
            if not self.has_content and finish == "content_filter":
                self.mark_blocked(f"candidate blocked: {view.raw_finish}")
                return
            self.emit_delta(finish_reason=finish)
            self.end_stream()
            self._ended = True
            self._direct = None  # on_event ignores every later event


def build_models_request(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> HttpRequest:
    """`GET {base}/models?pageSize=1000` with the key in x-goog-api-key."""
    base = (provider.base_url or info.base_url or "").rstrip("/")
    headers = [("x-goog-api-key", api_key)] if api_key else []
    return HttpRequest("GET", join_url(base, "/models?pageSize=1000"), headers)


def parse_models(body: bytes) -> list[ModelInfo]:
    """`models[]` as ModelInfo (the `models/` prefix removed)."""
    obj = loads_obj(body)
    if obj is None or not isinstance(obj.get("models", []), list):
        raise ValueError("gemini models list: expected an object with models[]")
    out: list[ModelInfo] = []
    for item in get_list(obj, "models"):
        name = get_str(item, "name")
        if name is None:
            raise ValueError("gemini models list: entry without name")
        mid = name.split("/", 1)[1] if name.startswith("models/") else name
        out.append(ModelInfo(
            id=mid, name=get_str(item, "displayName") or mid,
            context_window=get_int(item, "inputTokenLimit"),
            max_output_tokens=get_int(item, "outputTokenLimit"),
        ))
    return out


def classify_refine(status: int | None, body_excerpt: str) -> OutcomeClass | None:
    """R-72 refinement for Gemini error bodies; None = default R-33 rules."""
    return tr.error_class(status, loads_any(body_excerpt) if body_excerpt else None)


register_family(FAMILY_GEMINI, GeminiAttempt, build_models_request=build_models_request,
                parse_models=parse_models)
register_refiner(FAMILY_GEMINI, make_refiner(classify_refine))
