"""Fixtures of the fault catalogue (issue 6): `target` (sync, asyncio, trio, proxy)
and `servers` (fake providers, all stopped at teardown)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from _scenario_kit import TARGETS, Target

from adapters.fake_provider import FakeProviderServer


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> Target:
    """The target under test: "sync", "asyncio", "trio" or "proxy"."""
    return Target(str(request.param))


@pytest.fixture
def servers() -> Iterator[Callable[..., list[FakeProviderServer]]]:
    """`servers(plan0, plan1, ...)` starts one fake provider per plan; a
    `FakeProviderServer` instance is started as given."""
    with ExitStack() as stack:

        def start(*plans: Any) -> list[FakeProviderServer]:
            return [stack.enter_context(p if isinstance(p, FakeProviderServer)
                                        else FakeProviderServer(p)) for p in plans]

        yield start
