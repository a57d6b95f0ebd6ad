"""Custom connectors in the shell (SPEC R-17, R-54).

Third-party connectors are found through the entry-point group
`modelmesh.connectors` (name = connector ID, value = `module:Class`) and
`connectors.classes: {id: "module:Class"}`; a pool's `strategy` may also be
a `module:Class` string, and `pools.<name>.strategy_instance` an object.
`adapters.build` does the scan and the imports (they read files) and hands
the classes to the core's loader for validation. This module turns the same
map into what the runtime needs:

- custom **selection strategies** (objects with `select`): the
  `strategies` map given to `Router(..., strategies=...)`;
- custom **provider connectors** (objects with `start_attempt` or a `family`
  attribute): registered with the wire registry (`register_connector`,
  and `register_family` when the class brings its own Model Execution), so
  `start_attempt` and the models-list call find them.

A provider connector class declares its static facts as class attributes:
`family` (a shipped wire family such as `"openai"`, or omitted when the
class implements `start_attempt(request, ctx) -> Attempt` itself),
`base_url`, `auth` (`bearer`, `x-api-key`, ... as in `meshcore.connectors`),
`endpoints` (tuple of endpoint names), `timeout_s` and `local`. It may add
`build_models_request(provider, info, api_key)` and `parse_models(body)` for
the models list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.build import _connectors
from meshcore.connectors import CHAT, STREAM, ProviderConnectorInfo
from meshcore.wire.registry import register_connector, register_family

__all__ = ["custom_classes", "is_provider_connector", "is_strategy", "prepare_custom"]


def is_strategy(obj: Any) -> bool:
    """True for a selection strategy (R-43 `Selection`: has `select`)."""
    return callable(getattr(obj, "select", None))


def is_provider_connector(obj: Any) -> bool:
    """True for a provider connector class or instance."""
    return callable(getattr(obj, "start_attempt", None)) or isinstance(
        getattr(obj, "family", None), str)


def custom_classes(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry points, `connectors.classes` and `module:Class` strategies of a
    raw configuration (the same map `adapters.build` passes to the loader)."""
    found = _connectors(data)
    return dict(found or {})


def _register_provider(cid: str, obj: Any) -> None:
    inst = obj() if isinstance(obj, type) else obj
    own = callable(getattr(inst, "start_attempt", None))
    family = cid if own else str(inst.family)
    info = ProviderConnectorInfo(
        id=cid,
        family=family,
        base_url=getattr(inst, "base_url", None),
        auth=str(getattr(inst, "auth", "bearer")),
        endpoints=tuple(getattr(inst, "endpoints", (CHAT, STREAM))),
        timeout_s=float(getattr(inst, "timeout_s", 60.0)),
        local=bool(getattr(inst, "local", False)),
    )
    if own:
        register_family(
            cid,
            inst.start_attempt,
            build_models_request=getattr(inst, "build_models_request", None),
            parse_models=getattr(inst, "parse_models", None),
        )
    register_connector(info)


def prepare_custom(data: Mapping[str, Any]) -> dict[str, object]:
    """Register the custom provider connectors of `data` with the wire
    registry and return the custom strategies for the `Router`, keyed by
    strategy ID / `module:Class` and `pool:<name>` for `strategy_instance`."""
    strategies: dict[str, object] = {}
    classes = custom_classes(data)
    for cid, obj in classes.items():
        if is_strategy(obj):
            strategies[cid] = obj
        elif is_provider_connector(obj):
            _register_provider(cid, obj)
    pools = data.get("pools")
    if isinstance(pools, Mapping):
        for name, pool in pools.items():
            inst = pool.get("strategy_instance") if isinstance(pool, Mapping) else None
            if inst is not None:
                strategies[f"pool:{name}"] = inst
    return strategies
