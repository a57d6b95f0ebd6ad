"""ElevenLabs text-to-speech codec (SPEC R-74, R-76).

Theory of operation: a speech request becomes
`POST /text-to-speech/{voice_id}?output_format=...` with the text, the model
name as `model_id`, and `voice_settings` from the options `stability`
(0.5) and `similarity_boost` (0.75). The request's voice is used as the
voice ID unless it is one of the OpenAI voice names, which fall back to the
option `voice_id`. The output format is the option `output_format`
(default `mp3_44100_128`) unless the request asks for another OpenAI format
that ElevenLabs can produce (`pcm`, `opus`); other formats keep the default
and are reported as dropped. The 2xx body is the audio itself. ElevenLabs
reports exhausted credits as a 401 whose `detail.status` is
`quota_exceeded`, which the refinement maps to quota_exhausted.
"""

from __future__ import annotations

from urllib.parse import quote

from meshcore.config.schema import ProviderConfig
from meshcore.connectors import FAMILY_ELEVENLABS, ProviderConnectorInfo
from meshcore.types import OutcomeClass
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest, join_url, json_body
from meshcore.wire.classify import register_refiner
from meshcore.wire.codec_helpers import (
    get_obj,
    get_str,
    loads_any,
    make_refiner,
    opt_float,
    opt_str,
)
from meshcore.wire.models import (
    SPEECH_CONTENT_TYPES,
    CompletionRequest,
    CompletionResponse,
    ModelInfo,
    SpeechRequest,
    SpeechResponse,
)
from meshcore.wire.registry import register_family

OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
     "verse"}
)
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"
DEFAULT_VOICE_ID = "21m00Tcm4TlvDq8ikWAM"
_FORMATS = {"pcm": "pcm_24000", "opus": "opus_48000_128"}


class ElevenLabsAttempt(Attempt):
    """One text-to-speech call."""

    family = FAMILY_ELEVENLABS

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self.dropped: tuple[str, ...] = ()
        self._content_type = "audio/mpeg"

    def _voice(self, req: SpeechRequest) -> str:
        fallback = opt_str(self.ctx.options, "voice_id", DEFAULT_VOICE_ID) or DEFAULT_VOICE_ID
        if not req.voice or req.voice.lower() in OPENAI_VOICES:
            return fallback
        return req.voice

    def _output_format(self, req: SpeechRequest, dropped: list[str]) -> str:
        default = opt_str(self.ctx.options, "output_format", DEFAULT_OUTPUT_FORMAT)
        fmt = req.response_format
        if fmt in _FORMATS:
            self._content_type = SPEECH_CONTENT_TYPES[fmt]
            return _FORMATS[fmt]
        if fmt not in (None, "mp3"):
            dropped.append(f"response_format {fmt!r}")
        chosen = default or DEFAULT_OUTPUT_FORMAT
        self._content_type = "audio/pcm" if chosen.startswith("pcm") else "audio/mpeg"
        return chosen

    def build_request(self) -> HttpRequest:
        """`POST /text-to-speech/{voice_id}?output_format=...`."""
        req = self.request
        if not isinstance(req, SpeechRequest):
            raise ValueError(f"elevenlabs: unsupported operation {type(req).__name__}")
        dropped: list[str] = []
        fmt = self._output_format(req, dropped)
        options = self.ctx.options
        body = {
            "text": req.input,
            "model_id": self.ctx.wire_model,
            "voice_settings": {
                "stability": opt_float(options, "stability", 0.5),
                "similarity_boost": opt_float(options, "similarity_boost", 0.75),
            },
        }
        if req.speed is not None:
            dropped.append("speed")
        if req.instructions:
            dropped.append("instructions")
        self.dropped = tuple(dropped)
        voice = quote(self._voice(req), safe="")
        url = join_url(self.ctx.base_url,
                       f"/text-to-speech/{voice}?output_format={quote(fmt, safe='')}")
        return HttpRequest("POST", url, self.base_headers(), json_body(body))

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """The 2xx body is the audio; an empty or JSON body is malformed."""
        if not body:
            raise ValueError("empty audio body")
        ctype = dict(self.headers).get("content-type", "")
        if ctype.startswith("application/json"):
            raise ValueError("JSON body where audio was expected")
        return SpeechResponse(content=body, content_type=self._content_type)


def build_models_request(
    provider: ProviderConfig, info: ProviderConnectorInfo, api_key: str | None
) -> HttpRequest:
    """`GET {base}/models`."""
    base = (provider.base_url or info.base_url or "").rstrip("/")
    headers = [("xi-api-key", api_key)] if api_key else []
    return HttpRequest("GET", join_url(base, "/models"), headers)


def parse_models(body: bytes) -> list[ModelInfo]:
    """A JSON list of `{model_id, name}` objects as ModelInfo."""
    items = loads_any(body)
    if not isinstance(items, list):
        raise ValueError("elevenlabs models list: expected a JSON list")
    out: list[ModelInfo] = []
    for item in items:
        mid = get_str(item, "model_id")
        if mid is None:
            raise ValueError("elevenlabs models list: entry without model_id")
        out.append(ModelInfo(id=mid, name=get_str(item, "name") or mid))
    return out


def classify_refine(status: int | None, body_excerpt: str) -> OutcomeClass | None:
    """R-72 refinement: `detail.status` quota_exceeded -> quota_exhausted,
    voice_not_found -> model_not_found; None = default R-33 rules."""
    detail = get_obj(loads_any(body_excerpt) if body_excerpt else None, "detail")
    code = get_str(detail, "status") or ""
    if code in ("quota_exceeded", "payment_required"):
        return OutcomeClass.QUOTA_EXHAUSTED
    if code == "voice_not_found":
        return OutcomeClass.MODEL_NOT_FOUND
    if code in ("too_many_concurrent_requests", "system_busy"):
        return OutcomeClass.RATE_LIMITED
    return None


register_family(FAMILY_ELEVENLABS, ElevenLabsAttempt, build_models_request=build_models_request,
                parse_models=parse_models)
register_refiner(FAMILY_ELEVENLABS, make_refiner(classify_refine))
