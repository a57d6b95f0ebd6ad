"""The built-in selection strategies and their registry (SPEC R-53).

Theory of operation: `get_strategy(strategy_id, selection)` turns a
strategy ID (canonical `modelmesh.<name>.v1`, or any alias of R-2: the
bare name, `modelmesh.<name>`, an optional `rotation.` prefix, `priority`
for `priority-selection`) and the pool's `SelectionConfig` into a fresh
strategy object. Objects are cheap and stateless apart from their config:
everything that persists lives in the pool's `StrategyState`. For
priority-selection the registry also builds the fallback strategy named
by `fallback_strategy` (`error` = no fallback, `NoSelection` is raised).
Custom strategies (R-54) are loaded by the shell, not here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from meshcore.config.schema import SelectionConfig
from meshcore.router.policy import NoSelection, SessionUnavailable
from meshcore.router.strategies.base import LOWEST_SCORE, BuiltinStrategy
from meshcore.router.strategies.ordered import (
    PrioritySelection,
    RoundRobin,
    StickUntilFailure,
    move_pointer_on_deactivation,
)
from meshcore.router.strategies.ranked import CostFirst, LatencyFirst
from meshcore.router.strategies.ratelimit import LoadBalanced, RateLimitAware
from meshcore.router.strategies.session import SessionStickiness

__all__ = [
    "LOWEST_SCORE",
    "STRATEGY_IDS",
    "BuiltinStrategy",
    "CostFirst",
    "LatencyFirst",
    "LoadBalanced",
    "NoSelection",
    "PrioritySelection",
    "RateLimitAware",
    "RoundRobin",
    "SessionStickiness",
    "SessionUnavailable",
    "StickUntilFailure",
    "canonical_strategy_id",
    "get_strategy",
    "move_pointer_on_deactivation",
]

_SIMPLE: dict[str, Callable[[SelectionConfig], BuiltinStrategy]] = {
    StickUntilFailure.strategy_id: StickUntilFailure,
    RoundRobin.strategy_id: RoundRobin,
    CostFirst.strategy_id: CostFirst,
    LatencyFirst.strategy_id: LatencyFirst,
    SessionStickiness.strategy_id: SessionStickiness,
    RateLimitAware.strategy_id: RateLimitAware,
    LoadBalanced.strategy_id: LoadBalanced,
}

#: Canonical IDs of the built-ins, in the order of the R-53 table.
STRATEGY_IDS: tuple[str, ...] = (
    StickUntilFailure.strategy_id,
    PrioritySelection.strategy_id,
    RoundRobin.strategy_id,
    CostFirst.strategy_id,
    LatencyFirst.strategy_id,
    SessionStickiness.strategy_id,
    RateLimitAware.strategy_id,
    LoadBalanced.strategy_id,
)


def canonical_strategy_id(strategy_id: str) -> str:
    """Normalise a built-in strategy ID or alias (R-2) to
    `modelmesh.<name>.v1`; an unknown ID raises ValueError listing up to
    three close matches."""
    sid = strategy_id.strip().lower()
    if sid.startswith("rotation."):
        sid = sid[len("rotation."):]
    if sid.startswith("modelmesh."):
        sid = sid[len("modelmesh."):]
    if sid.endswith(".v1"):
        sid = sid[: -len(".v1")]
    if sid == "priority":
        sid = "priority-selection"
    canonical = f"modelmesh.{sid}.v1"
    if canonical in STRATEGY_IDS:
        return canonical
    names = [s[len("modelmesh."):-len(".v1")] for s in STRATEGY_IDS]
    close = difflib.get_close_matches(sid, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(
        f"unknown selection strategy {strategy_id!r}{hint} (built-ins: {', '.join(names)})"
    )


def get_strategy(strategy_id: str, selection: SelectionConfig) -> BuiltinStrategy:
    """Build the built-in strategy `strategy_id` (any alias) configured by
    `selection`. ValueError for an unknown ID, or for a priority-selection
    whose fallback is priority-selection itself."""
    sid = canonical_strategy_id(strategy_id)
    if sid != PrioritySelection.strategy_id:
        return _SIMPLE[sid](selection)
    fb = selection.fallback_strategy
    if fb.strip().lower() == "error":
        return PrioritySelection(selection, None)
    fb_id = canonical_strategy_id(fb)
    if fb_id == PrioritySelection.strategy_id:
        raise ValueError("fallback_strategy of priority-selection cannot be priority-selection")
    return PrioritySelection(selection, _SIMPLE[fb_id](selection))
