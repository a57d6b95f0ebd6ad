"""The `pools` section and the predefined pools (SPEC R-7, R-16, R-23, R-36,
R-44, R-47, R-52, R-53).

Theory of operation: each `pools.<name>` mapping is flattened with the pool
spelling rules of R-11 (flat keys, or nested under `rotation:` where
`rotation.policy` is `strategy` and `rotation.selection.<k>` is `<k>`) and
read into one `PoolConfig`. Model references are canonical model IDs, or a
provider-native name that matches exactly one model. Pool `retry` code
lists stay None when not given: the router resolves them per provider
(R-36). When the configuration has no `pools` section the seven predefined
pools of R-7 are materialised, keeping only those with at least one member.
"""

from __future__ import annotations

from typing import Any

from meshcore.capabilities import resolve_ex
from meshcore.config.common import (
    Ctx,
    Reader,
    Src,
    check_number,
    check_str_list,
    close_matches,
    flatten,
    join,
    resolve_node,
    type_name,
)
from meshcore.config.ids import POOL_NAME_RE, has_upper, resolve_connector
from meshcore.config.schema import (
    DEFAULT_ERROR_CODES,
    DeactivationConfig,
    LimitSpec,
    ModelConfig,
    PoolConfig,
    ProviderConfig,
    RecoveryConfig,
    RetryConfig,
    SelectionConfig,
)
from meshcore.errors import CapabilityNotFoundError

GROUPS = ("rotation", "selection", "retry", "deactivation", "recovery", "rate_limit")
DEFAULT_STRATEGY = "modelmesh.stick-until-failure.v1"
PREDEFINED_POOLS: tuple[tuple[str, str], ...] = (
    ("text-generation", "generation.text-generation"),
    ("structured-generation", "generation.structured-generation"),
    ("image-generation", "generation.image-generation"),
    ("embeddings", "representation.embeddings"),
    ("speech-to-text", "understanding.audio-understanding.speech-to-text"),
    ("text-to-speech", "generation.audio-generation.text-to-speech"),
    ("vision-understanding", "understanding.vision-understanding"),
)
PROVIDER_DEACTIVATION = ("on_auth_failure", "on_api_outage")


def canon(key: str) -> str:
    """Canonical pool key (R-11 pool shapes)."""
    if key.startswith("rotation."):
        key = key[len("rotation."):]
        if key in ("policy", "strategy"):
            return "strategy"
    if key.startswith("selection."):
        key = key[len("selection."):]
    return key


def model_ref(models: dict[str, ModelConfig], name: str) -> str | None:
    """A model ID for `name`: the ID itself, else the one model whose native
    name is `name`."""
    if name in models:
        return name
    hits = [mid for mid, m in models.items() if m.name == name]
    return hits[0] if len(hits) == 1 else None


def _model_list(
    ctx: Ctx, r: Reader, key: str, models: dict[str, ModelConfig], error: bool
) -> tuple[str, ...]:
    src = r.pop(key)
    if src is None:
        return ()
    items = check_str_list(ctx, src, ())
    out: list[str] = []
    for i, name in enumerate(items):
        mid = model_ref(models, name)
        if mid is None:
            msg = f"undefined model {name!r}{close_matches(name, models)}"
            if error:
                ctx.error(f"{src.path}[{i}]", msg)
            else:
                ctx.warn(f"{src.path}[{i}]", msg)
        elif mid not in out:
            out.append(mid)
    return tuple(out)


def _provider_list(
    ctx: Ctx, r: Reader, key: str, providers: dict[str, ProviderConfig], written: set[str],
    error: bool = True,
) -> tuple[str, ...] | None:
    src = r.pop(key)
    if src is None:
        return None
    items = check_str_list(ctx, src, (), single_ok=True)
    for i, pid in enumerate(items):
        if pid not in providers and pid not in written:
            msg = f"undefined provider {pid!r}{close_matches(pid, providers)}"
            if error:
                ctx.error(f"{src.path}[{i}]", msg)
            else:
                ctx.warn(f"{src.path}[{i}]", msg)
    return tuple(items)


def _limit(ctx: Ctx, r: Reader, key: str, models: dict[str, ModelConfig],
           integer: bool) -> LimitSpec:
    src = r.pop(key)
    if src is None:
        return LimitSpec()
    v = src.value
    if isinstance(v, dict):
        per: dict[str, float] = {}
        for k, item in v.items():
            where = join(src.path, str(k))
            num = check_number(ctx, Src(item, where), 0, None, integer, None)
            if num is None:
                continue
            mid = model_ref(models, str(k))
            if mid is None:
                ctx.warn(where, f"undefined model {k!r}; this limit never applies")
                mid = str(k)
            per[mid] = num
        return LimitSpec(per_model=per)
    num = check_number(ctx, src, 0, None, integer, None)
    return LimitSpec(value=num)


def _cron(ctx: Ctx, r: Reader, key: str) -> str | None:
    src = r.pop(key)
    if src is None:
        return None
    if not isinstance(src.value, str):
        ctx.error(src.path, f"wrong type: expected a cron string, got {type_name(src.value)}")
        return None
    from meshcore.router.cron import parse_cron  # lazy: the router imports the config

    try:
        parse_cron(src.value)
    except ValueError as exc:
        ctx.error(src.path, str(exc))
        return None
    return src.value


def _strategy(ctx: Ctx, src: Src | None, default: str, allow_error: bool = False) -> str:
    if src is None:
        return default
    if allow_error and src.value == "error":
        return "error"
    cid = resolve_connector(ctx, src.value, src.path, "strategy", ctx.custom_ids)
    return default if cid is None else cid


def _retry(ctx: Ctx, r: Reader) -> RetryConfig:
    d = RetryConfig()
    retryable = r.codes("retry.retryable_codes", None)
    non_retryable = r.codes("retry.non_retryable_codes", None)
    if retryable is not None and non_retryable is not None:
        both = [c for c in retryable if c in non_retryable]
        if both:
            ctx.error(join(r.base, "retry"), "codes in both retryable_codes and "
                                             f"non_retryable_codes: {', '.join(map(str, both))}")
    return RetryConfig(
        max_attempts=r.number("retry.max_attempts", d.max_attempts, lo=1, integer=True),
        backoff=r.text("retry.backoff", d.backoff, ("fixed", "exponential_jitter", "retry_after")),
        initial_delay_s=r.duration("retry.initial_delay", d.initial_delay_s),
        max_delay_s=r.duration("retry.max_delay", d.max_delay_s),
        retryable_codes=retryable,
        non_retryable_codes=non_retryable,
        scope=r.text("retry.scope", d.scope, ("same_model", "same_provider", "any")),
        honor_retry_after=r.flag("retry.honor_retry_after", d.honor_retry_after),
        max_retry_after_s=r.duration("retry.max_retry_after", d.max_retry_after_s),
    )


def _deactivation(ctx: Ctx, r: Reader, models: dict[str, ModelConfig]) -> DeactivationConfig:
    d = DeactivationConfig()
    window = r.text("deactivation.quota_window", None, ("daily", "daily_utc", "monthly"))
    return DeactivationConfig(
        retry_limit=r.number("deactivation.retry_limit", d.retry_limit, lo=1, integer=True),
        error_rate_threshold=r.number("deactivation.error_rate_threshold",
                                      d.error_rate_threshold, lo=0.0, hi=1.0),
        error_rate_window=r.number("deactivation.error_rate_window", d.error_rate_window,
                                   lo=1, integer=True),
        error_rate_min_samples=r.number("deactivation.error_rate_min_samples",
                                        d.error_rate_min_samples, lo=1, integer=True),
        error_codes=r.codes("deactivation.error_codes", DEFAULT_ERROR_CODES),
        request_limit=_limit(ctx, r, "deactivation.request_limit", models, True),
        token_limit=_limit(ctx, r, "deactivation.token_limit", models, True),
        budget_limit=_limit(ctx, r, "deactivation.budget_limit", models, False),
        quota_window="daily" if window == "daily_utc" else window,
        maintenance_window=_cron(ctx, r, "deactivation.maintenance_window"),
    )


def _recovery(r: Reader) -> RecoveryConfig:
    d = RecoveryConfig()
    schedule = r.text("recovery.quota_reset_schedule", None,
                     ("monthly", "daily", "daily_utc", "rolling"))
    return RecoveryConfig(
        cooldown_s=r.duration("recovery.cooldown", d.cooldown_s),
        backoff_multiplier=r.number("recovery.backoff_multiplier", d.backoff_multiplier, lo=1.0),
        max_cooldown_s=r.duration("recovery.max_cooldown", d.max_cooldown_s),
        probe_on_start=r.flag("recovery.probe_on_start", d.probe_on_start),
        probe_interval_s=r.duration("recovery.probe_interval", d.probe_interval_s),
        on_quota_reset=r.flag("recovery.on_quota_reset", d.on_quota_reset),
        quota_reset_schedule="daily" if schedule == "daily_utc" else schedule,
    )


def _selection(ctx: Ctx, r: Reader, models: dict[str, ModelConfig],
               providers: dict[str, ProviderConfig], written: set[str]) -> SelectionConfig:
    d = SelectionConfig()
    return SelectionConfig(
        model_priority=_model_list(ctx, r, "model_priority", models, error=False),
        provider_priority=_provider_list(ctx, r, "provider_priority", providers, written,
                                         error=False) or (),
        fallback_strategy=_strategy(ctx, r.pop("fallback_strategy"), d.fallback_strategy,
                                    allow_error=True),
        balance_mode=r.text("balance_mode", d.balance_mode, ("relative", "absolute")),
        rate_limit_threshold=r.number("rate_limit.threshold", d.rate_limit_threshold,
                                      lo=0.0, hi=1.0),
        rate_limit_min_delta_s=r.duration("rate_limit.min_delta", d.rate_limit_min_delta_s),
        rate_limit_max_rpm=r.number("rate_limit.max_rpm", d.rate_limit_max_rpm, lo=0,
                                    integer=True),
        affinity_mode=r.text("affinity_mode", d.affinity_mode, ("fallback", "strict")),
        session_timeout_s=r.duration("session_timeout", d.session_timeout_s),
        cost_basis=r.text("cost_basis", d.cost_basis, ("price", "spend")),
        expected_output_ratio=r.number("expected_output_ratio", d.expected_output_ratio, lo=0.0),
        latency_window=r.number("latency_window", d.latency_window, lo=1, integer=True),
    )


def _provider_deactivation(ctx: Ctx, r: Reader) -> tuple[str, ...]:
    src = r.pop("provider_deactivation")
    if src is None:
        return ("on_auth_failure",)
    items = check_str_list(ctx, src, None, single_ok=True)
    if items is None:
        return ("on_auth_failure",)
    if "none" in items:
        if len(items) > 1:
            ctx.error(src.path, "`none` cannot be combined with other values")
        return ()
    bad = [i for i in items if i not in PROVIDER_DEACTIVATION]
    if bad:
        ctx.error(src.path, f"must be on_auth_failure, on_api_outage, a list of both, or none "
                            f"(got {', '.join(map(repr, bad))})")
        return ("on_auth_failure",)
    return tuple(items)


def _capability_default(ctx: Ctx, name: str) -> str | None:
    try:
        return resolve_ex(name, ctx.custom_caps)[0]
    except (CapabilityNotFoundError, ValueError):
        return None


def normalise_pool(
    ctx: Ctx,
    name: str,
    body: dict[str, Any],
    models: dict[str, ModelConfig],
    providers: dict[str, ProviderConfig],
    written: set[str],
) -> PoolConfig | None:
    """Normalise one pool."""
    path = f"pools.{name}"
    r = Reader(ctx, flatten(ctx, body, path, GROUPS, canon), path)
    cap_src = r.pop("capability")
    capability = (resolve_node(ctx, cap_src.value, cap_src.path) if cap_src is not None
                  else _capability_default(ctx, name))
    models_given = r.has("models")
    pool_models = _model_list(ctx, r, "models", models, error=True)
    if cap_src is None and capability is None and not models_given:
        ctx.error(path, "needs `capability` or `models` (the pool name is not a capability)")
    has_strategy_instance = r.pop("strategy_instance") is not None
    pool = PoolConfig(
        name=name,
        capability=capability,
        models=pool_models,
        providers=_provider_list(ctx, r, "providers", providers, written),
        excluded_providers=_provider_list(ctx, r, "excluded_providers", providers,
                                          written) or (),
        strategy=_strategy(ctx, r.pop("strategy"), DEFAULT_STRATEGY),
        selection=_selection(ctx, r, models, providers, written),
        deadline_s=r.duration("deadline", 120.0),
        stream_first_chunk_timeout_s=r.duration("stream_first_chunk_timeout", 30.0),
        on_all_standby=r.text("on_all_standby", "fail_fast", ("fail_fast", "wait", "try_anyway")),
        on_budget_exceeded=r.text("on_budget_exceeded", "error", ("error", "rotate")),
        retry=_retry(ctx, r),
        deactivation=_deactivation(ctx, r, models),
        recovery=_recovery(r),
        provider_deactivation=_provider_deactivation(ctx, r),
        provider_recovery=r.text("provider_recovery", "on_probe_success",
                                ("on_probe_success", "on_manual")),
        has_strategy_instance=has_strategy_instance,
    )
    r.warn_unknown()
    return pool


def normalise_pools(
    ctx: Ctx,
    raw: Any,
    models: dict[str, ModelConfig],
    providers: dict[str, ProviderConfig],
    written: set[str],
) -> dict[str, PoolConfig]:
    """Normalise the `pools` section (present and non-empty)."""
    pools: dict[str, PoolConfig] = {}
    if not isinstance(raw, dict):
        ctx.error("pools", f"wrong type: expected a mapping, got {type_name(raw)}")
        return pools
    for name, body in raw.items():
        path = f"pools.{name}"
        if not isinstance(name, str):
            ctx.error(path, "wrong type: pool names must be strings")
            continue
        if has_upper(name):
            ctx.error(path, f"IDs must be lowercase (R-1): {name!r}")
            continue
        if not POOL_NAME_RE.match(name):
            ctx.error(path, "invalid pool name (use [a-z0-9][a-z0-9._-]*)")
            continue
        if body is None:
            body = {}
        if not isinstance(body, dict):
            ctx.error(path, f"wrong type: expected a mapping, got {type_name(body)}")
            continue
        pool = normalise_pool(ctx, name, body, models, providers, written)
        if pool is not None:
            pools[name] = pool
    return pools


def predefined_pools() -> dict[str, PoolConfig]:
    """The seven predefined pools of R-7 (before the empty ones are dropped)."""
    return {
        name: PoolConfig(name=name, capability=node, predefined=True)
        for name, node in PREDEFINED_POOLS
    }


__all__ = [
    "DEFAULT_STRATEGY",
    "PREDEFINED_POOLS",
    "canon",
    "model_ref",
    "normalise_pool",
    "normalise_pools",
    "predefined_pools",
]
