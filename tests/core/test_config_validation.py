"""Validation: every error class of SPEC R-14, durations and sizes (R-12),
secret references (R-13) and identifier case (R-1)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.config import load_config, parse_duration, parse_size, validate
from meshcore.errors import ConfigurationError


def _v(models: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"connector": "vllm.local.v1", **extra}
    if models is not None:
        body["models"] = models
    return body


def _errors(data: dict[str, Any], connectors: dict[str, Any] | None = None) -> list[str]:
    return list(validate(data, connectors).errors)


def _has(errors: list[str], path: str, fragment: str) -> bool:
    return any(e.startswith(path + ":") and fragment in e for e in errors)


# -- R-12 ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("1.5h", 5400.0), ("7d", 604800.0), ("2m", 120.0),
     (5, 5.0), (0.25, 0.25), ("10", 10.0), ("0", 0.0)],
)
def test_r12_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["-1s", -1, "5 sec", "abc", "", "1w", True, None, [1],
                                 float("nan"), "1e3s"])
def test_r12_invalid_durations(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("25MB", 25_000_000), ("10MiB", 10 * 1024**2), ("1KB", 1000), ("2KiB", 2048),
     ("1GB", 10**9), ("1GiB", 1024**3), (512, 512), ("512", 512)],
)
def test_r12_sizes(text: Any, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["-5MB", -1, "5 TB", "lots", 1.5, False])
def test_r12_invalid_sizes(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_r12_duration_units_property(n: int, unit: str) -> None:
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{n}{unit}") == pytest.approx(n * factor)


def test_r12_bad_duration_names_the_key() -> None:
    errs = _errors({"providers": {"v": _v(timeout="soon")}})
    assert _has(errs, "providers.v.timeout", "invalid duration")
    errs = _errors({"providers": {"v": _v()}, "pools": {"chat": {"deadline": "-5s"}}})
    assert _has(errs, "pools.chat.deadline", "negative")


# -- R-13 ------------------------------------------------------------------

@pytest.mark.parametrize("ok", ["${secrets:OPENAI_KEY}", "${env:HOME}", "${X_1/a.b-c}",
                                "pre-${env:A}-mid-${B}-post", "$${not a ref}", "plain"])
def test_r13_valid_references_are_kept_unresolved(ok: str) -> None:
    cfg = load_config({"providers": {"o": {"connector": "openai.llm.v1", "api_key": ok}}})
    assert cfg.providers["o"].api_keys == (ok,)


@pytest.mark.parametrize("bad", ["${secrets:}", "${vault:X}", "${a b}", "${unterminated",
                                 "x${}y"])
def test_r13_malformed_references_are_errors(bad: str) -> None:
    errs = _errors({"providers": {"o": {"connector": "openai.llm.v1", "api_key": bad}}})
    assert _has(errs, "providers.o.api_key", "invalid secret reference")


def test_r13_references_checked_at_any_depth() -> None:
    errs = _errors({"observability": [{"connector": "webhook", "url": "https://h/x",
                                       "headers": {"X-Key": "${bad ref}"}}]})
    assert any(e.startswith("observability[0].headers.X-Key:") for e in errs)


def test_r13_secrets_section_allows_only_env_forms() -> None:
    errs = _errors({"secrets": {"store": "encrypted-file", "file_path": "s.enc",
                                "passphrase": "${secrets:PASS}"}})
    assert _has(errs, "secrets.passphrase", "not allowed inside the secrets section")
    ok = _errors({"secrets": {"store": "encrypted-file", "file_path": "s.enc",
                              "passphrase": "${env:PASS}"}})
    assert ok == []


# -- R-14 error classes ------------------------------------------------------

def test_r14_wrong_type() -> None:
    errs = _errors({"providers": {"v": _v(enabled="yes", max_retries="3")}})
    assert _has(errs, "providers.v.enabled", "wrong type")
    assert _has(errs, "providers.v.max_retries", "wrong type")
    assert _has(_errors({"providers": []}), "providers", "wrong type")


def test_r14_bad_url() -> None:
    errs = _errors({"providers": {"v": _v(base_url="localhost:8000")}})
    assert _has(errs, "providers.v.base_url", "invalid URL")
    errs = _errors({"providers": {"v": _v(base_url="ftp://host/x")}})
    assert _has(errs, "providers.v.base_url", "invalid URL")
    assert _errors({"providers": {"v": _v(base_url="${env:VLLM_URL}")}}) == []


def test_r14_out_of_range() -> None:
    data = {"providers": {"v": _v(max_retries=-1)}, "pools": {"chat": {
        "capability": "chat-completion",
        "retry": {"max_attempts": 0},
        "deactivation": {"error_rate_threshold": 1.5, "request_limit": -3},
        "recovery": {"backoff_multiplier": 0.5},
        "rate_limit": {"threshold": -0.1},
    }}}
    errs = _errors(data)
    assert _has(errs, "providers.v.max_retries", ">= 0")
    assert "pools.chat.retry.max_attempts: out of range: must be >= 1" in errs
    assert _has(errs, "pools.chat.deactivation.error_rate_threshold", "<= 1")
    assert _has(errs, "pools.chat.deactivation.request_limit", ">= 0")
    assert _has(errs, "pools.chat.recovery.backoff_multiplier", ">= 1")
    assert _has(errs, "pools.chat.rate_limit.threshold", ">= 0")


def test_r14_unknown_connector_lists_close_matches() -> None:
    errs = _errors({"providers": {"o": {"connector": "openai.lm.v1", "api_key": "k"}}})
    assert _has(errs, "providers.o.connector", "did you mean openai.llm.v1")
    msg = next(e for e in errs if e.startswith("providers.o.connector"))
    assert msg.count(",") <= 2  # at most three suggestions


def test_r14_unknown_strategy_and_capability() -> None:
    errs = _errors({"providers": {"v": _v()}, "pools": {
        "a": {"capability": "chat-completion", "strategy": "round-robbin"},
        "b": {"capability": "chat-complete"},
    }})
    assert _has(errs, "pools.a.strategy", "round-robin")
    assert _has(errs, "pools.b.capability", "chat-completion")
    assert validate({"providers": {"v": _v()}, "pools": {"a": {
        "capability": "chat-completion", "strategy": "acme:Picker"}}},
        connectors={"acme:Picker": object}).errors == ()


def test_r4_model_capability_must_be_a_leaf() -> None:
    errs = _errors({"providers": {"v": _v({"m": {"capabilities": ["embeddings"]}})}})
    assert _has(errs, "providers.v.models.m.capabilities[0]", "not a leaf")
    msg = next(e for e in errs if "not a leaf" in e)
    assert "representation.embeddings.text-embeddings" in msg


def test_r14_model_with_undefined_provider() -> None:
    errs = _errors({"providers": {"vllm": _v()},
                    "models": {"x.m": {"provider": "vlm", "capabilities": ["chat-completion"]}}})
    assert _has(errs, "models.x.m.provider", "undefined provider 'vlm'; did you mean vllm")
    assert _has(_errors({"models": {"m": {}}}), "models.m.provider", "required")


def test_r14_pool_naming_undefined_model_or_provider() -> None:
    errs = _errors({"providers": {"v": _v({"m": {"capabilities": ["chat-completion"]}})},
                    "pools": {"chat": {"models": ["v.mm"], "providers": ["w"],
                                       "excluded_providers": ["z"]}}})
    assert _has(errs, "pools.chat.models[0]", "undefined model 'v.mm'; did you mean v.m")
    assert _has(errs, "pools.chat.providers[0]", "undefined provider 'w'")
    assert _has(errs, "pools.chat.excluded_providers[0]", "undefined provider 'z'")


def test_r14_code_in_both_retryable_and_non_retryable() -> None:
    errs = _errors({"providers": {"v": _v(error={"retryable_codes": [429, 500],
                                                 "non_retryable_codes": [500]})},
                    "pools": {"chat": {"capability": "chat-completion", "retry": {
                        "retryable_codes": [503], "non_retryable_codes": [503, 400]}}}})
    assert _has(errs, "providers.v.error", "500")
    assert _has(errs, "pools.chat.retry", "503")


def test_r14_openai_compatible_needs_base_url() -> None:
    errs = _errors({"providers": {"c": {"connector": "openai.compatible.v1"}}})
    assert _has(errs, "providers.c.base_url", "required for openai.compatible.v1")


def test_r14_cloud_provider_needs_api_key() -> None:
    errs = _errors({"providers": {"a": {"connector": "anthropic.claude.v1"}}})
    assert _has(errs, "providers.a.api_key", "required")
    assert _errors({"providers": {"o": {"connector": "ollama.local.v1"}}}) == []


def test_r14_duplicate_model_ids_after_canonicalisation() -> None:
    errs = _errors({"providers": {"v": _v()}, "models": [
        {"id": "My_Model", "provider": "v", "capabilities": ["chat-completion"]},
        {"id": "v.my-model", "provider": "v", "capabilities": ["chat-completion"]},
    ]})
    assert _has(errs, "models[1]", "duplicate model ID 'v.my-model'")


def test_r14_both_per_1m_and_per_1k() -> None:
    errs = _errors({"providers": {"v": _v({"m": {
        "capabilities": ["chat-completion"],
        "pricing": {"input_per_1m": 1.0, "input_per_1k": 0.001}}})}})
    assert _has(errs, "providers.v.models.m.pricing.input_per_1m", "both")


def test_r14_connectors_packages_is_an_error() -> None:
    errs = _errors({"connectors": {"packages": ["x.zip"]}})
    assert _has(errs, "connectors.packages", "not supported")


def test_r1_uppercase_ids_are_rejected() -> None:
    errs = _errors({"providers": {"VLLM": _v(), "v": _v({"v.Big": {
        "capabilities": ["chat-completion"]}})},
        "pools": {"Chat": {"capability": "chat-completion"}}})
    assert _has(errs, "providers.VLLM", "lowercase")
    assert _has(errs, "providers.v.models.v.Big", "lowercase")
    assert _has(errs, "pools.Chat", "lowercase")
    assert _has(_errors({"providers": {"o": {"connector": "OpenAI.llm.v1", "api_key": "k"}}}),
                "providers.o.connector", "lowercase")


def test_r14_all_errors_collected_in_one_configuration_error() -> None:
    data = {"providers": {"a": {"connector": "anthropic.claude.v1"},
                          "c": {"connector": "openai.compatible.v1"}},
            "pools": {"x": {"capability": "nope"}}}
    with pytest.raises(ConfigurationError) as info:
        load_config(data)
    errors = info.value.details["errors"]
    assert len(errors) == 3
    for e in errors:
        assert e in str(info.value)
    assert info.value.details["warnings"] == list(validate(data).warnings)


def test_r14_warnings_unknown_keys_empty_pools_priority_and_budgets() -> None:
    res = validate({
        "providers": {"v": _v({"m": {"capabilities": ["chat-completion"]}},
                              budget={"daily_limit": 1}),
                      "w": _v({"e": {"capabilities": ["text-embeddings"]}})},
        "pools": {
            "chat": {"capability": "chat-completion", "model_priority": ["w.e"], "colour": 1},
            "img": {"capability": "text-to-image"},
        },
    })
    assert res.errors == ()
    assert "pools.chat.colour: unknown key (ignored)" in res.warnings
    assert "pools.img: the pool has no members" in res.warnings
    assert any(w.startswith("pools.chat.model_priority:") for w in res.warnings)
    assert any(w.startswith("providers.v.budget:") and "v.m" in w for w in res.warnings)


def test_r14_auth_method_other_than_api_key_rejected_for_preshipped() -> None:
    errs = _errors({"providers": {"o": {"connector": "openai.llm.v1", "api_key": "k",
                                        "auth": {"method": "oauth"}}}})
    assert _has(errs, "providers.o.auth.method", "api_key")


def test_r14_deep_nesting_is_an_error_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(500):
        cur["config"] = {}
        cur = cur["config"]
    errs = _errors({"providers": {"p": deep}, "proxy": {"cors": {"origins": [[[[]]]] * 2}}})
    assert any("nesting deeper than" in e for e in errs)
    nested_list: list[Any] = []
    for _ in range(300):
        nested_list = [nested_list]
    with pytest.raises(ConfigurationError):
        load_config({"observability": nested_list})
