"""Atheris harness over the non-OpenAI family codecs' response parsers.

`one_input(data)` picks a family, an operation and a response status from
the first bytes, then feeds the rest as the response body (in pieces whose
sizes also come from the input) to a real attempt object, step after step
for multi-step families. Invariant: the attempt ends in a success or a
classified failure fact and never raises; a models-list parser raises only
ValueError. Run with `python fuzz/fuzz_codecs.py` when atheris is installed.
"""

from __future__ import annotations

import contextlib
from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.types import FailureKind
from meshcore.wire.models import (
    ChatCompletionRequest,
    EmbeddingRequest,
    SpeechRequest,
    TranscriptionRequest,
)
from meshcore.wire.registry import parse_models_response, start_attempt

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("anthropic", "anthropic.claude.v1", "claude-3-5-haiku-20241022"),
    ("gemini", "google.gemini.v1", "gemini-1.5-flash"),
    ("cohere", "cohere.nlp.v1", "command-r-plus"),
    ("elevenlabs", "elevenlabs.tts.v1", "eleven_multilingual_v2"),
    ("assemblyai", "assemblyai.stt.v1", "best"),
)
STATUSES = (200, 200, 200, 200, 400, 401, 404, 413, 422, 429, 500, 503, 529, 201, 302)
_CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _request(family: str, selector: int) -> Any:
    if family == "elevenlabs":
        return SpeechRequest(model="m", input="hello", voice="alloy")
    if family == "assemblyai":
        return TranscriptionRequest(model="m", file=b"RIFF....WAVE")
    if family in ("gemini", "cohere") and selector % 3 == 2:
        return EmbeddingRequest(model="m", input=("a", "b"))
    return ChatCompletionRequest.from_dict(dict(_CHAT, stream=selector % 3 == 1))


def run_one(family_index: int, selector: int, status_index: int, body: bytes,
            piece: int) -> AttemptSucceeded | AttemptFailed:
    """Drive one attempt of one family with `body` as every step's response."""
    family, connector, name = FAMILIES[family_index % len(FAMILIES)]
    attempt = start_attempt(
        _request(family, selector),
        model=ModelConfig(id="fz.m", provider="fz", name=name),
        provider=ProviderConfig(id="fz", connector=connector),
        api_key="k", attempt_id="a", model_id="fz.m", response_id="r", created=0,
    )
    status = STATUSES[status_index % len(STATUSES)]
    size = max(1, piece)
    for _ in range(6):
        req = attempt.next_request()
        if req is None:
            break
        attempt.receive_head(status, [("content-type", "application/json")])
        for start in range(0, len(body), size):
            attempt.receive_data(body[start:start + size])
        attempt.receive_end()
    if not attempt.done:
        attempt.fail(FailureKind.TIMEOUT)
    out = attempt.outcome()
    if not isinstance(out, (AttemptSucceeded, AttemptFailed)):
        raise AssertionError(f"unexpected outcome {out!r}")
    return out


def one_input(data: bytes) -> None:
    """Atheris entry point (also used by the smoke test)."""
    if len(data) < 4:
        return
    run_one(data[0], data[1], data[2], data[4:], data[3] or 1)
    provider = ProviderConfig(id="fz", connector=FAMILIES[data[0] % 4][1])
    with contextlib.suppress(ValueError):
        parse_models_response(provider, data[4:])


def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":  # pragma: no cover
    main()
