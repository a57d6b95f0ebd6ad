"""Identifier rules (SPEC R-1, R-2): slugs, model IDs and connector IDs.

Theory of operation: pure helpers. `model_slug` applies R-1's slug rule to
a provider-native name; `canonical_model_id` turns a bare or prefixed model
key into `<prefix>.<slug>` where the prefix is the first dot segment of the
provider ID. `resolve_connector` canonicalises a connector ID of one kind
(provider, strategy, secret store, storage, observability, discovery) and
checks it against the pre-shipped IDs plus the custom ones the shell passed
in, returning None after recording an error with up to three close matches.
"""

from __future__ import annotations

import re

from meshcore.config.common import Ctx, close_matches
from meshcore.connectors import (
    DISCOVERY_CONNECTORS,
    OBSERVABILITY_ALIASES,
    OBSERVABILITY_CONNECTORS,
    PROVIDER_CONNECTORS,
    SECRET_STORES,
    STORAGE_CONNECTORS,
    STRATEGIES,
    canonical_connector_id,
)

PROVIDER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")
POOL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SLUG_BAD = re.compile(r"[^a-z0-9.-]")
_DASHES = re.compile(r"-{2,}")
CLASS_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

KNOWN_IDS: dict[str, tuple[str, ...]] = {
    "provider": tuple(PROVIDER_CONNECTORS),
    "strategy": STRATEGIES,
    "secret store": SECRET_STORES,
    "storage": STORAGE_CONNECTORS,
    "observability": OBSERVABILITY_CONNECTORS,
    "discovery": DISCOVERY_CONNECTORS,
}


def model_slug(name: str) -> str:
    """R-1 slug: lowercase, every character outside `[a-z0-9.-]` becomes
    `-`, runs of `-` collapse."""
    return _DASHES.sub("-", _SLUG_BAD.sub("-", name.lower()))


def provider_prefix(provider_id: str) -> str:
    """The first dot segment of a provider ID."""
    return provider_id.split(".", 1)[0]


def is_prefixed(key: str, provider_id: str) -> bool:
    """True when a model key is already written as `<prefix>.<...>`."""
    return key.startswith(provider_prefix(provider_id) + ".")


def canonical_model_id(key: str, provider_id: str) -> str:
    """Canonical model ID of a bare or prefixed key (R-1, R-11)."""
    if is_prefixed(key, provider_id):
        return key
    return f"{provider_prefix(provider_id)}.{model_slug(key)}"


def has_upper(text: str) -> bool:
    """True when `text` contains an ASCII uppercase letter (R-1)."""
    return any("A" <= ch <= "Z" for ch in text)


def resolve_connector(
    ctx: Ctx, raw: object, path: str, kind: str, custom: tuple[str, ...] = ()
) -> str | None:
    """Canonical connector ID of `kind`, or None after recording an error."""
    if not isinstance(raw, str) or not raw.strip():
        ctx.error(path, f"wrong type: expected a {kind} connector ID string")
        return None
    known = KNOWN_IDS[kind]
    if raw in custom or raw.strip() in custom:
        return raw.strip()
    if has_upper(raw):
        ctx.error(path, f"IDs must be lowercase (R-1): {raw!r}")
        return None
    modelmesh = tuple(k for k in known if k.startswith("modelmesh."))
    if kind == "observability":
        modelmesh += tuple(OBSERVABILITY_ALIASES)
    cid = canonical_connector_id(raw, modelmesh)
    if kind == "observability":
        cid = OBSERVABILITY_ALIASES.get(cid, cid)
    if cid in known or cid in custom:
        return cid
    label = "strategy" if kind == "strategy" else f"{kind} connector"
    ctx.error(path, f"unknown {label} {raw!r}{close_matches(cid, known + custom)}")
    return None


__all__ = [
    "CLASS_REF_RE",
    "POOL_NAME_RE",
    "PROVIDER_ID_RE",
    "canonical_model_id",
    "has_upper",
    "is_prefixed",
    "model_slug",
    "provider_prefix",
    "resolve_connector",
]
