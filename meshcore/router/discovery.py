"""Registry sync in the core: discovered models join and leave pools (R-20, R-21,
R-24, R-26, R-102).

Theory of operation: the shell lists a provider's models (registry sync,
auto-discover) and reports the listing as one `ModelsDiscovered` event.
`DiscoveryState` remembers, per provider, every model discovery has seen
(`known`, in discovery order) and which of them are registered, missing
from the latest listing, or retired by `on_deprecated_model: deactivate`.
Each listing is diffed against `known`: new IDs, IDs that went missing
(deprecated), IDs listed again, and IDs whose pricing or capabilities
changed (updated). The discovery policy (`on_new_model`, `auto_register`,
`on_deprecated_model`) decides what is registered; one
`discovery_models_updated` event reports the changes of the listing.

The router's configuration is then rebuilt as a pure function of the
loaded base configuration plus the registered discovered models
(`effective_config`): configured models win field by field (their unset
fields are filled from the listing), catalogue models of a provider that
now has discovered models are retired (R-20), and when the pools are the
predefined ones (R-7) they are recomputed so a pool that gains members
appears. A retired model stays in the model table with no capabilities
(so an attempt in flight on it still completes) but joins no capability
pool. Installing the rebuilt configuration emits one
`pool_membership_changed` per pool whose members changed (R-26). Models
configured explicitly are never removed. Everything is ordered by lists
and dicts (insertion order), never by sets or hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from meshcore.actions import Action
from meshcore.capabilities import is_leaf, resolve
from meshcore.catalogue import catalogue_entry
from meshcore.config.ids import canonical_model_id, model_slug, provider_prefix
from meshcore.config.membership import pool_members
from meshcore.config.models import FEATURES, MODEL_ID_RE, default_streaming
from meshcore.config.pools import predefined_pools
from meshcore.config.schema import MeshConfig, ModelConfig, Pricing, ProviderConfig
from meshcore.events import ModelsDiscovered

if TYPE_CHECKING:
    from meshcore.router.requests import RequestOps

__all__ = [
    "DiscoveryState",
    "effective_config",
    "install",
    "model_from_info",
    "on_models_discovered",
    "rebase",
    "registry_view",
]

RETIRED = "retired"


@dataclass
class ProviderRegistry:
    """What discovery knows about one provider's models."""

    known: dict[str, ModelConfig] = field(default_factory=dict)  # discovery order
    registered: dict[str, None] = field(default_factory=dict)
    missing: dict[str, None] = field(default_factory=dict)  # absent from the last listing
    retired: dict[str, None] = field(default_factory=dict)  # deprecated + deactivate
    listed: int = 0  # successful listings
    last_error: str | None = None
    last_changes: dict[str, list[str]] = field(default_factory=dict)  # new/deprecated/updated


@dataclass
class DiscoveryState:
    """Discovery state of one router: the base (loaded) configuration and the
    per-provider registries."""

    base: MeshConfig
    providers: dict[str, ProviderRegistry] = field(default_factory=dict)
    order: int = 0  # discovery order across providers

    def registry(self, provider_id: str) -> ProviderRegistry:
        """The registry of `provider_id`, created on first use."""
        reg = self.providers.get(provider_id)
        if reg is None:
            reg = ProviderRegistry()
            self.providers[provider_id] = reg
        return reg


# ---------------------------------------------------------------- listing entries


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _pricing_of(value: Any) -> Pricing | None:
    if not isinstance(value, dict):
        return None
    out: list[float] = []
    for key in ("input_per_1m", "output_per_1m", "per_request"):
        v = value.get(key, 0.0)
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            return None
        out.append(float(v))
    return Pricing(out[0], out[1], out[2])


def _leaves(value: Any, custom: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            continue
        try:
            path = resolve(item, custom)
        except (ValueError, KeyError):
            continue
        if is_leaf(path, custom) and path not in out:
            out.append(path)
    return tuple(out)


def model_from_info(
    provider: ProviderConfig, info: dict[str, Any], order: int, custom: tuple[str, ...] = ()
) -> ModelConfig | None:
    """A `ModelConfig` (source `discovered`) from one listing entry, or None
    when the entry has no usable `id`. Capabilities follow R-21: the
    listing's, else the provider's `capabilities`, else the connector
    catalogue entry of the same native name, else none. Unset pricing,
    limits and features are filled from that catalogue entry."""
    native = info.get("id")
    if not isinstance(native, str) or not native.strip():
        return None
    native = native.strip()
    mid = canonical_model_id(native, provider.id)
    if model_slug(mid) != mid:
        mid = f"{provider_prefix(provider.id)}.{model_slug(native)}"
    if not MODEL_ID_RE.match(mid) or mid.endswith("."):
        return None
    cat = catalogue_entry(provider.connector, native)
    caps = _leaves(info.get("capabilities"), custom)
    if not caps:
        caps = provider.capabilities or (cat.capabilities if cat is not None else ())
    features: dict[str, bool] = {f: True for f in cat.features} if cat is not None else {}
    raw_features = info.get("features")
    if isinstance(raw_features, dict):
        for name in FEATURES:
            v = raw_features.get(name)
            if isinstance(v, bool):
                features[name] = v
    delivery = info.get("delivery") if isinstance(info.get("delivery"), dict) else {}
    assert isinstance(delivery, dict)
    stream = delivery.get("streaming")
    pricing = _pricing_of(info.get("pricing"))
    if pricing is None and cat is not None and cat.pricing is not None:
        pricing = Pricing(*cat.pricing)
    cw = _int_or_none(info.get("context_window"))
    mo = _int_or_none(info.get("max_output_tokens"))
    return ModelConfig(
        id=mid,
        provider=provider.id,
        name=native,
        capabilities=caps,
        delivery_streaming=stream if isinstance(stream, bool) else default_streaming(caps),
        features=features,
        context_window=cw if cw is not None else (cat.context_window if cat else None),
        max_output_tokens=mo if mo is not None else (cat.max_output_tokens if cat else None),
        pricing=pricing,
        source="discovered",
        order=order,
    )


def _merge(configured: ModelConfig, found: ModelConfig) -> ModelConfig:
    """R-20: configured attributes win field by field; unset ones come from
    the listing."""
    return replace(
        configured,
        capabilities=configured.capabilities or found.capabilities,
        context_window=(configured.context_window if configured.context_window is not None
                        else found.context_window),
        max_output_tokens=(configured.max_output_tokens
                           if configured.max_output_tokens is not None
                           else found.max_output_tokens),
        pricing=configured.pricing if configured.pricing is not None else found.pricing,
        features={**found.features, **configured.features},
    )


def _changed(old: ModelConfig, new: ModelConfig) -> bool:
    return old.pricing != new.pricing or old.capabilities != new.capabilities


# ---------------------------------------------------------------- the effective config


def _retire(cfg: ModelConfig) -> ModelConfig:
    return replace(cfg, capabilities=(), source=RETIRED)


def effective_config(state: DiscoveryState) -> MeshConfig:
    """The base configuration plus the registered discovered models (pure)."""
    base = state.base
    known: dict[str, ModelConfig] = {}
    discovered_for: dict[str, None] = {}
    for pid, reg in state.providers.items():
        if pid not in base.providers:
            continue
        for mid, cfg in reg.known.items():
            known.setdefault(mid, cfg)
            if mid in reg.registered and mid not in reg.retired:
                cur = base.models.get(mid)
                if cur is None or cur.source != "config":
                    discovered_for[pid] = None
    models: dict[str, ModelConfig] = {}
    for mid, cfg in base.models.items():
        hit = known.get(mid)
        if cfg.source == "config":
            models[mid] = _merge(cfg, hit) if hit is not None and hit.provider == cfg.provider \
                else cfg
        elif cfg.source == "catalogue" and cfg.provider in discovered_for:
            models[mid] = _retire(cfg)
        else:
            models[mid] = cfg
    for pid, reg in state.providers.items():
        if pid not in base.providers:
            continue
        for mid in reg.registered:
            cur = models.get(mid)
            if cur is not None and cur.source == "config":
                continue
            cfg = reg.known[mid]
            models[mid] = _retire(cfg) if mid in reg.retired else cfg
    if models == base.models:
        return base
    out = replace(base, models=models)
    if all(p.predefined for p in base.pools.values()):
        pools = {}
        for name, pool in predefined_pools().items():
            if name in base.pools or pool_members(out, pool):
                pools[name] = base.pools.get(name, pool)
        out = replace(out, pools=pools)
    return out


def install(r: RequestOps, actions: list[Action], config: MeshConfig) -> None:
    """Install `config` in the router and emit one `pool_membership_changed`
    per pool whose members changed (R-26)."""
    if config is r.config:
        return
    old_members = dict(r.pool_members)
    r._install_config(config)
    for mid in [m for m in r.models if m not in config.models]:
        del r.models[mid]
    for name, members in r.pool_members.items():
        before = old_members.get(name, ())
        added = [m for m in members if m not in before]
        removed = [m for m in before if m not in members]
        if added or removed:
            r.event(actions, "pool_membership_changed", pool_id=name,
                    added=added, removed=removed)
    for name, before in old_members.items():
        if name not in r.pool_members and before:
            r.event(actions, "pool_membership_changed", pool_id=name,
                    added=[], removed=list(before))
    for name in list(r.strategy_state):
        if name not in config.pools:
            del r.strategy_state[name]
    r.drop_removed_models(actions)  # attempts on models that are gone are cancelled
    r.dirty = True


def rebase(state: DiscoveryState, base: MeshConfig) -> MeshConfig:
    """A new base configuration (reload, R-118a): the effective configuration
    keeps the registered discovered models of providers that still exist."""
    state.base = base
    return effective_config(state)


# ---------------------------------------------------------------- one listing


def _sync_settings(config: MeshConfig) -> dict[str, Any]:
    disc = config.sections.get("discovery")
    sync = disc.get("sync") if isinstance(disc, dict) else None
    return sync if isinstance(sync, dict) else {}


def on_models_discovered(
    r: RequestOps, state: DiscoveryState, actions: list[Action], ev: ModelsDiscovered
) -> None:
    """Apply one provider listing (R-102); see the module docstring."""
    base = state.base
    prov = base.providers.get(ev.provider_id)
    comp = f"provider.{ev.provider_id}"
    if prov is None:
        r.trace(actions, "warning", "discovery",
                f"models listed for unknown provider {ev.provider_id!r} ignored")
        return
    reg = state.registry(ev.provider_id)
    if ev.error is not None:
        reg.last_error = ev.error
        reg.last_changes = {}
        r.trace(actions, "warning", comp,
                f"listing the models of {ev.provider_id} failed; keeping its models",
                error=ev.error)
        return
    reg.last_error = None
    reg.listed += 1
    sync = _sync_settings(base)
    on_new = str(sync.get("on_new_model", "register"))
    if on_new == "register" and sync.get("auto_register", True) is False:
        on_new = "notify"
    on_dep = str(sync.get("on_deprecated_model", "notify"))
    listing: dict[str, ModelConfig] = {}
    for info in ev.models:
        if not isinstance(info, dict):
            continue
        cfg = model_from_info(prov, info, state.order, base.custom_capabilities)
        if cfg is None or cfg.id in listing:
            continue
        owner = base.models.get(cfg.id)
        if owner is not None and owner.provider != prov.id:
            continue  # another provider's configured model holds this ID
        listing[cfg.id] = cfg
        if cfg.id not in reg.known:
            state.order += 1
    configured = {mid for mid, m in base.models.items() if m.source == "config"}
    new: list[str] = []
    updated: list[str] = []
    deprecated: list[str] = []
    for mid, cfg in listing.items():
        old = reg.known.get(mid)
        if old is None:
            reg.known[mid] = cfg
            if on_new == "register" or mid in configured:
                reg.registered[mid] = None
            if on_new != "ignore" and mid not in configured:
                new.append(mid)
            if not cfg.capabilities and mid not in configured and on_new == "register":
                r.trace(actions, "warning", comp,
                        f"model {mid} has no capabilities (R-21); it joins only pools "
                        "that list it", model_id=mid)
            continue
        reg.known[mid] = replace(cfg, order=old.order)
        if mid in reg.missing:
            del reg.missing[mid]
            reg.retired.pop(mid, None)
            if mid not in configured and on_new != "ignore":
                new.append(mid)
        elif _changed(old, cfg) and mid not in configured:
            updated.append(mid)
    for mid in list(reg.known):
        if mid in listing or mid in reg.missing:
            continue
        reg.missing[mid] = None
        if mid in configured or on_dep == "ignore":
            continue
        deprecated.append(mid)
        if on_dep == "deactivate" and mid in reg.registered:
            reg.retired[mid] = None
    reg.last_changes = {"new": new, "deprecated": deprecated, "updated": updated}
    if new or updated or deprecated:
        r.event(actions, "discovery_models_updated", provider_id=ev.provider_id,
                new=new, deprecated=deprecated, updated=updated)
    install(r, actions, effective_config(state))


# ---------------------------------------------------------------- views


def registry_view(state: DiscoveryState) -> dict[str, Any]:
    """JSON-able summary per provider: known, registered, missing and retired
    model IDs, the number of successful listings and the last error."""
    out: dict[str, Any] = {}
    for pid, reg in state.providers.items():
        out[pid] = {
            "known": list(reg.known),
            "registered": [m for m in reg.registered if m not in reg.retired],
            "missing": list(reg.missing),
            "retired": list(reg.retired),
            "listings": reg.listed,
            "last_error": reg.last_error,
            "last_changes": {k: list(v) for k, v in reg.last_changes.items()},
            "listed_models": len(reg.known) - len(reg.missing),
        }
    return out
