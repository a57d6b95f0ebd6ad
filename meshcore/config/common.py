"""Shared machinery of the config loader: problem collection and typed reads.

Theory of operation: every section normaliser works in two steps. First
`flatten` walks one raw mapping and produces a flat dict from *canonical*
dotted keys (`execution.timeout`) to `Src(value, path)`, where `path` is
the key path as the user wrote it. A per-section `canon` function maps the
accepted alternative spellings (R-11: flat aliases, `config:` sub-maps,
`rotation:` nesting) onto the canonical key; two spellings of one key with
different values are an error. Second, a `Reader` pops canonical keys with
typed accessors that record `<key.path>: <message>` errors in the shared
`Ctx` and fall back to the default, so that one pass reports every problem.
Keys nobody popped are reported as unknown-key warnings.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from meshcore.capabilities import is_leaf, leaves_under, resolve_ex
from meshcore.config.durations import check_url, parse_duration, parse_size
from meshcore.config.refs import MAX_DEPTH, has_reference
from meshcore.errors import CapabilityNotFoundError
from meshcore.frozen import native_reduce


@dataclass
class Ctx:
    """Collects errors and warnings; carries cross-section facts."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    custom_ids: tuple[str, ...] = ()  # custom connector/strategy IDs
    custom_caps: tuple[str, ...] = ()  # custom capability nodes

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}")


@dataclass(frozen=True)
class Src:
    """A raw value and the key path it was written at."""

    value: Any
    path: str


native_reduce(Src)  # copy/pickle when compiled (meshcore.frozen)


def join(base: str, key: str) -> str:
    """Join a key path."""
    return f"{base}.{key}" if base else key


def type_name(value: Any) -> str:
    """A short user-facing type name."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def same_value(a: Any, b: Any) -> bool:
    """Equality that never raises (values may be arbitrary objects)."""
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # pragma: no cover - exotic __eq__
        return a is b


def flatten(
    ctx: Ctx,
    raw: dict[Any, Any],
    path: str,
    groups: Iterable[str],
    canon: Callable[[str], str] = lambda k: k,
) -> dict[str, Src]:
    """Flatten `raw` into canonical dotted keys (see module docstring).

    A key (or dotted key prefix) whose canonical form or raw form is in
    `groups` and whose value is a mapping is descended into; everything else
    is a leaf.
    """
    group_set = frozenset(groups)
    out: dict[str, Src] = {}

    def walk(mapping: dict[Any, Any], raw_prefix: str, at: str, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            ctx.error(at, f"nesting deeper than {MAX_DEPTH} levels")
            return
        for key, value in mapping.items():
            if not isinstance(key, str):
                ctx.error(join(at, str(key)), "wrong type: keys must be strings")
                continue
            full_raw = f"{raw_prefix}.{key}" if raw_prefix else key
            where = join(at, key)
            ckey = canon(full_raw)
            is_group = full_raw in group_set or ckey in group_set
            if is_group:
                if value is None:
                    continue
                if isinstance(value, dict):
                    walk(value, full_raw, where, depth + 1)
                    continue
                ctx.error(where, f"wrong type: expected a mapping, got {type_name(value)}")
                continue
            prev = out.get(ckey)
            if prev is not None:
                if not same_value(prev.value, value):
                    ctx.error(
                        where,
                        f"conflicts with {prev.path} (two forms of one key with different values)",
                    )
                continue
            out[ckey] = Src(value, where)

    walk(raw, "", path)
    return out


class Reader:
    """Typed, error-collecting access to a flattened mapping."""

    def __init__(self, ctx: Ctx, flat: dict[str, Src], base: str) -> None:
        self.ctx = ctx
        self.flat = flat
        self.base = base

    def path(self, key: str) -> str:
        """The user-facing path of `key` (as written when present)."""
        src = self.flat.get(key)
        return src.path if src is not None else join(self.base, key)

    def pop(self, key: str) -> Src | None:
        """Take a key (None when absent or null)."""
        src = self.flat.pop(key, None)
        if src is None or src.value is None:
            return None
        return src

    def has(self, key: str) -> bool:
        """True when the key is present and not null."""
        src = self.flat.get(key)
        return src is not None and src.value is not None

    def raw(self, key: str, default: Any = None) -> Any:
        """The raw value, unchecked."""
        src = self.pop(key)
        return default if src is None else src.value

    def _bad(self, src: Src, expected: str) -> None:
        self.ctx.error(src.path, f"wrong type: expected {expected}, got {type_name(src.value)}")

    def flag(self, key: str, default: bool) -> bool:
        """A boolean."""
        src = self.pop(key)
        if src is None:
            return default
        if isinstance(src.value, bool):
            return src.value
        self._bad(src, "a boolean")
        return default

    def opt_bool(self, key: str) -> bool | None:
        """A boolean or None when absent."""
        if not self.has(key):
            self.pop(key)
            return None
        return self.flag(key, False)

    def number(
        self,
        key: str,
        default: float | None,
        lo: float | None = None,
        hi: float | None = None,
        integer: bool = False,
    ) -> Any:
        """An int (`integer=True`) or float within [lo, hi]."""
        src = self.pop(key)
        if src is None:
            return default
        return check_number(self.ctx, src, lo, hi, integer, default)

    def text(self, key: str, default: Any, choices: Iterable[str] | None = None) -> Any:
        """A string, optionally one of `choices`."""
        src = self.pop(key)
        if src is None:
            return default
        if not isinstance(src.value, str):
            self._bad(src, "a string")
            return default
        if choices is not None:
            options = tuple(choices)
            if src.value not in options:
                self.ctx.error(src.path, f"must be one of {', '.join(options)} (got {src.value!r})")
                return default
        return src.value

    def duration(self, key: str, default: Any) -> Any:
        """A duration in seconds (R-12)."""
        src = self.pop(key)
        if src is None:
            return default
        try:
            return parse_duration(src.value)
        except ValueError as exc:
            self.ctx.error(src.path, str(exc))
            return default

    def size(self, key: str, default: Any) -> Any:
        """A size in bytes (R-12)."""
        src = self.pop(key)
        if src is None:
            return default
        try:
            return parse_size(src.value)
        except ValueError as exc:
            self.ctx.error(src.path, str(exc))
            return default

    def url(self, key: str, default: Any) -> Any:
        """An http(s) URL; values holding a secret reference are not parsed."""
        src = self.pop(key)
        if src is None:
            return default
        if isinstance(src.value, str) and has_reference(src.value):
            return src.value
        try:
            return check_url(src.value)
        except ValueError as exc:
            self.ctx.error(src.path, str(exc))
            return default

    def str_list(self, key: str, default: Any, single_ok: bool = False) -> Any:
        """A list of strings (a lone string too when `single_ok`)."""
        src = self.pop(key)
        if src is None:
            return default
        return check_str_list(self.ctx, src, default, single_ok)

    def codes(self, key: str, default: Any) -> Any:
        """A list of HTTP status codes (100..599)."""
        src = self.pop(key)
        if src is None:
            return default
        if not isinstance(src.value, list | tuple):
            self._bad(src, "a list of status codes")
            return default
        out: list[int] = []
        for i, item in enumerate(src.value):
            if isinstance(item, bool) or not isinstance(item, int):
                self.ctx.error(f"{src.path}[{i}]", f"wrong type: expected an integer status "
                               f"code, got {type_name(item)}")
            elif not 100 <= item <= 599:
                self.ctx.error(f"{src.path}[{i}]", f"out of range: {item} is not an HTTP status")
            elif item not in out:
                out.append(item)
        return tuple(out)

    def mapping(self, key: str) -> dict[str, Any] | None:
        """A mapping with string keys, or None."""
        src = self.pop(key)
        if src is None:
            return None
        if not isinstance(src.value, dict):
            self._bad(src, "a mapping")
            return None
        return {str(k): v for k, v in src.value.items()}

    def warn_unknown(self, what: str = "key") -> None:
        """Warn once per key nobody read."""
        for src in self.flat.values():
            self.ctx.warn(src.path, f"unknown {what} (ignored)")
        self.flat.clear()

    def leftovers(self) -> dict[str, Src]:
        """Take every key nobody read."""
        rest = dict(self.flat)
        self.flat.clear()
        return rest


def check_number(
    ctx: Ctx,
    src: Src,
    lo: float | None,
    hi: float | None,
    integer: bool,
    default: Any,
) -> Any:
    """Check one numeric value and its range; report and return `default`."""
    v = src.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        kind = "an integer" if integer else "a number"
        ctx.error(src.path, f"wrong type: expected {kind}, got {type_name(v)}")
        return default
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        ctx.error(src.path, "must be a finite number")
        return default
    if integer and not (isinstance(v, int) or float(v).is_integer()):
        ctx.error(src.path, f"wrong type: expected an integer, got {v!r}")
        return default
    if lo is not None and v < lo:
        ctx.error(src.path, f"out of range: must be >= {_fmt(lo)}")
        return default
    if hi is not None and v > hi:
        ctx.error(src.path, f"out of range: must be <= {_fmt(hi)}")
        return default
    return int(v) if integer else float(v)


def check_str_list(ctx: Ctx, src: Src, default: Any, single_ok: bool = False) -> Any:
    """Check a list of strings."""
    v = src.value
    if single_ok and isinstance(v, str):
        return (v,)
    if not isinstance(v, list | tuple):
        ctx.error(src.path, f"wrong type: expected a list of strings, got {type_name(v)}")
        return default
    out: list[str] = []
    ok = True
    for i, item in enumerate(v):
        if not isinstance(item, str):
            ctx.error(f"{src.path}[{i}]", f"wrong type: expected a string, got {type_name(item)}")
            ok = False
        elif item not in out:
            out.append(item)
    return tuple(out) if ok or out else default


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def close_matches(name: str, options: Iterable[str]) -> str:
    """`"; did you mean a, b?"` with up to three close matches, else ``""``."""
    close = difflib.get_close_matches(name, sorted(set(options)), n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def resolve_node(ctx: Ctx, name: Any, path: str) -> str | None:
    """Resolve a capability alias or path to any node (pools); report errors."""
    if not isinstance(name, str):
        ctx.error(path, f"wrong type: expected a capability name, got {type_name(name)}")
        return None
    try:
        full, deprecated = resolve_ex(name, ctx.custom_caps)
    except CapabilityNotFoundError as exc:
        ctx.error(path, exc.message)
        return None
    if deprecated:
        ctx.warn(path, f"capability path {name!r} is deprecated; use {full!r}")
    return full


def resolve_leaf_list(ctx: Ctx, src: Src) -> tuple[str, ...] | None:
    """Resolve a list of capability leaves (R-4: models register at leaves
    only; a non-leaf is an error listing the leaves under it)."""
    value = src.value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        ctx.error(src.path, f"wrong type: expected a list of capabilities, got {type_name(value)}")
        return None
    out: list[str] = []
    for i, item in enumerate(value):
        where = f"{src.path}[{i}]"
        full = resolve_node(ctx, item, where)
        if full is None:
            continue
        if not is_leaf(full, ctx.custom_caps):
            leaves = leaves_under(full, ctx.custom_caps)
            ctx.error(
                where,
                f"{full!r} is not a leaf; models register at leaves only. "
                f"Leaves under it: {', '.join(leaves)}",
            )
            continue
        if full not in out:
            out.append(full)
    return tuple(out)


__all__ = [
    "Ctx",
    "Reader",
    "Src",
    "check_number",
    "check_str_list",
    "close_matches",
    "flatten",
    "join",
    "resolve_leaf_list",
    "resolve_node",
    "type_name",
]
