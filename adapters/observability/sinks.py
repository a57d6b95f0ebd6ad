"""The simple pre-shipped sinks (SPEC R-96): null, console, file, json-log, callback.

Every sink gets records that are already filtered, shaped and redacted. The
file sinks write JSON Lines (one object per line, `type` first); `FileSink`
rotates by size: when a line would take the file past `max_file_size_bytes`
(0 = never), `path` becomes `path.1`, `path.1` becomes `path.2` and so on,
keeping at most `max_files` files in all.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, cast

from adapters.observability.base import Sink

__all__ = ["CallbackSink", "ConsoleSink", "FileSink", "JsonLogSink", "NullSink", "to_line"]

_COLORS = {"debug": "\033[2m", "info": "\033[36m", "warning": "\033[33m",
           "error": "\033[31m", "critical": "\033[1;31m"}
_RESET = "\033[0m"


def to_line(record: dict[str, Any]) -> str:
    """One JSON line (no trailing newline)."""
    return json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))


class NullSink(Sink):
    """`modelmesh.null.v1`: discards everything."""

    inline = True


class ConsoleSink(Sink):
    """`modelmesh.console.v1`: human-readable lines on stderr or stdout."""

    def __init__(self, stream: str | TextIO = "stderr", use_color: bool | None = None,
                 show_timestamp: bool = True, prefix: str = "[ModelMesh]") -> None:
        self._stream = stream
        self.use_color = use_color
        self.show_timestamp = show_timestamp
        self.prefix = prefix

    @property
    def stream(self) -> TextIO:
        """The output stream (looked up at each write, so captured streams work)."""
        if isinstance(self._stream, str):
            return sys.stdout if self._stream == "stdout" else sys.stderr
        return self._stream

    def format(self, record: dict[str, Any]) -> str:
        """The text line of one record."""
        kind = record.get("type")
        if kind == "event":
            ids = " ".join(f"{k}={record[k]}" for k in ("pool_id", "model_id", "provider_id")
                           if record.get(k))
            meta = " ".join(f"{k}={v}" for k, v in (record.get("metadata") or {}).items())
            body, level = f"EVENT {record.get('event_type')} {ids} {meta}".rstrip(), "info"
        elif kind == "log":
            body = (f"REQUEST {record.get('request_id')} pool={record.get('pool')} "
                    f"model={record.get('model_id')} outcome={record.get('outcome')} "
                    f"attempts={record.get('attempts')} "
                    f"latency_ms={float(record.get('latency_ms') or 0):.1f} "
                    f"tokens={record.get('tokens_in')}/{record.get('tokens_out')}")
            err = record.get("error")
            if err:
                body += f" error={err}"
            for key in ("request_text", "response_text", "request_body", "response_body"):
                if key in record:
                    body += f" {key}={record[key]!r}"
            level = "info" if record.get("outcome") == "success" else "warning"
        elif kind == "stats":
            scopes = record.get("scopes") or {}
            parts = [f"{sid}: {v.get('requests_total', 0)} req, "
                     f"{100 * float(v.get('error_rate', 0)):.0f}% err" for sid, v in scopes.items()]
            body, level = "STATS " + ("; ".join(parts) or "(no data)"), "info"
        else:
            level = str(record.get("severity", "info"))
            body = f"{level.upper()} {record.get('component')}: {record.get('message')}"
            if record.get("error"):
                body += f" ({record['error']})"
        line = body
        if self.show_timestamp and record.get("timestamp"):
            line = f"{record['timestamp']} {line}"
        if self.prefix:
            line = f"{self.prefix} {line}"
        stream = self.stream
        color = self.use_color
        if color is None:
            isatty = getattr(stream, "isatty", None)
            color = bool(isatty()) if callable(isatty) else False
        if color:
            line = f"{_COLORS.get(level, '')}{line}{_RESET}"
        return line

    def write(self, record: dict[str, Any]) -> None:
        stream = self.stream
        stream.write(self.format(record) + "\n")
        stream.flush()


class FileSink(Sink):
    """`modelmesh.file.v1`: JSON Lines with optional size rotation."""

    def __init__(self, path: str | os.PathLike[str] = "modelmesh.log", append: bool = True,
                 flush_each_line: bool = True, max_file_size_bytes: int = 0,
                 max_files: int = 5) -> None:
        self.path = Path(path)
        self.flush_each_line = flush_each_line
        self.max_bytes = int(max_file_size_bytes)
        self.max_files = max(1, int(max_files))
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        self._mode = "a" if append else "w"

    def _open(self) -> TextIO:
        if self._fh is None:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = cast(TextIO, open(self.path, self._mode, encoding="utf-8"))  # noqa: SIM115
            self._fh = fh
            self._mode = "a"
            return fh
        return self._fh

    def _rotate(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        last = self.path.with_name(f"{self.path.name}.{self.max_files - 1}")
        if self.max_files == 1:
            self.path.unlink(missing_ok=True)
            return
        last.unlink(missing_ok=True)
        for i in range(self.max_files - 2, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                src.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.path.exists():
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def write(self, record: dict[str, Any]) -> None:
        line = to_line(record) + "\n"
        with self._lock:
            fh = self._open()
            if self.max_bytes > 0:
                size = fh.tell()
                if size > 0 and size + len(line.encode("utf-8")) > self.max_bytes:
                    self._rotate()
                    fh = self._open()
            fh.write(line)
            if self.flush_each_line:
                fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class JsonLogSink(FileSink):
    """`modelmesh.json-log.v1`: JSON Lines, never rotated."""

    def __init__(self, path: str | os.PathLike[str] = "modelmesh-events.jsonl",
                 append: bool = True) -> None:
        super().__init__(path, append=append, flush_each_line=True)


class CallbackSink(Sink):
    """`modelmesh.callback.v1`: calls `callback(record)` for every record."""

    def __init__(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(callback):
            raise TypeError("modelmesh.callback.v1 needs a callable `callback`")
        self.callback = callback

    def write(self, record: dict[str, Any]) -> None:
        self.callback(record)

