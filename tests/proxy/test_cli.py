"""The `modelmesh` command line (SPEC R-119): help, exit codes 0/1/2, problems on stderr."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _proxy_helpers import provider_config

from adapters.cli import main
from adapters.fake_provider import FakeProviderServer


def run_cli(argv: list[str]) -> int:
    """`main(argv)` with argparse's SystemExit turned into the exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def write(tmp_path: Path, cfg: dict[str, Any], name: str = "c.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return str(path)


@pytest.fixture
def fp() -> Any:
    with FakeProviderServer() as srv:
        yield srv


@pytest.mark.parametrize("cmd", ["check", "explain", "serve", "fake-provider", "replay"])
def test_help_exits_0_r119(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli([cmd, "--help"]) == 0
    out = capsys.readouterr()
    assert "usage:" in out.out and cmd in out.out


def test_usage_errors_exit_2_r119(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["check"]) == 2
    assert "--config" in capsys.readouterr().err
    assert run_cli(["explain", "--config", "x.json"]) == 2
    assert "POOL" in capsys.readouterr().err
    assert run_cli(["serve", "--backend", "curio"]) == 2
    assert "curio" in capsys.readouterr().err
    assert run_cli(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
    assert run_cli(["no-such-command"]) == 2
    assert run_cli(["serve", "--loop", "libuv"]) == 2
    assert "libuv" in capsys.readouterr().err


def test_serve_loop_uvloop_without_uvloop_exits_2_r119(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvloop" else real(name, *a))
    assert run_cli(["serve", "--loop", "uvloop", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--loop uvloop" in err and "not installed" in err


def test_check_valid_and_invalid_r119(tmp_path: Path, fp: FakeProviderServer,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, provider_config([fp]))
    assert run_cli(["check", "--config", good]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("0 error(s)")
    cfg = provider_config([fp], pool={"strategy": "no-such-strategy", "retry":
                                      {"max_attempts": 0}})
    cfg["unknown_top"] = 1
    bad = write(tmp_path, cfg, "bad.json")
    assert run_cli(["check", "--config", bad]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    errors = [x for x in lines if x.startswith("ERROR ")]
    assert any("pools.chat.strategy" in x for x in errors)
    assert any("pools.chat.retry.max_attempts" in x for x in errors)
    assert any(x.startswith("WARNING ") and "unknown_top" in x for x in lines)
    assert lines[-1].startswith(f"{len(errors)} error(s)")


def test_check_missing_file_and_secrets_r119(tmp_path: Path, fp: FakeProviderServer,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["check", "--config", str(tmp_path / "absent.json")]) == 1
    assert "absent.json" in capsys.readouterr().out
    cfg = provider_config([fp])
    cfg["providers"]["p0"]["api_key"] = "${env:CLI_TEST_KEY}"
    path = write(tmp_path, cfg)
    monkeypatch.delenv("CLI_TEST_KEY", raising=False)
    assert run_cli(["check", "--config", path]) == 0  # references are not resolved
    capsys.readouterr()
    assert run_cli(["check", "--config", path, "--resolve-secrets"]) == 1
    assert "CLI_TEST_KEY" in capsys.readouterr().out
    monkeypatch.setenv("CLI_TEST_KEY", "sk-very-secret-value")
    assert run_cli(["check", "--config", path, "--resolve-secrets"]) == 0
    assert "sk-very-secret-value" not in capsys.readouterr().out


def test_explain_text_json_and_unknown_pool_r119(tmp_path: Path, fp: FakeProviderServer,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with FakeProviderServer() as other:
        path = write(tmp_path, provider_config([fp, other]))
        assert run_cli(["explain", "--config", path, "chat"]) == 0
        out = capsys.readouterr().out
        assert "selected: p0.m0" in out and "p1.m1" in out
        assert run_cli(["explain", "--config", path, "chat", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["selected_model"] == "p0.m0"
        assert [c["model_id"] for c in data["candidates"]] == ["p0.m0", "p1.m1"]
        assert run_cli(["explain", "--config", path, "nope"]) == 1
        err = capsys.readouterr().err
        assert "unknown pool 'nope'" in err and "chat" in err
        assert fp.requests == [] and other.requests == []  # no provider called


def test_serve_config_errors_exit_1_r119(tmp_path: Path, fp: FakeProviderServer,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = provider_config([fp], pool={"strategy": "no-such-strategy"})
    cfg["models"]["p0.m0"]["provider"] = "ghost"
    path = write(tmp_path, cfg)
    assert run_cli(["serve", "--config", path, "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "pools.chat.strategy" in err and "ghost" in err
    assert run_cli(["serve", "--config", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_serve_port_in_use_exits_1_r119(tmp_path: Path, fp: FakeProviderServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, provider_config([fp]))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert run_cli(["serve", "--config", path, "--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_serve_zero_config_without_providers_exits_1_r119(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from adapters.build import ENV_PROVIDERS

    monkeypatch.delenv("MODELMESH_CONFIG", raising=False)
    for variables, *_ in ENV_PROVIDERS:
        for v in variables:
            monkeypatch.delenv(v, raising=False)
    assert run_cli(["serve", "--port", "0"]) == 1
    assert "no provider detected" in capsys.readouterr().err


def test_fake_provider_plan_errors_r119(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('[{"bogus": 1}]', encoding="utf-8")
    assert run_cli(["fake-provider", "--plan", str(bad)]) == 2
    assert "bogus" in capsys.readouterr().err


def test_python_m_adapters_proxy_is_serve_r119() -> None:
    out = subprocess.run([sys.executable, "-m", "adapters.proxy", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--config", "--host", "--port", "--token", "--log-level", "--backend",
                 "--record"):
        assert flag in out.stdout
