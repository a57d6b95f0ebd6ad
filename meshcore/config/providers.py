"""The `providers` section (SPEC R-11, R-22, R-32, R-75, R-76).

Theory of operation: each `providers.<id>` mapping is flattened with the
provider spelling rules (flat `api_key`/`base_url`/`timeout`/`max_retries`,
the nested `auth.*`/`execution.*` keys, either under a `config:` sub-map,
and the `batch.supported`/`files.upload`/`fine_tuning.supported` aliases of
`infrastructure.*`), then read into one `ProviderConfig`. Defaults come
from the connector registry: the per-connector timeout (R-32) and
`auto_discover` true for local connectors (R-73). Connector-specific keys
(R-76) are checked and kept, with their defaults, in `options`; for a
custom connector every unrecognised key is passed through in `options`.
The provider's nested `models` list is handed back raw for the models
normaliser.
"""

from __future__ import annotations

from typing import Any

from meshcore.config.common import (
    Ctx,
    Reader,
    Src,
    check_str_list,
    flatten,
    join,
    resolve_leaf_list,
    type_name,
)
from meshcore.config.ids import PROVIDER_ID_RE, has_upper, resolve_connector
from meshcore.config.schema import DEFAULT_ERROR_CODES, DEFAULT_NON_RETRYABLE, ProviderConfig
from meshcore.connectors import ALL_ENDPOINTS, PROVIDER_CONNECTORS

GROUPS = (
    "config",
    "provider",
    "execution",
    "auth",
    "catalogue",
    "quota",
    "budget",
    "pricing",
    "error",
    "infrastructure",
    "batch",
    "files",
    "fine_tuning",
)
FLAT_ALIASES: dict[str, str] = {
    "api_key": "auth.api_key",
    "api_keys": "auth.api_key",
    "base_url": "execution.base_url",
    "timeout": "execution.timeout",
    "max_retries": "execution.max_retries",
    "batch.supported": "infrastructure.batch",
    "files.upload": "infrastructure.files",
    "fine_tuning.supported": "infrastructure.fine_tuning",
}
QUOTA_SCHEDULES = ("monthly", "daily", "daily_utc", "rolling")
DEFAULT_COMPATIBLE_ENDPOINTS = ("chat", "stream", "embeddings", "models")

# Connector-specific keys: key -> (kind, default). None = unset.
CONNECTOR_OPTIONS: dict[str, dict[str, tuple[str, Any]]] = {
    "openai.llm.v1": {"organization": ("str", None), "project": ("str", None)},
    "anthropic.claude.v1": {
        "anthropic_version": ("str", "2023-06-01"),
        "max_tokens": ("int1", 4096),
    },
    "google.gemini.v1": {"safety_settings": ("list", None)},
    "openrouter.gateway.v1": {
        "route": ("route", None),
        "transforms": ("list", []),
        "provider_preferences": ("map", {}),
    },
    "perplexity.search.v1": {
        "return_citations": ("bool", True),
        "search_recency_filter": ("str", None),
    },
    "cohere.nlp.v1": {"client_name": ("str", None)},
    "elevenlabs.tts.v1": {
        "voice_id": ("str", None),
        "stability": ("unit", 0.5),
        "similarity_boost": ("unit", 0.75),
        "output_format": ("str", "mp3_44100_128"),
    },
    "assemblyai.stt.v1": {
        "language_detection": ("bool", False),
        "speaker_labels": ("bool", False),
        "word_timestamps": ("bool", False),
        "poll_interval": ("duration", 1.0),
    },
    "openai.compatible.v1": {
        "endpoints": ("endpoints", list(DEFAULT_COMPATIBLE_ENDPOINTS)),
        "auth_header": ("str", "Authorization"),
    },
}


def canon(key: str) -> str:
    """Canonical provider key (R-11 provider shapes)."""
    changed = True
    while changed:
        changed = False
        for prefix in ("config.", "provider."):
            if key.startswith(prefix):
                key = key[len(prefix):]
                changed = True
    return FLAT_ALIASES.get(key, key)


def _option(r: Reader, key: str, kind: str, default: Any) -> Any:
    if kind == "str":
        return r.text(key, default)
    if kind == "bool":
        return r.flag(key, default)
    if kind == "int1":
        return r.number(key, default, lo=1, integer=True)
    if kind == "unit":
        return r.number(key, default, lo=0.0, hi=1.0)
    if kind == "duration":
        return r.duration(key, default)
    if kind == "route":
        return r.text(key, default, choices=("fallback", "round-robin"))
    if kind == "map":
        m = r.mapping(key)
        return default if m is None else m
    if kind == "list":
        src = r.pop(key)
        if src is None:
            return default
        if not isinstance(src.value, list | tuple):
            r.ctx.error(src.path, f"wrong type: expected a list, got {type_name(src.value)}")
            return default
        return list(src.value)
    # endpoints
    src = r.pop(key)
    if src is None:
        return default
    items = check_str_list(r.ctx, src, None)
    if items is None:
        return default
    bad = [e for e in items if e not in ALL_ENDPOINTS]
    if bad:
        r.ctx.error(src.path, f"unknown endpoint(s) {', '.join(bad)}; "
                              f"allowed: {', '.join(ALL_ENDPOINTS)}")
        return default
    return list(items)


def _api_keys(r: Reader) -> tuple[str, ...]:
    src = r.pop("auth.api_key")
    if src is None:
        return ()
    v = src.value
    if isinstance(v, str):
        return (v,) if v else ()
    if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
        return tuple(x for x in v if x)
    r.ctx.error(src.path, f"wrong type: expected a string or a list of strings, got {type_name(v)}")
    return ()


def normalise_provider(
    ctx: Ctx, pid: str, body: dict[str, Any], path: str
) -> tuple[ProviderConfig | None, Src | None]:
    """Normalise one provider; returns `(config or None, raw models Src)`."""
    flat = flatten(ctx, body, path, GROUPS, canon)
    r = Reader(ctx, flat, path)
    cid_src = r.pop("connector")
    connector = resolve_connector(
        ctx, cid_src.value if cid_src else pid, cid_src.path if cid_src else path,
        "provider", ctx.custom_ids,
    )
    info = PROVIDER_CONNECTORS.get(connector or "")
    has_instance = r.pop("instance") is not None
    enabled = r.flag("enabled", True)
    base_url = r.url("execution.base_url", None)
    timeout = r.duration("execution.timeout", info.timeout_s if info else 60.0)
    if timeout is not None and timeout <= 0:
        ctx.error(r.path("execution.timeout"), "out of range: must be > 0")
    max_retries = r.number("execution.max_retries", 3, lo=0, integer=True)
    auth_method = r.text("auth.method", "api_key", ("api_key", "oauth", "service_account"))
    if info is not None and auth_method != "api_key":
        ctx.error(join(path, "auth.method"),
                  f"{connector} supports only api_key authentication")
    api_keys = _api_keys(r)
    if info is not None and not info.local and not api_keys and not has_instance:
        ctx.error(join(path, "api_key"), f"required: {connector} is a cloud connector "
                                         "and needs an api_key (a literal or a secret reference)")
    if connector == "openai.compatible.v1" and base_url is None:
        ctx.error(join(path, "base_url"), "required for openai.compatible.v1")
    key_rotation = r.flag("auth.key_rotation", False)
    auto_discover = r.flag("catalogue.auto_discover", bool(info and info.local))
    refresh = r.duration("catalogue.refresh_interval", None)
    q_current = r.flag("quota.query_current", False)
    q_remaining = r.flag("quota.query_remaining", False)
    schedule = r.text("quota.reset_schedule", "monthly", QUOTA_SCHEDULES)
    schedule = "daily" if schedule == "daily_utc" else schedule
    daily = r.number("budget.daily_limit", None, lo=0.0)
    monthly = r.number("budget.monthly_limit", None, lo=0.0)
    pricing_query = r.flag("pricing.query", False)
    retryable = r.codes("error.retryable_codes", DEFAULT_ERROR_CODES)
    non_retryable = r.codes("error.non_retryable_codes", DEFAULT_NON_RETRYABLE)
    both = [c for c in retryable if c in non_retryable]
    if both:
        ctx.error(join(path, "error"), "codes in both retryable_codes and "
                                       f"non_retryable_codes: {', '.join(map(str, both))}")
    infra = tuple(r.flag(f"infrastructure.{k}", False) for k in ("batch", "files", "fine_tuning"))
    caps_src = r.pop("capabilities")
    caps = resolve_leaf_list(ctx, caps_src) if caps_src is not None else ()
    models_src = r.pop("models")
    options: dict[str, Any] = {}
    for key, (kind, default) in CONNECTOR_OPTIONS.get(connector or "", {}).items():
        value = _option(r, key, kind, default)
        if value is not None:
            options[key] = value
    if info is None and connector is not None:
        for key, src in r.leftovers().items():
            options[key] = src.value
    else:
        r.warn_unknown()
    if connector is None:
        return None, models_src
    cfg = ProviderConfig(
        id=pid,
        connector=connector,
        enabled=enabled,
        base_url=base_url,
        timeout_s=float(timeout if timeout else (info.timeout_s if info else 60.0)),
        max_retries=int(max_retries),
        auth_method=auth_method,
        api_keys=api_keys,
        key_rotation=key_rotation,
        auto_discover=auto_discover,
        refresh_interval_s=refresh,
        quota_query_current=q_current,
        quota_query_remaining=q_remaining,
        quota_reset_schedule=schedule,
        budget_daily_limit=daily,
        budget_monthly_limit=monthly,
        pricing_query=pricing_query,
        retryable_codes=retryable,
        non_retryable_codes=non_retryable,
        infrastructure_batch=infra[0],
        infrastructure_files=infra[1],
        infrastructure_fine_tuning=infra[2],
        capabilities=caps or (),
        options=options,
        has_instance=has_instance,
    )
    return cfg, models_src


def normalise_providers(
    ctx: Ctx, raw: Any
) -> tuple[dict[str, ProviderConfig], dict[str, Src], set[str]]:
    """Normalise the whole section. Returns the providers, their raw nested
    `models` lists, and every provider ID that was written (valid or not),
    so later references to a broken provider are not reported twice."""
    providers: dict[str, ProviderConfig] = {}
    nested: dict[str, Src] = {}
    written: set[str] = set()
    if raw is None:
        return providers, nested, written
    if not isinstance(raw, dict):
        ctx.error("providers", f"wrong type: expected a mapping, got {type_name(raw)}")
        return providers, nested, written
    for pid, body in raw.items():
        if not isinstance(pid, str):
            ctx.error(f"providers.{pid}", "wrong type: provider IDs must be strings")
            continue
        path = f"providers.{pid}"
        written.add(pid)
        if has_upper(pid):
            ctx.error(path, f"IDs must be lowercase (R-1): {pid!r}")
            continue
        if not PROVIDER_ID_RE.match(pid):
            ctx.error(path, "invalid provider ID (use [a-z0-9][a-z0-9.-]*)")
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            ctx.error(path, f"wrong type: expected a mapping, got {type_name(body)}")
            continue
        cfg, models_src = normalise_provider(ctx, pid, body, path)
        if cfg is not None:
            providers[pid] = cfg
        if models_src is not None:
            nested[pid] = models_src
    return providers, nested, written


__all__ = ["CONNECTOR_OPTIONS", "canon", "normalise_provider", "normalise_providers"]
