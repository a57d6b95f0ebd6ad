"""The hand-written `__init__` of the hot dataclasses matches their fields.

mypyc leaves `@dataclass`-generated methods interpreted, so the classes
built on every request (events, actions, records, router state) spell out
their `__init__` (see meshcore/frozen.py). This test keeps each one equal
to what `@dataclass` would generate: the same parameters in field order,
the same defaults (a `default_factory` field defaults to None, meaning
"use the factory"), and every field stored."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import meshcore
from meshcore._mypyc import is_compiled

ROOT = Path(meshcore.__path__[0]).parent

def _handwritten() -> list[tuple[Any, Callable[..., None]]]:
    """(class, its `__init__` as written in the source): read from the source,
    since in pure Python `fast_frozen` moves construction into `__new__` and
    compiled, the method is native code."""
    found = []
    for info in pkgutil.walk_packages(meshcore.__path__, "meshcore."):
        mod = importlib.import_module(info.name)
        rel = Path(*info.name.split("."))  # the source, also next to a compiled module
        src = ROOT / rel / "__init__.py" if info.ispkg else ROOT / rel.with_suffix(".py")
        tree = ast.parse(src.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            inits = [f for f in node.body
                     if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
            cls = getattr(mod, node.name, None)
            if not inits or not dataclasses.is_dataclass(cls):
                continue
            ns = dict(vars(mod))
            exec(compile(ast.Module([inits[0]], []), str(src), "exec"), ns)
            found.append((cls, ns["__init__"]))
    return found


HOT = ["Instant", "RequestSubmitted", "AttemptSucceeded", "SendAttempt", "AttemptRecord",
       "Deliver", "Emit", "RequestLogEntry", "AttemptState", "RequestState", "StrategyState"]


def test_the_hot_classes_are_the_ones_with_a_handwritten_init() -> None:
    assert sorted(c.__name__ for c, _ in _handwritten()) == sorted(HOT)


@pytest.mark.parametrize("cls, init", _handwritten(), ids=lambda c: getattr(c, "__name__", ""))
def test_handwritten_init_matches_the_dataclass_fields(
    cls: type[Any], init: Callable[..., None]
) -> None:
    params = list(inspect.signature(init).parameters.values())[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert (p.kind is p.KEYWORD_ONLY) == f.kw_only, f.name
        if f.default is not dataclasses.MISSING:
            assert p.default == f.default and type(p.default) is type(f.default), f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert p.default is None, f.name
        else:
            assert p.default is p.empty, f.name
    if is_compiled(sys.modules[cls.__module__]):
        return  # compiled: a native instance takes only its own (typed) constructor
    # every field is stored from its own parameter: distinct markers read back
    args = {f.name: object() for f in fields}
    obj = object.__new__(cls)
    init(obj, **args)
    for name, value in args.items():
        assert getattr(obj, name) is value, name
    # and a default_factory field given None gets a fresh default
    nones = {f.name: None for f in fields if f.default_factory is not dataclasses.MISSING}
    if nones:
        obj = object.__new__(cls)
        init(obj, **{**args, **nones})
        for f in fields:
            if f.name in nones:
                factory: Any = f.default_factory
                assert getattr(obj, f.name) == factory(), f.name


def test_none_for_a_default_factory_field_means_the_default_in_either_build() -> None:
    """The hand-written constructor takes None as "use the factory"; in pure
    Python `fast_frozen`'s constructor replaces it and must agree."""
    from meshcore.events import RequestSubmitted
    from meshcore.types import RequestFeatures

    assert RequestSubmitted("r1", "chat", None).features == RequestFeatures()
    assert RequestSubmitted("r1", "chat").features == RequestFeatures()
    feats = RequestFeatures(prompt_tokens=3)
    assert RequestSubmitted("r1", "chat", feats).features is feats
