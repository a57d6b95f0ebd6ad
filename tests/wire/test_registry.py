"""Codec registry and start_attempt dispatch (SPEC R-72, R-73, R-75)."""

from __future__ import annotations

import pytest

from meshcore.config.schema import ModelConfig, ProviderConfig
from meshcore.connectors import PROVIDER_CONNECTORS, ProviderConnectorInfo
from meshcore.wire.attempt import Attempt, AttemptContext, HttpRequest
from meshcore.wire.models import ChatCompletionRequest, CompletionRequest, parse_request
from meshcore.wire.openai import OpenAIAttempt
from meshcore.wire.registry import (
    endpoints_of,
    register_connector,
    register_family,
    start_attempt,
)

REQ = parse_request("chat", {"messages": [{"role": "user", "content": "x"}]})


def _start(connector: str, base_url: str | None = None, request: CompletionRequest = REQ) -> Attempt:
    return start_attempt(
        request, model=ModelConfig(id="p.m", provider="p", name="Native-Name"),
        provider=ProviderConfig(id="p", connector=connector, base_url=base_url),
        api_key="k", attempt_id="a", model_id="p.m", response_id="r", created=3,
    )


@pytest.mark.parametrize("connector", sorted(
    c.id for c in PROVIDER_CONNECTORS.values() if c.family == "openai" and c.base_url))
def test_every_openai_family_connector_dispatches_r73(connector: str) -> None:
    a = _start(connector)
    assert isinstance(a, OpenAIAttempt)
    req = a.next_request()
    assert req is not None
    default = PROVIDER_CONNECTORS[connector].base_url
    assert default is not None
    assert req.url == default.rstrip("/") + "/chat/completions"
    assert b'"model":"Native-Name"' in req.body  # the wire name, not the ID


def test_base_url_override_and_required_r75() -> None:
    req = _start("vllm.local.v1", "http://10.0.0.5:8000/v1/").next_request()
    assert req is not None and req.url == "http://10.0.0.5:8000/v1/chat/completions"
    with pytest.raises(ValueError):
        _start("openai.compatible.v1")
    with pytest.raises(KeyError):
        _start("nope.nothing.v1")


def test_register_custom_family_and_connector() -> None:
    class Echo(Attempt):
        family = "echo-test"

        def build_request(self) -> HttpRequest:
            return HttpRequest("POST", self.ctx.base_url + "/echo", [], b"")

    def factory(request: CompletionRequest, ctx: AttemptContext) -> Attempt:
        return Echo(request, ctx)

    register_family("echo-test", factory)
    register_connector(ProviderConnectorInfo("acme.echo.v1", "echo-test", "https://e.invalid",
                                             "bearer", ("chat",)))
    a = _start("acme.echo.v1")
    assert isinstance(a, Echo)
    req = a.next_request()
    assert req is not None and req.url == "https://e.invalid/echo"
    # a codec hook that raises becomes a failure fact, never an exception
    a.receive_head(200, [])
    a.receive_data(b"{}")
    a.receive_end()
    assert a.outcome().__class__.__name__ == "AttemptFailed"


def test_endpoints_option_of_compatible_r76() -> None:
    p = ProviderConfig(id="x", connector="openai.compatible.v1", base_url="http://h/v1",
                       options={"endpoints": ["chat", "images"]})
    assert endpoints_of(p) == ("chat", "images")
    assert endpoints_of(ProviderConfig(id="g", connector="groq.api.v1")) == \
        PROVIDER_CONNECTORS["groq.api.v1"].endpoints


def test_request_type_is_chat() -> None:
    assert isinstance(REQ, ChatCompletionRequest)
