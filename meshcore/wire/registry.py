"""Codec registry: wire family name -> codec, and `start_attempt`.

Theory of operation: each wire family (SPEC R-74) registers a `Family`
record with `register_family(name, factory, ...)`: the attempt factory
(`factory(request, ctx) -> Attempt`) and optionally the pure builders and
parsers of its catalogue call and a classification refiner. The registry
is a plain dict filled at import time of the codec modules; the built-in
codec modules are imported lazily on first use (`_BUILTIN_MODULES`), so a
family module only has to call `register_family` at module level.
`start_attempt` resolves the connector of the provider (built-in
`PROVIDER_CONNECTORS` or one added with `register_connector`), fixes the
base URL (provider's, else the connector default) and builds the
`AttemptContext`. Registration order does not affect any decision.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.connectors import PROVIDER_CONNECTORS, ProviderConnectorInfo
from meshcore.frozen import native_reduce
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest
from meshcore.wire.models import CompletionRequest, ModelInfo

AttemptFactory = Callable[[CompletionRequest, AttemptContext], Attempt]
ModelsRequestBuilder = Callable[[ProviderConfig, ProviderConnectorInfo, "str | None"], HttpRequest]
ModelsParser = Callable[[bytes], "list[ModelInfo]"]


@dataclass(frozen=True, slots=True)
class Family:
    """A registered wire family codec."""

    name: str
    factory: AttemptFactory
    build_models_request: ModelsRequestBuilder | None = None
    parse_models: ModelsParser | None = None


native_reduce(Family)  # copy/pickle when compiled (meshcore.frozen)


_FAMILIES: dict[str, Family] = {}
_CONNECTORS: dict[str, ProviderConnectorInfo] = {}

_BUILTIN_MODULES: dict[str, str] = {
    "openai": "meshcore.wire.openai",
    "anthropic": "meshcore.wire.anthropic",
    "gemini": "meshcore.wire.gemini",
    "cohere": "meshcore.wire.cohere",
    "elevenlabs": "meshcore.wire.elevenlabs",
    "assemblyai": "meshcore.wire.assemblyai",
}


def register_family(
    name: str,
    factory: AttemptFactory,
    *,
    build_models_request: ModelsRequestBuilder | None = None,
    parse_models: ModelsParser | None = None,
) -> None:
    """Register (or replace) the codec of wire family `name`."""
    _FAMILIES[name] = Family(name, factory, build_models_request, parse_models)


def register_connector(info: ProviderConnectorInfo) -> None:
    """Make a custom provider connector (R-17) known to `start_attempt`."""
    _CONNECTORS[info.id] = info


def connector_info(connector_id: str) -> ProviderConnectorInfo:
    """The static facts of a provider connector; KeyError if unknown."""
    info = _CONNECTORS.get(connector_id) or PROVIDER_CONNECTORS.get(connector_id)
    if info is None:
        raise KeyError(f"unknown provider connector {connector_id!r}")
    return info


def get_family(name: str) -> Family:
    """The registered codec of `name`, importing a built-in module on demand."""
    fam = _FAMILIES.get(name)
    if fam is None and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
        fam = _FAMILIES.get(name)
    if fam is None:
        raise KeyError(f"no codec registered for wire family {name!r}")
    return fam


def endpoints_of(provider: ProviderConfig) -> tuple[str, ...]:
    """The endpoints a provider serves (R-73); `openai.compatible.v1` reads its
    `endpoints` option (R-76)."""
    info = connector_info(provider.connector)
    opt = provider.options.get("endpoints")
    if provider.connector == "openai.compatible.v1" and isinstance(opt, (list, tuple)):
        return tuple(e for e in opt if isinstance(e, str))
    return info.endpoints


def base_url_of(provider: ProviderConfig, info: ProviderConnectorInfo) -> str:
    """The provider's `base_url`, else the connector default (R-75)."""
    url = provider.base_url or info.base_url
    if not url:
        raise ValueError(f"provider {provider.id!r}: base_url is required")
    return url.rstrip("/")


def start_attempt(
    request: CompletionRequest,
    *,
    model: ModelConfig,
    provider: ProviderConfig,
    api_key: str | None,
    attempt_id: str,
    model_id: str,
    response_id: str,
    created: int,
) -> Attempt:
    """R-72 Model Execution: the per-attempt object for `request` on `model`."""
    info = connector_info(provider.connector)
    ctx = AttemptContext(
        model=model,
        provider=provider,
        connector=info,
        api_key=api_key,
        attempt_id=attempt_id,
        model_id=model_id,
        response_id=response_id,
        created=created,
        base_url=base_url_of(provider, info),
    )
    return get_family(info.family).factory(request, ctx)


def build_models_request(provider: ProviderConfig, api_key: str | None) -> HttpRequest:
    """The catalogue (`list_models`) request for `provider` (R-72)."""
    info = connector_info(provider.connector)
    fam = get_family(info.family)
    if fam.build_models_request is None:
        raise KeyError(f"wire family {info.family!r} has no models endpoint")
    return fam.build_models_request(provider, info, api_key)


def parse_models_response(provider: ProviderConfig, body: bytes) -> list[ModelInfo]:
    """Parse a catalogue response body into `ModelInfo` entries; ValueError
    when the body is malformed, TypeError when it is not bytes (checked here
    so that interpreted and compiled builds agree)."""
    if not isinstance(body, bytes):
        raise TypeError(f"body: expected bytes, got {type(body).__name__}")
    info = connector_info(provider.connector)
    fam = get_family(info.family)
    if fam.parse_models is None:
        raise KeyError(f"wire family {info.family!r} has no models endpoint")
    try:
        return fam.parse_models(body)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"malformed models response: {exc!r}") from exc


def families() -> dict[str, Any]:
    """A copy of the registered families (for docs and tests)."""
    return dict(_FAMILIES)
