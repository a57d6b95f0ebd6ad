"""The proxy's settings (R-111): the normalised `proxy` section of the config,
overridden by command-line flags (flags beat `proxy.*`, which beats defaults)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.build import Built
from adapters.proxy.auth import resolve_tokens

__all__ = ["ALL_ENDPOINTS", "ProxySettings", "settings_from"]

ALL_ENDPOINTS: tuple[str, ...] = (
    "/v1/models", "/v1/chat/completions", "/v1/embeddings", "/v1/images/generations",
    "/v1/audio/speech", "/v1/audio/transcriptions", "/health", "/metrics",
    "/v1/modelmesh/pools", "/v1/modelmesh/pools/{pool}/explain",
    "/v1/modelmesh/pools/{pool}/rotate", "/v1/modelmesh/models/{id}/activate",
    "/v1/modelmesh/models/{id}/deactivate", "/v1/modelmesh/providers/{id}/activate",
    "/v1/modelmesh/providers/{id}/deactivate", "/v1/modelmesh/usage",
)


@dataclass(frozen=True)
class ProxySettings:
    """Resolved proxy settings; `tokens` hold resolved values (never logged)."""

    host: str = "127.0.0.1"
    port: int = 8080
    endpoints: frozenset[str] = frozenset(ALL_ENDPOINTS)
    auth_enabled: bool = False
    tokens: tuple[str, ...] = field(default=(), repr=False)
    cors_enabled: bool = True
    cors_origins: tuple[str, ...] = ("*",)
    max_body_size: int = 10 * 1024 * 1024
    shutdown_timeout: float = 30.0


def settings_from(built: Built, *, host: str | None = None, port: int | None = None,
                  token: str | None = None,
                  environ: Mapping[str, str] | None = None) -> ProxySettings:
    """Settings from a built config's `proxy` section plus flag overrides.
    `--token` adds a token and enables auth. Raises `ConfigurationError` for a
    token reference that does not resolve."""
    raw: Mapping[str, Any] = built.config.sections.get("proxy") or {}
    auth: Mapping[str, Any] = raw.get("auth") or {}
    cors: Mapping[str, Any] = raw.get("cors") or {}
    configured: Sequence[str] = list(auth.get("tokens") or ())
    tokens = resolve_tokens(configured, built.data, environ)
    enabled = bool(auth.get("enabled", bool(tokens)))
    if token is not None:
        tokens = (*tokens, *resolve_tokens([token], built.data, environ))
        enabled = True
    s = ProxySettings(
        host=str(raw.get("host", "127.0.0.1")),
        port=int(raw.get("port", 8080)),
        endpoints=frozenset(ALL_ENDPOINTS if raw.get("endpoints") is None
                            else raw["endpoints"]),
        auth_enabled=enabled,
        tokens=tokens,
        cors_enabled=bool(cors.get("enabled", True)),
        cors_origins=tuple(cors.get("origins") or ("*",)),
        max_body_size=int(raw.get("max_body_size", 10 * 1024 * 1024)),
        shutdown_timeout=float(raw.get("shutdown_timeout", 30.0)),
    )
    if host is not None:
        s = replace(s, host=host)
    if port is not None:
        s = replace(s, port=port)
    return s
