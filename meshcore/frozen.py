"""Cheap construction of frozen slotted dataclasses.

Theory of operation: a `@dataclass(frozen=True, slots=True)` instance is
immutable because its class overrides `__setattr__` to raise, so the
generated `__init__` must store every field through
`object.__setattr__`, which costs about 130 ns per field on CPython 3.11.
The core and the wire layer build several such values per request or per
streamed chunk (events, actions, records, chunk objects), so that cost is a
large share of their time.

`fast_frozen(cls)` keeps the class exactly as it is for every reader
(fields, equality, hashing, repr, `FrozenInstanceError` on assignment,
`dataclasses.replace`, pickling, dataclasses-json) and only changes how an
instance is born: a private twin class with the same slots and no
`__setattr__` guard receives the field values by plain attribute stores,
then the instance's `__class__` is switched to the frozen class (allowed
because both classes have the identical slot layout). The constructor is
generated with the dataclass's own signature, defaults and default
factories, so calls and errors look the same as before. Subclasses are
built the ordinary way (their own dataclass `__init__`, or for a plain
subclass that only adds behaviour, the dataclass's). Classes the trick
cannot serve (not frozen, not slotted, a base class that has storage of its own,
fields excluded from `__init__`, a `__post_init__`) are returned unchanged.

It is called after the class statement (`fast_frozen(Cls)`), not used as a
decorator, because mypyc compiles a class with any decorator other than
`@dataclass` as an interpreted class. In a mypyc build the classes are
native: their instances have C struct storage and no `__slots__`, the
compiled `__init__` stores the fields directly, so there is nothing to gain
and only a reduction is registered (`native_reduce`): mypyc's own pickling
of a native class makes the instance with `__new__`, which runs `__init__` without arguments,
and then assigns the fields through the frozen `__setattr__` (TypeError or
FrozenInstanceError). Both builds copy and pickle by calling the constructor
with the field values.
"""

from __future__ import annotations

import copyreg
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_NO_DEFAULT = dataclasses.MISSING


class _Factory:
    """Marks a parameter whose default comes from a default_factory."""

    __slots__ = ()


_FACTORY = _Factory()


def _rebuild(cls: type[T], values: dict[str, Any]) -> T:
    """Unpickling and copying: construct from the field values."""
    return cls(**values)


def _layout_free(base: type) -> bool:
    """A base class that adds no instance storage and no assignment guard
    (a mixin with `__slots__ = ()`), so a twin may share it."""
    own = vars(base)
    return own.get("__slots__", None) == () and "__setattr__" not in own and (
        "__dataclass_fields__" not in own
    )


def _reduce_by_fields(self: Any) -> tuple[Any, tuple[Any, ...]]:
    kind = type(self)
    return (_rebuild, (kind, {f.name: getattr(self, f.name) for f in dataclasses.fields(kind)}))


def native_reduce(cls: type[T]) -> type[T]:
    """Make a frozen dataclass that mypyc compiled as a native class copy and
    pickle by its constructor (see module docstring); other classes are
    returned unchanged."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is not None and params.frozen and "__mypyc_attrs__" in cls.__dict__:
        # registered with copyreg (which copy and pickle consult first), as
        # for extension types: a compiled function set as a class attribute
        # would not bind to the instance
        copyreg.pickle(cls, _reduce_by_fields)
    return cls


def fast_frozen(cls: type[T]) -> type[T]:
    """Give a frozen slotted dataclass a faster constructor; see module docstring."""
    if "__mypyc_attrs__" in cls.__dict__:
        return native_reduce(cls)  # a native class (mypyc)
    params = getattr(cls, "__dataclass_params__", None)
    slots = cls.__dict__.get("__slots__")
    if (
        params is None or not params.frozen or slots is None
        or not all(_layout_free(b) for b in cls.__mro__[1:-1])
        or "__post_init__" in cls.__dict__ or "__weakref__" in tuple(slots)
    ):
        return cls
    flds = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init for f in flds) or tuple(f.name for f in flds) != tuple(slots):
        return cls
    twin = type(f"_Mutable{cls.__name__}", cls.__bases__, {"__slots__": tuple(slots)})
    ns: dict[str, Any] = {"_twin": twin, "_cls": cls, "_new": object.__new__,
                          "_FACTORY": _FACTORY}
    sig: list[str] = []
    body: list[str] = []
    kw_only = False
    # a hand-written `__init__` (written for mypyc, which compiles it) takes None
    # for a default_factory field as "use the factory": the constructor made
    # here must agree, so that both builds build the same value
    init = cls.__dict__.get("__init__")
    none_is_default = getattr(getattr(init, "__code__", None), "co_filename", "<string>") != (
        "<string>")
    for f in flds:
        if f.kw_only and not kw_only:
            sig.append("*")
            kw_only = True
        name = f.name
        if f.default is not _NO_DEFAULT:
            ns[f"_d_{name}"] = f.default
            sig.append(f"{name}=_d_{name}")
            body.append(f"    o.{name} = {name}")
        elif f.default_factory is not _NO_DEFAULT:
            ns[f"_f_{name}"] = f.default_factory
            unset = "None" if none_is_default else "_FACTORY"
            sig.append(f"{name}={unset}")
            body.append(f"    o.{name} = _f_{name}() if {name} is {unset} else {name}")
        else:
            sig.append(name)
            body.append(f"    o.{name} = {name}")
    src = "\n".join([
        f"def __new__(_c, /, {', '.join(sig)}):",
        "    o = _new(_twin)",
        *body,
        "    o.__class__ = _cls",
        "    return o",
    ])
    exec(src, ns)  # generated from the dataclass's own field names
    new = ns["__new__"]
    new.__qualname__ = cls.__qualname__
    names = tuple(f.name for f in flds)

    def __reduce__(self: Any) -> tuple[Any, tuple[Any, ...]]:
        kind = type(self)
        own = names if kind is cls else tuple(f.name for f in dataclasses.fields(kind))
        return (_rebuild, (kind, {n: getattr(self, n) for n in own}))

    dataclass_init = cls.__init__

    def subclass_new(*args: Any, **kwargs: Any) -> T:
        # a subclass is built the ordinary way: its own dataclass __init__
        # runs after this, or, for a plain subclass, the dataclass's own one here.
        # The class comes in args[0], not in a named parameter: compiled by
        # mypyc, a positional-only parameter can still be passed by name, so a
        # field of that name (`c=...`) would collide with it.
        c: type[T] = args[0]
        args = args[1:]
        o = object.__new__(c)
        if c.__init__ is object.__init__:
            dataclass_init(o, *args, **kwargs)
        return o

    def __init_subclass__(*args: Any, **kwargs: Any) -> None:
        sub: type = args[0]  # (not a named parameter: see subclass_new)
        super(cls, sub).__init_subclass__(**kwargs)  # type: ignore[misc]
        sub.__new__ = subclass_new  # type: ignore[method-assign,assignment]

    cls.__new__ = new  # type: ignore[method-assign]
    cls.__init__ = object.__init__  # type: ignore[method-assign]
    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
    return cls
