"""Secret redaction in every sink's output (SPEC R-95, R-80)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from _obs_helpers import KEY, SECOND_KEY, config_for, receiver

from adapters import ModelMeshError, create, create_async
from adapters.fake_provider import FakeProviderServer
from adapters.observability import REDACTED, Redactor, metrics_text

HOOK_TOKEN = "hooktoken-KNOWN-123456"
BEARER = "bearer-value-xyz"


def leaky_messages() -> list[dict[str, str]]:
    return [{"role": "user",
             "content": f"my key is {KEY}, the other is {SECOND_KEY}, "
                        f"header Authorization: Bearer {BEARER}"}]


def test_key_based_bearer_and_value_redaction_r95() -> None:
    r = Redactor([KEY, "short"])
    rec = {"api_key": "anything", "Authorization": "Bearer zzz", "X-Goog-Api-Key": "g",
           "openai_api_key": "o", "tokens_in": 12, "max_tokens": 5,
           "nested": [{"password": "p", "note": f"uses {KEY} here", KEY: 1}],
           "text": "call with Bearer abc.def-ghi please", "short": "short"}
    out = r.scrub(rec)
    assert out["api_key"] == out["Authorization"] == out["X-Goog-Api-Key"] == REDACTED
    assert out["openai_api_key"] == REDACTED
    assert out["tokens_in"] == 12 and out["max_tokens"] == 5  # counters are not secrets
    assert out["nested"][0]["password"] == REDACTED
    assert out["nested"][0]["note"] == f"uses {REDACTED} here"
    assert REDACTED in out["nested"][0] and KEY not in json.dumps(out)
    assert out["text"] == f"call with Bearer {REDACTED} please"
    assert out["short"] == "short"  # values under 6 characters are not scrubbed


def test_value_scrubbing_is_always_on_r95() -> None:
    r = Redactor([KEY], by_key=False)
    out = r.scrub({"api_key": "plain", "msg": f"x{KEY}x"})
    assert out["api_key"] == "plain"  # redact_secrets: false turns key-based redaction off
    assert out["msg"] == f"x{REDACTED}x"


def test_known_keys_never_reach_any_sink_r95(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MM_TEST_KEY", KEY)
    monkeypatch.setenv("MM_SECOND_KEY", SECOND_KEY)
    monkeypatch.setenv("MM_HOOK_TOKEN", HOOK_TOKEN)
    got: list[dict[str, Any]] = []
    file_path, jsonl_path = tmp_path / "mesh.log", tmp_path / "events.jsonl"
    full = {"logging": {"level": "full"}, "tracing": {"min_severity": "debug"}}
    with receiver() as rcv, FakeProviderServer() as bad, FakeProviderServer() as good:
        bad.set_plan([{"status": 401, "message": f"invalid api key {KEY} (Bearer {KEY})"}])
        obs = [
            {"connector": "modelmesh.file.v1", "path": str(file_path), **full},
            {"connector": "modelmesh.json-log.v1", "path": str(jsonl_path), **full},
            {"connector": "modelmesh.console.v1", "stream": "stdout", **full},
            {"connector": "modelmesh.callback.v1", "callback": got.append, **full},
            {"connector": "modelmesh.webhook.v1", "url": rcv.url, **full,
             "headers": {"Authorization": "Bearer ${env:MM_HOOK_TOKEN}"}},
            {"connector": "modelmesh.prometheus.v1"},
        ]
        cfg = config_for(bad, good, key=["${env:MM_TEST_KEY}", "${env:MM_SECOND_KEY}"],
                         observability=obs)
        with create(config=cfg, seed=1) as client:
            client.chat.completions.create(model="chat", messages=leaky_messages())
            stream = client.chat.completions.create(model="chat", messages=leaky_messages(),
                                                    stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream)
            client.deactivate("p1")
            with pytest.raises(ModelMeshError):
                client.chat.completions.create(model="chat", messages=leaky_messages())
            prom = (metrics_text(client) or b"").decode()
        assert rcv.headers[0]["authorization"] == f"Bearer {HOOK_TOKEN}"  # resolved for sending
        outputs = {
            "file": file_path.read_text(),
            "json-log": jsonl_path.read_text(),
            "console": capsys.readouterr().out,
            "callback": json.dumps(got),
            "webhook": b"".join(rcv.raw).decode(),
            "prometheus": prom,
        }
    for name, text in outputs.items():
        assert text, name
        for secret in (KEY, SECOND_KEY, HOOK_TOKEN, BEARER):
            assert secret not in text, f"{secret} leaked into the {name} sink"
    for name in ("file", "json-log", "callback", "webhook"):
        assert REDACTED in outputs[name], name  # the records did carry the secrets
    assert "hello" not in outputs["prometheus"]


def test_redact_secrets_false_still_scrubs_resolved_values_r95(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    obs = {"connector": "modelmesh.callback.v1", "callback": got.append,
           "logging": {"level": "full", "redact_secrets": False}, "streams": ["logs"]}
    with FakeProviderServer() as a, FakeProviderServer() as b, create(
            config=config_for(a, b, key=[KEY, SECOND_KEY], observability=obs),
            seed=1) as client:
        client.chat.completions.create(model="chat", messages=leaky_messages())
    text = json.dumps(got)
    assert KEY not in text and SECOND_KEY not in text
    assert f"Bearer {BEARER}" in text  # key-based redaction is off; the value is not a secret


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_client_sinks_are_redacted_r95(backend: str, tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    path = tmp_path / "a.log"
    obs = [{"connector": "modelmesh.callback.v1", "callback": got.append,
            "logging": {"level": "full"}},
           {"connector": "modelmesh.file.v1", "path": str(path), "logging": {"level": "full"}}]

    async def main() -> None:
        with FakeProviderServer() as srv:
            async with create_async(config=config_for(srv, observability=obs),
                                    seed=1) as client:
                await client.chat.completions.create(model="chat", messages=leaky_messages())
                stream = await client.chat.completions.create(
                    model="chat", messages=leaky_messages(), stream=True)
                async for _ in stream:
                    pass

    anyio.run(main, backend=backend)
    logs = [r for r in got if r["type"] == "log"]
    assert [r["delivery_mode"] for r in logs] == ["synchronous", "streaming"]
    assert any(r["type"] == "stats" for r in got) and got[-1]["message"] == "Shutdown"
    for text in (json.dumps(got), path.read_text()):
        assert KEY not in text and BEARER not in text and REDACTED in text


def test_console_captured_stream_object() -> None:
    from adapters.observability import ConsoleSink

    buf = io.StringIO()
    ConsoleSink(buf).write({"type": "trace", "severity": "info", "component": "mesh",
                            "message": "m", "timestamp": "t"})
    assert "m" in buf.getvalue()
