"""Helpers shared by the OpenAI-family wire tests (not a test module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.types import Operation
from meshcore.wire.attempt import Attempt
from meshcore.wire.models import ChatCompletionChunk, CompletionRequest, parse_request
from meshcore.wire.registry import start_attempt

FIXTURES = Path(__file__).parent / "fixtures" / "openai"


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_attempt(
    request: CompletionRequest | dict[str, Any],
    *,
    connector: str = "openai.llm.v1",
    model_name: str = "gpt-4o",
    api_key: str | None = "sk-test",
    base_url: str | None = None,
    options: dict[str, Any] | None = None,
    operation: str = "chat",
    attempt_id: str = "att-1",
) -> Attempt:
    if isinstance(request, dict):
        request = parse_request(Operation(operation), request)
    prefix = connector.split(".")[0]
    return start_attempt(
        request,
        model=ModelConfig(id=f"{prefix}.{model_name.lower()}", provider=connector, name=model_name),
        provider=ProviderConfig(id=connector, connector=connector, base_url=base_url,
                                options=dict(options or {})),
        api_key=api_key,
        attempt_id=attempt_id,
        model_id=f"{prefix}.{model_name.lower()}",
        response_id="chatcmpl-000000000000000000000001",
        created=1_700_000_000,
    )


def stream_attempt() -> Attempt:
    a = make_attempt({"messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert a.next_request() is not None
    a.receive_head(200, [("content-type", "text/event-stream")])
    return a


def run_stream(data: bytes, pieces: list[int] | None = None) -> tuple[Attempt, list[ChatCompletionChunk]]:
    """Feed `data` split at the given cut points; return the attempt and all chunks."""
    a = stream_attempt()
    out: list[ChatCompletionChunk] = []
    cuts = sorted(set(p for p in (pieces or []) if 0 < p < len(data)))
    start = 0
    for cut in [*cuts, len(data)]:
        out.extend(a.receive_data(data[start:cut]))
        start = cut
    out.extend(a.receive_end())
    return a, out
