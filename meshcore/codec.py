"""JSON encoding of events, actions and records for the event log.

Theory of operation: every event, action and record is a frozen dataclass
of plain values, enums, tuples and nested dataclasses. `encode()` turns
one into JSON-able data with a `type` tag; `decode()` rebuilds it from the
tag and the dataclass's type hints. The mapping is closed (only the types
listed in `KNOWN`), so a log line can never name arbitrary code.

The type hints come from `meshcore.codec_fields`, a table generated from
the classes' annotations (scripts/gen_codec_fields.py; a test fails when it
is stale), not from `typing.get_type_hints`: compiled with mypyc (setup.py),
a native class's `__annotations__` hold erased runtime types (`float | None`
becomes `type`, `tuple[X, ...]` becomes `tuple`). Both builds decode alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any

from meshcore import actions as A
from meshcore import events as E
from meshcore import records as R
from meshcore.codec_fields import FIELDS
from meshcore.types import RateLimitInfo, RequestFeatures, Usage

KNOWN: dict[str, type] = {
    t.__name__: t
    for t in (
        *E.EVENT_TYPES,
        *A.ACTION_TYPES,
        A.AttemptRecord,
        A.Failure,
        R.RoutingEvent,
        R.RequestLogEntry,
        R.TraceEntry,
        R.StatsFlush,
        RequestFeatures,
        Usage,
        RateLimitInfo,
    )
}

def encode(obj: Any) -> Any:
    """Encode a dataclass tree into JSON-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = encode(getattr(obj, f.name))
        return out
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (tuple, list)):
        return [encode(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__} in an event log")


def _hints(cls: type) -> dict[str, Any]:
    return FIELDS[cls.__name__]


def decode(data: Any) -> Any:
    """Rebuild a tagged dataclass from `encode()` output."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError("expected an object with a 'type' tag")
    name = data["type"]
    cls = KNOWN.get(name)
    if cls is None:
        raise ValueError(f"unknown type {name!r} in event log")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _value(hints[f.name], data[f.name])
    return cls(**kwargs)


def _value(hint: Any, v: Any) -> Any:
    if v is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        for a in options:
            try:
                return _value(a, v)
            except (TypeError, ValueError):
                continue
        return v
    if hint is Any:
        if isinstance(v, dict) and "type" in v and v["type"] in KNOWN:
            return decode(v)
        return v
    if origin is tuple:
        targs = typing.get_args(hint)
        if len(targs) == 2 and targs[1] is Ellipsis:
            return tuple(_value(targs[0], x) for x in v)
        return tuple(_value(a, x) for a, x in zip(targs, v, strict=True))
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_value(item, x) for x in v]
    if origin is dict:
        return dict(v)
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return hint(v)
        if dataclasses.is_dataclass(hint):
            return decode(v if "type" in v else {"type": hint.__name__, **v})
        if hint is float and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if not isinstance(v, hint):
            raise TypeError(f"expected {hint.__name__}, got {type(v).__name__}")
    return v
