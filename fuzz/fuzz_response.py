"""Atheris harness for the lean connections' HTTP/1.1 response reader.

Run: `python fuzz/fuzz_response.py` (needs the `fuzz` extra). The input's
first byte picks cut points, the rest is what a server sends. Invariants:
`adapters.respread.ResponseReader` raises nothing but
`httpcore.RemoteProtocolError` on any bytes (end of file included), a body
piece is never handed out after the response ended, and reading the same
bytes in one piece or cut into several gives the same head, the same body
bytes, the same completion and keep-alive verdict, and an error in both or
in neither.
"""

from __future__ import annotations

from typing import Any

import httpcore

from adapters.respread import ResponseReader


def _read(pieces: list[bytes]) -> tuple[Any, ...]:
    reader = ResponseReader()
    body: list[bytes] = []
    error = False
    try:
        for piece in [*pieces, b""]:  # (then end of file; bytes after the end are fed too)
            ended = reader.complete
            reader.feed(piece)
            if ended and reader.pieces:
                raise AssertionError("a body piece after the end of the response")
            body += reader.pieces
            reader.pieces = []
            if reader.failure is not None:
                error = True
                break
    except httpcore.RemoteProtocolError:
        error = True
    head = (reader.status, reader.reason, reader.version, reader.headers) if reader.head_done \
        else None
    return head, b"".join(body), reader.complete, reader.keep_alive, error


def one_input(data: bytes) -> None:
    """One fuzz case (see the module docstring)."""
    if not data:
        return
    step, payload = data[0] % 13 + 1, data[1:]
    cuts = [payload[i:i + step] for i in range(0, len(payload), step)]
    whole = _read([payload] if payload else [])
    parts = _read(cuts)
    if whole[4] != parts[4]:
        raise AssertionError(f"error in one reading only: {whole!r} vs {parts!r}")
    if not whole[4] and whole != parts:
        raise AssertionError(f"cutting changed the answer: {whole!r} vs {parts!r}")


def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":
    main()
