"""The registry of pre-shipped connectors and their static facts.

Theory of operation: this module is data. It lists every pre-shipped
connector ID (SPEC R-2, R-53, R-73, R-79, R-84, R-96, R-102, R-103), the
input aliases that normalise to them, and for provider connectors the wire
family, default base URL, auth style, default timeout, supported endpoints
and whether the connector is local. `canonical_connector_id` strips an
optional type prefix and applies the aliases. The config loader validates
IDs against these tables plus the custom connectors the shell passes in.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshcore.frozen import native_reduce

# Endpoint names (R-73 columns).
CHAT = "chat"
STREAM = "stream"
EMBEDDINGS = "embeddings"
IMAGES = "images"
SPEECH = "speech"
TRANSCRIPTION = "transcription"
MODELS = "models"
ALL_ENDPOINTS: tuple[str, ...] = (CHAT, STREAM, EMBEDDINGS, IMAGES, SPEECH, TRANSCRIPTION, MODELS)

FAMILY_OPENAI = "openai"
FAMILY_ANTHROPIC = "anthropic"
FAMILY_GEMINI = "gemini"
FAMILY_COHERE = "cohere"
FAMILY_ELEVENLABS = "elevenlabs"
FAMILY_ASSEMBLYAI = "assemblyai"


@dataclass(frozen=True, slots=True)
class ProviderConnectorInfo:
    """Static facts of one pre-shipped provider connector (R-73)."""

    id: str
    family: str
    base_url: str | None  # None = required (openai.compatible.v1)
    auth: str  # bearer | x-api-key | x-goog-api-key | xi-api-key | raw | optional-bearer
    endpoints: tuple[str, ...]
    timeout_s: float = 60.0
    local: bool = False


native_reduce(ProviderConnectorInfo)  # copy/pickle when compiled (meshcore.frozen)


def _p(
    cid: str,
    family: str,
    base: str | None,
    auth: str,
    endpoints: tuple[str, ...],
    timeout_s: float = 60.0,
    local: bool = False,
) -> ProviderConnectorInfo:
    return ProviderConnectorInfo(cid, family, base, auth, endpoints, timeout_s, local)


_ALL = ALL_ENDPOINTS
_CHAT_ONLY = (CHAT, STREAM, MODELS)
_LOCAL = (CHAT, STREAM, EMBEDDINGS, MODELS)

PROVIDER_CONNECTORS: dict[str, ProviderConnectorInfo] = {
    c.id: c
    for c in (
        _p("openai.llm.v1", FAMILY_OPENAI, "https://api.openai.com/v1", "bearer", _ALL),
        _p("anthropic.claude.v1", FAMILY_ANTHROPIC, "https://api.anthropic.com", "x-api-key",
           _CHAT_ONLY, timeout_s=120.0),
        _p("google.gemini.v1", FAMILY_GEMINI, "https://generativelanguage.googleapis.com/v1beta",
           "x-goog-api-key", (CHAT, STREAM, EMBEDDINGS, MODELS), timeout_s=120.0),
        _p("groq.api.v1", FAMILY_OPENAI, "https://api.groq.com/openai/v1", "bearer",
           (CHAT, STREAM, SPEECH, TRANSCRIPTION, MODELS)),
        _p("deepseek.api.v1", FAMILY_OPENAI, "https://api.deepseek.com/v1", "bearer", _CHAT_ONLY),
        _p("mistral.api.v1", FAMILY_OPENAI, "https://api.mistral.ai/v1", "bearer",
           (CHAT, STREAM, EMBEDDINGS, MODELS)),
        _p("together.api.v1", FAMILY_OPENAI, "https://api.together.xyz/v1", "bearer",
           (CHAT, STREAM, EMBEDDINGS, IMAGES, MODELS)),
        _p("openrouter.gateway.v1", FAMILY_OPENAI, "https://openrouter.ai/api/v1", "bearer",
           _CHAT_ONLY),
        _p("xai.grok.v1", FAMILY_OPENAI, "https://api.x.ai/v1", "bearer",
           (CHAT, STREAM, IMAGES, MODELS)),
        _p("cohere.nlp.v1", FAMILY_COHERE, "https://api.cohere.com", "bearer",
           (CHAT, STREAM, EMBEDDINGS, MODELS)),
        _p("perplexity.search.v1", FAMILY_OPENAI, "https://api.perplexity.ai", "bearer",
           (CHAT, STREAM)),
        _p("fireworks.api.v1", FAMILY_OPENAI, "https://api.fireworks.ai/inference/v1", "bearer",
           (CHAT, STREAM, EMBEDDINGS, MODELS)),
        _p("ollama.local.v1", FAMILY_OPENAI, "http://localhost:11434/v1", "optional-bearer",
           _LOCAL, local=True),
        _p("lmstudio.local.v1", FAMILY_OPENAI, "http://localhost:1234/v1", "optional-bearer",
           _LOCAL, local=True),
        _p("vllm.local.v1", FAMILY_OPENAI, "http://localhost:8000/v1", "optional-bearer",
           _LOCAL, local=True),
        _p("localai.local.v1", FAMILY_OPENAI, "http://localhost:8080/v1", "optional-bearer",
           _ALL, local=True),
        _p("openai.compatible.v1", FAMILY_OPENAI, None, "bearer", (CHAT, STREAM, EMBEDDINGS, MODELS),
           local=True),
        _p("elevenlabs.tts.v1", FAMILY_ELEVENLABS, "https://api.elevenlabs.io/v1", "xi-api-key",
           (SPEECH, MODELS)),
        _p("assemblyai.stt.v1", FAMILY_ASSEMBLYAI, "https://api.assemblyai.com/v2", "raw",
           (TRANSCRIPTION,), timeout_s=300.0),
    )
}

STRATEGIES: tuple[str, ...] = tuple(
    f"modelmesh.{n}.v1"
    for n in (
        "stick-until-failure",
        "priority-selection",
        "round-robin",
        "cost-first",
        "latency-first",
        "session-stickiness",
        "rate-limit-aware",
        "load-balanced",
    )
)

SECRET_STORES: tuple[str, ...] = tuple(
    f"modelmesh.{n}.v1"
    for n in ("env", "dotenv", "json-secrets", "memory-secrets", "encrypted-file", "keyring")
)
STORAGE_CONNECTORS: tuple[str, ...] = (
    "modelmesh.memory.v1",
    "modelmesh.local-file.v1",
    "modelmesh.sqlite.v1",
    "redis.redis.v1",
)
OBSERVABILITY_CONNECTORS: tuple[str, ...] = tuple(
    f"modelmesh.{n}.v1"
    for n in ("null", "console", "file", "json-log", "callback", "webhook", "prometheus")
)
DISCOVERY_CONNECTORS: tuple[str, ...] = (
    "modelmesh.registry-sync.v1",
    "modelmesh.health-monitor.v1",
)

TYPE_PREFIXES: tuple[str, ...] = (
    "provider.",
    "rotation.",
    "secret-store.",
    "storage.",
    "observability.",
    "discovery.",
)

PROVIDER_ALIASES: dict[str, str] = {
    "anthropic.llm.v1": "anthropic.claude.v1",
    "deepseek.llm.v1": "deepseek.api.v1",
    "mistral.llm.v1": "mistral.api.v1",
    "together.inference.v1": "together.api.v1",
    "openrouter.api.v1": "openrouter.gateway.v1",
    "xai.api.v1": "xai.grok.v1",
    "cohere.api.v1": "cohere.nlp.v1",
    "openai-compatible": "openai.compatible.v1",
}
OBSERVABILITY_ALIASES: dict[str, str] = {"modelmesh.local-file.v1": "modelmesh.file.v1"}


def canonical_connector_id(raw: str, modelmesh_known: tuple[str, ...] = ()) -> str:
    """Normalise a connector ID (R-2): strip a type prefix, apply aliases, and
    for `modelmesh.*` connectors accept the bare service name and
    `modelmesh.<service>` (`priority` means `priority-selection`). Returns
    the input unchanged (minus prefix) when nothing matches; validation
    reports unknown IDs."""
    cid = raw.strip()
    for prefix in TYPE_PREFIXES:
        if cid.startswith(prefix) and cid.count(".") >= 3:
            cid = cid[len(prefix):]
            break
    cid = PROVIDER_ALIASES.get(cid, cid)
    if cid in modelmesh_known:
        return cid
    service = cid[len("modelmesh."):] if cid.startswith("modelmesh.") else cid
    if service == "priority":
        service = "priority-selection"
    candidate = f"modelmesh.{service}.v1"
    if candidate in modelmesh_known:
        return candidate
    return cid
