"""The HTTP side of discovery: the models-list call of a provider, sent with
httpcore (sync or async), and the conversion of its parsed `ModelInfo`
entries into the dicts a `ModelsDiscovered` event carries.

The requests are built and the bodies parsed by the wire registry
(`build_models_request` / `parse_models_response`, R-72 Model Catalogue);
this module only moves bytes and measures time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import httpcore

from adapters.http import TRANSPORT_ERRORS, encode_headers
from meshcore.catalogue import catalogue_entry
from meshcore.config.schema import ProviderConfig
from meshcore.connectors import MODELS
from meshcore.types import Usage
from meshcore.wire.attempt import HttpRequest
from meshcore.wire.models import ModelInfo
from meshcore.wire.registry import (
    build_models_request,
    connector_info,
    endpoints_of,
    get_family,
    parse_models_response,
)

__all__ = [
    "Fetched",
    "fetch_async",
    "fetch_sync",
    "infer_capabilities",
    "lists_models",
    "model_dicts",
    "models_request",
]

_CHAT = "generation.text-generation.chat-completion"
_NAME_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("embed",), "representation.embeddings.text-embeddings"),
    (("whisper", "transcri", "stt"), "understanding.audio-understanding.speech-to-text"),
    (("tts", "speech"), "generation.audio-generation.text-to-speech"),
    (("dall-e", "image", "flux", "stable-diffusion", "sdxl"),
     "generation.image-generation.text-to-image"),
)


@dataclass(frozen=True)
class Fetched:
    """The raw result of one models-list call (or fallback probe, which also
    names its model and the usage it consumed)."""

    status: int | None
    body: bytes
    error: str | None
    latency_ms: float
    model_id: str | None = None
    usage: Usage | None = None

    @property
    def ok(self) -> bool:
        """A 2xx answer without transport error."""
        return self.error is None and self.status is not None and 200 <= self.status < 300


def lists_models(provider: ProviderConfig) -> bool:
    """True when the provider's connector has a models-list endpoint and codec."""
    try:
        info = connector_info(provider.connector)
        fam = get_family(info.family)
    except KeyError:
        return False
    return MODELS in endpoints_of(provider) and fam.build_models_request is not None


def models_request(
    provider: ProviderConfig, base_url: str | None, api_key: str | None
) -> HttpRequest:
    """The models-list request with the resolved base URL and key."""
    if base_url is not None and base_url != provider.base_url:
        provider = replace(provider, base_url=base_url)
    return build_models_request(provider, api_key)


def _ext(timeout_s: float) -> dict[str, Any]:
    t = max(0.001, timeout_s)
    return {"timeout": {"connect": t, "read": t, "write": t, "pool": t}}


def _status_error(status: int, body: bytes) -> str | None:
    if 200 <= status < 300:
        return None
    return f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"


def fetch_sync(pool: httpcore.ConnectionPool, req: HttpRequest, timeout_s: float) -> Fetched:
    """Send `req` on a sync pool, bounded by `timeout_s`."""
    started = time.monotonic()
    try:
        resp = pool.request(req.method, req.url, headers=encode_headers(req.headers, req.url),
                            content=req.body or None, extensions=_ext(timeout_s))
    except TRANSPORT_ERRORS as exc:
        return Fetched(None, b"", f"{type(exc).__name__}: {exc}"[:300],
                       (time.monotonic() - started) * 1000.0)
    ms = (time.monotonic() - started) * 1000.0
    return Fetched(resp.status, resp.content, _status_error(resp.status, resp.content), ms)


async def fetch_async(
    pool: httpcore.AsyncConnectionPool, req: HttpRequest, timeout_s: float
) -> Fetched:
    """Send `req` on an async pool (asyncio or trio), bounded by `timeout_s`."""
    started = time.monotonic()
    try:
        resp = await pool.request(req.method, req.url,
                                  headers=encode_headers(req.headers, req.url),
                                  content=req.body or None, extensions=_ext(timeout_s))
    except TRANSPORT_ERRORS as exc:
        return Fetched(None, b"", f"{type(exc).__name__}: {exc}"[:300],
                       (time.monotonic() - started) * 1000.0)
    ms = (time.monotonic() - started) * 1000.0
    return Fetched(resp.status, resp.content, _status_error(resp.status, resp.content), ms)


def infer_capabilities(name: str) -> tuple[str, ...]:
    """A connector-side guess (R-21's `list_models()` entry) for listings that
    carry no capabilities: embeddings, speech, transcription and image
    models by name, chat otherwise."""
    low = name.lower()
    for needles, leaf in _NAME_HINTS:
        if any(n in low for n in needles):
            return (leaf,)
    return (_CHAT,)


def model_dicts(provider: ProviderConfig, infos: list[ModelInfo]) -> tuple[dict[str, Any], ...]:
    """`ModelInfo` entries as `ModelsDiscovered` dicts. Entries without
    capabilities get `infer_capabilities` unless the provider declares
    capabilities or the connector catalogue knows the model (R-21 order)."""
    out: list[dict[str, Any]] = []
    for info in infos:
        caps = tuple(info.capabilities)
        if not caps and not provider.capabilities and catalogue_entry(
                provider.connector, info.id) is None:
            caps = infer_capabilities(info.id)
        entry: dict[str, Any] = {"id": info.id, "name": info.name, "capabilities": list(caps)}
        if info.context_window is not None:
            entry["context_window"] = info.context_window
        if info.max_output_tokens is not None:
            entry["max_output_tokens"] = info.max_output_tokens
        if info.pricing is not None:
            entry["pricing"] = {"input_per_1m": info.pricing.input_per_1m,
                                "output_per_1m": info.pricing.output_per_1m,
                                "per_request": info.pricing.per_request}
        if info.features:
            entry["features"] = dict(info.features)
        if info.delivery:
            entry["delivery"] = dict(info.delivery)
        out.append(entry)
    return tuple(out)


def parse(provider: ProviderConfig, fetched: Fetched) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """The listing dicts of a fetched body, or an error text."""
    if not fetched.ok:
        return (), fetched.error or f"HTTP {fetched.status}"
    try:
        infos = parse_models_response(provider, fetched.body)
    except (ValueError, KeyError) as exc:
        return (), f"malformed models list: {exc}"[:300]
    return model_dicts(provider, infos), None
