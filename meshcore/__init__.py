"""ModelMesh Lite's pure routing core (sans-IO).

`meshcore` makes every routing decision and performs no I/O: events go in
through `Router.handle(event, now)`, actions come out. See API.md section 3
and docs/architecture.md.
"""

from meshcore.actions import (
    Action,
    AttemptRecord,
    CancelAttempt,
    Commit,
    DeactivateModel,
    DeactivateProvider,
    Deliver,
    Emit,
    Fail,
    Failure,
    ReactivateModel,
    ReactivateProvider,
    SaveState,
    SendAttempt,
)
from meshcore.config import ValidationResult, load_config, validate
from meshcore.config.schema import MeshConfig
from meshcore.events import (
    ActionFailed,
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    BackgroundProbes,
    ConfigChanged,
    Event,
    ModelsDiscovered,
    OperatorCommand,
    ProviderHealthReported,
    RequestCancelled,
    RequestSubmitted,
    StateRestored,
    Tick,
)
from meshcore.log import EventLogWriter, ReplayReport, replay
from meshcore.records import RequestLogEntry, RoutingEvent, StatsFlush, TraceEntry
from meshcore.router.policy import Deactivation, Recovery, Selection, SelectionResult
from meshcore.router.router import Router
from meshcore.types import (
    FailureKind,
    Instant,
    Operation,
    OutcomeClass,
    Purpose,
    RateLimitInfo,
    RequestFeatures,
    Usage,
)

__all__ = [
    "Action",
    "ActionFailed",
    "AttemptFailed",
    "AttemptFirstChunk",
    "AttemptRecord",
    "AttemptSucceeded",
    "BackgroundProbes",
    "CancelAttempt",
    "Commit",
    "ConfigChanged",
    "DeactivateModel",
    "DeactivateProvider",
    "Deactivation",
    "Deliver",
    "Emit",
    "Event",
    "EventLogWriter",
    "Fail",
    "Failure",
    "FailureKind",
    "Instant",
    "MeshConfig",
    "ModelsDiscovered",
    "Operation",
    "OperatorCommand",
    "OutcomeClass",
    "ProviderHealthReported",
    "Purpose",
    "RateLimitInfo",
    "ReactivateModel",
    "ReactivateProvider",
    "Recovery",
    "ReplayReport",
    "RequestCancelled",
    "RequestFeatures",
    "RequestLogEntry",
    "RequestSubmitted",
    "Router",
    "RoutingEvent",
    "SaveState",
    "Selection",
    "SelectionResult",
    "SendAttempt",
    "StateRestored",
    "StatsFlush",
    "Tick",
    "TraceEntry",
    "Usage",
    "ValidationResult",
    "load_config",
    "replay",
    "validate",
]
