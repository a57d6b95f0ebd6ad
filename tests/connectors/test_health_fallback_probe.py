"""R-103 health monitor: a provider without a models-list call is probed with
the R-50 request (one-message chat completion, `max_tokens: 1`; else one
short embedding input), built by the wire layer, against the fake provider."""

from __future__ import annotations

from typing import Any

import anyio

from adapters.client import create, create_async
from adapters.fake_provider import FakeProviderServer


def cfg(srv: FakeProviderServer, capability: str = "chat-completion") -> dict[str, Any]:
    return {
        "providers": {"nolist": {"connector": "openai.compatible.v1", "base_url": srv.base_url,
                                 "api_key": "k", "endpoints": ["chat", "embeddings"]}},
        "models": {"nolist.m": {"provider": "nolist", "name": "m",
                                "capabilities": [capability]}},
        "pools": {"p": {"models": ["nolist.m"]}},
        "discovery": {"health": {"failure_threshold": 2, "timeout": "2s"}},
    }


def test_r103_chat_fallback_probe_without_models_endpoint() -> None:
    with FakeProviderServer() as srv:
        with create(config=cfg(srv), seed=1) as client:
            hm = client.discovery.health_monitor
            assert "nolist" in hm.provider_ids()  # not skipped any more
            res = hm.probe("nolist")
            assert res.success and res.status_code == 200 and res.error is None
            (req,) = srv.requests
            assert req.path.endswith("/chat/completions")  # never /models
            assert req.json["max_tokens"] == 1 and req.json["model"] == "m"
            assert len(req.json["messages"]) == 1
            srv.set_plan({"*": [{"status": 503}]})
            bad = hm.probe("nolist")
            assert not bad.success and bad.status_code == 503 and "503" in str(bad.error)
            hm.probe("nolist")
            (rep,) = hm.get_health_report("nolist")
            assert rep.status == "unavailable"
            assert client.active_providers() == []
            srv.set_plan(None)
            assert hm.probe("nolist").success
            assert client.active_providers() == ["nolist"]
        assert not any(r.path.endswith("/models") for r in srv.requests)


def test_r103_embedding_fallback_probe_async() -> None:
    async def main() -> None:
        with FakeProviderServer() as srv:
            async with create_async(config=cfg(srv, "text-embeddings"), seed=1) as client:
                res = await client.discovery.health_monitor.aprobe("nolist")
                assert res.success, res.error
                (req,) = srv.requests
                assert req.path.endswith("/embeddings") and req.json["input"] == "ping"

    anyio.run(main)


def test_r103_fallback_probe_timeout_is_a_failure() -> None:
    with FakeProviderServer({"*": [{"delay": 1.0}]}) as srv:
        data = cfg(srv)
        data["discovery"]["health"]["timeout"] = "0.2s"
        with create(config=data, seed=1) as client:
            res = client.discovery.health_monitor.probe("nolist")
            assert not res.success and res.status_code is None
            assert res.latency_ms is not None and res.latency_ms < 900


def test_r50_fallback_probe_usage_is_charged() -> None:
    """R-50 via R-103: the fallback probe is a real completion, so its tokens and
    cost count in usage and budgets (but not in total_requests)."""
    with FakeProviderServer({"*": [{"usage": {"prompt_tokens": 7, "completion_tokens": 1}}]}) as srv:
        c = cfg(srv)
        c["models"]["nolist.m"]["pricing"] = {"input_per_1m": 1000.0, "output_per_1m": 2000.0}
        c["providers"]["nolist"]["budget"] = {"daily_limit": 10.0}
        with create(config=c, seed=1) as client:
            assert client.discovery.health_monitor.probe("nolist").success
            usage = client.usage
            assert usage["total_requests"] == 0
            assert usage["prompt_tokens"] == 7 and usage["completion_tokens"] == 1
            assert abs(usage["total_cost"] - (7 * 1000.0 + 1 * 2000.0) / 1e6) < 1e-12
            daily = usage["budget_status"]["nolist"]["daily"]
            assert abs(daily["used"] - usage["total_cost"]) < 1e-12
