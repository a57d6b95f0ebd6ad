"""R-90: the proxy's default console sink is part of the configuration.

Without an observability section `modelmesh serve` logs to the console at
`--log-level`; the sink goes into the configuration the core sees, so the
core builds exactly the traces that sink keeps (R-89) and a recorded log
replays with the same sinks."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.proxy.server import ConfigSource
from meshcore.actions import Emit, SendAttempt
from meshcore.events import RequestSubmitted
from meshcore.records import TraceEntry
from meshcore.router.router import Router
from meshcore.testing import simple_config
from meshcore.types import Instant, RequestFeatures


def _write(tmp_path: Path, data: dict[str, object]) -> str:
    path = tmp_path / "mesh.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _severities(source: ConfigSource) -> set[str]:
    built = source.build()
    r = Router(built.config, seed=1)
    acts = r.handle(RequestSubmitted("r1", "chat", RequestFeatures()), Instant(1.0, 1.79e9))
    assert any(isinstance(a, SendAttempt) for a in acts)
    return {a.record.severity for a in acts
            if isinstance(a, Emit) and isinstance(a.record, TraceEntry)}


def test_r90_default_console_sink_carries_the_log_level(tmp_path: Path) -> None:
    path = _write(tmp_path, simple_config())
    built = ConfigSource(path, log_level="debug").build()
    sinks = built.config.sections["observability"]
    assert [s["connector"] for s in sinks] == ["modelmesh.console.v1"]
    assert sinks[0]["tracing"]["min_severity"] == "debug"
    assert "debug" in _severities(ConfigSource(path, log_level="debug"))
    assert "debug" not in _severities(ConfigSource(path))  # default: info


def test_r90_a_configured_observability_section_is_kept(tmp_path: Path) -> None:
    data = simple_config()
    data["observability"] = {"connector": "console", "tracing": {"min_severity": "warning"}}
    built = ConfigSource(_write(tmp_path, data), log_level="debug").build()
    sinks = built.config.sections["observability"]
    assert len(sinks) == 1 and sinks[0]["tracing"]["min_severity"] == "warning"
