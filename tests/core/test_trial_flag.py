"""R-47: one trial per half-open model; an unrelated attempt ending does not end it."""

from __future__ import annotations

from typing import Any

import pytest

from meshcore import load_config
from meshcore.actions import SendAttempt
from meshcore.events import AttemptFailed, RequestCancelled, RequestSubmitted, Tick
from meshcore.router.router import Router
from meshcore.router.state import ModelStatus
from meshcore.testing import simple_config
from meshcore.types import FailureKind, Instant, RequestFeatures

WALL0 = 1_790_000_000.0
FEATS = RequestFeatures(prompt_tokens=10, max_tokens=10)


def at(t: float) -> Instant:
    return Instant(t, WALL0 + t)


def send_of(actions: list[Any]) -> SendAttempt:
    (send,) = [a for a in actions if isinstance(a, SendAttempt)]
    return send


@pytest.mark.parametrize("ending", ["cancel", "uncounted_failure"])
def test_r47_a_stale_attempt_ending_does_not_end_the_trial(ending: str) -> None:
    cfg = simple_config(["a", "b"], strategy="priority", model_priority=["pa.a"],
                        deactivation={"retry_limit": 1},
                        recovery={"cooldown": "10s"})
    r = Router(load_config(cfg), seed=3)
    # r1's attempt goes to a while a is active, and stays in flight
    stale = send_of(r.handle(RequestSubmitted("r1", "chat", FEATS), at(0.0)))
    assert stale.model_id == "pa.a"
    # r2 fails on a: a goes to standby (retry_limit 1); r2 moves on to b
    a2 = send_of(r.handle(RequestSubmitted("r2", "chat", FEATS), at(0.1)))
    assert a2.model_id == "pa.a"
    r.handle(AttemptFailed(a2.attempt_id, FailureKind.HTTP_STATUS, 500), at(0.2))
    assert r.models["pa.a"].status is ModelStatus.STANDBY
    # after the cooldown a is half-open; r3 is its trial
    r.handle(Tick(), at(11.0))
    assert r.models["pa.a"].status is ModelStatus.HALF_OPEN
    trial = send_of(r.handle(RequestSubmitted("r3", "chat", FEATS), at(11.1)))
    assert trial.model_id == "pa.a"
    # the stale attempt of r1 ends without changing a's state
    if ending == "cancel":
        r.handle(RequestCancelled("r1"), at(11.2))
    else:
        r.handle(AttemptFailed(stale.attempt_id, FailureKind.HTTP_STATUS, 400,
                               body_excerpt='{"error": {"message": "bad request"}}'),
                 at(11.2))
    assert r.models["pa.a"].status is ModelStatus.HALF_OPEN
    # r3's trial is still out: r4 must not become a second trial of a
    nxt = send_of(r.handle(RequestSubmitted("r4", "chat", FEATS), at(11.3)))
    assert nxt.model_id == "pb.b"
