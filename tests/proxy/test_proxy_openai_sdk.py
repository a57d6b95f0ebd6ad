"""The official `openai` SDK, unmodified, against the proxy on loopback (SPEC R-112:
"the official OpenAI SDKs pointed at http://host:port/v1 work unmodified")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest
from _proxy_helpers import MSG, provider_config

from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyServer

SDK_TIMEOUT = 15.0


@pytest.fixture(params=["asyncio", "trio"])
def proxy(request: pytest.FixtureRequest) -> Iterator[ProxyServer]:
    """The proxy (served on asyncio and on trio) in front of one healthy fake provider."""
    with FakeProviderServer() as fp, ProxyServer(config=provider_config([fp]), seed=1,
                                                 backend=request.param) as srv:
        yield srv


def sdk(srv: ProxyServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0,
                         timeout=SDK_TIMEOUT)


def test_sync_sdk_chat_stream_embeddings_models_r112(proxy: ProxyServer) -> None:
    client = sdk(proxy)
    resp = client.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == "Hello from m0"
    assert resp.model == "p0.m0"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    stream = client.chat.completions.create(model="chat", messages=MSG,  # type: ignore[arg-type]
                                            stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from m0"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    emb = client.embeddings.create(model="embed", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    ids = [m.id for m in client.models.list()]
    assert ids == ["chat", "embed", "image", "tts", "stt"]
    img = client.images.generate(model="image", prompt="a cat")
    assert img.data is not None and img.data[0].url is not None
    speech = client.audio.speech.create(model="tts", input="hi", voice="alloy")
    assert speech.content.startswith(b"ID3")
    tr = client.audio.transcriptions.create(model="stt", file=("a.wav", b"RIFFdata"))
    assert tr.text == "Hello from stt"
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=MSG, extra_headers={"X-ModelMesh-Session": "s1"})  # type: ignore[arg-type]
    assert raw.headers["x-modelmesh-model"] == "p0.m0"
    assert raw.headers["x-modelmesh-pool"] == "chat"
    client.close()


def test_async_sdk_chat_and_stream_r112(proxy: ProxyServer) -> None:
    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="unused", max_retries=0,
                                    timeout=SDK_TIMEOUT)
        resp = await client.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
        assert resp.choices[0].message.content == "Hello from m0"
        stream = await client.chat.completions.create(model="chat", messages=MSG,  # type: ignore[arg-type]
                                                      stream=True)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(parts) == "Hello from m0"
        results = await asyncio.gather(*[
            client.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
            for _ in range(10)])
        assert [r.model for r in results] == ["p0.m0"] * 10
        emb = await client.embeddings.create(model="embed", input="x")
        assert len(emb.data) == 1
        await client.close()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_sdk_error_classes_401_400_502_r116() -> None:
    with FakeProviderServer([{"status": 500}]) as fp, ProxyServer(
            config=provider_config([fp], proxy={"auth": {"tokens": ["tok-1"]}})) as srv:
        with pytest.raises(openai.AuthenticationError) as auth:
            sdk(srv, "wrong").models.list()
        assert auth.value.status_code == 401
        client = sdk(srv, "tok-1")
        assert next(m.id for m in client.models.list()) == "chat"
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="chat", messages="not a list")  # type: ignore[arg-type]
        assert bad.value.status_code == 400
        assert bad.value.code == "invalid_request" and bad.value.param == "messages"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-pool", messages=MSG)  # type: ignore[arg-type]
        with pytest.raises(openai.InternalServerError) as exhausted:
            client.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
        assert exhausted.value.status_code == 502
        assert exhausted.value.code == "all_providers_exhausted"
        body = exhausted.value.body
        assert isinstance(body, dict) and body.get("code") == "all_providers_exhausted"
        client.close()


def test_sdk_stream_cut_after_commit_raises_r114() -> None:
    with FakeProviderServer([{"cut_after_chunks": 1}]) as fp, ProxyServer(
            config=provider_config([fp])) as srv:
        client = sdk(srv)
        got: list[str] = []
        with pytest.raises(openai.APIError):
            for c in client.chat.completions.create(model="chat", messages=MSG,  # type: ignore[arg-type]
                                                    stream=True):
                if c.choices:
                    got.append(c.choices[0].delta.content or "")
        assert "".join(got)  # content before the cut reached the caller
        client.close()
