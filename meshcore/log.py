"""The event log: JSON Lines codec and replay (SPEC R-99, ARCHITECTURE rule 5).

Theory of operation: a log is a header line (schema version, seed, the
normalised config with literal API keys redacted) followed by one line per
`(now, event)` holding the actions the router returned. `EventLogWriter`
produces the lines (the shell writes them to a file); `replay()` takes the
lines, builds a fresh `Router` from the header and feeds it the same
events at the same clock readings, comparing the actions it returns with
the recorded ones. The first step that differs is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshcore.codec import decode, encode
from meshcore.config.schema import MeshConfig
from meshcore.events import Event
from meshcore.frozen import native_reduce
from meshcore.types import Instant

LOG_SCHEMA = 1
REDACTED = "***REDACTED***"


def redact_config(config: MeshConfig) -> dict[str, Any]:
    """The config as a dict with literal API keys replaced (references kept)."""
    data: dict[str, Any] = dict(config.to_dict())
    providers: dict[str, Any] = data.get("providers") or {}
    for prov in providers.values():
        prov["api_keys"] = [
            k if isinstance(k, str) and k.startswith("${") else REDACTED
            for k in prov.get("api_keys", [])
        ]
    return dict(data)


def header_line(config: MeshConfig, seed: int) -> str:
    return json.dumps(
        {"schema": LOG_SCHEMA, "kind": "modelmesh-event-log", "seed": seed,
         "config": redact_config(config)},
    )


def step_line(now: Instant, event: Event, actions: list[Any]) -> str:
    return json.dumps(
        {"now": [now.mono, now.wall], "event": encode(event),
         "actions": [encode(a) for a in actions]},
    )


class EventLogWriter:
    """Collects log lines; the shell flushes `pop_lines()` to its file."""

    def __init__(self, config: MeshConfig, seed: int) -> None:
        self._lines: list[str] = [header_line(config, seed)]

    def record(self, now: Instant, event: Event, actions: list[Any]) -> None:
        self._lines.append(step_line(now, event, actions))

    def pop_lines(self) -> list[str]:
        out, self._lines = self._lines, []
        return out


@dataclass(frozen=True)
class Divergence:
    """The first step whose actions differ from the recording."""

    step: int
    event: dict[str, Any]
    expected: list[Any]
    actual: list[Any]


native_reduce(Divergence)  # copy/pickle when compiled (meshcore.frozen)


@dataclass(frozen=True)
class ReplayReport:
    ok: bool
    steps: int
    seed: int
    first_divergence: Divergence | None = None
    decisions: list[str] = field(default_factory=list)
    error: str | None = None


native_reduce(ReplayReport)  # copy/pickle when compiled (meshcore.frozen)


def _decision_text(step: int, actions: list[Any]) -> list[str]:
    out = []
    for a in actions:
        t = a.get("type")
        if t == "SendAttempt":
            out.append(f"{step}: send {a['attempt_id']} -> {a['model_id']}")
        elif t == "Deliver":
            out.append(f"{step}: deliver {a['request_id']} from {a['model_id']}")
        elif t == "Fail":
            out.append(f"{step}: fail {a['request_id']}: {a['failure']['reason']}")
        elif t == "Emit" and isinstance(a.get("record"), dict):
            rec = a["record"]
            if rec.get("type") == "RoutingEvent" and rec["event_type"] != "pool_membership_changed":
                meta = rec.get("metadata", {})
                why = meta.get("reason") or meta.get("trigger") or ""
                out.append(f"{step}: {rec['event_type']} {rec.get('model_id') or rec.get('provider_id') or rec.get('pool_id')} {why}".rstrip())
    return out


def replay(lines: Iterable[str], connectors: dict[str, type] | None = None) -> ReplayReport:
    """Re-run a recorded log and compare every step's actions."""
    from meshcore.router.router import Router

    it = iter(lines)
    try:
        head = json.loads(next(it))
    except StopIteration:
        return ReplayReport(False, 0, 0, error="empty event log")
    except json.JSONDecodeError as bad_header:  # names distinct per handler (mypyc)
        return ReplayReport(False, 0, 0, error=f"header is not JSON: {bad_header}")
    if not isinstance(head, dict) or head.get("schema") != LOG_SCHEMA:
        return ReplayReport(False, 0, 0, error="not a modelmesh event log (schema mismatch)")
    seed = int(head["seed"])
    config = MeshConfig.from_dict(head["config"])
    # custom strategies are looked up by the same keys as `connectors`
    router = Router(config, seed, strategies=dict(connectors) if connectors else None)
    decisions: list[str] = []
    step = 0
    for raw in it:
        if not raw.strip():
            continue
        step += 1
        try:
            rec = json.loads(raw)
            now = Instant(float(rec["now"][0]), float(rec["now"][1]))
            event = decode(rec["event"])
        except (ValueError, KeyError, TypeError, IndexError) as bad_step:
            return ReplayReport(False, step, seed, decisions=decisions,
                                error=f"line {step + 1} is not a valid log step: {bad_step}")
        expected = rec.get("actions", [])
        try:
            actual = [encode(a) for a in router.handle(event, now)]
        except Exception as exc:
            actual = [{"type": "error", "message": f"{type(exc).__name__}: {exc}"}]
        actual = json.loads(json.dumps(actual))
        decisions.extend(_decision_text(step, actual))
        if actual != expected:
            return ReplayReport(False, step, seed, Divergence(step, rec["event"], expected, actual),
                                decisions)
    return ReplayReport(True, step, seed, None, decisions)
