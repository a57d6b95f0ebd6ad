"""Custom selection strategies (SPEC R-17, R-54).

Theory of operation: the shell finds and imports custom strategies (a
`module:Class` string, an entry-point ID of the group
`modelmesh.connectors`, or a pool's `strategy_instance`) and hands them to
`Router(..., strategies={key: instance or class})`. Keys are the pool's
`strategy` value (the custom ID or the `module:Class` string as written)
or `pool:<name>` for a pool's `strategy_instance`. `pool_strategy()`
returns the object the router asks to select: a built-in strategy, or a
`CustomSelection` that adapts an object implementing the two-argument
`Selection` protocol of R-43 (`select(candidates, request)`,
`score(candidate, request)`) to the router's calling convention. A class
is instantiated once, with no arguments. A custom strategy that raises or
returns a model that is not a candidate does not break routing: the first
candidate in pool order is used and the reason says why. The core never
imports anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from meshcore._mypyc import mypyc_attr
from meshcore.config.schema import PoolConfig
from meshcore.router.policy import (
    ModelSnapshot,
    NoSelection,
    SelectionRequest,
    SelectionResult,
    SessionUnavailable,
    StrategyState,
)
from meshcore.router.strategies import get_strategy

__all__ = [
    "CustomSelection",
    "PoolStrategy",
    "instantiate",
    "pool_strategy",
    "strategy_key",
    "strategy_of",
]


class PoolStrategy(Protocol):
    """What the router calls on a pool's strategy."""

    def select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState | None = None,
        members: Sequence[str] | None = None,
    ) -> SelectionResult:
        """Choose one candidate."""
        ...

    def scores(
        self, candidates: Sequence[ModelSnapshot], req: SelectionRequest
    ) -> list[float]:
        """One score per candidate."""
        ...


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class CustomSelection:
    """Adapts a user `Selection` (R-43) to the router's strategy interface."""

    def __init__(self, impl: Any, label: str) -> None:
        self.impl = impl
        self.label = label

    def select(
        self,
        candidates: Sequence[ModelSnapshot],
        req: SelectionRequest,
        state: StrategyState | None = None,
        members: Sequence[str] | None = None,
    ) -> SelectionResult:
        """Ask the custom strategy; fall back to the first candidate when it
        fails or answers with a model that is not a candidate."""
        if not candidates:
            raise ValueError("select() needs at least one candidate")
        first = candidates[0]
        try:
            res = self.impl.select(list(candidates), req)
        except (SessionUnavailable, NoSelection):
            raise
        except Exception as exc:  # user code: never let it break routing
            return SelectionResult(first.model_id, first.provider_id, 0.0,
                                   f"custom strategy {self.label} failed "
                                   f"({type(exc).__name__}); first candidate used")
        model_id = getattr(res, "model_id", res if isinstance(res, str) else None)
        for c in candidates:
            if c.model_id == model_id:
                if isinstance(res, SelectionResult):
                    return res
                return SelectionResult(c.model_id, c.provider_id, 0.0,
                                       f"chosen by custom strategy {self.label}")
        return SelectionResult(first.model_id, first.provider_id, 0.0,
                               f"custom strategy {self.label} chose a non-candidate "
                               f"{model_id!r}; first candidate used")

    def scores(
        self, candidates: Sequence[ModelSnapshot], req: SelectionRequest
    ) -> list[float]:
        """`score()` of each candidate (0.0 when absent or failing)."""
        fn = getattr(self.impl, "score", None)
        out: list[float] = []
        for c in candidates:
            value = 0.0
            if callable(fn):
                try:
                    v = fn(c, req)
                    value = float(v) if isinstance(v, int | float) else 0.0
                except Exception:  # user code
                    value = 0.0
            out.append(value if value == value and abs(value) != float("inf") else 0.0)
        return out


def instantiate(obj: Any) -> Any:
    """An instance of `obj` (a class is called with no arguments)."""
    return obj() if isinstance(obj, type) else obj


def strategy_key(pool: PoolConfig) -> str:
    """The key under which a pool's custom strategy is looked up."""
    return f"pool:{pool.name}" if pool.has_strategy_instance else pool.strategy


def pool_strategy(
    pool: PoolConfig, custom: Mapping[str, Any], cache: dict[str, Any]
) -> PoolStrategy:
    """The strategy object of `pool`: its custom strategy when one was handed
    in (instance cached per key in `cache`), else the built-in."""
    key = strategy_key(pool)
    impl = cache.get(key)
    if impl is None:
        found = custom.get(key)
        if found is None and pool.has_strategy_instance:
            found = custom.get(pool.strategy)
        if found is not None:
            impl = CustomSelection(instantiate(found), key)
            cache[key] = impl
    if impl is not None:
        assert isinstance(impl, CustomSelection)
        return impl
    try:
        return get_strategy(pool.strategy, pool.selection)
    except ValueError:
        # a custom ID whose class the shell did not hand in (e.g. a core-only
        # replay): route in pool order rather than fail every request
        missing = CustomSelection(_Missing(), key)
        cache[key] = missing
        return missing


def strategy_of(router: object, pool: PoolConfig) -> PoolStrategy:
    """`pool_strategy` with the router's `custom_strategies` map and its
    `strategy_objects` cache (both optional attributes)."""
    custom = getattr(router, "custom_strategies", None)
    cache = getattr(router, "strategy_objects", None)
    if not isinstance(cache, dict):
        cache = {}
    return pool_strategy(pool, custom if isinstance(custom, Mapping) else {}, cache)


class _Missing:
    """Stand-in for a custom strategy that was not handed to the router."""

    def select(self, candidates: Sequence[ModelSnapshot], req: SelectionRequest) -> str:
        return "\0not-loaded"
