"""Health state machines of models and providers, as tables (rule 8).

Theory of operation: a model is `active`, `standby` or `half_open`
(R-8); a provider is `active`, `deactivated` or `half_open` (R-52). Each
machine is an enum of states, an enum of inputs and a dict from
(state, input) to the next state. The router feeds inputs and never sets a
status directly, so an impossible transition raises (a programming error).
`scripts/gen_state_docs.py` draws these tables into docs/state-machines.md
and CI checks the drawing is current.

A standby model carries one or more *reasons* at once; the reported one is
the highest in `REASON_PRECEDENCE` (R-46). `REASON_TRIGGERS` says which
recovery trigger ends each reason (R-47).
"""

from __future__ import annotations

from enum import StrEnum


class ModelStatus(StrEnum):
    ACTIVE = "active"
    STANDBY = "standby"
    HALF_OPEN = "half_open"


class ModelInput(StrEnum):
    SUCCESS = "success"  # an attempt succeeded
    FAILURE = "failure"  # a failure that leaves the model's status alone
    DEACTIVATE = "deactivate"  # a standby condition holds (threshold, quota, budget, ...)
    COOLDOWN_EXPIRED = "cooldown_expired"  # only error_threshold remained and its deadline passed
    CONDITIONS_CLEARED = "conditions_cleared"  # no standby reason holds any more
    TRIAL_SUCCESS = "trial_success"  # half-open trial or probe succeeded
    TRIAL_FAILED = "trial_failed"  # half-open trial had a counted failure
    MANUAL_ACTIVATE = "manual_activate"


MODEL_TRANSITIONS: dict[tuple[ModelStatus, ModelInput], ModelStatus] = {
    (ModelStatus.ACTIVE, ModelInput.SUCCESS): ModelStatus.ACTIVE,
    (ModelStatus.ACTIVE, ModelInput.FAILURE): ModelStatus.ACTIVE,
    (ModelStatus.ACTIVE, ModelInput.DEACTIVATE): ModelStatus.STANDBY,
    (ModelStatus.ACTIVE, ModelInput.MANUAL_ACTIVATE): ModelStatus.ACTIVE,
    (ModelStatus.STANDBY, ModelInput.DEACTIVATE): ModelStatus.STANDBY,
    (ModelStatus.STANDBY, ModelInput.FAILURE): ModelStatus.STANDBY,
    (ModelStatus.STANDBY, ModelInput.COOLDOWN_EXPIRED): ModelStatus.HALF_OPEN,
    (ModelStatus.STANDBY, ModelInput.CONDITIONS_CLEARED): ModelStatus.ACTIVE,
    (ModelStatus.STANDBY, ModelInput.TRIAL_SUCCESS): ModelStatus.ACTIVE,
    (ModelStatus.STANDBY, ModelInput.TRIAL_FAILED): ModelStatus.STANDBY,
    (ModelStatus.STANDBY, ModelInput.MANUAL_ACTIVATE): ModelStatus.ACTIVE,
    (ModelStatus.HALF_OPEN, ModelInput.TRIAL_SUCCESS): ModelStatus.ACTIVE,
    (ModelStatus.HALF_OPEN, ModelInput.SUCCESS): ModelStatus.ACTIVE,
    (ModelStatus.HALF_OPEN, ModelInput.FAILURE): ModelStatus.HALF_OPEN,
    (ModelStatus.HALF_OPEN, ModelInput.TRIAL_FAILED): ModelStatus.STANDBY,
    (ModelStatus.HALF_OPEN, ModelInput.DEACTIVATE): ModelStatus.STANDBY,
    (ModelStatus.HALF_OPEN, ModelInput.MANUAL_ACTIVATE): ModelStatus.ACTIVE,
}


class ProviderStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    HALF_OPEN = "half_open"


class ProviderInput(StrEnum):
    DEACTIVATE = "deactivate"  # auth_failure, api_outage, health_check or manual
    RECOVERY_DUE = "recovery_due"  # max_cooldown passed without background probes
    TRIAL_SUCCESS = "trial_success"  # probe or half-open trial succeeded
    TRIAL_FAILED = "trial_failed"
    MANUAL_ACTIVATE = "manual_activate"


PROVIDER_TRANSITIONS: dict[tuple[ProviderStatus, ProviderInput], ProviderStatus] = {
    (ProviderStatus.ACTIVE, ProviderInput.DEACTIVATE): ProviderStatus.DEACTIVATED,
    (ProviderStatus.ACTIVE, ProviderInput.MANUAL_ACTIVATE): ProviderStatus.ACTIVE,
    (ProviderStatus.ACTIVE, ProviderInput.TRIAL_SUCCESS): ProviderStatus.ACTIVE,
    (ProviderStatus.DEACTIVATED, ProviderInput.DEACTIVATE): ProviderStatus.DEACTIVATED,
    (ProviderStatus.DEACTIVATED, ProviderInput.RECOVERY_DUE): ProviderStatus.HALF_OPEN,
    (ProviderStatus.DEACTIVATED, ProviderInput.TRIAL_SUCCESS): ProviderStatus.ACTIVE,
    (ProviderStatus.DEACTIVATED, ProviderInput.TRIAL_FAILED): ProviderStatus.DEACTIVATED,
    (ProviderStatus.DEACTIVATED, ProviderInput.MANUAL_ACTIVATE): ProviderStatus.ACTIVE,
    (ProviderStatus.HALF_OPEN, ProviderInput.TRIAL_SUCCESS): ProviderStatus.ACTIVE,
    (ProviderStatus.HALF_OPEN, ProviderInput.TRIAL_FAILED): ProviderStatus.DEACTIVATED,
    (ProviderStatus.HALF_OPEN, ProviderInput.DEACTIVATE): ProviderStatus.DEACTIVATED,
    (ProviderStatus.HALF_OPEN, ProviderInput.MANUAL_ACTIVATE): ProviderStatus.ACTIVE,
}


class Reason(StrEnum):
    """Model standby reasons (R-8), in precedence order (R-46)."""

    MANUAL = "manual"
    MAINTENANCE_WINDOW = "maintenance_window"
    BUDGET_EXCEEDED = "budget_exceeded"
    QUOTA_EXHAUSTED = "quota_exhausted"
    ERROR_THRESHOLD = "error_threshold"
    TOKEN_LIMIT = "token_limit"
    REQUEST_LIMIT = "request_limit"


REASON_PRECEDENCE: tuple[Reason, ...] = tuple(Reason)

REASON_TRIGGERS: dict[Reason, str] = {
    Reason.MANUAL: "manual",
    Reason.MAINTENANCE_WINDOW: "maintenance_window_ended",
    Reason.BUDGET_EXCEEDED: "budget_period_reset",
    Reason.QUOTA_EXHAUSTED: "quota_reset",
    Reason.ERROR_THRESHOLD: "cooldown_expired",
    Reason.TOKEN_LIMIT: "quota_reset",
    Reason.REQUEST_LIMIT: "quota_reset",
}


class TransitionError(RuntimeError):
    """An input that the current state does not accept (a core bug)."""


def next_model_status(state: ModelStatus, inp: ModelInput) -> ModelStatus:
    """The model machine's transition function."""
    try:
        return MODEL_TRANSITIONS[(state, inp)]
    except KeyError:
        raise TransitionError(f"model: no transition from {state.value} on {inp.value}") from None


def next_provider_status(state: ProviderStatus, inp: ProviderInput) -> ProviderStatus:
    """The provider machine's transition function."""
    try:
        return PROVIDER_TRANSITIONS[(state, inp)]
    except KeyError:
        raise TransitionError(
            f"provider: no transition from {state.value} on {inp.value}"
        ) from None


def top_reason(reasons: dict[Reason, float | None]) -> Reason | None:
    """The reported reason among those that hold (R-46)."""
    for r in REASON_PRECEDENCE:
        if r in reasons:
            return r
    return None
