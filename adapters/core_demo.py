"""`modelmesh demo` (core simulation): route requests through a pool of
three scripted models with virtual time, print each request's serving model
and every routing decision with its reason, the explain() answer, and check
that the recorded event log replays to the same decisions."""

from __future__ import annotations

import json
from typing import Any, TextIO

from meshcore import Deliver, Emit, Fail, RoutingEvent, replay
from meshcore.log import header_line, step_line
from meshcore.testing import ScriptedProviders, Simulator, Step

DEMO_CONFIG: dict[str, Any] = {
    "providers": {
        "flaky": {"connector": "openai.compatible.v1", "base_url": "http://127.0.0.1:9/v1"},
        "slow": {"connector": "openai.compatible.v1", "base_url": "http://127.0.0.1:9/v1"},
        "healthy": {"connector": "openai.compatible.v1", "base_url": "http://127.0.0.1:9/v1"},
    },
    "models": {
        "flaky.model-a": {"provider": "flaky", "name": "model-a",
                          "capabilities": ["chat-completion"]},
        "slow.model-b": {"provider": "slow", "name": "model-b",
                         "capabilities": ["chat-completion"]},
        "healthy.model-c": {"provider": "healthy", "name": "model-c",
                            "capabilities": ["chat-completion"]},
    },
    "pools": {
        "chat": {
            "models": ["flaky.model-a", "slow.model-b", "healthy.model-c"],
            "strategy": "stick-until-failure",
            "retry": {"max_attempts": 2, "initial_delay": "200ms"},
            "deactivation": {"retry_limit": 2},
            "recovery": {"cooldown": "20s"},
        }
    },
}


def run_core_demo(requests: int, out: TextIO, seed: int = 7) -> int:
    flaky = [Step(status=503, retry_after=1.0, headers=(("retry-after", "1"),))] * 3 + [Step()]
    providers = ScriptedProviders({
        "flaky.model-a": flaky,
        "slow.model-b": [Step(latency=2.5), Step(status=0, silent=True), Step(latency=2.5)],
    })
    sim = Simulator(DEMO_CONFIG, providers, seed=seed)
    for i in range(requests):
        sim.submit("chat", at=i * 1.0)
    trace = sim.run()
    out.write(f"{'request':<10} {'served by':<18} {'attempts':>8}\n")
    for rid, res in trace.results.items():
        if isinstance(res, Deliver):
            out.write(f"{rid:<10} {res.model_id:<18} {len(res.attempts):>8}\n")
        elif isinstance(res, Fail):
            out.write(f"{rid:<10} {'FAILED ' + res.failure.reason:<18} "
                      f"{len(res.failure.attempts):>8}\n")
    out.write("\nDecisions:\n")
    for now, _, actions in trace.steps:
        for a in actions:
            if isinstance(a, Emit) and isinstance(a.record, RoutingEvent):
                rec = a.record
                if rec.event_type == "pool_membership_changed":
                    continue
                why = rec.metadata.get("reason") or rec.metadata.get("trigger") or ""
                out.write(f"  t={now.mono:7.2f}s {rec.event_type:<18} "
                          f"{rec.model_id or rec.provider_id or rec.pool_id} {why}\n")
    out.write("\nexplain('chat'):\n")
    out.write(json.dumps(sim.router.explain("chat"), indent=2) + "\n")
    lines = [header_line(sim.config, seed)]
    lines += [step_line(now, ev, acts) for now, ev, acts in trace.steps]
    report = replay(lines)
    if report.ok:
        out.write(f"\nreplay: OK, {report.steps} steps reproduced exactly\n")
        return 0
    out.write(f"\nreplay: DIVERGED at step {report.first_divergence.step if report.first_divergence else '?'}"
              f" {report.error or ''}\n")
    return 1
