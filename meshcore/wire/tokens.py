"""Token estimation and request features (SPEC R-30, R-27).

Theory of operation: before a call the router needs an estimate of the
prompt size (admission against `context_window`, budget reservations,
cost-first ordering). R-30 fixes the rule: ceil(characters of all text
parts / 4) + 3 per message + 85 per image part. Only text parts count as
characters (a string content, or parts of type `text`); tool calls and
other parts add nothing. `features_of` summarises what a request needs
into a `RequestFeatures` value that holds no user content; a request whose
messages are all plain text (the common case) is summarised in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from meshcore.types import Operation, RequestFeatures
from meshcore.wire.models import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    EmbeddingRequest,
    ImageRequest,
    SpeechRequest,
    TranscriptionRequest,
)

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_PER_IMAGE = 85


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _count(content: Any) -> tuple[int, int]:
    """(text characters, image parts) of one message content."""
    if content is None:
        return 0, 0
    if isinstance(content, str):
        return len(content), 0
    chars = images = 0
    for part in content:
        if isinstance(part, str):
            chars += len(part)
            continue
        if isinstance(part, Mapping):
            ptype, text = part.get("type"), part.get("text")
        else:
            ptype, text = getattr(part, "type", None), getattr(part, "text", None)
        if ptype == "text" and isinstance(text, str):
            chars += len(text)
        elif ptype in ("image_url", "image", "input_image"):
            images += 1
    return chars, images


def estimate_tokens(messages: Iterable[ChatMessage | Mapping[str, Any]]) -> int:
    """R-30: ceil(text chars / 4) + 3 per message + 85 per image part."""
    chars = images = count = 0
    for msg in messages:
        count += 1
        content = msg.get("content") if isinstance(msg, Mapping) else msg.content
        c, i = _count(content)
        chars += c
        images += i
    return _ceil_div(chars, CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * count + TOKENS_PER_IMAGE * images


def estimate_text_tokens(text: str) -> int:
    """ceil(len(text) / 4): the R-30 rule for a bare text."""
    return _ceil_div(len(text), CHARS_PER_TOKEN)


def _plain_prompt_tokens(messages: Any) -> int | None:
    """`estimate_tokens(messages)` when every message is a `ChatMessage` with
    a str (or no) content, else None."""
    if type(messages) is not tuple:
        return None
    chars = 0
    for m in messages:
        if type(m) is not ChatMessage:
            return None
        c = m.content
        if type(c) is str:
            chars += len(c)
        elif c is not None:
            return None
    return _ceil_div(chars, CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(messages)


def _has_image(req: ChatCompletionRequest) -> bool:
    for m in req.messages:
        if isinstance(m.content, tuple) and any(p.type == "image_url" for p in m.content):
            return True
    return False


def features_of(request: CompletionRequest) -> RequestFeatures:
    """What a request needs (operation, stream, tools, vision, response
    format, prompt-token estimate, max_tokens, user)."""
    if isinstance(request, ChatCompletionRequest):
        plain = _plain_prompt_tokens(request.messages)
        if plain is not None:  # text-only messages: no image parts, so no vision
            rf = request.response_format
            return RequestFeatures(Operation.CHAT, request.stream, bool(request.tools), False,
                                   rf.type if rf else None, plain, request.max_tokens,
                                   request.user)
        return RequestFeatures(
            operation=Operation.CHAT,
            stream=request.stream,
            tools=bool(request.tools),
            vision=_has_image(request),
            response_format=request.response_format.type if request.response_format else None,
            prompt_tokens=estimate_tokens(request.messages),
            max_tokens=request.max_tokens,
            user=request.user,
        )
    if isinstance(request, EmbeddingRequest):
        return RequestFeatures(
            operation=Operation.EMBEDDINGS,
            prompt_tokens=_ceil_div(sum(len(s) for s in request.inputs), CHARS_PER_TOKEN),
            user=request.user,
        )
    if isinstance(request, ImageRequest):
        return RequestFeatures(operation=Operation.IMAGES,
                               prompt_tokens=estimate_text_tokens(request.prompt),
                               user=request.user)
    if isinstance(request, SpeechRequest):
        return RequestFeatures(operation=Operation.SPEECH,
                               prompt_tokens=estimate_text_tokens(request.input))
    assert isinstance(request, TranscriptionRequest)
    return RequestFeatures(operation=Operation.TRANSCRIPTION,
                           prompt_tokens=estimate_text_tokens(request.prompt or ""))
