"""AssemblyAI transcription codec: a multi-step attempt (SPEC R-74, R-76).

Theory of operation: one attempt is a little plan run through successive
`next_request()` calls: (1) `POST /upload` with the audio bytes, whose answer
holds `upload_url`; (2) `POST /transcript` with that URL and the options
(`language_code` from the request, else `language_detection`;
`speaker_labels`; the model name as `speech_model` when it is an AssemblyAI
speech model); (3) `GET /transcript/{id}` repeated, each after `delay_s` =
option `poll_interval` (default 1 s), until the status is `completed` (the
text and `audio_duration` become a Transcription) or `error` (a failure the
classifier reads as server_error). The driver sleeps, never this object;
the attempt timeout bounds the whole plan. Auth is `Authorization: <key>`
without a scheme. Any step's non-2xx status ends the attempt through the
base class.
"""

from __future__ import annotations

from urllib.parse import quote

from meshcore.connectors import FAMILY_ASSEMBLYAI
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest, join_url, json_body
from meshcore.wire.classify import register_refiner
from meshcore.wire.codec_helpers import (
    get_num,
    get_str,
    loads_any,
    loads_obj,
    make_refiner,
    opt_bool,
    opt_duration,
)
from meshcore.wire.models import (
    CompletionRequest,
    CompletionResponse,
    Transcription,
    TranscriptionRequest,
)
from meshcore.wire.registry import register_family

SPEECH_MODELS = frozenset({"best", "nano", "slam-1", "universal"})
_UPLOAD, _CREATE, _POLL = "upload", "create", "poll"


class AssemblyAIAttempt(Attempt):
    """Upload, create, poll: one transcription attempt."""

    family = FAMILY_ASSEMBLYAI

    def __init__(self, request: CompletionRequest, ctx: AttemptContext) -> None:
        super().__init__(request, ctx)
        self.dropped: tuple[str, ...] = ()
        self._step = _UPLOAD
        self._upload_url: str | None = None
        self._transcript_id: str | None = None
        self.polls = 0

    def _headers(self, content_type: str | None) -> list[tuple[str, str]]:
        return self.base_headers(content_type)

    def build_next(self) -> HttpRequest | None:
        """The request of the current step (None when finished)."""
        req = self.request
        if not isinstance(req, TranscriptionRequest):
            raise ValueError(f"assemblyai: unsupported operation {type(req).__name__}")
        base = self.ctx.base_url
        if self._step == _UPLOAD:
            return HttpRequest("POST", join_url(base, "/upload"),
                               self._headers("application/octet-stream"), req.file)
        if self._step == _CREATE:
            return HttpRequest("POST", join_url(base, "/transcript"),
                               self._headers("application/json"), json_body(self._create(req)))
        tid = quote(self._transcript_id or "", safe="")
        self.polls += 1
        return HttpRequest("GET", join_url(base, f"/transcript/{tid}"), self._headers(None),
                           delay_s=opt_duration(self.ctx.options, "poll_interval", 1.0))

    def _create(self, req: TranscriptionRequest) -> dict[str, object]:
        options = self.ctx.options
        body: dict[str, object] = {"audio_url": self._upload_url}
        if req.language:
            body["language_code"] = req.language
        elif opt_bool(options, "language_detection"):
            body["language_detection"] = True
        if opt_bool(options, "speaker_labels"):
            body["speaker_labels"] = True
        if self.ctx.wire_model in SPEECH_MODELS:
            body["speech_model"] = self.ctx.wire_model
        dropped = [n for n in ("prompt", "temperature", "response_format")
                   if getattr(req, n) is not None]
        self.dropped = tuple(dropped)
        return body

    def parse_body(self, body: bytes) -> CompletionResponse | None:
        """Advance the plan; a Transcription once the transcript is completed."""
        obj = loads_obj(body)
        if obj is None:
            raise ValueError("body is not a JSON object")
        if self._step == _UPLOAD:
            url = get_str(obj, "upload_url")
            if not url:
                raise ValueError("upload answer without upload_url")
            self._upload_url, self._step = url, _CREATE
            return None
        if self._step == _CREATE:
            tid = get_str(obj, "id")
            if not tid:
                raise ValueError("transcript answer without id")
            self._transcript_id, self._step = tid, _POLL
        status = get_str(obj, "status")
        if status == "completed":
            text = get_str(obj, "text")
            if text is None:
                raise ValueError("completed transcript without text")
            duration = get_num(obj, "audio_duration")
            return Transcription(text=text, language=get_str(obj, "language_code"),
                                 duration=duration)
        if status == "error":
            message = get_str(obj, "error") or "transcription failed"
            self._set_failure(FailureKind.MALFORMED_BODY, f"transcript error: {message}")
            return None
        if status in ("queued", "processing"):
            return None
        raise ValueError(f"unknown transcript status {status!r}")


def classify_refine(status: int | None, body_excerpt: str) -> OutcomeClass | None:
    """R-72 refinement: a 2xx transcript in status `error` is server_error;
    None = default R-33 rules."""
    obj = loads_any(body_excerpt) if body_excerpt else None
    if status is not None and 200 <= status < 300 and get_str(obj, "status") == "error":
        return OutcomeClass.SERVER_ERROR
    return None


register_family(FAMILY_ASSEMBLYAI, AssemblyAIAttempt)
register_refiner(FAMILY_ASSEMBLYAI, make_refiner(classify_refine))
