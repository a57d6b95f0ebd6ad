"""The proxy's routing table (R-112) and small request helpers, shared by the app.

Fixed paths map to prebuilt `Route` objects (no allocation per request); the
parameterised command paths are matched with regular expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshcore.types import Operation

__all__ = ["JSON_BODY", "OPERATIONS", "WATCHED", "Route", "media_type", "param_of", "route",
           "text"]


@dataclass(frozen=True)
class Route:
    """A matched endpoint: its template, methods, handler name and path parameters."""

    template: str
    methods: tuple[str, ...]
    handler: str
    params: tuple[str, ...] = ()


_FIXED: dict[str, tuple[str, str]] = {
    "/v1/models": ("GET", "models"),
    "/v1/chat/completions": ("POST", "chat"),
    "/v1/embeddings": ("POST", "embeddings"),
    "/v1/images/generations": ("POST", "images"),
    "/v1/audio/speech": ("POST", "speech"),
    "/v1/audio/transcriptions": ("POST", "transcriptions"),
    "/health": ("GET", "health"),
    "/metrics": ("GET", "metrics"),
    "/v1/modelmesh/pools": ("GET", "pools"),
    "/v1/modelmesh/usage": ("GET", "usage"),
}
_EXPLAIN = re.compile(r"^/v1/modelmesh/pools/([^/]+)/explain$")
_ROTATE = re.compile(r"^/v1/modelmesh/pools/([^/]+)/rotate$")
_COMMAND = re.compile(r"^/v1/modelmesh/(models|providers)/([^/]+)/(activate|deactivate)$")
OPERATIONS = {"chat": Operation.CHAT, "embeddings": Operation.EMBEDDINGS,
               "images": Operation.IMAGES, "speech": Operation.SPEECH,
               "transcriptions": Operation.TRANSCRIPTION}
JSON_BODY = frozenset({"chat", "embeddings", "images", "speech"})


_FIXED_ROUTES: dict[str, Route] = {
    path: Route(path, (method,), handler) for path, (method, handler) in _FIXED.items()}
WATCHED = frozenset({*OPERATIONS, "models"})  # handlers that await the network


def route(path: str) -> Route | None:
    """The endpoint of `path`, or None."""
    fixed = _FIXED_ROUTES.get(path)
    if fixed is not None:
        return fixed
    if m := _EXPLAIN.match(path):
        return Route("/v1/modelmesh/pools/{pool}/explain", ("GET",), "explain", m.groups())
    if m := _ROTATE.match(path):
        return Route("/v1/modelmesh/pools/{pool}/rotate", ("POST",), "rotate", m.groups())
    if m := _COMMAND.match(path):
        kind, target, op = m.groups()
        return Route(f"/v1/modelmesh/{kind}/{{id}}/{op}", ("POST",), "command",
                      (kind, target, op))
    return None


def media_type(value: bytes | None) -> str:
    """The lower-case media type of a Content-Type header value ("" when absent)."""
    return (value or b"").decode("latin-1").split(";", 1)[0].strip().lower()


def text(value: bytes | None) -> str | None:
    """A header value decoded as latin-1."""
    return None if value is None else value.decode("latin-1")


def param_of(message: str) -> str | None:
    """The field named at the start of a validation message (`"messages: ..."`)."""
    head, sep, _ = message.partition(":")
    return head.strip() if sep and " " not in head.strip() else None
