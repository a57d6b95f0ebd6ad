"""Pools: keys, shapes, predefined pools, membership and operation support
(SPEC R-7, R-11, R-16, R-23, R-24, R-25, R-28, R-36, R-44, R-47, R-52, R-53, R-105)."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore.config import load_config, validate
from meshcore.config.membership import model_serves_operation, most_specific_pool, pool_members
from meshcore.config.schema import LimitSpec, MeshConfig, ModelConfig, PoolConfig
from meshcore.types import Operation

CHAT = ["chat-completion"]


def _local(cid: str, models: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"connector": cid, "models": models, **extra}


def _two_providers() -> dict[str, Any]:
    return {
        "a": _local("vllm.local.v1", {"m1": {"capabilities": CHAT},
                                      "e1": {"capabilities": ["text-embeddings"]}}),
        "b": _local("ollama.local.v1", {"m2": {"capabilities": ["code-generation"]},
                                        "s1": {"capabilities": ["speech-to-text"]}}),
    }


def test_r16_pool_defaults() -> None:
    cfg = load_config({"providers": _two_providers(),
                       "pools": {"chat-completion": {}}})
    pool = cfg.pools["chat-completion"]
    assert pool.capability == "generation.text-generation.chat-completion"  # name resolves
    assert pool.strategy == "modelmesh.stick-until-failure.v1"
    assert (pool.deadline_s, pool.stream_first_chunk_timeout_s) == (120.0, 30.0)
    assert (pool.on_all_standby, pool.on_budget_exceeded) == ("fail_fast", "error")
    assert pool.providers is None and pool.excluded_providers == ()
    assert pool.retry.retryable_codes is None and pool.retry.non_retryable_codes is None
    assert pool.provider_deactivation == ("on_auth_failure",)
    assert pool.provider_recovery == "on_probe_success"
    assert not pool.predefined


def test_r11_flat_and_rotation_pool_shapes_are_equivalent() -> None:
    flat = {"capability": "text-generation", "strategy": "priority",
            "model_priority": ["a.m1"], "rate_limit": {"threshold": 0.7},
            "deactivation": {"retry_limit": 5, "maintenance_window": "* 3-4 * * 0"},
            "recovery": {"cooldown": "2m"}, "provider_deactivation": "on_api_outage",
            "provider_recovery": "on_manual"}
    nested = {"capability": "text-generation", "rotation": {
        "policy": "modelmesh.priority-selection.v1",
        "selection": {"model_priority": ["a.m1"], "rate_limit": {"threshold": 0.7}},
        "deactivation": {"retry_limit": 5, "maintenance_window": "* 3-4 * * 0"},
        "recovery": {"cooldown": 120},
        "provider_deactivation": ["on_api_outage"],
        "provider_recovery": "on_manual"}}
    a = load_config({"providers": _two_providers(), "pools": {"p": flat}})
    b = load_config({"providers": _two_providers(), "pools": {"p": nested}})
    assert a.pools == b.pools
    p = a.pools["p"]
    assert p.strategy == "modelmesh.priority-selection.v1"
    assert p.selection.model_priority == ("a.m1",) and p.selection.rate_limit_threshold == 0.7
    assert p.deactivation.retry_limit == 5 and p.recovery.cooldown_s == 120.0
    assert p.provider_deactivation == ("on_api_outage",) and p.provider_recovery == "on_manual"


def test_r36_retry_keys() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion",
        "retry": {"max_attempts": 5, "backoff": "fixed", "initial_delay": "250ms",
                  "max_delay": "2s", "retryable_codes": [429], "non_retryable_codes": [400],
                  "scope": "same_provider", "honor_retry_after": False,
                  "max_retry_after": "1m"}}}})
    r = cfg.pools["p"].retry
    assert (r.max_attempts, r.backoff, r.initial_delay_s, r.max_delay_s) == (5, "fixed", 0.25, 2.0)
    assert (r.retryable_codes, r.non_retryable_codes, r.scope) == ((429,), (400,), "same_provider")
    assert (r.honor_retry_after, r.max_retry_after_s) == (False, 60.0)
    bad = validate({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion", "retry": {"backoff": "linear", "scope": "all"}}}})
    assert any(e.startswith("pools.p.retry.backoff:") for e in bad.errors)
    assert any(e.startswith("pools.p.retry.scope:") for e in bad.errors)


def test_r44_deactivation_keys_and_limit_specs() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion",
        "deactivation": {"error_rate_threshold": 0.25, "error_rate_window": 40,
                         "error_rate_min_samples": 5, "error_codes": [500, 503],
                         "request_limit": 3, "token_limit": {"a.m1": 1000},
                         "budget_limit": {"m1": 2.5}, "quota_window": "daily_utc"}}}})
    d = cfg.pools["p"].deactivation
    assert (d.error_rate_threshold, d.error_rate_window, d.error_rate_min_samples) == (
        0.25, 40, 5)
    assert d.error_codes == (500, 503)
    assert d.request_limit == LimitSpec(value=3)
    assert d.token_limit.for_model("a.m1") == 1000 and d.token_limit.for_model("b.m2") is None
    assert d.budget_limit.per_model == {"a.m1": 2.5}  # native name resolved
    assert d.quota_window == "daily"
    bad = validate({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion",
        "deactivation": {"maintenance_window": "61 * * * *", "quota_window": "weekly"}}}})
    assert any(e.startswith("pools.p.deactivation.maintenance_window:") for e in bad.errors)
    assert any(e.startswith("pools.p.deactivation.quota_window:") for e in bad.errors)


def test_r47_recovery_keys() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion",
        "recovery": {"cooldown": "30s", "backoff_multiplier": 2, "max_cooldown": "10m",
                     "probe_on_start": True, "probe_interval": 0, "on_quota_reset": False,
                     "quota_reset_schedule": "rolling"}}}})
    r = cfg.pools["p"].recovery
    assert (r.cooldown_s, r.backoff_multiplier, r.max_cooldown_s) == (30.0, 2.0, 600.0)
    assert (r.probe_on_start, r.probe_interval_s, r.on_quota_reset) == (True, 0.0, False)
    assert r.quota_reset_schedule == "rolling"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("none", ()), (["on_auth_failure", "on_api_outage"], ("on_auth_failure", "on_api_outage")),
     ("on_auth_failure", ("on_auth_failure",))],
)
def test_r52_provider_deactivation_forms(value: Any, expected: tuple[str, ...]) -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion", "provider_deactivation": value}}})
    assert cfg.pools["p"].provider_deactivation == expected
    bad = validate({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion", "provider_deactivation": "on_everything"}}})
    assert any(e.startswith("pools.p.provider_deactivation:") for e in bad.errors)


def test_r53_strategy_short_names_and_parameters() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {
        "a": {"capability": "chat-completion", "strategy": "priority",
              "fallback_strategy": "error", "provider_priority": ["b"]},
        "b": {"capability": "chat-completion", "strategy": "modelmesh.load-balanced",
              "balance_mode": "absolute"},
        "c": {"capability": "chat-completion", "strategy": "session-stickiness",
              "affinity_mode": "strict", "session_timeout": "10m"},
        "d": {"capability": "chat-completion", "strategy": "cost-first", "cost_basis": "spend",
              "expected_output_ratio": 0.5},
        "e": {"capability": "chat-completion", "strategy": "latency-first", "latency_window": 9},
        "f": {"capability": "chat-completion", "strategy": "rate-limit-aware",
              "rate_limit": {"min_delta": "2s", "max_rpm": 60}},
    }})
    p = cfg.pools
    assert p["a"].strategy == "modelmesh.priority-selection.v1"
    assert p["a"].selection.fallback_strategy == "error"
    assert p["a"].selection.provider_priority == ("b",)
    assert p["b"].strategy == "modelmesh.load-balanced.v1"
    assert p["b"].selection.balance_mode == "absolute"
    assert p["c"].selection.affinity_mode == "strict"
    assert p["c"].selection.session_timeout_s == 600.0
    assert (p["d"].selection.cost_basis, p["d"].selection.expected_output_ratio) == ("spend", 0.5)
    assert p["e"].selection.latency_window == 9
    assert p["f"].selection.rate_limit_min_delta_s == 2.0
    assert p["f"].selection.rate_limit_max_rpm == 60
    assert p["a"].selection.fallback_strategy != p["b"].selection.fallback_strategy


def test_r7_predefined_pools_materialised_without_pools_section() -> None:
    cfg = load_config({"providers": _two_providers()})
    assert set(cfg.pools) == {"text-generation", "embeddings", "speech-to-text"}
    assert all(p.predefined for p in cfg.pools.values())
    assert pool_members(cfg, cfg.pools["text-generation"]) == ("a.m1", "b.m2")
    assert cfg.pools["speech-to-text"].capability == (
        "understanding.audio-understanding.speech-to-text")


def test_r7_configured_pools_replace_predefined() -> None:
    cfg = load_config({"providers": _two_providers(),
                       "pools": {"embeddings": {"models": ["a.m1"]}}})
    assert list(cfg.pools) == ["embeddings"]
    assert not cfg.pools["embeddings"].predefined


def test_r7_catalogue_models_fill_predefined_pools() -> None:
    cfg = load_config({"providers": {"openai": {"connector": "openai.llm.v1", "api_key": "k"}}})
    assert set(cfg.pools) == {"text-generation", "structured-generation", "image-generation",
                              "embeddings", "speech-to-text", "text-to-speech",
                              "vision-understanding"}


def test_r23_pool_modes() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {
        "cap": {"capability": "generation.text-generation"},
        "explicit": {"models": ["b.s1", "a.m1"]},
        "both": {"capability": "code-generation", "models": ["a.m1", "b.m2"]},
    }})
    assert pool_members(cfg, cfg.pools["cap"]) == ("a.m1", "b.m2")
    assert pool_members(cfg, cfg.pools["explicit"]) == ("b.s1", "a.m1")
    assert pool_members(cfg, cfg.pools["both"]) == ("a.m1", "b.m2")
    errs = validate({"providers": _two_providers(), "pools": {"nothing": {}}}).errors
    assert any(e.startswith("pools.nothing:") for e in errs)


def test_r24_order_explicit_then_configured_then_discovered_then_catalogue() -> None:
    base = load_config({
        "providers": {"o": {"connector": "openai.llm.v1", "api_key": "k"},
                      "a": _local("vllm.local.v1", {"x": {"capabilities": CHAT},
                                                    "y": {"capabilities": CHAT}})},
        "pools": {"chat": {"capability": "chat-completion", "models": ["a.y"]}},
    })
    discovered = ModelConfig(id="a.z", provider="a", name="z", capabilities=(
        "generation.text-generation.chat-completion",), source="discovered", order=0)
    cfg = MeshConfig(providers=base.providers, models={"a.z": discovered, **base.models},
                     pools=base.pools)
    members = pool_members(cfg, cfg.pools["chat"])
    assert members[:3] == ("a.y", "a.x", "a.z")
    assert all(cfg.models[m].source == "catalogue" for m in members[3:])
    assert "o.gpt-4o" in members[3:]


def test_r25_provider_filters_and_disabled_providers() -> None:
    provs = _two_providers()
    provs["c"] = _local("lmstudio.local.v1", {"m3": {"capabilities": CHAT}}, enabled=False)
    cfg = load_config({"providers": provs, "pools": {
        "only-b": {"capability": "generation", "providers": ["b", "c"]},
        "not-a": {"capability": "generation", "excluded_providers": ["a"]},
        "both": {"capability": "generation", "providers": ["a", "b"],
                 "excluded_providers": ["b"]},
        "prio": {"capability": "chat-completion", "model_priority": ["b.m2"]},
    }})
    assert pool_members(cfg, cfg.pools["only-b"]) == ("b.m2",)
    assert pool_members(cfg, cfg.pools["not-a"]) == ("b.m2",)
    assert pool_members(cfg, cfg.pools["both"]) == ("a.m1",)
    assert pool_members(cfg, cfg.pools["prio"]) == ("a.m1",)  # priority never adds


def test_r4_pool_on_ancestor_collects_every_leaf_below() -> None:
    cfg = load_config({"providers": _two_providers(),
                       "pools": {"gen": {"capability": "generation"},
                                 "all-audio": {"capability": "understanding.audio-understanding"}}})
    assert pool_members(cfg, cfg.pools["gen"]) == ("a.m1", "b.m2")
    assert pool_members(cfg, cfg.pools["all-audio"]) == ("b.s1",)


def test_r28_most_specific_pool() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {
        "gen": {"capability": "generation"},
        "text": {"capability": "text-generation"},
        "text2": {"capability": "generation.text-generation"},
        "emb": {"capability": "embeddings"},
    }})
    assert most_specific_pool(cfg, "generation.text-generation.chat-completion") == "text"
    assert most_specific_pool(cfg, "generation.image-generation") == "gen"
    assert most_specific_pool(cfg, "generation") == "gen"
    assert most_specific_pool(cfg, "representation.embeddings.text-embeddings") == "emb"
    assert most_specific_pool(cfg, "retrieval.reranking") is None


def test_r105_model_serves_operation() -> None:
    cfg = load_config({"providers": {
        "o": {"connector": "openai.llm.v1", "api_key": "k"},
        "an": {"connector": "anthropic.claude.v1", "api_key": "k",
               "models": {"weird": {"capabilities": ["text-embeddings"]},
                          "chat": {"capabilities": CHAT}}},
        "oc": {"connector": "openai.compatible.v1", "base_url": "http://h/v1",
               "endpoints": ["chat", "speech"],
               "models": {"tts": {"capabilities": ["text-to-speech"]},
                          "emb": {"capabilities": ["text-embeddings"]}}},
        "cu": {"connector": "acme.any.v1", "models": {"img": {"capabilities": ["text-to-image"]},
                                                      "bare": {}}},
    }}, connectors={"acme.any.v1": object})
    s = model_serves_operation
    assert s(cfg, "o.gpt-4o", Operation.CHAT)
    assert not s(cfg, "o.gpt-4o", Operation.EMBEDDINGS)
    assert s(cfg, "o.text-embedding-3-small", Operation.EMBEDDINGS)
    assert not s(cfg, "o.text-embedding-3-small", Operation.CHAT)
    assert s(cfg, "o.dall-e-3", Operation.IMAGES)
    assert s(cfg, "o.tts-1", Operation.SPEECH) and s(cfg, "o.whisper-1", Operation.TRANSCRIPTION)
    assert not s(cfg, "an.weird", Operation.EMBEDDINGS)  # connector lacks the endpoint
    assert s(cfg, "an.chat", Operation.CHAT)
    assert s(cfg, "oc.tts", Operation.SPEECH)
    assert not s(cfg, "oc.emb", Operation.EMBEDDINGS)  # endpoint not configured
    assert s(cfg, "cu.img", Operation.IMAGES)  # custom connector: assumed supported
    assert s(cfg, "cu.bare", Operation.CHAT) and not s(cfg, "cu.bare", Operation.IMAGES)
    assert not s(cfg, "missing", Operation.CHAT)


def test_r7_predefined_pool_objects() -> None:
    from meshcore.config.pools import PREDEFINED_POOLS, predefined_pools
    pools = predefined_pools()
    assert [(n, p.capability) for n, p in pools.items()] == list(PREDEFINED_POOLS)
    assert all(isinstance(p, PoolConfig) and p.predefined for p in pools.values())


def test_r16_strategy_instance_is_recorded_not_stored() -> None:
    cfg = load_config({"providers": _two_providers(), "pools": {"p": {
        "capability": "chat-completion", "strategy_instance": object()}}})
    assert cfg.pools["p"].has_strategy_instance
    assert MeshConfig.from_dict(cfg.to_dict()) == cfg
