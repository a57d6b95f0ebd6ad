"""Atheris harness for the OpenAI-compatible codec's attempt object.

Run: `python fuzz/fuzz_openai.py` (needs the `fuzz` extra). The first bytes
choose the operation, streaming, status and chunk size; the rest is the
response body. Invariant: nothing raises out of the attempt object, the
attempt always ends with a fact, a failure classifies, and a stream only
succeeds when it carried an end marker or a finish reason (SPEC R-67).
"""

from __future__ import annotations

from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.types import OutcomeClass
from meshcore.wire.classify import classify
from meshcore.wire.models import parse_request
from meshcore.wire.registry import start_attempt

_OPS = ("chat", "chat-stream", "embeddings", "images", "speech", "transcription")
_INPUTS: dict[str, dict[str, Any]] = {
    "chat": {"messages": [{"role": "user", "content": "x"}]},
    "chat-stream": {"messages": [{"role": "user", "content": "x"}], "stream": True},
    "embeddings": {"input": ["a"]},
    "images": {"prompt": "p"},
    "speech": {"input": "hi", "voice": "alloy"},
    "transcription": {"file": b"RIFF", "response_format": "verbose_json"},
}
_STATUSES = (200, 200, 200, 201, 400, 401, 404, 413, 422, 429, 500, 503, 529, 302)
_MODEL = ModelConfig(id="openai.gpt-4o", provider="openai.llm.v1", name="gpt-4o")
_PROVIDER = ProviderConfig(id="openai.llm.v1", connector="openai.llm.v1")


def one_input(data: bytes) -> None:
    """Drive one attempt with fuzzed response bytes; raises AssertionError on a bug."""
    if len(data) < 3:
        return
    op = _OPS[data[0] % len(_OPS)]
    status = _STATUSES[data[1] % len(_STATUSES)]
    step = data[2] % 16 + 1
    body = data[3:]
    operation = "chat" if op == "chat-stream" else op
    attempt = start_attempt(
        parse_request(operation, dict(_INPUTS[op])), model=_MODEL, provider=_PROVIDER,
        api_key="sk-fuzz", attempt_id="fuzz", model_id="openai.gpt-4o",
        response_id="chatcmpl-fuzz", created=0,
    )
    if attempt.next_request() is None:
        raise AssertionError("no request built")
    ctype = "text/event-stream" if op == "chat-stream" else "application/json"
    attempt.receive_head(status, [("content-type", ctype), ("retry-after", body[:4].hex())])
    for i in range(0, len(body), step):
        attempt.receive_data(body[i:i + step])
    attempt.receive_end()
    fact = attempt.outcome()
    if not attempt.done:
        raise AssertionError("attempt not done after receive_end")
    if isinstance(fact, AttemptFailed):
        if classify(fact, "openai.llm.v1").outcome is OutcomeClass.SUCCESS:
            raise AssertionError("a failure classified as success")
        if len(fact.body_excerpt.encode("utf-8")) > 2048 * 3:
            raise AssertionError("excerpt too long")
    elif isinstance(fact, AttemptSucceeded):
        if not 200 <= status < 300:
            raise AssertionError("non-2xx status succeeded")
        if op == "chat-stream" and b"[DONE]" not in body and b"finish_reason" not in body:
            raise AssertionError("stream succeeded without an end marker")
    else:
        raise AssertionError(f"unexpected fact {fact!r}")


def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":
    main()
