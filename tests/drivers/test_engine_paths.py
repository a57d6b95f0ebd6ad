"""The engine's per-request shortcuts change nothing (issue 4).

`Engine.handle` skips `_route` for the actions it files nowhere (by exact
class), and a `Run` joins the text of the chunks it released only when
asked (`partial_text`, for StreamInterruptedError and middleware). Each is
compared with the general code: the routing of every action class, and the
text the eager bookkeeping (the code before the shortcut) collected.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.engine import _UNROUTED, Run
from meshcore.actions import CancelAttempt, Commit, Deliver, Fail, SendAttempt
from meshcore.wire.models import ChatCompletionChunk, ChoiceDelta, ChunkChoice, parse_request


def test_unrouted_actions_are_no_routed_kind() -> None:
    """A class the shortcut skips is no subclass of an action `_route` files."""
    for kind in _UNROUTED:
        assert not issubclass(kind, (SendAttempt, CancelAttempt, Commit, Deliver, Fail))


class _EagerRun:
    """The bookkeeping before the shortcut: text collected at release time."""

    def __init__(self) -> None:
        self.committed: str | None = None
        self.buffer: list[ChatCompletionChunk] = []
        self.delivered: list[str] = []

    def deliverable(self, chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
        if self.committed is None:
            self.buffer.extend(chunks)
            return []
        out = self.buffer + chunks
        self.buffer = []
        for c in out:
            for ch in c.choices:
                if ch.delta.content:
                    self.delivered.append(ch.delta.content)
        return out


def _chunk(texts: list[str | None]) -> ChatCompletionChunk:
    return ChatCompletionChunk("id", 1, "m", tuple(
        ChunkChoice(i, ChoiceDelta(None, t), None) for i, t in enumerate(texts)))


STEPS = st.lists(st.one_of(
    st.tuples(st.just("chunks"), st.lists(st.lists(st.none() | st.text(max_size=3),
                                                   max_size=2), max_size=3)),
    st.tuples(st.just("commit"), st.none()),
    st.tuples(st.just("reset"), st.none()),
), max_size=12)


@settings(max_examples=200, deadline=None)
@given(STEPS)
def test_partial_text_is_the_eagerly_collected_text(steps: list[tuple[str, Any]]) -> None:
    """Chunks held before the commit, released with it or after it, a new
    attempt's buffer: the released chunks and their text are the same."""
    run, eager = Run("r"), _EagerRun()
    for op, arg in steps:
        if op == "chunks":
            chunks = [_chunk(texts) for texts in arg]
            assert run.deliverable(list(chunks)) == eager.deliverable(list(chunks))
        elif op == "commit":
            run.committed = eager.committed = "a1"
            assert run.deliverable([]) == eager.deliverable([])
        else:  # a new attempt: nothing of the earlier one's buffer survives
            run.buffer, eager.buffer = [], []
        assert run.partial_text == "".join(eager.delivered)


def test_loop_clock_reads_the_running_loops_own_time() -> None:
    """The async client's clock is the running loop's `time()`: asyncio's own
    (read without the call) or a loop's override."""
    import asyncio

    from adapters.client import _loop_clock

    class Shifted(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return 1_000_000.0 + super().time()

    async def readings() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        mine = _loop_clock()
        return before, mine, loop.time()

    for loop in (asyncio.new_event_loop(), Shifted()):
        try:
            before, mine, after = loop.run_until_complete(readings())
        finally:
            loop.close()
        assert before <= mine <= after


def test_a_resolved_base_url_is_applied_once_per_provider_and_url() -> None:
    """An attempt of a provider whose resolved URL differs from its config
    gets `replace(provider, base_url=url)`: made once, made again when the
    URL or the configured provider changes."""
    import time
    from dataclasses import replace

    from adapters.build import build
    from adapters.engine import Engine

    config = {
        "providers": {"p": {"connector": "openai.compatible.v1",
                            "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}},
        "models": {"p.m": {"provider": "p", "name": "m", "capabilities": ["chat-completion"]}},
        "pools": {"chat": {"models": ["p.m"]}},
    }
    built = build((), pool=None, providers=None, models=None, strategy=None, api_keys=None,
                  config=config)
    engine = Engine(replace(built, base_urls={"p": "http://127.0.0.2:9/v1"}), 1, time.monotonic)
    send = SendAttempt("a1", "r1", "p.m", "p", "m", 1, 5.0)
    request = parse_request("chat", {"messages": [{"role": "user", "content": "x"}]})
    first = engine.start_attempt(send, request).ctx.provider
    assert first == replace(engine.config.providers["p"], base_url="http://127.0.0.2:9/v1")
    assert engine.start_attempt(send, request).ctx.provider is first
    engine.built = replace(engine.built, base_urls={"p": "http://127.0.0.3:9/v1"})
    assert engine.start_attempt(send, request).ctx.provider.base_url == "http://127.0.0.3:9/v1"
    engine.config = replace(engine.config, providers={"p": replace(
        engine.config.providers["p"], timeout_s=9.0)})
    again = engine.start_attempt(send, request).ctx.provider
    assert again == replace(engine.config.providers["p"], base_url="http://127.0.0.3:9/v1")
    engine.close()
