"""Discovery in the pure core: registry sync (R-20, R-21, R-26, R-102) and the
health monitor (R-103), driven through `meshcore.testing.Simulator.inject`."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore import (
    Deliver,
    Emit,
    EventLogWriter,
    ModelsDiscovered,
    ProviderHealthReported,
    RoutingEvent,
    load_config,
    replay,
)
from meshcore.codec import decode, encode
from meshcore.testing import Simulator

BASE = "http://127.0.0.1:9/v1"


def config(
    sync: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
    pools: dict[str, Any] | None = None,
    with_configured: bool = True,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": {"local": {"connector": "openai.compatible.v1", "base_url": BASE}},
        "discovery": {"sync": sync or {}, "health": health or {}},
    }
    if with_configured:
        data["models"] = {"local.pinned": {"provider": "local", "name": "pinned",
                                           "capabilities": ["chat-completion"]}}
    data["pools"] = pools if pools is not None else {
        "chat": {"capability": "generation.text-generation"}}
    return data


def listing(*names: str, **extra: dict[str, Any]) -> ModelsDiscovered:
    models = []
    for n in names:
        entry: dict[str, Any] = {"id": n, "name": n, "capabilities": ["chat-completion"]}
        entry.update(extra.get(n.replace("-", "_"), {}))
        models.append(entry)
    return ModelsDiscovered("local", tuple(models))


def events(sim: Simulator, kind: str) -> list[RoutingEvent]:
    out = []
    for a in sim.trace.actions(Emit):
        if isinstance(a.record, RoutingEvent) and a.record.event_type == kind:
            out.append(a.record)
    return out


def members(sim: Simulator, pool: str = "chat") -> tuple[str, ...]:
    return sim.router.pool_members.get(pool, ())


def step(sim: Simulator, event: Any, at: float) -> None:
    sim.inject(event, at=at)
    sim.run(until=at)


def test_r102_new_models_register_and_join_pools_r26() -> None:
    sim = Simulator(config())
    step(sim, listing("alpha", "beta"), 1.0)
    assert members(sim) == ("local.pinned", "local.alpha", "local.beta")
    (ev,) = events(sim, "discovery_models_updated")
    assert ev.provider_id == "local"
    assert ev.metadata == {"new": ["local.alpha", "local.beta"], "deprecated": [], "updated": []}
    changes = [e for e in events(sim, "pool_membership_changed") if e.metadata["added"] !=
               ["local.pinned"]]
    assert [(e.pool_id, e.metadata) for e in changes] == [
        ("chat", {"added": ["local.alpha", "local.beta"], "removed": []})]
    cfg = sim.router.config.models["local.alpha"]
    assert cfg.source == "discovered" and cfg.name == "alpha"


def test_r102_discovered_model_serves_requests() -> None:
    sim = Simulator(config(with_configured=False))
    step(sim, listing("alpha"), 1.0)
    rid = sim.submit("chat", at=2.0)
    sim.run()
    assert isinstance(sim.trace.results[rid], Deliver)
    assert sim.trace.served_by()[rid] == "local.alpha"


def test_r102_a_listing_without_changes_emits_nothing() -> None:
    sim = Simulator(config())
    step(sim, listing("alpha"), 1.0)
    step(sim, listing("alpha"), 2.0)
    assert len(events(sim, "discovery_models_updated")) == 1


def test_r102_on_new_model_notify_emits_without_registering() -> None:
    sim = Simulator(config(sync={"on_new_model": "notify"}))
    step(sim, listing("alpha"), 1.0)
    assert members(sim) == ("local.pinned",)
    assert events(sim, "discovery_models_updated")[0].metadata["new"] == ["local.alpha"]
    assert "local.alpha" not in sim.router.config.models


def test_r102_auto_register_false_only_notifies() -> None:
    sim = Simulator(config(sync={"auto_register": False}))
    step(sim, listing("alpha"), 1.0)
    assert members(sim) == ("local.pinned",)
    assert len(events(sim, "discovery_models_updated")) == 1


def test_r102_on_new_model_ignore_does_nothing() -> None:
    sim = Simulator(config(sync={"on_new_model": "ignore"}))
    step(sim, listing("alpha"), 1.0)
    assert members(sim) == ("local.pinned",)
    assert events(sim, "discovery_models_updated") == []


def test_r102_deprecated_deactivate_leaves_every_pool_and_returns_when_listed() -> None:
    pools = {"chat": {"capability": "generation.text-generation"},
             "code": {"capability": "chat-completion"}}
    sim = Simulator(config(sync={"on_deprecated_model": "deactivate"}, pools=pools))
    step(sim, listing("alpha", "beta"), 1.0)
    step(sim, listing("beta"), 2.0)
    assert members(sim) == ("local.pinned", "local.beta")
    assert members(sim, "code") == ("local.pinned", "local.beta")
    last = events(sim, "discovery_models_updated")[-1]
    assert last.metadata == {"new": [], "deprecated": ["local.alpha"], "updated": []}
    removed = [e for e in events(sim, "pool_membership_changed") if e.metadata["removed"]]
    assert sorted(e.pool_id or "" for e in removed) == ["chat", "code"]
    step(sim, listing("alpha", "beta"), 3.0)
    assert members(sim) == ("local.pinned", "local.alpha", "local.beta")
    assert events(sim, "discovery_models_updated")[-1].metadata["new"] == ["local.alpha"]


def test_r102_deprecated_notify_keeps_the_model() -> None:
    sim = Simulator(config())
    step(sim, listing("alpha", "beta"), 1.0)
    step(sim, listing("beta"), 2.0)
    assert "local.alpha" in members(sim)
    assert events(sim, "discovery_models_updated")[-1].metadata["deprecated"] == ["local.alpha"]
    step(sim, listing("beta"), 3.0)  # still missing: reported once
    assert len(events(sim, "discovery_models_updated")) == 2


def test_r102_configured_models_are_never_removed() -> None:
    sim = Simulator(config(sync={"on_deprecated_model": "deactivate"}))
    step(sim, listing("pinned", "alpha"), 1.0)
    step(sim, listing("alpha"), 2.0)
    assert members(sim)[0] == "local.pinned"
    for ev in events(sim, "discovery_models_updated"):
        assert "local.pinned" not in ev.metadata["new"] + ev.metadata["deprecated"]


def test_r20_configured_attributes_win_field_by_field() -> None:
    sim = Simulator(config())
    info = {"pinned": {"context_window": 4096, "capabilities": ["embeddings"]}}
    step(sim, listing("pinned", **info), 1.0)
    cfg = sim.router.config.models["local.pinned"]
    assert cfg.context_window == 4096  # unset in config: filled from the listing
    assert cfg.capabilities == ("generation.text-generation.chat-completion",)  # config wins


def test_r102_pricing_and_capability_changes_are_updates() -> None:
    sim = Simulator(config())
    step(sim, listing("alpha", "beta"), 1.0)
    priced = {"alpha": {"pricing": {"input_per_1m": 1.0, "output_per_1m": 2.0}},
              "beta": {"capabilities": ["chat-completion", "code-generation"]}}
    step(sim, listing("alpha", "beta", **priced), 2.0)
    assert events(sim, "discovery_models_updated")[-1].metadata == {
        "new": [], "deprecated": [], "updated": ["local.alpha", "local.beta"]}
    pricing = sim.router.config.models["local.alpha"].pricing
    assert pricing is not None and pricing.output_per_1m == 2.0


def test_r102_failed_listing_keeps_models_and_reports() -> None:
    sim = Simulator(config())
    step(sim, listing("alpha"), 1.0)
    step(sim, ModelsDiscovered("local", (), error="HTTP 503"), 2.0)
    assert "local.alpha" in members(sim)
    assert len(events(sim, "discovery_models_updated")) == 1


def test_r21_capabilities_fall_back_to_the_provider_list() -> None:
    data = config(with_configured=False)
    data["providers"]["local"]["capabilities"] = ["chat-completion"]
    sim = Simulator(data)
    step(sim, ModelsDiscovered("local", ({"id": "Bare/Model"},)), 1.0)
    assert members(sim) == ("local.bare-model",)
    assert sim.router.config.models["local.bare-model"].name == "Bare/Model"


def test_r21_model_without_capabilities_joins_no_pool_and_warns() -> None:
    sim = Simulator(config(with_configured=False))
    step(sim, ModelsDiscovered("local", ({"id": "mystery"},)), 1.0)
    assert members(sim) == ()
    assert any("no capabilities" in getattr(a.record, "message", "")
               for a in sim.trace.actions(Emit))


def test_r7_predefined_pools_appear_when_discovery_fills_them() -> None:
    data = {"providers": {"local": {"connector": "ollama.local.v1", "base_url": BASE}},
            "discovery": {}}
    sim = Simulator(data)
    assert sim.router.config.pools == {}
    step(sim, listing("alpha"), 1.0)
    assert members(sim, "text-generation") == ("local.alpha",)
    assert "embeddings" not in sim.router.config.pools


def test_r20_catalogue_models_give_way_to_discovered_ones() -> None:
    data = {"providers": {"openai": {"connector": "openai.llm.v1", "api_key": "k"}},
            "discovery": {}, "pools": {"chat": {"capability": "chat-completion"}}}
    sim = Simulator(data)
    before = members(sim)
    assert before and all(sim.router.config.models[m].source == "catalogue" for m in before)
    sim.inject(ModelsDiscovered("openai", ({"id": "gpt-4o"}, {"id": "brand-new",
                                             "capabilities": ["chat-completion"]})), at=1.0)
    sim.run(until=1.0)
    assert members(sim) == ("openai.gpt-4o", "openai.brand-new")
    assert sim.router.config.models["openai.gpt-4o"].pricing is not None  # from the catalogue


def test_r118a_reload_keeps_discovered_models() -> None:
    from meshcore import ConfigChanged

    data = config()
    sim = Simulator(data)
    step(sim, listing("alpha"), 1.0)
    step(sim, ConfigChanged({**data, "pools": {"chat": {"capability": "chat-completion",
                                                         "strategy": "round-robin"}}}), 2.0)
    assert members(sim) == ("local.pinned", "local.alpha")


# ---------------------------------------------------------------- health


def health(ok: bool, at: float, sim: Simulator, provider: str = "local") -> None:
    step(sim, ProviderHealthReported(provider, ok, 12.0 if ok else None,
                                     200 if ok else 503, None if ok else "HTTP 503"), at)


def test_r103_threshold_failures_make_the_provider_unavailable_then_recover() -> None:
    sim = Simulator(config(health={"failure_threshold": 2}))
    health(True, 1.0, sim)
    assert events(sim, "provider_health_changed") == []
    health(False, 2.0, sim)
    health(False, 3.0, sim)
    changes = [(e.metadata["from"], e.metadata["to"]) for e in
               events(sim, "provider_health_changed")]
    assert changes == [("healthy", "degraded"), ("degraded", "unavailable")]
    (deact,) = events(sim, "provider_deactivated")
    assert deact.metadata["reason"] == "health_check"
    rid = sim.submit("chat", at=3.5)
    sim.run(until=3.5)
    assert not isinstance(sim.trace.results.get(rid), Deliver)
    health(True, 4.0, sim)
    (rec,) = events(sim, "provider_recovered")
    assert rec.metadata["trigger"] == "probe_success"
    last = events(sim, "provider_health_changed")[-1]
    assert (last.metadata["from"], last.metadata["to"]) == ("unavailable", "healthy")
    assert last.metadata["availability_score"] == 0.5


def test_r103_health_recovery_ignores_on_manual_provider_recovery() -> None:
    pools = {"chat": {"capability": "generation.text-generation",
                      "provider_recovery": "on_manual"}}
    sim = Simulator(config(health={"failure_threshold": 1}, pools=pools))
    health(False, 1.0, sim)
    health(True, 2.0, sim)
    assert len(events(sim, "provider_recovered")) == 1


def test_r103_health_does_not_recover_other_deactivations() -> None:
    from meshcore import OperatorCommand

    sim = Simulator(config())
    step(sim, OperatorCommand("deactivate", "local"), 1.0)
    health(True, 2.0, sim)
    assert events(sim, "provider_recovered") == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=130), st.integers(1, 4))
def test_r103_status_and_score_follow_the_probe_history(probes: list[bool], thr: int) -> None:
    from meshcore.router.healthmon import health_view

    sim = Simulator(config(health={"failure_threshold": thr}))
    for i, ok in enumerate(probes):
        health(ok, float(i + 1), sim)
    (row,) = health_view(sim.router.health_monitor, sim.router.config, "local")
    window = probes[-100:]
    assert row["availability_score"] == sum(window) / len(window)
    streak = 0
    for ok in reversed(probes):
        if ok:
            break
        streak += 1
    expected = "healthy" if streak == 0 else ("unavailable" if streak >= thr else "degraded")
    assert row["status"] == expected
    changes = events(sim, "provider_health_changed")
    for a, b in itertools.pairwise(changes):
        assert a.metadata["to"] == b.metadata["from"]
        assert a.metadata["from"] != a.metadata["to"]


# ---------------------------------------------------------------- properties and replay

NAMES = ["a1", "b2", "c3", "d4", "e5"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(NAMES), unique=True), min_size=1, max_size=6),
       st.sampled_from(["deactivate", "notify", "ignore"]))
def test_r102_membership_matches_the_latest_listing(
    listings: list[list[str]], on_dep: str
) -> None:
    sim = Simulator(config(sync={"on_deprecated_model": on_dep}))
    seen: list[str] = []
    for i, names in enumerate(listings):
        step(sim, listing(*names), float(i + 1))
        for n in names:
            if n not in seen:
                seen.append(n)
    got = members(sim)
    assert got[0] == "local.pinned"
    latest = listings[-1]
    if on_dep == "deactivate":
        assert set(got[1:]) == {f"local.{n}" for n in latest}
    else:
        assert set(got[1:]) == {f"local.{n}" for n in seen}
    # at most one discovery event per listing, and only for listings with changes
    assert len(events(sim, "discovery_models_updated")) <= len(listings)


def test_r102_events_roundtrip_through_the_codec_and_replay() -> None:
    ev = ModelsDiscovered("local", ({"id": "a", "capabilities": ["chat-completion"],
                                     "pricing": {"input_per_1m": 1.5}},), error=None)
    assert decode(encode(ev)) == ev
    hr = ProviderHealthReported("local", False, None, 503, "boom")
    assert decode(encode(hr)) == hr
    cfg = load_config(config(health={"failure_threshold": 1}))
    sim = Simulator(cfg, seed=7)
    writer = EventLogWriter(cfg, 7)
    step(sim, listing("alpha", "beta"), 1.0)
    sim.submit("chat", at=2.0)
    sim.run(until=2.5)
    health(False, 3.0, sim)
    step(sim, listing("beta"), 4.0)
    health(True, 5.0, sim)
    for now, event, acts in sim.trace.steps:
        writer.record(now, event, acts)
    report = replay(writer.pop_lines())
    assert report.ok, report.first_divergence
    assert report.steps == len(sim.trace.steps)
