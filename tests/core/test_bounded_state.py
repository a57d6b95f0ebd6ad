"""Long-running routers keep bounded state (no growth per request).

`ModelState.recent` (the send times of the last minute, R-55) used to be
pruned only by the strategies that read it, so under stick-until-failure or
round-robin it grew by one entry per request forever."""

from __future__ import annotations

import pytest

from meshcore import load_config
from meshcore.actions import SendAttempt
from meshcore.events import AttemptSucceeded, RequestSubmitted
from meshcore.router.router import Router
from meshcore.router.state import RECENT_WINDOW_S
from meshcore.testing import simple_config
from meshcore.types import Instant, RequestFeatures, Usage


@pytest.mark.parametrize("strategy", ["stick-until-failure", "round-robin", "cost-first",
                                      "rate-limit-aware", "load-balanced"])
def test_r55_recent_send_times_stay_within_the_window(strategy: str) -> None:
    r = Router(load_config(simple_config(["a", "b"], strategy=strategy)), seed=2)
    step = 0.5  # 2 requests per second over 10 minutes
    for i in range(1200):
        now = Instant(1.0 + i * step, 1_790_000_000.0 + i * step)
        acts = r.handle(RequestSubmitted(f"r{i}", "chat", RequestFeatures()), now)
        send = next(a for a in acts if isinstance(a, SendAttempt))
        r.handle(AttemptSucceeded(send.attempt_id, Usage(1, 1)), now)
    per_window = int(RECENT_WINDOW_S / step) + 1
    for m in r.models.values():
        assert len(m.recent) <= per_window
        # pruned at the model's own last send (at most two steps ago here)
        assert all(t >= now.mono - RECENT_WINDOW_S - 2 * step for t in m.recent)
    assert sum(len(m.recent) for m in r.models.values()) >= per_window - 1  # still counted
