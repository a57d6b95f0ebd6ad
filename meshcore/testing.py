"""Testing helpers: a fake clock, scripted providers and a simulator.

Theory of operation: the `Simulator` drives a real `Router` with virtual
time. Scripted providers say what each model answers, attempt after
attempt ("503 with Retry-After 5, then 200"). The simulator keeps a queue
of future inputs ordered by virtual time: when the router asks for an
attempt, the provider's next step is turned into the facts a driver would
report (first chunk, success, failure) at `now + latency`; when the router
wants a `Tick`, one is queued at `next_deadline()`. `run()` returns a
`Trace` of every `(now, event, actions)` plus each request's outcome, in
milliseconds of real time for hours of virtual time. Pure: no clock, no
I/O; the "time" is a float the simulator advances.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import Any

from meshcore.actions import Action, CancelAttempt, Commit, Deliver, Fail, SendAttempt
from meshcore.config import load_config
from meshcore.config.schema import MeshConfig
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    Event,
    RequestSubmitted,
    Tick,
)
from meshcore.frozen import native_reduce
from meshcore.router.router import Router
from meshcore.types import FailureKind, Instant, Operation, RequestFeatures, Usage

DEFAULT_WALL = 1_790_000_000.0


class FakeClock:
    """A manually advanced clock producing `Instant`s."""

    def __init__(self, mono: float = 0.0, wall: float = DEFAULT_WALL) -> None:
        self.mono = mono
        self.wall = wall

    def now(self) -> Instant:
        return Instant(self.mono, self.wall)

    def advance(self, seconds: float) -> Instant:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.mono += seconds
        self.wall += seconds
        return self.now()

    def advance_to(self, mono: float) -> Instant:
        return self.advance(max(0.0, mono - self.mono))


@dataclass(frozen=True)
class Step:
    """What a scripted provider does for one attempt. `status` 200 is a
    success; `kind` marks transport failures (timeout, connection, ...)."""

    status: int = 200
    retry_after: float | None = None
    latency: float = 0.05
    kind: FailureKind | None = None
    usage: Usage | None = field(default_factory=lambda: Usage(10, 5))
    body: str = ""
    ttft: float = 0.02
    silent: bool = False
    cut: bool = False  # stream: first chunk, then the connection breaks
    headers: tuple[tuple[str, str], ...] = ()


native_reduce(Step)  # copy/pickle when compiled (meshcore.frozen)


_ITEM = re.compile(
    r"^(?P<what>\d{3}|timeout|reset|silent|malformed|cut)"
    r"(?:\s+with\s+retry-after\s+(?P<ra>\d+(?:\.\d+)?))?"
    r"(?:\s+x(?P<times>\d+))?$",
    re.IGNORECASE,
)


def parse_script(text: str) -> list[Step]:
    """Parse "503 with Retry-After 5, then 200" style scripts."""
    steps: list[Step] = []
    for raw in re.split(r",|\bthen\b", text):
        item = raw.strip().lower()
        if not item:
            continue
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(f"cannot parse script step {raw.strip()!r}")
        what = m.group("what")
        ra = float(m.group("ra")) if m.group("ra") else None
        headers = (("retry-after", m.group("ra")),) if m.group("ra") else ()
        if what.isdigit():
            step = Step(status=int(what), retry_after=ra, headers=headers)
        elif what == "timeout":
            step = Step(status=0, kind=FailureKind.TIMEOUT)
        elif what == "reset":
            step = Step(status=0, kind=FailureKind.CONNECTION)
        elif what == "silent":
            step = Step(status=0, silent=True)
        elif what == "malformed":
            step = Step(status=200, kind=FailureKind.MALFORMED_BODY)
        else:
            step = Step(status=200, cut=True)
        steps.extend([step] * int(m.group("times") or 1))
    return steps


class ScriptedProviders:
    """Per-model scripts; the last step of a script repeats. Models with no
    script succeed."""

    def __init__(self, scripts: dict[str, list[Step] | str] | None = None) -> None:
        self.scripts: dict[str, list[Step]] = {
            k: parse_script(v) if isinstance(v, str) else list(v)
            for k, v in (scripts or {}).items()
        }
        self.cursor: dict[str, int] = {}
        self.calls: list[tuple[float, str]] = []

    def next_step(self, model_id: str) -> Step:
        script = self.scripts.get(model_id)
        if not script:
            return Step()
        i = self.cursor.get(model_id, 0)
        self.cursor[model_id] = i + 1
        return script[min(i, len(script) - 1)]


@dataclass
class Trace:
    """What a simulation did: every step and every request's outcome."""

    steps: list[tuple[Instant, Event, list[Action]]] = field(default_factory=list)
    results: dict[str, Deliver | Fail] = field(default_factory=dict)

    def served_by(self) -> dict[str, str | None]:
        return {rid: (r.model_id if isinstance(r, Deliver) else None)
                for rid, r in self.results.items()}

    def actions(self, kind: type) -> list[Any]:
        return [a for _, _, acts in self.steps for a in acts if isinstance(a, kind)]


class Simulator:
    """Drive a `Router` through scripted providers with virtual time."""

    def __init__(
        self,
        config: MeshConfig | dict[str, Any],
        providers: ScriptedProviders | None = None,
        seed: int = 0,
        clock: FakeClock | None = None,
        strategies: dict[str, object] | None = None,
    ) -> None:
        self.config = config if isinstance(config, MeshConfig) else load_config(config)
        self.router = Router(self.config, seed, strategies=strategies)
        self.providers = providers or ScriptedProviders()
        self.clock = clock or FakeClock()
        self.trace = Trace()
        self._queue: list[tuple[float, int, Event]] = []
        self._seq = 0
        self._req = 0
        self._pending: dict[str, list[int]] = {}
        self._cancelled: set[int] = set()

    def _push(self, at: float, event: Event, attempt_id: str | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, event))
        if attempt_id is not None:
            self._pending.setdefault(attempt_id, []).append(self._seq)

    def submit(
        self,
        model: str,
        at: float | None = None,
        *,
        stream: bool = False,
        features: RequestFeatures | None = None,
        session_id: str | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> str:
        """Queue a request at virtual time `at` (default: now)."""
        self._req += 1
        rid = request_id or f"req-{self._req}"
        f = features or RequestFeatures(operation=Operation.CHAT, stream=stream, prompt_tokens=10)
        self._push(self.clock.mono if at is None else at,
                   RequestSubmitted(rid, model, f, timeout, session_id))
        return rid

    def inject(self, event: Event, at: float | None = None) -> None:
        """Queue any event (operator command, config change, ...)."""
        self._push(self.clock.mono if at is None else at, event)

    def run(self, until: float | None = None, max_steps: int = 100_000) -> Trace:
        """Process queued inputs (and the router's timers) in time order."""
        for _ in range(max_steps):
            deadline = self.router.next_deadline()
            nxt = self._queue[0][0] if self._queue else None
            if nxt is None and deadline is None:
                break
            event: Event
            if nxt is None or (deadline is not None and deadline < nxt):
                assert deadline is not None
                at, event, seq = deadline, Tick(), -1
            else:
                at, seq, event = heapq.heappop(self._queue)
            if until is not None and at > until:
                if seq != -1:
                    heapq.heappush(self._queue, (at, seq, event))
                break
            if seq in self._cancelled:
                continue
            now = self.clock.advance_to(at)
            actions = self.router.handle(event, now)
            self.trace.steps.append((now, event, actions))
            for a in actions:
                self._act(a, now)
        return self.trace

    def _act(self, a: Action, now: Instant) -> None:
        if isinstance(a, SendAttempt):
            self._schedule_attempt(a, now)
        elif isinstance(a, CancelAttempt):
            for seq in self._pending.pop(a.attempt_id, []):
                self._cancelled.add(seq)
        elif isinstance(a, (Deliver, Fail)):
            self.trace.results[a.request_id] = a
        elif isinstance(a, Commit):
            pass

    def _schedule_attempt(self, a: SendAttempt, now: Instant) -> None:
        self.providers.calls.append((now.mono, a.model_id))
        step = self.providers.next_step(a.model_id)
        t = now.mono
        aid = a.attempt_id
        stream = a.first_chunk_timeout_s is not None
        if step.silent:
            self._push(t + a.timeout_s, AttemptFailed(aid, FailureKind.TIMEOUT,
                                                      latency_ms=a.timeout_s * 1000), aid)
            return
        if step.kind is not None and step.kind is not FailureKind.MALFORMED_BODY:
            self._push(t + min(step.latency, a.timeout_s),
                       AttemptFailed(aid, step.kind, latency_ms=step.latency * 1000), aid)
            return
        if step.status != 200:
            body = step.body or '{"error": {"message": "scripted failure"}}'
            self._push(t + min(step.latency, a.timeout_s),
                       AttemptFailed(aid, FailureKind.HTTP_STATUS, step.status, step.headers,
                                     body, latency_ms=step.latency * 1000), aid)
            return
        if step.kind is FailureKind.MALFORMED_BODY:
            self._push(t + step.latency, AttemptFailed(aid, FailureKind.MALFORMED_BODY, 200,
                                                       body_excerpt="{not json"), aid)
            return
        if stream:
            if a.first_chunk_timeout_s is not None and step.ttft > a.first_chunk_timeout_s:
                self._push(t + a.first_chunk_timeout_s,
                           AttemptFailed(aid, FailureKind.TTFT_TIMEOUT), aid)
                return
            self._push(t + step.ttft, AttemptFirstChunk(aid, step.ttft * 1000), aid)
            if step.cut:
                self._push(t + step.latency, AttemptFailed(
                    aid, FailureKind.CONNECTION, 200, latency_ms=step.latency * 1000,
                    output_chars=12), aid)
                return
        self._push(t + step.latency, AttemptSucceeded(
            aid, step.usage, step.latency * 1000, step.ttft * 1000 if stream else None,
            200, None, 20), aid)


def simple_config(
    models: list[str] | None = None,
    strategy: str = "stick-until-failure",
    **pool: Any,
) -> dict[str, Any]:
    """A small config for tests and examples: one OpenAI-compatible local
    provider per model, all in a pool named "chat"."""
    models = models or ["a", "b", "c"]
    providers = {
        f"p{m}": {"connector": "openai.compatible.v1", "base_url": f"http://127.0.0.1:1/{m}"}
        for m in models
    }
    model_defs = {
        f"p{m}.{m}": {"provider": f"p{m}", "name": m, "capabilities": ["chat-completion"]}
        for m in models
    }
    return {
        "providers": providers,
        "models": model_defs,
        "pools": {"chat": {"models": list(model_defs), "strategy": strategy, **pool}},
    }
