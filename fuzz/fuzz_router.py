"""Fuzz harness for the Router (`meshcore.Router.handle`).

Bytes become (1) a config dict from a small grammar (providers, models, one
or two pools; strategy, retry, deactivation, recovery, budget and standby
settings drawn from value lists that include invalid entries) and (2) an
event script: submits, successes, failures of every `FailureKind` with
assorted statuses, bodies and Retry-After headers, first chunks, cancels,
ticks, clock advances, operator commands, `BackgroundProbes`, config
reloads and state restores, interleaved with deliberate misuse.

Invariant: `load_config` returns a config or raises `ConfigurationError`;
every `Router.handle` call returns a list of actions (each one of
`meshcore.actions.ACTION_TYPES`, each encodable by `meshcore.codec`), and
`next_deadline()` is then None or not before `now`. The only exceptions
`handle` may raise are the documented misuse errors:

- `KeyError`: a fact (`AttemptSucceeded` / `AttemptFailed` /
  `AttemptFirstChunk`) about an attempt ID the router never sent, or an
  `OperatorCommand` naming an unknown pool, model or provider;
- `ValueError`: monotonic time going backwards, a `RequestSubmitted` whose
  request ID is still in flight, an unknown `OperatorCommand.op`, and
  `ConfigurationError` (a `ValueError`) from a `ConfigChanged` whose dict
  is invalid;
- `TypeError`: `now` that is not an `Instant`, or an event object that is
  not one of `meshcore.events.EVENT_TYPES`.

Each misuse step is generated on purpose and declares which of these it may
raise; an exception from any other step, or of another type, is a bug.
`StateRestored` with a malformed snapshot must not raise (it is traced).

Run with atheris:  python fuzz/fuzz_router.py [corpus_dir] [-runs=N]
"""

from __future__ import annotations

import json
from typing import Any

from meshcore.actions import ACTION_TYPES, SendAttempt
from meshcore.codec import encode
from meshcore.config import load_config
from meshcore.errors import ConfigurationError
from meshcore.events import (
    AttemptFailed,
    AttemptFirstChunk,
    AttemptSucceeded,
    BackgroundProbes,
    ConfigChanged,
    OperatorCommand,
    RequestCancelled,
    RequestSubmitted,
    StateRestored,
    Tick,
)
from meshcore.router.router import Router
from meshcore.types import FailureKind, Instant, Operation, RateLimitInfo, RequestFeatures, Usage

WALL0 = 1_790_000_000.0
MISUSE_KEY: tuple[type[BaseException], ...] = (KeyError,)
MISUSE_VALUE: tuple[type[BaseException], ...] = (ValueError,)
MISUSE_TYPE: tuple[type[BaseException], ...] = (TypeError,)

STRATEGIES = (
    "stick-until-failure", "priority", "round-robin", "cost-first", "latency-first",
    "session-stickiness", "rate-limit-aware", "load-balanced", "modelmesh.round-robin.v1",
)
DURATIONS = ("100ms", "1s", "5s", "30s", "2m", "0", 3)
BAD_DURATIONS = ("-1s", "abc")
CRONS = ("* * * * *", "* 3-4 * * 0", "*/5 * * * *")
BAD_CRONS = ("61 * * * *", "bad")
STATUSES = (200, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529, 0, 999)
BODIES = (
    "", "{not json", '{"error": {"code": "insufficient_quota"}}',
    '{"error": {"code": "context_length_exceeded"}}', '{"error": {"code": "content_filter"}}',
    '{"error": {"message": "maximum context length exceeded"}}', '{"error": {"type": "x"}}',
)
RETRY_AFTER = ("1", "0.5", "30", "900", "-4", "soon", "")


class Bytes:
    """Deterministic choices driven by the input bytes (0 once exhausted)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def pick(self, n: int) -> int:
        if n <= 1 or self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b % n

    def choice(self, seq: tuple[Any, ...] | list[Any]) -> Any:
        return seq[self.pick(len(seq))]

    def flag(self) -> bool:
        return self.pick(2) == 1

    def value(self, valid: tuple[Any, ...], bad: tuple[Any, ...]) -> Any:
        """Usually a valid value; one time in 16 an invalid one."""
        if self.pick(16) == 0:
            return self.choice(bad)
        return self.choice(valid)


def config_from(src: Bytes) -> dict[str, Any]:
    """A config dict from the grammar (usually valid, sometimes not)."""
    n_prov = 1 + src.pick(3)
    n_models = 1 + src.pick(4)
    providers: dict[str, Any] = {}
    for i in range(n_prov):
        p: dict[str, Any] = {"connector": "openai.compatible.v1",
                             "base_url": f"http://127.0.0.1:1/{i}"}
        if src.flag():
            p["max_retries"] = src.value((0, 1, 3), (-1,))
        if src.flag():
            p["timeout"] = src.value(DURATIONS, BAD_DURATIONS)
        if src.pick(4) == 0:
            p["budget"] = {"daily_limit": src.value((0.0, 0.0001, 1.0), (-1,))}
        if src.pick(4) == 0:
            p["auth"] = {"api_key": ["k1", "k2"], "key_rotation": True}
        providers[f"p{i}"] = p
    models: dict[str, Any] = {}
    for j in range(n_models):
        pid = f"p{src.pick(n_prov)}"
        m: dict[str, Any] = {"provider": pid, "name": f"m{j}", "capabilities": ["chat-completion"]}
        if src.flag():
            m["pricing"] = {"input_per_1m": src.choice((0.5, 1.0, 30.0)), "output_per_1m": 2.0}
        if src.pick(4) == 0:
            m["constraints"] = {"context_window": src.choice((50, 1000))}
        if src.pick(5) == 0:
            m["delivery"] = {"streaming": False}
        models[f"{pid}.m{j}"] = m
    ids = list(models)
    pool: dict[str, Any] = {
        "models": ids,
        "strategy": src.value(STRATEGIES, ("bogus-strategy",)),
        "on_all_standby": src.value(("fail_fast", "wait", "try_anyway"), ("sometimes",)),
        "deadline": src.value(DURATIONS, BAD_DURATIONS),
        "retry": {
            "max_attempts": src.value((1, 2, 3), (0,)),
            "backoff": src.value(("fixed", "exponential_jitter", "retry_after"), ("linear",)),
            "initial_delay": src.value(DURATIONS, BAD_DURATIONS),
            "scope": src.choice(("same_model", "same_provider", "any")),
        },
        "deactivation": {"retry_limit": src.value((1, 2, 3), (0,))},
        "recovery": {"cooldown": src.value(DURATIONS, BAD_DURATIONS),
                     "backoff_multiplier": src.value((1, 2), (0.5,)),
                     "on_quota_reset": src.flag(),
                     "quota_reset_schedule": src.choice(("daily", "monthly", "rolling"))},
        "provider_deactivation": src.choice(("on_auth_failure", "on_api_outage", "none",
                                             ["on_auth_failure", "on_api_outage"])),
        "model_priority": ids[-1:],
    }
    d = pool["deactivation"]
    if src.pick(3) == 0:
        d["request_limit"] = src.choice((1, 2, {ids[0]: 1}))
    if src.pick(4) == 0:
        d["token_limit"] = src.choice((20, 100))
    if src.pick(4) == 0:
        d["budget_limit"] = src.choice((0.00005, 0.01))
        pool["on_budget_exceeded"] = src.choice(("error", "rotate"))
    if src.pick(5) == 0:
        d["maintenance_window"] = src.value(CRONS, BAD_CRONS)
    if src.pick(4) == 0:
        d["error_rate_min_samples"] = 2
        d["error_rate_window"] = 4
    pools = {"chat": pool}
    if src.flag():
        pools["chat2"] = {"models": ids[:2], "strategy": src.choice(STRATEGIES)}
    return {"providers": providers, "models": models, "pools": pools}


class Script:
    """Runs one generated event script against a router."""

    def __init__(self, src: Bytes, router: Router) -> None:
        self.src = src
        self.r = router
        self.mono = 0.0
        self.inflight: list[str] = []
        self.finished: list[str] = []
        self.requests: list[str] = []
        self.n = 0

    def now(self) -> Instant:
        return Instant(self.mono, WALL0 + self.mono)

    def handle(self, event: Any, expect: tuple[type[BaseException], ...] = (),
               now: Any = None) -> None:
        at = self.now() if now is None else now
        try:
            actions = self.r.handle(event, at)
        except expect:
            return
        assert isinstance(actions, list)
        for a in actions:
            assert isinstance(a, ACTION_TYPES), f"not an action: {a!r}"
            json.dumps(encode(a))
            if isinstance(a, SendAttempt):
                self.inflight.append(a.attempt_id)
                if a.request_id is not None:
                    assert a.timeout_s >= 0.0
            elif type(a).__name__ == "CancelAttempt":
                aid = a.attempt_id  # type: ignore[union-attr]
                if aid in self.inflight:
                    self.inflight.remove(aid)
                    self.finished.append(aid)
        d = self.r.next_deadline()
        assert d is None or d >= self.mono, f"next_deadline {d} before now {self.mono}"

    def take(self) -> str:
        aid = self.inflight.pop(self.src.pick(len(self.inflight)))
        self.finished.append(aid)
        return aid

    def step(self) -> None:
        src = self.src
        op = src.pick(16)
        if op <= 2:
            self.n += 1
            rid = f"r{self.n}"
            self.requests.append(rid)
            feats = RequestFeatures(
                operation=src.choice((Operation.CHAT, Operation.CHAT, Operation.EMBEDDINGS)),
                stream=src.flag(), tools=src.pick(4) == 0,
                response_format=src.choice((None, None, "json_object", "json_schema")),
                prompt_tokens=src.choice((0, 10, 200, 5000)),
                max_tokens=src.choice((None, 16, 4000)), user=src.choice((None, "u1", "u2")),
            )
            target = src.choice(("chat", "chat", "chat2", "chat-completion", "p0.m0", "m0",
                                 "nope", "generation"))
            self.handle(RequestSubmitted(rid, target, feats,
                                         src.choice((None, None, 0.0, 2.0, 500.0)),
                                         src.choice((None, "s1", "s2"))))
        elif op in (3, 4) and self.inflight:
            aid = self.take()
            rl = RateLimitInfo(src.choice((None, 0, 5)), src.choice((None, 0, 10))) \
                if src.flag() else None
            self.handle(AttemptSucceeded(aid, src.choice((None, Usage(10, 5), Usage(0, 0))),
                                         float(src.pick(200)), None, 200, rl,
                                         src.choice((0, 40))))
        elif op in (5, 6, 7) and self.inflight:
            aid = self.take()
            kind = src.choice(tuple(FailureKind))
            ra = src.choice(RETRY_AFTER)
            headers = (("retry-after", ra),) if src.flag() else ()
            self.handle(AttemptFailed(aid, kind, src.choice((*STATUSES, None)), headers,
                                      src.choice(BODIES), 5.0,
                                      src.choice((None, Usage(10, 2))), src.choice((0, 12))))
        elif op == 8 and self.inflight:
            self.handle(AttemptFirstChunk(src.choice(self.inflight), 3.0))
        elif op == 9 and self.requests:
            self.handle(RequestCancelled(src.choice(self.requests), None, src.pick(30)))
        elif op == 10:
            due = self.r.next_deadline()
            if due is not None and due > self.mono and due - self.mono < 1e6:
                self.mono = due
            self.handle(Tick())
        elif op == 11:
            self.mono += src.choice((0.0, 0.2, 1.0, 7.0, 61.0, 3600.0, 86400.0))
            self.handle(Tick())
        elif op == 12:
            cmd = src.choice(("activate", "deactivate", "rotate", "explode"))
            target = src.choice(("chat", "chat2", "p0", "p1", "p0.m0", "p1.m1", "zzz"))
            self.handle(OperatorCommand(cmd, target), MISUSE_KEY + MISUSE_VALUE)
        elif op == 13:
            self.handle(BackgroundProbes(src.flag()))
        elif op == 14:
            self.misuse()
        else:
            which = src.pick(3)
            if which == 0:
                self.handle(ConfigChanged(config_from(src)), MISUSE_VALUE)
            elif which == 1:
                self.handle(StateRestored(self.r.snapshot()))
            else:
                junk: Any = src.choice(({}, {"schema": 1, "models": 3}, {"schema": 9}, [],
                                        {"schema": 1, "models": {"p0.m0": {"status": "x"}}}))
                self.handle(StateRestored(junk))

    def misuse(self) -> None:
        src = self.src
        kind = src.pick(5)
        if kind == 0:
            aid = src.choice(("nobody#1", "probe-999"))
            self.handle(src.choice((AttemptSucceeded(aid), AttemptFailed(aid, FailureKind.TIMEOUT),
                                    AttemptFirstChunk(aid))), MISUSE_KEY)
        elif kind == 1 and self.mono > 0:
            self.handle(Tick(), MISUSE_VALUE, Instant(self.mono - 1.0, WALL0))
        elif kind == 2 and self.requests:
            rid = src.choice(self.requests)
            self.handle(RequestSubmitted(rid, "chat"), MISUSE_VALUE)
        elif kind == 3:
            self.handle(Tick(), MISUSE_TYPE, self.mono)
        elif kind == 4:
            self.handle(object(), MISUSE_TYPE)
        elif self.finished:
            # a late fact about an ended attempt is ignored, never an error
            aid = src.choice(self.finished)
            self.handle(AttemptSucceeded(aid))


def one_input(data: bytes) -> None:
    """Check the router invariant on one input; raise AssertionError (or the
    unexpected exception) if it is broken."""
    src = Bytes(data)
    try:
        cfg = load_config(config_from(src))
    except ConfigurationError:
        return
    router = Router(cfg, seed=src.pick(256))
    script = Script(src, router)
    steps = 0
    while src.more() and steps < 200:
        script.step()
        steps += 1
    # let every open request end: its deadline is at most `deadline` away
    for _ in range(4):
        script.mono += 86400.0
        script.handle(Tick())
    assert not router.requests or all(
        r.deadline > script.mono for r in router.requests.values()
    ), "a request outlived its deadline"




def main() -> None:  # pragma: no cover - needs atheris
    """atheris entry point."""
    from _runner import fuzz

    fuzz(one_input)


if __name__ == "__main__":  # pragma: no cover
    main()
