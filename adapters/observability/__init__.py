"""Observability connectors (SPEC R-88 .. R-98, API.md section 6).

Sinks receive the records the core emits (`RoutingEvent`, `RequestLogEntry`,
`TraceEntry`, statistics flushes) as plain dicts, filtered, shaped and redacted
per their settings; `Observability` delivers them without ever failing or
delaying a request. `metrics_text(client)` renders a client's Prometheus
metrics for the proxy's `/metrics`.
"""

from __future__ import annotations

from typing import Any

from adapters.observability.base import (
    EventSink,
    LoggingSink,
    Sink,
    SinkSettings,
    StatisticsSink,
    TracingSink,
)
from adapters.observability.dispatch import BoundSink, Observability
from adapters.observability.factory import build_observability, default_console, make_sink
from adapters.observability.prometheus import CONTENT_TYPE, PrometheusSink
from adapters.observability.redact import REDACTED, Redactor
from adapters.observability.sinks import (
    CallbackSink,
    ConsoleSink,
    FileSink,
    JsonLogSink,
    NullSink,
)
from adapters.observability.webhook import WebhookSink

__all__ = [
    "CONTENT_TYPE",
    "REDACTED",
    "BoundSink",
    "CallbackSink",
    "ConsoleSink",
    "EventSink",
    "FileSink",
    "JsonLogSink",
    "LoggingSink",
    "NullSink",
    "Observability",
    "PrometheusSink",
    "Redactor",
    "Sink",
    "SinkSettings",
    "StatisticsSink",
    "TracingSink",
    "WebhookSink",
    "build_observability",
    "default_console",
    "make_sink",
    "metrics_text",
]


def metrics_text(client: Any) -> bytes | None:
    """Prometheus exposition text of a client's prometheus sink (None without one)."""
    engine = getattr(client, "_engine", None)
    obs = getattr(getattr(engine, "observer", None), "observability", None)
    if obs is None:
        return None
    out: bytes | None = obs.metrics_text()
    return out
