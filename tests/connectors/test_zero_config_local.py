"""R-18: zero-config local providers (OLLAMA_HOST, ...) list their models at
construction, before the capability check of `create()` (R-19)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from adapters.build import ENV_PROVIDERS
from adapters.client import create, create_async
from adapters.fake_provider import FakeProviderServer
from meshcore.errors import ConfigurationError

MSG = [{"role": "user", "content": "hi"}]


def listing(*names: str) -> dict[str, Any]:
    body = {"object": "list", "data": [{"id": n, "object": "model"} for n in names]}
    return {"*": [{"body": body}], **{n: [] for n in names}}


def only_host(monkeypatch: pytest.MonkeyPatch, var: str, srv: FakeProviderServer) -> None:
    for variables, *_ in ENV_PROVIDERS:
        for v in variables:
            monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv(var, f"127.0.0.1:{srv.port}")  # no scheme, no path: R-18 fills both


def model_calls(srv: FakeProviderServer) -> int:
    return sum(1 for r in srv.requests if r.path.endswith("/models"))


def test_ollama_host_only_sync_client_r18(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProviderServer(listing("llama3", "nomic-embed-text")) as srv:
        only_host(monkeypatch, "OLLAMA_HOST", srv)
        with create("chat-completion", seed=1) as client:
            members = [m.model_id for m in client.pool_status("chat-completion").models]
            assert members == ["ollama.llama3"]
            out = client.chat.completions.create(model="chat-completion", messages=MSG)
            assert out.model == "ollama.llama3"
        assert model_calls(srv) == 1  # listed once, at construction


def test_ollama_host_only_async_client_r18(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        with FakeProviderServer(listing("llama3")) as srv:
            only_host(monkeypatch, "OLLAMA_HOST", srv)
            client = create_async("chat-completion", seed=1)
            async with client:
                out = await client.chat.completions.create(model="chat-completion",
                                                           messages=MSG)
                assert out.model == "ollama.llama3"
            assert model_calls(srv) == 1

    anyio.run(main)


@pytest.mark.parametrize("var", ["LMSTUDIO_HOST", "VLLM_HOST", "LOCALAI_HOST"])
def test_other_local_hosts_r18(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    with FakeProviderServer(listing("local-chat")) as srv:
        only_host(monkeypatch, var, srv)
        with create("chat-completion", seed=1) as client:
            assert client.pool_status("chat-completion").total == 1


def test_models_filter_with_local_listing_r18_r19(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProviderServer(listing("llama3", "mistral")) as srv:
        only_host(monkeypatch, "OLLAMA_HOST", srv)
        with create("chat-completion", models=["mistral"], seed=1) as client:
            members = [m.model_id for m in client.pool_status("chat-completion").models]
            assert members == ["ollama.mistral"]


def test_failed_local_listing_has_no_models_r18(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing listing leaves the provider without models: with nothing else
    serving the capability `create()` raises ConfigurationError; with the
    predefined pool (no capability demanded) the client is built and the
    failure is reported as a warning."""
    with FakeProviderServer({"*": [{"status": 500}]}) as srv:
        only_host(monkeypatch, "OLLAMA_HOST", srv)
        with pytest.raises(ConfigurationError, match="chat-completion"):
            create("chat-completion", seed=1)
        got: list[dict[str, Any]] = []
        with create(config={"providers": {"ollama": {
                "connector": "ollama.local.v1", "base_url": srv.base_url}},
                "pools": {"chat": {"capability": "chat-completion"}},
                "observability": {"connector": "modelmesh.callback.v1",
                                  "callback": got.append, "streams": ["traces"]}},
                seed=1) as client:
            assert client.pool_status("chat").total == 0
            assert any("listing models failed" in w for w in client.warnings)
        assert any(r["severity"] == "warning" and "ollama" in r["message"] for r in got)


def test_failed_local_listing_beside_a_cloud_provider_r18(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero-config with OPENAI_API_KEY and a failing OLLAMA_HOST: the client is
    built from the cloud provider; ollama has no models and a warning names it."""
    with FakeProviderServer({"*": [{"status": 500}]}) as srv:
        only_host(monkeypatch, "OLLAMA_HOST", srv)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        with create("chat-completion", seed=1) as client:
            providers = {m.provider_id for m in client.pool_status("chat-completion").models}
            assert providers == {"openai"}
            assert any("ollama" in w and "listing models failed" in w for w in client.warnings)
        assert model_calls(srv) == 1
