"""Session-stickiness: one session, one model (SPEC R-53).

Theory of operation: `state.sessions` maps a session key to
`(model_id, last_use_wall)`. An entry idle for longer than
`session_timeout` (wall time) counts as absent and is purged on the next
state-changing selection. A live entry whose model is a candidate wins.
A first assignment uses rendezvous hashing: the candidate with the highest
`stable_hash64(session_id, model_id)`, so every process and every restart
picks the same model for a session without coordination, and removing one
model only moves the sessions that were on it. When the mapped model is
not a candidate, `affinity_mode: strict` raises `SessionUnavailable` (the
router fails the request with `SessionModelUnavailableError`), while
`fallback` reassigns by rendezvous over the candidates and updates the
map. A request without a session key takes the first candidate.

Each use re-inserts the entry at the end of the dict, so entries stay in
order of last use and purging stops at the first live entry.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshcore._mypyc import mypyc_attr
from meshcore.router.policy import (
    ModelSnapshot,
    SelectionRequest,
    SelectionResult,
    SessionUnavailable,
    StrategyState,
)
from meshcore.router.rng import stable_hash64
from meshcore.router.strategies.base import BuiltinStrategy, best_index

__all__ = ["SessionStickiness", "rendezvous_pick"]

_HASH_SPAN = float(2**64)


def rendezvous_pick(session_id: str, candidates: Sequence[ModelSnapshot]) -> int:
    """Index of the candidate with the highest stable hash of
    (session ID, model ID); ties (practically impossible) go to pool order."""
    return best_index([float(stable_hash64(session_id, c.model_id)) for c in candidates])


def purge_expired(state: StrategyState, now_wall: float, timeout_s: float) -> None:
    """Drop session entries idle for longer than `timeout_s`, oldest first,
    stopping at the first live entry (entries are kept in last-use order)."""
    expired: list[str] = []
    for sid, (_mid, last) in state.sessions.items():
        if now_wall - last > timeout_s:
            expired.append(sid)
        else:
            break
    for sid in expired:
        del state.sessions[sid]


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class SessionStickiness(BuiltinStrategy):
    """`modelmesh.session-stickiness.v1`."""

    strategy_id = "modelmesh.session-stickiness.v1"

    def score(self, candidate: ModelSnapshot, req: SelectionRequest) -> float:
        """The rendezvous weight in [0, 1) for the request's session; without
        a session key, pool order (earlier is higher)."""
        if not req.session_id:
            return 0.0 - float(candidate.pool_index)
        return stable_hash64(req.session_id, candidate.model_id) / _HASH_SPAN

    def _select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState,
        members: Sequence[str],
    ) -> SelectionResult:
        sid = req.session_id
        if not sid:
            first = candidates[0]
            return self.result(first, self.score(first, req),
                               "no session key; first candidate in pool order")
        timeout = self.selection.session_timeout_s
        entry = state.sessions.get(sid)
        if entry is not None and req.now_wall - entry[1] > timeout:
            entry = None
        chosen: ModelSnapshot | None = None
        if entry is not None:
            mapped = entry[0]
            chosen = next((c for c in candidates if c.model_id == mapped), None)
            if chosen is not None:
                reason = f"session bound to {mapped}"
            elif self.selection.affinity_mode == "strict":
                raise SessionUnavailable(sid, mapped)
            else:
                reason = f"session model {mapped} unavailable; reassigned by rendezvous hashing"
        else:
            reason = "new session; assigned by rendezvous hashing"
        if chosen is None:
            chosen = candidates[rendezvous_pick(sid, candidates)]
        if not req.dry_run:
            purge_expired(state, req.now_wall, timeout)
            state.sessions.pop(sid, None)
            state.sessions[sid] = (chosen.model_id, req.now_wall)
        return self.result(chosen, self.score(chosen, req), reason)
