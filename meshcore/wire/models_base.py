"""Shared machinery of the unified (OpenAI-shaped) model classes.

Theory of operation: every request and response type of the wire layer is a
frozen, slotted dataclass that inherits `WireModel`. `model_dump()` walks the
dataclass fields and produces the plain OpenAI wire dict: tuples become lists,
enums their values, nested models dicts; a field whose value is None is left
out unless the class names it in `_KEEP_NONE` (OpenAI sends `content: null`,
`finish_reason: null`, ...). Values of the exact types str, int, float and
bool are copied without further dispatch, and the field names a class dumps
are computed once per class (request bodies are dumped once per attempt).
`model_dump_json()` is `json.dumps` of that dict
with bytes base64-encoded. The `_ck_*` helpers validate user input while
parsing plain dicts into requests; they raise `ValueError` naming the field.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, ClassVar

_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_CACHE.get(cls)
    if names is None:
        names = tuple(f.name for f in fields(cls))
        _FIELD_CACHE[cls] = names
    return names


_DUMP_CACHE: dict[type, tuple[str, ...]] = {}


def _dump_names(cls: type[WireModel]) -> tuple[str, ...]:
    """The field names `model_dump` writes (all but the class's `_SKIP`)."""
    names = _DUMP_CACHE.get(cls)
    if names is None:
        skip = cls._SKIP
        names = tuple(n for n in _field_names(cls) if n not in skip)
        _DUMP_CACHE[cls] = names
    return names


# Exact types a dump returns unchanged (subclasses, str enums for one, are
# dumped by the general rules).
_PLAIN: frozenset[type] = frozenset({str, int, float, bool})


def dump_value(value: Any) -> Any:
    """Convert a model value (dataclass, tuple, enum, dict, scalar) to plain data."""
    t = type(value)
    if t in _PLAIN or value is None:
        return value
    if t is tuple or t is list:
        return [v if type(v) in _PLAIN else dump_value(v) for v in value]
    if isinstance(value, WireModel):
        return value.model_dump()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [dump_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): dump_value(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {n: dump_value(getattr(value, n)) for n in _field_names(type(value))}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class WireModel:
    """Mixin of every unified model class: OpenAI-shaped dumps."""

    __slots__ = ()
    _KEEP_NONE: ClassVar[frozenset[str]] = frozenset()
    _SKIP: ClassVar[frozenset[str]] = frozenset()

    def model_dump(self) -> dict[str, Any]:
        """A plain dict in the OpenAI wire shape (None omitted where OpenAI omits it)."""
        out: dict[str, Any] = {}
        keep = self._KEEP_NONE
        plain = _PLAIN
        for name in _dump_names(type(self)):
            value = getattr(self, name)
            if value is None:
                if name in keep:
                    out[name] = None
            elif type(value) in plain:
                out[name] = value
            else:
                out[name] = dump_value(value)
        return out

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """`model_dump()` as a JSON string (bytes values base64-encoded)."""
        return json.dumps(
            self.model_dump(), indent=indent, default=_json_default, ensure_ascii=False
        )


# ---------------------------------------------------------------- validation helpers


def ck_mapping(value: Any, path: str) -> dict[str, Any]:
    """`value` as a dict with string keys, else ValueError naming `path`."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ValueError(f"{path}: keys must be strings")
    return value


def ck_str(value: Any, path: str, *, allow_none: bool = False) -> str | None:
    """A string (or None when allowed)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, got {type(value).__name__}")
    return value


def ck_req_str(value: Any, path: str) -> str:
    """A required string."""
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, got {type(value).__name__}")
    return value


def ck_int(value: Any, path: str, *, minimum: int | None = None) -> int | None:
    """An optional integer (bool rejected), with an optional lower bound."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{path}: expected an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{path}: must be >= {minimum}")
    return int(value)


def ck_float(
    value: Any, path: str, *, lo: float | None = None, hi: float | None = None
) -> float | None:
    """An optional finite number within [lo, hi]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: expected a number, got {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{path}: must be finite")
    if lo is not None and f < lo:
        raise ValueError(f"{path}: must be >= {lo}")
    if hi is not None and f > hi:
        raise ValueError(f"{path}: must be <= {hi}")
    return f


def ck_bool(value: Any, path: str) -> bool | None:
    """An optional boolean."""
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValueError(f"{path}: expected a boolean, got {type(value).__name__}")
    return value


def ck_list(value: Any, path: str) -> list[Any]:
    """A list or tuple, returned as a list."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{path}: expected a list, got {type(value).__name__}")
    return list(value)


def ck_json_value(value: Any, path: str) -> Any:
    """Any JSON-representable value (dicts with string keys, lists, scalars)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: must be finite")
        return value
    if isinstance(value, (list, tuple)):
        return [ck_json_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: ck_json_value(v, f"{path}.{k}") for k, v in ck_mapping(value, path).items()}
    raise ValueError(f"{path}: not a JSON value ({type(value).__name__})")
