"""Budgets: pre-flight reservation and settlement (SPEC R-57 .. R-62).

Theory of operation: spend is kept per bucket and period key. A bucket is
`("provider", <id>)` for provider daily/monthly limits, or
`("pool", "<pool>/<model>")` for a pool's per-model `budget_limit`. Before
each attempt the router asks `check()` whether settled spend plus
outstanding reservations plus the estimate would pass any applicable limit;
if not, it `reserve()`s the estimate. After the attempt `settle()` releases
the reservation and adds the actual cost. Reservations are not persisted;
spend is (R-85), keyed by period so a restart inside the period restores it
and a new period starts at zero (R-61).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from meshcore.config.schema import ModelConfig, Pricing
from meshcore.frozen import fast_frozen
from meshcore.types import Usage

DEFAULT_OUTPUT_ESTIMATE = 4096


@dataclass(frozen=True, slots=True)
class Limit:
    """One applicable limit: its bucket, period key, limit value and type."""

    scope: str
    key: str
    period: str
    limit: float
    limit_type: str  # daily | monthly | model


fast_frozen(Limit)


@dataclass(frozen=True, slots=True)
class Breach:
    limit: Limit
    actual: float


fast_frozen(Breach)


def cost_of(pricing: Pricing | None, usage: Usage) -> float:
    """Cost of one attempt (R-57); 0 when unpriced."""
    if pricing is None:
        return 0.0
    return (
        usage.prompt_tokens * pricing.input_per_1m / 1e6
        + usage.completion_tokens * pricing.output_per_1m / 1e6
        + pricing.per_request
    )


def estimate_cost(model: ModelConfig, prompt_tokens: int, max_tokens: int | None) -> float:
    """Pre-flight estimate (R-59)."""
    if model.pricing is None:
        return 0.0
    out = max_tokens if max_tokens is not None else (
        model.max_output_tokens if model.max_output_tokens is not None else DEFAULT_OUTPUT_ESTIMATE
    )
    return cost_of(model.pricing, Usage(prompt_tokens, out))


def settle_usage(usage: Usage | None, output_chars: int, prompt_estimate: int) -> Usage | None:
    """The usage to charge (R-60): reported usage, else an estimate from the
    returned text; None when nothing was received."""
    if usage is not None:
        return usage
    if output_chars <= 0:
        return None
    return Usage(prompt_estimate, ceil(output_chars / 4), estimated=True)


class BudgetLedger:
    """Spend and reservations per (scope, key, period)."""

    def __init__(self) -> None:
        self.spend: dict[tuple[str, str, str], float] = {}
        self.reserved: dict[tuple[str, str, str], float] = {}

    def check(self, limits: list[Limit], estimate: float) -> Breach | None:
        for lim in limits:
            k = (lim.scope, lim.key, lim.period)
            actual = self.spend.get(k, 0.0) + self.reserved.get(k, 0.0) + estimate
            if actual > lim.limit + 1e-12:
                return Breach(lim, actual)
        return None

    def reserve(self, limits: list[Limit], estimate: float) -> None:
        for lim in limits:
            k = (lim.scope, lim.key, lim.period)
            self.reserved[k] = self.reserved.get(k, 0.0) + estimate

    def settle(self, limits: list[Limit], reserved: float, cost: float) -> None:
        for lim in limits:
            k = (lim.scope, lim.key, lim.period)
            left = self.reserved.get(k, 0.0) - reserved
            if left <= 1e-12:
                self.reserved.pop(k, None)
            else:
                self.reserved[k] = left
            if cost:
                self.spend[k] = self.spend.get(k, 0.0) + cost

    def add_spend(self, scope: str, key: str, period: str, cost: float) -> None:
        if cost:
            k = (scope, key, period)
            self.spend[k] = self.spend.get(k, 0.0) + cost

    def spent(self, scope: str, key: str, period: str) -> float:
        return self.spend.get((scope, key, period), 0.0)
