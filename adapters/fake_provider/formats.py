"""Wire shapes of the fake provider, one class per family (SPEC R-74).

Each family (`openai`, `anthropic`, `gemini`) maps a request to a `Route` (operation, model,
streaming), builds successful replies (`BodyReply`), error bodies, and a `StreamScript`: the
SSE events before the first content chunk, one event per content chunk, the events after the
content, the end marker, plus an in-stream error event and a malformed event. The server
decides which of them to send according to the fault step.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from adapters.fake_provider.common import (
    BodyReply,
    Call,
    Family,
    Route,
    StreamScript,
    body_model,
    collect_text,
    dumps,
    embedding_vector,
    error_message,
    form_fields,
    json_reply,
    next_id,
    now_ts,
    reply_text,
    split_chunks,
    sse,
    token_usage,
    truncated_json,
    wants_stream,
)
from adapters.fake_provider.plan import FaultStep

__all__ = [
    "FORMATS",
    "AnthropicFamily",
    "BodyReply",
    "Call",
    "Family",
    "GeminiFamily",
    "OpenAIFamily",
    "Route",
    "StreamScript",
    "get_family",
]

# ---------------------------------------------------------------- OpenAI-compatible

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_quota"), 403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"), 408: ("timeout", None),
    413: ("invalid_request_error", "request_too_large"), 422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}

_AUDIO_TYPES = {
    "mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
    "wav": "audio/wav", "pcm": "audio/pcm",
}


class OpenAIFamily:
    """OpenAI-compatible API under `/v1`."""

    name = "openai"
    base_path = "/v1"

    def route(self, call: Call) -> Route:
        """Map the OpenAI endpoints; the model comes from the body or the form fields."""
        path = call.path.rstrip("/")
        posts = {
            "/v1/chat/completions": "chat", "/v1/embeddings": "embeddings",
            "/v1/images/generations": "images", "/v1/audio/speech": "speech",
            "/v1/audio/transcriptions": "transcription",
        }
        if path in posts:
            if call.method != "POST":
                return Route("", error_status=405)
            op = posts[path]
            if op == "transcription":
                return Route(op, form_fields(call).get("model"))
            return Route(op, body_model(call), op == "chat" and wants_stream(call))
        if path == "/v1/models":
            return Route("models") if call.method == "GET" else Route("", error_status=405)
        if path.startswith("/v1/models/") and call.method == "GET":
            return Route("model", path[len("/v1/models/") :])
        return Route("", error_status=404)

    def error_body(self, status: int, step: FaultStep | None, default_code: str | None) -> bytes:
        """`{"error": {"message", "type", "param", "code"}}`."""
        etype, code = _OPENAI_ERRORS.get(status, ("server_error", None))
        if default_code is not None:
            code = default_code
        if step is not None:
            code = step.code if step.code is not None else code
            etype = step.type if step.type is not None else etype
        err = {"message": error_message(status, step, code), "type": etype, "param": None,
               "code": code}
        return dumps({"error": err})

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """Chat completion, embeddings, images, speech bytes, transcription or models."""
        model = route.model or "fake-model"
        body = call.json if isinstance(call.json, Mapping) else {}
        if route.operation == "chat":
            text = reply_text(step, model)
            prompt, completion = token_usage(call, step, text)
            return json_reply({
                "id": f"chatcmpl-fake{next_id()}", "object": "chat.completion",
                "created": now_ts(), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion},
            })
        if route.operation == "embeddings":
            raw = body.get("input", "")
            items = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
            texts = [i if isinstance(i, str) else json.dumps(i) for i in items]
            prompt = max(1, sum(len(t) for t in texts) // 4)
            return json_reply({
                "object": "list", "model": model,
                "data": [{"object": "embedding", "index": i, "embedding": embedding_vector(t)}
                         for i, t in enumerate(texts)],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            })
        if route.operation == "images":
            prompt_text = str(body.get("prompt", ""))
            count = body.get("n", 1)
            count = count if isinstance(count, int) and 0 < count <= 10 else 1
            tag = hashlib.blake2b(prompt_text.encode(), digest_size=6).hexdigest()
            b64 = body.get("response_format") == "b64_json"
            data = [
                {"b64_json": base64.b64encode(f"fake-png:{tag}:{i}".encode()).decode()}
                if b64 else {"url": f"https://fake-provider.invalid/images/{tag}-{i}.png"}
                for i in range(count)
            ]
            return json_reply({"created": now_ts(), "data": data})
        if route.operation == "speech":
            fmt = str(body.get("response_format", "mp3"))
            text = str(body.get("input", ""))
            audio = b"ID3\x04fake-audio:" + hashlib.blake2b(text.encode()).digest()
            return BodyReply(200, _AUDIO_TYPES.get(fmt, "audio/mpeg"), audio)
        if route.operation == "transcription":
            fields = form_fields(call)
            text = reply_text(step, model)
            if fields.get("response_format") == "text":
                return BodyReply(200, "text/plain; charset=utf-8", text.encode())
            return json_reply({"text": text})
        if route.operation == "model":
            return json_reply({"id": model, "object": "model", "created": 1_700_000_000,
                                "owned_by": "fake-provider"})
        return json_reply({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"}
            for m in ("fake-model", "fake-embedding")
        ]})

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """`data:` chunks of `chat.completion.chunk`, then `data: [DONE]`."""
        model = route.model or "fake-model"
        text = reply_text(step, model)
        prompt, completion = token_usage(call, step, text)
        body = call.json if isinstance(call.json, Mapping) else {}
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        base = {"id": f"chatcmpl-fake{next_id()}", "object": "chat.completion.chunk",
                "created": now_ts(), "model": model}

        def chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = dict(base)
            out["choices"] = [{"index": 0, "delta": dict(delta), "logprobs": None,
                               "finish_reason": finish}]
            if include_usage:
                out["usage"] = None
            return out

        tail = [sse(chunk({}, "stop"))]
        if include_usage:
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}
            tail.append(sse(dict(base, choices=[], usage=usage)))
        err = {"error": {"message": "fake provider: stream failed", "type": "server_error",
                         "param": None, "code": None}}
        return StreamScript(
            preamble=(sse(chunk({"role": "assistant", "content": ""})),),
            content=tuple(sse(chunk({"content": part})) for part in split_chunks(text)),
            tail=tuple(tail),
            end=(b"data: [DONE]\n\n",),
            error_event=sse(err),
            malformed_event=b"data: " + truncated_json(chunk({"content": "x"})) + b"\n\n",
        )


# ---------------------------------------------------------------- Anthropic Messages

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}


class AnthropicFamily:
    """Anthropic Messages API: `POST /v1/messages`, `GET /v1/models`."""

    name = "anthropic"
    base_path = ""

    def route(self, call: Call) -> Route:
        """Map `/v1/messages` (model from the body) and `/v1/models`."""
        path = call.path.rstrip("/")
        if path == "/v1/messages":
            if call.method != "POST":
                return Route("", error_status=405)
            return Route("chat", body_model(call), wants_stream(call))
        if path == "/v1/models":
            return Route("models") if call.method == "GET" else Route("", error_status=405)
        if path.startswith("/v1/models/") and call.method == "GET":
            return Route("model", path[len("/v1/models/") :])
        return Route("", error_status=404)

    def error_body(self, status: int, step: FaultStep | None, default_code: str | None) -> bytes:
        """`{"type": "error", "error": {"type", "message"}}`; `code` or `type` sets the type."""
        etype = _ANTHROPIC_ERRORS.get(status, "api_error")
        if step is not None:
            etype = step.type or step.code or etype
        return dumps({"type": "error",
                       "error": {"type": etype, "message": error_message(status, step, None)}})

    def _message_obj(self, model: str, call: Call, step: FaultStep) -> dict[str, Any]:
        text = reply_text(step, model)
        prompt, completion = token_usage(call, step, text)
        return {"id": f"msg_fake{next_id()}", "type": "message", "role": "assistant",
                "model": model, "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion}}

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """A `message` object, a model object, or the models list."""
        model = route.model or "fake-model"
        if route.operation == "chat":
            return json_reply(self._message_obj(model, call, step))
        info = {"type": "model", "id": model, "display_name": model,
                "created_at": "2025-01-01T00:00:00Z"}
        if route.operation == "model":
            return json_reply(info)
        return json_reply({"data": [dict(info, id="fake-model", display_name="Fake")],
                            "has_more": False, "first_id": "fake-model",
                            "last_id": "fake-model"})

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """message_start .. content_block_delta .. message_delta, message_stop."""
        model = route.model or "fake-model"
        msg = self._message_obj(model, call, step)
        text = msg["content"][0]["text"]
        start = dict(msg, content=[], stop_reason=None)
        start["usage"] = {"input_tokens": msg["usage"]["input_tokens"], "output_tokens": 1}
        deltas = tuple(
            sse({"type": "content_block_delta", "index": 0,
                  "delta": {"type": "text_delta", "text": part}}, "content_block_delta")
            for part in split_chunks(text)
        )
        err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        bad = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta",
                                                                     "text": "x"}}
        return StreamScript(
            preamble=(
                sse({"type": "message_start", "message": start}, "message_start"),
                sse({"type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}}, "content_block_start"),
                sse({"type": "ping"}, "ping"),
            ),
            content=deltas,
            tail=(
                sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                sse({"type": "message_delta",
                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                      "usage": {"output_tokens": msg["usage"]["output_tokens"]}},
                     "message_delta"),
            ),
            end=(sse({"type": "message_stop"}, "message_stop"),),
            error_event=sse(err, "error"),
            malformed_event=b"event: content_block_delta\ndata: " + truncated_json(bad) + b"\n\n",
        )


# ---------------------------------------------------------------- Gemini generateContent

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

_GEMINI_PATH = re.compile(r"^/v1beta/models/([^/:]+):([A-Za-z]+)$")


class GeminiFamily:
    """Gemini API under `/v1beta`: generateContent, streamGenerateContent, embeddings."""

    name = "gemini"
    base_path = "/v1beta"

    def route(self, call: Call) -> Route:
        """The model comes from the URL path (`models/{name}:method`)."""
        path = call.path.rstrip("/")
        match = _GEMINI_PATH.match(path)
        if match:
            model, method = match.group(1), match.group(2)
            ops = {"generateContent": "chat", "streamGenerateContent": "chat",
                   "batchEmbedContents": "embeddings", "embedContent": "embedding"}
            if method not in ops:
                return Route("", error_status=404)
            if call.method != "POST":
                return Route("", error_status=405)
            return Route(ops[method], model, method == "streamGenerateContent")
        if path == "/v1beta/models":
            return Route("models") if call.method == "GET" else Route("", error_status=405)
        if path.startswith("/v1beta/models/") and call.method == "GET":
            return Route("model", path[len("/v1beta/models/") :])
        return Route("", error_status=404)

    def error_body(self, status: int, step: FaultStep | None, default_code: str | None) -> bytes:
        """`{"error": {"code": <status>, "message", "status"}}`; `code`/`type` set `status`."""
        gstatus = _GEMINI_STATUS.get(status, "UNKNOWN")
        if step is not None:
            gstatus = step.type or step.code or gstatus
        return dumps({"error": {"code": status, "message": error_message(status, step, None),
                                 "status": gstatus}})

    def _usage_meta(self, call: Call, step: FaultStep, text: str) -> dict[str, int]:
        prompt, completion = token_usage(call, step, text)
        return {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion}

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """generateContent, (batch)embedContent, a model, or the models list."""
        model = route.model or "fake-model"
        body = call.json if isinstance(call.json, Mapping) else {}
        if route.operation == "chat":
            text = reply_text(step, model)
            return json_reply({
                "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": self._usage_meta(call, step, text), "modelVersion": model,
            })
        if route.operation in ("embeddings", "embedding"):
            def text_of(req: object) -> str:
                parts: list[str] = []
                if isinstance(req, Mapping):
                    collect_text(req.get("content"), parts)
                return "".join(parts)

            if route.operation == "embedding":
                return json_reply({"embedding": {"values": embedding_vector(text_of(body))}})
            reqs = body.get("requests", [])
            reqs = reqs if isinstance(reqs, list) else []
            return json_reply({"embeddings": [{"values": embedding_vector(text_of(r))}
                                               for r in reqs]})
        info = {"name": f"models/{model}", "version": "001", "displayName": model,
                "inputTokenLimit": 1_048_576, "outputTokenLimit": 8192,
                "supportedGenerationMethods": ["generateContent", "countTokens"]}
        if route.operation == "model":
            return json_reply(info)
        return json_reply({"models": [dict(info, name="models/fake-model",
                                            displayName="Fake")]})

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """`data:` candidates per chunk; the end marker is a candidate with finishReason."""
        model = route.model or "fake-model"
        text = reply_text(step, model)

        def cand(part: str, finish: str | None = None) -> dict[str, Any]:
            c: dict[str, Any] = {"content": {"parts": [{"text": part}], "role": "model"},
                                 "index": 0}
            if finish:
                c["finishReason"] = finish
            return {"candidates": [c], "modelVersion": model}

        final = cand("", "STOP")
        final["usageMetadata"] = self._usage_meta(call, step, text)
        err = {"error": {"code": 500, "message": "fake provider: stream failed",
                         "status": "INTERNAL"}}
        return StreamScript(
            preamble=(),
            content=tuple(sse(cand(part)) for part in split_chunks(text)),
            tail=(),
            end=(sse(final),),
            error_event=sse(err),
            malformed_event=b"data: " + truncated_json(cand("x")) + b"\n\n",
        )


FORMATS: dict[str, Family] = {
    "openai": OpenAIFamily(),
    "anthropic": AnthropicFamily(),
    "gemini": GeminiFamily(),
}


def get_family(name: str) -> Family:
    """The family called `name`; `ValueError` for an unknown format."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown format {name!r} (expected one of {', '.join(sorted(FORMATS))})"
        ) from None
