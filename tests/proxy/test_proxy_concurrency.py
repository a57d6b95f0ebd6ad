"""200 concurrent requests through the proxy on loopback (SPEC R-107, R-112, R-64):
none lost, each answered by exactly one model, and the usage endpoint adds up."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections import Counter

import openai
import pytest
from _proxy_helpers import MSG, provider_config

from adapters.fake_provider import FakeProviderServer
from adapters.proxy import ProxyServer

N = 200


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_200_concurrent_requests_accounted_r112_r64(backend: str) -> None:
    plan = [{"delay": 0.02}]
    with FakeProviderServer(plan) as a, FakeProviderServer(plan) as b, ProxyServer(
            config=provider_config([a, b], pool={"strategy": "round-robin"}),
            backend=backend) as srv:
        async def main() -> list[tuple[str, str, str]]:
            client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="unused",
                                        max_retries=0, timeout=30.0)

            async def one(i: int) -> tuple[str, str, str]:
                raw = await client.chat.completions.with_raw_response.create(
                    model="chat", messages=[*MSG, {"role": "user", "content": f"n{i}"}],  # type: ignore[list-item]
                )
                resp = raw.parse()
                assert raw.headers["x-modelmesh-attempts"] == "1"
                assert raw.headers["x-modelmesh-model"] == resp.model
                return resp.model, raw.headers["x-request-id"], resp.choices[0].message.content or ""

            try:
                return list(await asyncio.gather(*[one(i) for i in range(N)]))
            finally:
                await client.close()

        results = asyncio.run(asyncio.wait_for(main(), 120))
        assert len(results) == N
        assert len({rid for _, rid, _ in results}) == N  # every request is its own run
        by_model = Counter(model for model, _, _ in results)
        assert set(by_model) == {"p0.m0", "p1.m1"}
        assert by_model["p0.m0"] == 100 and by_model["p1.m1"] == 100  # round-robin
        for model, _, text in results:
            assert text == f"Hello from {model.split('.')[1]}"
        assert len(a.requests) == by_model["p0.m0"]
        assert len(b.requests) == by_model["p1.m1"]
        with urllib.request.urlopen(srv.url + "/v1/modelmesh/usage", timeout=10) as r:
            usage = json.loads(r.read())
        assert usage["total_requests"] == N
        assert {m: row["requests"] for m, row in usage["by_model"].items()} == dict(by_model)
        assert usage["total_tokens"] == sum(row["tokens"] for row in usage["by_model"].values())
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        with urllib.request.urlopen(srv.url + "/health", timeout=10) as r:
            health = json.loads(r.read())
        assert health["total_requests"] >= N + 1
        assert health["active_connections"] == 0
