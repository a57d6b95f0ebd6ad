"""Shared types and helpers of the fake provider's wire shapes.

`Route` says what a request asks for, `Call` is the received request, `BodyReply` a complete
answer and `StreamScript` the grouped SSE events of a streamed answer. The helpers build the
pieces every family needs: chunk splitting, deterministic embeddings, token estimates, error
messages and multipart form fields.
"""

from __future__ import annotations

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
    "BodyReply",
    "Call",
    "Family",
    "Route",
    "StreamScript",
    "embedding_vector",
    "next_id",
    "split_chunks",
]

_ids = itertools.count(1)


def next_id() -> int:
    """A process-wide increasing number for response IDs."""
    return next(_ids)


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


def dumps(value: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def sse(data: object, event: str | None = None) -> bytes:
    """One SSE event: an optional `event:` line and a `data:` line."""
    payload = data if isinstance(data, bytes) else dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def collect_text(value: object, out: list[str]) -> None:
    """Append every prompt-like string found in a request body to `out`."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("text", "content", "input", "parts", "contents", "messages", "system",
                       "systemInstruction", "prompt"):
                collect_text(item, out)
    elif isinstance(value, list):
        for item in value:
            collect_text(item, out)


def prompt_tokens(call: Call) -> int:
    """A rough prompt token estimate: the request text length / 4, at least 1."""
    out: list[str] = []
    collect_text(call.json, out)
    return max(1, sum(len(s) for s in out) // 4)


def token_usage(call: Call, step: FaultStep, content: str) -> tuple[int, int]:
    """(prompt, completion) tokens: the step's `usage` or estimates."""
    given = step.usage or {}
    prompt = given.get("prompt_tokens", prompt_tokens(call))
    completion = given.get("completion_tokens", len(split_chunks(content)))
    return prompt, completion


def reply_text(step: FaultStep, model: str | None) -> str:
    """The reply text: the step's `content`, else "Hello from <model>"."""
    return step.content if step.content is not None else f"Hello from {model or 'fake-model'}"


def json_reply(value: object, headers: tuple[tuple[str, str], ...] = ()) -> BodyReply:
    """A 200 JSON reply."""
    return BodyReply(200, "application/json", dumps(value), headers)


def truncated_json(value: object) -> bytes:
    """The first half of the JSON encoding of `value`: never valid JSON."""
    raw = dumps(value)
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


def error_message(status: int, step: FaultStep | None, code: str | None) -> str:
    """The error message: the step's `message`, a code-specific text, or a generic one."""
    if step is not None and step.message is not None:
        return step.message
    if code in _CODE_MESSAGES:
        return _CODE_MESSAGES[code]
    return f"fake provider: {_REASONS.get(status, 'Error')} ({status})"


def now_ts() -> int:
    """Wall-clock seconds for `created` fields."""
    return int(time.time())


def form_fields(call: Call) -> dict[str, str]:
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


def body_model(call: Call) -> str | None:
    """The `model` field of a JSON body, if any."""
    if isinstance(call.json, Mapping):
        model = call.json.get("model")
        if isinstance(model, str):
            return model
    return None


def wants_stream(call: Call) -> bool:
    """True when the JSON body says `"stream": true`."""
    return isinstance(call.json, Mapping) and call.json.get("stream") is True
