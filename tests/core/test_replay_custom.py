"""R-99 with custom strategies (R-17, R-54): a log recorded with a custom
selection strategy replays when the same connectors are passed to replay()."""

from __future__ import annotations

from collections.abc import Sequence

from meshcore import replay
from meshcore.log import header_line, step_line
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult
from meshcore.testing import Simulator, simple_config


class LastFirst:
    """Always picks the last candidate in pool order."""

    def select(self, candidates: Sequence[ModelSnapshot], request: SelectionRequest) -> SelectionResult:
        c = candidates[-1]
        return SelectionResult(c.model_id, c.provider_id, 1.0, "last candidate")

    def score(self, candidate: ModelSnapshot, request: SelectionRequest) -> float:
        return float(candidate.pool_index)


def test_r99_replay_with_custom_strategy() -> None:
    key = "tests.core.test_replay_custom:LastFirst"
    cfg = simple_config(strategy=key)
    from meshcore import load_config

    config = load_config(cfg, connectors={key: LastFirst})
    sim = Simulator(config, seed=3, strategies={key: LastFirst})
    for i in range(3):
        sim.submit("chat", at=float(i))
    trace = sim.run()
    assert set(trace.served_by().values()) == {"pc.c"}
    lines = [header_line(config, 3)] + [step_line(n, e, a) for n, e, a in trace.steps]
    report = replay(lines, connectors={key: LastFirst})
    assert report.ok, report.first_divergence
    # without the connector the decisions differ, and replay says so
    assert not replay(lines).ok
