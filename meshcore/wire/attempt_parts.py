"""Values and pure helpers around one attempt (split out of `attempt`).

Theory of operation: `attempt.Attempt` drives one provider call; this
module holds what it and the family codecs share besides the class: the
`HttpRequest` a driver sends and the `AttemptContext` a codec reads, URL,
JSON-body and auth-header helpers (R-73), the allow-list of headers kept in
facts, what a non-streamed result says about text, usage and content
(R-60, R-65), and the first-chunk role rewrite (R-67). Everything here is
pure; `attempt` re-exports the public names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.connectors import ProviderConnectorInfo
from meshcore.frozen import fast_frozen
from meshcore.types import Usage
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceDelta,
    ChunkChoice,
    CompletionResponse,
    CompletionUsage,
    CreateEmbeddingResponse,
    SpeechResponse,
    Transcription,
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request the driver sends. `delay_s` asks the driver to wait
    first (polling steps); `stream` says the response body is an SSE stream."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    delay_s: float = 0.0
    stream: bool = False


fast_frozen(HttpRequest)


@dataclass(frozen=True, slots=True)
class AttemptContext:
    """Everything a codec needs besides the request."""

    model: ModelConfig
    provider: ProviderConfig
    connector: ProviderConnectorInfo
    api_key: str | None
    attempt_id: str
    model_id: str
    response_id: str
    created: int
    base_url: str

    @property
    def wire_model(self) -> str:
        """The provider-native model name sent on the wire (R-15 `name`)."""
        return self.model.name

    @property
    def options(self) -> dict[str, Any]:
        """Connector-specific provider keys (R-76)."""
        return self.provider.options


fast_frozen(AttemptContext)


class ContentBlocked(Exception):
    """Raised by a codec's `parse_body` for a 2xx body reporting a safety block."""


ALLOWED_HEADER_PREFIXES: tuple[str, ...] = ("x-ratelimit-", "anthropic-ratelimit-")
ALLOWED_HEADERS: frozenset[str] = frozenset({"retry-after", "retry-after-ms"})


def allowed_headers(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The allow-listed headers kept in facts (retry-after*, rate limits)."""
    return tuple(
        (n, v) for n, v in headers
        if n in ALLOWED_HEADERS or n.startswith(ALLOWED_HEADER_PREFIXES)
    )


def join_url(base: str, path: str) -> str:
    """`base` + `/` + `path` with exactly one slash between them."""
    return base.rstrip("/") + "/" + path.lstrip("/")


# `json.dumps(obj, separators=(",", ":"), ensure_ascii=False)` builds this
# encoder on every call; its `encode` gives the identical text.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What `_COMPACT.encode` builds per call for a dict or list (the C encoder,
# where there is one), made once and without the circular-reference check:
# its marker dict is per call, the only state such an encoder keeps.
_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
_REUSED = _C_ENCODER(None, _COMPACT.default, json.encoder.encode_basestring, None, ":", ",",
                     False, False, True) if _C_ENCODER is not None else None


def json_body(obj: Any) -> bytes:
    """Compact UTF-8 JSON (request bodies): `_COMPACT.encode(obj)` in UTF-8.
    A dict goes through the reused encoder first; should that fail in any
    way (a circular reference shows as a RecursionError there), the general
    encoder runs and gives the text or raises exactly what it always did."""
    if _REUSED is not None and type(obj) is dict:
        try:
            return "".join(_REUSED(obj, 0)).encode("utf-8")
        except Exception:  # the general encoder below decides (same text or same error)
            pass
    return _COMPACT.encode(obj).encode("utf-8")


def auth_headers(ctx: AttemptContext) -> list[tuple[str, str]]:
    """The auth header(s) of the connector's style (R-73) for `ctx.api_key`.

    Styles: `bearer`, `optional-bearer` (only when a key is set), `x-api-key`,
    `x-goog-api-key`, `xi-api-key`, `raw` (`Authorization: <key>`). The
    provider option `auth_header` (openai.compatible.v1, R-76) names another
    header that receives the bare key; `Authorization` keeps `Bearer`.
    """
    key = ctx.api_key
    if not key:
        return []
    custom = ctx.options.get("auth_header")
    if isinstance(custom, str) and custom and custom.lower() != "authorization":
        return [(custom.lower(), key)]
    style = ctx.connector.auth
    if style in ("bearer", "optional-bearer"):
        return [("authorization", f"Bearer {key}")]
    if style == "raw":
        return [("authorization", key)]
    return [(style, key)]


def text_of_response(resp: CompletionResponse) -> str:
    """The text a non-streamed result carries (for output_chars, R-60)."""
    if isinstance(resp, ChatCompletion):
        return "".join(c.message.content or "" for c in resp.choices)
    if isinstance(resp, Transcription):
        return resp.text
    return ""


def usage_of_response(resp: CompletionResponse) -> CompletionUsage | None:
    """The usage a non-streamed result reports, if any."""
    if isinstance(resp, ChatCompletion):
        return resp.usage
    if isinstance(resp, CreateEmbeddingResponse):
        u = resp.usage
        if u.prompt_tokens or u.total_tokens:
            return CompletionUsage(u.prompt_tokens, 0, u.total_tokens or u.prompt_tokens)
    return None


def response_has_content(res: CompletionResponse, text: str) -> bool:
    if isinstance(res, ChatCompletion):
        return bool(text) or any(c.message.tool_calls for c in res.choices)
    if isinstance(res, SpeechResponse):
        return bool(res.content)
    if isinstance(res, Transcription):
        return bool(text)
    return True


def with_assistant_role(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
    """`chunk` with `role: assistant` in its first choice's delta (R-67):
    `dataclasses.replace` three times, written out for the exact classes."""
    c0 = chunk.choices[0]
    d = c0.delta
    if type(chunk) is not ChatCompletionChunk or type(c0) is not ChunkChoice or (
            type(d) is not ChoiceDelta):
        return replace(chunk, choices=(replace(c0, delta=replace(d, role="assistant")),
                                       *chunk.choices[1:]))
    choice = ChunkChoice(c0.index, ChoiceDelta("assistant", d.content, d.tool_calls, d.refusal),
                         c0.finish_reason, c0.logprobs)
    return ChatCompletionChunk(chunk.id, chunk.created, chunk.model,
                               (choice, *chunk.choices[1:]), chunk.usage, chunk.object,
                               chunk.system_fingerprint)


def usage_of(u: CompletionUsage | None) -> Usage | None:
    if u is None:
        return None
    return Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens)
