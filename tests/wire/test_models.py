"""Unified model: parsing user input (R-105) and OpenAI-shaped dumps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    EmbeddingRequest,
    ImageRequest,
    Model,
    ModelList,
    SpeechRequest,
    SpeechResponse,
    TranscriptionRequest,
    parse_request,
)

MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("data", "field"), [
    ({"messages": "hi"}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": 3, "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
     "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"messages": MSG, "temperature": "hot"}, "temperature"),
    ({"messages": MSG, "temperature": 3}, "temperature"),
    ({"messages": MSG, "max_tokens": 0}, "max_tokens"),
    ({"messages": MSG, "max_tokens": True}, "max_tokens"),
    ({"messages": MSG, "n": 1.5}, "n"),
    ({"messages": MSG, "stop": [1]}, "stop[0]"),
    ({"messages": MSG, "stream": "yes"}, "stream"),
    ({"messages": MSG, "tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"messages": MSG, "response_format": {"type": "yaml"}}, "response_format.type"),
    ({"messages": MSG, "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
    ({"messages": MSG, "extra_body": []}, "extra_body"),
    ({"messages": MSG, "seed": "7"}, "seed"),
])
def test_r105_chat_ill_typed_names_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as exc:
        ChatCompletionRequest.from_dict(data)
    assert str(exc.value).startswith(field + ":")


@pytest.mark.parametrize(("op", "data", "field"), [
    ("embeddings", {"input": 3}, "input"),
    ("embeddings", {"input": []}, "input"),
    ("embeddings", {"input": ["a", 1]}, "input[1]"),
    ("embeddings", {"input": "a", "dimensions": 0}, "dimensions"),
    ("images", {"prompt": None}, "prompt"),
    ("images", {"prompt": "x", "response_format": "png"}, "response_format"),
    ("speech", {"input": "x", "speed": 9}, "speed"),
    ("speech", {"voice": "alloy"}, "input"),
    ("transcription", {"file": "path.wav"}, "file"),
    ("transcription", {"file": b"x", "temperature": 2}, "temperature"),
])
def test_r105_other_ill_typed(op: str, data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_request(op, data)
    assert str(exc.value).startswith(field + ":")


def test_chat_request_roundtrip_and_max_completion_tokens() -> None:
    data = {
        "model": "chat", "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "t"},
                                         {"type": "image_url", "image_url": "https://i"}]},
        ],
        "max_completion_tokens": 9, "stop": "END", "stream": True,
        "stream_options": {"include_usage": True}, "logit_bias": {"1": 2},
    }
    req = ChatCompletionRequest.from_dict(data)
    assert req.max_tokens == 9 and req.stop == "END"
    dump = req.model_dump()
    assert dump["messages"][1]["content"][1] == {"type": "image_url",
                                                  "image_url": {"url": "https://i"}}
    assert dump["max_tokens"] == 9 and dump["logit_bias"] == {"1": 2}
    assert "extra_body" not in dump and "extra_params" not in dump
    assert ChatCompletionRequest.from_dict(dump) == req


def test_other_requests_parse() -> None:
    assert EmbeddingRequest.from_dict({"input": "a"}).inputs == ("a",)
    assert ImageRequest.from_dict({"prompt": "p", "n": 2}).n == 2
    assert SpeechRequest.from_dict({"input": "x"}).voice == "alloy"
    t = TranscriptionRequest.from_dict({"file": ("a.mp3", bytearray(b"ID3"))})
    assert (t.filename, t.file) == ("a.mp3", b"ID3")
    assert "file" not in t.model_dump()


def test_response_dumps_keep_openai_nulls() -> None:
    resp = ChatCompletion(id="i", created=1, model="m", choices=(
        Choice(index=0, message=ChatCompletionMessage(content=None), finish_reason="stop"),))
    d = resp.model_dump()
    assert d["choices"][0]["message"] == {"role": "assistant", "content": None}
    assert d["choices"][0]["logprobs"] is None and "usage" not in d
    assert json.loads(resp.model_dump_json()) == d
    chunk = ChatCompletionChunk(id="i", created=1, model="m",
                                choices=(ChunkChoice(0, ChoiceDelta(role="assistant")),))
    cd = chunk.model_dump()
    assert cd["choices"][0] == {"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}
    assert cd["object"] == "chat.completion.chunk"
    assert not chunk.has_content


def test_r65_has_content_flags() -> None:
    def ch(**kw: Any) -> ChatCompletionChunk:
        return ChatCompletionChunk(id="i", created=1, model="m",
                                   choices=(ChunkChoice(0, ChoiceDelta(**kw)),))
    assert ch(content="x").has_content
    assert not ch(content="").has_content
    assert not ch(role="assistant").has_content
    from meshcore.wire.models import ChoiceDeltaToolCall
    assert ch(tool_calls=(ChoiceDeltaToolCall(index=0),)).has_content


def test_speech_response_bytes_like_and_model_list() -> None:
    s = SpeechResponse(content=b"\x00\x01", content_type="audio/wav")
    assert bytes(s) == b"\x00\x01" and len(s) == 2 and s.read() == b"\x00\x01"
    assert json.loads(s.model_dump_json())["content"] == "AAE="
    ml = ModelList(data=(Model(id="chat", created=5),))
    assert ml.model_dump() == {"data": [{"id": "chat", "created": 5, "owned_by": "modelmesh",
                                         "object": "model"}], "object": "list"}
