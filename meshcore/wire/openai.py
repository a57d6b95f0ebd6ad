"""OpenAI-compatible wire family codec (SPEC R-73, R-74, R-76, R-105).

Theory of operation: the unified model already is the OpenAI shape, so the
codec mostly passes the body through. It replaces `model` with the model's
wire name, asks streams for `stream_options.include_usage` (R-67), sends
`max_completion_tokens` to `openai.llm.v1` (other servers get `max_tokens`),
adds the connector's pass-through options (R-76: OpenAI organisation and
project headers, OpenRouter `route`/`transforms`/`provider`, Perplexity
`return_citations`/`search_recency_filter`), then merges `extra_params` and
finally `extra_body` into the body (R-105). Transcriptions are sent as
`multipart/form-data` with a boundary derived from the attempt ID (so a
replayed attempt builds identical bytes). Stream events are `data:` lines
of chunk JSON ending with `data: [DONE]`; an `error` member or `event:
error` is an in-stream error. Responses are rebuilt with the attempt's id,
model and created (R-41, R-67). Content chunks that repeat one learned shape
(`plain_chunk_index`) are recognised by a `hotpath.Template` and emitted
without decoding them; the chunk fields the translation never reads (`id`,
`created`, `model`, `system_fingerprint`, `obfuscation`) are its free holes,
so the shape holds for every stream of the model and is shared between
them (`share`). A non-streamed attempt has no template (`NO_TEMPLATE`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from meshcore.config.schema import ProviderConfig
from meshcore.connectors import FAMILY_OPENAI, ProviderConnectorInfo
from meshcore.wire.attempt import (
    Attempt,
    AttemptContext,
    ContentBlocked,
    HttpRequest,
    join_url,
    json_body,
)
from meshcore.wire.hotpath import (
    EMPTY_DELTA,
    NO_TEMPLATE,
    Path,
    Template,
    fast_loads,
    frozen_set,
    share_frozen,
)
from meshcore.wire.models import (
    SPEECH_CONTENT_TYPES,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChoiceDelta,
    ChunkChoice,
    CompletionRequest,
    CompletionResponse,
    EmbeddingRequest,
    ImageRequest,
    SpeechRequest,
    SpeechResponse,
    TranscriptionRequest,
)
from meshcore.wire.openai_parse import (
    parse_chat_completion,
    parse_chunk_choices,
    parse_embeddings,
    parse_images,
    parse_models,
    parse_transcription,
    parse_usage,
)
from meshcore.wire.registry import base_url_of, register_family
from meshcore.wire.sse import SSEEvent

PATHS: dict[type, str] = {
    ChatCompletionRequest: "/chat/completions",
    EmbeddingRequest: "/embeddings",
    ImageRequest: "/images/generations",
    SpeechRequest: "/audio/speech",
    TranscriptionRequest: "/audio/transcriptions",
}

_AUDIO_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg", "mpga": "audio/mpeg", "mpeg": "audio/mpeg", "wav": "audio/wav",
    "m4a": "audio/mp4", "mp4": "video/mp4", "ogg": "audio/ogg", "oga": "audio/ogg",
    "flac": "audio/flac", "webm": "audio/webm", "opus": "audio/opus", "aac": "audio/aac",
}

# R-76 body pass-through options per connector: option key -> body key.
_BODY_OPTIONS: dict[str, dict[str, str]] = {
    "openrouter.gateway.v1": {"route": "route", "transforms": "transforms",
                              "provider_preferences": "provider"},
    "perplexity.search.v1": {"return_citations": "return_citations",
                             "search_recency_filter": "search_recency_filter"},
}


def option_headers(ctx_provider: ProviderConfig) -> list[tuple[str, str]]:
    """R-76 header options: OpenAI `organization` / `project`."""
    out: list[tuple[str, str]] = []
    opts = ctx_provider.options
    org, project = opts.get("organization"), opts.get("project")
    if isinstance(org, str) and org:
        out.append(("openai-organization", org))
    if isinstance(project, str) and project:
        out.append(("openai-project", project))
    return out


def multipart_boundary(attempt_id: str, body_parts: list[bytes]) -> str:
    """A boundary derived from the attempt ID that occurs in no part."""
    seed = hashlib.blake2b(attempt_id.encode("utf-8"), digest_size=12).hexdigest()
    n = 0
    while True:
        boundary = f"meshcore-{seed}{'' if n == 0 else f'-{n}'}"
        token = boundary.encode("ascii")
        if not any(token in p for p in body_parts):
            return boundary
        n += 1


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def build_multipart(
    fields: list[tuple[str, str]], file_field: str, filename: str, content: bytes,
    content_type: str, attempt_id: str,
) -> tuple[bytes, str]:
    """A `multipart/form-data` body and its content type (RFC 7578)."""
    safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
    boundary = multipart_boundary(attempt_id, [content] + [v.encode() for _, v in fields])
    b = boundary.encode("ascii")
    out = bytearray()
    for name, value in fields:
        out += b"--" + b + b"\r\n"
        out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    out += b"--" + b + b"\r\n"
    out += (f'Content-Disposition: form-data; name="{file_field}"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    out += content + b"\r\n--" + b + b"--\r\n"
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class OpenAIAttempt(Attempt):
    """Per-attempt codec of the OpenAI-compatible family."""

    family = FAMILY_OPENAI

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self._resp_content_type = ""
        self._template = Template(
            ("choices", 0, "delta", "content"), accept=plain_chunk_index, free_paths=_FREE_PATHS,
            share=(FAMILY_OPENAI, ctx.base_url, ctx.wire_model),
        ) if self.stream else NO_TEMPLATE
        self.reuse_direct(self._template)
        # the key of the first, finish and usage chunk templates (None: not used)
        self._others: tuple[Any, ...] | None = (
            (FAMILY_OPENAI, ctx.base_url, ctx.wire_model) if self.stream else None)

    # ---------------------------------------------------------------- request

    def build_request(self) -> HttpRequest:
        req = self.request
        url = join_url(self.ctx.base_url, PATHS[type(req)])
        if isinstance(req, TranscriptionRequest):
            return self._transcription_request(url, req)
        body = self.build_body()
        headers = self.base_headers() + option_headers(self.ctx.provider)
        return HttpRequest("POST", url, headers, json_body(body), stream=self.stream)

    def build_body(self) -> dict[str, Any]:
        """The JSON body for a non-multipart request."""
        req = self.request
        assert not isinstance(req, TranscriptionRequest)
        body = req.model_dump()
        body["model"] = self.ctx.wire_model
        if isinstance(req, ChatCompletionRequest):
            if req.stream:
                so = dict(body.get("stream_options") or {})
                so["include_usage"] = True
                body["stream_options"] = so
            else:
                body.pop("stream_options", None)
            if req.max_tokens is not None and self.ctx.connector.id == "openai.llm.v1":
                body.pop("max_tokens", None)
                body["max_completion_tokens"] = req.max_tokens
            for opt, key in _BODY_OPTIONS.get(self.ctx.connector.id, {}).items():
                if opt in self.ctx.options and key not in body:
                    body[key] = self.ctx.options[opt]
        if req.extra_body:
            body.update(req.extra_body)
        return body

    def _transcription_request(self, url: str, req: TranscriptionRequest) -> HttpRequest:
        fields: list[tuple[str, str]] = [("model", self.ctx.wire_model)]
        for name in ("language", "prompt", "response_format", "temperature"):
            value = getattr(req, name)
            if value is not None:
                fields.append((name, _form_value(value)))
        for key, value in (req.extra_body or {}).items():
            if value is not None:
                fields = [(k, v) for k, v in fields if k != key]
                fields.append((key, _form_value(value)))
        ext = req.filename.rsplit(".", 1)[-1].lower() if "." in req.filename else ""
        body, ctype = build_multipart(
            fields, "file", req.filename, req.file,
            _AUDIO_TYPES.get(ext, "application/octet-stream"), self.ctx.attempt_id,
        )
        headers = self.base_headers(ctype) + option_headers(self.ctx.provider)
        return HttpRequest("POST", url, headers, body)

    # ---------------------------------------------------------------- response

    def receive_head(self, status: int, headers: list[tuple[str, str]]) -> None:
        super().receive_head(status, headers)
        self._resp_content_type = ""
        for name, value in self.headers:
            if name == "content-type":
                self._resp_content_type = value.split(";", 1)[0].strip().lower()

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        req = self.request
        ctx = self.ctx
        if isinstance(req, ChatCompletionRequest):
            resp = parse_chat_completion(
                body, response_id=ctx.response_id, model_id=ctx.model_id, created=ctx.created
            )
            _check_blocked(resp)
            return resp
        if isinstance(req, EmbeddingRequest):
            return parse_embeddings(body, model_id=ctx.model_id)
        if isinstance(req, ImageRequest):
            return parse_images(body, created=ctx.created)
        if isinstance(req, SpeechRequest):
            ctype = self._resp_content_type
            if ctype.startswith("application/json") or ctype.startswith("text/"):
                raise ValueError(f"speech: expected audio, got {ctype}")
            if not body:
                raise ValueError("speech: empty audio body")
            fmt = req.response_format or "mp3"
            return SpeechResponse(content=body,
                                  content_type=ctype or SPEECH_CONTENT_TYPES.get(fmt, "audio/mpeg"))
        return parse_transcription(body, req.response_format)

    def on_hit(self, hit: tuple[str, ...]) -> None:
        """A whole-read text chunk of the learned shape: `on_event`'s hit branch."""
        self.emit_text(hit[0], self._template.info)

    def _other_hit(self, key: tuple[Any, ...], data: str) -> bool:
        """Translate `data` from the holes when it is a first, finish or usage
        chunk of a shape some stream of the model learned (`_learn_other`):
        what `on_event`'s general path makes of it, the very chunk or the
        usage counts. False for any other event."""
        others = frozen_set(key)
        if others is None:
            return False
        role, finish, usage = others
        if role is not None and (hit := role.match(data)) is not None:
            index, name = role.info
            ctx = self.ctx
            self.emit_chunk(ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id, (
                ChunkChoice(index, ChoiceDelta(name, hit[0]), None),)))
            return True
        if finish is not None and (hit := finish.match(data)) is not None:
            ctx = self.ctx
            self.emit_chunk(ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id, (
                ChunkChoice(finish.info, EMPTY_DELTA, hit[0]),)))
            return True
        if usage is not None and (hit := usage.match(data)) is not None:
            self.set_usage(int(hit[1]), int(hit[2]), int(hit[3]))
            return True
        return False

    def on_event(self, event: SSEEvent) -> None:
        data = event.data
        if event.event == "error":
            self.stream_error(_error_message(data), data)
            return
        if data[:1] != "{":
            stripped = data.strip()
            if stripped == "[DONE]":
                self.end_stream()
                return
            if not stripped:
                return
        hit = self._template.match(data)
        if hit is not None:  # a plain text chunk of the learned shape
            self.emit_text(hit[0], self._template.info)
            return
        key = self._others
        if key is not None and self._other_hit(key, data):
            return
        d = fast_loads(data)
        if type(d) is not dict:
            raise ValueError("stream chunk: expected an object")
        # (a chunk with a string role is never a plain one: `accept` is not asked)
        if self._template.learning and '"role":"' not in data and self._template.learn(data, d):
            self.direct_reads(self._template, event)
        elif key is not None:
            _learn_other(key, data, d)
        if d.get("error"):
            self.stream_error(_error_message(data), data)
            return
        usage = d.get("usage")
        if usage is not None:
            u = parse_usage(usage)
            if u is not None:
                self.set_usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
        raw_choices = d.get("choices")
        if not raw_choices:
            if raw_choices is None and usage is None:
                raise ValueError("stream chunk: no choices")
            return
        ctx = self.ctx
        self.emit_chunk(ChatCompletionChunk(ctx.response_id, ctx.created, ctx.model_id,
                                            parse_chunk_choices(raw_choices)))


# Chunk fields the translation never reads (R-41: the attempt's own id, created
# and model replace the provider's), free to differ between a learned shape's events.
_FREE_PATHS = (("id",), ("created",), ("model",), ("system_fingerprint",), ("obfuscation",))
_USAGE_FREE = (("id",), ("created",), ("system_fingerprint",), ("obfuscation",))
_CONTENT = ("choices", 0, "delta", "content")
_FINISH = ("choices", 0, "finish_reason")
_COUNTS = (("usage", "prompt_tokens"), ("usage", "completion_tokens"),
           ("usage", "total_tokens"))
_DELTA_KEYS = ("content", "role", "tool_calls", "refusal")


def _learn_other(key: tuple[Any, ...], data: str, d: dict[str, Any]) -> None:
    """Learn `data` (decoded: `d`) as the first, finish or usage chunk shape
    of the model when one of `_OTHERS` takes it, and share the template
    frozen (`hotpath.share_frozen`): these chunks come once per stream, so
    each stream reads the shared templates instead of making its own."""
    for slot, (accept, text_path, int_paths, free_paths) in enumerate(_OTHERS):
        if accept(d) is not None:
            template = Template(text_path, int_paths, accept, 1, free_paths)
            if template.learn(data, d):
                share_frozen(key, slot, len(_OTHERS), template)
            return


def _one_choice(d: dict[str, Any]) -> dict[str, Any] | None:
    """The only choice of a chunk without error or usage, else None."""
    if d.get("error") or d.get("usage") is not None:
        return None
    choices = d.get("choices")
    if type(choices) is not list or len(choices) != 1 or type(choices[0]) is not dict:
        return None
    c: dict[str, Any] = choices[0]
    return c if type(c.get("index", 0)) is int else None


def role_chunk(d: dict[str, Any]) -> tuple[int, str] | None:
    """(index, role) of a chunk whose whole translation is "a delta with this
    role and the content of its only choice" (a stream's first chunk: a
    string role and content, no tool calls, refusal, finish reason, usage or
    error), else None."""
    c = _one_choice(d)
    if c is None or c.get("finish_reason") is not None:
        return None
    delta = c.get("delta")
    if type(delta) is not dict or type(delta.get("role")) is not str or type(
            delta.get("content")) is not str or delta.get("tool_calls") is not None or (
            delta.get("refusal") is not None):
        return None
    return c.get("index", 0), delta["role"]


def finish_chunk(d: dict[str, Any]) -> int | None:
    """The index of a chunk whose whole translation is "an empty delta with
    the finish reason of its only choice" (a string finish reason; a
    missing, null or empty delta), else None."""
    c = _one_choice(d)
    if c is None or type(c.get("finish_reason")) is not str:
        return None
    delta = c.get("delta")
    if delta is not None and (type(delta) is not dict or any(
            delta.get(k) is not None for k in _DELTA_KEYS)):
        return None
    index: int = c.get("index", 0)
    return index


def usage_chunk(d: dict[str, Any]) -> bool | None:
    """True for a chunk whose whole translation is "these usage counts" (no
    choices, no error, `usage` with the three counts as non-negative
    integers), else None."""
    if d.get("error") or d.get("choices") != []:
        return None
    u = d.get("usage")
    if type(u) is not dict or any(type(u.get(k)) is not int or u[k] < 0
                                 for k in ("prompt_tokens", "completion_tokens",
                                           "total_tokens")):
        return None
    return True


# The chunks a stream sends once: (accept, text path, integer paths, free
# paths) of the first chunk, the finish chunk and the usage chunk (its
# `model` string stands in as the text hole: the translation reads no text).
_OTHERS: tuple[tuple[Callable[[dict[str, Any]], Any], Path, tuple[Path, ...],
                     tuple[Path, ...]], ...] = (
    (role_chunk, _CONTENT, (), _FREE_PATHS),
    (finish_chunk, _FINISH, (), _FREE_PATHS),
    (usage_chunk, ("model",), _COUNTS, _USAGE_FREE),
)


def plain_chunk_index(d: dict[str, Any]) -> int | None:
    """The choice index of a stream chunk whose whole translation is "emit
    the content of choice 0 at this index" (one choice, content only, no
    usage, finish reason or error), else None: the `Template` fast path
    rests on this."""
    if d.get("error") or d.get("usage") is not None:
        return None
    choices = d.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    c = choices[0]
    if type(c) is not dict or c.get("finish_reason") is not None:
        return None
    delta = c.get("delta")
    if type(delta) is not dict or type(delta.get("content")) is not str or any(
        delta.get(k) is not None for k in ("role", "tool_calls", "refusal")
    ):
        return None
    index = c.get("index", 0)
    return index if type(index) is int else None


def _check_blocked(resp: ChatCompletion) -> None:
    if all(c.finish_reason == "content_filter" for c in resp.choices) and not any(
        c.message.content or c.message.tool_calls for c in resp.choices
    ):
        raise ContentBlocked("content_filter")


def _error_message(data: str) -> str:
    try:
        d = json.loads(data)
    except (ValueError, RecursionError):
        return data[:300]
    err = d.get("error", d) if isinstance(d, dict) else d
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])[:300]
    return str(err)[:300]


def build_models_request(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> HttpRequest:
    """`GET {base}/models` with the connector's auth (R-72 Model Catalogue)."""
    from meshcore.wire.attempt import auth_headers

    ctx_headers = auth_headers(_catalogue_ctx(provider, info, api_key))
    return HttpRequest("GET", join_url(base_url_of(provider, info), "/models"),
                       ctx_headers + option_headers(provider))


def _catalogue_ctx(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> AttemptContext:
    from meshcore.config.schema import ModelConfig

    return AttemptContext(
        model=ModelConfig(id="", provider=provider.id, name=""),
        provider=provider, connector=info, api_key=api_key, attempt_id="catalogue",
        model_id="", response_id="", created=0, base_url=base_url_of(provider, info),
    )


register_family(
    FAMILY_OPENAI,
    OpenAIAttempt,
    build_models_request=build_models_request,
    parse_models=parse_models,
)
