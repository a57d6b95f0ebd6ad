"""Rate-limit driven strategies: rate-limit-aware and load-balanced (R-53).

Theory of operation: both read the rate data of R-55 from the snapshot:
the last response's `x-ratelimit-*` figures (requests first, tokens
otherwise) or, with no header data and `rate_limit.max_rpm > 0`, local
counting of the requests sent in the last 60 s against `max_rpm`.

- rate-limit-aware walks the candidates in pool order and takes the first
  whose usage (1 - remaining/limit) is below `threshold`, whose local
  60 s count is below `max_rpm` (when > 0) and whose last request is at
  least `min_delta` ago. If none qualifies it takes the candidate with the
  most headroom (1 - usage; no data = full headroom), ties by pool order.
  It never deactivates anything.
- load-balanced draws one candidate at random, weighted by remaining
  capacity: `relative` weight = remaining/limit, `absolute` weight =
  remaining. Candidates without rate data get the median of the known
  weights (1 for all when none is known); if every weight is zero the
  first candidate is taken. The draw is `weighted.exact_draw`: exact
  rational arithmetic (no float sums, so the result does not depend on the
  order of additions and an incremental index can reproduce it exactly),
  with the uniform's 53 bits from `derive_bits53(seed, "load-balanced",
  pool, request_seq, attempt_index)`, so it is reproducible and independent
  of every other random decision. The router's shortcut
  (`lbselect.py`) gives the same choice and reason without this class.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshcore._mypyc import mypyc_attr
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult, StrategyState
from meshcore.router.rng import derive_bits53
from meshcore.router.strategies.base import (
    BuiltinStrategy,
    best_index,
    fraction_from,
    median,
    rate_fraction,
    rate_remaining,
)
from meshcore.router.weighted import exact_draw
from meshcore.types import RateLimitInfo

__all__ = ["LoadBalanced", "RateLimitAware"]


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class RateLimitAware(BuiltinStrategy):
    """`modelmesh.rate-limit-aware.v1`."""

    strategy_id = "modelmesh.rate-limit-aware.v1"

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """Remaining headroom, 1 - usage (1.0 without rate data)."""
        frac = rate_fraction(candidate, self.selection.rate_limit_max_rpm)
        return 1.0 if frac is None else frac

    def blocked_by(self, candidate: ModelSnapshot, req: SelectionRequest) -> str | None:
        """Why the candidate fails the first-choice test, or None."""
        return self.blocked(candidate.rate_limits, candidate.recent_requests_60s,
                            candidate.last_request_mono, req.now_mono)

    def blocked(
        self, rl: RateLimitInfo | None, recent_60s: int, last: float | None, now_mono: float
    ) -> str | None:
        """`blocked_by` from its inputs (the router's shortcut calls this
        without building a snapshot)."""
        sel = self.selection
        frac = fraction_from(rl, recent_60s, sel.rate_limit_max_rpm)
        usage = None if frac is None else 1.0 - frac
        if usage is not None and usage >= sel.rate_limit_threshold:
            return f"usage {usage:.2f} >= threshold {sel.rate_limit_threshold}"
        if sel.rate_limit_max_rpm > 0 and recent_60s >= sel.rate_limit_max_rpm:
            return f"{recent_60s} requests in 60 s >= max_rpm"
        if last is not None and now_mono - last < sel.rate_limit_min_delta_s:
            return "last request less than min_delta ago"
        return None

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        for c in candidates:
            if self.blocked_by(c, req) is None:
                return self.result(c, self.score(c, req),
                                   "first candidate in pool order under its rate limits")
        values = self.scores(candidates, req)
        i = best_index(values)
        return self.result(candidates[i], values[i],
                           f"all candidates near their limits; most headroom ({values[i]:.2f})")


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class LoadBalanced(BuiltinStrategy):
    """`modelmesh.load-balanced.v1`."""

    strategy_id = "modelmesh.load-balanced.v1"

    def raw_weight(self, candidate: ModelSnapshot) -> float | None:
        """The weight from rate data alone; None without rate data."""
        max_rpm = self.selection.rate_limit_max_rpm
        if self.selection.balance_mode == "absolute":
            return rate_remaining(candidate, max_rpm)
        return rate_fraction(candidate, max_rpm)

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """The draw weight, considering the candidate on its own."""
        return self.scores([candidate], req)[0]

    def scores(self, candidates: Sequence[ModelSnapshot], req: SelectionRequest) -> list[float]:
        """Draw weights; unknown weights take the median of the known ones
        (1.0 for all when none is known)."""
        raw = [self.raw_weight(c) for c in candidates]
        known = [w for w in raw if w is not None]
        fill = median(known) if known else 1.0
        return [max(0.0, w if w is not None else fill) for w in raw]

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        weights = self.scores(candidates, req)
        drawn = exact_draw(weights, derive_bits53(
            req.seed, "load-balanced", req.pool.name, req.request_seq, req.attempt_index))
        if drawn is None:
            return self.result(candidates[0], weights[0],
                               "every weight is zero; first candidate in pool order")
        pick, total = drawn
        return self.result(candidates[pick], weights[pick],
                           f"weighted random draw (weight {weights[pick]:.3f} of {total:.3f})")
