"""Property tests: MeshConfig round-trips through to_dict/from_dict (SPEC R-9,
R-85 config persistence), slugs are canonical (R-1) and validate/load_config
agree (R-14)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.capabilities import BUILTIN_LEAVES
from meshcore.config import load_config, validate
from meshcore.config.ids import canonical_model_id, model_slug
from meshcore.config.schema import MeshConfig
from meshcore.connectors import STRATEGIES
from meshcore.errors import ConfigurationError

_names = st.text(alphabet="abcXYZ019-_/. ", min_size=1, max_size=12).filter(
    lambda s: s.strip(" ") != "" and not s.startswith("."))
_durations = st.one_of(st.integers(0, 10_000), st.sampled_from(["500ms", "30s", "2m", "1.5h"]))


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 3))):
        models = {
            f"m{j}-{draw(_names)}": {
                "capabilities": draw(st.lists(st.sampled_from(BUILTIN_LEAVES), min_size=1,
                                              max_size=3, unique=True)),
                "pricing": {"input_per_1m": draw(st.floats(0, 100)),
                            "output_per_1k": draw(st.floats(0, 1))},
            }
            for j in range(draw(st.integers(0, 3)))
        }
        providers[f"p{i}"] = {"connector": draw(st.sampled_from(
            ["vllm.local.v1", "ollama.local.v1", "openai.llm.v1", "anthropic.claude.v1"])),
            "api_key": "${secrets:K}", "models": models,
            "timeout": draw(_durations), "enabled": draw(st.booleans())}
    data: dict[str, Any] = {"providers": providers}
    if draw(st.booleans()):
        data["pools"] = {
            f"pool{k}": {
                "capability": draw(st.sampled_from(["generation", "chat-completion",
                                                    "embeddings", "understanding"])),
                "strategy": draw(st.sampled_from(STRATEGIES)),
                "deadline": draw(_durations),
                "deactivation": {"request_limit": draw(st.integers(0, 100)),
                                 "error_rate_threshold": draw(st.floats(0, 1))},
                "retry": {"max_attempts": draw(st.integers(1, 5))},
            }
            for k in range(draw(st.integers(1, 3)))
        }
    if draw(st.booleans()):
        data["storage"] = {"connector": draw(st.sampled_from(["memory", "sqlite",
                                                               "local-file"]))}
    if draw(st.booleans()):
        data["observability"] = [{"connector": "console", "level": "summary"}]
    return data


@settings(max_examples=40, deadline=None)
@given(configs())
def test_r9_round_trip_property(data: dict[str, Any]) -> None:
    result = validate(data)
    try:
        cfg = load_config(data)
    except ConfigurationError as exc:
        assert exc.details["errors"] == list(result.errors) != []
        return
    assert result.errors == ()
    assert MeshConfig.from_dict(cfg.to_dict()) == cfg
    assert load_config(data) == cfg  # deterministic


@settings(max_examples=100, deadline=None)
@given(_names)
def test_r1_slug_is_idempotent_and_canonical(name: str) -> None:
    slug = model_slug(name)
    assert model_slug(slug) == slug
    assert "--" not in slug
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789.-" for c in slug)
    mid = canonical_model_id(name, "prov.x.v1")
    assert mid.startswith("prov.")
    assert canonical_model_id(mid, "prov.x.v1") == mid
