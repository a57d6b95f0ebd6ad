"""Custom Deactivation and Recovery replace the defaults (SPEC R-43, R-54),
end to end through the `Simulator` with `Router(..., strategies=...)`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.actions import DeactivateModel, ReactivateModel
from meshcore.events import OperatorCommand
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult
from meshcore.router.router import Router
from meshcore.testing import DEFAULT_WALL, ScriptedProviders, Simulator, simple_config


class Policy:
    """Selection (first candidate) + Deactivation + Recovery, all scripted."""

    def __init__(self, threshold: int = 1, reason: Any = "quota_exhausted",
                 schedule: Sequence[float | None] = (), recover: Sequence[bool] = ()) -> None:
        self.threshold = threshold
        self.reason = reason
        self.schedule = list(schedule)  # mono offsets (None = latch), last repeats
        self.recover = list(recover)  # answers of should_recover, last repeats
        self.deact_snaps: list[ModelSnapshot] = []
        self.recover_snaps: list[ModelSnapshot] = []
        self.schedule_snaps: list[ModelSnapshot] = []

    def select(self, candidates: Sequence[ModelSnapshot],
               request: SelectionRequest) -> SelectionResult:
        c = candidates[0]
        return SelectionResult(c.model_id, c.provider_id, 1.0, "first")

    def score(self, candidate: ModelSnapshot, request: SelectionRequest) -> float:
        return 0.0

    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        self.deact_snaps.append(snapshot)
        return snapshot.failure_count >= self.threshold

    def get_reason(self, snapshot: ModelSnapshot) -> Any:
        return self.reason

    def should_recover(self, snapshot: ModelSnapshot) -> bool:
        self.recover_snaps.append(snapshot)
        i = min(len(self.recover_snaps), len(self.recover)) - 1
        return self.recover[i] if self.recover else True

    def get_recovery_schedule(self, snapshot: ModelSnapshot) -> float | None:
        self.schedule_snaps.append(snapshot)
        i = min(len(self.schedule_snaps), len(self.schedule)) - 1
        off = self.schedule[i] if self.schedule else 5.0
        return None if off is None else DEFAULT_WALL + off


class SelectOnly:
    """Selection only: the default deactivation and recovery stay."""

    def select(self, candidates: Sequence[ModelSnapshot],
               request: SelectionRequest) -> SelectionResult:
        c = candidates[0]
        return SelectionResult(c.model_id, c.provider_id, 1.0, "first")


def sim_with(impl: object, scripts: dict[str, Any], **pool: Any) -> Simulator:
    cfg = simple_config(["a", "b"], strategy_instance=impl,
                        retry={"max_attempts": 1}, **pool)
    sim = Simulator(cfg, ScriptedProviders(scripts))
    sim.router = Router(sim.config, 0, strategies={"pool:chat": impl})
    return sim


def deactivations(sim: Simulator, model: str = "pa.a") -> list[tuple[float, DeactivateModel]]:
    return [(now.mono, a) for now, _, acts in sim.trace.steps for a in acts
            if isinstance(a, DeactivateModel) and a.model_id == model]


def reactivations(sim: Simulator, model: str = "pa.a") -> list[tuple[float, ReactivateModel]]:
    return [(now.mono, a) for now, _, acts in sim.trace.steps for a in acts
            if isinstance(a, ReactivateModel) and a.model_id == model]


def test_custom_deactivation_replaces_retry_limit_r54() -> None:
    """R-54: deactivation after the first counted failure with the reason the
    policy names, although `retry_limit` (3) is not reached."""
    pol = Policy(threshold=1, reason="quota_exhausted")
    sim = sim_with(pol, {"pa.a": "503"})
    sim.submit("chat", at=0.0)
    sim.run(until=1.0)
    got = deactivations(sim)
    assert [a.reason for _, a in got] == ["quota_exhausted"]
    snaps = [s for s in pol.deact_snaps if s.model_id == "pa.a"]
    # asked before the selection (R-43: no failure yet) and after the outcome
    assert [s.failure_count for s in snaps] == [0, 1]
    assert snaps[-1].status == "active" and snaps[-1].pool_index == 0
    assert sim.trace.served_by() == {"req-1": "pb.b"}  # the request rotated


def test_custom_deactivation_false_keeps_model_active_r54() -> None:
    """R-54: a policy that never deactivates overrides the retry_limit default,
    which would have ejected the model after 3 failures."""
    pol = Policy(threshold=10**6)
    sim = sim_with(pol, {"pa.a": "503"})
    for i in range(5):
        sim.submit("chat", at=float(i))
    sim.run(until=10.0)
    assert deactivations(sim) == []
    assert sim.router.models["pa.a"].failure_count == 5
    # consulted after every attempt outcome (5 failures on a, 5 successes on b)
    # and, for every active member, before each of the 10 selections
    assert [s.model_id for s in pol.deact_snaps].count("pa.a") == 5 + 10
    assert [s.model_id for s in pol.deact_snaps].count("pb.b") == 5 + 10
    # the default still applies without Deactivation methods
    sim2 = sim_with(SelectOnly(), {"pa.a": "503"})
    for i in range(5):
        sim2.submit("chat", at=float(i))
    sim2.run(until=10.0)
    assert [a.reason for _, a in deactivations(sim2)] == ["error_threshold"]


def test_invalid_reason_becomes_error_threshold_r54() -> None:
    for bad in ("not-a-reason", None, 42):
        sim = sim_with(Policy(threshold=1, reason=bad), {"pa.a": "503"})
        sim.submit("chat", at=0.0)
        sim.run(until=1.0)
        assert [a.reason for _, a in deactivations(sim)] == ["error_threshold"], bad


class ServedOnce(Policy):
    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        self.deact_snaps.append(snapshot)
        return snapshot.tokens_period >= 1  # settled before the outcome is judged


def test_consulted_after_success_too_r43() -> None:
    """R-43: evaluated after every attempt outcome, successes included."""
    pol = ServedOnce(reason="request_limit")  # deactivate once a request was served
    sim = sim_with(pol, {})
    sim.submit("chat", at=0.0)
    sim.run(until=1.0)
    assert [a.reason for _, a in deactivations(sim)] == ["request_limit"]
    assert sim.trace.served_by() == {"req-1": "pa.a"}


def test_recovery_schedule_and_should_recover_r54() -> None:
    """R-54: the standby deadline comes from get_recovery_schedule (7 s instead
    of the 60 s cooldown); at the deadline should_recover is asked, False
    re-schedules (20 s), True lets the model leave standby (half_open)."""
    pol = Policy(threshold=1, reason="error_threshold", schedule=[7.0, 20.0],
                 recover=[False, True])
    sim = sim_with(pol, {"pa.a": "503"})
    sim.submit("chat", at=0.0)
    sim.run(until=100.0)
    (_, deact), = deactivations(sim)
    assert deact.until_wall == DEFAULT_WALL + 7.0
    assert [round(s.standby_until or 0, 3) for s in pol.recover_snaps] == [
        DEFAULT_WALL + 7.0, DEFAULT_WALL + 20.0]
    assert all(s.status == "standby" for s in pol.recover_snaps)
    (at, react), = reactivations(sim)
    assert 20.0 <= at < 21.0 and react.status == "half_open"


def test_recovery_schedule_none_latches_until_manual_r54() -> None:
    """R-43: `None` = only a manual command (or a probe) brings it back."""
    pol = Policy(threshold=1, reason="error_threshold", schedule=[None])
    sim = sim_with(pol, {"pa.a": "503"})
    sim.submit("chat", at=0.0)
    sim.run(until=3600.0)
    assert reactivations(sim) == [] and pol.recover_snaps == []
    assert sim.router.models["pa.a"].status.value == "standby"
    sim.inject(OperatorCommand("activate", "pa.a"), at=3600.0)
    sim.run(until=3601.0)
    assert [a.trigger for _, a in reactivations(sim)] == ["manual"]


def test_failing_recovery_hooks_keep_routing_r54() -> None:
    """User code that raises never breaks routing: the built-in deadline
    stays (60 s cooldown) and the model recovers at it."""

    class Broken(Policy):
        def get_recovery_schedule(self, snapshot: ModelSnapshot) -> float | None:
            raise RuntimeError("boom")

        def should_recover(self, snapshot: ModelSnapshot) -> bool:
            raise RuntimeError("boom")

    sim = sim_with(Broken(threshold=1, reason="error_threshold"), {"pa.a": "503"})
    sim.submit("chat", at=0.0)
    sim.run(until=200.0)
    (at, react), = reactivations(sim)
    assert 60.0 <= at < 61.0 and react.status == "half_open"


@settings(max_examples=15, deadline=None)
@given(threshold=st.integers(1, 4), failures=st.integers(0, 6))
def test_deactivates_exactly_at_policy_threshold_r54(threshold: int, failures: int) -> None:
    """Property: the model is deactivated iff the policy's threshold is reached,
    whatever `retry_limit` says."""
    sim = sim_with(Policy(threshold=threshold, reason="error_threshold", schedule=[None]),
                   {"pa.a": "503"}, rotation={"deactivation": {"retry_limit": 2}})
    for i in range(failures):
        sim.submit("chat", at=float(i))
    sim.run(until=float(failures) + 1.0)
    assert bool(deactivations(sim)) is (failures >= threshold)


class Veto(Policy):
    """Deactivates the models named in `vetoed`, a set the test changes
    between requests (no attempt outcome in between)."""

    def __init__(self) -> None:
        super().__init__(reason="manual", schedule=(None,))
        self.vetoed: set[str] = set()

    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        self.deact_snaps.append(snapshot)
        return snapshot.model_id in self.vetoed


def test_r43_custom_deactivation_is_asked_before_every_selection() -> None:
    """R-43: the Deactivation is evaluated before every selection too: a veto
    given between two requests keeps the second one off that model."""
    policy = Veto()
    sim = sim_with(policy, {})
    sim.submit("chat", at=0.0)
    sim.run(until=1.0)
    assert sim.trace.served_by()["req-1"] == "pa.a"
    policy.vetoed.add("pa.a")
    sim.submit("chat", at=2.0)
    trace = sim.run()
    assert trace.served_by()["req-2"] == "pb.b"
    deact = [a for a in trace.actions(DeactivateModel) if a.model_id == "pa.a"]
    assert [d.reason for d in deact] == ["manual"]
