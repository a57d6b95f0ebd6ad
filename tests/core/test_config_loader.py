"""Config loading: identifiers, shapes and model/provider normalisation
(SPEC R-1, R-2, R-9, R-10, R-11, R-15, R-17, R-20, R-21, R-22, R-32, R-75, R-76)."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore.catalogue import CATALOGUES
from meshcore.config import load_config, validate
from meshcore.config.schema import MeshConfig, Pricing
from meshcore.connectors import PROVIDER_CONNECTORS
from meshcore.errors import ConfigurationError

KEY = "${secrets:OPENAI_KEY}"


def _vllm(models: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"connector": "vllm.local.v1"}
    if models is not None:
        body["models"] = models
    return body


def test_r9_loader_accepts_dicts_only() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_config(["not", "a", "dict"])
    assert info.value.details["errors"][0].startswith("<root>:")


def test_r10_unknown_top_level_key_is_a_warning() -> None:
    cfg = load_config({"providers": {"v": _vllm()}, "extras": {}})
    assert "extras: unknown top-level section (ignored)" in cfg.warnings


def test_r1_model_slug_from_bare_key() -> None:
    """R-1: prefix = first dot segment of the provider ID; slug rules."""
    cfg = load_config({
        "providers": {"together.api.v1": {"api_key": "k"}},
        "models": {
            "meta-llama/Llama-3.3-70B-Instruct-Turbo": {
                "provider": "together.api.v1", "capabilities": ["chat-completion"]},
        },
    })
    mid = "together.meta-llama-llama-3.3-70b-instruct-turbo"
    assert list(cfg.models) == [mid]
    assert cfg.models[mid].name == "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_r1_runs_of_dashes_collapse() -> None:
    cfg = load_config({"providers": {"v": _vllm({"A  b__c": {"capabilities": ["chat-completion"]}})}})
    assert list(cfg.models) == ["v.a-b-c"]


def test_r11_bare_and_prefixed_keys_are_equivalent() -> None:
    bare = load_config({"providers": {"openai": {"connector": "openai.llm.v1", "api_key": KEY}},
                        "models": {"gpt-4o": {"provider": "openai"}}})
    prefixed = load_config({"providers": {"openai": {"connector": "openai.llm.v1", "api_key": KEY}},
                            "models": {"openai.gpt-4o": {"provider": "openai"}}})
    assert bare.models == prefixed.models
    assert bare.models["openai.gpt-4o"].name == "gpt-4o"


def test_r15_name_defaults_to_id_minus_prefix_and_can_be_overridden() -> None:
    cfg = load_config({"providers": {"v": _vllm()}, "models": {
        "v.my-model": {"provider": "v", "capabilities": ["chat-completion"]},
        "v.other": {"provider": "v", "name": "Org/Other-7B", "capabilities": ["chat-completion"]},
    }})
    assert cfg.models["v.my-model"].name == "my-model"
    assert cfg.models["v.other"].name == "Org/Other-7B"


def test_r11_models_as_list_and_map_are_equivalent() -> None:
    as_map = {"providers": {"v": _vllm()},
              "models": {"m1": {"provider": "v", "capabilities": ["chat-completion"]}}}
    as_list = {"providers": {"v": _vllm()},
               "models": [{"id": "m1", "provider": "v", "capabilities": ["chat-completion"]}]}
    nested = {"providers": {"v": _vllm([{"id": "m1", "capabilities": ["chat-completion"]}])}}
    a, b, c = load_config(as_map), load_config(as_list), load_config(nested)
    assert a.models == b.models == c.models


def test_r11_provider_flat_nested_and_config_submap_are_equivalent() -> None:
    flat = {"connector": "openai.llm.v1", "api_key": KEY, "base_url": "https://e.x/v1",
            "timeout": "30s", "max_retries": 1, "batch.supported": True}
    nested = {"connector": "openai.llm.v1", "auth": {"api_key": KEY},
              "execution": {"base_url": "https://e.x/v1", "timeout": 30, "max_retries": 1},
              "infrastructure": {"batch": True}}
    sub = {"connector": "openai.llm.v1", "config": {"auth.api_key": KEY, "execution": {
        "base_url": "https://e.x/v1", "timeout": "30000ms", "max_retries": 1}},
        "batch": {"supported": True}}
    cfgs = [load_config({"providers": {"p": body}}) for body in (flat, nested, sub)]
    p = cfgs[0].providers["p"]
    assert p.base_url == "https://e.x/v1" and p.timeout_s == 30.0 and p.max_retries == 1
    assert p.api_keys == (KEY,) and p.infrastructure_batch is True
    assert cfgs[0].providers == cfgs[1].providers == cfgs[2].providers


def test_r11_both_forms_with_different_values_is_an_error() -> None:
    res = validate({"providers": {"p": {"connector": "openai.llm.v1", "api_key": "a",
                                        "auth": {"api_key": "b"}}}})
    assert any("conflicts with" in e and "providers.p" in e for e in res.errors)
    same = validate({"providers": {"p": {"connector": "openai.llm.v1", "api_key": "a",
                                         "auth": {"api_key": "a"}}}})
    assert same.errors == ()


def test_r2_connector_aliases_and_prefix_are_normalised() -> None:
    cfg = load_config({"providers": {
        "a": {"connector": "anthropic.llm.v1", "api_key": "k"},
        "b": {"connector": "provider.openai.llm.v1", "api_key": "k"},
        "c": {"connector": "openai-compatible", "base_url": "http://h:1/v1"},
    }})
    assert cfg.providers["a"].connector == "anthropic.claude.v1"
    assert cfg.providers["b"].connector == "openai.llm.v1"
    assert cfg.providers["c"].connector == "openai.compatible.v1"


def test_r75_connector_defaults_to_provider_key() -> None:
    cfg = load_config({"providers": {"groq.api.v1": {"api_key": "k"}}})
    assert cfg.providers["groq.api.v1"].connector == "groq.api.v1"


@pytest.mark.parametrize("cid", sorted(PROVIDER_CONNECTORS))
def test_r32_r73_provider_defaults_per_connector(cid: str) -> None:
    info = PROVIDER_CONNECTORS[cid]
    body: dict[str, Any] = {"connector": cid, "api_key": "k"}
    if info.base_url is None:
        body["base_url"] = "http://h:1/v1"
    p = load_config({"providers": {"p": body}}).providers["p"]
    assert p.timeout_s == info.timeout_s
    assert p.auto_discover is info.local
    assert p.max_retries == 3
    assert p.retryable_codes == (429, 500, 502, 503, 504)
    assert p.non_retryable_codes == (400, 401, 403)
    assert p.quota_reset_schedule == "monthly" and p.enabled is True


def test_r32_timeouts_of_slow_connectors() -> None:
    cfg = load_config({"providers": {
        "anthropic": {"connector": "anthropic.claude.v1", "api_key": "k"},
        "aai": {"connector": "assemblyai.stt.v1", "api_key": "k"},
        "o": {"connector": "openai.llm.v1", "api_key": "k"},
    }})
    assert cfg.providers["anthropic"].timeout_s == 120.0
    assert cfg.providers["aai"].timeout_s == 300.0
    assert cfg.providers["o"].timeout_s == 60.0


def test_r75_provider_keys_are_read() -> None:
    cfg = load_config({"providers": {"p": {
        "connector": "openai.llm.v1", "api_key": ["k1", "k2"],
        "auth": {"key_rotation": True},
        "catalogue": {"auto_discover": True, "refresh_interval": "2h"},
        "quota": {"query_current": True, "query_remaining": True, "reset_schedule": "daily_utc"},
        "budget": {"daily_limit": 5, "monthly_limit": 50.5},
        "pricing": {"query": True},
        "error": {"retryable_codes": [429, 503], "non_retryable_codes": [400]},
        "files.upload": True, "fine_tuning.supported": True,
        "capabilities": ["chat-completion"],
    }}})
    p = cfg.providers["p"]
    assert p.api_keys == ("k1", "k2") and p.key_rotation
    assert p.auto_discover and p.refresh_interval_s == 7200.0
    assert p.quota_query_current and p.quota_query_remaining and p.quota_reset_schedule == "daily"
    assert p.budget_daily_limit == 5 and p.budget_monthly_limit == 50.5
    assert p.pricing_query and p.retryable_codes == (429, 503) and p.non_retryable_codes == (400,)
    assert p.infrastructure_files and p.infrastructure_fine_tuning
    assert p.capabilities == ("generation.text-generation.chat-completion",)


def test_r76_connector_specific_keys_with_defaults() -> None:
    cfg = load_config({"providers": {
        "an": {"connector": "anthropic.claude.v1", "api_key": "k", "max_tokens": 1000},
        "el": {"connector": "elevenlabs.tts.v1", "api_key": "k", "voice_id": "v1"},
        "aai": {"connector": "assemblyai.stt.v1", "api_key": "k", "poll_interval": "250ms"},
        "oc": {"connector": "openai.compatible.v1", "base_url": "http://h/v1"},
        "oa": {"connector": "openai.llm.v1", "api_key": "k", "organization": "org-1"},
    }})
    assert cfg.providers["an"].options == {"anthropic_version": "2023-06-01", "max_tokens": 1000}
    assert cfg.providers["el"].options == {"voice_id": "v1", "stability": 0.5,
                                           "similarity_boost": 0.75,
                                           "output_format": "mp3_44100_128"}
    assert cfg.providers["aai"].options["poll_interval"] == 0.25
    assert cfg.providers["oc"].options == {"endpoints": ["chat", "stream", "embeddings", "models"],
                                           "auth_header": "Authorization"}
    assert cfg.providers["oa"].options == {"organization": "org-1"}


def test_r76_unknown_provider_key_warns_but_custom_connector_keeps_it() -> None:
    cfg = load_config({"providers": {"oa": {"connector": "openai.llm.v1", "api_key": "k",
                                            "colour": "blue"}}})
    assert "providers.oa.colour: unknown key (ignored)" in cfg.warnings
    cfg2 = load_config({"providers": {"c": {"connector": "acme.llm.v1", "region": "eu"}}},
                       connectors={"acme.llm.v1": object})
    assert cfg2.providers["c"].options == {"region": "eu"}
    assert cfg2.warnings == ()


def test_r17_custom_connector_ids_from_argument_and_classes_section() -> None:
    data = {"providers": {"c": {"connector": "acme.llm.v1"}}}
    assert validate(data).errors  # unknown without registration
    assert validate(data, connectors={"acme.llm.v1": object}).errors == ()
    data2 = {**data, "connectors": {"classes": {"acme.llm.v1": "acme.conn:Provider"}}}
    assert validate(data2).errors == ()


def test_r17_programmatic_instance_skips_api_key_check() -> None:
    cfg = load_config({"providers": {"o": {"connector": "openai.llm.v1", "instance": object()}}})
    assert cfg.providers["o"].has_instance
    assert cfg.providers["o"].api_keys == ()


def test_r15_model_keys_and_defaults() -> None:
    cfg = load_config({"providers": {"v": _vllm()}, "models": {"v.m": {
        "provider": "v", "capabilities": ["chat-completion", "tool-calling"],
        "features": {"tool_calling": True, "vision": False},
        "constraints": {"context_window": 8192, "max_output_tokens": 1024, "max_images": 2,
                        "max_file_size": "25MB", "supported_languages": ["en", "de"]},
        "pricing": {"input_per_1m": 0.5, "output_per_1m": 1.5},
        "batch": {"max_items": 10, "completion_window": "24h", "cost_discount": 0.5},
    }}})
    m = cfg.models["v.m"]
    assert m.capabilities == ("generation.text-generation.chat-completion",
                              "interaction.tool-calling")
    assert m.features == {"tool_calling": True, "vision": False}
    assert (m.context_window, m.max_output_tokens, m.max_images) == (8192, 1024, 2)
    assert m.max_file_size == 25_000_000 and m.supported_languages == ("en", "de")
    assert m.pricing == Pricing(0.5, 1.5, 0.0)
    assert m.batch == {"max_items": 10, "completion_window": 86400.0, "cost_discount": 0.5}
    assert m.delivery_synchronous and m.delivery_streaming and not m.delivery_batch
    assert m.source == "config" and m.order == 0


@pytest.mark.parametrize(
    ("capability", "streams"),
    [("chat-completion", True), ("code-generation", True), ("text-to-speech", True),
     ("text-embeddings", False), ("speech-to-text", False), ("text-to-image", False)],
)
def test_r15_streaming_default_by_capability(capability: str, streams: bool) -> None:
    cfg = load_config({"providers": {"v": _vllm({"m": {"capabilities": [capability]}})}})
    assert cfg.models["v.m"].delivery_streaming is streams


def test_r15_per_1k_pricing_is_multiplied() -> None:
    cfg = load_config({"providers": {"v": _vllm({"m": {
        "capabilities": ["chat-completion"],
        "pricing": {"input_per_1k": 0.001, "output_per_1k": 0.002, "per_request": 0.01}}})}})
    p = cfg.models["v.m"].pricing
    assert p is not None
    assert p.input_per_1m == pytest.approx(1.0) and p.output_per_1m == pytest.approx(2.0)
    assert p.per_request == 0.01


def test_r21_capability_inference_precedence() -> None:
    """R-21: declared > provider capabilities > catalogue entry > none (warning)."""
    cfg = load_config({
        "providers": {
            "o": {"connector": "openai.llm.v1", "api_key": "k"},
            "o2": {"connector": "openai.llm.v1", "api_key": "k",
                   "capabilities": ["text-completion"]},
            "v": _vllm(),
        },
        "models": {
            "o.gpt-4o": {"provider": "o", "capabilities": ["summarization"]},
            "o.gpt-4o-mini": {"provider": "o"},
            "o2.gpt-4o-mini": {"provider": "o2"},
            "v.unknown": {"provider": "v"},
        },
    })
    assert cfg.models["o.gpt-4o"].capabilities == (
        "understanding.text-understanding.summarization",)
    entry = next(e for e in CATALOGUES["openai.llm.v1"] if e.name == "gpt-4o-mini")
    assert cfg.models["o.gpt-4o-mini"].capabilities == entry.capabilities
    assert cfg.models["o2.gpt-4o-mini"].capabilities == (
        "generation.text-generation.text-completion",)
    assert cfg.models["v.unknown"].capabilities == ()
    assert any(w.startswith("models.v.unknown.capabilities:") for w in cfg.warnings)


def test_r57_catalogue_fills_unset_pricing_and_context() -> None:
    cfg = load_config({"providers": {"o": {"connector": "openai.llm.v1", "api_key": "k"}},
                       "models": {"gpt-4o": {"provider": "o", "context_window": 1000}}})
    m = cfg.models["o.gpt-4o"]
    assert m.context_window == 1000  # configured wins
    assert m.pricing == Pricing(2.5, 10.0, 0.0)  # from the catalogue
    assert m.features.get("tool_calling") is True


def test_r20_catalogue_models_for_cloud_providers_without_models() -> None:
    cfg = load_config({"providers": {
        "anthropic": {"connector": "anthropic.claude.v1", "api_key": "k"},
        "openai": {"connector": "openai.llm.v1", "api_key": "k"},
        "v": _vllm(),
    }, "models": {"gpt-4o": {"provider": "openai"}}})
    cat = [m for m in cfg.models.values() if m.source == "catalogue"]
    assert {m.provider for m in cat} == {"anthropic"}
    assert [m.name for m in cat] == [e.name for e in CATALOGUES["anthropic.claude.v1"]]
    assert [m.order for m in cat] == list(range(len(cat)))
    assert not any(m.provider == "v" for m in cfg.models.values())


@pytest.mark.parametrize("cid", sorted(CATALOGUES))
def test_r20_catalogue_covers_every_endpoint(cid: str) -> None:
    """R-20: at least one model per supported endpoint, with pricing and context."""
    info = PROVIDER_CONNECTORS[cid]
    node_of = {"chat": "generation.text-generation", "embeddings": "representation.embeddings",
               "images": "generation.image-generation",
               "speech": "generation.audio-generation.text-to-speech",
               "transcription": "understanding.audio-understanding.speech-to-text"}
    for endpoint, node in node_of.items():
        if endpoint in info.endpoints:
            assert any(
                any(c.startswith(node) for c in e.capabilities) for e in CATALOGUES[cid]
            ), f"{cid} lacks a model for {endpoint}"
    body: dict[str, Any] = {"connector": cid, "api_key": "k"}
    cfg = load_config({"providers": {"p": body}})
    assert len(cfg.models) == len(CATALOGUES[cid])


def test_r20_every_cloud_connector_has_a_catalogue() -> None:
    for cid, info in PROVIDER_CONNECTORS.items():
        if not info.local:
            assert cid in CATALOGUES, cid
    priced = [e for entries in CATALOGUES.values() for e in entries
              if "generation.text-generation.chat-completion" in e.capabilities]
    assert all(e.pricing is not None and e.context_window for e in priced)


def test_r22_disabled_provider_is_kept_and_references_stay_valid() -> None:
    cfg = load_config({
        "providers": {"v": {**_vllm({"m": {"capabilities": ["chat-completion"]}}),
                            "enabled": False},
                      "w": _vllm({"n": {"capabilities": ["chat-completion"]}})},
        "pools": {"chat": {"capability": "chat-completion", "models": ["v.m"],
                           "providers": ["v", "w"]}},
    })
    assert cfg.providers["v"].enabled is False
    assert "v.m" in cfg.models
    from meshcore.config.membership import pool_members
    assert pool_members(cfg, cfg.pools["chat"]) == ("w.n",)


def test_r24_configured_order_follows_section_order() -> None:
    nested_first = load_config({
        "providers": {"v": _vllm({"a": {"capabilities": ["chat-completion"]}})},
        "models": {"v.b": {"provider": "v", "capabilities": ["chat-completion"]}},
    })
    assert [m.id for m in sorted(nested_first.models.values(), key=lambda m: m.order)] == [
        "v.a", "v.b"]
    top_first = load_config({
        "models": {"v.b": {"provider": "v", "capabilities": ["chat-completion"]}},
        "providers": {"v": _vllm({"a": {"capabilities": ["chat-completion"]}})},
    })
    assert [m.id for m in sorted(top_first.models.values(), key=lambda m: m.order)] == [
        "v.b", "v.a"]


def test_r11_round_trip_of_a_rich_config() -> None:
    cfg = load_config({
        "providers": {"o": {"connector": "openai.llm.v1", "api_key": KEY},
                      "v": _vllm({"m": {"capabilities": ["chat-completion"]}})},
        "pools": {"chat": {"capability": "chat-completion", "strategy": "round-robin",
                           "deactivation": {"request_limit": {"v.m": 3}, "budget_limit": 1.5}}},
        "observability": {"connector": "console"},
        "storage": {"connector": "sqlite"},
        "discovery": {"sync": {"interval": "30m"}},
    })
    assert MeshConfig.from_dict(cfg.to_dict()) == cfg
