"""Building a client's configuration: `create()` resolution (SPEC R-19),
zero-config detection (R-18), config sources (R-9) and secret references
(R-13).

Zero-config local providers (host variables of R-18) list their models here,
before the capability check, so `create("chat-completion")` with only
`OLLAMA_HOST` set finds the server's models; the listings travel in
`Built.listings` and the client feeds them to the core at startup instead of
listing again (a failed listing: no models, a `warning` trace).

The shell does everything here that the pure core may not: it reads the
environment and files, imports custom connector classes and resolves
`${...}` references. The core receives a plain dict with references kept
verbatim (so event logs never hold a resolved secret); the resolved API keys
and base URLs travel beside it in `Built` and are used only when an attempt
is started.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from meshcore.capabilities import resolve
from meshcore.config import load_config
from meshcore.config.membership import pool_members
from meshcore.config.pools import PREDEFINED_POOLS
from meshcore.config.schema import MeshConfig
from meshcore.errors import ConfigurationError

__all__ = ["ENV_PROVIDERS", "Built", "build", "detect_providers", "resolve_string"]

# (variable(s), provider name, connector, base URL or None for host variables): R-18 order.
ENV_PROVIDERS: tuple[tuple[tuple[str, ...], str, str, bool], ...] = (
    (("OPENAI_API_KEY",), "openai", "openai.llm.v1", False),
    (("ANTHROPIC_API_KEY",), "anthropic", "anthropic.claude.v1", False),
    (("GOOGLE_API_KEY", "GEMINI_API_KEY"), "google", "google.gemini.v1", False),
    (("GROQ_API_KEY",), "groq", "groq.api.v1", False),
    (("DEEPSEEK_API_KEY",), "deepseek", "deepseek.api.v1", False),
    (("MISTRAL_API_KEY",), "mistral", "mistral.api.v1", False),
    (("TOGETHER_API_KEY",), "together", "together.api.v1", False),
    (("OPENROUTER_API_KEY",), "openrouter", "openrouter.gateway.v1", False),
    (("XAI_API_KEY",), "xai", "xai.grok.v1", False),
    (("COHERE_API_KEY",), "cohere", "cohere.nlp.v1", False),
    (("PERPLEXITY_API_KEY",), "perplexity", "perplexity.search.v1", False),
    (("FIREWORKS_API_KEY",), "fireworks", "fireworks.api.v1", False),
    (("ELEVENLABS_API_KEY",), "elevenlabs", "elevenlabs.tts.v1", False),
    (("ASSEMBLYAI_API_KEY",), "assemblyai", "assemblyai.stt.v1", False),
    (("OLLAMA_HOST",), "ollama", "ollama.local.v1", True),
    (("LMSTUDIO_HOST",), "lmstudio", "lmstudio.local.v1", True),
    (("VLLM_HOST",), "vllm", "vllm.local.v1", True),
    (("LOCALAI_HOST",), "localai", "localai.local.v1", True),
)

_REF = re.compile(r"\$\$\{|\$\{(?:(secrets|env):)?([A-Za-z0-9_./-]+)\}")


@dataclass(frozen=True)
class Built:
    """A validated configuration plus what only the shell may hold: the
    resolved API keys and base URLs per provider."""

    config: MeshConfig
    data: dict[str, Any]
    api_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    base_urls: dict[str, str | None] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    secrets: Any = None  # the SecretResolver (adapters.secrets) used for this config
    # startup model listings of zero-config local providers:
    # provider ID -> (listing dicts as in ModelsDiscovered, error text or None)
    listings: dict[str, tuple[tuple[dict[str, Any], ...], str | None]] = field(
        default_factory=dict)


# ---------------------------------------------------------------- secrets


@dataclass(frozen=True)
class _SecretOptions:
    prefix: str = ""
    fail_on_missing: bool = True
    resolver: Any = None  # a SecretResolver: `${secrets:...}` through the configured store


def _secret_options(data: Mapping[str, Any], environ: Mapping[str, str]) -> _SecretOptions:
    """The secret options of a raw config dict; `resolve_string` with them
    resolves `${secrets:...}` through the configured store (R-13, R-79)."""
    from adapters.secrets.resolver import SecretResolver
    from meshcore.config.common import Ctx
    from meshcore.config.sections import custom_connector_ids, normalise_secrets

    raw = data.get("secrets")
    ctx = Ctx(custom_ids=custom_connector_ids(data.get("connectors")))
    section = normalise_secrets(ctx, raw)
    if ctx.errors:
        raise ConfigurationError("; ".join(ctx.errors), {"errors": list(ctx.errors)})
    instance = raw.get("instance") if isinstance(raw, Mapping) else None
    custom = None if instance is not None or str(section["connector"]).startswith(
        "modelmesh.") else _connectors(data)
    resolver = SecretResolver.from_section(section, instance=instance, environ=environ,
                                           custom=custom)
    return _SecretOptions(fail_on_missing=resolver.fail_on_missing, resolver=resolver)


def resolve_string(
    text: str, environ: Mapping[str, str], opts: _SecretOptions, missing: list[str]
) -> str:
    """Substitute every reference in `text`: `${env:X}` / `${X}` from the
    environment, `${secrets:X}` from the environment store (with its
    prefix); `$${` is a literal `${`. Missing names are appended to
    `missing` (and resolve to "")."""

    if opts.resolver is not None:
        out: str = opts.resolver.resolve_text(text, missing)
        return out

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        kind, name = m.group(1), m.group(2)
        key = opts.prefix + name if kind == "secrets" else name
        value = environ.get(key)
        if value is None:
            missing.append(m.group(0))
            return ""
        return value

    return _REF.sub(sub, text)


def _all_refs(value: Any, path: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, str):
        if "${" in value:
            out.append((path, value))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _all_refs(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _all_refs(v, f"{path}[{i}]", out)


def _secret_resolver(config: MeshConfig, data: Mapping[str, Any],
                     environ: Mapping[str, str]) -> Any:
    """The configured secret store behind a `SecretResolver` (R-78, R-79)."""
    from adapters.secrets.resolver import SecretResolver

    section = config.sections.get("secrets") or {}
    raw = data.get("secrets")
    instance = raw.get("instance") if isinstance(raw, Mapping) else None
    connector = str(section.get("connector", ""))
    custom = None if instance is not None or connector.startswith("modelmesh.") \
        else _connectors(data)
    return SecretResolver.from_section(section, instance=instance, environ=environ,
                                       custom=custom)


def _resolve_secrets(
    config: MeshConfig, data: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, str | None], list[str], Any]:
    resolver = _secret_resolver(config, data, environ)
    warnings = resolver.check_tree({k: v for k, v in data.items() if k != "secrets"})
    keys: dict[str, tuple[str, ...]] = {}
    urls: dict[str, str | None] = {}
    for pid, prov in config.providers.items():
        keys[pid] = tuple(resolver.resolve_text(k) for k in prov.api_keys)
        urls[pid] = None if prov.base_url is None else resolver.resolve_text(prov.base_url)
    return keys, urls, warnings, resolver


# ---------------------------------------------------------------- sources


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {str(path)!r}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:  # pragma: no cover - PyYAML is a dependency here
                raise ConfigurationError("YAML config files need PyYAML") from exc
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(f"cannot parse config file {str(path)!r}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {str(path)!r} must hold a mapping")
    return data


def _source(config: object) -> dict[str, Any] | MeshConfig:
    if isinstance(config, MeshConfig):
        return config
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, (str, os.PathLike)):
        return _read_file(Path(config))
    raise TypeError(
        f"config must be a path, a dict or a MeshConfig, not {type(config).__name__}"
    )


def _import(ref: str) -> type:
    mod, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import {ref!r}: {exc}") from exc
    if not isinstance(obj, type):
        raise ConfigurationError(f"{ref!r} is not a class")
    return obj


def _connectors(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """R-17: entry points and `module:Class` imports, done by the shell."""
    found: dict[str, Any] = {}
    conn = data.get("connectors")
    conn = conn if isinstance(conn, Mapping) else {}
    if conn.get("entry_points", True) is not False:
        for ep in metadata.entry_points(group="modelmesh.connectors"):
            try:
                found[ep.name] = ep.load()
            except Exception:
                continue
    classes = conn.get("classes")
    if isinstance(classes, Mapping):
        for cid, ref in classes.items():
            if isinstance(ref, str) and ":" in ref:
                found[str(cid)] = _import(ref)
    pools = data.get("pools")
    if isinstance(pools, Mapping):
        for pool in pools.values():
            strat = pool.get("strategy") if isinstance(pool, Mapping) else None
            if isinstance(strat, str) and ":" in strat:
                found[strat] = _import(strat)
    return found or None


# ---------------------------------------------------------------- zero config


def _host_url(value: str) -> str:
    url = value.strip()
    if "://" not in url:
        url = "http://" + url
    scheme, _, rest = url.partition("://")
    if "/" not in rest or (rest.endswith("/") and rest.count("/") == 1):
        url = f"{scheme}://{rest.rstrip('/')}/v1"
    return url


def detect_providers(
    environ: Mapping[str, str],
    providers: Sequence[str] | None = None,
    api_keys: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """R-18: provider definitions (references, not values) from the
    environment, in table order. `api_keys` (by provider name or variable)
    uses only the listed providers; `providers` keeps only named ones."""
    out: dict[str, dict[str, Any]] = {}
    for variables, name, connector, is_host in ENV_PROVIDERS:
        if providers is not None and name not in providers:
            continue
        if api_keys is not None:
            key = api_keys.get(name)
            if key is None:
                key = next((api_keys[v] for v in variables if v in api_keys), None)
            if key is None:
                continue
            out[name] = (
                {"connector": connector, "base_url": _host_url(key)}
                if is_host else {"connector": connector, "api_key": key}
            )
            continue
        var = next((v for v in variables if environ.get(v)), None)
        if var is None:
            continue
        if is_host:
            out[name] = {"connector": connector, "base_url": _host_url(environ[var])}
        else:
            out[name] = {"connector": connector, "api_key": "${env:" + var + "}"}
    return out


def _checked_variables() -> str:
    return ", ".join(v for vs, *_ in ENV_PROVIDERS for v in vs)


# ---------------------------------------------------------------- create()


def _finish(data: dict[str, Any], environ: Mapping[str, str], warnings: list[str]) -> Built:
    config = load_config(data, connectors=_connectors(data))
    keys, urls, more, resolver = _resolve_secrets(config, data, environ)
    return Built(config, data, keys, urls, tuple([*warnings, *config.warnings, *more]),
                 resolver)


def list_local_models(
    built: Built, provider_ids: Sequence[str]
) -> dict[str, tuple[tuple[dict[str, Any], ...], str | None]]:
    """R-18: the models-list call of each local provider, now (blocking,
    bounded by the provider timeout). A failure is kept as an error text."""
    import httpcore

    from adapters.discovery.calls import fetch_sync, lists_models, models_request, parse

    out: dict[str, tuple[tuple[dict[str, Any], ...], str | None]] = {}
    pool = httpcore.ConnectionPool(max_connections=4)
    try:
        for pid in provider_ids:
            prov = built.config.providers.get(pid)
            if prov is None or not prov.enabled or not lists_models(prov):
                continue
            keys = built.api_keys.get(pid, ())
            try:
                req = models_request(prov, built.base_urls.get(pid), keys[0] if keys else None)
            except (KeyError, ValueError) as exc:
                out[pid] = ((), str(exc))
                continue
            out[pid] = parse(prov, fetch_sync(pool, req, prov.timeout_s))
    finally:
        pool.close()
    return out


def with_listings(
    config: MeshConfig, listings: Mapping[str, tuple[tuple[dict[str, Any], ...], str | None]]
) -> MeshConfig:
    """The configuration the core will have once `listings` are registered
    (pure, via the core's discovery rules), for the capability check."""
    from meshcore.router.discovery import DiscoveryState, effective_config, model_from_info

    state = DiscoveryState(config)
    for pid, (models, error) in listings.items():
        prov = config.providers.get(pid)
        if prov is None or error is not None:
            continue
        reg = state.registry(pid)
        for info in models:
            cfg = model_from_info(prov, info, state.order, config.custom_capabilities)
            if cfg is None or cfg.id in reg.known:
                continue
            reg.known[cfg.id] = cfg
            reg.registered[cfg.id] = None
            state.order += 1
    return effective_config(state)


def _check_capability_pools(config: MeshConfig, names: Sequence[str]) -> None:
    for name in names:
        pool = config.pools.get(name)
        if pool is None or not pool_members(config, pool):
            raise ConfigurationError(
                f"no model serves capability {name!r}",
                {"errors": [f"pools.{name}: no model with capability {name!r}"]},
            )


def build(
    capabilities: Sequence[str],
    *,
    pool: str | None = None,
    providers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    strategy: str | None = None,
    api_keys: Mapping[str, str] | None = None,
    config: object = None,
    environ: Mapping[str, str] | None = None,
) -> Built:
    """Resolve `create()` arguments (R-19) into a validated `Built`."""
    env = os.environ if environ is None else environ
    warnings: list[str] = []
    if pool is not None and capabilities:
        raise ValueError("pool= and positional capabilities are mutually exclusive")
    if config is not None:
        src = _source(config)
        for label, given in (("providers", providers), ("models", models),
                             ("api_keys", api_keys)):
            if given is not None:
                warnings.append(f"create(): {label}= is ignored when config= is given")
        if isinstance(src, MeshConfig):
            data = src.to_dict()
            keys, urls, more, resolver = _resolve_secrets(src, data, env)
            return Built(src, data, keys, urls, tuple([*warnings, *src.warnings, *more]),
                         resolver)
        data = dict(src)
        pools = data.get("pools")
        if capabilities:
            for cap in capabilities:
                resolve(cap)
            pools = dict(pools) if isinstance(pools, Mapping) else {}
            for cap in capabilities:
                pools.setdefault(cap, {"capability": cap})
            data["pools"] = pools
        if strategy is not None and isinstance(pools, Mapping):
            new: dict[str, Any] = {}
            for name, p in pools.items():
                if isinstance(p, Mapping) and "strategy" not in p and not (
                    isinstance(p.get("rotation"), Mapping) and "policy" in p["rotation"]
                ):
                    p = {**p, "strategy": strategy}
                new[name] = p
            data["pools"] = new
        built = _finish(data, env, warnings)
        _check_capability_pools(built.config, capabilities)
        return built
    if pool is None and not capabilities:
        raise ValueError("Specify capabilities, pool, or config")
    for cap in capabilities:
        resolve(cap)
    detected = detect_providers(env, providers, api_keys)
    if not detected:
        raise ConfigurationError(
            "no provider detected in the environment; checked " + _checked_variables(),
            {"errors": ["no provider detected"], "checked": _checked_variables()},
        )
    pools_def: dict[str, dict[str, Any]] = {}
    if pool is not None:
        node = dict(PREDEFINED_POOLS).get(pool)
        if node is None:
            raise ConfigurationError(
                f"unknown predefined pool {pool!r}; choose one of "
                + ", ".join(n for n, _ in PREDEFINED_POOLS)
            )
        pools_def[pool] = {"capability": node}
    for cap in capabilities:
        pools_def[cap] = {"capability": cap}
    if strategy is not None:
        for p in pools_def.values():
            p["strategy"] = strategy
    data = {"providers": detected, "pools": pools_def}
    built = _finish(data, env, warnings)
    local = [name for _, name, _, is_host in ENV_PROVIDERS if is_host and name in detected]
    listings = list_local_models(built, local) if local else {}
    effective = with_listings(built.config, listings)
    if models is not None:
        wanted = set(models)
        for name, p in pools_def.items():
            members = pool_members(effective, effective.pools[name])
            keep = [m for m in members
                    if m in wanted or effective.models[m].name in wanted]
            for mid in keep:  # a listed local model becomes a configured one
                if mid not in built.config.models:
                    found = effective.models[mid]
                    extra = data.setdefault("models", {})
                    assert isinstance(extra, dict)
                    extra[mid] = {
                        "provider": found.provider, "name": found.name,
                        "capabilities": list(found.capabilities)}
            p.pop("capability", None)
            p["models"] = keep
            if not keep:
                raise ConfigurationError(
                    f"no listed model serves {name!r}",
                    {"errors": [f"pools.{name}: none of {sorted(wanted)} matches"]},
                )
        built = _finish(data, env, warnings)
        effective = with_listings(built.config, listings)
    _check_capability_pools(effective, [*capabilities, *([pool] if pool else [])])
    return replace(built, listings=listings) if listings else built
