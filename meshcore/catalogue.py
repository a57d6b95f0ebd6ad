"""Default model catalogues of the pre-shipped cloud connectors (SPEC R-20).

Theory of operation: plain data. Each cloud connector maps to a tuple of
`CatalogueEntry` values covering at least one model per endpoint the
connector supports (R-73), with public list prices (USD per 1M tokens) and
context windows where the vendor publishes them. The config loader uses a
catalogue (a) to create the models of a cloud provider that has no
configured models (source `catalogue`, R-20) and (b) to fill unset
attributes of a configured model whose native name matches an entry
(capability inference, R-21; pricing, R-57). Prices that are not per token
(per image, per character, per audio minute) are expressed as
`per_request` where a flat per-call figure exists and are otherwise left
unset. Local connectors and `openai.compatible.v1` list their models at
runtime instead and have no catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshcore.frozen import native_reduce

CHAT = "generation.text-generation.chat-completion"
CODE = "generation.text-generation.code-generation"
JSON = "generation.structured-generation.json-generation"
TOOLS = "interaction.tool-calling"
CAPTION = "understanding.vision-understanding.image-captioning"
EMBED = "representation.embeddings.text-embeddings"
IMAGE = "generation.image-generation.text-to-image"
TTS = "generation.audio-generation.text-to-speech"
STT = "understanding.audio-understanding.speech-to-text"
WEB = "retrieval.search.web-search"
GROUNDED = "retrieval.rag.grounded-generation"


@dataclass(frozen=True)
class CatalogueEntry:
    """One default model of a connector. `pricing` is `(input_per_1m,
    output_per_1m, per_request)` in USD or None when unpublished; `features`
    lists the R-15 feature flags known to be true (others stay unknown)."""

    name: str
    capabilities: tuple[str, ...]
    context_window: int | None = None
    max_output_tokens: int | None = None
    pricing: tuple[float, float, float] | None = None
    features: tuple[str, ...] = ()


native_reduce(CatalogueEntry)  # copy/pickle when compiled (meshcore.frozen)


def _e(
    name: str,
    caps: tuple[str, ...],
    ctx: int | None = None,
    out: int | None = None,
    price: tuple[float, float, float] | None = None,
    features: tuple[str, ...] = (),
) -> CatalogueEntry:
    return CatalogueEntry(name, caps, ctx, out, price, features)


_CHAT_CAPS = (CHAT, CODE, JSON, TOOLS)
_VISION_CHAT = (CHAT, CODE, JSON, TOOLS, CAPTION)
_FULL = ("tool_calling", "json_mode", "structured_output", "system_prompt")
_FULL_VISION = (*_FULL, "vision")
_BASIC = ("system_prompt",)

CATALOGUES: dict[str, tuple[CatalogueEntry, ...]] = {
    "openai.llm.v1": (
        _e("gpt-4o", _VISION_CHAT, 128_000, 16_384, (2.5, 10.0, 0.0), _FULL_VISION),
        _e("gpt-4o-mini", _VISION_CHAT, 128_000, 16_384, (0.15, 0.6, 0.0), _FULL_VISION),
        _e("text-embedding-3-small", (EMBED,), 8_191, None, (0.02, 0.0, 0.0)),
        _e("text-embedding-3-large", (EMBED,), 8_191, None, (0.13, 0.0, 0.0)),
        _e("dall-e-3", (IMAGE,), None, None, (0.0, 0.0, 0.04)),
        _e("tts-1", (TTS,), None, None, None),
        _e("whisper-1", (STT,), None, None, None),
    ),
    "anthropic.claude.v1": (
        _e("claude-sonnet-4-20250514", _VISION_CHAT, 200_000, 64_000, (3.0, 15.0, 0.0),
           _FULL_VISION),
        _e("claude-3-5-haiku-20241022", _CHAT_CAPS, 200_000, 8_192, (0.8, 4.0, 0.0), _FULL),
    ),
    "google.gemini.v1": (
        _e("gemini-2.0-flash", _VISION_CHAT, 1_048_576, 8_192, (0.1, 0.4, 0.0), _FULL_VISION),
        _e("gemini-2.5-pro", _VISION_CHAT, 1_048_576, 65_536, (1.25, 10.0, 0.0),
           _FULL_VISION),
        _e("gemini-embedding-001", (EMBED,), 2_048, None, (0.15, 0.0, 0.0)),
    ),
    "groq.api.v1": (
        _e("llama-3.3-70b-versatile", _CHAT_CAPS, 131_072, 32_768, (0.59, 0.79, 0.0), _FULL),
        _e("llama-3.1-8b-instant", _CHAT_CAPS, 131_072, 131_072, (0.05, 0.08, 0.0), _FULL),
        _e("playai-tts", (TTS,), None, None, None),
        _e("whisper-large-v3-turbo", (STT,), None, None, None),
    ),
    "deepseek.api.v1": (
        _e("deepseek-chat", _CHAT_CAPS, 64_000, 8_192, (0.27, 1.1, 0.0), _FULL),
        _e("deepseek-reasoner", (CHAT, CODE), 64_000, 8_192, (0.55, 2.19, 0.0), _BASIC),
    ),
    "mistral.api.v1": (
        _e("mistral-large-latest", _CHAT_CAPS, 128_000, None, (2.0, 6.0, 0.0), _FULL),
        _e("mistral-small-latest", _CHAT_CAPS, 128_000, None, (0.2, 0.6, 0.0), _FULL),
        _e("mistral-embed", (EMBED,), 8_192, None, (0.1, 0.0, 0.0)),
    ),
    "together.api.v1": (
        _e("meta-llama/Llama-3.3-70B-Instruct-Turbo", _CHAT_CAPS, 131_072, None,
           (0.88, 0.88, 0.0), _FULL),
        _e("togethercomputer/m2-bert-80M-8k-retrieval", (EMBED,), 8_192, None,
           (0.008, 0.0, 0.0)),
        _e("black-forest-labs/FLUX.1-schnell", (IMAGE,), None, None, (0.0, 0.0, 0.0027)),
    ),
    "openrouter.gateway.v1": (
        _e("openai/gpt-4o-mini", _VISION_CHAT, 128_000, 16_384, (0.15, 0.6, 0.0), _FULL_VISION),
        _e("anthropic/claude-3.5-haiku", _CHAT_CAPS, 200_000, 8_192, (0.8, 4.0, 0.0), _FULL),
    ),
    "xai.grok.v1": (
        _e("grok-3", _CHAT_CAPS, 131_072, None, (3.0, 15.0, 0.0), _FULL),
        _e("grok-3-mini", _CHAT_CAPS, 131_072, None, (0.3, 0.5, 0.0), _FULL),
        _e("grok-2-image-1212", (IMAGE,), None, None, (0.0, 0.0, 0.07)),
    ),
    "cohere.nlp.v1": (
        _e("command-r-plus-08-2024", _CHAT_CAPS, 128_000, 4_096, (2.5, 10.0, 0.0), _FULL),
        _e("command-r-08-2024", _CHAT_CAPS, 128_000, 4_096, (0.15, 0.6, 0.0), _FULL),
        _e("embed-english-v3.0", (EMBED,), 512, None, (0.1, 0.0, 0.0)),
    ),
    "perplexity.search.v1": (
        _e("sonar", (CHAT, WEB, GROUNDED), 127_072, None, (1.0, 1.0, 0.005), _BASIC),
        _e("sonar-pro", (CHAT, WEB, GROUNDED), 200_000, 8_000, (3.0, 15.0, 0.006), _BASIC),
    ),
    "fireworks.api.v1": (
        _e("accounts/fireworks/models/llama-v3p1-70b-instruct", _CHAT_CAPS, 131_072, None,
           (0.9, 0.9, 0.0), _FULL),
        _e("nomic-ai/nomic-embed-text-v1.5", (EMBED,), 8_192, None, (0.008, 0.0, 0.0)),
    ),
    "elevenlabs.tts.v1": (
        _e("eleven_multilingual_v2", (TTS,), None, None, None),
        _e("eleven_flash_v2_5", (TTS,), None, None, None),
    ),
    "assemblyai.stt.v1": (
        _e("best", (STT,), None, None, None),
        _e("nano", (STT,), None, None, None),
    ),
}


def catalogue_for(connector_id: str) -> tuple[CatalogueEntry, ...]:
    """The default catalogue of a connector (empty when it has none)."""
    return CATALOGUES.get(connector_id, ())


def catalogue_entry(connector_id: str, name: str) -> CatalogueEntry | None:
    """The entry whose native name is `name` (exact match), if any."""
    for entry in CATALOGUES.get(connector_id, ()):
        if entry.name == name:
            return entry
    return None


__all__ = ["CATALOGUES", "CatalogueEntry", "catalogue_entry", "catalogue_for"]
