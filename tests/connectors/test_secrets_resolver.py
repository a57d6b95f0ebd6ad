"""Secret references (SPEC R-13, R-78): resolver, cache TTL, fail_on_missing,
create() integration with every store kind, reload_on_rotation, CLI (R-119)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters import create
from adapters.build import build
from adapters.cli_secrets import main as secrets_main
from adapters.secrets import MemorySecretStore, SecretResolver
from meshcore.errors import ConfigurationError


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_resolver_forms_and_literal_r13() -> None:
    r = SecretResolver(MemorySecretStore({"S": "sv"}), environ={"E": "ev"})
    assert r.resolve("${secrets:S}/${env:E}/${E}/$${x}") == "sv/ev/ev/${x}"
    with pytest.raises(ConfigurationError, match=r"\$\{secrets:NOPE\}"):
        r.resolve("${secrets:NOPE}", "providers.p.api_key")


def test_resolver_cache_ttl_r78() -> None:
    store = MemorySecretStore({"K": "one"})
    clock = Clock()
    r = SecretResolver(store, cache_ttl=10.0, clock=clock)
    assert r.resolve("${secrets:K}") == "one"
    store.set("K", "two")
    clock.t = 9.9
    assert r.resolve("${secrets:K}") == "one"  # cached
    clock.t = 10.0
    assert r.resolve("${secrets:K}") == "two"  # older than the TTL: read again
    nocache = SecretResolver(store, cache_enabled=False, clock=clock)
    store.set("K", "three")
    assert nocache.resolve("${secrets:K}") == "three"


def test_fail_on_missing_false_warns_without_value_r13() -> None:
    r = SecretResolver(MemorySecretStore({"K": "hidden-value"}), fail_on_missing=False)
    problems = r.check_tree({"providers": {"p": {"api_key": "${secrets:GONE}",
                                                 "other": "${secrets:K}"}}})
    assert problems == ["providers.p.api_key: missing secret ${secrets:GONE}"]
    assert "hidden-value" not in " ".join(problems)


def _cfg(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {"p": {"connector": "openai.compatible.v1",
                            "base_url": "http://127.0.0.1:9/v1", "api_key": key}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m"]}},
        **extra,
    }


def test_create_resolves_through_configured_stores_r13_r79(tmp_path: Path) -> None:
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"prod": {"openai": {"key": "from-json"}}}))
    built = build((), config=_cfg("${secrets:openai.key}", secrets={
        "store": "modelmesh.json-secrets.v1", "file_path": str(js), "json_path": "prod"}),
        environ={})
    assert built.api_keys["p"] == ("from-json",)
    mem = build((), config=_cfg("k-${secrets:K}", secrets={
        "connector": "modelmesh.memory-secrets.v1", "config": {"secrets": {"K": "m"}}}),
        environ={})
    assert mem.api_keys["p"] == ("k-m",)
    inst = build((), config=_cfg("${secrets:K}", secrets={
        "instance": MemorySecretStore({"K": "injected"})}), environ={})
    assert inst.api_keys["p"] == ("injected",)
    with pytest.raises(ConfigurationError, match="MISSING"):
        build((), config=_cfg("${secrets:MISSING}", secrets={
            "instance": MemorySecretStore()}), environ={})


def test_create_missing_secret_lenient_warning_r13() -> None:
    with create(config=_cfg("${secrets:GONE}", secrets={
            "instance": MemorySecretStore(), "fail_on_missing": False}), seed=1) as client:
        traces = list(client._engine.state.traces)
        assert any("${secrets:GONE}" in t.message and t.severity == "warning" for t in traces)


def test_reload_on_rotation_reresolves_on_manual_activation_r78() -> None:
    store = MemorySecretStore({"K": "old"})
    cfg = _cfg("${secrets:K}", secrets={"instance": store, "cache_ttl": "0s"})
    with create(config=cfg, seed=1) as client:
        built = client._engine.built
        assert built.api_keys["p"] == ("old",)
        store.set("K", "rotated")
        client.deactivate("p.m")
        assert built.api_keys["p"] == ("old",)
        client.activate("p.m")
        assert built.api_keys["p"] == ("rotated",)
    cfg_off = _cfg("${secrets:K}", secrets={"instance": store, "cache_ttl": "0s",
                                            "reload_on_rotation": False})
    with create(config=cfg_off, seed=1) as client:
        store.set("K", "again")
        client.deactivate("p.m")
        client.activate("p.m")
        assert client._engine.built.api_keys["p"] == ("rotated",)


# ---------------------------------------------------------------- CLI


def _run(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None,
         monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = secrets_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_set_list_import_delete_r119(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    js = tmp_path / "s.json"
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"secrets": {"store": "json-secrets", "file_path": str(js)}}))
    base = ["--config", str(cfg)]
    code, out, _ = _run(["set", "B_KEY", "vb", *base], capsys)
    assert code == 0 and "vb" not in out
    code, out, _ = _run(["set", "A_KEY", *base], capsys, "from-stdin\n", monkeypatch)
    assert code == 0 and "from-stdin" not in out
    assert json.loads(js.read_text()) == {"A_KEY": "from-stdin", "B_KEY": "vb"}
    envf = tmp_path / "import.env"
    envf.write_text("# c\nX=1\nexport Y='two'\n")
    code, out, _ = _run(["import", str(envf), "--store", "modelmesh.json-secrets.v1", *base],
                        capsys)
    assert code == 0 and out.strip() == "imported 2 secrets"
    code, out, _ = _run(["list", *base], capsys)
    assert out.split() == ["A_KEY", "B_KEY", "X", "Y"]
    assert _run(["delete", "X", *base], capsys)[0] == 0
    code, _, err = _run(["delete", "X", *base], capsys)
    assert code == 1 and "X" in err
    code, _, err = _run(["list", "--store", "modelmesh.env.v1"], capsys)
    assert code == 1 and "store is read-only" in err
    assert _run(["list"], capsys)[0] == 2


def test_cli_dotenv_store_r119(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("# keep\nA=1\n")
    assert _run(["set", "B", "two words", "--store", "dotenv"], capsys)[0] == 0
    assert (tmp_path / ".env").read_text() == '# keep\nA=1\nB="two words"\n'
    assert _run(["list", "--store", "dotenv"], capsys)[1].split() == ["A", "B"]
