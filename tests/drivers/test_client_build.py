"""`create()` resolution (SPEC R-19), zero-config detection (R-18), config sources
(R-9) and secret references (R-13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters import CapabilityNotFoundError, ConfigurationError, create
from adapters.build import build, detect_providers
from meshcore import Router


def test_zero_config_detects_env_in_table_order_r18() -> None:
    env = {"GROQ_API_KEY": "g", "OPENAI_API_KEY": "o", "GEMINI_API_KEY": "x",
           "OLLAMA_HOST": "localhost:11434", "MISTRAL_API_KEY": ""}
    found = detect_providers(env)
    assert list(found) == ["openai", "google", "groq", "ollama"]
    assert found["openai"]["api_key"] == "${env:OPENAI_API_KEY}"  # a reference, not the value
    assert found["ollama"]["base_url"] == "http://localhost:11434/v1"
    assert list(detect_providers(env, providers=["groq"])) == ["groq"]
    only = detect_providers(env, api_keys={"anthropic": "k"})
    assert only == {"anthropic": {"connector": "anthropic.claude.v1", "api_key": "k"}}


def test_create_capability_zero_config_resolves_keys_r19() -> None:
    built = build(("chat-completion",), environ={"OPENAI_API_KEY": "sk-test"})
    assert list(built.config.pools) == ["chat-completion"]
    assert built.api_keys["openai"] == ("sk-test",)
    assert built.config.providers["openai"].api_keys == ("${env:OPENAI_API_KEY}",)
    Router(built.config, 1)  # builds


def test_create_argument_errors_r19() -> None:
    with pytest.raises(ValueError, match="Specify capabilities"):
        build((), environ={"OPENAI_API_KEY": "k"})
    with pytest.raises(ValueError):
        build(("chat-completion",), pool="embeddings", environ={"OPENAI_API_KEY": "k"})
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        build(("chat-completion",), environ={})
    with pytest.raises(CapabilityNotFoundError):
        build(("chat-complet",), environ={"OPENAI_API_KEY": "k"})
    with pytest.raises(TypeError):
        create(config=42)


def _cfg(key: str) -> dict[str, object]:
    return {
        "providers": {"p": {"connector": "openai.compatible.v1",
                            "base_url": "http://127.0.0.1:9/v1", "api_key": key}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m"]}},
    }


def test_secret_references_resolve_through_env_r13() -> None:
    env = {"K1": "one", "APP_K2": "two"}
    built = build((), config={**_cfg("${env:K1}-${secrets:K2}-$${x}"),
                              "secrets": {"store": "modelmesh.env.v1", "prefix": "APP_"}},
                  environ=env)
    assert built.api_keys["p"] == ("one-two-${x}",)
    with pytest.raises(ConfigurationError, match="MISSING"):
        build((), config=_cfg("${MISSING}"), environ={})
    lenient = build((), config={**_cfg("${MISSING}"), "secrets": {"fail_on_missing": False}},
                    environ={})
    assert lenient.api_keys["p"] == ("",)


def test_config_files_json_and_yaml_r9(tmp_path: Path) -> None:
    j = tmp_path / "c.json"
    j.write_text(json.dumps(_cfg("k")))
    y = tmp_path / "c.yaml"
    y.write_text("providers:\n  p: {connector: openai.compatible.v1, "
                 "base_url: 'http://127.0.0.1:9/v1'}\n"
                 "models:\n  p.m: {provider: p, name: m, capabilities: [chat-completion]}\n"
                 "pools:\n  chat: {models: [p.m]}\n")
    for path in (j, y):
        with create(config=str(path), seed=1) as client:
            assert client.explain(model="chat")["selected_model"] == "p.m"
    with pytest.raises(ConfigurationError):
        create(config=str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigurationError):
        create(config=str(bad))


def test_config_strategy_and_capabilities_added_r19() -> None:
    built = build(("chat-completion",), config=_cfg("k"), strategy="round-robin",
                  providers=["x"], environ={})
    assert built.config.pools["chat"].strategy == "modelmesh.round-robin.v1"
    assert "chat-completion" in built.config.pools
    assert any("providers=" in w for w in built.warnings)
