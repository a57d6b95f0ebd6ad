"""Wire shapes of the fake provider: routing, replies and stream scripts per family.

Each family (`openai`, `anthropic`, `gemini`, SPEC R-74) maps a request to a `Route`
(operation, model, streaming), builds successful replies (`BodyReply`), error bodies, and
a `StreamScript`: the SSE events before the first content chunk, one event per content
chunk, the events after the content, the end marker, plus an in-stream error event and a
malformed event. The server decides which of them to send according to the fault step.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Protocol

from adapters.fake_provider.plan import FaultStep

__all__ = [
    "FORMATS",
    "BodyReply",
    "Call",
    "Family",
    "Route",
    "StreamScript",
    "embedding_vector",
    "get_family",
    "split_chunks",
]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Route:
    """What a request asks for: `operation` ("" when unroutable), `model`, `stream`."""

    operation: str
    model: str | None = None
    stream: bool = False
    error_status: int | None = None


@dataclass(frozen=True)
class Call:
    """One received request, as the reply builders see it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    json: Any


@dataclass(frozen=True)
class BodyReply:
    """A complete (non-streaming) answer."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StreamScript:
    """The SSE events of one streamed answer, grouped so faults can be inserted."""

    preamble: tuple[bytes, ...]
    content: tuple[bytes, ...]
    tail: tuple[bytes, ...]
    end: tuple[bytes, ...]
    error_event: bytes
    malformed_event: bytes


class Family(Protocol):
    """One wire family served by the fake provider."""

    name: str
    base_path: str

    def route(self, call: Call) -> Route:
        """Map a request to an operation; `error_status` 404/405 when unroutable."""
        ...

    def error_body(self, status: int, step: FaultStep | None, default_code: str | None) -> bytes:
        """The family's JSON error body for `status`, shaped by the step's code/type/message."""
        ...

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """A successful non-streaming answer."""
        ...

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """The events of a successful streamed answer."""
        ...


# ---------------------------------------------------------------- shared helpers


def split_chunks(text: str) -> list[str]:
    """Split reply text into stream chunks: each word with its following whitespace."""
    parts = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    if lead:
        if parts:
            parts[0] = lead + parts[0]
        else:
            parts = [lead]
    return parts


def embedding_vector(text: str, dims: int = 8) -> list[float]:
    """A deterministic unit-free vector of `dims` floats in [-1, 1] derived from `text`."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=2 * dims).digest()
    return [
        round(int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 32767.5 - 1.0, 6)
        for i in range(dims)
    ]


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _sse(data: object, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else _dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def _collect_text(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("text", "content", "input", "parts", "contents", "messages", "system",
                       "systemInstruction", "prompt"):
                _collect_text(item, out)
    elif isinstance(value, list):
        for item in value:
            _collect_text(item, out)


def _prompt_tokens(call: Call) -> int:
    out: list[str] = []
    _collect_text(call.json, out)
    return max(1, sum(len(s) for s in out) // 4)


def _usage(call: Call, step: FaultStep, content: str) -> tuple[int, int]:
    given = step.usage or {}
    prompt = given.get("prompt_tokens", _prompt_tokens(call))
    completion = given.get("completion_tokens", len(split_chunks(content)))
    return prompt, completion


def _content(step: FaultStep, model: str | None) -> str:
    return step.content if step.content is not None else f"Hello from {model or 'fake-model'}"


def _json_reply(value: object, headers: tuple[tuple[str, str], ...] = ()) -> BodyReply:
    return BodyReply(200, "application/json", _dumps(value), headers)


def _malformed(value: object) -> bytes:
    raw = _dumps(value)
    return raw[: max(1, len(raw) // 2)]


_REASONS = {
    400: "Bad request", 401: "Invalid authentication", 402: "Payment required",
    403: "Permission denied", 404: "Not found", 405: "Method not allowed",
    408: "Request timed out", 413: "Request too large", 422: "Unprocessable entity",
    429: "Rate limit reached", 500: "Internal server error", 502: "Bad gateway",
    503: "Service unavailable", 504: "Gateway timeout", 529: "Overloaded",
}

_CODE_MESSAGES = {
    "context_length_exceeded": (
        "This model's maximum context length is 8192 tokens, however you requested "
        "9000 tokens. Please reduce the length of the messages."
    ),
    "insufficient_quota": "You exceeded your current quota, please check your plan and billing.",
    "content_filter": "The response was filtered due to the content management policy.",
}


def _message(status: int, step: FaultStep | None, code: str | None) -> str:
    if step is not None and step.message is not None:
        return step.message
    if code in _CODE_MESSAGES:
        return _CODE_MESSAGES[code]
    return f"fake provider: {_REASONS.get(status, 'Error')} ({status})"


def _created() -> int:
    return int(time.time())


def _form_fields(call: Call) -> dict[str, str]:
    """Text fields of a multipart/form-data body (file parts are skipped)."""
    ctype = call.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/"):
        return {}
    raw = b"content-type: " + ctype.encode("latin-1") + b"\r\n\r\n" + call.body
    message = BytesParser(policy=HTTP).parsebytes(raw)
    out: dict[str, str] = {}
    if not message.is_multipart():
        return out
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out[name] = payload.decode("utf-8", "replace")
    return out


def _body_model(call: Call) -> str | None:
    if isinstance(call.json, Mapping):
        model = call.json.get("model")
        if isinstance(model, str):
            return model
    return None


def _wants_stream(call: Call) -> bool:
    return isinstance(call.json, Mapping) and call.json.get("stream") is True


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
                return Route(op, _form_fields(call).get("model"))
            return Route(op, _body_model(call), op == "chat" and _wants_stream(call))
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
        err = {"message": _message(status, step, code), "type": etype, "param": None,
               "code": code}
        return _dumps({"error": err})

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """Chat completion, embeddings, images, speech bytes, transcription or models."""
        model = route.model or "fake-model"
        body = call.json if isinstance(call.json, Mapping) else {}
        if route.operation == "chat":
            text = _content(step, model)
            prompt, completion = _usage(call, step, text)
            return _json_reply({
                "id": f"chatcmpl-fake{next(_ids)}", "object": "chat.completion",
                "created": _created(), "model": model,
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
            return _json_reply({
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
            return _json_reply({"created": _created(), "data": data})
        if route.operation == "speech":
            fmt = str(body.get("response_format", "mp3"))
            text = str(body.get("input", ""))
            audio = b"ID3\x04fake-audio:" + hashlib.blake2b(text.encode()).digest()
            return BodyReply(200, _AUDIO_TYPES.get(fmt, "audio/mpeg"), audio)
        if route.operation == "transcription":
            fields = _form_fields(call)
            text = _content(step, model)
            if fields.get("response_format") == "text":
                return BodyReply(200, "text/plain; charset=utf-8", text.encode())
            return _json_reply({"text": text})
        if route.operation == "model":
            return _json_reply({"id": model, "object": "model", "created": 1_700_000_000,
                                "owned_by": "fake-provider"})
        return _json_reply({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"}
            for m in ("fake-model", "fake-embedding")
        ]})

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """`data:` chunks of `chat.completion.chunk`, then `data: [DONE]`."""
        model = route.model or "fake-model"
        text = _content(step, model)
        prompt, completion = _usage(call, step, text)
        body = call.json if isinstance(call.json, Mapping) else {}
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
        base = {"id": f"chatcmpl-fake{next(_ids)}", "object": "chat.completion.chunk",
                "created": _created(), "model": model}

        def chunk(delta: Mapping[str, Any], finish: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = dict(base)
            out["choices"] = [{"index": 0, "delta": dict(delta), "logprobs": None,
                               "finish_reason": finish}]
            if include_usage:
                out["usage"] = None
            return out

        tail = [_sse(chunk({}, "stop"))]
        if include_usage:
            usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                     "total_tokens": prompt + completion}
            tail.append(_sse(dict(base, choices=[], usage=usage)))
        err = {"error": {"message": "fake provider: stream failed", "type": "server_error",
                         "param": None, "code": None}}
        return StreamScript(
            preamble=(_sse(chunk({"role": "assistant", "content": ""})),),
            content=tuple(_sse(chunk({"content": part})) for part in split_chunks(text)),
            tail=tuple(tail),
            end=(b"data: [DONE]\n\n",),
            error_event=_sse(err),
            malformed_event=b"data: " + _malformed(chunk({"content": "x"})) + b"\n\n",
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
            return Route("chat", _body_model(call), _wants_stream(call))
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
        return _dumps({"type": "error",
                       "error": {"type": etype, "message": _message(status, step, None)}})

    def _message_obj(self, model: str, call: Call, step: FaultStep) -> dict[str, Any]:
        text = _content(step, model)
        prompt, completion = _usage(call, step, text)
        return {"id": f"msg_fake{next(_ids)}", "type": "message", "role": "assistant",
                "model": model, "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion}}

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """A `message` object, a model object, or the models list."""
        model = route.model or "fake-model"
        if route.operation == "chat":
            return _json_reply(self._message_obj(model, call, step))
        info = {"type": "model", "id": model, "display_name": model,
                "created_at": "2025-01-01T00:00:00Z"}
        if route.operation == "model":
            return _json_reply(info)
        return _json_reply({"data": [dict(info, id="fake-model", display_name="Fake")],
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
            _sse({"type": "content_block_delta", "index": 0,
                  "delta": {"type": "text_delta", "text": part}}, "content_block_delta")
            for part in split_chunks(text)
        )
        err = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        bad = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta",
                                                                     "text": "x"}}
        return StreamScript(
            preamble=(
                _sse({"type": "message_start", "message": start}, "message_start"),
                _sse({"type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}}, "content_block_start"),
                _sse({"type": "ping"}, "ping"),
            ),
            content=deltas,
            tail=(
                _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                _sse({"type": "message_delta",
                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                      "usage": {"output_tokens": msg["usage"]["output_tokens"]}},
                     "message_delta"),
            ),
            end=(_sse({"type": "message_stop"}, "message_stop"),),
            error_event=_sse(err, "error"),
            malformed_event=b"event: content_block_delta\ndata: " + _malformed(bad) + b"\n\n",
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
        return _dumps({"error": {"code": status, "message": _message(status, step, None),
                                 "status": gstatus}})

    def _usage_meta(self, call: Call, step: FaultStep, text: str) -> dict[str, int]:
        prompt, completion = _usage(call, step, text)
        return {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion}

    def reply(self, route: Route, call: Call, step: FaultStep) -> BodyReply:
        """generateContent, (batch)embedContent, a model, or the models list."""
        model = route.model or "fake-model"
        body = call.json if isinstance(call.json, Mapping) else {}
        if route.operation == "chat":
            text = _content(step, model)
            return _json_reply({
                "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": self._usage_meta(call, step, text), "modelVersion": model,
            })
        if route.operation in ("embeddings", "embedding"):
            def text_of(req: object) -> str:
                parts: list[str] = []
                if isinstance(req, Mapping):
                    _collect_text(req.get("content"), parts)
                return "".join(parts)

            if route.operation == "embedding":
                return _json_reply({"embedding": {"values": embedding_vector(text_of(body))}})
            reqs = body.get("requests", [])
            reqs = reqs if isinstance(reqs, list) else []
            return _json_reply({"embeddings": [{"values": embedding_vector(text_of(r))}
                                               for r in reqs]})
        info = {"name": f"models/{model}", "version": "001", "displayName": model,
                "inputTokenLimit": 1_048_576, "outputTokenLimit": 8192,
                "supportedGenerationMethods": ["generateContent", "countTokens"]}
        if route.operation == "model":
            return _json_reply(info)
        return _json_reply({"models": [dict(info, name="models/fake-model",
                                            displayName="Fake")]})

    def stream(self, route: Route, call: Call, step: FaultStep) -> StreamScript:
        """`data:` candidates per chunk; the end marker is a candidate with finishReason."""
        model = route.model or "fake-model"
        text = _content(step, model)

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
            content=tuple(_sse(cand(part)) for part in split_chunks(text)),
            tail=(),
            end=(_sse(final),),
            error_event=_sse(err),
            malformed_event=b"data: " + _malformed(cand("x")) + b"\n\n",
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
