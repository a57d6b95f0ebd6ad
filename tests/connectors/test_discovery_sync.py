"""Registry sync and health monitor against a real loopback provider
(SPEC R-18, R-20, R-100 .. R-103, R-107): `adapters.discovery` sends the
models-list call with httpcore and the core decides."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from adapters.client import AsyncMeshClient, MeshClient, create, create_async
from adapters.discovery import HealthReport, ProbeResult, SyncResult, SyncStatus
from adapters.fake_provider import FakeProviderServer

MSG = [{"role": "user", "content": "hi"}]


def listing(*names: str) -> dict[str, Any]:
    """A plan whose models-list answer lists `names` (chat calls succeed)."""
    body = {"object": "list", "data": [{"id": n, "object": "model"} for n in names]}
    return {"*": [{"body": body}], **{n: [] for n in ("alpha", "beta", "gamma")}}


def cfg(srv: FakeProviderServer, **discovery: Any) -> dict[str, Any]:
    return {
        "providers": {"local": {"connector": "ollama.local.v1", "base_url": srv.base_url}},
        "pools": {"chat": {"capability": "generation.text-generation"}},
        "discovery": discovery,
    }


def model_calls(srv: FakeProviderServer) -> int:
    return sum(1 for r in srv.requests if r.path.endswith("/models"))


def test_r20_local_provider_lists_its_models_at_construction() -> None:
    with FakeProviderServer(listing("alpha", "beta")) as srv:
        client = create(config={"providers": {"local": {"connector": "ollama.local.v1",
                                                          "base_url": srv.base_url}},
                                "pools": {"chat": {"capability": "chat-completion"}}})
        try:
            assert client.pool_status("chat").total == 2
            out = client.chat.completions.create(model="chat", messages=MSG)
            assert out.model in ("alpha", "beta") or out.choices
            assert srv.requests_for("alpha")
        finally:
            client.close()


def test_r18_failed_startup_listing_leaves_no_models_and_warns() -> None:
    with FakeProviderServer({"*": [{"status": 500}]}) as srv:
        client = create(config=cfg(srv))
        try:
            assert client.pool_status("chat").total == 0
            assert any("listing models failed" in w for w in client.warnings)
        finally:
            client.close()


def test_r102_sync_reports_new_deprecated_and_errors() -> None:
    with FakeProviderServer(listing("alpha")) as srv:
        client = create(config=cfg(srv, sync={"on_deprecated_model": "deactivate"}))
        try:
            rs = client.discovery.registry_sync
            srv.set_plan(listing("alpha", "beta"))
            res = rs.sync()
            assert isinstance(res, SyncResult)
            assert res.new_models == ["local.beta"] and res.errors == {}
            assert client.pool_status("chat").total == 2
            srv.set_plan(listing("beta"))
            res = rs.sync()
            assert res.deprecated_models == ["local.alpha"]
            assert [m.model_id for m in client.pool_status("chat").models] == ["local.beta"]
            srv.set_plan({"*": [{"status": 503}]})
            res = rs.sync()
            assert list(res.errors) == ["local"]
            assert client.pool_status("chat").total == 1  # kept
            status = rs.get_sync_status()
            assert isinstance(status, SyncStatus) and status.status == "error"
            assert status.last_sync is not None
        finally:
            client.close()


def test_r107_sync_client_runs_due_discovery_inline_at_the_next_call() -> None:
    with FakeProviderServer(listing("alpha", "beta")) as srv:
        data = cfg(srv, sync={"interval": "1h"})
        data["models"] = {"local.alpha": {"provider": "local", "name": "alpha",
                                          "capabilities": ["chat-completion"]}}
        client = create(config=data)  # configured models: no startup listing
        try:
            assert model_calls(srv) == 0
            assert client.pool_status("chat").total == 1
            client.chat.completions.create(model="chat", messages=MSG)
            assert model_calls(srv) == 1  # the first scheduled run is due at once
            assert client.pool_status("chat").total == 2
            client.chat.completions.create(model="chat", messages=MSG)
            assert model_calls(srv) == 1  # the next one only after the interval
        finally:
            client.close()


def test_r103_health_monitor_deactivates_and_recovers_the_provider() -> None:
    with FakeProviderServer(listing("alpha")) as srv:
        client = create(config=cfg(srv, health={"failure_threshold": 2, "timeout": "2s"}))
        try:
            hm = client.discovery.health_monitor
            ok = hm.probe("local")
            assert isinstance(ok, ProbeResult) and ok.success and ok.status_code == 200
            srv.set_plan({"*": [{"status": 503}]})
            assert not hm.probe("local").success
            (rep,) = hm.get_health_report("local")
            assert isinstance(rep, HealthReport) and rep.status == "degraded"
            hm.probe("local")
            (rep,) = hm.get_health_report()
            assert rep.status == "unavailable" and not rep.available
            assert rep.availability_score == pytest.approx(1 / 3)
            assert client.active_providers() == []
            srv.set_plan(listing("alpha"))
            hm.probe("local")
            assert client.active_providers() == ["local"]
            assert hm.get_health_report("local")[0].status == "healthy"
        finally:
            client.close()


def test_r107_async_client_runs_discovery_in_the_background() -> None:
    async def main() -> None:
        with FakeProviderServer(listing("alpha")) as srv:
            client = create_async(config=cfg(srv, sync={"interval": "1s"}))
            assert isinstance(client, AsyncMeshClient)
            async with client:
                assert client.pool_status("chat").total == 1
                srv.set_plan(listing("alpha", "gamma"))
                with anyio.fail_after(5):
                    while client.pool_status("chat").total < 2:
                        await anyio.sleep(0.05)
                out = await client.chat.completions.create(model="chat", messages=MSG)
                assert out.choices

    anyio.run(main)


def test_r101_no_discovery_section_means_no_scheduled_runs() -> None:
    with FakeProviderServer(listing("alpha")) as srv:
        data = cfg(srv)
        del data["discovery"]
        client = create(config=data)
        try:
            assert isinstance(client, MeshClient)
            before = model_calls(srv)  # the startup listing only
            client.chat.completions.create(model="chat", messages=MSG)
            assert model_calls(srv) == before
            assert client.discovery.registry_sync.get_sync_status().next_sync is None
        finally:
            client.close()
