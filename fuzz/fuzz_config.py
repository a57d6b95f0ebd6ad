"""Fuzz harness for the config loader (`meshcore.config.load_config`).

Invariant: for any input, `load_config` returns a `MeshConfig` or raises
`ConfigurationError`, nothing else; `validate` never raises and reports
errors exactly when `load_config` raises; a loaded config round-trips
through `to_dict()` / `from_dict()`.

Bytes become a config dict in one of two ways: when they parse as JSON
that is used directly; otherwise they drive a small generator that builds
nested dicts and lists from a vocabulary of real section names, keys,
connector IDs, durations and capability names, so that most inputs reach
deep into the normalisers instead of failing at the top-level type check.

Run with atheris:  python fuzz/fuzz_config.py [corpus_dir]
"""

from __future__ import annotations

import json
from typing import Any

from meshcore.config import load_config, validate
from meshcore.config.schema import MeshConfig
from meshcore.errors import ConfigurationError

KEYS = (
    "providers", "models", "pools", "secrets", "storage", "observability", "discovery",
    "connectors", "capabilities", "proxy", "rotation", "config", "auth", "execution",
    "api_key", "base_url", "timeout", "max_retries", "connector", "enabled", "provider",
    "name", "capabilities", "delivery", "streaming", "features", "tool_calling", "pricing",
    "input_per_1m", "input_per_1k", "output_per_1m", "per_request", "constraints",
    "context_window", "capability", "strategy", "policy", "selection", "retry",
    "max_attempts", "retryable_codes", "non_retryable_codes", "deactivation", "recovery",
    "retry_limit", "error_rate_threshold", "request_limit", "budget_limit", "cooldown",
    "maintenance_window", "provider_deactivation", "model_priority", "deadline", "store",
    "custom", "packages", "classes", "sync", "health", "interval", "routing", "logging",
    "level", "filter", "host", "port", "tokens", "max_body_size", "id", "openai.llm.v1",
    "anthropic.claude.v1", "groq", "chat", "text-generation", "error", "budget",
    "daily_limit", "quota", "reset_schedule", "batch", "supported", "catalogue",
    "auto_discover", "instance", "endpoints", "sync_policy", "path", "persistence",
)
VALUES: tuple[Any, ...] = (
    "openai.llm.v1", "anthropic.llm.v1", "ollama.local.v1", "openai-compatible", "round-robin",
    "priority", "modelmesh.memory.v1", "redis.redis.v1", "sqlite", "console", "gpt-4o",
    "openai.gpt-4o", "Meta/Llama-3", "chat-completion", "embeddings", "generation",
    "generation.audio.text-to-speech", "nonsense", "5s", "500ms", "1.5h", "-3s", "7d", "abc",
    "25MB", "10MiB", "${secrets:KEY}", "${env:HOME}", "${bad key}", "$${literal}", "sk-x",
    "http://localhost:8000/v1", "ftp://x", "* 3-4 * * 0", "61 * * * *", "on_api_outage",
    "none", "UPPER", "", 0, 1, 3, -1, 0.5, 2.5, 429, 1e309, True, False, None,
)


class _Bytes:
    """Deterministic choices driven by the input bytes (0 once exhausted)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def pick(self, n: int) -> int:
        if n <= 1 or self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b % n


def _value(src: _Bytes, depth: int) -> Any:
    kind = src.pick(6 if depth < 4 else 2)
    if kind == 0:
        return VALUES[src.pick(len(VALUES))]
    if kind == 1:
        return KEYS[src.pick(len(KEYS))]
    if kind in (2, 3):
        return {KEYS[src.pick(len(KEYS))]: _value(src, depth + 1) for _ in range(src.pick(5))}
    if kind == 4:
        return [_value(src, depth + 1) for _ in range(src.pick(4))]
    return VALUES[src.pick(len(VALUES))]


def config_from_bytes(data: bytes) -> Any:
    """Turn fuzzer bytes into a config candidate (usually a dict)."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    src = _Bytes(data)
    return {KEYS[src.pick(10)]: _value(src, 1) for _ in range(1 + src.pick(6))}


def one_input(data: bytes) -> None:
    """Check the loader invariant on one input; raise AssertionError if broken."""
    candidate = config_from_bytes(data)
    result = validate(candidate)
    try:
        cfg = load_config(candidate)
    except ConfigurationError as exc:
        assert result.errors, "load_config raised but validate found no error"
        assert list(result.errors) == exc.details["errors"]
        return
    assert isinstance(cfg, MeshConfig)
    assert not result.errors, "validate reported errors but load_config succeeded"
    assert MeshConfig.from_dict(cfg.to_dict()) == cfg


def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":  # pragma: no cover
    main()
