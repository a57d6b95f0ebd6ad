"""Embedding, image, audio and model-list models, and the R-71/R-72 value types.

Theory of operation: like the chat models, these are frozen dataclasses with
OpenAI field names and `model_dump()`. Requests parse from plain dicts with
`from_dict` (ValueError names the bad field). `SpeechResponse` is bytes-like
(`.content`, `.content_type`, `bytes(resp)`); writing it to a file is the
shell's business. The connector value types of SPEC R-71/R-72
(`AudioRequest`, `AudioResponse`, `ModelInfo`, `ModelPricing`,
`QuotaStatus`, `RateLimitStatus`, `ErrorClassification`) live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from meshcore.frozen import fast_frozen
from meshcore.wire.models_base import (
    WireModel,
    ck_float,
    ck_int,
    ck_json_value,
    ck_list,
    ck_mapping,
    ck_req_str,
    ck_str,
)


def _extra_body(d: dict[str, Any]) -> dict[str, Any] | None:
    raw = d.get("extra_body")
    if raw is None:
        return None
    result: dict[str, Any] = ck_json_value(ck_mapping(raw, "extra_body"), "extra_body")
    return result


# ------------------------------------------------------------------ embeddings


@dataclass(frozen=True, slots=True)
class EmbeddingRequest(WireModel):
    """`embeddings.create` parameters."""

    _SKIP: ClassVar[frozenset[str]] = frozenset({"extra_body"})

    model: str
    input: str | tuple[str, ...]
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None
    extra_body: dict[str, Any] | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The input as a tuple of strings."""
        return (self.input,) if isinstance(self.input, str) else self.input

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingRequest:
        """Parse a user's kwargs / JSON body."""
        d = ck_mapping(data, "request")
        raw = d.get("input")
        inp: str | tuple[str, ...]
        if isinstance(raw, str):
            inp = raw
        else:
            items = ck_list(raw, "input")
            if not items:
                raise ValueError("input: must not be empty")
            inp = tuple(ck_req_str(s, f"input[{i}]") for i, s in enumerate(items))
        fmt = ck_str(d.get("encoding_format"), "encoding_format", allow_none=True)
        if fmt is not None and fmt not in ("float", "base64"):
            raise ValueError("encoding_format: must be 'float' or 'base64'")
        return cls(
            model=ck_str(d.get("model", ""), "model") or "",
            input=inp,
            encoding_format=fmt,
            dimensions=ck_int(d.get("dimensions"), "dimensions", minimum=1),
            user=ck_str(d.get("user"), "user", allow_none=True),
            extra_body=_extra_body(d),
        )


fast_frozen(EmbeddingRequest)


@dataclass(frozen=True, slots=True)
class Embedding(WireModel):
    """One embedding vector (`embedding` is a base64 string when requested so)."""

    index: int
    embedding: tuple[float, ...] | str
    object: str = "embedding"


fast_frozen(Embedding)


@dataclass(frozen=True, slots=True)
class EmbeddingUsage(WireModel):
    """Usage of an embeddings call."""

    prompt_tokens: int = 0
    total_tokens: int = 0


fast_frozen(EmbeddingUsage)


@dataclass(frozen=True, slots=True)
class CreateEmbeddingResponse(WireModel):
    """The embeddings result."""

    data: tuple[Embedding, ...]
    model: str
    usage: EmbeddingUsage = field(default_factory=EmbeddingUsage)
    object: str = "list"


# ------------------------------------------------------------------ images


fast_frozen(CreateEmbeddingResponse)


@dataclass(frozen=True, slots=True)
class ImageRequest(WireModel):
    """`images.generate` parameters."""

    _SKIP: ClassVar[frozenset[str]] = frozenset({"extra_body"})

    model: str
    prompt: str
    n: int | None = None
    size: str | None = None
    quality: str | None = None
    response_format: str | None = None
    style: str | None = None
    user: str | None = None
    extra_body: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageRequest:
        """Parse a user's kwargs / JSON body."""
        d = ck_mapping(data, "request")
        fmt = ck_str(d.get("response_format"), "response_format", allow_none=True)
        if fmt is not None and fmt not in ("url", "b64_json"):
            raise ValueError("response_format: must be 'url' or 'b64_json'")
        return cls(
            model=ck_str(d.get("model", ""), "model") or "",
            prompt=ck_req_str(d.get("prompt"), "prompt"),
            n=ck_int(d.get("n"), "n", minimum=1),
            size=ck_str(d.get("size"), "size", allow_none=True),
            quality=ck_str(d.get("quality"), "quality", allow_none=True),
            response_format=fmt,
            style=ck_str(d.get("style"), "style", allow_none=True),
            user=ck_str(d.get("user"), "user", allow_none=True),
            extra_body=_extra_body(d),
        )


fast_frozen(ImageRequest)


@dataclass(frozen=True, slots=True)
class Image(WireModel):
    """One generated image."""

    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None


fast_frozen(Image)


@dataclass(frozen=True, slots=True)
class ImagesResponse(WireModel):
    """The images result."""

    created: int
    data: tuple[Image, ...]


# ------------------------------------------------------------------ audio


fast_frozen(ImagesResponse)

SPEECH_CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


@dataclass(frozen=True, slots=True)
class SpeechRequest(WireModel):
    """`audio.speech.create` parameters."""

    _SKIP: ClassVar[frozenset[str]] = frozenset({"extra_body"})

    model: str
    input: str
    voice: str
    response_format: str | None = None
    speed: float | None = None
    instructions: str | None = None
    extra_body: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeechRequest:
        """Parse a user's kwargs / JSON body."""
        d = ck_mapping(data, "request")
        return cls(
            model=ck_str(d.get("model", ""), "model") or "",
            input=ck_req_str(d.get("input"), "input"),
            voice=ck_req_str(d.get("voice", "alloy"), "voice"),
            response_format=ck_str(d.get("response_format"), "response_format", allow_none=True),
            speed=ck_float(d.get("speed"), "speed", lo=0.25, hi=4.0),
            instructions=ck_str(d.get("instructions"), "instructions", allow_none=True),
            extra_body=_extra_body(d),
        )


fast_frozen(SpeechRequest)


@dataclass(frozen=True, slots=True)
class SpeechResponse(WireModel):
    """Synthesised audio: bytes-like (`.content`, `bytes(resp)`, `len(resp)`)."""

    content: bytes
    content_type: str = "audio/mpeg"

    def __bytes__(self) -> bytes:
        return self.content

    def __len__(self) -> int:
        return len(self.content)

    def read(self) -> bytes:
        """The audio bytes (file-like convenience)."""
        return self.content


fast_frozen(SpeechResponse)


@dataclass(frozen=True, slots=True)
class TranscriptionRequest(WireModel):
    """`audio.transcriptions.create` parameters; `file` holds the audio bytes
    (the shell reads file objects), `filename` names them."""

    _SKIP: ClassVar[frozenset[str]] = frozenset({"extra_body", "file"})

    model: str
    file: bytes
    filename: str = "audio.wav"
    language: str | None = None
    prompt: str | None = None
    response_format: str | None = None
    temperature: float | None = None
    extra_body: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscriptionRequest:
        """Parse kwargs; `file` is bytes or a `(name, bytes)` pair."""
        d = ck_mapping(data, "request")
        raw = d.get("file")
        filename = ck_str(d.get("filename", "audio.wav"), "filename") or "audio.wav"
        if isinstance(raw, (tuple, list)) and len(raw) >= 2:
            filename = ck_req_str(raw[0], "file[0]")
            raw = raw[1]
        if isinstance(raw, (bytearray, memoryview)):
            raw = bytes(raw)
        if not isinstance(raw, bytes):
            raise ValueError(f"file: expected bytes, got {type(raw).__name__}")
        fmt = ck_str(d.get("response_format"), "response_format", allow_none=True)
        if fmt is not None and fmt not in ("json", "text", "verbose_json", "srt", "vtt"):
            raise ValueError(f"response_format: unknown format {fmt!r}")
        return cls(
            model=ck_str(d.get("model", ""), "model") or "",
            file=raw,
            filename=filename,
            language=ck_str(d.get("language"), "language", allow_none=True),
            prompt=ck_str(d.get("prompt"), "prompt", allow_none=True),
            response_format=fmt,
            temperature=ck_float(d.get("temperature"), "temperature", lo=0.0, hi=1.0),
            extra_body=_extra_body(d),
        )


fast_frozen(TranscriptionRequest)


@dataclass(frozen=True, slots=True)
class Transcription(WireModel):
    """A transcription (`text`, `language`, `duration`, `segments`)."""

    text: str
    language: str | None = None
    duration: float | None = None
    segments: tuple[dict[str, Any], ...] | None = None


fast_frozen(Transcription)


@dataclass(frozen=True, slots=True)
class AudioRequest(WireModel):
    """SPEC R-71: the audio request carried through the attempt path
    (`input` is text for speech, audio bytes for transcription)."""

    input: str | bytes
    model: str = ""
    voice: str | None = None
    format: str | None = None
    language: str | None = None


fast_frozen(AudioRequest)


@dataclass(frozen=True, slots=True)
class AudioResponse(WireModel):
    """SPEC R-71: the audio result (`audio` for speech, `text` for transcription)."""

    audio: bytes | None = None
    text: str | None = None
    duration: float | None = None
    usage: dict[str, int] | None = None


fast_frozen(AudioResponse)


def audio_request_of(request: SpeechRequest | TranscriptionRequest) -> AudioRequest:
    """The R-71 `AudioRequest` view of a speech or transcription request."""
    if isinstance(request, SpeechRequest):
        return AudioRequest(input=request.input, model=request.model, voice=request.voice,
                            format=request.response_format)
    return AudioRequest(input=request.file, model=request.model, format=request.response_format,
                        language=request.language)


def audio_response_of(response: SpeechResponse | Transcription) -> AudioResponse:
    """The R-71 `AudioResponse` view of a speech or transcription result."""
    if isinstance(response, SpeechResponse):
        return AudioResponse(audio=response.content)
    return AudioResponse(text=response.text, duration=response.duration)


# ------------------------------------------------------------------ models


@dataclass(frozen=True, slots=True)
class Model(WireModel):
    """An OpenAI model object."""

    id: str
    created: int = 0
    owned_by: str = "modelmesh"
    object: str = "model"


fast_frozen(Model)


@dataclass(frozen=True, slots=True)
class ModelList(WireModel):
    """An OpenAI list of models."""

    data: tuple[Model, ...] = ()
    object: str = "list"


fast_frozen(ModelList)


@dataclass(frozen=True, slots=True)
class ModelPricing(WireModel):
    """SPEC R-72 Cost & Pricing: USD per 1M tokens plus per request."""

    input_per_1m: float = 0.0
    output_per_1m: float = 0.0
    per_request: float = 0.0


fast_frozen(ModelPricing)


@dataclass(frozen=True, slots=True)
class ModelInfo(WireModel):
    """SPEC R-72 Model Catalogue entry. `id` is the provider-native name as
    listed (the shell canonicalises it, R-1)."""

    id: str
    name: str
    capabilities: tuple[str, ...] = ()
    context_window: int | None = None
    max_output_tokens: int | None = None
    pricing: ModelPricing | None = None
    features: dict[str, bool] = field(default_factory=dict)
    delivery: dict[str, bool] = field(default_factory=dict)
    owned_by: str | None = None
    created: int | None = None


fast_frozen(ModelInfo)


@dataclass(frozen=True, slots=True)
class QuotaStatus(WireModel):
    """SPEC R-72 Quota: unknown fields are None; `resets_at` is wall epoch seconds."""

    used: float | None = None
    remaining: float | None = None
    limit: float | None = None
    resets_at: float | None = None


fast_frozen(QuotaStatus)


@dataclass(frozen=True, slots=True)
class RateLimitStatus(WireModel):
    """SPEC R-72 Rate Limits: from the latest headers or local counters."""

    requests_remaining: int | None = None
    tokens_remaining: int | None = None
    reset_seconds: float | None = None


fast_frozen(RateLimitStatus)


@dataclass(frozen=True, slots=True)
class ErrorClassification(WireModel):
    """SPEC R-72 Error Classification: `category` is an R-33 class value."""

    retryable: bool
    category: str
    retry_after: float | None = None


fast_frozen(ErrorClassification)
