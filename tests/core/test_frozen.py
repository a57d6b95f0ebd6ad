"""meshcore.frozen.fast_frozen: a faster constructor, the same values.

The events, actions, records and wire models are frozen slotted dataclasses
built through `fast_frozen`; they must behave exactly like the plain
dataclass would (ARCHITECTURE: events and actions are frozen values)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshcore.actions
import meshcore.events
import meshcore.records
import meshcore.types
from meshcore._mypyc import is_compiled
from meshcore.frozen import fast_frozen


@dataclass(frozen=True, slots=True)
class Plain:
    a: int
    b: str
    c: tuple[int, ...] = ()
    d: dict[str, Any] = field(default_factory=dict)
    e: float | None = field(default=None, kw_only=True)


@fast_frozen
@dataclass(frozen=True, slots=True)
class Fast:
    a: int
    b: str
    c: tuple[int, ...] = ()
    d: dict[str, Any] = field(default_factory=dict)
    e: float | None = field(default=None, kw_only=True)


def _same(fast: Fast, plain: Plain) -> None:
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert repr(fast).replace("Fast", "Plain") == repr(plain)


@settings(max_examples=60, deadline=None)
@given(st.integers(), st.text(max_size=5), st.tuples(st.integers()),
       st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
       st.one_of(st.none(), st.floats(allow_nan=False)))
def test_values_equal_the_plain_dataclass(a: int, b: str, c: tuple[int, ...],
                                          d: dict[str, Any], e: float | None) -> None:
    _same(Fast(a, b, c, d, e=e), Plain(a, b, c, d, e=e))
    _same(Fast(a=a, b=b), Plain(a=a, b=b))
    x = Fast(a, b, c, d, e=e)
    assert x == Fast(a, b, c, d, e=e) and x != Fast(a + 1, b, c, d, e=e)
    assert type(x) is Fast


def test_defaults_and_factories_are_fresh() -> None:
    x, y = Fast(1, "x"), Fast(1, "x")
    assert x.c == () and x.d == {} and x.e is None
    assert x.d is not y.d


def test_immutable_and_hashable_like_a_frozen_dataclass() -> None:
    x = Fast(1, "x", (2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.a = 2  # type: ignore[misc]
    for obj in (x, Plain(1, "x")):  # CPython 3.11 raises TypeError here for both
        with pytest.raises((AttributeError, TypeError)):
            obj.other = 1  # type: ignore[attr-defined]
    for obj in (x, Plain(1, "x")):  # a dict field value makes both unhashable
        with pytest.raises(TypeError):
            hash(obj)
    usage = meshcore.types.Usage(3, 4)
    assert hash(usage) == hash(meshcore.types.Usage(3, 4)) and usage.total_tokens == 7


def test_replace_copy_and_pickle_round_trip() -> None:
    x = Fast(1, "x", (2,), {"k": 1}, e=0.5)
    assert dataclasses.replace(x, a=5) == Fast(5, "x", (2,), {"k": 1}, e=0.5)
    assert copy.copy(x) == x and copy.deepcopy(x) == x
    assert pickle.loads(pickle.dumps(x)) == x


def test_bad_calls_raise_the_usual_type_errors() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'b'"):
        Fast(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'zz'"):
        Fast(1, "x", zz=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Fast(1, "x", (), {}, 0.5)  # type: ignore[misc]  # e is keyword-only


def test_unsuitable_classes_are_left_alone() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    for cls in (NoSlots, NotFrozen, PostInit):
        init = cls.__init__
        assert fast_frozen(cls) is cls and cls.__init__ is init
    with pytest.raises(ValueError):
        PostInit(-1)


def test_subclass_instances_are_built_the_ordinary_way() -> None:
    @dataclass(frozen=True, slots=True)
    class Sub(Fast):
        f: int = 0

    s = Sub(1, "x", f=3)
    assert type(s) is Sub and (s.a, s.b, s.f) == (1, "x", 3)
    assert s == Sub(1, "x", f=3) and copy.deepcopy(s) == s

    class Plain2(Fast):  # a plain subclass adding behaviour only
        __slots__ = ()

        def twice(self) -> int:
            return self.a * 2

    p = Plain2(4, "y", e=1.5)
    assert type(p) is Plain2 and p.twice() == 8 and (p.b, p.e) == ("y", 1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.a = 1  # type: ignore[misc]
    assert copy.deepcopy(p) == p


def _compiled(cls: type) -> bool:
    """A class of a module built by mypyc (a C extension module): native, so
    fast_frozen leaves it alone by design (see meshcore/frozen.py)."""
    return is_compiled(sys.modules[cls.__module__])


def _core_value_classes() -> list[type]:
    out = []
    for mod in (meshcore.actions, meshcore.events, meshcore.records, meshcore.types):
        for obj in vars(mod).values():
            if (isinstance(obj, type) and obj.__module__ == mod.__name__
                    and dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen):
                out.append(obj)
    assert len(out) > 20
    return out


def test_the_core_value_classes_use_the_fast_constructor() -> None:
    for cls in _core_value_classes():
        if _compiled(cls):
            # native class: its compiled __init__ stores the fields directly
            assert cls.__init__ is not object.__init__, cls
        else:
            assert cls.__init__ is object.__init__, cls  # built by fast_frozen


def _sample(cls: type) -> Any:
    """An instance built from field values of the right kinds."""
    from meshcore.types import FailureKind, Instant, Operation

    by_name: dict[str, Any] = {"kind": FailureKind.TIMEOUT, "operation": Operation.CHAT,
                               "now": Instant(1.0, 2.0)}
    by_type: dict[str, Any] = {"str": "x", "int": 3, "float": 1.5, "bool": True}
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        hint = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        kwargs[f.name] = by_name.get(f.name, by_type.get(hint.split(" ")[0]))
    return cls(**kwargs)


def test_the_core_value_classes_keep_their_guarantees_in_both_builds() -> None:
    """What fast_frozen promises every reader holds for the core's classes,
    compiled (native) or not: immutability, equality, hashing, replace,
    copying, pickling and repr."""
    checked = 0
    for cls in _core_value_classes():
        try:
            x = _sample(cls)
        except (TypeError, ValueError):
            continue  # a field whose sample value this simple builder cannot make
        checked += 1
        y = _sample(cls)
        assert x == y and x is not y and type(x) is cls, cls
        for f in dataclasses.fields(cls)[:1]:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(x, f.name, getattr(x, f.name))
        with contextlib.suppress(TypeError):  # an unhashable field value, as for a plain dataclass
            assert hash(x) == hash(y), cls
        assert dataclasses.replace(x) == x and dataclasses.replace(x) is not x, cls
        assert copy.copy(x) == x and copy.deepcopy(x) == x, cls
        assert pickle.loads(pickle.dumps(x)) == x, cls
        assert repr(x).startswith(f"{cls.__name__}("), cls
    assert checked > 20
