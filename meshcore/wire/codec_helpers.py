"""Small pure helpers shared by the non-OpenAI family codecs.

Theory of operation: the Anthropic, Gemini, Cohere, ElevenLabs and AssemblyAI
codecs all need the same few defensive steps: decode a JSON body without
raising, read typed fields out of untrusted JSON (a wrong type reads as
"absent"), split `data:` URLs, normalise `stop`, turn tool-call argument
strings into objects and back, and read connector options with defaults
(durations such as `1s` or `500ms` included). Every function here is total:
untrusted input yields a value or None, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from meshcore.events import AttemptFailed
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire.classify import Classification
from meshcore.wire.hotpath import fast_loads, fast_loads_bytes

JSONObj = dict[str, Any]


def loads_obj(body: bytes | str) -> JSONObj | None:
    """Decode a JSON object; None when the body is not a JSON object."""
    try:
        if type(body) is bytes:
            value = fast_loads_bytes(body)
        else:
            value = fast_loads(body) if type(body) is str else json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def loads_any(body: bytes | str) -> Any:
    """Decode any JSON value; a sentinel-free None on failure."""
    try:
        if type(body) is bytes:
            return fast_loads_bytes(body)
        return fast_loads(body) if type(body) is str else json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    """Compact, key-order-preserving JSON bytes (`json.dumps(value,
    separators=(",", ":"), ensure_ascii=False)` without building an encoder
    per call)."""
    return _COMPACT.encode(value).encode("utf-8")


def get_obj(d: Any, key: str) -> JSONObj | None:
    """`d[key]` when `d` is a dict and the value is a dict."""
    if isinstance(d, dict):
        v = d.get(key)
        if isinstance(v, dict):
            return v
    return None


def get_list(d: Any, key: str) -> list[Any]:
    """`d[key]` when it is a list, else an empty list."""
    if isinstance(d, dict):
        v = d.get(key)
        if isinstance(v, list):
            return v
    return []


def get_str(d: Any, key: str) -> str | None:
    """`d[key]` when it is a string."""
    if isinstance(d, dict):
        v = d.get(key)
        if isinstance(v, str):
            return v
    return None


def get_int(d: Any, key: str) -> int | None:
    """`d[key]` when it is a non-negative integer (or an integral float)."""
    if isinstance(d, dict):
        v = d.get(key)
        if isinstance(v, bool):
            return None
        if isinstance(v, int) and v >= 0:
            return v
        if isinstance(v, float) and math.isfinite(v) and v >= 0 and v.is_integer():
            return int(v)
    return None


def get_num(d: Any, key: str) -> float | None:
    """`d[key]` when it is a finite number."""
    if isinstance(d, dict):
        v = d.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def parse_data_url(url: str) -> tuple[str, str] | None:
    """Split `data:<mime>;base64,<payload>` into (mime, payload); None otherwise."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    mime = head[: -len(";base64")] or "application/octet-stream"
    return mime, payload


def guess_image_mime(url: str) -> str:
    """A MIME type from a URL's file extension (image/jpeg when unknown)."""
    path = url.split("?", 1)[0].lower()
    for ext, mime in (
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
        (".heic", "image/heic"),
    ):
        if path.endswith(ext):
            return mime
    return "image/jpeg"


def stop_list(stop: str | tuple[str, ...] | None) -> list[str] | None:
    """`stop` as a list, or None when absent or empty."""
    if stop is None:
        return None
    items = [stop] if isinstance(stop, str) else list(stop)
    return items or None


def args_to_obj(arguments: str) -> Any:
    """Tool-call arguments (a JSON string) as an object; `{}` when empty,
    `{"_raw": text}` when not valid JSON."""
    if not arguments.strip():
        return {}
    value = loads_any(arguments)
    if value is None and arguments.strip() != "null":
        return {"_raw": arguments}
    return value


def obj_to_args(value: Any) -> str:
    """A tool call's input object as the OpenAI `arguments` JSON string."""
    try:
        return json.dumps(value if value is not None else {}, ensure_ascii=False)
    except (TypeError, ValueError):
        return "{}"


def b64decode(text: str) -> bytes | None:
    """Strict base64 decode; None when invalid."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def opt_float(options: dict[str, Any], key: str, default: float) -> float:
    """A numeric option, or `default` when absent or not a finite number."""
    v = options.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return default


def opt_int(options: dict[str, Any], key: str, default: int) -> int:
    """A positive integer option, or `default`."""
    v = options.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    return default


def opt_bool(options: dict[str, Any], key: str, default: bool = False) -> bool:
    """A boolean option (strings `true`/`false` accepted), or `default`."""
    v = options.get(key)
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return default


def opt_str(options: dict[str, Any], key: str, default: str | None = None) -> str | None:
    """A non-empty string option, or `default`."""
    v = options.get(key)
    if isinstance(v, str) and v:
        return v
    return default


_UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))


def opt_duration(options: dict[str, Any], key: str, default: float) -> float:
    """A duration option in seconds: a number, or a string such as `1s`,
    `500ms`, `2m`; `default` when absent or invalid."""
    v = options.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v) if math.isfinite(v) and v >= 0 else default
    if isinstance(v, str):
        text = v.strip().lower()
        for suffix, scale in _UNITS:
            if text.endswith(suffix):
                try:
                    num = float(text[: -len(suffix)])
                except ValueError:
                    continue
                if math.isfinite(num) and num >= 0:
                    return num * scale
        try:
            num = float(text)
        except ValueError:
            return default
        return num if math.isfinite(num) and num >= 0 else default
    return default


def make_refiner(
    refine: Callable[[int | None, str], OutcomeClass | None],
) -> Callable[[AttemptFailed, Classification], Classification]:
    """Adapt a family's `classify_refine(status, body_excerpt)` to the
    `classify.register_refiner` signature. Only HTTP status failures and
    in-stream error events are refined; a committed stream stays
    `stream_interrupted`."""

    def refiner(fact: AttemptFailed, result: Classification) -> Classification:
        if result.outcome is OutcomeClass.STREAM_INTERRUPTED:
            return result
        if fact.kind not in (FailureKind.HTTP_STATUS, FailureKind.STREAM_ERROR):
            return result
        status = fact.status if fact.kind is FailureKind.HTTP_STATUS else None
        refined = refine(status, fact.body_excerpt)
        if refined is None or refined is result.outcome:
            return result
        return replace(result, outcome=refined)

    return refiner
