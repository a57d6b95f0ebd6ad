"""Building blocks of the per-chunk stream path (issue 3).

Theory of operation: a streamed content event costs a JSON decode plus the
codec's walk over the decoded value. Both can be skipped for the events of
a stream that repeat one shape:

* `fast_loads(text)` decodes a string that starts with `{` with the
  decoder's scanner, skipping the whitespace scans and type dispatch of
  `json.loads`. When that leaves anything but JSON whitespace, or raises,
  it falls back to `json.loads(text)`, so the value returned or the
  exception raised is always exactly the one `json.loads` gives.
  `fast_loads_bytes(body)` is the same for a response body in bytes.
* `EMPTY_DELTA` is the shared empty `ChoiceDelta()` (finish chunks, empty
  provider deltas); sharing is safe because the object is immutable.
* `raw_new(cls)` gives the constructor of a chunk class without the
  `type.__call__` layer, for the one place that builds chunks per event.
* `Template` recognises, without decoding, the events of a stream that
  differ from one learned event only in "holes": one string (the text
  delta) and any number of non-negative integers (running token counts).
  The codec decodes an event normally, and when its `accept` function says
  the value has the plain shape it knows how to translate from the holes
  alone, the template learns it: it finds each hole's token by its key and
  value, then proves the split by decoding a probe, the event with the
  text replaced by `\\u0000` and integer i by 10**17 + 1 + i, and checking
  that exactly those values changed (the probe equals the learned value
  with the sentinels put at the hole paths). Sentinels differ from the
  learned values and a string sentinel decodes to one character, so the
  probe can only pass when each hole span is exactly the content of the
  string token, or exactly the integer token, at its path; number holes
  additionally need a neighbour on each side that cannot extend a number.
  A later event matches when it is the learned literal text with other
  hole contents: a string body up to the first unescaped quote (escapes
  allowed; it is decoded by the `json` module's own `scanstring`, and an
  invalid escape makes the event not match) and integers without sign,
  fraction, exponent or leading zero, at most 18 digits. Such an event
  decodes to the learned value with only the holes changed, so the codec's
  fast path translates it from `accept`'s result and the hole values. Any
  other event is decoded normally; learning is attempted a bounded number
  of times per stream, so a family whose events never repeat pays almost
  nothing. Matching is `startswith`/`endswith` for the literal head and
  tail plus one compiled regular expression for the part between them (a
  lone text hole without escapes needs only three string checks).
  `frame(prefix)` extends a learned template to whole SSE reads (the
  event's `data: ` or `event: NAME` framing before it, the blank line
  after); `match_read` then recognises a decoded read that is exactly one
  such event. It is refused when a literal holds CR or LF, so a read it
  matches holds exactly one event's line ends (`Attempt.direct_reads`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import islice, product
from json.scanner import make_scanner
from typing import Any, TypeVar, cast

from meshcore.wire.models_chat import ChoiceDelta

T = TypeVar("T")

_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(cast(Any, json.JSONDecoder()))
# The decoder's own string-token reader (C when available), as json.loads uses it.
scanstring: Callable[[str, int], tuple[str, int]] = (
    json.decoder.scanstring  # type: ignore[attr-defined]
)
_json_loads = json.loads


def fast_loads(text: str) -> Any:
    """`json.loads(text)` with a cheaper route for a JSON object (trailing
    JSON whitespace allowed, as a response body often ends with a newline)."""
    if text[:1] == "{":
        try:
            value, end = _scan(text, 0)
        except Exception:  # re-raised identically by json.loads below
            return _json_loads(text)
        if end == len(text) or not text[end:].strip(" \t\n\r"):
            return value
    return _json_loads(text)


def fast_loads_bytes(body: bytes) -> Any:
    """`json.loads(body)` for bytes: a body that starts with `{` and a
    non-NUL byte is UTF-8 to `json.detect_encoding`, so it is decoded the
    way `json.loads` decodes it and handed to `fast_loads`."""
    if body[:1] == b"{" and body[1:2] != b"\x00":
        try:
            text = body.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # raised identically by json.loads below
            return _json_loads(body)
        return fast_loads(text)
    return _json_loads(body)


EMPTY_DELTA: ChoiceDelta = ChoiceDelta()


def raw_new(cls: type[T]) -> Callable[..., T]:
    """A function `new` with `new(cls, *args) == cls(*args)`, for the chunk
    classes built once per streamed chunk. For a class `fast_frozen` served,
    it is the `__new__` that decorator installed: that builds the complete
    instance and leaves `__init__` as `object.__init__` (a no-op), so calling
    it directly only skips `type.__call__` (about 100 ns of a 380 ns build).
    Any other class gets a function that calls the class."""
    new = cls.__dict__.get("__new__")
    if callable(new) and cls.__init__ is object.__init__:
        return cast(Callable[..., T], new)
    return _call_class


def _call_class(cls: Callable[..., T], *args: Any) -> T:
    return cls(*args)

Path = tuple[str | int, ...]


def value_at(value: Any, path: Path) -> Any:
    """The value at `path` (dict keys and list indexes), or None if absent."""
    for key in path:
        if type(key) is int:
            if type(value) is not list or not -1 < key < len(value):
                return None
        elif type(value) is not dict or key not in value:
            return None
        value = value[key]
    return value


def replaced(value: Any, path: Path, new: Any) -> Any:
    """A copy of `value` with `new` at `path` (which must exist): fresh dicts
    and lists along the path, everything else shared."""
    if not path:
        return new
    top = value.copy()
    node = top
    for key in path[:-1]:
        child = node[key].copy()
        node[key] = child
        node = child
    node[path[-1]] = new
    return top


_WS = "[ \t\n\r]*"
# A JSON string body: runs of plain characters and two-character escapes,
# stopping at the first unescaped quote (possessive: no backtracking).
_STR_HOLE = r'[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+'
_INT_HOLE = "0|[1-9][0-9]{0,17}"
_INT_MAX = 10**18
_NUMBERISH = frozenset("0123456789+-.eE")
_MAX_PROBES = 8
_INT_SENTINELS = tuple(10**17 + 1 + i for i in range(64))
_STR_SENTINEL = "\x00"


class Template:
    """Per-stream recogniser of one event shape (see the module docstring).

    `text_path` locates the string hole, `int_paths` the integer holes;
    every path must end with an object key. `accept(value)` returns None
    for values the codec has no fast path for, else any value the codec
    wants back (`info`) when a learned event matches."""

    __slots__ = ("_accept", "_head", "_hlen", "_int_paths", "_learns", "_mid", "_names",
                 "_rhead", "_rhlen", "_rtail", "_rtlen", "_seps", "_single", "_tail",
                 "_text_path", "_tlen", "info", "read_lines")

    def __init__(self, text_path: Path, int_paths: tuple[Path, ...] = (),
                 accept: Callable[[dict[str, Any]], Any] | None = None, learns: int = 4) -> None:
        self._text_path = text_path
        self._int_paths = int_paths
        self._accept = accept
        self._learns = learns
        self._mid: Callable[[str, int, int], re.Match[str] | None] | None = None
        self._head = self._tail = ""
        self._hlen = self._tlen = 0
        self._names: tuple[str, ...] | None = None  # group names when not in hole order
        self._single = not int_paths
        self._seps: tuple[str, ...] = ()  # the literals between the holes
        self._rhead = self._rtail = ""  # `frame`: head and tail of a whole read
        self._rhlen = self._rtlen = 0
        self.info: Any = None
        self.read_lines = 0  # lines in a read `match_read` takes (0: not framed)

    @property
    def learning(self) -> bool:
        """True while learning attempts remain."""
        return self._learns > 0

    def match(self, text: str) -> tuple[str, ...] | None:
        """The hole values (decoded text first, then each integer's digits)
        when `text` is the learned event with other hole contents, else None."""
        if self._mid is None or not text.startswith(self._head) or not text.endswith(self._tail):
            return None
        start = self._hlen
        end = len(text) - self._tlen
        if self._single and end >= start:  # one plain text hole: no regex needed
            body = text[start:end]
            if '"' not in body and "\\" not in body and body.isprintable():
                return (body,)
        return self._holes(text, start, end)

    def frame(self, prefix: str) -> bool:
        """After learning: also recognise whole reads `prefix + event +
        "\\n\\n"` (`match_read`), where `prefix` is the SSE framing of the
        learned event (`data: `, or `event: NAME` and LF before it). Refused
        (False) unless the prefix is that framing and no literal of the
        template holds a CR or LF, so that such a read holds exactly the
        line ends of one `data:` event: hole contents cannot hold them."""
        literals = (self._head, *self._seps, self._tail)
        if self._mid is None or prefix not in ("data: ", f"event: {prefix[7:-7]}\ndata: ") or any(
            "\n" in s or "\r" in s for s in (prefix[:-7], *literals)
        ):
            return False
        self._rhead, self._rtail = prefix + self._head, self._tail + "\n\n"
        self._rhlen, self._rtlen = len(self._rhead), len(self._rtail)
        self.read_lines = prefix.count("\n") + 2
        return True

    def match_read(self, text: str) -> tuple[str, ...] | None:
        """`match` for a whole decoded read (see `frame`)."""
        if not self.read_lines or not text.startswith(self._rhead) or not text.endswith(
                self._rtail):
            return None
        start = self._rhlen
        end = len(text) - self._rtlen
        if self._single and end >= start:
            body = text[start:end]
            if '"' not in body and "\\" not in body and body.isprintable():
                return (body,)
        return self._holes(text, start, end)

    def _holes(self, text: str, start: int, end: int) -> tuple[str, ...] | None:
        """The hole values when `text[start:end]` is the learned middle."""
        assert self._mid is not None
        m = self._mid(text, start, end)
        if m is None:
            return None
        names = self._names
        groups: tuple[str, ...] = m.groups() if names is None else m.group(*names)
        if "\\" in groups[0]:
            try:
                value, stop = scanstring(text, m.start("h0"))
            except ValueError:  # an invalid escape: json.loads raises, let it
                return None
            if stop != m.end("h0") + 1:  # pragma: no cover - the pattern already ends there
                return None
            groups = (value, *groups[1:])
        return groups

    def learn(self, text: str, value: Any) -> bool:
        """Learn `text` (whose decoded value is `value`) as the template if
        `accept` takes it and the proof holds; True when learned."""
        if self._learns <= 0 or type(value) is not dict:
            return False
        info = self._accept(value) if self._accept is not None else True
        if info is None:
            return False
        s = value_at(value, self._text_path)
        ints = [value_at(value, p) for p in self._int_paths]
        if type(s) is not str or s == _STR_SENTINEL or any(
            type(v) is not int or not 0 <= v < _INT_MAX for v in ints
        ):
            return False
        self._learns -= 1
        sentinels: list[Any] = [_STR_SENTINEL, *_INT_SENTINELS[:len(ints)]]
        expected = replaced(value, self._text_path, _STR_SENTINEL)
        found = [_spans_of_str(text, self._text_path[-1], s)]
        for path, v, sentinel in zip(self._int_paths, ints, sentinels[1:], strict=True):
            if v == sentinel:
                return False
            found.append(_spans_of_int(text, path[-1], v))
            expected = replaced(expected, path, sentinel)
        if all(len(f) == 1 for f in found):  # the usual case: one candidate per hole
            candidates: Any = (tuple(f[0] for f in found),)
        else:
            candidates = islice(product(*found), _MAX_PROBES)
        for spans in candidates:
            order = sorted(range(len(spans)), key=lambda i: spans[i][0])
            if any(spans[order[k]][1] > spans[order[k + 1]][0] for k in range(len(order) - 1)):
                continue
            if self._prove(text, spans, order, sentinels, expected):
                self.info = info
                return True
        return False

    def _prove(self, text: str, spans: tuple[tuple[int, int], ...], order: list[int],
               sentinels: list[Any], expected: Any) -> bool:
        parts: list[str] = []
        literals: list[str] = []
        pos = 0
        for i in order:
            start, end = spans[i]
            literals.append(text[pos:start])
            parts += [text[pos:start], "\\u0000" if i == 0 else str(sentinels[i])]
            pos = end
        literals.append(text[pos:])
        parts.append(text[pos:])
        try:
            probe = fast_loads("".join(parts))
        except (ValueError, RecursionError):
            return False
        if type(probe) is not dict or probe != expected or any(
            type(value_at(probe, p)) is not type(sentinels[i])
            for i, p in enumerate((self._text_path, *self._int_paths))
        ):
            return False
        self._head, self._tail = literals[0], literals[-1]
        self._hlen, self._tlen = len(literals[0]), len(literals[-1])
        in_order = order == sorted(order)
        self._names = None if in_order else tuple(f"h{i}" for i in range(len(order)))
        self._seps = tuple(literals[1:-1])
        self._mid = _middle_matcher(tuple(order), self._seps)
        self.read_lines = 0  # a new shape: `frame` again to match whole reads
        return True


_MATCHERS: dict[tuple[tuple[int, ...], tuple[str, ...]], Callable[..., Any]] = {}


def _middle_matcher(order: tuple[int, ...], seps: tuple[str, ...]) -> Callable[..., Any]:
    """`fullmatch` of the holes (named h0.., in text order) joined by `seps`;
    compiled once per shape (each stream of one provider learns the same)."""
    matcher = _MATCHERS.get((order, seps))
    if matcher is None:
        if len(_MATCHERS) > 64:
            _MATCHERS.clear()
        pattern = "".join(
            f"(?P<h{i}>{_STR_HOLE if i == 0 else _INT_HOLE})" + (re.escape(seps[k])
                                                                 if k < len(seps) else "")
            for k, i in enumerate(order)
        )
        matcher = re.compile(pattern, re.DOTALL).fullmatch
        _MATCHERS[(order, seps)] = matcher
    return matcher


_KEY_FINDERS: dict[str, Callable[[str], Any]] = {}


def _key_at(text: str, key: str | int) -> list[int]:
    """Positions just after `"key":` (JSON whitespace allowed) in `text`."""
    if type(key) is not str:
        return []
    finder = _KEY_FINDERS.get(key)
    if finder is None:
        if len(_KEY_FINDERS) > 64:  # keys come from codec constants; stay bounded anyway
            _KEY_FINDERS.clear()
        finder = re.compile(re.escape(json.dumps(key)) + _WS + ":" + _WS).finditer
        _KEY_FINDERS[key] = finder
    return [m.end() for m in finder(text)]


def _spans_of_str(text: str, key: str | int, s: str) -> list[tuple[int, int]]:
    """Spans of the bodies of string tokens after `"key":` that decode to `s`."""
    out = []
    for at in _key_at(text, key):
        if text[at:at + 1] != '"':
            continue
        try:
            value, end = scanstring(text, at + 1)
        except ValueError:
            continue
        if value == s:
            out.append((at + 1, end - 1))
    return out


def _spans_of_int(text: str, key: str | int, v: int) -> list[tuple[int, int]]:
    """Spans of the integer tokens `v` after `"key":` whose neighbours cannot
    extend a number."""
    digits = str(v)
    out = []
    for at in _key_at(text, key):
        end = at + len(digits)
        if (text.startswith(digits, at) and text[at - 1] not in _NUMBERISH
                and text[end:end + 1] not in _NUMBERISH):
            out.append((at, end))
    return out
