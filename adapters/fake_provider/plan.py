"""Fault plans for the fake provider (SPEC R-119 `fake-provider`, API.md section 4).

A plan says how the fake provider answers each request it receives. It is either a list of
steps applied in order, the last one repeating, or a mapping from model name to such a list
(a plan per model); a model missing from the mapping uses the `"*"` entry when there is one,
else it always succeeds. Each model has its own cursor, which advances once per request
received, so a list plan gives every model the same script.

A step is a mapping (as read from JSON or YAML) or a `FaultStep`. Unknown keys and values
of the wrong type raise `ValueError` naming the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["STEP_KEYS", "FaultStep", "Plan", "load_plan"]


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_seconds(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not _is_number(value) or float(value) < 0:  # type: ignore[arg-type]
        raise ValueError(f"step key {name!r} must be a non-negative number, got {value!r}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"step key {name!r} must be a boolean, got {value!r}")


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"step key {name!r} must be a non-negative integer, got {value!r}")


def _check_text(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"step key {name!r} must be a string, got {value!r}")


@dataclass(frozen=True)
class FaultStep:
    """How the fake provider answers one request.

    The default step is a well-formed success. Keys (SPEC R-119):

    - `status`: HTTP status; non-2xx answers carry the family's error body, shaped by
      `code`, `type` and `message` when given.
    - `retry_after` (seconds, or any string such as an HTTP-date) and `retry_after_ms`
      set the `Retry-After` / `retry-after-ms` headers; `headers` adds other headers.
    - `delay`: seconds before the response head. `ttft_delay`: for streams, a pause after
      the head and the role/preamble events, before the first content chunk (treated like
      `delay` for non-streaming replies). `chunk_delay`: a pause before each content chunk
      (non-streaming bodies are dripped in 64-byte pieces).
    - `silent`: accept the request and never answer. `reset`: close the connection with
      a TCP reset before sending anything.
    - `cut_after_chunks`: stream N content chunks, then close the connection mid-body.
    - `stall_after_chunks` with `stall_for`: stream N content chunks, then pause
      `stall_for` seconds before the rest (a stream that stalls mid-way).
    - `malformed`: a 2xx with invalid JSON; for streams, an invalid chunk before the first
      content chunk. `body`: a literal body (JSON value; a string is sent as-is).
    - `content`, `usage` (`prompt_tokens`, `completion_tokens`): the reply and its counts.
    - `no_done`: the stream ends cleanly without the family's end marker.
    - `stream_error`: an in-stream error event after N content chunks.
    """

    status: int = 200
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    ttft_delay: float = 0.0
    chunk_delay: float = 0.0
    silent: bool = False
    reset: bool = False
    cut_after_chunks: int | None = None
    stall_after_chunks: int | None = None
    stall_for: float = 0.0
    malformed: bool = False
    body: Any = None
    content: str | None = None
    usage: Mapping[str, int] | None = None
    no_done: bool = False
    stream_error: int | None = None
    code: str | None = None
    type: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        status = self.status
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"step key 'status' must be an integer in 200..599, got {status!r}")
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            _check_seconds("retry_after", self.retry_after)
        _check_seconds("retry_after_ms", self.retry_after_ms, optional=True)
        if not isinstance(self.headers, Mapping):
            raise ValueError(f"step key 'headers' must be a mapping, got {self.headers!r}")
        for header, hvalue in self.headers.items():
            if not isinstance(header, str) or not isinstance(hvalue, str | int | float):
                raise ValueError(
                    f"step key 'headers' must map names to strings, got {header!r}: {hvalue!r}"
                )
        for name in ("delay", "ttft_delay", "chunk_delay", "stall_for"):
            _check_seconds(name, getattr(self, name))
        for name in ("silent", "reset", "malformed", "no_done"):
            _check_bool(name, getattr(self, name))
        for name in ("cut_after_chunks", "stream_error", "stall_after_chunks"):
            _check_count(name, getattr(self, name))
        for name in ("content", "code", "type", "message"):
            _check_text(name, getattr(self, name))
        if self.usage is not None:
            if not isinstance(self.usage, Mapping):
                raise ValueError(f"step key 'usage' must be a mapping, got {self.usage!r}")
            for field_name, count in self.usage.items():
                if field_name not in ("prompt_tokens", "completion_tokens"):
                    raise ValueError(f"step key 'usage' has unknown field {field_name!r}")
                _check_count("usage", count)
        try:
            if self.body is not None and not isinstance(self.body, str):
                json.dumps(self.body)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"step key 'body' must be JSON-serialisable: {exc}") from None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FaultStep:
        """Build a step from a mapping; unknown keys raise `ValueError` naming the key."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a step must be a mapping, got {raw!r}")
        for key in raw:
            if key not in STEP_KEYS:
                raise ValueError(f"unknown step key {key!r}")
        values = dict(raw)
        if values.get("headers") is None:
            values.pop("headers", None)
        return cls(**values)

    @property
    def is_success(self) -> bool:
        """True when the status is 2xx."""
        return 200 <= self.status < 300

    def response_headers(self) -> list[tuple[str, str]]:
        """The extra headers this step adds to any answer (Retry-After and `headers`)."""
        out: list[tuple[str, str]] = []
        if self.retry_after is not None:
            out.append(("retry-after", _format_seconds(self.retry_after)))
        if self.retry_after_ms is not None:
            out.append(("retry-after-ms", _format_seconds(self.retry_after_ms)))
        out.extend((str(k).lower(), str(v)) for k, v in self.headers.items())
        return out


STEP_KEYS: frozenset[str] = frozenset(f.name for f in fields(FaultStep))


def _format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _parse_step(raw: object, where: str) -> FaultStep:
    if isinstance(raw, FaultStep):
        return raw
    if raw is None:
        return FaultStep()
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a step must be a mapping, got {raw!r}")
    try:
        return FaultStep.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _parse_steps(raw: object, where: str) -> tuple[FaultStep, ...]:
    if raw is None:  # e.g. a YAML key with no value: always succeed
        return ()
    if isinstance(raw, FaultStep | Mapping):
        return (_parse_step(raw, where),)
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        return tuple(_parse_step(item, f"{where}[{i}]") for i, item in enumerate(raw))
    raise ValueError(f"{where}: expected a list of steps, got {raw!r}")


@dataclass(frozen=True)
class Plan:
    """A parsed fault plan: a default step list and per-model step lists."""

    default: tuple[FaultStep, ...] | None = None
    per_model: Mapping[str, tuple[FaultStep, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: object) -> Plan:
        """Accept None, a `Plan`, a list of steps, or a mapping model -> list of steps.

        A mapping's values may also be a single step. The `"*"` entry applies to every
        model not named. Raises `ValueError` naming the bad key or entry.
        """
        if raw is None:
            return cls()
        if isinstance(raw, Plan):
            return raw
        if isinstance(raw, FaultStep):
            return cls(default=(raw,))
        if isinstance(raw, Mapping):
            per_model: dict[str, tuple[FaultStep, ...]] = {}
            default: tuple[FaultStep, ...] | None = None
            for model, steps in raw.items():
                if not isinstance(model, str):
                    raise ValueError(f"plan: model names must be strings, got {model!r}")
                parsed = _parse_steps(steps, f"plan[{model!r}]")
                if model == "*":
                    default = parsed
                else:
                    per_model[model] = parsed
            return cls(default=default, per_model=per_model)
        return cls(default=_parse_steps(raw, "plan"))

    def steps_for(self, model: str | None) -> tuple[FaultStep, ...]:
        """The step list that applies to `model` (empty means: always succeed)."""
        if model is not None and model in self.per_model:
            return self.per_model[model]
        return self.default or ()

    def step(self, model: str | None, index: int) -> FaultStep:
        """The step for the `index`-th request (0-based) for `model`; the last repeats."""
        steps = self.steps_for(model)
        if not steps:
            return FaultStep()
        return steps[min(index, len(steps) - 1)]


def load_plan(path: str | Path) -> Plan:
    """Read a plan file: JSON, or YAML (`.yaml`/`.yml`, or any file that is not JSON)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data: object
    if p.suffix.lower() in (".yaml", ".yml"):
        data = _load_yaml(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if p.suffix.lower() == ".json":
                raise ValueError(f"invalid JSON: {exc}") from None
            data = _load_yaml(text)
    return Plan.parse(data)


def _load_yaml(text: str) -> object:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is an optional dependency
        raise ValueError("YAML plans need PyYAML (pip install modelmesh-sansio[yaml])") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None
