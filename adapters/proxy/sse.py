"""R-114: server-sent-event framing of the proxy's chat streams.

Headers go out only at commit (R-65): the proxy holds the response start until
the first deliverable chunk exists. Each chunk is one `data: <json>` event; a
complete stream ends with `data: [DONE]`; a failure after commit ends with an
`event: error` carrying the R-116 error object and no `[DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SSE_DONE", "SSE_HEADERS", "sse_data", "sse_error"]

_EVENT = b"data: %s\n\n"
_ERROR = b"event: error\ndata: %s\n\n"

SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
SSE_DONE = b"data: [DONE]\n\n"


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def sse_data(value: Any) -> bytes:
    """One `data:` event holding `value` as JSON."""
    return _EVENT % _dumps(value).encode()


def sse_error(payload: dict[str, Any]) -> bytes:
    """The after-commit `error` event (R-114)."""
    return _ERROR % _dumps(payload).encode()
