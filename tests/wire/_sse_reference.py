"""A deliberately plain, line-at-a-time SSE parser used as the oracle for
`meshcore.wire.sse.SSEParser` (WHATWG event-stream rules, whole input at once)."""

from __future__ import annotations

from meshcore.wire.sse import SSEEvent


def reference_events(body: bytes) -> list[SSEEvent]:
    """Every event of a complete stream, end of input included."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    lines.append(b"")  # end of input: flush a pending event
    out: list[SSEEvent] = []
    data: list[str] = []
    event = ""
    last_id: str | None = None
    retry: int | None = None
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if line == "":
            if data:
                out.append(SSEEvent(event or "message", "\n".join(data), last_id, retry))
            data, event, retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        if ":" in line:
            name, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            name, value = line, ""
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and value != "" and all("0" <= c <= "9" for c in value):
            retry = int(value)
    return out
