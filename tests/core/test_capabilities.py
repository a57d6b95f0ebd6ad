"""Capability tree, aliases and API (SPEC R-3, R-4, R-5, R-6, R-17)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore import capabilities as caps
from meshcore.errors import CapabilityNotFoundError


def _walk(node: dict[str, object], depth: int = 0) -> list[tuple[int, str, bool]]:
    out: list[tuple[int, str, bool]] = []
    for name, child in node.items():
        assert isinstance(child, dict)
        out.append((depth, name, not child))
        out.extend(_walk(child, depth + 1))
    return out


def test_r3_tree_counts_7_categories_16_subcategories_58_leaves() -> None:
    """R-3: root -> 7 categories -> 16 internal subcategories -> 58 leaves."""
    t = caps.tree()
    nodes = _walk(t)
    categories = [n for d, n, _ in nodes if d == 0]
    internal_subs = [n for d, n, leaf in nodes if d == 1 and not leaf]
    leaves = [n for _, n, leaf in nodes if leaf]
    assert len(categories) == 7
    assert len(internal_subs) == 16
    assert len(leaves) == 58
    assert len(caps.BUILTIN_LEAVES) == 58
    assert all(caps.is_leaf(p) for p in caps.BUILTIN_LEAVES)


def test_r3_leaf_paths_with_and_without_subcategory() -> None:
    """R-3: a leaf is `category.subcategory.leaf` or `category.leaf`."""
    assert caps.resolve("translation") == "transformation.translation"
    assert caps.resolve("reranking") == "retrieval.reranking"
    assert caps.resolve("chat-completion") == "generation.text-generation.chat-completion"
    assert caps.is_leaf("retrieval.reranking")
    assert not caps.is_leaf("retrieval")
    assert not caps.is_leaf("generation.text-generation")


def test_r5_aliases_generated_for_leaves_subcategories_and_categories() -> None:
    """R-5: leaf and subcategory names map to their paths; a category is its own path."""
    assert caps.resolve("embeddings") == "representation.embeddings"
    assert caps.resolve("generation") == "generation"
    assert caps.resolve("text-to-speech") == "generation.audio-generation.text-to-speech"
    names = caps.list_all()
    assert len(names) == 7 + 16 + 58
    for name in names:
        assert caps.resolve(name).rsplit(".", 1)[-1] == name


def test_r5_full_paths_resolve_to_themselves() -> None:
    for leaf in caps.BUILTIN_LEAVES:
        assert caps.resolve(leaf) == leaf
    assert caps.resolve("understanding.vision-understanding") == "understanding.vision-understanding"


@pytest.mark.parametrize(
    ("legacy", "target"),
    [
        ("generation.audio.text-to-speech", "generation.audio-generation.text-to-speech"),
        ("understanding.audio.speech-to-text", "understanding.audio-understanding.speech-to-text"),
        ("generation.image.text-to-image", "generation.image-generation.text-to-image"),
    ],
)
def test_r5_legacy_paths_are_deprecated_aliases(legacy: str, target: str) -> None:
    assert caps.resolve_ex(legacy) == (target, True)
    assert caps.resolve(legacy) == target
    assert caps.resolve_ex("text-to-image") == ("generation.image-generation.text-to-image", False)


def test_r5_unknown_name_lists_close_matches() -> None:
    with pytest.raises(CapabilityNotFoundError) as info:
        caps.resolve("chat-completions")
    assert "chat-completion" in str(info.value)
    assert info.value.details["close_matches"][0] == "chat-completion"
    assert len(info.value.details["close_matches"]) <= 3
    assert isinstance(info.value, ValueError)


def test_r5_unknown_name_without_matches() -> None:
    with pytest.raises(CapabilityNotFoundError) as info:
        caps.resolve("zzzzqqqq")
    assert info.value.details["close_matches"] == []


def test_r5_ambiguous_custom_short_name_names_both_paths() -> None:
    """R-5: a short name mapping to two paths (custom nodes) is not an alias."""
    custom = ["evaluation.custom-checks.summarization"]
    with pytest.raises(CapabilityNotFoundError) as info:
        caps.resolve("summarization", custom)
    msg = str(info.value)
    assert "understanding.text-understanding.summarization" in msg
    assert "evaluation.custom-checks.summarization" in msg
    assert "summarization" not in caps.list_all(custom)
    # the full paths still resolve, and without custom nodes the alias works
    assert caps.resolve("evaluation.custom-checks.summarization", custom).startswith("evaluation")
    assert caps.resolve("summarization") == "understanding.text-understanding.summarization"


def test_r17_custom_nodes_create_missing_ancestors() -> None:
    custom = ("robotics.motion.path-planning",)
    assert caps.resolve("path-planning", custom) == "robotics.motion.path-planning"
    assert caps.resolve("motion", custom) == "robotics.motion"
    assert caps.resolve("robotics", custom) == "robotics"
    assert caps.is_leaf("robotics.motion.path-planning", custom)
    assert not caps.is_leaf("robotics.motion", custom)
    assert caps.tree(custom)["robotics"] == {"motion": {"path-planning": {}}}
    assert "robotics" not in caps.tree()
    with pytest.raises(CapabilityNotFoundError):
        caps.resolve("path-planning")  # no global registry


def test_r4_custom_child_turns_a_leaf_into_an_internal_node() -> None:
    custom = ["generation.text-generation.chat-completion.fast-chat"]
    assert not caps.is_leaf("generation.text-generation.chat-completion", custom)
    assert caps.leaves_under("generation.text-generation.chat-completion", custom) == (
        "generation.text-generation.chat-completion.fast-chat",
    )


def test_r6_search_is_case_insensitive_on_name_and_path() -> None:
    assert caps.search("EMBED") == sorted(
        ["embeddings", "text-embeddings", "image-embeddings", "multimodal-embeddings"]
    )
    # matches through the path: every leaf under retrieval.search contains "search"
    found = caps.search("knowledge")
    assert found == ["entity-linking", "graph-query", "knowledge-graph", "relation-extraction"]
    assert caps.search("no-such-thing") == []
    assert caps.search("planning", ["robotics.planning"]) == ["planning"]


def test_r6_list_all_sorted_and_tree_leaves_empty() -> None:
    names = caps.list_all()
    assert names == sorted(names)
    t = caps.tree()
    assert t["retrieval"]["reranking"] == {}
    assert t["generation"]["text-generation"]["chat-completion"] == {}


def test_r4_leaves_under_and_is_at_or_under() -> None:
    assert caps.leaves_under("generation.audio-generation") == (
        "generation.audio-generation.text-to-speech",
        "generation.audio-generation.music-generation",
    )
    assert len(caps.leaves_under("generation")) == 3 + 3 + 3 + 2 + 2
    assert caps.leaves_under("nope") == ()
    assert caps.is_at_or_under("generation.text-generation.chat-completion", "generation")
    assert caps.is_at_or_under("generation", "generation")
    assert not caps.is_at_or_under("generation-x.a", "generation")


def test_r1_invalid_custom_path_raises_value_error() -> None:
    with pytest.raises(ValueError):
        caps.resolve("x", ["Bad.Path"])


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(caps.BUILTIN_LEAVES), st.sampled_from(caps.BUILTIN_LEAVES))
def test_r4_ancestor_relation_consistent_with_leaves_under(leaf: str, other: str) -> None:
    """Property: a leaf is under every ancestor whose leaves_under contains it."""
    parts = other.split(".")
    for i in range(1, len(parts) + 1):
        node = ".".join(parts[:i])
        assert (leaf in caps.leaves_under(node)) == caps.is_at_or_under(leaf, node)
