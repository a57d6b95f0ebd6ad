"""Record the golden event logs under tests/replay/ (SPEC R-99, R-110).

Each scenario is a small scripted simulation of a representative routing
story. Its event log (header + one line per step, exactly as
`meshcore.log.EventLogWriter` writes it) is committed as `<name>.jsonl`;
`test_golden.py` replays every log with `meshcore.log.replay` and fails on
the first step whose actions differ. A failing golden log means the
router's decisions changed: review the divergence, and if the change is
intended regenerate with

    .venv/bin/python tests/replay/make_golden.py

and commit the new logs together with the change.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshcore.events import OperatorCommand  # noqa: E402
from meshcore.log import header_line, step_line  # noqa: E402
from meshcore.testing import ScriptedProviders, Simulator, simple_config  # noqa: E402
from meshcore.types import RequestFeatures  # noqa: E402

# A sink that takes the request log: with it the router emits one
# `RequestLogEntry` per finished request; the scenarios without one
# pin that no record is built when no sink would read it.
LOG_SINK = [{"connector": "modelmesh.console.v1", "streams": ["logs"]}]


def failover() -> Simulator:
    """R-34/R-39: 503 retried on the same model, then rotation; auth failure
    deactivates a provider (R-52)."""
    cfg = simple_config(["a", "b", "c"], retry={"max_attempts": 2, "backoff": "fixed",
                                                 "initial_delay": "500ms"})
    cfg["observability"] = LOG_SINK  # request-log records are part of this log
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "503, 503, 200", "pb.b": "401"}), seed=11)
    for i in range(4):
        sim.submit("chat", at=float(i))
    return sim


def cooldown_recovery() -> Simulator:
    """R-44/R-48/R-49: threshold ejection, grown cooldown, half-open trial
    failure, then recovery."""
    cfg = simple_config(["a", "b"], retry={"max_attempts": 1},
                        deactivation={"retry_limit": 2},
                        recovery={"cooldown": "10s", "backoff_multiplier": 2,
                                  "max_cooldown": "60s"},
                        model_priority=["pa.a"], strategy="priority")
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "500, 500, 500, 200"}), seed=12)
    for t in (0.0, 1.0, 2.0, 12.0, 20.0, 40.0, 45.0):
        sim.submit("chat", at=t)
    return sim


def budgets() -> Simulator:
    """R-59/R-62/R-63: a per-model budget with rotate, request_limit chaining."""
    cfg = simple_config(["a", "b", "c"], on_budget_exceeded="rotate",
                        deactivation={"budget_limit": {"pa.a": 0.0001},
                                      "request_limit": {"pb.b": 2}},
                        recovery={"quota_reset_schedule": "daily"})
    for m in cfg["models"].values():
        m["pricing"] = {"input_per_1m": 1.0, "output_per_1m": 1.0}
    cfg["observability"] = LOG_SINK
    sim = Simulator(cfg, seed=13)
    for i in range(6):
        sim.submit("chat", at=float(i),
                   features=RequestFeatures(prompt_tokens=20, max_tokens=40))
    return sim


def streaming_interrupt() -> Simulator:
    """R-65..R-69: pre-commit failure fails over, post-commit cut is final."""
    cfg = simple_config(["a", "b"], retry={"max_attempts": 1})
    cfg["observability"] = LOG_SINK
    sim = Simulator(cfg, ScriptedProviders({"pa.a": "503, cut, 200", "pb.b": "200"}), seed=14)
    for i in range(3):
        sim.submit("chat", at=float(i), stream=True)
    return sim


def round_robin() -> Simulator:
    """R-53 round-robin with a manual deactivation and activation (R-51)."""
    sim = Simulator(simple_config(["a", "b", "c"], strategy="round-robin"), seed=15)
    sim.inject(OperatorCommand("deactivate", "pb.b"), at=2.5)
    sim.inject(OperatorCommand("activate", "pb.b"), at=6.5)
    for i in range(9):
        sim.submit("chat", at=float(i))
    return sim


def session_stickiness() -> Simulator:
    """R-53 session-stickiness: rendezvous assignment, fallback on failure."""
    cfg = simple_config(["a", "b", "c"], strategy="session-stickiness",
                        retry={"max_attempts": 1}, deactivation={"retry_limit": 1})
    sim = Simulator(cfg, ScriptedProviders({"pb.b": "200, 500, 200"}), seed=16)
    for i in range(10):
        sim.submit("chat", at=float(i), session_id=f"user-{i % 3}")
    return sim


SCENARIOS: dict[str, Callable[[], Simulator]] = {
    "failover": failover,
    "cooldown_recovery": cooldown_recovery,
    "budgets": budgets,
    "streaming_interrupt": streaming_interrupt,
    "round_robin": round_robin,
    "session_stickiness": session_stickiness,
}


def record(name: str) -> list[str]:
    """Run one scenario and return its event-log lines."""
    sim = SCENARIOS[name]()
    trace = sim.run()
    lines = [header_line(sim.config, sim.router.seed)]
    lines.extend(step_line(now, event, actions) for now, event, actions in trace.steps)
    return lines


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv else None) or list(SCENARIOS)
    for name in names:
        lines = record(name)
        (HERE / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{name}: {len(lines) - 1} steps")
    return 0




if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
