"""`load_config` and `validate`: dict in, one frozen `MeshConfig` out
(SPEC R-9 to R-28, API.md section 3).

Theory of operation: the loader is a single pass over the input dict that
never stops at the first problem. A shared `Ctx` collects errors and
warnings as `<key.path>: <message>` strings while each section normaliser
(`sections`, `providers`, `models`, `pools`, `observe`) turns every shape
SPEC R-11 accepts into the one schema of `meshcore.config.schema`. Order
matters only where one section depends on another: custom connector IDs
and capability nodes first, then providers, models (with catalogue models,
R-20), pools (or the predefined pools of R-7 when there is no `pools`
section), the shell-only sections, and last the cross-section warnings
(empty pools, priority lists naming non-members, budgets over unpriced
models). `validate` returns the problems; `load_config` raises one
`ConfigurationError` listing every error. The loader does no I/O: the
shell reads files, imports custom classes and resolves secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from meshcore.config.common import Ctx, type_name
from meshcore.config.membership import pool_members
from meshcore.config.models import normalise_models
from meshcore.config.observe import normalise_discovery, normalise_observability
from meshcore.config.pools import normalise_pools, predefined_pools
from meshcore.config.providers import normalise_providers
from meshcore.config.refs import check_tree
from meshcore.config.schema import MeshConfig, PoolConfig
from meshcore.config.sections import (
    normalise_capabilities,
    normalise_connectors,
    normalise_proxy,
    normalise_secrets,
    normalise_storage,
)
from meshcore.errors import ConfigurationError
from meshcore.frozen import native_reduce

TOP_LEVEL = (
    "secrets",
    "providers",
    "models",
    "pools",
    "storage",
    "observability",
    "discovery",
    "connectors",
    "capabilities",
    "proxy",
)


@dataclass(frozen=True)
class ValidationResult:
    """Every problem of a configuration (R-14), as `<key.path>: <message>`."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors


native_reduce(ValidationResult)  # copy/pickle when compiled (meshcore.frozen)


def _custom_ids(ctx: Ctx, connectors: Any) -> tuple[str, ...]:
    if connectors is None:
        return ()
    if not isinstance(connectors, dict):
        ctx.error("connectors(argument)", "expected a mapping of id or 'module:Class' to class")
        return ()
    return tuple(k for k in connectors if isinstance(k, str))


def _is_empty_map(value: Any) -> bool:
    return isinstance(value, dict) and not value


def _build(data: Any, connectors: Any) -> tuple[Ctx, MeshConfig | None]:
    ctx = Ctx()
    if not isinstance(data, dict):
        ctx.error("<root>", f"wrong type: a configuration is a mapping, got {type_name(data)}")
        return ctx, None
    for key in data:
        if not isinstance(key, str):
            ctx.error(str(key), "wrong type: section names must be strings")
        elif key not in TOP_LEVEL:
            ctx.warn(key, "unknown top-level section (ignored)")
    ref_errors: list[str] = []
    for key in TOP_LEVEL:
        if key in data:
            check_tree(data[key], key, key == "secrets", ref_errors)
    ctx.errors.extend(ref_errors)

    connectors_section = normalise_connectors(ctx, data.get("connectors"))
    ctx.custom_ids = _custom_ids(ctx, connectors) + tuple(connectors_section["classes"])
    ctx.custom_caps = normalise_capabilities(ctx, data.get("capabilities"))

    providers, nested, written = normalise_providers(ctx, data.get("providers"))
    keys = [k for k in data if isinstance(k, str)]
    nested_first = "providers" in keys and (
        "models" not in keys or keys.index("providers") < keys.index("models")
    )
    models = normalise_models(ctx, data.get("models"), nested, providers, written, nested_first)

    pools_raw = data.get("pools")
    predefined = pools_raw is None or _is_empty_map(pools_raw)
    if predefined:
        pools = predefined_pools()
    else:
        pools = normalise_pools(ctx, pools_raw, models, providers, written)

    sections: dict[str, Any] = {
        "secrets": normalise_secrets(ctx, data.get("secrets")),
        "storage": normalise_storage(ctx, data.get("storage")),
        "observability": normalise_observability(ctx, data.get("observability")),
        "discovery": normalise_discovery(ctx, data.get("discovery"), set(written)),
        "connectors": connectors_section,
        "proxy": normalise_proxy(ctx, data.get("proxy")),
    }
    cfg = MeshConfig(
        providers=providers,
        models=models,
        pools=pools,
        custom_capabilities=ctx.custom_caps,
        sections=sections,
    )
    members = {name: pool_members(cfg, pool) for name, pool in pools.items()}
    if predefined:
        cfg = replace(cfg, pools={n: p for n, p in pools.items() if members[n]})
    else:
        _pool_warnings(ctx, pools, members)
    _budget_warnings(ctx, cfg)
    return ctx, replace(cfg, warnings=tuple(ctx.warnings))


def _pool_warnings(
    ctx: Ctx, pools: dict[str, PoolConfig], members: dict[str, tuple[str, ...]]
) -> None:
    for name, pool in pools.items():
        got = members[name]
        if not got:
            ctx.warn(f"pools.{name}", "the pool has no members")
        for mid in pool.selection.model_priority:
            if mid not in got:
                ctx.warn(f"pools.{name}.model_priority",
                         f"{mid!r} is not a member of the pool (priority lists only order)")


def _budget_warnings(ctx: Ctx, cfg: MeshConfig) -> None:
    for pid, prov in cfg.providers.items():
        if prov.budget_daily_limit is None and prov.budget_monthly_limit is None:
            continue
        unpriced = [m.id for m in cfg.models.values() if m.provider == pid and m.pricing is None]
        if unpriced:
            ctx.warn(f"providers.{pid}.budget", "models without pricing count as cost 0 "
                                               f"against this budget: {', '.join(unpriced)}")
    for name, pool in cfg.pools.items():
        limit = pool.deactivation.budget_limit
        if limit.value is None and not limit.per_model:
            continue
        unpriced = [mid for mid in pool_members(cfg, pool) if cfg.models[mid].pricing is None]
        if unpriced:
            ctx.warn(f"pools.{name}.deactivation.budget_limit", "members without pricing "
                                                                "never reach this budget: "
                                                                f"{', '.join(unpriced)}")


def validate(data: Any, connectors: dict[str, Any] | None = None) -> ValidationResult:
    """Check a configuration dict and return every error and warning (R-14).

    `connectors` maps custom connector / strategy IDs (or `module:Class`
    strings) to the classes the shell imported (R-17); those IDs are valid.
    """
    ctx, _ = _build(data, connectors)
    return ValidationResult(tuple(ctx.errors), tuple(ctx.warnings))


def load_config(data: Any, connectors: dict[str, Any] | None = None) -> MeshConfig:
    """Normalise a configuration dict into a frozen `MeshConfig` (R-9, R-11).

    Raises `ConfigurationError` listing every error; `details["errors"]` and
    `details["warnings"]` hold the problems. Warnings of a valid config are
    kept in `MeshConfig.warnings`.
    """
    ctx, cfg = _build(data, connectors)
    if ctx.errors or cfg is None:
        count = len(ctx.errors)
        lines = "\n".join(f"  - {e}" for e in ctx.errors)
        raise ConfigurationError(
            f"Invalid configuration ({count} error{'s' if count != 1 else ''}):\n{lines}",
            details={"errors": list(ctx.errors), "warnings": list(ctx.warnings)},
        )
    return cfg


__all__ = ["TOP_LEVEL", "ValidationResult", "load_config", "validate"]
