"""The capability tree, its aliases and the capability API (SPEC R-3 to R-6).

Theory of operation: the built-in tree is one data table (`_TABLE`). A
`_Tree` value is built from that table plus a configuration's custom node
paths (R-17; missing ancestors are created) and memoised per tuple of
custom paths, so the module keeps no registry: every caller passes the
custom nodes it knows about. Aliases are generated from the tree: the last
segment of every node maps to the node's path unless two nodes share it,
in which case the short name is *ambiguous* and resolving it raises an
error naming both paths (R-5). Three legacy paths resolve as deprecated
aliases; `resolve_ex` reports that to the caller (the router emits the
warning trace once per Router). Unknown names raise
`CapabilityNotFoundError` with up to three close matches (difflib).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from meshcore.errors import CapabilityNotFoundError
from meshcore.frozen import native_reduce

# (category, subcategory or None, leaves) rows of SPEC R-3, in table order.
_TABLE: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("generation", "text-generation", ("chat-completion", "text-completion", "code-generation")),
    ("generation", "structured-generation",
     ("json-generation", "schema-constrained-output", "function-call-generation")),
    ("generation", "image-generation", ("text-to-image", "image-to-image", "inpainting")),
    ("generation", "audio-generation", ("text-to-speech", "music-generation")),
    ("generation", "video-generation", ("text-to-video", "image-to-video")),
    ("understanding", "text-understanding",
     ("summarization", "classification", "sentiment-analysis", "entity-extraction")),
    ("understanding", "vision-understanding", ("image-captioning", "object-detection", "ocr")),
    ("understanding", "audio-understanding",
     ("speech-to-text", "speaker-identification", "audio-classification")),
    ("understanding", "document-understanding",
     ("document-parsing", "table-extraction", "form-extraction")),
    ("transformation", None, ("translation", "rewriting", "style-transfer")),
    ("transformation", "image-editing", ("background-removal", "upscaling", "format-conversion")),
    ("transformation", "audio-processing", ("noise-reduction", "voice-cloning", "audio-separation")),
    ("representation", "embeddings", ("text-embeddings", "image-embeddings", "multimodal-embeddings")),
    ("representation", None, ("tokenization", "feature-extraction")),
    ("retrieval", "search", ("semantic-search", "web-search", "image-search", "code-search")),
    ("retrieval", "knowledge-graph", ("graph-query", "entity-linking", "relation-extraction")),
    ("retrieval", "rag", ("retrieval-augmented-generation", "grounded-generation")),
    ("retrieval", None, ("reranking",)),
    ("interaction", None, ("tool-calling", "multi-turn-conversation")),
    ("interaction", "agent-execution", ("single-step-agent", "multi-step-agent")),
    ("evaluation", None,
     ("content-moderation", "toxicity-detection", "factuality-checking", "quality-scoring")),
)

#: Legacy paths accepted as deprecated aliases (R-5).
DEPRECATED_PATHS: dict[str, str] = {
    "generation.audio.text-to-speech": "generation.audio-generation.text-to-speech",
    "understanding.audio.speech-to-text": "understanding.audio-understanding.speech-to-text",
    "generation.image.text-to-image": "generation.image-generation.text-to-image",
}

#: One path segment of a (custom) capability node.
SEGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _builtin_paths() -> tuple[str, ...]:
    out: list[str] = []
    for cat, sub, leaves in _TABLE:
        base = cat if sub is None else f"{cat}.{sub}"
        out.extend(f"{base}.{leaf}" for leaf in leaves)
    return tuple(out)


BUILTIN_LEAVES: tuple[str, ...] = _builtin_paths()


def is_valid_path(path: str) -> bool:
    """True when `path` is a syntactically valid dotted node path."""
    return bool(path) and all(SEGMENT_RE.match(seg) for seg in path.split("."))


@dataclass(frozen=True)
class _Tree:
    nodes: tuple[str, ...]  # every node path, parents before children, table order
    children: dict[str, tuple[str, ...]]  # "" is the root
    aliases: dict[str, str]
    ambiguous: dict[str, tuple[str, ...]]


native_reduce(_Tree)  # copy/pickle when compiled (meshcore.frozen)


def _normalise_custom(custom: Iterable[str] | None) -> tuple[str, ...]:
    if custom is None:
        return ()
    if isinstance(custom, str):
        return (custom,)
    return tuple(custom)


@lru_cache(maxsize=64)
def _build(custom: tuple[str, ...]) -> _Tree:
    order: list[str] = []
    known: set[str] = set()
    children: dict[str, list[str]] = {"": []}

    def add(path: str) -> None:
        segs = path.split(".")
        for i in range(1, len(segs) + 1):
            node = ".".join(segs[:i])
            if node in known:
                continue
            parent = ".".join(segs[: i - 1])
            known.add(node)
            order.append(node)
            children.setdefault(node, [])
            children[parent].append(node)

    for leaf in BUILTIN_LEAVES:
        add(leaf)
    for path in custom:
        if not is_valid_path(path):
            raise ValueError(f"invalid capability path {path!r}")
        add(path)
    by_short: dict[str, list[str]] = {}
    for node in order:
        by_short.setdefault(node.rsplit(".", 1)[-1], []).append(node)
    aliases: dict[str, str] = {}
    ambiguous: dict[str, tuple[str, ...]] = {}
    for short, paths in by_short.items():
        if len(paths) == 1:
            aliases[short] = paths[0]
        else:
            ambiguous[short] = tuple(paths)
    return _Tree(
        nodes=tuple(order),
        children={k: tuple(v) for k, v in children.items()},
        aliases=aliases,
        ambiguous=ambiguous,
    )


def _tree_of(custom: Iterable[str] | None) -> _Tree:
    return _build(_normalise_custom(custom))


def node_exists(path: str, custom: Iterable[str] | None = None) -> bool:
    """True when `path` is a node (category, subcategory, leaf or custom)."""
    return path in _tree_of(custom).children


def resolve_ex(name: str, custom: Iterable[str] | None = None) -> tuple[str, bool]:
    """Resolve an alias or dotted path to `(full path, deprecated)` (R-5, R-6).

    `deprecated` is true for the three legacy paths; the caller reports it.
    Raises `CapabilityNotFoundError` for an ambiguous short name (naming both
    paths) or an unknown name (with up to three close matches).
    """
    tree = _tree_of(custom)
    if not isinstance(name, str):
        raise CapabilityNotFoundError(
            f"capability name must be a string, got {type(name).__name__}",
            details={"name": repr(name), "close_matches": []},
        )
    if name in tree.children and name != "":
        return name, False
    if name in tree.aliases:
        return tree.aliases[name], False
    if name in tree.ambiguous:
        paths = tree.ambiguous[name]
        raise CapabilityNotFoundError(
            f"ambiguous capability {name!r}: it names {' and '.join(paths)}; use the full path",
            details={"name": name, "paths": list(paths), "close_matches": []},
        )
    if name in DEPRECATED_PATHS:
        return DEPRECATED_PATHS[name], True
    pool = sorted(set(tree.aliases) | set(tree.nodes))
    close = difflib.get_close_matches(name, pool, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise CapabilityNotFoundError(
        f"unknown capability {name!r}{hint}",
        details={"name": name, "close_matches": close},
    )


def resolve(name: str, custom: Iterable[str] | None = None) -> str:
    """Return the full path for an alias or an existing dotted path (R-6)."""
    return resolve_ex(name, custom)[0]


def list_all(custom: Iterable[str] | None = None) -> list[str]:
    """The alias names (categories, subcategories, leaves, custom), sorted (R-6)."""
    return sorted(_tree_of(custom).aliases)


def search(keyword: str, custom: Iterable[str] | None = None) -> list[str]:
    """Sorted aliases whose name or path contains `keyword`, case-insensitively."""
    needle = keyword.lower()
    tree = _tree_of(custom)
    return sorted(
        short
        for short, path in tree.aliases.items()
        if needle in short.lower() or needle in path.lower()
    )


def tree(custom: Iterable[str] | None = None) -> dict[str, Any]:
    """The tree as nested dicts; every leaf maps to `{}` (R-6)."""
    t = _tree_of(custom)

    def sub(node: str) -> dict[str, Any]:
        return {
            child.rsplit(".", 1)[-1]: sub(child) for child in t.children.get(node, ())
        }

    return sub("")


def is_leaf(path: str, custom: Iterable[str] | None = None) -> bool:
    """True when `path` is an existing node without children."""
    children = _tree_of(custom).children
    return path in children and path != "" and not children[path]


def leaves_under(path: str, custom: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every leaf at or below node `path`, in tree order (empty if unknown)."""
    t = _tree_of(custom)
    if path not in t.children or path == "":
        return ()
    return tuple(
        n for n in t.nodes if is_at_or_under(n, path) and not t.children[n]
    )


def all_nodes(custom: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every node path, parents before children."""
    return _tree_of(custom).nodes


def is_at_or_under(path: str, node: str) -> bool:
    """True when `path` equals `node` or lies below it (pure string test)."""
    return path == node or path.startswith(node + ".")


__all__ = [
    "BUILTIN_LEAVES",
    "DEPRECATED_PATHS",
    "all_nodes",
    "is_at_or_under",
    "is_leaf",
    "is_valid_path",
    "leaves_under",
    "list_all",
    "node_exists",
    "resolve",
    "resolve_ex",
    "search",
    "tree",
]
