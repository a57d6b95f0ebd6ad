"""A small `multipart/form-data` reader for `POST /v1/audio/transcriptions`
(R-112): text fields become strings, file fields `(filename, bytes)`."""

from __future__ import annotations

from email.message import Message
from typing import Any

from adapters.proxy.errors import invalid_request

__all__ = ["boundary_of", "parse_form"]


def _params(value: str) -> tuple[str, dict[str, str]]:
    msg = Message()
    msg["content-type"] = value
    params = msg.get_params() or []
    main = params[0][0] if params else ""
    return main.lower(), {str(k).lower(): str(v) for k, v in params[1:]}


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type (400 when absent)."""
    _, params = _params(content_type)
    b = params.get("boundary")
    if not b:
        raise invalid_request("multipart body without a boundary", "Content-Type")
    return b


def _disposition(value: str) -> dict[str, str]:
    msg = Message()
    msg["content-disposition"] = value
    out: dict[str, str] = {}
    for k, v in msg.get_params(header="content-disposition") or []:
        out[str(k).lower()] = str(msg.get_param(k, header="content-disposition") or v)
    return out


def parse_form(body: bytes, boundary: str) -> dict[str, Any]:
    """Parse the parts; duplicated names keep the last value."""
    delim = b"--" + boundary.encode("latin-1")
    if delim not in body:
        raise invalid_request("malformed multipart body", "file")
    fields: dict[str, Any] = {}
    for raw in body.split(delim)[1:]:
        if raw.startswith(b"--"):
            break
        part = raw[2:] if raw.startswith(b"\r\n") else raw
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise invalid_request("malformed multipart part", "file")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disp: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disp = _disposition(value.strip())
        field = disp.get("name")
        if not field:
            continue
        if "filename" in disp:
            fields[field] = (disp["filename"] or "audio.wav", content)
        else:
            fields[field] = content.decode("utf-8", "replace")
    return fields
