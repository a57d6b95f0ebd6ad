"""The rotation-policy Protocols: Deactivation, Recovery, Selection (R-43).

Theory of operation: see `meshcore.router.policy`, which re-exports these
and defines the values they exchange. They are in their own module only so
that a mypyc build can leave them interpreted: mypyc turns a Protocol into
a trait and drops its `Protocol` base, which `@runtime_checkable` rejects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult


@runtime_checkable
class Deactivation(Protocol):
    """Decides when an active model goes to standby (R-43, R-44)."""

    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        """Whether the model should leave `active` now."""
        ...

    def get_reason(self, snapshot: ModelSnapshot) -> str | None:
        """The `DeactivationReason` value (R-8) that holds, or None."""
        ...


@runtime_checkable
class Recovery(Protocol):
    """Decides when a standby model may come back (R-43, R-47)."""

    def should_recover(self, snapshot: ModelSnapshot) -> bool:
        """Whether the model may leave standby now."""
        ...

    def get_recovery_schedule(self, snapshot: ModelSnapshot) -> float | None:
        """The wall time the model may next leave standby; None = only a
        manual command or a probe can bring it back."""
        ...


@runtime_checkable
class Selection(Protocol):
    """Picks one candidate for a request (R-43, R-53). `select` on an empty
    list is a programming error (ValueError)."""

    def select(
        self, candidates: Sequence[ModelSnapshot], request: SelectionRequest
    ) -> SelectionResult:
        """Choose one of `candidates`."""
        ...

    def score(self, candidate: ModelSnapshot, request: SelectionRequest) -> float:
        """Rank one candidate; higher is better."""
        ...
