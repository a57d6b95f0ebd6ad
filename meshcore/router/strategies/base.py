"""The common shape of the built-in selection strategies.

Theory of operation: every built-in strategy (R-53) is a small object built
from the pool's `SelectionConfig`. The router calls
`select(candidates, req, state, members)`: `candidates` are already
filtered (state, admission, models tried in this request) and in pool
order; `members` is the full pool order; `state` is the pool's
`StrategyState`, which a strategy may change only when `req.dry_run` is
false. `state` and `members` are optional so a built-in also satisfies the
two-argument `Selection` protocol of R-43 (a throwaway state is used).

`score(candidate, req)` ranks one candidate, higher is better, considering
it on its own; `scores(candidates, req)` ranks a whole candidate list in
context (latency-first and load-balanced fill unknown values with the
median of the known ones, which needs the other candidates). Scores are
always finite so they serialise as plain JSON.

Ties always go to the earlier candidate in pool order, and nothing here
iterates a set or uses `hash()`, so equal inputs give equal results in
every process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from meshcore._mypyc import mypyc_attr
from meshcore.config.schema import SelectionConfig
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult, StrategyState
from meshcore.types import RateLimitInfo

__all__ = [
    "LOWEST_SCORE",
    "BuiltinStrategy",
    "best_index",
    "fraction_from",
    "header_fraction",
    "header_remaining",
    "median",
    "rate_fraction",
    "rate_remaining",
    "rate_usage",
    "remaining_from",
]

# A finite stand-in for "ranks last" (e.g. unpriced models in cost-first).
LOWEST_SCORE = -1.0e18


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class BuiltinStrategy(ABC):
    """Base class of the eight built-in strategies (R-53)."""

    strategy_id: ClassVar[str]

    def __init__(self, selection: SelectionConfig) -> None:
        self.selection = selection

    def select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState | None = None,
        members: Sequence[str] | None = None,
    ) -> SelectionResult:
        """Pick one of `candidates` (see module docstring). An empty list is
        a programming error (ValueError, R-43)."""
        if not candidates:
            raise ValueError(f"{self.strategy_id}: select() called with no candidates")
        st = state if state is not None else StrategyState()
        order = tuple(members) if members is not None else tuple(c.model_id for c in candidates)
        return self._select(candidates, req, st, order)

    @abstractmethod
    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        """Strategy body; `candidates` is non-empty."""

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """Rank one candidate on its own; higher is better. The default is
        pool order: earlier members score higher."""
        return 0.0 - float(candidate.pool_index)

    def scores(self, candidates: Sequence[ModelSnapshot], req: SelectionRequest) -> list[float]:
        """Rank each of `candidates` in the context of the whole list."""
        return [self.score(c, req) for c in candidates]

    def result(self, chosen: ModelSnapshot, score: float, reason: str) -> SelectionResult:
        """Build the `SelectionResult` for `chosen`."""
        return SelectionResult(chosen.model_id, chosen.provider_id, float(score), reason)


def best_index(values: Sequence[float]) -> int:
    """Index of the highest value; ties go to the earliest (pool order)."""
    best = 0
    for i in range(1, len(values)):
        if values[i] > values[best]:
            best = i
    return best


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence (mean of the two middle values)."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def _clamp01(x: float) -> float:
    return min(1.0, max(0.0, x))


def header_fraction(rl: RateLimitInfo | None) -> float | None:
    """remaining/limit from the rate-limit headers alone (requests, else
    tokens); None when they do not give it."""
    if rl is not None:
        if rl.requests_remaining is not None and rl.requests_limit:
            return _clamp01(rl.requests_remaining / rl.requests_limit)
        if rl.tokens_remaining is not None and rl.tokens_limit:
            return _clamp01(rl.tokens_remaining / rl.tokens_limit)
    return None


def header_remaining(rl: RateLimitInfo | None) -> float | None:
    """Remaining capacity from the rate-limit headers alone (requests, else
    tokens); None when they do not give it."""
    if rl is not None:
        if rl.requests_remaining is not None:
            return float(max(0, rl.requests_remaining))
        if rl.tokens_remaining is not None:
            return float(max(0, rl.tokens_remaining))
    return None


def fraction_from(rl: RateLimitInfo | None, recent_60s: int, max_rpm: int) -> float | None:
    """`rate_fraction` from its inputs: the last rate-limit data and the
    local count of requests sent in the last 60 s (used only when the
    headers give nothing: `header_fraction`)."""
    frac = header_fraction(rl)
    if frac is not None:
        return frac
    if max_rpm > 0:
        return _clamp01((max_rpm - recent_60s) / max_rpm)
    return None


def remaining_from(rl: RateLimitInfo | None, recent_60s: int, max_rpm: int) -> float | None:
    """`rate_remaining` from its inputs (see `fraction_from`)."""
    rem = header_remaining(rl)
    if rem is not None:
        return rem
    if max_rpm > 0:
        return float(max(0, max_rpm - recent_60s))
    return None


def rate_fraction(snap: ModelSnapshot, max_rpm: int) -> float | None:
    """remaining/limit in [0, 1] (R-55): from the request headers, else the
    token headers, else local counting of the last 60 s against `max_rpm`
    (when > 0); None when the model has no rate data."""
    return fraction_from(snap.rate_limits, snap.recent_requests_60s, max_rpm)


def rate_usage(snap: ModelSnapshot, max_rpm: int) -> float | None:
    """usage = 1 - remaining/limit (R-53) from `rate_fraction`; None
    without rate data."""
    frac = rate_fraction(snap, max_rpm)
    return None if frac is None else 1.0 - frac


def rate_remaining(snap: ModelSnapshot, max_rpm: int) -> float | None:
    """Absolute remaining capacity (requests, else tokens, else
    `max_rpm` minus the local 60 s count); None without rate data."""
    return remaining_from(snap.rate_limits, snap.recent_requests_60s, max_rpm)
