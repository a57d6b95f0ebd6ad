"""The OpenAI-shaped namespaces shared by `MeshClient` and `AsyncMeshClient`.

Each namespace method only turns the OpenAI keyword arguments into the
plain dict the wire layer parses, splits off the ModelMesh per-call keywords
(`session_id`, `timeout`, `metadata`, SPEC R-105) and hands both to the
client's `_call(operation, data, options)`. The sync client returns the
result, the async client an awaitable of it, so one set of namespaces
serves both (API.md section 1).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from meshcore.frozen import fast_frozen
from meshcore.types import Operation
from meshcore.wire.models import Model, ModelList, SpeechResponse

__all__ = [
    "Audio",
    "CallOptions",
    "Chat",
    "Completions",
    "Embeddings",
    "Images",
    "Models",
    "Speech",
    "SpeechResult",
    "Transcriptions",
]


class SpeechResult(SpeechResponse):
    """Synthesised audio (bytes-like, `.content`) that can be written to a file."""

    __slots__ = ()

    def stream_to_file(self, file: str | os.PathLike[str]) -> None:
        """Write the audio bytes to `file` (created or truncated)."""
        Path(file).write_bytes(self.content)

    def write_to_file(self, file: str | os.PathLike[str]) -> None:
        """Alias of `stream_to_file`."""
        self.stream_to_file(file)


@fast_frozen
@dataclass(frozen=True, slots=True)
class CallOptions:
    """The ModelMesh per-call keywords (R-105)."""

    session_id: str | None = None
    timeout: float | None = None
    metadata: dict[str, Any] | None = None


class _Caller(Protocol):
    def _call(self, operation: Operation, data: dict[str, Any], options: CallOptions) -> Any: ...

    def _pool_names(self) -> list[str]: ...


def _split(params: dict[str, Any]) -> tuple[dict[str, Any], CallOptions]:
    session_id = params.pop("session_id", None)
    timeout = params.pop("timeout", None)
    metadata = params.pop("metadata", None)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise TypeError("timeout must be a number of seconds")
    data = {k: v for k, v in params.items() if v is not None}
    return data, CallOptions(session_id, None if timeout is None else float(timeout),
                             dict(metadata) if metadata else None)


_NO_OPTIONS = CallOptions()


def _split_pair(first: str, a: Any, second: str, b: Any,
                params: dict[str, Any]) -> tuple[dict[str, Any], CallOptions]:
    """`_split({first: a, second: b, **params})`, shortcut for the common call
    without further keywords (and no None among the two values): the data
    is the two values and the options are the defaults (a frozen instance,
    equal to what `_split` builds; proven equal by the tests)."""
    if params or a is None or b is None:
        return _split({first: a, second: b, **params})
    return {first: a, second: b}, _NO_OPTIONS


class Completions:
    """`chat.completions`."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def create(self, *, model: str, messages: list[Any], **params: Any) -> Any:
        """Chat completion (R-105); `stream=True` gives an iterator of chunks."""
        data, opts = _split_pair("model", model, "messages", messages, params)
        return self._client._call(Operation.CHAT, data, opts)


class Chat:
    """`chat` namespace."""

    def __init__(self, client: _Caller) -> None:
        self.completions = Completions(client)


class Embeddings:
    """`embeddings` namespace."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def create(self, *, model: str, input: str | list[str], **params: Any) -> Any:
        """Embeddings of `input` (R-105)."""
        data, opts = _split_pair("model", model, "input", input, params)
        return self._client._call(Operation.EMBEDDINGS, data, opts)


class Images:
    """`images` namespace."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def generate(self, *, model: str, prompt: str, **params: Any) -> Any:
        """Image generation (R-105)."""
        data, opts = _split({"model": model, "prompt": prompt, **params})
        return self._client._call(Operation.IMAGES, data, opts)


class Speech:
    """`audio.speech` namespace."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def create(self, *, model: str, input: str, voice: str = "alloy",
               **params: Any) -> Any:
        """Text to speech; the result has `.content` and `stream_to_file()`."""
        data, opts = _split({"model": model, "input": input, "voice": voice, **params})
        return self._client._call(Operation.SPEECH, data, opts)


def _read_file(file: Any) -> Any:
    """A binary file object becomes `(name, bytes)`; bytes and pairs pass."""
    if isinstance(file, (bytes, bytearray, memoryview, tuple, list)):
        return file
    read = getattr(file, "read", None)
    if read is None:
        raise TypeError("file must be a binary file, bytes, or (name, bytes)")
    content = read()
    if isinstance(content, str):
        raise TypeError("file must be opened in binary mode")
    name = os.path.basename(str(getattr(file, "name", "") or "audio.wav"))
    return (name, bytes(content))


class Transcriptions:
    """`audio.transcriptions` namespace."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def create(self, *, model: str, file: Any, **params: Any) -> Any:
        """Speech to text; returns a `Transcription`."""
        data, opts = _split({"model": model, "file": _read_file(file), **params})
        return self._client._call(Operation.TRANSCRIPTION, data, opts)


class Audio:
    """`audio` namespace."""

    def __init__(self, client: _Caller) -> None:
        self.speech = Speech(client)
        self.transcriptions = Transcriptions(client)


class Models:
    """`models` namespace: the pools as OpenAI model objects."""

    def __init__(self, client: _Caller) -> None:
        self._client = client

    def list(self) -> ModelList:
        """The pools (`id` = pool name, `owned_by: modelmesh`)."""
        return ModelList(data=tuple(Model(id=name) for name in self._client._pool_names()))
