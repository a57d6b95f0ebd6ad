"""Small shared value types of the core.

Theory of operation: these are the plain values that cross the boundary
between the router, the wire layer and the shell: the clock reading
(`Instant`), the outcome classes of SPEC R-33, token usage, rate-limit
data and the request features used by admission (R-27). They are frozen
dataclasses or string enums so that they serialise to JSON unchanged and
compare by value in replays.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from meshcore.frozen import fast_frozen


@dataclass(frozen=True, slots=True)
class Instant:
    """A clock reading: `mono` (monotonic seconds) drives durations and
    deadlines; `wall` (UTC epoch seconds) drives calendar rules."""

    mono: float
    wall: float

    def __init__(
        self,
        mono: float,
        wall: float,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays
        # interpreted); compiled, object.__setattr__ is a plain field store.
        # Pure Python: fast_frozen replaces this constructor.
        object.__setattr__(self, "mono", mono)
        object.__setattr__(self, "wall", wall)


fast_frozen(Instant)


class OutcomeClass(str, Enum):
    """The outcome classes of SPEC R-33; every attempt ends in exactly one."""

    SUCCESS = "success"
    QUOTA_EXHAUSTED = "quota_exhausted"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    CONTENT_FILTER = "content_filter"
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    TTFT_TIMEOUT = "ttft_timeout"
    CONNECTION_ERROR = "connection_error"
    STREAM_INTERRUPTED = "stream_interrupted"
    UNKNOWN = "unknown"


class FailureKind(str, Enum):
    """What the driver (or the wire layer's attempt object) observed when an
    attempt did not succeed. These are facts; the classifier turns them into
    an `OutcomeClass` (ARCHITECTURE rule 7)."""

    HTTP_STATUS = "http_status"  # a non-2xx status with a body excerpt
    TIMEOUT = "timeout"  # provider timeout before headers / complete body
    TTFT_TIMEOUT = "ttft_timeout"  # no content chunk within stream_first_chunk_timeout
    STREAM_GAP = "stream_gap"  # inter-chunk gap longer than the provider timeout
    CONNECTION = "connection"  # refused, reset, DNS, TLS, protocol error
    MALFORMED_BODY = "malformed_body"  # 2xx whose body is not valid for the family
    STREAM_ERROR = "stream_error"  # an error event inside a 2xx stream
    STREAM_INCOMPLETE = "stream_incomplete"  # stream ended without its end marker
    CONTENT_BLOCKED = "content_blocked"  # 2xx body that reports a safety block
    DEADLINE = "deadline"  # the request deadline cancelled the attempt


class Operation(str, Enum):
    """The client operation a request calls (SPEC R-105)."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"


class Purpose(str, Enum):
    """Why an attempt is sent: a user request or a recovery probe (R-50)."""

    USER = "user"
    PROBE = "probe"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one attempt. `estimated` marks values computed with the
    R-30 estimate because the provider reported none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


fast_frozen(Usage)


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """Rate-limit data parsed from response headers (SPEC R-55). Reset values
    are seconds from receipt; unknown fields are None."""

    requests_remaining: int | None = None
    requests_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_limit: int | None = None
    requests_reset_s: float | None = None
    tokens_reset_s: float | None = None


fast_frozen(RateLimitInfo)


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """What a request needs, computed by the wire layer from the request
    (ARCHITECTURE "Inputs and outputs"); used by admission (R-27), budgets
    (R-59) and cost-first selection (R-53). Holds no user content."""

    operation: Operation = Operation.CHAT
    stream: bool = False
    tools: bool = False
    vision: bool = False
    response_format: str | None = None  # None, "text", "json_object", "json_schema"
    prompt_tokens: int = 0  # the R-30 estimate
    max_tokens: int | None = None
    user: str | None = None  # the OpenAI `user` field, a session key fallback


fast_frozen(RequestFeatures)
