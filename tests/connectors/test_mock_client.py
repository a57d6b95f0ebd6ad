"""`mock_client(responses=[...])` (SPEC R-109, API.md section 4)."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.client import PoolStatus
from adapters.mock import split_words
from adapters.testing import MockResponse, mock_client
from meshcore.errors import RateLimitError

MSG = [{"role": "user", "content": "hi"}]


def test_defaults_r109() -> None:
    r = MockResponse()
    assert (r.content, r.model, r.tokens, r.finish_reason) == ("Mock response", "mock-model",
                                                               10, "stop")
    assert r.prompt_tokens == 3 and r.completion_tokens == 7
    assert MockResponse(tokens=20, prompt_tokens=5).completion_tokens == 15


def test_responses_in_order_last_repeats_and_exceptions_raise_r109() -> None:
    client = mock_client(["first", MockResponse(content="second", model="m2"),
                          RateLimitError("slow down"), "last"])
    assert client.chat.completions.create(model="p", messages=MSG).choices[0].message.content \
        == "first"
    second = client.chat.completions.create(model="p", messages=MSG)
    assert second.model == "m2" and second.choices[0].message.content == "second"
    with pytest.raises(RateLimitError):
        client.chat.completions.create(model="p", messages=MSG)
    for _ in range(3):
        assert client.chat.completions.create(model="p", messages=MSG).choices[0] \
            .message.content == "last"


def test_empty_list_repeats_default_r109() -> None:
    client = mock_client([])
    for _ in range(2):
        resp = client.chat.completions.create(model="p", messages=MSG)
        assert resp.choices[0].message.content == "Mock response"
        assert resp.usage is not None and resp.usage.total_tokens == 10
        assert resp.model_dump()["object"] == "chat.completion"


def test_calls_are_recorded_r109() -> None:
    client = mock_client()
    client.chat.completions.create(model="chat", messages=MSG, temperature=0.2,
                                   session_id="s1", metadata={"a": 1})
    client.embeddings.create(model="emb", input=["x", "y"])
    c0 = client.calls[0]
    assert c0.model == "chat" and c0["model"] == "chat" and c0.messages == MSG
    assert c0["temperature"] == 0.2 and c0["session_id"] == "s1" and c0["metadata"] == {"a": 1}
    assert client.calls[1]["input"] == ["x", "y"] and client.calls[1].operation == "embeddings"


def test_streaming_splits_words_with_chunk_contract_r109_r67() -> None:
    client = mock_client(["Hello  big world\n"])
    chunks = list(client.chat.completions.create(model="p", messages=MSG, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["Hello  ", "big ", "world\n"]
    assert len({c.id for c in chunks}) == 1 and all(c.model == "mock-model" for c in chunks)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "stop"]
    assert chunks[-1].usage is not None and chunks[0].usage is None


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n\t"), min_size=1, max_size=40))
def test_word_split_round_trips_r109(text: str) -> None:
    parts = split_words(text)
    assert "".join(parts) == text
    assert all(len(p.split()) <= 1 for p in parts)  # one word (plus whitespace) per chunk
    assert all(not p[:1].isspace() for p in parts[1:])  # each chunk starts with its word


def test_stubs_r109() -> None:
    client = mock_client(["a b"])
    client.chat.completions.create(model="p", messages=MSG)
    status = client.pool_status("chat")
    assert isinstance(status, PoolStatus) and status["active"] == 1
    assert status.models[0].model_id == "mock-model" and status.current_model == "mock-model"
    assert client.active_providers() == ["mock-provider"]
    assert client.explain(model="chat")["selected_model"] == "mock-model"
    assert "mock-model" in client.describe()
    assert client.models.list().data == ()
    emb = client.embeddings.create(model="e", input=["x", "y", "z"])
    assert [list(d.embedding) for d in emb.data] == [[0.0] * 8] * 3
    usage = client.usage
    assert usage["total_requests"] == 2
    assert usage["prompt_tokens"] >= 3 and usage["completion_tokens"] == 7
    assert usage["by_model"]["mock-model"]["requests"] == 2


def test_usage_accumulates_r109() -> None:
    client = mock_client([MockResponse(tokens=30)])
    for _ in range(3):
        client.chat.completions.create(model="p", messages=MSG)
    assert client.usage["total_tokens"] == 90 and client.usage["total_requests"] == 3


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_variant_r109(backend: str) -> None:
    async def main() -> None:
        async with mock_client(["one two", ValueError("bad")], async_=True) as client:
            resp = await client.chat.completions.create(model="p", messages=MSG)
            assert resp.choices[0].message.content == "one two"
            with pytest.raises(ValueError):
                await client.chat.completions.create(model="p", messages=MSG)
            client2 = mock_client(["one two"], async_=True)
            stream = await client2.chat.completions.create(model="p", messages=MSG,
                                                           stream=True)
            assert [c.choices[0].delta.content async for c in stream] == ["one ", "two"]
            assert (await client.models.list()).data == ()
            assert len(client.calls) == 2

    anyio.run(main, backend=backend)


def test_closed_client_raises_r109() -> None:
    client = mock_client()
    with client:
        pass
    from meshcore.errors import ModelMeshError

    with pytest.raises(ModelMeshError):
        client.chat.completions.create(model="p", messages=MSG)
