"""ModelMesh Lite's imperative shell: clients, drivers and connectors.

`create()` / `create_async()` build a `MeshClient` / `AsyncMeshClient`
(API.md section 1); the public errors of `meshcore.errors` and the response
types of the wire layer are re-exported here (API.md section 2).
"""

from adapters.client import (
    AsyncMeshClient,
    AsyncStream,
    MeshClient,
    ModelStatus,
    PoolStatus,
    Stream,
    create,
    create_async,
)
from adapters.namespaces import SpeechResult
from meshcore.errors import (
    AllProvidersExhaustedError,
    AuthenticationError,
    BudgetExceededError,
    CapabilityNotFoundError,
    ConfigurationError,
    ModelMeshError,
    NoActiveModelError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RoutingError,
    SessionModelUnavailableError,
    StreamInterruptedError,
    UnknownPoolError,
)
from meshcore.wire.models import (
    ChatCompletion,
    ChatCompletionChunk,
    CreateEmbeddingResponse,
    ImagesResponse,
    Model,
    ModelList,
    SpeechResponse,
    Transcription,
)

__all__ = [
    "AllProvidersExhaustedError",
    "AsyncMeshClient",
    "AsyncStream",
    "AuthenticationError",
    "BudgetExceededError",
    "CapabilityNotFoundError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ConfigurationError",
    "CreateEmbeddingResponse",
    "ImagesResponse",
    "MeshClient",
    "Model",
    "ModelList",
    "ModelMeshError",
    "ModelStatus",
    "NoActiveModelError",
    "PoolStatus",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RoutingError",
    "SessionModelUnavailableError",
    "SpeechResponse",
    "SpeechResult",
    "Stream",
    "StreamInterruptedError",
    "Transcription",
    "UnknownPoolError",
    "create",
    "create_async",
]
