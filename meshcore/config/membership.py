"""Pool membership, operation support and pool lookup by capability
(SPEC R-23, R-24, R-25, R-28, R-105).

Theory of operation: pure functions of a `MeshConfig`. `pool_members`
builds a pool's member list in pool order: the explicitly listed models in
list order, then the capability matches ordered by source (configured,
then discovered, then catalogue) and by each model's `order` within its
source, de-duplicated; the `providers` filter, then `excluded_providers`,
then the removal of disabled providers apply to the whole list.
`model_serves_operation` applies R-105 (the connector must support the
endpoint and the model must hold a matching leaf). `most_specific_pool`
picks, for a capability path, the pool whose node is that node or its
deepest ancestor (R-28 (2)).
"""

from __future__ import annotations

from meshcore.capabilities import is_at_or_under
from meshcore.config.schema import MeshConfig, ModelConfig, PoolConfig
from meshcore.connectors import (
    CHAT,
    EMBEDDINGS,
    IMAGES,
    PROVIDER_CONNECTORS,
    SPEECH,
    TRANSCRIPTION,
)
from meshcore.types import Operation

_SOURCE_RANK = {"config": 0, "discovered": 1, "catalogue": 2}

#: The capability node each special operation needs (R-105).
OPERATION_NODES: dict[Operation, str] = {
    Operation.EMBEDDINGS: "representation.embeddings",
    Operation.IMAGES: "generation.image-generation",
    Operation.SPEECH: "generation.audio-generation.text-to-speech",
    Operation.TRANSCRIPTION: "understanding.audio-understanding.speech-to-text",
}
_ENDPOINT: dict[Operation, str] = {
    Operation.CHAT: CHAT,
    Operation.EMBEDDINGS: EMBEDDINGS,
    Operation.IMAGES: IMAGES,
    Operation.SPEECH: SPEECH,
    Operation.TRANSCRIPTION: TRANSCRIPTION,
}


def pool_order_key(model: ModelConfig) -> tuple[int, int]:
    """Sort key of capability matches (R-24)."""
    return (_SOURCE_RANK.get(model.source, 3), model.order)


def _eligible(config: MeshConfig, pool: PoolConfig, model: ModelConfig) -> bool:
    provider = config.providers.get(model.provider)
    if provider is None or not provider.enabled:
        return False
    if pool.providers is not None and model.provider not in pool.providers:
        return False
    return model.provider not in pool.excluded_providers


def pool_members(config: MeshConfig, pool: PoolConfig) -> tuple[str, ...]:
    """The members of `pool` in pool order (R-23, R-24, R-25)."""
    out: list[str] = []
    seen: set[str] = set()
    for mid in pool.models:
        model = config.models.get(mid)
        if model is not None and mid not in seen and _eligible(config, pool, model):
            seen.add(mid)
            out.append(mid)
    if pool.capability is not None:
        node = pool.capability
        ranked = sorted(config.models.values(), key=pool_order_key)
        for model in ranked:
            if model.id in seen or not _eligible(config, pool, model):
                continue
            if any(is_at_or_under(leaf, node) for leaf in model.capabilities):
                seen.add(model.id)
                out.append(model.id)
    return tuple(out)


def _endpoints(config: MeshConfig, provider_id: str) -> tuple[str, ...] | None:
    provider = config.providers.get(provider_id)
    if provider is None:
        return ()
    info = PROVIDER_CONNECTORS.get(provider.connector)
    if info is None:
        return None  # custom connector: assume supported
    if provider.connector == "openai.compatible.v1":
        configured = provider.options.get("endpoints")
        if isinstance(configured, list | tuple):
            return tuple(str(e) for e in configured)
    return info.endpoints


def model_serves_operation(config: MeshConfig, model_id: str, operation: Operation) -> bool:
    """True when the model can serve `operation` (R-105): its connector
    supports the endpoint and it has a matching leaf. Chat needs any leaf
    outside the four special nodes; a model without any capability (R-21)
    is assumed to chat."""
    model = config.models.get(model_id)
    if model is None:
        return False
    endpoints = _endpoints(config, model.provider)
    if endpoints is not None and _ENDPOINT[operation] not in endpoints:
        return False
    if operation is Operation.CHAT:
        if not model.capabilities:
            return True
        special = tuple(OPERATION_NODES.values())
        return any(
            not any(is_at_or_under(leaf, node) for node in special)
            for leaf in model.capabilities
        )
    node = OPERATION_NODES[operation]
    return any(is_at_or_under(leaf, node) for leaf in model.capabilities)


def most_specific_pool(config: MeshConfig, capability_path: str) -> str | None:
    """The pool whose node is `capability_path` or its deepest ancestor
    (ties: the earlier pool); None when no pool targets such a node."""
    best: str | None = None
    best_depth = -1
    for name, pool in config.pools.items():
        node = pool.capability
        if node is None or not is_at_or_under(capability_path, node):
            continue
        depth = node.count(".")
        if depth > best_depth:
            best, best_depth = name, depth
    return best


__all__ = [
    "OPERATION_NODES",
    "model_serves_operation",
    "most_specific_pool",
    "pool_members",
    "pool_order_key",
]
