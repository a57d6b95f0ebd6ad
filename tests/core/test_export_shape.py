"""The public surface of `meshcore` is frozen (API.md section 3): adding or
removing a name must be a deliberate change to this list."""

from __future__ import annotations

import meshcore

EXPECTED = {
    "Action", "ActionFailed", "AttemptFailed", "AttemptFirstChunk", "AttemptRecord",
    "AttemptSucceeded", "BackgroundProbes", "CancelAttempt", "Commit", "ConfigChanged",
    "DeactivateModel", "DeactivateProvider", "Deactivation", "Deliver", "Emit", "Event",
    "EventLogWriter", "Fail", "Failure", "FailureKind", "Instant", "MeshConfig",
    "ModelsDiscovered", "Operation", "OperatorCommand", "OutcomeClass",
    "ProviderHealthReported", "Purpose", "RateLimitInfo", "ReactivateModel",
    "ReactivateProvider", "Recovery", "ReplayReport", "RequestCancelled", "RequestFeatures",
    "RequestLogEntry", "RequestSubmitted", "Router", "RoutingEvent", "SaveState", "Selection",
    "SelectionResult", "SendAttempt", "StateRestored", "StatsFlush", "Tick", "TraceEntry",
    "Usage", "ValidationResult", "load_config", "replay", "validate",
}


def test_meshcore_all_is_frozen() -> None:
    assert set(meshcore.__all__) == EXPECTED
    for name in meshcore.__all__:
        assert hasattr(meshcore, name), name


def test_events_and_actions_are_frozen_dataclasses() -> None:
    import dataclasses

    from meshcore.actions import ACTION_TYPES
    from meshcore.events import EVENT_TYPES

    for t in (*EVENT_TYPES, *ACTION_TYPES):
        assert dataclasses.is_dataclass(t)
        assert t.__dataclass_params__.frozen, t.__name__  # type: ignore[attr-defined]


def test_api_names_exist() -> None:
    from meshcore import capabilities

    for fn in ("resolve", "tree", "list_all", "search"):
        assert callable(getattr(capabilities, fn))
    for name in ("Router", "Instant", "MeshConfig", "load_config", "validate", "replay"):
        assert name in meshcore.__all__
