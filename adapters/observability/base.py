"""Sink interfaces and the common sink parameters (SPEC R-88, R-89, R-92).

A sink implements any of the four interfaces of R-88: Events `emit(event)`,
Logging `log(entry)`, Statistics `flush(stats)` and Tracing `trace(entry)`.
Each receives one record as a plain dict (the `to_dict()` shape of
`meshcore.records`, with `type` = `event`, `log`, `stats` or `trace`), already
filtered, shaped and redacted per the sink's `SinkSettings`. `Sink` is a
convenient base class whose four methods all call `write(record)`; a custom
sink may subclass it or be any object with some of the four methods.

`SinkSettings.shape(record)` applies the common parameters: the event filter
and `include_metadata`, the trace `min_severity`, the statistics `scopes`, and
for request logs the level (`summary` keeps the first 256 characters of the
last user message and of the response text, `full` the complete bodies cut at
`max_payload_size` and marked `"truncated": true`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from meshcore.records import SEVERITIES

__all__ = [
    "SUMMARY_CHARS",
    "EventSink",
    "LoggingSink",
    "Sink",
    "SinkSettings",
    "StatisticsSink",
    "TracingSink",
]

SUMMARY_CHARS = 256
METHOD_OF = {"event": "emit", "log": "log", "stats": "flush", "trace": "trace"}
STREAM_OF = {"event": "events", "log": "logs", "stats": "stats", "trace": "traces"}
KEEP_WITHOUT_METADATA = ("reason", "trigger")


@runtime_checkable
class EventSink(Protocol):
    """Events interface (R-88)."""

    def emit(self, event: dict[str, Any]) -> None: ...


@runtime_checkable
class LoggingSink(Protocol):
    """Logging interface (R-88)."""

    def log(self, entry: dict[str, Any]) -> None: ...


@runtime_checkable
class StatisticsSink(Protocol):
    """Statistics interface (R-88): one aggregate per scope ID under `scopes`."""

    def flush(self, stats: dict[str, Any]) -> None: ...


@runtime_checkable
class TracingSink(Protocol):
    """Tracing interface (R-88)."""

    def trace(self, entry: dict[str, Any]) -> None: ...


class Sink:
    """Base class of the pre-shipped sinks: every interface calls `write()`."""

    #: True when the sink is cheap and never blocks, so it runs on the caller's
    #: thread; other sinks run on the sink-delivery worker (R-98).
    inline = False

    def write(self, record: dict[str, Any]) -> None:
        """Output one record (the default does nothing)."""

    def emit(self, event: dict[str, Any]) -> None:
        """Events interface."""
        self.write(event)

    def log(self, entry: dict[str, Any]) -> None:
        """Logging interface."""
        self.write(entry)

    def flush(self, stats: dict[str, Any]) -> None:
        """Statistics interface."""
        self.write(stats)

    def trace(self, entry: dict[str, Any]) -> None:
        """Tracing interface."""
        self.write(entry)

    def close(self) -> None:
        """Release files, threads or listeners."""


def _cut(text: str, limit: int) -> tuple[str, bool]:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    return data[:limit].decode("utf-8", "ignore"), True


@dataclass(frozen=True)
class SinkSettings:
    """The common parameters of one sink (R-89), from its normalised config."""

    streams: tuple[str, ...] = ("events", "logs", "stats", "traces")
    event_filter: tuple[str, ...] | None = None
    include_metadata: bool = True
    level: str = "metadata"
    redact_secrets: bool = True
    max_payload_size: int = 65536
    min_severity: str = "info"
    scopes: tuple[str, ...] = ("model", "provider", "pool")
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, sink: Mapping[str, Any]) -> SinkSettings:
        """Settings from one normalised sink dict of `observability`."""
        ev = sink.get("events") or {}
        lg = sink.get("logging") or {}
        tr = sink.get("tracing") or {}
        st = sink.get("statistics") or {}
        filt = ev.get("filter")
        return cls(
            streams=tuple(sink.get("streams") or ("events", "logs", "stats", "traces")),
            event_filter=None if filt is None else tuple(filt),
            include_metadata=bool(ev.get("include_metadata", True)),
            level=str(lg.get("level", "metadata")),
            redact_secrets=bool(lg.get("redact_secrets", True)),
            max_payload_size=int(lg.get("max_payload_size", 65536)),
            min_severity=str(tr.get("min_severity", "info")),
            scopes=tuple(st.get("scopes") or ("model", "provider", "pool")),
        )

    def wants(self, record: Mapping[str, Any]) -> bool:
        """Whether this sink receives `record` at all."""
        kind = str(record.get("type"))
        if STREAM_OF.get(kind) not in self.streams:
            return False
        if kind == "event" and self.event_filter is not None:
            return record.get("event_type") in self.event_filter
        if kind == "trace":
            sev = str(record.get("severity", "info"))
            rank = SEVERITIES.index(sev) if sev in SEVERITIES else 1
            return rank >= SEVERITIES.index(self.min_severity)
        return True

    def shape(self, record: dict[str, Any], texts: Mapping[str, Any] | None) -> dict[str, Any]:
        """The record as this sink receives it (before redaction)."""
        kind = record.get("type")
        if kind == "event" and not self.include_metadata:
            meta = record.get("metadata") or {}
            return {**record, "metadata": {k: meta[k] for k in KEEP_WITHOUT_METADATA
                                           if k in meta}}
        if kind == "stats":
            scopes = record.get("scopes") or {}
            kept = {k: v for k, v in scopes.items() if k.split(".", 1)[0] in self.scopes}
            return {**record, "scopes": kept}
        if kind == "log" and self.level != "metadata" and texts:
            return self._with_texts(record, texts)
        return record

    def _with_texts(self, record: dict[str, Any], texts: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(record)
        if self.level == "summary":
            for key in ("request_text", "response_text"):
                value = texts.get(key)
                if isinstance(value, str):
                    out[key] = value[:SUMMARY_CHARS]
            return out
        truncated = False
        for key in ("request_body", "response_body"):
            value = texts.get(key)
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(
                value, ensure_ascii=False, default=str)
            cut, was_cut = _cut(text, self.max_payload_size)
            truncated = truncated or was_cut
            out[key] = cut if (was_cut or isinstance(value, str)) else value
        if truncated:
            out["truncated"] = True
        return out
