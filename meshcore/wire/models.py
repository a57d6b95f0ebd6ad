"""The unified model of the wire layer: one import point.

Theory of operation: the request and response classes are defined in
`models_chat` (chat) and `models_other` (embeddings, images, audio, model
lists and the R-71/R-72 value types) and re-exported here. The R-71 names
`CompletionRequest` and `CompletionResponse` are the unions of every
request and every result type that travel through one attempt (R-71: the
operation is the request's type); `parse_request(operation, data)` turns a
user's plain dict into the matching request type.
"""

from __future__ import annotations

from typing import Any

from meshcore.types import Operation
from meshcore.wire.models_base import WireModel, dump_value
from meshcore.wire.models_chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChoiceDelta,
    ChoiceDeltaFunction,
    ChoiceDeltaToolCall,
    ChunkChoice,
    CompletionUsage,
    ContentPart,
    FunctionCall,
    FunctionDefinition,
    ImageURL,
    ResponseFormat,
    StreamOptions,
    Tool,
    ToolCall,
    parse_chat_request,
    parse_message,
)
from meshcore.wire.models_other import (
    SPEECH_CONTENT_TYPES,
    AudioRequest,
    AudioResponse,
    CreateEmbeddingResponse,
    Embedding,
    EmbeddingRequest,
    EmbeddingUsage,
    ErrorClassification,
    Image,
    ImageRequest,
    ImagesResponse,
    Model,
    ModelInfo,
    ModelList,
    ModelPricing,
    QuotaStatus,
    RateLimitStatus,
    SpeechRequest,
    SpeechResponse,
    Transcription,
    TranscriptionRequest,
    audio_request_of,
    audio_response_of,
)

CompletionRequest = (
    ChatCompletionRequest | EmbeddingRequest | ImageRequest | SpeechRequest | TranscriptionRequest
)
"""R-71: any request that travels through one attempt."""

CompletionResponse = (
    ChatCompletion | CreateEmbeddingResponse | ImagesResponse | SpeechResponse | Transcription
)
"""R-71: any non-streamed result of one attempt."""

_PARSERS: dict[Operation, Any] = {
    Operation.CHAT: parse_chat_request,
    Operation.EMBEDDINGS: EmbeddingRequest.from_dict,
    Operation.IMAGES: ImageRequest.from_dict,
    Operation.SPEECH: SpeechRequest.from_dict,
    Operation.TRANSCRIPTION: TranscriptionRequest.from_dict,
}


def parse_request(operation: Operation | str, data: dict[str, Any]) -> CompletionRequest:
    """Parse a user's kwargs / JSON body for `operation`; raises ValueError
    naming the first bad field."""
    request: CompletionRequest = _PARSERS[Operation(operation)](data)
    return request


def operation_of(request: CompletionRequest) -> Operation:
    """The operation a request calls."""
    if isinstance(request, ChatCompletionRequest):
        return Operation.CHAT
    if isinstance(request, EmbeddingRequest):
        return Operation.EMBEDDINGS
    if isinstance(request, ImageRequest):
        return Operation.IMAGES
    if isinstance(request, SpeechRequest):
        return Operation.SPEECH
    return Operation.TRANSCRIPTION


__all__ = [
    "SPEECH_CONTENT_TYPES",
    "AudioRequest",
    "AudioResponse",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionRequest",
    "ChatMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunction",
    "ChoiceDeltaToolCall",
    "ChunkChoice",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionUsage",
    "ContentPart",
    "CreateEmbeddingResponse",
    "Embedding",
    "EmbeddingRequest",
    "EmbeddingUsage",
    "ErrorClassification",
    "FunctionCall",
    "FunctionDefinition",
    "Image",
    "ImageRequest",
    "ImageURL",
    "ImagesResponse",
    "Model",
    "ModelInfo",
    "ModelList",
    "ModelPricing",
    "QuotaStatus",
    "RateLimitStatus",
    "ResponseFormat",
    "SpeechRequest",
    "SpeechResponse",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "Transcription",
    "TranscriptionRequest",
    "WireModel",
    "audio_request_of",
    "audio_response_of",
    "dump_value",
    "operation_of",
    "parse_chat_request",
    "parse_message",
    "parse_request",
]
