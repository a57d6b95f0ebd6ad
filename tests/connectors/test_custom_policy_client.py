"""Custom Deactivation and Recovery of a `strategy_instance` through the sync
client (SPEC R-54), against the fake provider."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.client import create
from adapters.fake_provider import FakeProviderServer
from meshcore.router.policy import ModelSnapshot, SelectionRequest, SelectionResult

MSG = [{"role": "user", "content": "hi"}]


class FirstWithPolicy:
    """Selection in pool order; deactivates after one counted failure with
    `request_limit`; recovery only by a manual command (schedule None)."""

    def __init__(self) -> None:
        self.deactivation_asked: list[str] = []
        self.schedule_asked: list[str] = []

    def select(self, candidates: Sequence[ModelSnapshot],
               request: SelectionRequest) -> SelectionResult:
        c = candidates[0]
        return SelectionResult(c.model_id, c.provider_id, 1.0, "first")

    def should_deactivate(self, snapshot: ModelSnapshot) -> bool:
        self.deactivation_asked.append(snapshot.model_id)
        return snapshot.failure_count >= 1

    def get_reason(self, snapshot: ModelSnapshot) -> str:
        return "request_limit"

    def should_recover(self, snapshot: ModelSnapshot) -> bool:
        return True

    def get_recovery_schedule(self, snapshot: ModelSnapshot) -> float | None:
        self.schedule_asked.append(snapshot.model_id)
        return None


def test_sync_client_custom_deactivation_and_recovery_r54() -> None:
    pol = FirstWithPolicy()
    with FakeProviderServer({"m0": [{"status": 503}], "*": []}) as srv:
        providers = {f"p{i}": {"connector": "openai.compatible.v1", "base_url": srv.base_url}
                     for i in range(2)}
        models = {f"p{i}.m{i}": {"provider": f"p{i}", "name": f"m{i}",
                                 "capabilities": ["chat-completion"]} for i in range(2)}
        cfg: dict[str, Any] = {"providers": providers, "models": models, "pools": {"chat": {
            "models": list(models), "strategy_instance": pol, "retry": {"max_attempts": 1}}}}
        with create(config=cfg, seed=1) as client:
            out = client.chat.completions.create(model="chat", messages=MSG)
            assert out.model == "p1.m1"
            status = {m.model_id: m for m in client.pool_status("chat").models}
            # one failure was enough (retry_limit 3 is replaced) with the policy's reason
            assert status["p0.m0"].status == "standby"
            assert status["p0.m0"].reason == "request_limit"
            assert status["p0.m0"].standby_until is None  # schedule None: latched
            assert "p0.m0" in pol.deactivation_asked and pol.schedule_asked == ["p0.m0"]
            assert client.chat.completions.create(model="chat", messages=MSG).model == "p1.m1"
            client.activate("p0.m0")
            assert {m.model_id: m.status for m in client.pool_status("chat").models}[
                "p0.m0"] == "active"
