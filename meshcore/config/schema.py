"""The normalised configuration schema: frozen dataclasses.

Theory of operation: `load_config` (meshcore.config.loader) accepts every
shape SPEC R-11 allows and produces exactly one normalised tree of these
frozen dataclasses. Durations are stored in seconds (float), sizes in
bytes, connector and strategy IDs in canonical form, capabilities as full
dotted paths. Secret references (`${secrets:NAME}`, `${env:NAME}`,
`${NAME}`) are kept verbatim: the shell resolves them. Every class
serialises with dataclasses-json (`to_dict()` / `from_dict()`), which is how
a config travels in an event-log header and a `ConfigChanged` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataclasses_json import DataClassJsonMixin

DEFAULT_ERROR_CODES: tuple[int, ...] = (429, 500, 502, 503, 504)
DEFAULT_NON_RETRYABLE: tuple[int, ...] = (400, 401, 403)


@dataclass(frozen=True)
class Pricing(DataClassJsonMixin):
    """USD per 1M tokens, plus a fixed per-request price (R-15, R-57)."""

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0
    per_request: float = 0.0


@dataclass(frozen=True)
class ModelConfig(DataClassJsonMixin):
    """One model (R-15). `order` is its position in configuration order and
    `source` is `config`, `discovered` or `catalogue` (R-20, R-24)."""

    id: str
    provider: str
    name: str
    capabilities: tuple[str, ...] = ()
    delivery_synchronous: bool = True
    delivery_streaming: bool = False
    delivery_batch: bool = False
    features: dict[str, bool] = field(default_factory=dict)  # unset keys = unknown
    context_window: int | None = None
    max_output_tokens: int | None = None
    max_images: int | None = None
    max_file_size: int | None = None
    supported_languages: tuple[str, ...] | None = None
    pricing: Pricing | None = None
    batch: dict[str, Any] = field(default_factory=dict)  # declarative only (§16)
    source: str = "config"
    order: int = 0


@dataclass(frozen=True)
class ProviderConfig(DataClassJsonMixin):
    """One provider instance (R-22, R-75, R-76). `api_keys` hold unresolved
    references or literal keys, in order (several for `key_rotation`)."""

    id: str
    connector: str
    enabled: bool = True
    base_url: str | None = None  # None = connector default
    timeout_s: float = 60.0
    max_retries: int = 3
    auth_method: str = "api_key"
    api_keys: tuple[str, ...] = ()
    key_rotation: bool = False
    auto_discover: bool = False
    refresh_interval_s: float | None = None
    quota_query_current: bool = False
    quota_query_remaining: bool = False
    quota_reset_schedule: str = "monthly"
    budget_daily_limit: float | None = None
    budget_monthly_limit: float | None = None
    pricing_query: bool = False
    retryable_codes: tuple[int, ...] = DEFAULT_ERROR_CODES
    non_retryable_codes: tuple[int, ...] = DEFAULT_NON_RETRYABLE
    infrastructure_batch: bool = False
    infrastructure_files: bool = False
    infrastructure_fine_tuning: bool = False
    capabilities: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # connector-specific keys
    has_instance: bool = False  # `instance` given programmatically; the shell holds it


@dataclass(frozen=True)
class LimitSpec(DataClassJsonMixin):
    """A request/token/budget limit (R-44): `value` applies to every member,
    unless `per_model` is non-empty, in which case only listed members are
    limited."""

    value: float | None = None
    per_model: dict[str, float] = field(default_factory=dict)

    def for_model(self, model_id: str) -> float | None:
        if self.per_model:
            return self.per_model.get(model_id)
        return self.value


@dataclass(frozen=True)
class RetryConfig(DataClassJsonMixin):
    """`pools.<name>.retry.*` (R-36). Code lists of None inherit the provider's."""

    max_attempts: int = 3
    backoff: str = "exponential_jitter"  # fixed | exponential_jitter | retry_after
    initial_delay_s: float = 0.5
    max_delay_s: float = 10.0
    retryable_codes: tuple[int, ...] | None = None
    non_retryable_codes: tuple[int, ...] | None = None
    scope: str = "same_model"  # same_model | same_provider | any
    honor_retry_after: bool = True
    max_retry_after_s: float = 300.0


@dataclass(frozen=True)
class DeactivationConfig(DataClassJsonMixin):
    """`rotation.deactivation.*` (R-44)."""

    retry_limit: int = 3
    error_rate_threshold: float = 0.5
    error_rate_window: int = 20
    error_rate_min_samples: int = 10
    error_codes: tuple[int, ...] = DEFAULT_ERROR_CODES
    request_limit: LimitSpec = field(default_factory=LimitSpec)
    token_limit: LimitSpec = field(default_factory=LimitSpec)
    budget_limit: LimitSpec = field(default_factory=LimitSpec)
    quota_window: str | None = None  # daily | monthly; None = follow recovery schedule
    maintenance_window: str | None = None  # 5-field cron, UTC


@dataclass(frozen=True)
class RecoveryConfig(DataClassJsonMixin):
    """`rotation.recovery.*` (R-47)."""

    cooldown_s: float = 60.0
    backoff_multiplier: float = 1.0
    max_cooldown_s: float = 300.0
    probe_on_start: bool = False
    probe_interval_s: float = 300.0
    on_quota_reset: bool = True
    quota_reset_schedule: str | None = None  # monthly | daily | rolling; None = provider's


@dataclass(frozen=True)
class SelectionConfig(DataClassJsonMixin):
    """`rotation.selection.*` parameters of the strategies (R-53)."""

    model_priority: tuple[str, ...] = ()
    provider_priority: tuple[str, ...] = ()
    fallback_strategy: str = "modelmesh.round-robin.v1"  # or "error"
    balance_mode: str = "relative"  # relative | absolute
    rate_limit_threshold: float = 0.8
    rate_limit_min_delta_s: float = 0.0
    rate_limit_max_rpm: int = 0
    affinity_mode: str = "fallback"  # fallback | strict
    session_timeout_s: float = 1800.0
    cost_basis: str = "price"  # price | spend
    expected_output_ratio: float = 1.0
    latency_window: int = 50


@dataclass(frozen=True)
class PoolConfig(DataClassJsonMixin):
    """One pool (R-16 and the rotation keys of R-44, R-47, R-52, R-53)."""

    name: str
    capability: str | None = None  # full path
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] | None = None
    excluded_providers: tuple[str, ...] = ()
    strategy: str = "modelmesh.stick-until-failure.v1"
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    deadline_s: float = 120.0
    stream_first_chunk_timeout_s: float = 30.0
    on_all_standby: str = "fail_fast"  # fail_fast | wait | try_anyway
    on_budget_exceeded: str = "error"  # error | rotate
    retry: RetryConfig = field(default_factory=RetryConfig)
    deactivation: DeactivationConfig = field(default_factory=DeactivationConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    provider_deactivation: tuple[str, ...] = ("on_auth_failure",)
    provider_recovery: str = "on_probe_success"  # on_probe_success | on_manual
    predefined: bool = False
    has_strategy_instance: bool = False  # `strategy_instance` given; the shell holds it


@dataclass(frozen=True)
class MeshConfig(DataClassJsonMixin):
    """The whole normalised configuration (R-10). Shell-only sections
    (secrets, storage, observability, discovery, connectors, proxy) are kept
    as normalised dicts in `sections`; the router reads providers, models,
    pools and custom capabilities. `warnings` keeps validation warnings."""

    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    pools: dict[str, PoolConfig] = field(default_factory=dict)
    custom_capabilities: tuple[str, ...] = ()
    sections: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
