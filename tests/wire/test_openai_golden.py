"""Golden tests of the OpenAI-compatible codec (SPEC R-73, R-74, R-76, R-105, R-67).

Requests must match the fixtures byte-for-byte in meaning (same JSON body,
headers, URL); responses and SSE transcripts written from the public API
reference must parse to the expected values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from _openai_helpers import FIXTURES, load_json, make_attempt, run_stream

from meshcore.events import AttemptFailed, AttemptSucceeded
from meshcore.wire.classify import classify
from meshcore.wire.models import (
    ChatCompletion,
    CreateEmbeddingResponse,
    ImagesResponse,
    SpeechResponse,
    Transcription,
)
from meshcore.wire.registry import build_models_request, parse_models_response

REQUEST_CASES: list[dict[str, Any]] = load_json("requests.json")


@pytest.mark.parametrize("case", REQUEST_CASES, ids=[c["name"] for c in REQUEST_CASES])
def test_request_golden_r74(case: dict[str, Any]) -> None:
    """R-74 pass-through body, R-73 URL and auth, R-76 options, R-105 extra_body."""
    a = make_attempt(
        case["input"], connector=case["connector"], model_name=case["model_name"],
        api_key=case["api_key"], base_url=case.get("base_url"), options=case.get("options"),
        operation=case["operation"],
    )
    req = a.next_request()
    assert req is not None
    exp = case["expected"]
    assert req.method == exp["method"]
    assert req.url == exp["url"]
    assert [list(h) for h in req.headers] == exp["headers"]
    assert json.loads(req.body) == exp["body"]
    assert a.next_request() is None  # single-step family


def _stream_summary(name: str, cuts: list[int] | None = None) -> dict[str, Any]:
    data = (FIXTURES / name).read_bytes()
    a, chunks = run_stream(data, cuts)
    fact = a.outcome()
    tool_calls: dict[int, dict[str, Any]] = {}
    for ch in chunks:
        for choice in ch.choices:
            for tc in choice.delta.tool_calls or ():
                entry = tool_calls.setdefault(tc.index, {"index": tc.index, "id": None,
                                                         "name": "", "arguments": ""})
                if tc.id:
                    entry["id"] = tc.id
                if tc.function is not None:
                    entry["name"] += tc.function.name or ""
                    entry["arguments"] += tc.function.arguments or ""
    finish = [c.finish_reason for ch in chunks for c in ch.choices if c.finish_reason]
    usage = next((ch.usage for ch in chunks if ch.usage is not None), None)
    return {
        "fact": fact, "chunks": chunks, "text": a.partial_text,
        "finish": finish, "usage": usage, "tool_calls": list(tool_calls.values()),
    }


STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse"))


@pytest.mark.parametrize("name", STREAMS)
def test_stream_transcripts_r67(name: str) -> None:
    """R-67: chunk shape, text, finish reason, usage on the final chunk; R-68
    truncated streams are failures, never success."""
    exp = load_json(name.replace(".sse", ".expected.json"))
    s = _stream_summary(name)
    fact = s["fact"]
    assert s["text"] == exp["text"]
    if exp["outcome"] == "success":
        assert isinstance(fact, AttemptSucceeded)
        chunks = s["chunks"]
        assert len(chunks) == exp["chunks"]
        assert sum(1 for c in chunks if c.has_content) == exp["content_chunks"]
        assert chunks[0].choices[0].delta.role == "assistant"
        assert {c.id for c in chunks} == {"chatcmpl-000000000000000000000001"}
        assert {c.model for c in chunks} == {"openai.gpt-4o"}
        assert all(c.object == "chat.completion.chunk" and c.created == 1_700_000_000
                   for c in chunks)
        assert s["finish"] == [exp["finish_reason"]]
        assert chunks[-1].choices[0].finish_reason == exp["finish_reason"]
        if exp["usage"] is None:
            assert s["usage"] is None and fact.usage is None
        else:
            assert chunks[-1].usage is not None
            assert chunks[-1].usage.model_dump() == exp["usage"]
            assert fact.usage is not None
            assert fact.usage.prompt_tokens == exp["usage"]["prompt_tokens"]
        assert s["tool_calls"] == exp["tool_calls"]
        assert fact.output_chars >= len(exp["text"])
    else:
        assert isinstance(fact, AttemptFailed)
        assert fact.kind.value == exp["outcome"]
        assert classify(fact, "openai.llm.v1").outcome.value == exp["class"]
        assert fact.output_chars == len(exp["text"])


def _nonstream(body: bytes, operation: str, inp: dict[str, Any],
               ctype: str = "application/json") -> Any:
    a = make_attempt(inp, operation=operation)
    assert a.next_request() is not None
    a.receive_head(200, [("content-type", ctype)])
    a.receive_data(body[:7])
    a.receive_data(body[7:])
    a.receive_end()
    return a


def test_chat_response_text_r41() -> None:
    """R-41: the response carries the canonical model ID and our id, never the provider's."""
    a = _nonstream((FIXTURES / "chat_response_text.json").read_bytes(), "chat",
                   {"messages": [{"role": "user", "content": "hi"}]})
    res = a.result
    assert isinstance(res, ChatCompletion)
    assert res.model == "openai.gpt-4o" and res.id == "chatcmpl-000000000000000000000001"
    assert res.choices[0].message.content == "Hello! How can I assist you today?"
    assert res.choices[0].finish_reason == "stop"
    dump = res.model_dump()
    assert dump["object"] == "chat.completion"
    assert dump["usage"] == {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
    fact = a.outcome()
    assert isinstance(fact, AttemptSucceeded) and fact.usage is not None
    assert (fact.usage.prompt_tokens, fact.usage.completion_tokens) == (19, 10)
    assert fact.output_chars == len("Hello! How can I assist you today?")


def test_chat_response_tool_calls() -> None:
    a = _nonstream((FIXTURES / "chat_response_tools.json").read_bytes(), "chat",
                   {"messages": [{"role": "user", "content": "weather?"}]})
    res = a.result
    assert isinstance(res, ChatCompletion)
    msg = res.choices[0].message
    assert msg.content is None and msg.tool_calls is not None
    assert msg.tool_calls[0].function.name == "get_current_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == {"location": "Boston, MA"}
    assert res.model_dump()["choices"][0]["message"]["content"] is None
    assert a.has_content


def test_chat_response_content_filter_is_blocked_r33() -> None:
    """R-33 content_filter: a 2xx answer that only reports a filter block."""
    a = _nonstream((FIXTURES / "chat_response_filtered.json").read_bytes(), "chat",
                   {"messages": [{"role": "user", "content": "x"}]})
    fact = a.outcome()
    assert isinstance(fact, AttemptFailed)
    assert classify(fact, "openai.llm.v1").outcome.value == "content_filter"


def test_embeddings_images_transcription_r71() -> None:
    """R-71: embeddings, images and audio travel through the same attempt path."""
    e = _nonstream((FIXTURES / "embeddings_response.json").read_bytes(), "embeddings",
                   {"input": ["a", "b"]}).result
    assert isinstance(e, CreateEmbeddingResponse)
    assert [d.index for d in e.data] == [0, 1]
    assert e.data[0].embedding == (0.0023064255, -0.009327292, 0.015797347)
    assert e.usage.prompt_tokens == 8 and e.model == "openai.gpt-4o"
    i = _nonstream((FIXTURES / "images_response.json").read_bytes(), "images",
                   {"prompt": "otter"}).result
    assert isinstance(i, ImagesResponse)
    assert i.data[0].url is not None and i.data[1].b64_json == "iVBORw0KGgo="
    t = _nonstream((FIXTURES / "transcription_verbose.json").read_bytes(), "transcription",
                   {"file": ("a.mp3", b"ID3"), "response_format": "verbose_json"}).result
    assert isinstance(t, Transcription)
    assert t.text.startswith("The beach") and t.language == "english"
    assert t.duration is not None and abs(t.duration - 8.47) < 1e-6
    assert t.segments is not None and t.segments[0]["end"] == 3.3


def test_transcription_text_format_and_speech_bytes() -> None:
    t = _nonstream(b"plain words\n", "transcription",
                   {"file": b"RIFF", "response_format": "text"}, "text/plain").result
    assert isinstance(t, Transcription) and t.text == "plain words\n"
    audio = bytes(range(256)) * 4
    s = _nonstream(audio, "speech", {"input": "hi", "voice": "nova"}, "audio/mpeg")
    assert isinstance(s.result, SpeechResponse)
    assert s.result.content == audio and bytes(s.result) == audio
    assert s.result.content_type == "audio/mpeg"
    assert s.has_content
    bad = _nonstream(b'{"error": "x"}', "speech", {"input": "hi", "voice": "nova"})
    assert isinstance(bad.outcome(), AttemptFailed)


def test_models_list_r72() -> None:
    """R-72 Model Catalogue: build the request and parse the answer."""
    from meshcore.config.schema import ProviderConfig

    prov = ProviderConfig(id="groq.api.v1", connector="groq.api.v1")
    req = build_models_request(prov, "gsk")
    assert (req.method, req.url) == ("GET", "https://api.groq.com/openai/v1/models")
    assert ("authorization", "Bearer gsk") in req.headers
    infos = parse_models_response(prov, (FIXTURES / "models_list.json").read_bytes())
    assert [m.id for m in infos] == ["gpt-4o-mini", "text-embedding-3-small",
                                     "llama-3.3-70b-versatile"]
    assert infos[2].context_window == 131072 and infos[0].owned_by == "system"
    with pytest.raises(ValueError):
        parse_models_response(prov, b'{"data": [{"id": 3}]}')
    with pytest.raises(ValueError):
        parse_models_response(prov, b"not json")
