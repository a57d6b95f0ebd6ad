"""Building blocks of the per-chunk stream path (issues 3 and 4).

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
* Free holes (`free_paths`, issue 4): fields the codec never reads, such
  as a provider's per-stream `id` and `created`, are holes too, with
  their own sentinels in the proof (string i: the character `chr(i)`,
  integers as above), but their values are not reported and a free string
  hole only takes a string body without escapes (always valid JSON; an
  event whose free string has escapes is decoded normally). `accept` must
  not read them either, so a hit still translates from `info` and the
  reported holes alone. When the text hole comes last and every other hole
  is free, the template keeps the text before the text hole of its last
  expression hit (`_seen`, per template: the free values of one stream's
  events repeat); a later event that starts with exactly that text, ends
  with the tail and has a plain text in between is the same shape with
  the same free contents, so the expression would match it: it hits with
  three string checks. Learned shapes are the same for every stream of a
  model, so a template made with a `share` key starts from the shape the
  last template of that key learned (or framed): a shape is one immutable
  tuple, published by one dict assignment (`_SHAPES`, bounded), and is
  valid for any text whatever stream it was learned from, because the
  proof is about the text alone. A stream then matches its events (and,
  through `Attempt.reuse_direct`, whole reads) from the first one on,
  without paying for learning; an event of another shape is learned anew
  and published in turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable
from itertools import islice, product
from json.scanner import make_scanner
from typing import Any, TypeVar, cast

from meshcore._mypyc import mypyc_attr
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
# A free string hole: a string body without escapes (always valid JSON; an
# id with escapes just does not match, and the event takes the general path).
_FREE_STR_HOLE = r'[^"\\\x00-\x1f]*+'
_INT_MAX = 10**18
_NUMBERISH = frozenset("0123456789+-.eE")
_MAX_PROBES = 8
_INT_SENTINELS = tuple(10**17 + 1 + i for i in range(64))
_STR_SENTINEL = "\x00"
# sentinels of the free string holes, by hole number (the text hole is 0)
_FREE_STR_SENTINELS = tuple(chr(i) for i in range(16))


@mypyc_attr(allow_interpreted_subclasses=True)  # subclassed to instrument it (tests)
class Template:
    """Per-stream recogniser of one event shape (see the module docstring).

    `text_path` locates the string hole, `int_paths` the integer holes;
    every path must end with an object key. `accept(value)` returns None
    for values the codec has no fast path for, else any value the codec
    wants back (`info`) when a learned event matches. `free_paths` name
    fields whose value (a string or a non-negative integer, where present)
    may differ from event to event and that neither `accept` nor the
    codec's translation of a hit reads (a provider's per-stream `id` and
    `created`): each becomes a hole whose value is not reported. `share`
    is a key under which learned shapes are kept for later templates (the
    next stream of the same model starts from the shape this one learned;
    see the module docstring)."""

    __slots__ = ("_accept", "_at", "_free_paths", "_frozen", "_head", "_hlen", "_int_paths", "_last",
                 "_learns", "_mid", "_names", "_rhead", "_rhlen", "_rseen", "_rtail", "_rtlen",
                 "_seen", "_seps", "_share", "_single", "_tail", "_text_path", "_tlen", "info",
                 "read_lines")
    # the shape (see `_set_shape`)
    _mid: Callable[[str, int, int], re.Match[str] | None] | None
    _head: str
    _tail: str
    _hlen: int
    _tlen: int
    _names: tuple[str, ...] | None
    _single: bool
    _last: bool
    _seps: tuple[str, ...]
    _rhead: str
    _rtail: str
    _rhlen: int
    _rtlen: int
    info: Any
    read_lines: int

    def __init__(self, text_path: Path, int_paths: tuple[Path, ...] = (),
                 accept: Callable[[dict[str, Any]], Any] | None = None, learns: int = 4,
                 free_paths: tuple[Path, ...] = (), share: Hashable | None = None) -> None:
        self._text_path = text_path
        self._int_paths = int_paths
        self._free_paths = free_paths
        self._accept = accept
        self._learns = learns
        self._share = share
        self._at = 0
        self._frozen = False  # see `freeze`
        if share is not None and learns > 0:
            shape = _SHAPES.get(share)
            if shape is not None and shape[0] == (text_path, int_paths, free_paths, accept):
                self._set_shape(shape[1])
                return
        self._set_shape(_NO_SHAPE)

    def _shape(self) -> tuple[Any, ...]:
        return (self._mid, self._head, self._tail, self._hlen, self._tlen, self._names,
                self._single, self._last, self._seps, self._rhead, self._rtail, self._rhlen, self._rtlen,
                self.info, self.read_lines)

    def _set_shape(self, shape: tuple[Any, ...]) -> None:
        """Take on `shape` (`_shape()` of some template, or `_NO_SHAPE`):
        `_mid` the expression of the middle (None: nothing learned),
        `_head`/`_tail` the literals around it, `_names` the group names
        when the holes are not in path order, `_single` for a lone text
        hole, `_last` when the text hole comes last and every other hole is
        free (then `_seen`/`_rseen` keep the text before the text hole of
        the last event / read the expression matched), `_seps` the literals
        between the holes, `_rhead`/`_rtail` those of a framed read
        (`frame`), `info` what `accept` gave, `read_lines` the lines of a
        framed read (0: not framed)."""
        (self._mid, self._head, self._tail, self._hlen, self._tlen, self._names, self._single,
         self._last, self._seps, self._rhead, self._rtail, self._rhlen, self._rtlen, self.info,
         self.read_lines) = shape
        self._seen = self._rseen = ""

    def _publish(self) -> None:
        """Keep the current shape for later templates of the same `share` key:
        one immutable tuple, stored by one dict assignment (so a template
        of another thread reads either the old shape or the new one whole)."""
        if self._share is None:
            return
        if len(_SHAPES) >= _MAX_SHAPES and self._share not in _SHAPES:
            _SHAPES.clear()
        _SHAPES[self._share] = ((self._text_path, self._int_paths, self._free_paths,
                                 self._accept), self._shape())

    def freeze(self) -> Template:
        """This template, made safe to share between streams and threads: it
        learns no more and keeps no per-stream memory (`_seen`), so matching
        only reads its shape (`_at` is written but read by nobody then)."""
        self._learns = 0
        self._frozen = True
        self._seen = self._rseen = ""
        return self

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
        seen = self._seen
        if seen and text.startswith(seen) and len(seen) <= end:  # as the last hit, up to the text
            body = text[len(seen):end]
            if '"' not in body and "\\" not in body and body.isprintable():
                return (body,)
        hit = self._holes(text, start, end)
        if hit is not None and self._last and not self._frozen:
            self._seen = text[:self._at]
        return hit

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
        self._rseen = ""
        self._publish()
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
        seen = self._rseen
        if seen and text.startswith(seen) and len(seen) <= end:
            body = text[len(seen):end]
            if '"' not in body and "\\" not in body and body.isprintable():
                return (body,)
        hit = self._holes(text, start, end)
        if hit is not None and self._last and not self._frozen:
            self._rseen = text[:self._at]
        return hit

    def _holes(self, text: str, start: int, end: int) -> tuple[str, ...] | None:
        """The hole values when `text[start:end]` is the learned middle (and
        in `_at` where the text hole starts)."""
        assert self._mid is not None
        m = self._mid(text, start, end)
        if m is None:
            return None
        self._at = m.start("h0")
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
        # holes: (kind, path, learned value, sentinel); the text hole first,
        # then the integer holes, then the free ones present in this event
        holes: list[tuple[str, Path, Any, Any]] = [("s", self._text_path, s, _STR_SENTINEL)]
        holes += [("i", p, v, _INT_SENTINELS[k])
                  for k, (p, v) in enumerate(zip(self._int_paths, ints, strict=True))]
        for k, p in enumerate(self._free_paths):
            v = value_at(value, p)
            if type(v) is str and len(holes) < len(_FREE_STR_SENTINELS):
                holes.append(("fs", p, v, _FREE_STR_SENTINELS[len(holes)]))
            elif type(v) is int and 0 <= v < _INT_MAX:
                holes.append(("fi", p, v, _INT_SENTINELS[len(self._int_paths) + k]))
        expected = value
        found = []
        for kind, path, v, sentinel in holes:
            if v == sentinel:
                return False
            spans = _spans_of_int if kind in ("i", "fi") else _spans_of_str
            found.append(spans(text, path[-1], v))
            expected = replaced(expected, path, sentinel)
        if all(len(f) == 1 for f in found):  # the usual case: one candidate per hole
            candidates: Any = (tuple(f[0] for f in found),)
        else:
            candidates = islice(product(*found), _MAX_PROBES)
        for spans in candidates:
            order = sorted(range(len(spans)), key=lambda i: spans[i][0])
            if any(spans[order[k]][1] > spans[order[k + 1]][0] for k in range(len(order) - 1)):
                continue
            if self._prove(text, spans, order, holes, expected):
                self.info = info
                self._publish()
                return True
        return False

    def _prove(self, text: str, spans: tuple[tuple[int, int], ...], order: list[int],
               holes: list[tuple[str, Path, Any, Any]], expected: Any) -> bool:
        parts: list[str] = []
        literals: list[str] = []
        pos = 0
        for i in order:
            start, end = spans[i]
            literals.append(text[pos:start])
            sentinel = holes[i][3]
            token = f"\\u{ord(sentinel):04x}" if type(sentinel) is str else str(sentinel)
            parts += [text[pos:start], token]
            pos = end
        literals.append(text[pos:])
        parts.append(text[pos:])
        try:
            probe = fast_loads("".join(parts))
        except (ValueError, RecursionError):
            return False
        if type(probe) is not dict or probe != expected or any(
            type(value_at(probe, path)) is not type(sentinel) for _, path, _, sentinel in holes
        ):
            return False
        self._head, self._tail = literals[0], literals[-1]
        self._hlen, self._tlen = len(literals[0]), len(literals[-1])
        reported = [i for i in order if holes[i][0] in ("s", "i")]
        self._names = None if reported == sorted(reported) else tuple(
            f"h{i}" for i in range(len(reported)))
        self._seps = tuple(literals[1:-1])
        self._single = len(holes) == 1
        kinds = [holes[i][0] for i in order]
        self._last = kinds[-1] == "s" and all(k in ("fs", "fi") for k in kinds[:-1])
        self._seen = self._rseen = ""
        self._mid = _middle_matcher(tuple(holes[i][0] if holes[i][0] in ("fs", "fi") else i
                                          for i in order), self._seps)
        self.read_lines = 0  # a new shape: `frame` again to match whole reads
        return True


# The shape of a template that has learned nothing.
_NO_SHAPE: tuple[Any, ...] = (None, "", "", 0, 0, None, True, True, (), "", "", 0, 0, None, 0)

NO_TEMPLATE = Template((), learns=0)
"""A template that never learns nor matches (the codecs' `_template` of a
non-streamed attempt, which has no events): shared, since nothing changes it."""


# Shapes learned under a `share` key: key -> (the template's paths and
# accept, its shape); bounded (keys are per model of a provider).
_SHAPES: dict[Hashable, tuple[Any, tuple[Any, ...]]] = {}
_MAX_SHAPES = 256


# Frozen templates shared whole (`share_frozen`): key -> one slot per kind.
_FROZEN: dict[Hashable, tuple[Template | None, ...]] = {}


def frozen_set(key: Hashable) -> tuple[Template | None, ...] | None:
    """The frozen templates shared under `key` (None: none yet)."""
    return _FROZEN.get(key)


def share_frozen(key: Hashable, slot: int, size: int, template: Template) -> None:
    """Share `template`, learned and then frozen, in slot `slot` of the set
    of `size` under `key`: the set is one tuple, replaced by one dict
    assignment (a reader sees the old set or the new one; two writers at
    once may lose one template, which is then learned again)."""
    if len(_FROZEN) >= _MAX_SHAPES and key not in _FROZEN:
        _FROZEN.clear()
    old = _FROZEN.get(key) or (None,) * size
    _FROZEN[key] = (*old[:slot], template.freeze(), *old[slot + 1:])


def forget_shapes() -> None:
    """Drop every shared shape and frozen template (tests; a new stream then
    learns again)."""
    _SHAPES.clear()
    _FROZEN.clear()


_MATCHERS: dict[tuple[tuple[int | str, ...], tuple[str, ...]], Callable[..., Any]] = {}


def _middle_matcher(order: tuple[int | str, ...], seps: tuple[str, ...]) -> Callable[..., Any]:
    """`fullmatch` of the holes in text order joined by `seps`: the text
    and integer holes named h0.. (the number of the hole), each free hole
    unnamed (`fs`: a string body without escapes, `fi`: an integer);
    compiled once per shape (each stream of one provider learns the same)."""
    matcher = _MATCHERS.get((order, seps))
    if matcher is None:
        if len(_MATCHERS) > 64:
            _MATCHERS.clear()
        pattern = "".join(
            _hole_pattern(i) + (re.escape(seps[k]) if k < len(seps) else "")
            for k, i in enumerate(order)
        )
        matcher = re.compile(pattern, re.DOTALL).fullmatch
        _MATCHERS[(order, seps)] = matcher
    return matcher


def _hole_pattern(hole: int | str) -> str:
    if hole == "fs":
        return f"(?:{_FREE_STR_HOLE})"
    if hole == "fi":
        return f"(?:{_INT_HOLE})"
    return f"(?P<h{hole}>{_STR_HOLE if hole == 0 else _INT_HOLE})"


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
