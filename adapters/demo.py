"""`modelmesh demo` (SPEC R-119): the real clients against fake providers on loopback.

Three `FakeProviderServer`s stand in for providers: `flaky` answers 503 with a
Retry-After for a while, recovers, then fails now and then; `slow` answers
after a delay and sometimes takes longer than its provider timeout; `healthy`
always answers at once. One pool (`chat`, round-robin) holds one model of
each. N requests (every fifth one streamed) go through the sync client
(`MeshClient`) and then, with the fault plans rewound, through the async
client (`AsyncMeshClient` inside `async with`, so background probes run),
each recording its event log (R-99). For each run the demo prints a table of
the requests (serving model, time, attempts), the routing decisions read back
from the recorded log (retries, rotations, deactivations, probes, recoveries,
with their reasons), and the `explain()` answer; then it replays both logs and
exits 1 if either diverges. No API key, no network beyond 127.0.0.1.

`read_log()` and `decision_lines()` turn a recorded log into request outcomes
and decisions; the conformance suite uses them to compare drivers.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio

from adapters.client import create, create_async
from adapters.fake_provider import FakeProviderServer
from meshcore.errors import ModelMeshError
from meshcore.log import replay

__all__ = [
    "Decision",
    "EventLogSummary",
    "RequestOutcome",
    "decision_lines",
    "demo_config",
    "demo_plans",
    "read_log",
    "run_demo",
]

POOL = "chat"
MODELS = ("flaky.model-a", "slow.model-b", "healthy.model-c")
COOLDOWN_S = 0.5
SLOW_TIMEOUT_S = 0.25
DEMO_SEED = 7
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]


# ---------------------------------------------------------------- the scenario


def demo_plans() -> dict[str, list[dict[str, Any]]]:
    """Fault plans of the three fake providers (model name -> steps)."""
    busy = {"status": 503, "retry_after": 0.2, "message": "overloaded, retry later"}
    flaky = [busy] * 3 + [{}] * 4 + [busy, {}, {}, {}, {}, {}] * 10 + [{}]
    slow: list[dict[str, Any]] = []
    for i in range(60):
        slow.append({"delay": 0.5} if i % 6 == 5 else {"delay": 0.04})
    slow.append({"delay": 0.04})
    return {"flaky": flaky, "slow": slow, "healthy": [{}]}


def demo_config(urls: dict[str, str]) -> dict[str, Any]:
    """The demo's configuration for fake servers at `urls` (provider -> base URL)."""
    timeouts = {"flaky": "2s", "slow": f"{SLOW_TIMEOUT_S}s", "healthy": "2s"}
    providers = {
        pid: {"connector": "openai.compatible.v1", "base_url": urls[pid],
              "api_key": "demo-key-not-secret", "timeout": timeouts[pid]}
        for pid in ("flaky", "slow", "healthy")
    }
    models = {
        mid: {"provider": mid.split(".")[0], "name": mid.split(".")[1],
              "capabilities": ["chat-completion"]}
        for mid in MODELS
    }
    pool = {
        "models": list(MODELS),
        "strategy": "round-robin",
        "retry": {"max_attempts": 2, "backoff": "fixed", "initial_delay": "20ms"},
        "deactivation": {"retry_limit": 2},
        "recovery": {"cooldown": f"{COOLDOWN_S}s"},
        "deadline": "10s",
    }
    return {"providers": providers, "models": models, "pools": {POOL: pool}}


# ---------------------------------------------------------------- reading an event log


@dataclass(frozen=True)
class Decision:
    """One routing decision read from an event log."""

    t: float  # seconds since the log's first step
    kind: str
    subject: str
    detail: str

    def normalised(self) -> str:
        """The decision without its time (what must match across drivers)."""
        return f"{self.kind} {self.subject} {self.detail}".rstrip()


@dataclass
class RequestOutcome:
    """A request's ending as recorded: serving model, attempts, failure reason."""

    request_id: str
    model_id: str | None = None
    failure: str | None = None
    attempts: list[str] = field(default_factory=list)


@dataclass
class EventLogSummary:
    """What `read_log()` extracts from a recorded log."""

    seed: int
    steps: int
    requests: dict[str, RequestOutcome]
    decisions: list[Decision]


def _attempt_text(rec: dict[str, Any]) -> str:
    status = rec.get("status_code")
    outcome = rec.get("outcome", "?")
    return f"{rec.get('model_id')}:{outcome}" + (f"({status})" if status and
                                                  outcome != "success" else "")


def _routing_decision(t: float, rec: dict[str, Any]) -> Decision | None:
    kind = rec.get("event_type", "")
    meta = rec.get("metadata") or {}
    if kind == "pool_membership_changed":
        return None
    if kind == "model_rotated":
        return Decision(t, kind, f"{meta.get('from_model')} -> {meta.get('to_model')}",
                        f"reason={meta.get('reason')}")
    if kind == "model_deactivated":
        return Decision(t, kind, str(rec.get("model_id")), f"reason={meta.get('reason')}")
    if kind == "model_activated":
        return Decision(t, kind, str(rec.get("model_id")),
                        f"trigger={meta.get('trigger')} status={meta.get('status')}")
    if kind in ("provider_deactivated", "provider_recovered"):
        why = meta.get("reason") or meta.get("trigger")
        return Decision(t, kind, str(rec.get("provider_id")), f"reason={why}")
    subject = rec.get("model_id") or rec.get("provider_id") or rec.get("pool_id") or ""
    return Decision(t, kind, str(subject), "")


def read_log(lines: Iterable[str]) -> EventLogSummary:
    """Request outcomes and routing decisions of a recorded event log (R-99):
    sends that retry the same model, probes, rotations, deactivations and
    recoveries (each with its reason), deliveries and failures."""
    it = iter(lines)
    head = json.loads(next(it))
    requests: dict[str, RequestOutcome] = {}
    decisions: list[Decision] = []
    last_model: dict[str, str] = {}
    last_failure: dict[str, str] = {}
    owner: dict[str, str] = {}
    start: float | None = None
    steps = 0
    for raw in it:
        if not raw.strip():
            continue
        steps += 1
        rec = json.loads(raw)
        mono = float(rec["now"][0])
        start = mono if start is None else start
        t = mono - start
        event = rec.get("event") or {}
        if event.get("type") == "RequestSubmitted":
            rid = str(event.get("request_id"))
            requests.setdefault(rid, RequestOutcome(rid))
        elif event.get("type") == "AttemptFailed" and event.get("attempt_id") in owner:
            why = f"after {event.get('kind')}" + (
                f" {event['status']}" if event.get("status") else "")
            ra = next((v for k, v in event.get("headers") or () if k == "retry-after"), None)
            last_failure[owner[event["attempt_id"]]] = why + (
                f", Retry-After {ra}s honoured" if ra is not None else "")
        for a in rec.get("actions", []):
            kind = a.get("type")
            if kind == "SendAttempt":
                rid, mid = a.get("request_id"), str(a.get("model_id"))
                if rid is None:
                    decisions.append(Decision(t, "probe", mid, "health check"))
                elif last_model.get(rid) == mid:
                    decisions.append(Decision(t, "retry", mid,
                                              f"{rid} {last_failure.get(rid, '')}".rstrip()))
                if rid is not None:
                    last_model[rid] = mid
                    owner[str(a.get("attempt_id"))] = rid
            elif kind == "Deliver":
                out = requests.setdefault(a["request_id"], RequestOutcome(a["request_id"]))
                out.model_id = a.get("model_id")
                out.attempts = [_attempt_text(r) for r in a.get("attempts", [])]
            elif kind == "Fail":
                out = requests.setdefault(a["request_id"], RequestOutcome(a["request_id"]))
                failure = a.get("failure") or {}
                out.failure = str(failure.get("reason"))
                out.attempts = [_attempt_text(r) for r in failure.get("attempts", [])]
            elif kind == "Emit":
                record = a.get("record")
                if isinstance(record, dict) and record.get("type") == "RoutingEvent":
                    d = _routing_decision(t, record)
                    if d is not None:
                        decisions.append(d)
    return EventLogSummary(int(head.get("seed", 0)), steps, requests, decisions)


def decision_lines(lines: Iterable[str]) -> list[str]:
    """Every decision of a log without times, plus each request's ending, in
    log order: equal for equal seeds, plans and request sequences."""
    summary = read_log(lines)
    out = [d.normalised() for d in summary.decisions]
    for rid, req in summary.requests.items():
        out.append(f"{rid} -> {req.model_id or 'FAILED ' + str(req.failure)} "
                   f"[{', '.join(req.attempts)}]")
    return out


# ---------------------------------------------------------------- running the clients


@dataclass
class _Row:
    number: int
    model: str | None
    ms: float
    streamed: bool
    error: str | None = None


@dataclass
class _Run:
    label: str
    log: Path
    rows: list[_Row] = field(default_factory=list)
    explain: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _error_text(exc: ModelMeshError) -> str:
    return f"{type(exc).__name__}: {exc.details.get('reason', '')}".rstrip(": ")


def _run_sync(cfg: dict[str, Any], n: int, run: _Run) -> None:
    t_start = time.perf_counter()
    with create(config=cfg, seed=DEMO_SEED, record=str(run.log)) as client:
        for i in range(1, n + 1):
            streamed = i % 5 == 0
            t0 = time.perf_counter()
            try:
                if streamed:
                    chunks = list(client.chat.completions.create(
                        model=POOL, messages=MESSAGES, stream=True, timeout=5.0))
                    model: str | None = chunks[0].model if chunks else None
                else:
                    model = client.chat.completions.create(
                        model=POOL, messages=MESSAGES, timeout=5.0).model
                run.rows.append(_Row(i, model, (time.perf_counter() - t0) * 1000, streamed))
            except ModelMeshError as exc:
                run.rows.append(_Row(i, None, (time.perf_counter() - t0) * 1000, streamed,
                                     _error_text(exc)))
        run.explain = client.explain(POOL)
    run.seconds = time.perf_counter() - t_start


async def _run_async(cfg: dict[str, Any], n: int, run: _Run) -> None:
    t_start = time.perf_counter()
    async with create_async(config=cfg, seed=DEMO_SEED, record=str(run.log)) as client:
        for i in range(1, n + 1):
            streamed = i % 5 == 0
            t0 = time.perf_counter()
            try:
                if streamed:
                    stream = await client.chat.completions.create(
                        model=POOL, messages=MESSAGES, stream=True, timeout=5.0)
                    chunks = [c async for c in stream]
                    model: str | None = chunks[0].model if chunks else None
                else:
                    resp = await client.chat.completions.create(
                        model=POOL, messages=MESSAGES, timeout=5.0)
                    model = resp.model
                run.rows.append(_Row(i, model, (time.perf_counter() - t0) * 1000, streamed))
            except ModelMeshError as exc:
                run.rows.append(_Row(i, None, (time.perf_counter() - t0) * 1000, streamed,
                                     _error_text(exc)))
        run.explain = client.explain(POOL)
    run.seconds = time.perf_counter() - t_start


# ---------------------------------------------------------------- printing


def _print_requests(run: _Run, summary: EventLogSummary, out: TextIO) -> None:
    out.write(f"  {'#':>3}  {'served by':<16} {'mode':<6} {'ms':>6}  attempts\n")
    outcomes = list(summary.requests.values())
    for row in run.rows:
        rec = outcomes[row.number - 1] if row.number <= len(outcomes) else None
        attempts = " -> ".join(rec.attempts) if rec is not None else ""
        served = row.model or f"FAILED ({row.error})"
        mode = "stream" if row.streamed else "plain"
        out.write(f"  {row.number:>3}  {served:<16} {mode:<6} {row.ms:>6.0f}  {attempts}\n")


def _print_decisions(summary: EventLogSummary, out: TextIO) -> None:
    out.write("  decisions, read back from the recorded event log:\n")
    if not summary.decisions:
        out.write("    (none)\n")
    for d in summary.decisions:
        out.write(f"    t={d.t:6.2f}s  {d.kind:<18} {d.subject:<32} {d.detail}\n")


def _print_explain(ex: dict[str, Any], out: TextIO) -> None:
    out.write(f"  explain({POOL!r}): selected_model={ex.get('selected_model')} "
              f"(strategy {ex.get('strategy')})\n")
    out.write(f"    reason: {ex.get('reason')}\n")
    for c in ex.get("candidates", []):
        why = c.get("excluded_reason") or ""
        until = f" until {c['standby_until']}" if c.get("standby_until") else ""
        line = (f"    {c.get('model_id'):<16} {c.get('status'):<9} "
                f"eligible={c.get('eligible')!s:<5} score={c.get('score')} {why}{until}")
        out.write(line.rstrip() + "\n")


def _replay(run: _Run, out: TextIO) -> bool:
    lines = run.log.read_text(encoding="utf-8").splitlines()
    report = replay(lines)
    if report.ok:
        out.write(f"  replay OK: {report.steps} steps of {run.log} reproduced exactly "
                  f"(seed {report.seed})\n")
        return True
    where = report.first_divergence.step if report.first_divergence else "?"
    out.write(f"  replay DIVERGED at step {where}: {report.error or ''}\n")
    return False


def run_demo(requests: int, out: TextIO) -> int:
    """Run the demo (R-119 `demo`); returns the exit code (0, or 1 on a divergence)."""
    plans = demo_plans()
    log_dir = Path(tempfile.mkdtemp(prefix="modelmesh-demo-"))
    with FakeProviderServer({"model-a": plans["flaky"]}) as flaky, \
            FakeProviderServer({"model-b": plans["slow"]}) as slow, \
            FakeProviderServer({"model-c": plans["healthy"]}) as healthy:
        servers = {"flaky": flaky, "slow": slow, "healthy": healthy}
        cfg = demo_config({pid: srv.base_url for pid, srv in servers.items()})
        out.write("ModelMesh demo: three fake providers on loopback (no API keys, no network)\n")
        out.write(f"  flaky    {flaky.base_url:<28} 503 + Retry-After 0.2s, recovers, "
                  "then fails now and then\n")
        out.write(f"  slow     {slow.base_url:<28} 40 ms per answer; every 6th takes 0.5 s "
                  f"(> its {SLOW_TIMEOUT_S}s timeout)\n")
        out.write(f"  healthy  {healthy.base_url:<28} always answers at once\n")
        out.write(f"  pool {POOL!r}: round-robin over {', '.join(MODELS)}; same-model retry "
                  f"x2, retry_limit 2, cooldown {COOLDOWN_S}s; every 5th request streams\n")
        runs = [_Run("sync client (MeshClient)", log_dir / "sync-events.jsonl"),
                _Run("async client (AsyncMeshClient on asyncio, inside `async with`)",
                     log_dir / "async-events.jsonl")]
        ok = True
        for run in runs:
            for srv in servers.values():
                srv.reset()
            out.write(f"\n== {run.label}: {requests} requests ==\n")
            if run is runs[0]:
                _run_sync(cfg, requests, run)
            else:
                anyio.run(_run_async, cfg, requests, run, backend="asyncio")
            summary = read_log(run.log.read_text(encoding="utf-8").splitlines())
            _print_requests(run, summary, out)
            _print_decisions(summary, out)
            _print_explain(run.explain, out)
            ok = _replay(run, out) and ok
            served = sum(1 for r in run.rows if r.model is not None)
            out.write(f"  {served}/{len(run.rows)} delivered in {run.seconds:.2f} s\n")
    out.write(f"\nevent logs kept in {log_dir} (check them with `modelmesh replay FILE`)\n")
    out.write("demo OK\n" if ok else "demo FAILED: a recorded log did not replay\n")
    return 0 if ok else 1
