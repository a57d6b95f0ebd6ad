"""Shell-only sections: secrets, storage, observability, discovery, connectors,
proxy (SPEC R-11, R-17, R-78, R-79, R-82, R-84, R-89, R-96, R-101, R-111)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meshcore.config import load_config, validate


def _sections(data: dict[str, Any]) -> dict[str, Any]:
    return load_config(data).sections


def test_sections_are_json_able() -> None:
    s = _sections({"observability": {"connector": "console"}, "storage": {}, "discovery": {}})
    assert json.loads(json.dumps(s)) == s


def test_r78_r79_secrets_defaults_and_shapes() -> None:
    s = _sections({})["secrets"]
    assert s["connector"] == "modelmesh.env.v1" and s["config"] == {"prefix": ""}
    assert s["resolution"] == {"cache_enabled": True, "cache_ttl": 300.0,
                               "reload_on_rotation": True, "fail_on_missing": True}
    a = _sections({"secrets": {"store": "dotenv", "path": "x.env", "cache_ttl": "1m"}})
    b = _sections({"secrets": {"connector": "modelmesh.dotenv.v1",
                               "config": {"path": "x.env"}, "resolution": {"cache_ttl": 60}}})
    assert a["secrets"] == b["secrets"]
    assert a["secrets"]["config"] == {"path": "x.env", "override": False}


def test_r79_store_required_parameters_and_key_format() -> None:
    errs = validate({"secrets": {"store": "json-secrets"}}).errors
    assert any(e.startswith("secrets.file_path:") and "required" in e for e in errs)
    errs = validate({"secrets": {"store": "encrypted-file", "file_path": "f",
                                 "encryption_key": "abc"}}).errors
    assert any(e.startswith("secrets.encryption_key:") for e in errs)
    ok = _sections({"secrets": {"store": "encrypted-file", "file_path": "f",
                                "encryption_key": "ab" * 32}})
    assert ok["secrets"]["config"]["pbkdf2_iterations"] == 600000
    assert any("secrets.store" in e for e in validate({"secrets": {"store": "vault"}}).errors)


def test_r82_r84_storage_defaults() -> None:
    none = _sections({})["storage"]
    assert none["connector"] == "modelmesh.memory.v1"
    assert none["persistence"]["sync_policy"] == "in-memory"
    present = _sections({"storage": {}})["storage"]
    assert present["connector"] == "modelmesh.local-file.v1"
    assert present["persistence"]["sync_policy"] == "sync-on-boundary"
    assert present["config"] == {"path": "./mesh-state.json", "backup": False}
    assert present["locking"] == {"enabled": False, "timeout": 30.0, "retry_interval": 1.0}
    assert present["persistence"]["encryption_secret"] == "MODELMESH_STORAGE_KEY"


def test_r82_storage_flat_sync_keys_and_locking_default() -> None:
    s = _sections({"storage": {"connector": "sqlite", "sync_policy": "periodic",
                               "sync_interval": "5m", "table": "t"}})["storage"]
    assert s["connector"] == "modelmesh.sqlite.v1"
    assert s["persistence"]["sync_policy"] == "periodic"
    assert s["persistence"]["sync_interval"] == 300.0
    assert s["locking"]["enabled"] is True
    assert s["config"] == {"path": "./mesh-state.db", "table": "t"}


def test_r84_redis_is_not_available() -> None:
    errs = validate({"storage": {"connector": "redis.redis.v1"}}).errors
    assert any(e.startswith("storage.connector:") and "connector not available" in e
               for e in errs)


def test_r11_observability_shapes_normalise_to_sink_lists() -> None:
    b = _sections({"observability": {"connector": "file", "config": {"path": "x.log"},
                                     "logging": {"level": "summary"}}})["observability"]
    assert len(b) == 1 and b[0]["connector"] == "modelmesh.file.v1"
    assert b[0]["config"]["path"] == "x.log" and b[0]["config"]["max_files"] == 5
    assert b[0]["logging"]["level"] == "summary"
    assert b[0]["streams"] == ["events", "logs", "stats", "traces"]
    lst = _sections({"observability": [{"connector": "file", "path": "x.log",
                                        "level": "summary"}]})["observability"]
    assert lst == b
    a = _sections({"observability": {
        "routing": {"connector": "console", "filter": ["rotation", "pool_exhausted"]},
        "logging": {"connector": "modelmesh.local-file.v1", "level": "full"},
        "statistics": {"connector": "prometheus", "flush_interval": "30s"},
    }})["observability"]
    assert [s["connector"] for s in a] == ["modelmesh.console.v1", "modelmesh.file.v1",
                                           "modelmesh.prometheus.v1"]
    assert [s["streams"] for s in a] == [["events", "traces"], ["logs"], ["stats"]]
    assert a[0]["events"]["filter"] == ["model_rotated", "pool_exhausted"]
    assert a[1]["logging"]["level"] == "full"
    assert a[2]["statistics"]["flush_interval"] == 30.0


def test_r89_r96_sink_defaults_and_errors() -> None:
    assert _sections({})["observability"] == []
    s = _sections({"observability": [{"connector": "console"}]})["observability"][0]
    assert s["config"] == {"stream": "stderr", "use_color": None, "show_timestamp": True,
                           "prefix": "[ModelMesh]"}
    assert s["logging"] == {"level": "metadata", "redact_secrets": True,
                            "max_payload_size": 65536}
    assert s["tracing"] == {"min_severity": "info"}
    assert s["statistics"] == {"flush_interval": 60.0, "retention": 604800.0,
                               "scopes": ["model", "provider", "pool"]}
    assert s["events"] == {"filter": None, "include_metadata": True}
    errs = validate({"observability": [{"connector": "webhook"},
                                       {"connector": "console", "filter": ["nope"]},
                                       {"connector": "callback"}]}).errors
    assert any(e.startswith("observability[0].url:") for e in errs)
    assert any(e.startswith("observability[1].filter[0]:") for e in errs)
    assert any(e.startswith("observability[2].callback:") for e in errs)


def test_r101_discovery_defaults_and_shapes() -> None:
    absent = _sections({})["discovery"]
    assert absent["present"] is False and absent["sync"]["enabled"] is False
    d = _sections({"providers": {"v": {"connector": "vllm.local.v1"}},
                   "discovery": {"sync": {"interval": "30m", "providers": ["v"]}}})["discovery"]
    assert d["present"] and d["sync"]["enabled"] and d["health"]["enabled"]
    assert d["sync"]["interval"] == 1800.0 and d["sync"]["providers"] == ["v"]
    assert d["sync"]["on_new_model"] == "register"
    assert d["sync"]["on_deprecated_model"] == "notify"
    assert d["health"]["interval"] == 60.0 and d["health"]["timeout"] == 10.0
    assert d["health"]["failure_threshold"] == 3
    listed = _sections({"discovery": {"connectors": [
        {"connector": "modelmesh.health-monitor.v1", "health": {"interval": "2m"}}]}})
    assert listed["discovery"]["health"]["enabled"] is True
    assert listed["discovery"]["health"]["interval"] == 120.0
    assert listed["discovery"]["sync"]["enabled"] is False
    errs = validate({"discovery": {"health": {"failure_threshold": 0, "providers": ["x"]}}}).errors
    assert any(e.startswith("discovery.health.failure_threshold:") for e in errs)
    assert any(e.startswith("discovery.health.providers[0]:") for e in errs)


def test_r17_connectors_section() -> None:
    s = _sections({"connectors": {"entry_points": False,
                                  "classes": {"acme.x.v1": "acme.mod:Cls"}}})["connectors"]
    assert s == {"entry_points": False, "classes": {"acme.x.v1": "acme.mod:Cls"}}
    errs = validate({"connectors": {"classes": {"acme.x.v1": "not a ref"}}}).errors
    assert any(e.startswith("connectors.classes.acme.x.v1:") for e in errs)


def test_r17_custom_capabilities_section() -> None:
    cfg = load_config({"capabilities": {"custom": ["robotics.motion.path-planning"]},
                       "providers": {"v": {"connector": "vllm.local.v1", "models": {
                           "r": {"capabilities": ["path-planning"]}}}},
                       "pools": {"robots": {"capability": "robotics"}}})
    assert cfg.custom_capabilities == ("robotics.motion.path-planning",)
    assert cfg.models["v.r"].capabilities == ("robotics.motion.path-planning",)
    assert cfg.pools["robots"].capability == "robotics"
    errs = validate({"capabilities": {"custom": ["Bad", "a..b"]}}).errors
    assert len(errs) == 2


def test_r111_proxy_defaults_and_auth() -> None:
    p = _sections({})["proxy"]
    assert (p["host"], p["port"], p["max_body_size"], p["shutdown_timeout"]) == (
        "127.0.0.1", 8080, 10 * 1024 * 1024, 30.0)
    assert p["auth"] == {"enabled": False, "method": "bearer", "tokens": []}
    assert p["cors"] == {"enabled": True, "origins": ["*"]}
    assert "/v1/chat/completions" in p["endpoints"]
    q = _sections({"proxy": {"auth": {"tokens": ["${secrets:PROXY_TOKEN}"]}, "port": 9000,
                             "max_body_size": "1MB"}})["proxy"]
    assert q["auth"]["enabled"] is True and q["port"] == 9000 and q["max_body_size"] == 10**6
    errs = validate({"proxy": {"port": 70000, "endpoints": ["/v2/x"]}}).errors
    assert any(e.startswith("proxy.port:") for e in errs)
    assert any(e.startswith("proxy.endpoints:") for e in errs)


@pytest.mark.parametrize("section", ["secrets", "storage", "proxy", "connectors", "capabilities",
                                     "discovery"])
def test_r14_sections_wrong_type(section: str) -> None:
    errs = validate({section: 5}).errors
    assert any(e.startswith(f"{section}:") and "wrong type" in e for e in errs)


def test_docs_configuration_example_is_valid() -> None:
    """The complete example in docs/configuration.md loads without errors."""
    yaml = pytest.importorskip("yaml")
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    block = text.split("## A complete example")[1].split("```yaml")[1].split("```")[0]
    cfg = load_config(yaml.safe_load(block))
    assert cfg.pools["chat"].strategy == "modelmesh.priority-selection.v1"
    assert cfg.sections["secrets"]["connector"] == "modelmesh.dotenv.v1"


def test_r5_deprecated_paths_in_config_warn() -> None:
    res = validate({"providers": {"v": {"connector": "vllm.local.v1", "models": {
        "t": {"capabilities": ["generation.audio.text-to-speech"]}}}},
        "pools": {"p": {"capability": "understanding.audio.speech-to-text"}}})
    assert res.errors == ()
    assert any(w.startswith("providers.v.models.t.capabilities[0]:") and "deprecated" in w
               for w in res.warnings)
    assert any(w.startswith("pools.p.capability:") and "deprecated" in w for w in res.warnings)


def test_r5_ambiguous_short_name_in_config_is_an_error() -> None:
    errs = validate({"capabilities": {"custom": ["evaluation.mine.summarization"]},
                     "pools": {"p": {"capability": "summarization"}}}).errors
    assert any(e.startswith("pools.p.capability:") and "evaluation.mine.summarization" in e
               and "understanding.text-understanding.summarization" in e for e in errs)
