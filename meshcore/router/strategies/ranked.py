"""Metric-ranked strategies: cost-first and latency-first (SPEC R-53).

Theory of operation: both compute one number per candidate, pick the best
and break ties by pool order; neither keeps state.

- cost-first, `cost_basis: price`: the estimated request cost
  P*in + O*out + per_request, with P the prompt-token estimate (R-30), O =
  `max_tokens` if set, else P * `expected_output_ratio`, and prices per
  token (`input_per_1m` / 10^6). `cost_basis: spend`: the model's spend
  in the current quota period. Models without pricing rank last in both
  bases. Score = -cost (unpriced: `LOWEST_SCORE`).
- latency-first: the lowest mean latency over the last `latency_window`
  successes (the router computes the mean into the snapshot). A model
  without history counts as the median of the known means among the
  candidates, so with no history at all every model ties and pool order
  decides. Score = -latency.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshcore._mypyc import mypyc_attr
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult, StrategyState
from meshcore.router.strategies.base import LOWEST_SCORE, BuiltinStrategy, best_index, median

__all__ = ["CostFirst", "LatencyFirst"]


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class CostFirst(BuiltinStrategy):
    """`modelmesh.cost-first.v1`."""

    strategy_id = "modelmesh.cost-first.v1"

    def cost(self, candidate: ModelSnapshot, req: SelectionRequest) -> float | None:
        """The candidate's cost on the configured basis; None if unpriced."""
        pricing = candidate.pricing
        if pricing is None:
            return None
        if self.selection.cost_basis == "spend":
            return candidate.spend_period
        prompt = float(req.features.prompt_tokens)
        if req.features.max_tokens is not None:
            out = float(req.features.max_tokens)
        else:
            out = prompt * self.selection.expected_output_ratio
        return (
            prompt * pricing.input_per_1m / 1e6
            + out * pricing.output_per_1m / 1e6
            + pricing.per_request
        )

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """-cost; unpriced models get `LOWEST_SCORE`."""
        c = self.cost(candidate, req)
        return LOWEST_SCORE if c is None else 0.0 - c

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        values = self.scores(candidates, req)
        i = best_index(values)
        chosen = candidates[i]
        cost = self.cost(chosen, req)
        if cost is None:
            reason = "no candidate is priced; first in pool order"
        elif self.selection.cost_basis == "spend":
            reason = f"lowest spend this period (${cost:.6f})"
        else:
            reason = f"lowest estimated cost (${cost:.6f})"
        return self.result(chosen, values[i], reason)


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class LatencyFirst(BuiltinStrategy):
    """`modelmesh.latency-first.v1`."""

    strategy_id = "modelmesh.latency-first.v1"

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """-mean latency; on its own a model without history scores 0."""
        return self.scores([candidate], req)[0]

    def scores(self, candidates: Sequence[ModelSnapshot], req: SelectionRequest) -> list[float]:
        """-latency per candidate, unknown means filled with the median of
        the known ones (0 when none is known, so all tie)."""
        known = [c.latency_mean_ms for c in candidates if c.latency_mean_ms is not None]
        fill = median(known) if known else 0.0
        return [
            0.0 - (c.latency_mean_ms if c.latency_mean_ms is not None else fill)
            for c in candidates
        ]

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        values = self.scores(candidates, req)
        i = best_index(values)
        chosen = candidates[i]
        if chosen.latency_mean_ms is None:
            reason = f"no latency history; scored as median ({-values[i]:.1f} ms)"
        else:
            reason = f"lowest mean latency ({chosen.latency_mean_ms:.1f} ms)"
        return self.result(chosen, values[i], reason)
