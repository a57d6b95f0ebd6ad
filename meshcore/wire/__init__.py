"""The wire layer: pure translation between the unified OpenAI-shaped model
and each provider family's HTTP format.

Theory of operation: `models` defines the unified request and response types;
`sse` parses event streams incrementally; `attempt` is the per-attempt sans-IO
object that builds HTTP requests and turns status, headers and body bytes into
user output and one fact for the router; `registry` maps wire families to
codecs (`start_attempt`); `classify` turns failure facts into R-33 outcome
classes; `ratelimit` parses rate-limit and Retry-After headers; `tokens`
estimates prompt tokens and request features. Nothing here performs I/O.
"""

from __future__ import annotations

from meshcore.wire.attempt import Attempt, AttemptContext, ContentBlocked, HttpRequest
from meshcore.wire.models import *  # noqa: F403
from meshcore.wire.models import __all__ as _models_all
from meshcore.wire.ratelimit import parse_duration_header, parse_rate_limits, retry_after_seconds
from meshcore.wire.registry import (
    build_models_request,
    parse_models_response,
    register_connector,
    register_family,
    start_attempt,
)
from meshcore.wire.sse import SSEEvent, SSEParser
from meshcore.wire.tokens import estimate_tokens, features_of

__all__ = [
    *_models_all,
    "Attempt",
    "AttemptContext",
    "ContentBlocked",
    "HttpRequest",
    "SSEEvent",
    "SSEParser",
    "build_models_request",
    "estimate_tokens",
    "features_of",
    "parse_duration_header",
    "parse_models_response",
    "parse_rate_limits",
    "register_connector",
    "register_family",
    "retry_after_seconds",
    "start_attempt",
]
