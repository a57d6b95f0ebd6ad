"""Custom connectors (SPEC R-17, R-54): entry points of the group
`modelmesh.connectors`, `connectors.classes`, `module:Class` strategies and
`strategy_instance`, used by the router end to end through the sync client."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.client import create
from adapters.fake_provider import FakeProviderServer
from meshcore.errors import ConfigurationError

MSG = [{"role": "user", "content": "hi"}]
MODULE = "mm_custom_ext_test"

SOURCE = textwrap.dedent('''
    from meshcore import SelectionResult
    from meshcore.wire.registry import get_family

    class LastCandidate:
        """Selection (R-43): always the last candidate in pool order."""
        calls = 0

        def select(self, candidates, request):
            LastCandidate.calls += 1
            c = candidates[-1]
            return SelectionResult(c.model_id, c.provider_id, 1.0, "last candidate")

        def score(self, candidate, request):
            return float(candidate.pool_index)

    class AcmeConnector:
        """A provider connector with its own Model Execution (it adds a header
        and otherwise speaks the OpenAI-compatible wire format)."""
        base_url = None
        auth = "bearer"
        endpoints = ("chat", "stream", "models")
        started = 0

        def start_attempt(self, request, ctx):
            AcmeConnector.started += 1
            return get_family("openai").factory(request, ctx)
''')


@pytest.fixture
def ext(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An importable module plus a dist-info whose entry points name it."""
    (tmp_path / f"{MODULE}.py").write_text(SOURCE)
    dist = tmp_path / "mm_custom_ext_test-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mm-custom-ext-test\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[modelmesh.connectors]\n"
        f"acme.last.v1 = {MODULE}:LastCandidate\n"
        f"acme.llm.v1 = {MODULE}:AcmeConnector\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    mod = importlib.import_module(MODULE)
    yield mod
    sys.modules.pop(MODULE, None)


def three_models(srv: FakeProviderServer, strategy: Any = None,
                 **pool: Any) -> dict[str, Any]:
    providers = {f"p{i}": {"connector": "openai.compatible.v1", "base_url": srv.base_url}
                 for i in range(3)}
    models = {f"p{i}.m{i}": {"provider": f"p{i}", "name": f"m{i}",
                             "capabilities": ["chat-completion"]} for i in range(3)}
    body: dict[str, Any] = {"models": list(models), **pool}
    if strategy is not None:
        body["strategy"] = strategy
    return {"providers": providers, "models": models, "pools": {"chat": body}}


def test_r54_entry_point_strategy_selects_end_to_end(ext: Any) -> None:
    with FakeProviderServer() as srv:
        client = create(config=three_models(srv, "acme.last.v1"))
        try:
            out = client.chat.completions.create(model="chat", messages=MSG)
            assert out.model == "p2.m2"
            assert ext.LastCandidate.calls >= 1
            exp = client.explain("chat")
            assert exp["selected_model"] == "p2.m2"
            assert [c["score"] for c in exp["candidates"]] == [0.0, 1.0, 2.0]
        finally:
            client.close()


def test_r54_module_class_strategy(ext: Any) -> None:
    with FakeProviderServer() as srv:
        data = three_models(srv, f"{MODULE}:LastCandidate")
        data["connectors"] = {"entry_points": False}
        client = create(config=data)
        try:
            assert client.chat.completions.create(model="chat", messages=MSG).model == "p2.m2"
        finally:
            client.close()


def test_r17_strategy_instance_is_used(ext: Any) -> None:
    inst = ext.LastCandidate()
    before = ext.LastCandidate.calls
    with FakeProviderServer() as srv:
        client = create(config=three_models(srv, strategy_instance=inst))
        try:
            assert client.chat.completions.create(model="chat", messages=MSG).model == "p2.m2"
            assert ext.LastCandidate.calls > before
        finally:
            client.close()


def test_r54_failing_custom_strategy_falls_back_to_pool_order(ext: Any) -> None:
    class Broken:
        def select(self, candidates: Any, request: Any) -> Any:
            raise RuntimeError("boom")

    with FakeProviderServer() as srv:
        client = create(config=three_models(srv, strategy_instance=Broken()))
        try:
            assert client.chat.completions.create(model="chat", messages=MSG).model == "p0.m0"
        finally:
            client.close()


def test_r17_entry_points_false_disables_the_scan(ext: Any) -> None:
    with FakeProviderServer() as srv:
        data = three_models(srv, "acme.last.v1")
        data["connectors"] = {"entry_points": False}
        with pytest.raises(ConfigurationError, match=r"acme\.last\.v1"):
            create(config=data)


def test_r17_custom_provider_connector_runs_its_model_execution(ext: Any) -> None:
    with FakeProviderServer() as srv:
        data = {
            "connectors": {"classes": {"acme.llm.v1": f"{MODULE}:AcmeConnector"},
                           "entry_points": False},
            "providers": {"acme": {"connector": "acme.llm.v1", "base_url": srv.base_url,
                                   "api_key": "k-acme"}},
            "models": {"acme.m": {"provider": "acme", "name": "m",
                                  "capabilities": ["chat-completion"]}},
            "pools": {"chat": {"models": ["acme.m"]}},
        }
        client = create(config=data)
        try:
            before = ext.AcmeConnector.started
            out = client.chat.completions.create(model="chat", messages=MSG)
            assert out.choices[0].message.content
            assert ext.AcmeConnector.started == before + 1
            (rec,) = srv.requests_for("m")
            assert rec.headers["authorization"] == "Bearer k-acme"
        finally:
            client.close()
