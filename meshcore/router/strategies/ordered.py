"""Order-driven strategies: stick-until-failure, round-robin, priority-selection.

Theory of operation (SPEC R-53):

- stick-until-failure keeps `state.pointer`, the pool's current model.
  Each selection goes to the pointer while it is a candidate; otherwise to
  the first candidate after the pointer's position in pool order
  (wrapping), which also serves in-request rotation. An unset (or no
  longer member) pointer is set to the first candidate. The pointer itself
  moves only when its model leaves `active`: the router then calls
  `move_pointer_on_deactivation`, which picks the next active model in
  pool order. Recovery never moves it back.
- round-robin keeps `state.rr_index`, a position in pool order. A request
  takes the first candidate at or after that position (wrapping) and the
  index moves just past it, so non-candidates use no slot: [A,B,C] gives
  A,B,C,A and, with B in standby, A,C,A,C. Only the first selection of a
  request (attempt_index 0) moves the index; in-request rotation reads it.
- priority-selection takes the first candidate listed in
  `model_priority`, else the candidate whose provider comes earliest in
  `provider_priority`, else delegates to the fallback strategy. With
  `fallback_strategy: error` it raises `NoSelection`.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshcore._mypyc import mypyc_attr
from meshcore.config.schema import SelectionConfig
from meshcore.router.policy import (
    ModelSnapshot,
    NoSelection,
    SelectionRequest,
    SelectionResult,
    StrategyState,
)
from meshcore.router.strategies.base import BuiltinStrategy

__all__ = [
    "PrioritySelection",
    "RoundRobin",
    "StickUntilFailure",
    "first_candidate_from",
    "move_pointer_on_deactivation",
]


def first_candidate_from(
    candidates: Sequence[ModelSnapshot], members: Sequence[str], start: int, inclusive: bool
) -> tuple[ModelSnapshot, int]:
    """The first candidate at (if `inclusive`) or after position `start` of
    `members`, wrapping; returns it with its position. A candidate missing
    from `members` is only reached when no member is a candidate, as the
    first candidate with position -1."""
    by_id = {c.model_id: c for c in candidates}
    n = len(members)
    first = 0 if inclusive else 1
    for k in range(first, first + n):
        pos = (start + k) % n
        snap = by_id.get(members[pos])
        if snap is not None:
            return snap, pos
    return candidates[0], -1


def move_pointer_on_deactivation(
    state: StrategyState, members: Sequence[str], active_ids: Sequence[str]
) -> str | None:
    """Move the stick-until-failure pointer to the next active model after
    it in pool order, wrapping (R-53); returns the new pointer.

    With no active member the pointer is left unchanged and None is
    returned; the next selection then takes the first candidate after it.
    An unset pointer (or one that is no longer a member) moves to the first
    active member.
    """
    active = frozenset(active_ids)
    n = len(members)
    ptr = state.pointer
    if ptr is not None and ptr in members:
        start = list(members).index(ptr)
        order = [members[(start + k) % n] for k in range(1, n + 1)]
    else:
        order = list(members)
    for mid in order:
        if mid in active:
            state.pointer = mid
            return mid
    return None


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class StickUntilFailure(BuiltinStrategy):
    """`modelmesh.stick-until-failure.v1` (the default strategy)."""

    strategy_id = "modelmesh.stick-until-failure.v1"

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        ptr = state.pointer
        if ptr is None or ptr not in members:
            chosen = candidates[0]
            if not req.dry_run:
                state.pointer = chosen.model_id
            return self.result(chosen, self.score(chosen, req),
                               "first candidate in pool order becomes the current model")
        for c in candidates:
            if c.model_id == ptr:
                return self.result(c, self.score(c, req), "current model")
        chosen, _ = first_candidate_from(candidates, members, list(members).index(ptr), False)
        return self.result(chosen, self.score(chosen, req),
                           f"current model {ptr} is not a candidate; next in pool order")


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class RoundRobin(BuiltinStrategy):
    """`modelmesh.round-robin.v1`."""

    strategy_id = "modelmesh.round-robin.v1"

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        n = len(members)
        start = state.rr_index % n if n else 0
        chosen, pos = first_candidate_from(candidates, members, start, True)
        if not req.dry_run and req.attempt_index == 0 and pos >= 0:
            state.rr_index = (pos + 1) % n
        return self.result(chosen, self.score(chosen, req), f"round-robin slot {max(pos, 0)}")


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class PrioritySelection(BuiltinStrategy):
    """`modelmesh.priority-selection.v1`; `fallback` None means `error`."""

    strategy_id = "modelmesh.priority-selection.v1"

    def __init__(self, selection: SelectionConfig, fallback: BuiltinStrategy | None) -> None:
        super().__init__(selection)
        self.fallback = fallback

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """Listed models first (in list order), then models of listed
        providers (in provider order), then everything else in pool order."""
        mp = self.selection.model_priority
        pp = self.selection.provider_priority
        if candidate.model_id in mp:
            return 0.0 - float(mp.index(candidate.model_id))
        if candidate.provider_id in pp:
            return 0.0 - float(len(mp) + pp.index(candidate.provider_id))
        return 0.0 - float(len(mp) + len(pp) + candidate.pool_index)

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        by_id = {c.model_id: c for c in candidates}
        for i, mid in enumerate(self.selection.model_priority):
            snap = by_id.get(mid)
            if snap is not None:
                return self.result(snap, self.score(snap, req), f"model priority #{i + 1}")
        pp = self.selection.provider_priority
        best: tuple[int, int] | None = None
        for i, c in enumerate(candidates):
            if c.provider_id in pp:
                key = (pp.index(c.provider_id), i)
                if best is None or key < best:
                    best = key
        if best is not None:
            snap = candidates[best[1]]
            return self.result(snap, self.score(snap, req),
                               f"provider priority #{best[0] + 1} ({snap.provider_id})")
        if self.fallback is None:
            raise NoSelection("no priority model or provider is a candidate; fallback is error")
        res = self.fallback.select(candidates, req, state, members)
        return SelectionResult(
            res.model_id, res.provider_id, self.score(by_id[res.model_id], req),
            f"fallback {self.fallback.strategy_id}: {res.reason}",
        )
