"""`modelmesh.dotenv.v1`: secrets from a `.env` file (SPEC R-79).

Syntax: `KEY=value` lines, optional `export ` prefix, `#` comments (whole
lines, or after whitespace in an unquoted value), single quotes (literal),
double quotes (escapes `\\n`, `\\t`, `\\r`, `\\"`, `\\\\`); quoted values may
span several lines. With `override: false` (default) a variable set in the
environment wins over the file. Management rewrites the file in place: the
entry's own lines are replaced or removed, every other line is kept as is.
"""

from __future__ import annotations

import builtins
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from adapters.secrets.base import ManagedSecretStore, atomic_write

__all__ = ["DotenvEntry", "DotenvSecretStore", "format_entry", "parse_dotenv"]

_KEY = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+,=\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True)
class DotenvEntry:
    """One assignment: its key, value and the line span [first, last] it occupies."""

    key: str
    value: str
    first: int
    last: int


def _double(text: str, lines: list[str], i: int) -> tuple[str, int] | None:
    """Parse a double-quoted value starting after the quote; may continue on later lines."""
    out: list[str] = []
    buf = text
    while True:
        j = 0
        while j < len(buf):
            c = buf[j]
            if c == "\\" and j + 1 < len(buf):
                out.append(_ESCAPES.get(buf[j + 1], "\\" + buf[j + 1]))
                j += 2
                continue
            if c == '"':
                return "".join(out), i
            out.append(c)
            j += 1
        i += 1
        if i >= len(lines):
            return None
        out.append("\n")
        buf = lines[i]


def _single(text: str, lines: list[str], i: int) -> tuple[str, int] | None:
    out: list[str] = []
    buf = text
    while True:
        end = buf.find("'")
        if end >= 0:
            out.append(buf[:end])
            return "".join(out), i
        out.append(buf)
        i += 1
        if i >= len(lines):
            return None
        out.append("\n")
        buf = lines[i]


def _lines(text: str) -> list[str]:
    """Split on newlines only (`str.splitlines` would also split on \\f, \\x1c ...)."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def parse_dotenv(text: str) -> list[DotenvEntry]:
    """Every assignment of a `.env` text, in order (a later key wins on lookup)."""
    lines = _lines(text)
    out: list[DotenvEntry] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        m = _KEY.match(line)
        if not stripped or stripped.startswith("#") or m is None:
            i += 1
            continue
        rest = line[m.end():]
        first = i
        parsed: tuple[str, int] | None
        if rest.startswith('"'):
            parsed = _double(rest[1:], lines, i)
        elif rest.startswith("'"):
            parsed = _single(rest[1:], lines, i)
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
            parsed = (value, i)
        if parsed is None:  # unterminated quote: take the rest of the line literally
            parsed = (rest[1:].rstrip(), i)
        out.append(DotenvEntry(m.group(1), parsed[0], first, parsed[1]))
        i = parsed[1] + 1
    return out


def format_entry(key: str, value: str) -> str:
    """`KEY=value`, double-quoted with escapes unless the value is plain."""
    if _PLAIN.fullmatch(value):
        return f"{key}={value}"
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'{key}="{escaped}"'


class DotenvSecretStore(ManagedSecretStore):
    """A `.env` file store; `environ` replaces `os.environ` (tests)."""

    def __init__(self, path: str | os.PathLike[str] = "./.env", override: bool = False,
                 environ: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.override = override
        self._environ = environ
        self._lock = threading.Lock()

    def _text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def _values(self) -> dict[str, str]:
        return {e.key: e.value for e in parse_dotenv(self._text())}

    def get(self, name: str) -> str:
        if not self.override:
            env = os.environ if self._environ is None else self._environ
            if name in env:
                return env[name]
        return self._values()[name]

    def list(self) -> list[str]:
        return sorted(self._values())

    def _rewrite(self, name: str, replacement: builtins.list[str] | None) -> bool:
        text = self._text()
        lines = _lines(text)
        spans = [e for e in parse_dotenv(text) if e.key == name]
        if not spans and replacement is None:
            return False
        drop: set[int] = set()
        for e in spans:
            drop.update(range(e.first, e.last + 1))
        out: builtins.list[str] = []
        placed = False
        for idx, line in enumerate(lines):
            if idx in drop:
                if replacement is not None and not placed:
                    out.extend(replacement)
                    placed = True
                continue
            out.append(line)
        if replacement is not None and not placed:
            out.extend(replacement)
        atomic_write(self.path, ("\n".join(out) + "\n" if out else "").encode("utf-8"))
        return bool(spans)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._rewrite(name, [format_entry(name, value)])

    def delete(self, name: str) -> None:
        with self._lock:
            if not self._rewrite(name, None):
                raise KeyError(name)
