"""Atheris harness for the incremental SSE parser.

Run: `python fuzz/fuzz_sse.py` (needs the `fuzz` extra). Invariants checked:
the parser never raises on any bytes, and splitting the input at any point
derived from the data yields exactly the events of parsing it at once.
"""

from __future__ import annotations

from meshcore.wire.sse import SSEEvent, SSEParser


def _parse(pieces: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for piece in pieces:
        out += p.feed(piece)
    return out + p.close()


def one_input(data: bytes) -> None:
    """Check the SSE invariants on one input; raises AssertionError on a bug."""
    if not data:
        return
    step = data[0] % 7 + 1
    body = data[1:]
    whole = _parse([body])
    split = _parse([body[i:i + step] for i in range(0, len(body), step)])
    if split != whole:
        raise AssertionError(f"chunking changed the events: {whole!r} != {split!r}")
    for ev in whole:
        if not isinstance(ev.data, str) or not isinstance(ev.event, str):
            raise AssertionError("event fields must be strings")


def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":
    main()
