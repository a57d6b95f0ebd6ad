"""The health monitor's fallback probe (SPEC R-103, "else R-50").

A provider whose connector has no models-list call (e.g. `perplexity.search.v1`,
`assemblyai.stt.v1`, or an `openai.compatible.v1` provider whose `endpoints`
omit `models`) is probed with the cheapest request for one of its models'
capability (R-50): a one-message chat completion with `max_tokens: 1` for a
chat model, else one short embedding input. The request is built and the
response judged by the wire layer (`meshcore.wire.registry.start_attempt`);
this module only sends the attempt's HTTP steps with httpcore (sync or
async), bounded as a whole by the health timeout, and reports the result as
the same `Fetched` value the models-list probe gives.
"""

from __future__ import annotations

import time
from dataclasses import replace

import anyio
import httpcore

from adapters.discovery.calls import Fetched
from adapters.http import TRANSPORT_ERRORS, encode_headers, normalise_headers, timeout_extension
from meshcore.config.membership import model_serves_operation
from meshcore.config.schema import MeshConfig, ProviderConfig
from meshcore.events import AttemptSucceeded
from meshcore.types import Operation
from meshcore.wire.attempt import Attempt
from meshcore.wire.models import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    EmbeddingRequest,
)
from meshcore.wire.registry import start_attempt

__all__ = ["fallback_request", "probe_attempt", "run_attempt", "run_attempt_async"]


def fallback_request(config: MeshConfig, provider_id: str) -> tuple[str, CompletionRequest] | None:
    """(model ID, R-50 request) for the first enabled model of `provider_id`
    (configuration order) that serves chat, else embeddings; None if none."""
    for op in (Operation.CHAT, Operation.EMBEDDINGS):
        for mid, model in config.models.items():
            if model.provider != provider_id or not model_serves_operation(config, mid, op):
                continue
            if op is Operation.CHAT:
                return mid, ChatCompletionRequest(
                    model=model.name, messages=(ChatMessage(role="user", content="ping"),),
                    max_tokens=1)
            return mid, EmbeddingRequest(model=model.name, input="ping")
    return None


def probe_attempt(config: MeshConfig, provider: ProviderConfig, base_url: str | None,
                  api_key: str | None) -> Attempt | None:
    """The wire attempt of the fallback probe of `provider`, or None when the
    provider has no chat or embedding model to probe."""
    found = fallback_request(config, provider.id)
    if found is None:
        return None
    mid, request = found
    if base_url is not None and base_url != provider.base_url:
        provider = replace(provider, base_url=base_url)
    return start_attempt(request, model=config.models[mid], provider=provider,
                         api_key=api_key, attempt_id="health-probe", model_id=mid,
                         response_id="health-probe", created=int(time.time()))


def _result(attempt: Attempt, started: float) -> Fetched:
    ms = (time.monotonic() - started) * 1000.0
    fact = attempt.outcome()
    mid = attempt.ctx.model_id
    if isinstance(fact, AttemptSucceeded):
        return Fetched(attempt.status or fact.status, b"", None, ms, mid, fact.usage)
    status = fact.status if fact.status is not None else attempt.status
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}: {fact.detail or fact.body_excerpt}"
    else:
        error = f"{fact.kind.value}: {fact.detail}"
    return Fetched(status, b"", error[:300], ms, mid, fact.usage)


def _failed(started: float, exc: BaseException) -> Fetched:
    return Fetched(None, b"", f"{type(exc).__name__}: {exc}"[:300],
                   (time.monotonic() - started) * 1000.0)


def run_attempt(pool: httpcore.ConnectionPool, attempt: Attempt, timeout_s: float) -> Fetched:
    """Send every HTTP step of `attempt` (blocking) within `timeout_s` in all."""
    started = time.monotonic()
    end = started + max(0.001, timeout_s)
    try:
        while (req := attempt.next_request()) is not None:
            if req.delay_s > 0:
                time.sleep(min(req.delay_s, max(0.0, end - time.monotonic())))
            left = end - time.monotonic()
            if left <= 0:
                raise httpcore.TimeoutException("health probe timed out")
            resp = pool.request(req.method, req.url,
                                headers=encode_headers(req.headers, req.url, req.body),
                                content=req.body or None,
                                extensions={"timeout": timeout_extension(left)})
            attempt.receive_head(resp.status, normalise_headers(resp.headers, time.time()))
            attempt.receive_data(resp.content)
            attempt.receive_end()
    except TRANSPORT_ERRORS as exc:
        return _failed(started, exc)
    return _result(attempt, started)


async def run_attempt_async(pool: httpcore.AsyncConnectionPool, attempt: Attempt,
                            timeout_s: float) -> Fetched:
    """`run_attempt()` on an async pool (asyncio or trio)."""
    started = time.monotonic()
    end = started + max(0.001, timeout_s)
    try:
        while (req := attempt.next_request()) is not None:
            if req.delay_s > 0:
                await anyio.sleep(min(req.delay_s, max(0.0, end - time.monotonic())))
            left = end - time.monotonic()
            if left <= 0:
                raise httpcore.TimeoutException("health probe timed out")
            resp = await pool.request(req.method, req.url,
                                      headers=encode_headers(req.headers, req.url, req.body),
                                      content=req.body or None,
                                      extensions={"timeout": timeout_extension(left)})
            attempt.receive_head(resp.status, normalise_headers(resp.headers, time.time()))
            attempt.receive_data(resp.content)
            attempt.receive_end()
    except TRANSPORT_ERRORS as exc:
        return _failed(started, exc)
    return _result(attempt, started)
